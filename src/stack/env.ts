// Every environment variable a generated stack reads, named once. Templates and
// app config refer to `m.env.<id>.name`; .env.example and init-env.sh are derived.
import type { Answers } from '../options.js';

export interface EnvVar {
  name: string;
  description: string;
  /**
   * 'generate': scripts/init-env.sh makes a fresh random value on the server;
   * 'provide': the operator pastes it (a provider's token). Either way the generator never writes a value.
   */
  secret: 'generate' | 'provide' | false;
  /** Example or default value for .env.example (non-secrets only). */
  example?: string;
  /** 'dotenv': set in .env by the operator; 'service': composed per service in compose.yaml from other variables. */
  scope: 'dotenv' | 'service';
}

export interface EnvContext {
  answers: Answers;
  projectName: string;
  dbName: string;
  dbUser: string;
  apiOrigin: string;
  webOrigin: string;
}

interface EnvDefinition {
  name: string;
  description: string;
  secret?: 'generate' | 'provide';
  example?: (c: EnvContext) => string;
  scope?: 'service';
  when?: (a: Answers) => boolean;
}

const DEFINITIONS = {
  composeProjectName: {
    name: 'COMPOSE_PROJECT_NAME',
    description: 'docker compose project name: keep it stable, volumes and containers are named after it (not the folder)',
    example: (c) => c.projectName,
  },
  domain: { name: 'DOMAIN', description: 'apex domain; web at DOMAIN, API at api.DOMAIN', example: (c) => c.answers.domain },
  letsencryptEmail: { name: 'LETSENCRYPT_EMAIL', description: "Let's Encrypt account email", example: (c) => c.answers.email },
  letsencryptStaging: {
    name: 'LETSENCRYPT_STAGING',
    description: "1 = use Let's Encrypt staging (untrusted certs, no rate limits) while testing",
    example: () => '0',
  },
  imageTag: { name: 'IMAGE_TAG', description: 'image tag deployed (the git SHA); set by scripts/deploy.sh', example: () => 'local' },
  webOrigin: { name: 'WEB_ORIGIN', description: 'public origin of the web app (CORS allow-list)', example: (c) => c.webOrigin },
  apiOrigin: { name: 'API_ORIGIN', description: 'public origin of the API, as the browser calls it', example: (c) => c.apiOrigin },
  apiInternalUrl: {
    name: 'API_INTERNAL_URL',
    description: 'the API on the compose network, for server-side calls (nest-next web)',
    scope: 'service',
  },
  postgresDb: { name: 'POSTGRES_DB', description: 'database name', example: (c) => c.dbName },
  postgresUser: { name: 'POSTGRES_USER', description: 'database owner role', example: (c) => c.dbUser },
  postgresPassword: { name: 'POSTGRES_PASSWORD', description: 'database password (hex: safe inside DATABASE_URL)', secret: 'generate' },
  redisPassword: { name: 'REDIS_PASSWORD', description: 'Redis AUTH password', secret: 'generate', when: (a) => a.redis },
  sessionSecret: { name: 'APP_SECRET', description: 'signing key for sessions and tokens', secret: 'generate' },
  databaseUrl: { name: 'DATABASE_URL', description: 'Postgres connection URL', scope: 'service' },
  redisUrl: { name: 'REDIS_URL', description: 'Redis connection URL', scope: 'service', when: (a) => a.redis },
  port: { name: 'PORT', description: 'port the app listens on', scope: 'service' },
  host: { name: 'HOSTNAME', description: 'address the app binds', scope: 'service' },
  nodeEnv: { name: 'NODE_ENV', description: 'production in containers', scope: 'service' },
  logLevel: { name: 'LOG_LEVEL', description: 'debug | info | warn | error', example: () => 'info' },
  // Python apps (fastapi-oracle).
  appEnv: { name: 'APP_ENV', description: 'production | development (development serves the API docs)', scope: 'service' },
  apiDocs: {
    name: 'API_DOCS',
    description: '1 = serve the OpenAPI docs (/api/docs) in production too',
    example: () => '0',
    when: (a) => a.template === 'fastapi-oracle',
  },
  oracleTarget: { name: 'ORACLE_TARGET', description: 'host:port of the oracle gRPC service', scope: 'service' },
  metricsPort: { name: 'METRICS_PORT', description: 'port of the Prometheus metrics endpoint (internal network only)', scope: 'service' },
  cloudflareApiToken: {
    name: 'CLOUDFLARE_API_TOKEN',
    description: 'Cloudflare API token with Zone:DNS:Edit, for DNS-01 certificates (Full strict)',
    secret: 'provide',
    when: (a) => a.cloudflare,
  },
  resticRepository: {
    name: 'RESTIC_REPOSITORY',
    description: 'restic repository URL, e.g. s3:https://<account>.r2.cloudflarestorage.com/<bucket>',
    example: (c) => `s3:https://s3.example.invalid/${c.projectName}-backups`,
    when: (a) => a.backupRemote === 's3',
  },
  resticPassword: { name: 'RESTIC_PASSWORD', description: 'restic encryption password: keep a copy off the server', secret: 'generate', when: (a) => a.backupRemote === 's3' },
  awsAccessKeyId: { name: 'AWS_ACCESS_KEY_ID', description: 'S3 access key id for backups (paste from your provider)', secret: 'provide', when: (a) => a.backupRemote === 's3' },
  awsSecretAccessKey: { name: 'AWS_SECRET_ACCESS_KEY', description: 'S3 secret key for backups (paste from your provider)', secret: 'provide', when: (a) => a.backupRemote === 's3' },
} satisfies Record<string, EnvDefinition>;

export type EnvId = keyof typeof DEFINITIONS;

/** Every variable keyed by id; `list` holds the .env ones this stack uses, in declaration order. */
export function envFor(context: EnvContext): Record<EnvId, EnvVar> & { list: EnvVar[] } {
  const byId = {} as Record<EnvId, EnvVar>;
  const list: EnvVar[] = [];
  for (const [id, def] of Object.entries(DEFINITIONS) as Array<[EnvId, EnvDefinition]>) {
    const variable: EnvVar = {
      name: def.name,
      description: def.description,
      secret: def.secret ?? false,
      example: def.secret ? undefined : def.example?.(context),
      scope: def.scope ?? 'dotenv',
    };
    // Disabled variables stay addressable (templates guard with features) but are not listed.
    byId[id] = variable;
    if (variable.scope === 'dotenv' && (!def.when || def.when(context.answers))) list.push(variable);
  }
  return Object.assign(byId, { list });
}
