// Every pinned version the generated stacks use, in one place.
// Looked up on 2026-11-22 (npm view, release announcements). Bump here, nowhere else.

/** Container base images. Tags pin a release line, never `latest`. */
export const IMAGES = {
  // Node 26 became Active LTS on 2026-10-28; trixie is the default Debian for 26.
  node: 'node:26-trixie-slim',
  // Postgres 18: 19.0 shipped in 2026-09, but pgvector's published images and
  // extension builds trail a new major; 18 is the newest line both cover.
  postgres: 'postgres:18-trixie',
  pgvector: 'pgvector/pgvector:0.8.6-pg18-trixie',
  redis: 'redis:8.6-alpine',
  // nginx 1.30 is the current stable branch (1.30.1 fixed CVE-2026-42945).
  nginx: 'nginx:1.30-alpine',
  certbot: 'certbot/certbot:v5.1.0',
  // Python 3.14 rather than 3.15.0: grpcio wheels trail a new CPython by months.
  python: 'python:3.14-slim-trixie',
} as const;

/** The nginx release the generated config is written for (decides `http2 on;` vs `listen ... http2`). */
export const NGINX_TARGET_VERSION = '1.30';

/** npm packages the generated apps depend on (exact versions; lockfiles pin the rest). */
export const NPM_VERSIONS = {
  express: '5.3.0',
  bullmq: '6.7.0',
  pg: '8.23.1',
  ioredis: '6.0.0',
  nodePgMigrate: '9.0.0',
  react: '19.3.1',
  vite: '8.3.8',
  vitePluginReact: '6.3.0',
  nestCore: '12.5.1',
  next: '16.4.6',
  typescript: '6.0.3',
  // Express and SPA apps (express-worker, fastapi-oracle web). @types/node follows the node image's major.
  cors: '2.8.6',
  reactDom: '19.3.1',
  typesNode: '26.6.6',
  typesExpress: '5.0.6',
  typesCors: '2.8.19',
  typesPg: '8.23.1',
  typesReact: '19.3.0',
  typesReactDom: '19.3.0',
  // nest-next: the NestJS API and worker (one image; @nestjs/common and platform-express follow nestCore)
  // and the Next.js web app (next, react, react-dom and their types above).
  nestConfig: '12.0.1',
  nestTerminus: '12.1.0',
  nestBullmq: '12.0.0',
  nestSchedule: '12.0.2',
  kysely: '0.29.9',
  zod: '4.6.7',
  reflectMetadata: '0.2.2',
  rxjs: '7.8.2',
} as const;

/**
 * PyPI packages the fastapi-oracle apps pin in their requirements files (exact versions). PyPI is
 * not reachable from the machines this generator is built on: these are the newest releases named
 * in public release notes and dependency-update threads up to 2026-11, not a `pip index` answer, and
 * no hashes are locked (`--require-hashes` needs the files). The generated code also runs on
 * Debian 12's packages (FastAPI 0.92, pydantic 1.10, SQLAlchemy 1.4, rq 1.13, protobuf 3.21).
 */
export const PIP_VERSIONS = {
  fastapi: '0.141.1',
  pydantic: '2.13.5',
  uvicorn: '0.52.1',
  // gunicorn's worker class for uvicorn (uvicorn.workers is deprecated since uvicorn 0.30).
  uvicornWorker: '0.4.0',
  gunicorn: '26.2.0',
  sqlalchemy: '2.0.52',
  alembic: '1.18.5',
  psycopg: '3.3.6',
  redis: '8.1.0',
  rq: '2.9.0',
  grpcio: '1.84.0',
  // Build stage only: generates the gRPC stubs; its bundled protoc matches protobuf below.
  grpcioTools: '1.84.0',
  protobuf: '7.35.1',
  prometheusClient: '0.26.0',
} as const;

export type ImageName = keyof typeof IMAGES;
