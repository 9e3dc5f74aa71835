// answers → stack model: everything the templates need, derived once. Pure.
import type { Answers } from '../options.js';
import { IMAGES, NGINX_TARGET_VERSION, NPM_VERSIONS, PIP_VERSIONS } from '../versions.js';
import { envFor, type EnvId, type EnvVar } from './env.js';
import { allocateMemory, budgetMiB, type MemoryDemand } from './memory.js';
import { pgtune, type PgTuning } from './pgtune.js';
import { pythonFacts, type PythonFacts } from './python.js';
import { serviceDefinitions, type ServiceDefinition } from './services.js';
import { cloudflareFacts, type CloudflareFacts } from './cloudflare.js';
import { nginxFacts, type NginxFacts } from './nginx.js';
import { tlsFacts, type TlsFacts } from './tls.js';

export interface Service extends ServiceDefinition {
  replicas: number;
  /** Memory limit of one replica, MiB. */
  memoryMiB: number;
  /**
   * CPU weight under contention (compose cpu_shares; Docker's default is 1024): nginx first, then
   * the datastores, the apps, background workers and one-offs last, so a runaway worker or a
   * migration cannot starve the front door or Postgres on a 1-2 vCPU box. Idle CPU is never held back.
   */
  cpuShares: number;
  /** Compose healthcheck test (exec form). */
  healthcheck: string[];
  /** One-off command that applies database migrations in this service's image (api only; null elsewhere). */
  migrateCommand: string | null;
  /**
   * Readiness check of an app nginx routes to, as one shell-quoted command line run in the container
   * (`docker exec <id> …`): deploy.sh routes to a new container only once it passes. null elsewhere.
   */
  readinessCommand: string | null;
  /** Repository of the image built from buildContext (`<project>-<service>`, tagged with the git SHA); null when not built here. */
  imageRepository: string | null;
}

