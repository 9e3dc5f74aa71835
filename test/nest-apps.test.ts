// The nest-next apps (NestJS api + worker in one image, Next.js web): rendered for everything on
// and everything off, checked against the stack model, then installed from their committed
// lockfiles, typechecked and built for real. The built apps are started: the api's fail-fast
// configuration, the worker's healthcheck, the standalone Next.js server on the model's port
// variables, and (with Postgres and Redis installed) a native boot: migrations, health, a job
// through the worker, the pgvector similarity endpoint and the page rendering the API's health.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Answers } from '../src/options.js';
import type { StackModel } from '../src/stack/model.js';
import { NPM_VERSIONS } from '../src/versions.js';
import { hasTool, inCI, renderStack, toolAvailable, writeStack, type RenderedStack } from './support/stack.js';
import { freePort, waitFor } from './support/wait.js';
import { pgvectorInstalled, postgresBin } from './support/postgres.js';

type NpmKey = keyof typeof NPM_VERSIONS;
type Plan = ReturnType<typeof renderStack>['plan'];

/** npm package → its pin in src/versions.ts. Every dependency of a generated app must be here. */
const PINS: Record<string, NpmKey> = {
  '@nestjs/common': 'nestCore', '@nestjs/core': 'nestCore', '@nestjs/platform-express': 'nestCore',
  '@nestjs/config': 'nestConfig', '@nestjs/terminus': 'nestTerminus', '@nestjs/bullmq': 'nestBullmq', '@nestjs/schedule': 'nestSchedule',
  kysely: 'kysely', pg: 'pg', zod: 'zod', 'reflect-metadata': 'reflectMetadata', rxjs: 'rxjs', ioredis: 'ioredis', bullmq: 'bullmq',
  next: 'next', react: 'react', 'react-dom': 'reactDom', typescript: 'typescript',
  '@types/node': 'typesNode', '@types/express': 'typesExpress', '@types/pg': 'typesPg', '@types/react': 'typesReact', '@types/react-dom': 'typesReactDom',
};

const ALL_ON: Partial<Answers> = { template: 'nest-next', workers: true, redis: true, pgvector: true, cloudflare: true, backupRemote: 's3' };
const ALL_OFF: Partial<Answers> = { template: 'nest-next', workers: false, redis: false, pgvector: false, cloudflare: false, ci: 'none', vpsMemory: 1, vpsCpus: 1 };

const text = (plan: Plan, path: string): string => {
  const file = plan.files.find((f) => f.path === path);
  if (!file) throw new Error(`${path} is not in the plan`);
  return file.content.toString('utf8');
};
const pathsUnder = (plan: Plan, prefix: string): string[] => plan.files.map((f) => f.path).filter((p) => p.startsWith(prefix));
const deps = (plan: Plan, app: string): string[] => {
  const pkg = JSON.parse(text(plan, `apps/${app}/package.json`)) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
  return [...Object.keys(pkg.dependencies), ...Object.keys(pkg.devDependencies)];
};

