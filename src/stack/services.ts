// Which services each template runs, with ports, images and memory demands.
// The only place a service name or port is written down.
import type { Answers, TemplateName } from '../options.js';
import { IMAGES } from '../versions.js';

export type ServiceRole = 'app' | 'worker' | 'datastore' | 'proxy' | 'job';

export interface ServiceDefinition {
  name: string;
  role: ServiceRole;
  description: string;
  /** Port the service listens on inside the compose network. */
  port?: number;
  /** Extra named ports (metrics, TLS). */
  extraPorts?: Record<string, number>;
  image?: string;
  /** Built from this directory of the generated repo (compose `build.context`). */
  buildContext?: string;
  /** Dockerfile path relative to buildContext; 'Dockerfile' when not given. */
  dockerfile?: string;
  /**
   * Memory its image build takes at its peak, MiB (an estimate with headroom: npm ci + tsc, a Vite
   * or Next.js build, pip): deploy.sh refuses to build on a box without that much free (RAM + swap).
   */
  buildMiB?: number;
  floorMiB: number;
  weight: number;
  capMiB?: number;
  /** Postgres connections one replica holds at most (its pool size). */
  dbConnections: number;
  /** True when the stack model may run two replicas behind nginx. */
  scalable?: boolean;
  /** Only on the internal network: reached by the other apps, not by nginx, no route out. */
  internalOnly?: boolean;
  /** No network at all (compose `network_mode: none`): a one-off that only copies files. */
  offline?: boolean;
}

const postgres = (a: Answers): ServiceDefinition => ({
  name: 'postgres', role: 'datastore', port: 5432,
  description: a.pgvector ? 'PostgreSQL with pgvector' : 'PostgreSQL',
  image: a.pgvector ? IMAGES.pgvector : IMAGES.postgres,
  floorMiB: 256, weight: 4, dbConnections: 0,
});
const redis: ServiceDefinition = {
  name: 'redis', role: 'datastore', port: 6379, description: 'Redis (AOF, noeviction)',
  image: IMAGES.redis, floorMiB: 64, weight: 1, capMiB: 2048, dbConnections: 0,
};
const nginx: ServiceDefinition = {
  name: 'nginx', role: 'proxy', port: 443, extraPorts: { http: 80 }, description: 'nginx: TLS, static web, reverse proxy',
  image: IMAGES.nginx, floorMiB: 32, weight: 0.5, capMiB: 256, dbConnections: 0,
};
/**
 * The built React SPA as an image of its own (apps/web/Dockerfile): a one-off that scripts/deploy.sh
 * runs to copy the release into the web volume nginx serves, so nginx itself is never replaced.
 */
const spa: ServiceDefinition = {
  name: 'spa', role: 'job', description: 'the built React SPA: deploy.sh copies each release into the web volume nginx serves',
  image: IMAGES.nginx, buildContext: 'apps/web', buildMiB: 512, floorMiB: 32, weight: 0, dbConnections: 0, offline: true,
};
const certbot: ServiceDefinition = {
  name: 'certbot', role: 'job', description: "certbot: Let's Encrypt issue and renew (run on a timer)",
  image: IMAGES.certbot, floorMiB: 64, weight: 0, dbConnections: 0,
};
const backup: ServiceDefinition = {
  name: 'backup', role: 'worker', description: 'scheduled pg_dump with retention',
  image: IMAGES.postgres, buildContext: 'backup', buildMiB: 64, floorMiB: 64, weight: 0.5, capMiB: 512, dbConnections: 1,
};

type TemplateServices = (a: Answers) => Array<ServiceDefinition | false>;

const TEMPLATE_SERVICES: Record<TemplateName, TemplateServices> = {
  'express-worker': (a) => [
    { name: 'api', role: 'app', port: 3000, description: 'Express API', image: IMAGES.node, buildContext: 'apps/api', buildMiB: 384,
      floorMiB: 128, weight: 3, capMiB: 2048, dbConnections: 10 },
    a.workers && { name: 'worker', role: 'worker', description: 'BullMQ worker', image: IMAGES.node, buildContext: 'apps/worker', buildMiB: 384,
      floorMiB: 128, weight: 2, capMiB: 2048, dbConnections: 5 },
    spa,
  ],
  'nest-next': (a) => [
    { name: 'api', role: 'app', port: 4000, description: 'NestJS API', image: IMAGES.node, buildContext: 'apps/api', buildMiB: 512,
      floorMiB: 192, weight: 3, capMiB: 2048, dbConnections: 10, scalable: true },
    { name: 'web', role: 'app', port: 3000, description: 'Next.js web (standalone server)', image: IMAGES.node, buildContext: 'apps/web', buildMiB: 1024,
      floorMiB: 160, weight: 2, capMiB: 1024, dbConnections: 0, scalable: true },
    a.workers && { name: 'worker', role: 'worker', description: 'NestJS worker: queue processors and cron jobs', image: IMAGES.node,
      buildContext: 'apps/api', buildMiB: 512, floorMiB: 192, weight: 2, capMiB: 2048, dbConnections: 5 },
  ],
  'fastapi-oracle': (a) => [
    { name: 'api', role: 'app', port: 8000, description: 'FastAPI API (gunicorn + uvicorn workers)', image: IMAGES.python,
      buildContext: 'apps/api', buildMiB: 384, floorMiB: 192, weight: 3, capMiB: 4096, dbConnections: 10 },
    { name: 'oracle', role: 'app', port: 50051, extraPorts: { metrics: 9100 }, description: 'gRPC oracle service', image: IMAGES.python,
      buildContext: 'apps/oracle', buildMiB: 384, floorMiB: 128, weight: 2, capMiB: 4096, dbConnections: 0, internalOnly: true },
    a.workers && { name: 'worker', role: 'worker', description: 'Redis task worker', image: IMAGES.python, buildContext: 'apps/api', buildMiB: 384,
      floorMiB: 128, weight: 2, capMiB: 2048, dbConnections: 3 },
    spa,
  ],
};

/** All services for these answers, apps first, in a stable order. */
export function serviceDefinitions(a: Answers): ServiceDefinition[] {
  const apps = TEMPLATE_SERVICES[a.template](a).filter((s): s is ServiceDefinition => s !== false);
  return [...apps, postgres(a), ...(a.redis ? [redis] : []), nginx, certbot, backup];
}