/** `words` as one POSIX shell command line (single-quoted where needed). */
export function shellWords(words: string[]): string {
  return words.map((w) => (/^[A-Za-z0-9_./:=@%+-]+$/.test(w) ? w : `'${w.replace(/'/g, `'\\''`)}'`)).join(' ');
}

export interface StackModel {
  answers: Answers;
  project: { name: string; composeName: string };
  domain: { apex: string; www: string; api: string };
  origins: { web: string; api: string };
  db: { name: string; user: string };
  /**
   * Key order is overlay order (src/render/paths.ts): a later feature's overlay wins on the same path.
   * workers comes after redis, which it needs, so a workers overlay can refine a redis one.
   */
  features: {
    redis: boolean; workers: boolean; pgvector: boolean; cloudflare: boolean;
    githubCi: boolean; offsiteBackup: boolean;
    /** The web app is the shared React + Vite SPA: its own image (service spa), served by nginx from the web volume. */
    spa: boolean;
  };
  paths: {
    health: string; ready: string;
    /** Where nginx serves and certbot writes ACME http-01 challenges. */
    acmeWebroot: string;
    /** Let's Encrypt state (volume) and the live certificate of the apex + www + api names. */
    letsencrypt: string; certificate: string; certificateKey: string;
    /** Where backup dumps live inside the backup service. */
    backups: string;
  };
  compose: { base: string; dev: string; prod: string };
  networks: { edge: string; internal: string };
  volumes: { pgdata: string; redisdata: string; letsencrypt: string; acmeWebroot: string; backups: string; web: string };
  backup: { daily: number; weekly: number; monthly: number; hourUtc: number };
  /** Services keyed by name; `list` in start order. */
  services: Record<string, Service> & { list: Service[] };
  images: typeof IMAGES;
  npm: typeof NPM_VERSIONS;
  /** PyPI packages the Python apps pin (fastapi-oracle requirements files). */
  pip: typeof PIP_VERSIONS;
  /** Python apps (fastapi-oracle): gunicorn workers, pools, timeouts, the oracle's gRPC server, job retries (src/stack/python.ts). */
  python: PythonFacts;
  /** nginx config facts: version-dependent syntax, TLS policy, headers, limits, in-image paths (src/stack/nginx.ts). */
  nginx: NginxFacts;
  /** Cloudflare edge ranges (snapshot) for real-ip and the firewall; read only when features.cloudflare. */
  cloudflare: CloudflareFacts;
  /** The Let's Encrypt certificate: names, challenge, certbot image, renewal schedule (src/stack/tls.ts). */
  tls: TlsFacts;
  memory: { vpsMiB: number; budgetMiB: number; allocatedMiB: number };
  postgres: PgTuning;
  redis: { maxmemoryMiB: number };
  /** compose.dev.yaml only: the Vite dev server of the SPA (production serves the built SPA from nginx). */
  devServer: { name: string; port: number; buildContext: string };
  /**
   * compose.dev.yaml: the Node dev containers run as the checkout's owner (uid/gid from these
   * variables, which `npm run dev` sets from `id -u`/`id -g`; defaultId otherwise), so whatever they
   * write into the mounted source belongs to that user. initService gives them their node_modules
   * volumes first (a fresh volume belongs to root).
   */
  dev: {
    uidVariable: string; gidVariable: string; defaultId: number; initService: string;
    nodeApps: Array<{ name: string; context: string; volume: string }>;
  };
  /** The job queue the api enqueues on and the worker consumes (named here so both apps agree). */
  queue: { name: string; jobs: { countWords: string } };
  env: Record<EnvId, EnvVar> & { list: EnvVar[] };
  /** What scripts/*.sh, backup/ and server/ read. Name lists are space-separated (bash array literals). */
  ops: {
    /** .env variables scripts/init-env.sh fills with fresh random values. */
    generatedSecrets: string;
    /** Datastores deploy.sh starts and waits for before migrations. */
    datastores: string;
    /** App services deploy.sh swaps one at a time behind nginx (new healthy, reload nginx, old drained). */
    rollingServices: string;
    /** Services built from this repository (deploy.sh builds, pulls or checks exactly these images). */
    builtServices: string;
    /** Their image repositories (each tagged with the deployed SHA). */
    builtRepositories: string;
    /** Free memory (RAM + swap) an on-server build needs, MiB: compose builds the images side by side. */
    buildMemoryMiB: number;
    /** Other long-running services deploy.sh recreates, health-gated, after the swap. */
    recreatedServices: string;
    /** Services holding database connections: restore.sh stops them while it restores. */
    dbClients: string;
    /** deploy.sh's lock and current/previous image tags, relative to the repository root. */
    deployStateDir: string;
    /** What nginx routes to (upstream files, the SPA release), written by scripts/nginx-live.sh; mounted at nginx.liveDir. */
    liveDir: string;
    /** SPA releases kept in the web volume (the current one, the rollback target and older ones). */
    keepReleases: number;
    /** Tags kept per built image after a deploy (the current and previous always among them; DEPLOY_KEEP_IMAGES overrides), and the build cache's ceiling, MiB. */
    keepImageTags: number;
    buildCacheMiB: number;
    /** Seconds deploy.sh waits after a reload for nginx to resolve new container names, and for old workers to finish their requests. */
    resolveSeconds: number;
    drainSeconds: number;
    /** Swap file scripts/bootstrap-server.sh creates, MiB. */
    swapMiB: number;
  };
}

/** A name usable as a Postgres identifier and role: lowercase, underscores, ≤ 63 bytes. */
export function sqlIdentifier(projectName: string): string {
  const id = projectName.replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  return (/^[a-z]/.test(id) ? id : `app_${id}`).slice(0, 63);
}

/** nginx ≥ 1.25.1 takes `http2 on;`; older versions only `listen … http2`. */
export function supportsHttp2Directive(version: string): boolean {
  const [major, minor, patch = 0] = version.split('.').map(Number);
  return major > 1 || minor > 25 || (minor === 25 && patch >= 1);
}

const HEALTH_PATH = '/api/health';
const CPU_SHARES: Record<ServiceDefinition['role'], number> = { proxy: 2048, datastore: 1536, app: 1024, worker: 512, job: 256 };
const DEV_SERVER = { name: 'web', port: 5173, buildContext: 'apps/web' };

function healthcheckFor(service: ServiceDefinition, answers: Answers): string[] {
  switch (service.name) {
    case 'postgres':
      return ['CMD-SHELL', 'pg_isready -U "$$POSTGRES_USER" -d "$$POSTGRES_DB" -h 127.0.0.1'];
    case 'redis':
      return ['CMD-SHELL', 'REDISCLI_AUTH="$$REDIS_PASSWORD" redis-cli ping | grep -q PONG'];
    case 'nginx':
      return ['CMD', 'wget', '-q', '-O', '/dev/null', `http://127.0.0.1:${service.extraPorts!.http}/nginx-health`];
    case 'backup':
      return ['CMD-SHELL', 'test -f /tmp/backup-scheduler.alive'];
  }
  if (service.role === 'job') return ['NONE'];
  const python = answers.template === 'fastapi-oracle';
  if (service.role === 'worker') {
    return python ? ['CMD', 'python', '-m', 'app.worker_health'] : ['CMD', 'node', 'dist/healthcheck.js'];
  }
  // The oracle answers the standard gRPC health protocol (grpc.health.v1) on its port.
  if (service.name === 'oracle') return ['CMD', 'python', '-m', 'oracle.health', `127.0.0.1:${service.port}`];
  return ['CMD', ...httpCheck(service, service.name === 'web' ? '/' : HEALTH_PATH, python)];
}

/** A command that exits 0 when GET `path` on the app's own port answers 2xx (the app image's own runtime, no curl). */
function httpCheck(service: ServiceDefinition, path: string, python: boolean): string[] {
  const url = `http://127.0.0.1:${service.port}${path}`;
  if (python) {
    return ['python', '-c', `import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('${url}', timeout=3).status == 200 else 1)`];
  }
  return ['node', '-e', `fetch('${url}').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))`];
}

/**
 * The readiness check of an app nginx proxies to (the api's /api/health/ready: its datastores answer;
 * the Next.js web's home page), for deploy.sh to run in a new container before routing to it.
 */
function readinessFor(service: ServiceDefinition, answers: Answers): string | null {
  if (service.role !== 'app' || service.internalOnly || service.port === undefined) return null;
  return shellWords(httpCheck(service, service.name === 'api' ? `${HEALTH_PATH}/ready` : '/', answers.template === 'fastapi-oracle'));
}

export function buildStackModel(answers: Answers, projectName: string): StackModel {
  const definitions = serviceDefinitions(answers);
  const budget = budgetMiB(answers.vpsMemory);

  const demandsWith = (replicasFor: (d: ServiceDefinition) => number): MemoryDemand[] =>
    definitions.map((d) => ({ name: d.name, floorMiB: d.floorMiB, weight: d.weight, capMiB: d.capMiB, replicas: replicasFor(d) }));
  // Two replicas of the scalable apps only when the box has the cores and the memory for them;
  // otherwise one (the floor check, and its error, is on the single-replica plan).
  const single = demandsWith(() => 1);
  const doubled = demandsWith((d) => (d.scalable ? 2 : 1));
  const canDouble = answers.vpsMemory >= 4 && answers.vpsCpus >= 2 &&
    doubled.reduce((sum, d) => sum + d.floorMiB * d.replicas, 0) <= budget;
  const demands = canDouble ? doubled : single;
  const limits = allocateMemory(demands, budget);

  const list: Service[] = definitions.map((d, i) => ({
    ...d,
    replicas: demands[i].replicas,
    memoryMiB: limits[d.name],
    cpuShares: CPU_SHARES[d.role],
    healthcheck: healthcheckFor(d, answers),
    migrateCommand: d.name === 'api' ? (answers.template === 'fastapi-oracle' ? 'alembic upgrade head' : 'npm run migrate') : null,
    readinessCommand: readinessFor(d, answers),
    imageRepository: d.buildContext === undefined ? null : `${projectName}-${d.name}`,
  }));
  const services = Object.assign(Object.fromEntries(list.map((s) => [s.name, s])), { list });

  const poolConnections = list.reduce((sum, s) => sum + s.dbConnections * s.replicas, 0);
  // Headroom for migrations, psql sessions and superuser_reserved_connections.
  const maxConnections = poolConnections + 15;
  const postgres = pgtune({ memoryMiB: services.postgres.memoryMiB, cpus: answers.vpsCpus, maxConnections });

  const db = sqlIdentifier(projectName);
  const domain = { apex: answers.domain, www: `www.${answers.domain}`, api: `api.${answers.domain}` };
  const origins = { web: `https://${domain.apex}`, api: `https://${domain.api}` };
  const env = envFor({ answers, projectName, dbName: db, dbUser: db, apiOrigin: origins.api, webOrigin: origins.web });
  const allocatedMiB = list.reduce((sum, s) => sum + s.memoryMiB * s.replicas, 0);
  const nginx = nginxFacts(NGINX_TARGET_VERSION, { apiOrigin: origins.api, spa: answers.template !== 'nest-next', services: list });

  return {
    answers,
    project: { name: projectName, composeName: projectName },
    domain,
    origins,
    db: { name: db, user: db },
    features: {
      redis: answers.redis, workers: answers.workers, pgvector: answers.pgvector, cloudflare: answers.cloudflare,
      githubCi: answers.ci === 'github', offsiteBackup: answers.backupRemote === 's3',
      spa: answers.template !== 'nest-next',
    },
    paths: {
      health: HEALTH_PATH, ready: `${HEALTH_PATH}/ready`, acmeWebroot: '/var/www/certbot',
      letsencrypt: '/etc/letsencrypt',
      certificate: `/etc/letsencrypt/live/${domain.apex}/fullchain.pem`,
      certificateKey: `/etc/letsencrypt/live/${domain.apex}/privkey.pem`,
      backups: '/backups',
    },
    compose: { base: 'compose.yaml', dev: 'compose.dev.yaml', prod: 'compose.prod.yaml' },
    networks: { edge: 'edge', internal: 'internal' },
    volumes: { pgdata: 'pgdata', redisdata: 'redisdata', letsencrypt: 'letsencrypt', acmeWebroot: 'acme-webroot', backups: 'backups', web: 'web' },
    backup: { daily: 7, weekly: 4, monthly: 6, hourUtc: 3 },
    services,
    images: IMAGES,
    npm: NPM_VERSIONS,
    pip: PIP_VERSIONS,
    python: pythonFacts({
      cpus: answers.vpsCpus, apiMemoryMiB: services.api.memoryMiB, apiDbConnections: services.api.dbConnections,
      upstreamKeepaliveTimeout: nginx.upstreamKeepalive.timeout,
    }),
    nginx,
    cloudflare: cloudflareFacts(),
    tls: tlsFacts({ domain, cloudflare: answers.cloudflare, projectName }),
    memory: { vpsMiB: Math.round(answers.vpsMemory * 1024), budgetMiB: budget, allocatedMiB },
    postgres,
    // Leave a quarter of the container for AOF rewrite buffers and client output.
    redis: { maxmemoryMiB: answers.redis ? Math.floor((services.redis.memoryMiB * 3) / 4) : 0 },
    devServer: DEV_SERVER,
    dev: {
      uidVariable: 'DEV_UID', gidVariable: 'DEV_GID', defaultId: 1000, initService: 'dev-init',
      nodeApps: [
        ...list.filter((s) => s.image === IMAGES.node && s.buildContext !== undefined).map((s) => ({ name: s.name, context: s.buildContext! })),
        // The SPA's Vite dev server (its production build is the spa one-off).
        ...(list.some((s) => s.name === 'spa') ? [{ name: DEV_SERVER.name, context: DEV_SERVER.buildContext }] : []),
      ].map((app) => ({ ...app, volume: `${app.name}-node-modules` })),
    },
    queue: { name: 'jobs', jobs: { countWords: 'count-words' } },
    env,
    ops: opsFor(list, env, Math.round(answers.vpsMemory * 1024)),
  };
}

function opsFor(list: Service[], env: StackModel['env'], vpsMiB: number): StackModel['ops'] {
  const names = (keep: (s: Service) => boolean) => list.filter(keep).map((s) => s.name).join(' ');
  return {
    generatedSecrets: env.list.filter((v) => v.secret === 'generate').map((v) => v.name).join(' '),
    datastores: names((s) => s.role === 'datastore'),
    rollingServices: names((s) => s.role === 'app'),
    builtServices: names((s) => s.buildContext !== undefined),
    builtRepositories: list.filter((s) => s.imageRepository !== null).map((s) => s.imageRepository).join(' '),
    buildMemoryMiB: list.reduce((sum, s) => sum + (s.buildMiB ?? 0), 0),
    recreatedServices: names((s) => s.role === 'worker'),
    dbClients: names((s) => s.dbConnections > 0 && s.name !== 'backup'),
    deployStateDir: '.deploy',
    liveDir: '.deploy/nginx',
    keepReleases: 5,
    keepImageTags: 5,
    buildCacheMiB: 3072,
    resolveSeconds: 2,
    drainSeconds: 5,
    // Twice the RAM on small boxes, the RAM up to 4 GiB, never more than 4 GiB.
    swapMiB: vpsMiB <= 2048 ? vpsMiB * 2 : Math.min(vpsMiB, 4096),
  };
}