describe('nest-next apps: rendered files', () => {
  const on = renderStack(ALL_ON);
  const off = renderStack(ALL_OFF);
  const redisOnly = renderStack({ template: 'nest-next', workers: false, redis: true, pgvector: false });

  it('runs the model services from two app folders: the worker is the api image', () => {
    expect(on.model.services.worker.buildContext).toBe(on.model.services.api.buildContext);
    expect(on.model.services.worker.healthcheck).toEqual(['CMD', 'node', 'dist/healthcheck.js']);
    expect(pathsUnder(on.plan, 'apps/').map((p) => p.split('/')[1])).toEqual(expect.arrayContaining(['api', 'web']));
    expect(new Set(pathsUnder(on.plan, 'apps/').map((p) => p.split('/')[1]))).toEqual(new Set(['api', 'web']));
    expect(text(on.plan, 'apps/api/src/healthcheck.ts')).toContain('HEARTBEAT_MAX_AGE_MS');
    expect(text(on.plan, 'compose.yaml')).toMatch(/command: \["node", "dist\/worker\.js"\]/);
    expect(pathsUnder(off.plan, 'apps/api/src/worker')).toEqual([]);
    expect(text(off.plan, 'compose.yaml')).not.toMatch(/^ {2}worker:/m);
  });

  it('names every env var and port from the model', () => {
    for (const { model: m, plan } of [on, off]) {
      const env = text(plan, 'apps/api/src/config/env.ts');
      for (const id of ['port', 'databaseUrl', 'webOrigin', 'logLevel'] as const) expect(env).toContain(`'${m.env[id].name}'`);
      expect(env.includes(`'${m.env.redisUrl.name}'`)).toBe(m.features.redis);
      expect(env).toContain(`port(${m.services.api.port})`);
      expect(text(plan, 'apps/api/src/app.module.ts')).toContain(`poolSize: ${m.services.api.dbConnections}`);
      const health = text(plan, 'apps/api/src/health/health.controller.ts');
      expect(health).toContain(`'${m.paths.health}'`);
      expect(health).toContain(`'${m.paths.ready}'`);

      const web = text(plan, 'apps/web/lib/config.ts');
      expect(web).toContain(`'${m.env.apiOrigin.name}'`);
      expect(web).toContain(`'${m.env.apiInternalUrl.name}'`);
      expect(web).toContain(`'http://${m.services.api.name}:${m.services.api.port}'`);
      const dockerfile = text(plan, 'apps/web/Dockerfile');
      expect(dockerfile).toContain(`${m.env.port.name}=${m.services.web.port} ${m.env.host.name}=0.0.0.0`);
      expect(dockerfile).toContain(`EXPOSE ${m.services.web.port}`);
      expect(text(plan, 'compose.dev.yaml')).toContain(`--hostname 0.0.0.0 --port ${m.services.web.port}`);
      expect(text(plan, 'compose.yaml')).toContain(`${m.env.apiInternalUrl.name}: "http://${m.services.api.name}:${m.services.api.port}"`);
    }
    const w = on.model.services.worker;
    expect(text(on.plan, 'apps/api/src/worker/worker.module.ts')).toContain(`poolSize: ${w.dbConnections}`);
    expect(text(on.plan, 'apps/api/src/worker/count-words.processor.ts')).toContain(`concurrency: ${w.dbConnections}`);
    for (const path of ['apps/api/src/queue/queue.constants.ts']) {
      expect(text(on.plan, path)).toContain(`QUEUE_NAME = '${on.model.queue.name}'`);
      expect(text(on.plan, path)).toContain(`countWords: '${on.model.queue.jobs.countWords}'`);
    }
  });

  it('has no Redis, queue, cron or vector code, dependencies or variables when those are off', () => {
    const api = pathsUnder(off.plan, 'apps/api/');
    expect(api.length).toBeGreaterThan(15);
    for (const path of api) expect(text(off.plan, path), path).not.toMatch(/redis|bullmq|\bqueue\b|vector|@nestjs\/schedule|@Cron/i);
    for (const name of ['ioredis', 'bullmq', '@nestjs/bullmq', '@nestjs/schedule']) expect(deps(off.plan, 'api')).not.toContain(name);
    for (const file of ['compose.yaml', 'compose.dev.yaml', 'compose.prod.yaml', '.env.example']) {
      expect(text(off.plan, file), file).not.toContain(off.model.env.redisUrl.name);
      expect(text(off.plan, file), file).not.toContain(off.model.env.redisPassword.name);
    }
    // Redis without workers: a client (readiness, rate limit) but no queue and no cron.
    expect(deps(redisOnly.plan, 'api')).toContain('ioredis');
    for (const name of ['bullmq', '@nestjs/bullmq', '@nestjs/schedule']) expect(deps(redisOnly.plan, 'api')).not.toContain(name);
    for (const path of pathsUnder(redisOnly.plan, 'apps/api/src/')) expect(text(redisOnly.plan, path), path).not.toMatch(/bullmq|\bqueue\b|@Cron/i);
    expect(text(redisOnly.plan, 'apps/api/src/health/health.controller.ts')).toContain('this.redis.ping()');
    expect(deps(on.plan, 'api')).toEqual(expect.arrayContaining(['ioredis', 'bullmq', '@nestjs/bullmq', '@nestjs/schedule']));
  });

  it('registers cron jobs in the worker only, never in the api', () => {
    const sources = pathsUnder(on.plan, 'apps/api/src/');
    const withCron = sources.filter((p) => /@Cron\(|@Interval\(|ScheduleModule|@nestjs\/schedule/.test(text(on.plan, p)));
    expect(withCron.length).toBeGreaterThan(0);
    for (const path of withCron) expect(path, 'scheduling outside src/worker/').toMatch(/^apps\/api\/src\/worker\//);
    expect(text(on.plan, 'apps/api/src/worker/sweep.tasks.ts')).toMatch(/@Cron\(/);
    for (const entry of ['app.module.ts', 'main.ts']) expect(text(on.plan, `apps/api/src/${entry}`)).not.toMatch(/from '\.\/worker/);
    // The BullMQ consumer lives in the worker too; the api only produces.
    const processors = sources.filter((p) => /@Processor\(/.test(text(on.plan, p)));
    expect(processors).toEqual(['apps/api/src/worker/count-words.processor.ts']);
  });

  it('serves the pgvector endpoint from a migration with a vector column and an index', () => {
    const migration = text(on.plan, 'apps/api/src/database/migrations/0003_create-items.ts');
    expect(migration).toContain('vector(3)');
    expect(migration).toMatch(/USING hnsw \(embedding vector_l2_ops\)/);
    expect(text(on.plan, 'apps/api/src/items/items.service.ts')).toContain('<->');
    expect(text(on.plan, 'apps/api/src/items/items.controller.ts')).toContain("@Post('similar')");
    expect(pathsUnder(off.plan, 'apps/api/src/database/migrations/')).toEqual(['apps/api/src/database/migrations/0001_create-notes.ts']);
  });

  it('builds Next.js standalone and keeps per-environment values out of the web image', () => {
    for (const { model: m, plan } of [on, off]) {
      expect(text(plan, 'apps/web/next.config.ts')).toMatch(/output: 'standalone'/);
      for (const path of pathsUnder(plan, 'apps/web/')) {
        if (path.endsWith('package-lock.json')) continue;
        expect(text(plan, path), path).not.toMatch(/NEXT_PUBLIC_[A-Z]/);
        expect(text(plan, path), path).not.toContain(m.domain.api);
      }
      expect(text(plan, 'apps/web/lib/config.ts')).toContain('await connection()');
    }
  });

  it('pins every dependency to src/versions.ts, with lockfiles in step', () => {
    for (const { plan } of [on, off, redisOnly]) {
      for (const manifest of plan.files.filter((f) => /^apps\/[^/]+\/package\.json$/.test(f.path))) {
        const pkg = JSON.parse(manifest.content.toString());
        const lock = JSON.parse(text(plan, manifest.path.replace('package.json', 'package-lock.json')));
        expect(lock.lockfileVersion).toBe(3);
        for (const field of ['dependencies', 'devDependencies'] as const) {
          for (const [name, version] of Object.entries<string>(pkg[field] ?? {})) {
            expect(PINS[name], `${manifest.path}: ${name} has no pin in NPM_VERSIONS`).toBeDefined();
            expect(version, `${manifest.path}: ${name}`).toBe(NPM_VERSIONS[PINS[name]!]);
          }
          expect(lock.packages[''][field] ?? {}, `${manifest.path} ${field} vs lockfile`).toEqual(pkg[field] ?? {});
        }
      }
    }
  });

  it('builds images from the model: node base, npm ci with a cache mount, non-root, model healthchecks', () => {
    const m = on.model;
    for (const app of ['api', 'web'] as const) {
      const dockerfile = text(on.plan, `apps/${app}/Dockerfile`);
      expect(dockerfile.match(/^FROM (\S+)/gm)).toEqual(Array(3).fill(`FROM ${m.images.node}`));
      expect(dockerfile).toMatch(/^RUN --mount=type=cache,target=\/root\/\.npm npm ci /m);
      expect(dockerfile).toMatch(/^USER node$/m);
      expect(dockerfile).toContain(`HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 CMD ${JSON.stringify(m.services[app].healthcheck.slice(1))}`);
      expect(text(on.plan, `apps/${app}/.dockerignore`)).toMatch(/^node_modules$/m);
    }
    expect(text(on.plan, 'apps/api/Dockerfile')).toContain('npm ci --omit=dev');
    expect(text(on.plan, 'apps/api/Dockerfile')).toContain(`EXPOSE ${m.services.api.port}`);
    expect(text(on.plan, 'apps/api/Dockerfile')).toContain('CMD ["node", "dist/main.js"]');
    expect(text(on.plan, 'apps/web/Dockerfile')).toContain('COPY --from=build /app/.next/standalone ./');
    expect(text(on.plan, 'apps/web/Dockerfile')).toContain('CMD ["node", "server.js"]');
    expect(m.services.api.migrateCommand).toBe('npm run migrate');
    expect(JSON.parse(text(on.plan, 'apps/api/package.json')).scripts.migrate).toBe('node dist/migrate.js');
  });

  it('documents migrations, the worker/cron split, Next build-time env and cache busting', () => {
    const runbook = text(on.plan, 'docs/RUNBOOK.md');
    for (const needle of ['src/database/migrations', 'schema_migrations', 'ScheduleModule', 'NEXT_PUBLIC_', '/_next/static/', 'immutable']) {
      expect(runbook, needle).toContain(needle);
    }
    expect(text(off.plan, 'docs/RUNBOOK.md')).not.toContain('ScheduleModule');
    expect(text(on.plan, 'README.md')).toContain("output: 'standalone'");
    expect(JSON.parse(text(on.plan, 'package.json')).scripts.migrate).toContain(`exec ${on.model.services.api.name} npm run migrate`);
  });
});

// --- install, typecheck, build, start -------------------------------------------------------------

function run(cwd: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): string {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: 'pipe', env: { ...process.env, CI: 'true', NEXT_TELEMETRY_DISABLED: '1', ...env } });
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}


/** A long-running child started by this test, stopped by its own PID. */
class Proc {
  readonly child: ChildProcess;
  out = '';
  exit: Promise<number | null>;

  constructor(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }) {
    this.child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (d) => (this.out += d));
    this.child.stderr!.on('data', (d) => (this.out += d));
    this.exit = new Promise((r) => this.child.once('exit', (code) => r(code)));
  }

  /**
   * Sends `signal` and waits; after `graceMs` the process is killed. True when it ended by itself
   * (exit code 0, or the signal re-raised after a clean shutdown, as Nest and Next.js do: 143 in Docker).
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<boolean> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode === 0;
    this.child.kill(signal);
    let killed = false;
    const timer = setTimeout(() => {
      killed = true;
      this.child.kill('SIGKILL');
    }, graceMs);
    const code = await this.exit;
    clearTimeout(timer);
    return !killed && (code === 0 || code === 143 || this.child.signalCode === signal);
  }
}

async function get(url: string, init?: RequestInit): Promise<{ status: number; body: string; json: () => any }> {
  const res = await fetch(url, { ...init, signal: AbortSignal.timeout(10_000) });
  const body = await res.text();
  return { status: res.status, body, json: () => JSON.parse(body) };
}

/** Relative modules dist/<entry> imports, statically or with import(), transitively. */
function importGraph(distDir: string, entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    for (const match of source.matchAll(/(?:from\s+|import\s*\(\s*|import\s+)['"](\.{1,2}\/[^'"]+)['"]/g)) visit(resolve(dirname(file), match[1]!));
  };
  visit(join(distDir, entry));
  return [...seen];
}

// Debian's postgresql (a real server: migrations, the health checks, the job's UPDATE). pgvector
// only when its extension files are installed (.ci builds it from source).
const POSTGRES_BIN = postgresBin();
const AS_ROOT = process.getuid?.() === 0;
const CAN_RUN_POSTGRES = POSTGRES_BIN !== undefined && (!AS_ROOT || (hasTool('runuser') && spawnSync('id', ['-u', 'postgres']).status === 0));
if (!CAN_RUN_POSTGRES && inCI) throw new Error('postgres (Debian postgresql) is required under CI=true');
const CAN_RUN_REDIS = toolAvailable('redis-server');
const HAS_PGVECTOR = pgvectorInstalled(POSTGRES_BIN);

/** A throwaway Postgres cluster on a free loopback port, owned by the postgres user when we are root. */
class Postgres {
  readonly dir = mkdtempSync(join(tmpdir(), 'cvs-nest-pg-'));
  port = 0;

  private as(command: string, args: string[]): string {
    const [cmd, argv] = AS_ROOT ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
    return run(this.dir, cmd, argv);
  }

  async start(): Promise<string> {
    chmodSync(this.dir, 0o755);
    if (AS_ROOT) {
      const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }));
      const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }));
      chownSync(this.dir, uid, gid);
    }
    this.port = await freePort();
    this.as(join(POSTGRES_BIN!, 'initdb'), ['-D', join(this.dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync']);
    const options = `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1 -c fsync=off`;
    this.as(join(POSTGRES_BIN!, 'pg_ctl'), ['-D', join(this.dir, 'data'), '-o', options, '-l', join(this.dir, 'log'), '-w', 'start']);
    this.as(join(POSTGRES_BIN!, 'createdb'), ['-h', '127.0.0.1', '-p', String(this.port), '-U', 'postgres', 'app']);
    return `postgres://postgres@127.0.0.1:${this.port}/app`;
  }

  stop(): void {
    // pg_ctl stops the server by the PID in its postmaster.pid.
    if (existsSync(join(this.dir, 'data/postmaster.pid'))) {
      try {
        this.as(join(POSTGRES_BIN!, 'pg_ctl'), ['-D', join(this.dir, 'data'), '-m', 'fast', '-w', 'stop']);
      } catch {
        // Already gone.
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

const VARIANTS: Array<[string, Partial<Answers>]> = [['all on', ALL_ON], ['all off', ALL_OFF]];

describe.each(VARIANTS)('nest-next apps install, typecheck, build and start (%s)', (_name, answers) => {
  let stack: RenderedStack;
  let m: StackModel;
  const apiDir = () => join(stack.dir, 'apps/api');
  const webDir = () => join(stack.dir, 'apps/web');

  beforeAll(() => {
    stack = writeStack(answers);
    m = stack.model;
  });
  afterAll(() => stack?.cleanup());

  it('writes exactly the api and web apps', () => {
    expect(readdirSync(join(stack.dir, 'apps')).sort()).toEqual(['api', 'web']);
  });

  it('api: npm ci, tsc --noEmit, npm run build', () => {
    run(apiDir(), 'npm', ['ci', '--no-audit', '--no-fund', '--prefer-offline']);
    run(apiDir(), 'npx', ['--no-install', 'tsc', '--noEmit', '-p', '.']);
    run(apiDir(), 'npm', ['run', 'build']);
    const built = ['dist/main.js', 'dist/migrate.js', 'dist/database/migrations/0001_create-notes.js'];
    if (m.features.workers) built.push('dist/worker.js', 'dist/healthcheck.js');
    for (const output of built) expect(existsSync(join(apiDir(), output)), output).toBe(true);
    expect(existsSync(join(apiDir(), 'dist/worker.js'))).toBe(m.features.workers);
  }, 300_000);

  it('web: npm ci, next typegen + tsc --noEmit, next build (standalone)', () => {
    run(webDir(), 'npm', ['ci', '--no-audit', '--no-fund', '--prefer-offline']);
    run(webDir(), 'npm', ['run', 'typecheck']);
    run(webDir(), 'npm', ['run', 'build']);
    expect(existsSync(join(webDir(), '.next/standalone/server.js'))).toBe(true);
    expect(readdirSync(join(webDir(), '.next/static')).length).toBeGreaterThan(0);
    // The build leaves the committed tsconfig.json as it is (Next.js rewrites one it disagrees with).
    const rendered = stack.plan.files.find((f) => f.path === 'apps/web/tsconfig.json')!.content.toString();
    expect(readFileSync(join(webDir(), 'tsconfig.json'), 'utf8')).toBe(rendered);
  }, 600_000);

  it('api: refuses to start without its configuration, naming each variable (a JSON fatal line)', () => {
    const env = { PATH: process.env.PATH ?? '' };
    const missing = spawnSync(process.execPath, ['dist/main.js'], { cwd: apiDir(), env, encoding: 'utf8', timeout: 20_000 });
    expect(missing.status).toBe(1);
    const line = JSON.parse(missing.stderr.trim().split('\n').at(-1)!);
    expect(line.level).toBe('fatal');
    expect(line.message).toContain(`${m.env.databaseUrl.name} is not set`);
    expect(line.message).toContain(`${m.env.webOrigin.name} is not set`);
    if (m.features.redis) expect(line.message).toContain(`${m.env.redisUrl.name} is not set`);

    const bad = spawnSync(process.execPath, ['dist/main.js'], {
      cwd: apiDir(), encoding: 'utf8', timeout: 20_000,
      env: { ...env, [m.env.databaseUrl.name]: 'mysql://u:p@127.0.0.1:1/db', [m.env.redisUrl.name]: 'redis://127.0.0.1:1', [m.env.webOrigin.name]: `${m.origins.web}/`, [m.env.port.name]: 'http' },
    });
    expect(bad.status).toBe(1);
    for (const name of [m.env.databaseUrl.name, m.env.webOrigin.name, m.env.port.name]) expect(bad.stderr).toContain(name);

    const migrate = spawnSync(process.execPath, ['dist/migrate.js'], { cwd: apiDir(), env, encoding: 'utf8', timeout: 20_000 });
    expect(migrate.status).toBe(1);
    expect(migrate.stderr).toContain(`${m.env.databaseUrl.name} is not set`);
  });

  it('api: the built entry point never loads cron jobs, the scheduler or a queue consumer', () => {
    const graph = importGraph(join(apiDir(), 'dist'), 'main.js');
    expect(graph.some((f) => f.endsWith('app.module.js'))).toBe(true);
    for (const file of graph) {
      const source = readFileSync(file, 'utf8');
      expect(source, file).not.toMatch(/@nestjs\/schedule|Cron\(|Interval\(|Processor\(/);
      expect(file, 'the api imports worker code').not.toMatch(/\/dist\/worker(\/|\.js$)/);
    }
    if (m.features.workers) {
      const worker = importGraph(join(apiDir(), 'dist'), 'worker.js').map((f) => readFileSync(f, 'utf8')).join('\n');
      expect(worker).toContain('@nestjs/schedule');
      expect(worker).toMatch(/Cron\(/);
    }
  });

  it('worker: dist/healthcheck.js fails without a fresh heartbeat (or no worker is built at all)', () => {
    if (!m.features.workers) {
      expect(existsSync(join(apiDir(), 'dist', 'worker.js'))).toBe(false);
      return;
    }
    const tmp = mkdtempSync(join(tmpdir(), 'cvs-nest-hb-'));
    try {
      const result = spawnSync(process.execPath, ['dist/healthcheck.js'], { cwd: apiDir(), encoding: 'utf8', timeout: 15_000, env: { PATH: process.env.PATH ?? '', TMPDIR: tmp } });
      expect(result.status).toBe(1);
      expect(result.stderr).toContain('unhealthy: no heartbeat yet');
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });

  it('web: the standalone server listens on PORT/HOSTNAME and renders while the API is down', async () => {
    const dir = join(webDir(), '.next/standalone');
    const port = await freePort();
    const env = {
      PATH: process.env.PATH ?? '', NODE_ENV: 'production', NEXT_TELEMETRY_DISABLED: '1',
      [m.env.port.name]: String(port), [m.env.host.name]: '127.0.0.1',
      [m.env.apiOrigin.name]: m.origins.api, [m.env.apiInternalUrl.name]: `http://127.0.0.1:${await freePort()}`,
    };
    const web = new Proc(process.execPath, ['server.js'], { cwd: dir, env });
    try {
      const page = await waitFor('the web server', async () => (await get(`http://127.0.0.1:${port}/`)) ?? undefined);
      expect(page.status, web.out).toBe(200);
      expect(page.body).toContain('unreachable');
      // The browser's API address comes from the environment at request time.
      expect(page.body).toContain(`${m.origins.api}${m.paths.health}`);
      expect(page.body).toContain('/_next/static/');
    } finally {
      expect(await web.stop(), web.out).toBe(true);
    }
  });

  describe.skipIf(!CAN_RUN_POSTGRES || (answers.redis === true && !CAN_RUN_REDIS))('native boot against Postgres' + (answers.redis ? ' and Redis' : ''), () => {
    const pg = new Postgres();
    let redis: Proc | undefined;
    const env: NodeJS.ProcessEnv = {};
    const procs: Proc[] = [];

    beforeAll(async () => {
      env.PATH = process.env.PATH;
      env[m.env.databaseUrl.name] = await pg.start();
      if (m.features.redis) {
        const port = await freePort();
        redis = new Proc('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { cwd: pg.dir, env: { PATH: process.env.PATH } });
        env[m.env.redisUrl.name] = `redis://127.0.0.1:${port}/0`;
        await waitFor('redis', async () => (redis!.out.includes('Ready to accept connections') ? true : undefined), 15_000);
      }
    });
    afterAll(async () => {
      for (const proc of procs.reverse()) await proc.stop('SIGKILL');
      await redis?.stop();
      pg.stop();
    });

    it('migrates, serves health and notes, runs a job through the worker, renders the page', async ({ skip }) => {
      if (m.features.pgvector && !HAS_PGVECTOR) {
        if (inCI) throw new Error('the pgvector extension is required under CI=true (.ci/install-pgvector.sh)');
        skip();
      }
      const migrate = spawnSync(process.execPath, ['dist/migrate.js'], { cwd: apiDir(), env, encoding: 'utf8', timeout: 60_000 });
      expect(migrate.status, migrate.stdout + migrate.stderr).toBe(0);
      expect(migrate.stdout).toContain('migrations done');
      // A second run finds nothing to do.
      const again = spawnSync(process.execPath, ['dist/migrate.js'], { cwd: apiDir(), env, encoding: 'utf8', timeout: 60_000 });
      expect(again.stdout).toContain('"ran":[]');

      const apiPort = await freePort();
      const webOrigin = 'http://127.0.0.1:3999';
      const api = new Proc(process.execPath, ['dist/main.js'], { cwd: apiDir(), env: { ...env, [m.env.port.name]: String(apiPort), [m.env.webOrigin.name]: webOrigin } });
      procs.push(api);
      const base = `http://127.0.0.1:${apiPort}`;
      const live = await waitFor('api liveness', async () => ((await get(`${base}${m.paths.health}`)).status === 200 ? true : undefined));
      expect(live, api.out).toBe(true);
      const ready = await get(`${base}${m.paths.ready}`);
      expect(ready.status, ready.body).toBe(200);
      expect(Object.keys(ready.json().details).sort()).toEqual(m.features.redis ? ['postgres', 'redis'] : ['postgres']);

      // CORS: the web origin only.
      const preflight = await fetch(`${base}/api/notes`, { method: 'OPTIONS', headers: { Origin: webOrigin, 'Access-Control-Request-Method': 'POST' } });
      expect(preflight.headers.get('access-control-allow-origin')).toBe(webOrigin);
      const foreign = await fetch(`${base}/api/notes`, { headers: { Origin: 'https://evil.example' } });
      expect(foreign.headers.get('access-control-allow-origin')).toBeNull();

      const json = { 'content-type': 'application/json' };
      const invalid = await get(`${base}/api/notes`, { method: 'POST', headers: json, body: JSON.stringify({ title: '' }) });
      expect(invalid.status).toBe(400);
      const created = await get(`${base}/api/notes`, { method: 'POST', headers: { ...json, 'X-Forwarded-For': '203.0.113.7' }, body: JSON.stringify({ title: 'hello big world', body: 'one two' }) });
      expect(created.status, created.body).toBe(201);
      const note = created.json();
      // trust proxy: one hop, the client address from nginx's X-Forwarded-For.
      await waitFor('the request log line', async () => (api.out.includes('"ip":"203.0.113.7"') ? true : undefined), 5_000);

      if (m.features.workers) {
        const worker = new Proc(process.execPath, ['dist/worker.js'], { cwd: apiDir(), env: { ...env, TMPDIR: pg.dir } });
        procs.push(worker);
        const counted = await waitFor('the count-words job', async () => {
          const current = (await get(`${base}/api/notes/${note.id}`)).json();
          return current.word_count === null ? undefined : current.word_count;
        });
        expect(counted, worker.out).toBe(5);
        await waitFor('the worker heartbeat', async () => {
          const hc = spawnSync(process.execPath, ['dist/healthcheck.js'], { cwd: apiDir(), env: { PATH: process.env.PATH, TMPDIR: pg.dir } });
          return hc.status === 0 ? true : undefined;
        }, 20_000);
        expect(await worker.stop(), worker.out).toBe(true);
        expect(worker.out).toContain('shutting down (SIGTERM)');
      }

      if (m.features.pgvector) {
        for (const [label, embedding] of [['a', [1, 2, 3]], ['b', [3, 2, 1]]] as const) {
          expect((await get(`${base}/api/items`, { method: 'POST', headers: json, body: JSON.stringify({ label, embedding }) })).status).toBe(201);
        }
        const similar = await get(`${base}/api/items/similar`, { method: 'POST', headers: json, body: JSON.stringify({ embedding: [1, 2, 2.5], limit: 1 }) });
        expect(similar.status, similar.body).toBe(200);
        expect(similar.json().items.map((i: { label: string }) => i.label)).toEqual(['a']);
      }

      // The Next.js page renders the API's readiness, fetched server-side from the internal URL.
      const webPort = await freePort();
      const web = new Proc(process.execPath, ['server.js'], {
        cwd: join(webDir(), '.next/standalone'),
        env: { PATH: process.env.PATH, NODE_ENV: 'production', [m.env.port.name]: String(webPort), [m.env.host.name]: '127.0.0.1', [m.env.apiOrigin.name]: m.origins.api, [m.env.apiInternalUrl.name]: base },
      });
      procs.push(web);
      const page = await waitFor('the page', async () => {
        const res = await get(`http://127.0.0.1:${webPort}/`);
        return res.status === 200 ? res.body : undefined;
      });
      expect(page).toContain('200 ready');
      expect(page).toContain('postgres');
      expect(await web.stop(), web.out).toBe(true);

      // SIGTERM: the shutdown hooks close the pools and the process exits cleanly.
      expect(await api.stop(), api.out).toBe(true);
      expect(api.out).toContain('shutting down (SIGTERM)');
    }, 180_000);
  });
});
