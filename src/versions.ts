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
} as const;

export type ImageName = keyof typeof IMAGES;
