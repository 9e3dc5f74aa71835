// The express-worker apps (api, worker) and the shared React SPA: rendered for everything on and
// everything off, then installed from their committed lockfiles, typechecked and built for real.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Answers } from '../src/options.js';
import type { StackModel } from '../src/stack/model.js';
import { NPM_VERSIONS } from '../src/versions.js';
import { renderStack, writeStack, type RenderedStack } from './support/stack.js';

type NpmKey = keyof typeof NPM_VERSIONS;

/** npm package → its pin in src/versions.ts. Every dependency of a generated app must be here. */
const PINS: Record<string, NpmKey> = {
  express: 'express', cors: 'cors', pg: 'pg', 'node-pg-migrate': 'nodePgMigrate', ioredis: 'ioredis', bullmq: 'bullmq',
  react: 'react', 'react-dom': 'reactDom', vite: 'vite', '@vitejs/plugin-react': 'vitePluginReact', typescript: 'typescript',
  '@types/node': 'typesNode', '@types/express': 'typesExpress', '@types/cors': 'typesCors', '@types/pg': 'typesPg',
  '@types/react': 'typesReact', '@types/react-dom': 'typesReactDom',
};

const VARIANTS: Array<[string, Partial<Answers>, string[]]> = [
  ['everything on', { workers: true, redis: true, pgvector: true, cloudflare: true, backupRemote: 's3' }, ['api', 'worker', 'web']],
  ['everything off', { workers: false, redis: false, pgvector: false, cloudflare: false, ci: 'none', vpsMemory: 1, vpsCpus: 1 }, ['api', 'web']],
];

const text = (plan: ReturnType<typeof renderStack>['plan'], path: string): string => {
  const file = plan.files.find((f) => f.path === path);
  if (!file) throw new Error(`${path} is not in the plan`);
  return file.content.toString('utf8');
};
const pathsUnder = (plan: ReturnType<typeof renderStack>['plan'], prefix: string): string[] =>
  plan.files.map((f) => f.path).filter((p) => p.startsWith(prefix));

describe('express-worker apps: rendered files', () => {
  const on = renderStack({ workers: true, redis: true, pgvector: true });
  const off = renderStack({ workers: false, redis: false, pgvector: false });
  const redisOnly = renderStack({ workers: false, redis: true, pgvector: false });

  it('names every env var in the config modules from the model', () => {
    for (const { model: m, plan } of [on, off]) {
      const config = text(plan, 'apps/api/src/config.ts');
      for (const id of ['port', 'databaseUrl', 'webOrigin', 'logLevel'] as const) expect(config).toContain(`'${m.env[id].name}'`);
      expect(config).toContain(`port(ENV.port, ${m.services.api.port})`);
      expect(config).toContain(`dbPoolSize: ${m.services.api.dbConnections}`);
      expect(config.includes(`'${m.env.redisUrl.name}'`)).toBe(m.features.redis);
    }
    const worker = text(on.plan, 'apps/worker/src/config.ts');
    for (const id of ['databaseUrl', 'redisUrl', 'logLevel'] as const) expect(worker).toContain(`'${on.model.env[id].name}'`);
    expect(worker).toContain(`concurrency: ${on.model.services.worker.dbConnections}`);
  });

  it('has no Redis, queue or vector code in the api when those are off', () => {
    const api = pathsUnder(off.plan, 'apps/api/');
    expect(api.length).toBeGreaterThan(10);
    for (const path of api) expect(text(off.plan, path), path).not.toMatch(/redis|bullmq|\bqueue\b|vector/i);
    expect(pathsUnder(off.plan, 'apps/worker/')).toEqual([]);
    // Redis without workers: a client (readiness, rate limit) but no queue.
    for (const path of pathsUnder(redisOnly.plan, 'apps/api/src/')) expect(text(redisOnly.plan, path), path).not.toMatch(/bullmq|\bqueue\b/i);
    expect(text(redisOnly.plan, 'apps/api/src/health.ts')).toContain('redis.ping()');
  });

  it('uses one queue name, from the model, in the api and the worker', () => {
    const m = on.model;
    for (const path of ['apps/api/src/queue.ts', 'apps/worker/src/queue.ts']) {
      expect(text(on.plan, path)).toContain(`QUEUE_NAME = '${m.queue.name}'`);
      expect(text(on.plan, path)).toContain(`countWords: '${m.queue.jobs.countWords}'`);
    }
    // Retries with exponential backoff are set on the job when it is enqueued.
    expect(text(on.plan, 'apps/api/src/queue.ts')).toMatch(/attempts: \d+,\s+backoff: \{ type: 'exponential'/);
    expect(text(on.plan, 'apps/api/src/routes/jobs.ts')).toContain('JOB_OPTIONS');
  });

  it('serves the model health paths and the pgvector endpoint', () => {
    const health = text(on.plan, 'apps/api/src/health.ts');
    expect(health).toContain(`'${on.model.paths.health}'`);
    expect(health).toContain(`'${on.model.paths.ready}'`);
    expect(health).toContain('503');
    const migration = text(on.plan, 'apps/api/migrations/1767225602000_create-items.js');
    expect(migration).toContain('vector(3)');
    expect(migration).toMatch(/USING hnsw \(embedding vector_l2_ops\)/);
    expect(text(on.plan, 'apps/api/src/routes/items.ts')).toContain('<->');
    expect(pathsUnder(off.plan, 'apps/api/migrations/')).toEqual(['apps/api/migrations/1767225600000_create-notes.js']);
  });

  it('pins every dependency to src/versions.ts, with lockfiles in step', () => {
    for (const { plan } of [on, off, redisOnly]) {
      for (const manifest of plan.files.filter((f) => /^apps\/[^/]+\/package\.json$/.test(f.path))) {
        const pkg = JSON.parse(manifest.content.toString());
        const lock = JSON.parse(text(plan, manifest.path.replace('package.json', 'package-lock.json')));
        for (const field of ['dependencies', 'devDependencies'] as const) {
          for (const [name, version] of Object.entries<string>(pkg[field] ?? {})) {
            expect(PINS[name], `${manifest.path}: ${name} has no pin in NPM_VERSIONS`).toBeDefined();
            expect(version, `${manifest.path}: ${name}`).toBe(NPM_VERSIONS[PINS[name]!]);
          }
          expect(lock.packages[''][field] ?? {}, `${manifest.path} ${field} vs lockfile`).toEqual(pkg[field] ?? {});
        }
      }
    }
    const api = (r: typeof on) => Object.keys(JSON.parse(text(r.plan, 'apps/api/package.json')).dependencies);
    expect(api(off)).not.toContain('ioredis');
    expect(api(on)).toEqual(expect.arrayContaining(['ioredis', 'bullmq']));
    // Redis without workers: the client for readiness and rate limits, no queue library.
    expect(api(redisOnly)).toContain('ioredis');
    expect(api(redisOnly)).not.toContain('bullmq');
  });

  it('builds images from the model: node base, npm cache mount, non-root, model port, migrations', () => {
    const m = on.model;
    const api = text(on.plan, 'apps/api/Dockerfile');
    const worker = text(on.plan, 'apps/worker/Dockerfile');
    for (const dockerfile of [api, worker]) {
      expect(dockerfile.match(/^FROM (\S+)/gm)).toEqual(Array(3).fill(`FROM ${m.images.node}`));
      expect(dockerfile).toContain('RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev');
      expect(dockerfile).toMatch(/^USER node$/m);
    }
    expect(api).toContain(`EXPOSE ${m.services.api.port}`);
    expect(api).toContain('COPY migrations ./migrations');
    expect(worker).toContain(JSON.stringify(m.services.worker.healthcheck.slice(1)));
    expect(m.services.worker.healthcheck).toEqual(['CMD', 'node', 'dist/healthcheck.js']);
    expect(text(on.plan, 'apps/api/.dockerignore')).toContain('node_modules');
  });

  it('gives the SPA its API origin at run time, never at build time', () => {
    const files = pathsUnder(on.plan, 'apps/web/');
    expect(files).toContain('apps/web/src/runtime-config.ts');
    expect(text(on.plan, 'apps/web/src/runtime-config.ts')).toContain("fetch('/config.json'");
    for (const path of files) expect(text(on.plan, path), path).not.toContain(on.model.domain.api);
    expect(text(on.plan, 'apps/web/vite.config.ts')).toContain(`http://localhost:${on.model.services.api.port}`);
  });
});

function run(cwd: string, command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: 'pipe', env: { ...process.env, CI: 'true' } });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

const BUILT: Record<string, string[]> = {
  api: ['dist/server.js', 'dist/migrate.js'],
  worker: ['dist/main.js', 'dist/healthcheck.js'],
  web: ['dist/index.html'],
};

describe.each(VARIANTS)('express-worker apps install, typecheck and build (%s)', (_name, answers, apps) => {
  let stack: RenderedStack;
  let m: StackModel;

  beforeAll(() => {
    stack = writeStack({ template: 'express-worker', ...answers });
    m = stack.model;
  });
  afterAll(() => stack?.cleanup());

  it('writes exactly these apps', () => {
    expect(readdirSync(join(stack.dir, 'apps')).sort()).toEqual([...apps].sort());
  });

  it.each(apps)('%s: npm ci, tsc --noEmit, npm run build', (app) => {
    const dir = join(stack.dir, 'apps', app);
    run(dir, 'npm', ['ci', '--no-audit', '--no-fund', '--prefer-offline']);
    run(dir, 'npx', ['--no-install', 'tsc', '--noEmit', '-p', '.']);
    run(dir, 'npm', ['run', 'build']);
    for (const output of BUILT[app]!) expect(existsSync(join(dir, output)), `${app}/${output}`).toBe(true);
  }, 300_000);

  it('api: refuses to start without its configuration, naming the variable', () => {
    const dir = join(stack.dir, 'apps', 'api');
    const env = { PATH: process.env.PATH ?? '' };
    const missing = spawnSync(process.execPath, ['dist/server.js'], { cwd: dir, env, encoding: 'utf8', timeout: 10_000 });
    expect(missing.status).toBe(1);
    expect(missing.stdout).toContain(`${m.env.databaseUrl.name} is not set`);
    const line = JSON.parse(missing.stdout.trim().split('\n')[0]!);
    expect(line.level).toBe('error');

    const badOrigin = spawnSync(process.execPath, ['dist/server.js'], {
      cwd: dir, encoding: 'utf8', timeout: 10_000,
      env: { ...env, [m.env.databaseUrl.name]: 'postgres://u:p@127.0.0.1:1/db', [m.env.redisUrl.name]: 'redis://127.0.0.1:1', [m.env.webOrigin.name]: `${m.origins.web}/` },
    });
    expect(badOrigin.status).toBe(1);
    expect(badOrigin.stdout).toContain(m.env.webOrigin.name);
  });

  it('worker: dist/healthcheck.js exits non-zero when Redis is unreachable (or there is no worker at all)', () => {
    if (!apps.includes('worker')) {
      expect(existsSync(join(stack.dir, 'apps', 'worker'))).toBe(false);
      return;
    }
    const dir = join(stack.dir, 'apps', 'worker');
    const result = spawnSync(process.execPath, ['dist/healthcheck.js'], {
      cwd: dir, encoding: 'utf8', timeout: 15_000,
      env: { PATH: process.env.PATH ?? '', [m.env.redisUrl.name]: 'redis://127.0.0.1:1' },
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('unhealthy: redis unreachable');
    expect(readFileSync(join(dir, 'package.json'), 'utf8')).toContain('"bullmq"');
  });
});
