// The fastapi-oracle apps (api + worker in apps/api, oracle in apps/oracle): rendered for everything
// on and everything off, then checked with Debian 12's Python packages (FastAPI 0.92, pydantic 1.10,
// SQLAlchemy 1.4, gunicorn 20.1, rq 1.13, grpcio 1.51, protobuf 3.21): byte-compiled, gRPC stubs
// generated with protoc, apps imported, the oracle serving health + Analyze over gRPC, the API under
// uvicorn and gunicorn, and (with Debian's postgresql and redis-server) migrations, a job through the
// worker, pgvector similarity when the extension is installed, and direct mode when the oracle stops.
// Every process started here is stopped by its PID, also when a test fails.
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Answers } from '../src/options.js';
import type { StackModel } from '../src/stack/model.js';
import { PIP_VERSIONS } from '../src/versions.js';
import { hasTool, inCI, renderStack, toolAvailable, writeStack, type RenderedStack } from './support/stack.js';

type Plan = ReturnType<typeof renderStack>['plan'];

const VARIANTS: Array<[string, Partial<Answers>]> = [
  ['everything on', { template: 'fastapi-oracle', workers: true, redis: true, pgvector: true, cloudflare: true, backupRemote: 's3', vpsMemory: 4, vpsCpus: 2 }],
  ['everything off', { template: 'fastapi-oracle', workers: false, redis: false, pgvector: false, cloudflare: false, ci: 'none', vpsMemory: 1, vpsCpus: 1 }],
];

/** PyPI name in a requirements file → its pin in src/versions.ts. Every requirement must be here. */
const PINS: Record<string, keyof typeof PIP_VERSIONS> = {
  fastapi: 'fastapi', pydantic: 'pydantic', uvicorn: 'uvicorn', 'uvicorn-worker': 'uvicornWorker', gunicorn: 'gunicorn',
  sqlalchemy: 'sqlalchemy', alembic: 'alembic', psycopg: 'psycopg', grpcio: 'grpcio', protobuf: 'protobuf', redis: 'redis', rq: 'rq',
  'grpcio-tools': 'grpcioTools', 'prometheus-client': 'prometheusClient',
};

/** Files the generator writes twice (api and oracle) from one source: they must stay identical. */
const SHARED_COPIES: Array<[string, string]> = [
  ['apps/api/app/analysis.py', 'apps/oracle/oracle/analysis.py'],
  ['apps/api/app/log.py', 'apps/oracle/oracle/log.py'],
  ['apps/api/protos/oracle.proto', 'apps/oracle/protos/oracle.proto'],
  ['apps/api/protos/health.proto', 'apps/oracle/protos/health.proto'],
  ['apps/api/tools/gen_protos.py', 'apps/oracle/tools/gen_protos.py'],
  ['apps/api/requirements-build.txt', 'apps/oracle/requirements-build.txt'],
];

const fastapi = (overrides: Partial<Answers> = {}) => renderStack({ template: 'fastapi-oracle', ...overrides });

const text = (plan: Plan, path: string): string => {
  const file = plan.files.find((f) => f.path === path);
  if (!file) throw new Error(`${path} is not in the plan`);
  return file.content.toString('utf8');
};
const pathsUnder = (plan: Plan, prefix: string): string[] => plan.files.map((f) => f.path).filter((p) => p.startsWith(prefix));

/** revision → down_revision of every Alembic migration in the plan. */
function migrationChain(plan: Plan): Map<string, string | null> {
  const chain = new Map<string, string | null>();
  for (const path of pathsUnder(plan, 'apps/api/migrations/versions/')) {
    const source = text(plan, path);
    const revision = /^revision = "([^"]+)"$/m.exec(source)?.[1];
    const down = /^down_revision = (?:"([^"]+)"|None)$/m.exec(source);
    if (!revision || !down) throw new Error(`${path}: no revision / down_revision`);
    chain.set(revision, down[1] ?? null);
  }
  return chain;
}

describe('fastapi-oracle apps: rendered files', () => {
  const on = fastapi({ workers: true, redis: true, pgvector: true });
  const off = fastapi({ workers: false, redis: false, pgvector: false, vpsMemory: 1, vpsCpus: 1 });
  const redisOnly = fastapi({ workers: false, redis: true, pgvector: true });
  const workersNoVector = fastapi({ workers: true, redis: true, pgvector: false });

  it('names every env var from the model in the settings modules', () => {
    for (const { model: m, plan } of [on, off]) {
      const settings = text(plan, 'apps/api/app/settings.py');
      for (const id of ['port', 'databaseUrl', 'webOrigin', 'sessionSecret', 'oracleTarget', 'appEnv', 'apiDocs', 'logLevel'] as const) {
        expect(settings, id).toContain(`"${m.env[id].name}"`);
      }
      expect(settings.includes(`"${m.env.redisUrl.name}"`)).toBe(m.features.redis);
      expect(settings).toContain(`DEFAULT_ORACLE_TARGET = "${m.services.oracle.name}:${m.services.oracle.port}"`);
      const oracle = text(plan, 'apps/oracle/oracle/config.py');
      for (const id of ['port', 'host', 'metricsPort', 'logLevel'] as const) expect(oracle, id).toContain(`"${m.env[id].name}"`);
      expect(oracle).toContain(`DEFAULT_METRICS_PORT = ${m.services.oracle.extraPorts!.metrics}`);
      expect(oracle).toContain(`THREADS = ${m.python.oracleThreads}`);
    }
    expect(on.model.env.list.map((v) => v.name)).toContain(on.model.env.apiDocs.name);
    expect(renderStack({ template: 'express-worker' }).model.env.list.map((v) => v.name)).not.toContain(on.model.env.apiDocs.name);
  });

  it('sizes gunicorn from the model: worker count, pools, timeouts, keep-alive above nginx', () => {
    for (const { model: m, plan } of [on, off]) {
      const conf = text(plan, 'apps/api/gunicorn.conf.py');
      const p = m.python;
      expect(p.gunicornWorkers).toBe(Math.max(1, Math.min(2 * m.answers.vpsCpus + 1, Math.floor(m.services.api.memoryMiB / p.workerMemoryMiB), m.services.api.dbConnections)));
      expect(conf).toMatch(new RegExp(`^workers = ${p.gunicornWorkers}$`, 'm'));
      expect(conf).toMatch(new RegExp(`^timeout = ${p.timeoutSeconds}$`, 'm'));
      expect(conf).toMatch(new RegExp(`^keepalive = ${p.keepAliveSeconds}$`, 'm'));
      expect(p.keepAliveSeconds).toBeGreaterThan(Number.parseInt(m.nginx.upstreamKeepalive.timeout, 10));
      expect(conf).toMatch(/^accesslog = "-"$/m);
      expect(conf).toMatch(/^forwarded_allow_ips = "127\.0\.0\.1"$/m);
      expect(p.gunicornWorkers * p.dbPoolPerWorker).toBeLessThanOrEqual(m.services.api.dbConnections);
      expect(text(plan, 'apps/api/app/db.py')).toMatch(new RegExp(`^POOL_SIZE = ${p.dbPoolPerWorker}$`, 'm'));
    }
    expect(off.model.python.gunicornWorkers).toBeLessThan(on.model.python.gunicornWorkers);
  });

  it('has no Redis, queue or vector code when those are off', () => {
    const api = pathsUnder(off.plan, 'apps/api/');
    expect(api.length).toBeGreaterThan(15);
    for (const path of api) expect(text(off.plan, path), path).not.toMatch(/redis|\brq\b|vector/i);
    for (const path of ['apps/api/app/worker.py', 'apps/api/app/worker_health.py', 'apps/api/app/jobs.py', 'apps/api/app/queue.py', 'apps/api/app/redis_client.py']) {
      expect(api).not.toContain(path);
    }
    expect(pathsUnder(off.plan, 'apps/worker/')).toEqual([]);
    // Redis without workers: a client (readiness, rate limit), no queue.
    const withRedis = pathsUnder(redisOnly.plan, 'apps/api/');
    expect(withRedis).toContain('apps/api/app/rate_limit.py');
    for (const path of withRedis) expect(text(redisOnly.plan, path), path).not.toMatch(/\brq\b|app\.worker/);
    expect(text(redisOnly.plan, 'apps/api/app/health.py')).toContain('state.redis.ping');
  });

  it('carries the model healthcheck modules, and identical copies of the shared sources', () => {
    const m = on.model;
    expect(m.services.oracle.healthcheck).toEqual(['CMD', 'python', '-m', 'oracle.health', `127.0.0.1:${m.services.oracle.port}`]);
    expect(m.services.worker.healthcheck).toEqual(['CMD', 'python', '-m', 'app.worker_health']);
    expect(on.plan.files.map((f) => f.path)).toEqual(expect.arrayContaining(['apps/oracle/oracle/health.py', 'apps/api/app/worker_health.py']));
    for (const { plan } of [on, off]) {
      for (const [a, b] of SHARED_COPIES) expect(text(plan, a), `${a} vs ${b}`).toBe(text(plan, b));
    }
  });

  it('uses the model queue name and the model retries', () => {
    const queue = text(on.plan, 'apps/api/app/queue.py');
    const m = on.model;
    expect(queue).toContain(`QUEUE_NAME = "${m.queue.name}"`);
    expect(queue).toContain(`"count_words": "${m.queue.jobs.countWords}"`);
    expect(queue).toContain(`Retry(max=${m.python.jobRetries.max}, interval=[${m.python.jobRetries.intervalsSeconds.join(', ')}])`);
    expect(text(on.plan, 'apps/api/app/routes/jobs.py')).toContain('retry=RETRY');
    expect(text(on.plan, 'apps/api/app/worker.py')).toContain('with_scheduler=True');
  });

  it('chains the Alembic migrations into one line for every feature set', () => {
    for (const { model: m, plan } of [on, off, redisOnly, workersNoVector]) {
      const chain = migrationChain(plan);
      const roots = [...chain].filter(([, down]) => down === null).map(([rev]) => rev);
      expect(roots).toEqual(['0001_create_notes']);
      const downs = [...chain.values()].filter((d): d is string => d !== null);
      expect(new Set(downs).size, 'a revision with two children').toBe(downs.length);
      for (const down of downs) expect(chain.has(down), down).toBe(true);
      expect(chain.has('0002_note_word_count')).toBe(m.features.workers);
      expect(chain.has('0003_create_items')).toBe(m.features.pgvector);
    }
    const items = text(on.plan, 'apps/api/migrations/versions/0003_create_items.py');
    expect(items).toContain('vector({DIMENSIONS})');
    expect(items).toContain('USING hnsw (embedding vector_l2_ops)');
    expect(text(on.plan, 'apps/api/app/routes/items.py')).toContain('<->');
    expect(on.model.services.api.migrateCommand).toBe('alembic upgrade head');
  });

  it('pins every requirement to src/versions.ts', () => {
    for (const { model: m, plan } of [on, off, redisOnly]) {
      for (const path of plan.files.map((f) => f.path).filter((p) => /^apps\/[^/]+\/requirements(-build)?\.txt$/.test(p))) {
        const lines = text(plan, path).split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
        expect(lines.length, path).toBeGreaterThan(0);
        for (const line of lines) {
          const match = /^([a-z0-9-]+)(?:\[[a-z,]+\])?==(\S+)$/.exec(line);
          expect(match, `${path}: ${line} is not an exact pin`).not.toBeNull();
          const key = PINS[match![1]];
          expect(key, `${path}: ${match![1]} has no pin in PIP_VERSIONS`).toBeDefined();
          expect(match![2], `${path}: ${match![1]}`).toBe(PIP_VERSIONS[key!]);
        }
        if (path === 'apps/api/requirements.txt') {
          const names = lines.map((l) => l.split(/[[=]/)[0]);
          expect(names.includes('redis')).toBe(m.features.redis);
          expect(names.includes('rq')).toBe(m.features.workers);
          expect(names).not.toContain('grpcio-tools');
        }
      }
    }
  });

  it('builds multi-stage, non-root, byte-compiled images on the slim Python base', () => {
    const m = on.model;
    for (const [path, s] of [['apps/api/Dockerfile', m.services.api], ['apps/oracle/Dockerfile', m.services.oracle]] as const) {
      const dockerfile = text(on.plan, path);
      expect(dockerfile.match(/^FROM (\S+)/gm)).toEqual([`FROM ${m.images.python}`, `FROM ${m.images.python}`]);
      expect(m.images.python).toMatch(/-slim/);
      expect(dockerfile).toMatch(/^USER (?!root)\w+$/m);
      expect(dockerfile).toContain('python -m compileall');
      expect(dockerfile).toContain('tools/gen_protos.py');
      expect(dockerfile).toContain('requirements-build.txt');
      expect(dockerfile).toContain(`HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 CMD ${JSON.stringify(s.healthcheck.slice(1))}`);
      expect(dockerfile).toContain(`EXPOSE ${s.port}`);
      // grpcio-tools stays in the build stage.
      expect(dockerfile.split(/^FROM .* AS runtime$/m)[1]).not.toContain('/opt/tools');
      const ignore = text(on.plan, path.replace('Dockerfile', '.dockerignore'));
      for (const entry of ['.env', '__pycache__', 'oracle_rpc']) expect(ignore).toContain(entry);
    }
    expect(text(on.plan, 'apps/api/Dockerfile')).toContain('CMD ["gunicorn", "--config", "gunicorn.conf.py", "app.main:app"]');
    expect(text(on.plan, 'apps/oracle/Dockerfile')).toContain(`EXPOSE ${m.services.oracle.port} ${m.services.oracle.extraPorts!.metrics}`);
  });

  it('serves what the shared SPA calls, at the model paths', () => {
    const health = text(on.plan, 'apps/api/app/health.py');
    expect(health).toContain(`HEALTH_PATH = "${on.model.paths.health}"`);
    expect(health).toContain(`READY_PATH = "${on.model.paths.ready}"`);
    const spa = text(on.plan, 'apps/web/src/api.ts');
    expect(spa).toContain(`'${on.model.paths.health}'`);
    expect(spa).toContain(`'${on.model.paths.ready}'`);
    expect(text(on.plan, 'apps/web/vite.config.ts')).toContain(`http://localhost:${on.model.services.api.port}`);
    // The readiness body carries "checks" (the SPA lists them); docs are off in production by default.
    expect(health).toContain('"checks": checks');
    expect(text(on.plan, 'apps/api/app/main.py')).toContain('"docs_url": "/api/docs" if settings.docs else None');
  });
});

// ---------------------------------------------------------------------------------------------
// Debian's Python packages.

/** Debian's interpreter (a pyenv or venv python3 earlier on PATH lacks the apt packages). */
const PYTHON = process.env.CVS_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
const PY_MODULES = ['fastapi', 'pydantic', 'uvicorn', 'gunicorn', 'grpc', 'grpc_tools.protoc', 'google.protobuf', 'sqlalchemy', 'alembic', 'psycopg2', 'redis', 'rq', 'prometheus_client'];
const APT_PYTHON = 'python3-fastapi python3-uvicorn gunicorn python3-grpcio python3-grpc-tools python3-protobuf python3-sqlalchemy python3-alembic python3-psycopg python3-psycopg2 python3-redis python3-rq python3-prometheus-client';

const HAS_PYTHON = (() => {
  const result = spawnSync(PYTHON, ['-c', `import ${PY_MODULES.join(', ')}`], { encoding: 'utf8' });
  if (result.status === 0) return true;
  if (inCI) throw new Error(`${PYTHON} cannot import the apps' dependencies under CI=true (.ci/run must install ${APT_PYTHON}):\n${result.stderr}`);
  return false;
})();
const HAS_PROTOC = toolAvailable('protoc') && toolAvailable('grpc_python_plugin');

function succeed(result: SpawnSyncReturns<string>, what: string): string {
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${what} exited ${result.status}:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}


/** Processes started by a suite, stopped by PID (SIGTERM, then SIGKILL) however the tests end. */
class Processes {
  private readonly started: Array<{ name: string; child: ChildProcess; output: () => string }> = [];

  start(name: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv }): { child: ChildProcess; output: () => string } {
    const child = spawn(PYTHON, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const entry = { name, child, output: () => output };
    this.started.push(entry);
    return entry;
  }

  /** SIGTERM and wait for the exit; the exit code (null when it had to be killed). */
  async stop(child: ChildProcess, timeoutMs = 15_000): Promise<number | null> {
    if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    const code = await Promise.race([exited, sleep(timeoutMs).then(() => 'timeout' as const)]);
    if (code !== 'timeout') return code;
    if (child.pid && isAlive(child.pid)) process.kill(child.pid, 'SIGKILL');
    await exited;
    return null;
  }

  async stopAll(): Promise<void> {
    for (const { child } of this.started.reverse()) await this.stop(child, 10_000);
    this.started.length = 0;
  }

  logs(): string {
    return this.started.map(({ name, output }) => `--- ${name}\n${output().slice(-4000)}`).join('\n');
  }
}

async function request(url: string, init: RequestInit = {}): Promise<{ status: number; body: any }> {
  const response = await fetch(url, { ...init, headers: { 'content-type': 'application/json', ...(init.headers ?? {}) }, signal: AbortSignal.timeout(15_000) });
  const raw = await response.text();
  let body: unknown = raw;
  try {
    body = JSON.parse(raw);
  } catch {
    // not JSON
  }
  return { status: response.status, body };
}

const post = (url: string, body: unknown) => request(url, { method: 'POST', body: JSON.stringify(body) });

/** The environment the apps run with here: only what they read, names from the model. */
function appEnv(m: StackModel, gen: string, values: { database: string; redis?: string; oracle: string }, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8', PYTHONPATH: gen, PYTHONDONTWRITEBYTECODE: '1',
    [m.env.databaseUrl.name]: values.database,
    ...(m.features.redis && values.redis ? { [m.env.redisUrl.name]: values.redis } : {}),
    [m.env.webOrigin.name]: m.origins.web,
    [m.env.apiOrigin.name]: m.origins.api,
    [m.env.sessionSecret.name]: 'a'.repeat(64),
    [m.env.oracleTarget.name]: values.oracle,
    [m.env.logLevel.name]: 'info',
    ...extra,
  };
}

// Python run from the app folder with the generated stubs on the path.
const GRPC_CLIENT = String.raw`
import json, sys, grpc
from oracle_rpc import health_pb2, health_pb2_grpc, oracle_pb2, oracle_pb2_grpc
from oracle.analysis import analyze
target, text = sys.argv[1], sys.argv[2]
channel = grpc.insecure_channel(target)
health = health_pb2_grpc.HealthStub(channel)
out = {
    "server": health_pb2.HealthCheckResponse.ServingStatus.Name(health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5).status),
    "service": health_pb2.HealthCheckResponse.ServingStatus.Name(health.Check(health_pb2.HealthCheckRequest(service="oracle.v1.Oracle"), timeout=5).status),
}
try:
    health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=5)
except grpc.RpcError as error:
    out["unknown"] = error.code().name
oracle = oracle_pb2_grpc.OracleStub(channel)
reply = oracle.Analyze(oracle_pb2.AnalyzeRequest(text=text, top=2), timeout=5)
out["reply"] = {"words": reply.words, "unique_words": reply.unique_words, "sentences": reply.sentences,
                "lexical_density": reply.lexical_density, "top_terms": [{"term": t.term, "count": t.count} for t in reply.top_terms],
                "sha256": reply.sha256}
out["direct"] = analyze(text, 2)
try:
    oracle.Analyze(oracle_pb2.AnalyzeRequest(text="x" * 100001), timeout=5)
except grpc.RpcError as error:
    out["too_long"] = error.code().name
print(json.dumps(out))
`;

const PROXY_CHECK = String.raw`
import asyncio, json
from app.proxy import TrustedProxyHeaders
seen = []
async def app(scope, receive, send):
    seen.append([scope["client"][0], scope["scheme"]])
async def call(client):
    scope = {"type": "http", "client": (client, 1234), "scheme": "http",
             "headers": [(b"x-forwarded-for", b"198.51.100.1, 203.0.113.9"), (b"x-forwarded-proto", b"https")]}
    await TrustedProxyHeaders(app)(scope, None, None)
for client in ("172.18.0.5", "127.0.0.1", "203.0.113.50"):
    asyncio.run(call(client))
print(json.dumps(seen))
`;
import { freePort, isAlive, sleep, waitFor } from './support/wait.js';
import { postgresBin } from './support/postgres.js';

describe.skipIf(!HAS_PYTHON).each(VARIANTS)('fastapi-oracle apps on Debian 12 Python (%s)', (_name, answers) => {
  let stack: RenderedStack;
  let m: StackModel;
  let gen: string;
  const processes = new Processes();
  const api = () => join(stack.dir, 'apps/api');
  const oracle = () => join(stack.dir, 'apps/oracle');

  beforeAll(() => {
    stack = writeStack(answers);
    m = stack.model;
    gen = join(stack.dir, '..', 'gen');
    succeed(spawnSync(PYTHON, ['tools/gen_protos.py', gen], { cwd: oracle(), encoding: 'utf8' }), 'gen_protos.py');
  });
  afterAll(async () => {
    await processes.stopAll();
    stack?.cleanup();
  });

  it('byte-compiles every module', () => {
    const apps = readdirSync(join(stack.dir, 'apps')).filter((a) => a !== 'web').sort();
    expect(apps).toEqual(['api', 'oracle']);
    for (const app of apps) succeed(spawnSync(PYTHON, ['-m', 'compileall', '-q', join(stack.dir, 'apps', app)], { encoding: 'utf8' }), `compileall ${app}`);
  });

  it.skipIf(!HAS_PROTOC)('protoc + grpc_python_plugin generate the same stubs package from both apps', () => {
    for (const dir of [api(), oracle()]) {
      const out = mkdtempSync(join(tmpdir(), 'cvs-protoc-'));
      try {
        succeed(spawnSync('protoc', ['--plugin=protoc-gen-grpc_python=' + succeed(spawnSync('sh', ['-c', 'command -v grpc_python_plugin'], { encoding: 'utf8' }), 'which').trim(),
          `-Ioracle_rpc=${join(dir, 'protos')}`, `--python_out=${out}`, `--grpc_python_out=${out}`,
          join(dir, 'protos/health.proto'), join(dir, 'protos/oracle.proto')], { encoding: 'utf8' }), 'protoc');
        expect(readdirSync(join(out, 'oracle_rpc')).sort()).toEqual(['health_pb2.py', 'health_pb2_grpc.py', 'oracle_pb2.py', 'oracle_pb2_grpc.py']);
        const check = 'from oracle_rpc import health_pb2_grpc, oracle_pb2_grpc; assert oracle_pb2_grpc.OracleStub and health_pb2_grpc.HealthServicer';
        succeed(spawnSync(PYTHON, ['-c', check], { encoding: 'utf8', env: { PYTHONPATH: out } }), 'import protoc stubs');
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    }
  });

  it('imports the apps: the api app object with its routes, the oracle server and the healthcheck modules', () => {
    const env = appEnv(m, gen, { database: 'postgres://u:p@127.0.0.1:1/db', redis: 'redis://:p@127.0.0.1:1/0', oracle: '127.0.0.1:1' });
    const modules = ['app.main', 'app.health', ...(m.features.workers ? ['app.worker', 'app.worker_health', 'app.jobs'] : [])];
    const script = `import json, ${modules.join(', ')}; print(json.dumps(sorted(r.path for r in app.main.app.routes)))`;
    const routes = JSON.parse(succeed(spawnSync(PYTHON, ['-c', script], { cwd: api(), env, encoding: 'utf8' }), 'import api').trim().split('\n').pop()!);
    expect(routes).toEqual(expect.arrayContaining([m.paths.health, m.paths.ready, '/api/notes', '/api/notes/{note_id}', '/api/analyze']));
    expect(routes.includes('/api/jobs')).toBe(m.features.workers);
    expect(routes.includes('/api/similar')).toBe(m.features.pgvector);
    expect(routes).not.toContain('/api/docs');
    succeed(spawnSync(PYTHON, ['-c', 'import oracle.server, oracle.health'], { cwd: oracle(), env: { PYTHONPATH: gen }, encoding: 'utf8' }), 'import oracle');
  });

  it('refuses to start without its configuration, naming the variable', () => {
    const env = appEnv(m, gen, { database: 'postgres://u:p@127.0.0.1:1/db', redis: 'redis://:p@127.0.0.1:1/0', oracle: '127.0.0.1:1' });
    delete env[m.env.databaseUrl.name];
    const missing = spawnSync(PYTHON, ['-c', 'import app.main'], { cwd: api(), env, encoding: 'utf8' });
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`${m.env.databaseUrl.name} is not set`);
    const badOrigin = spawnSync(PYTHON, ['-c', 'import app.main'], { cwd: api(), encoding: 'utf8',
      env: appEnv(m, gen, { database: 'postgres://u:p@127.0.0.1:1/db', redis: 'redis://:p@127.0.0.1:1/0', oracle: '127.0.0.1:1' }, { [m.env.webOrigin.name]: `${m.origins.web}/` }) });
    expect(badOrigin.status).toBe(1);
    expect(badOrigin.stderr).toContain(m.env.webOrigin.name);
  });

  it('trusts X-Forwarded-* only from private and loopback peers', () => {
    const seen = JSON.parse(succeed(spawnSync(PYTHON, ['-c', PROXY_CHECK], { cwd: api(), encoding: 'utf8' }), 'proxy check'));
    expect(seen).toEqual([['203.0.113.9', 'https'], ['203.0.113.9', 'https'], ['203.0.113.50', 'http']]);
  });

  it('the oracle answers grpc.health.v1 and Analyze on its port, serves metrics, and stops cleanly on SIGTERM', async () => {
    const [port, metrics] = [await freePort(), await freePort()];
    const env = { PATH: '/usr/bin:/bin', PYTHONPATH: gen, [m.env.port.name]: String(port), [m.env.metricsPort.name]: String(metrics), [m.env.host.name]: '127.0.0.1' };
    const server = processes.start('oracle', ['-m', 'oracle.server'], { cwd: oracle(), env });
    try {
      await waitFor('the oracle', async () => (spawnSync(PYTHON, ['-m', 'oracle.health', `127.0.0.1:${port}`], { cwd: oracle(), env, encoding: 'utf8' }).status === 0 ? true : undefined), 20_000);
      // Without an argument the healthcheck asks this container's port (from the environment).
      expect(spawnSync(PYTHON, ['-m', 'oracle.health'], { cwd: oracle(), env, encoding: 'utf8' }).stdout).toContain('SERVING');

      const out = JSON.parse(succeed(spawnSync(PYTHON, ['-c', GRPC_CLIENT, `127.0.0.1:${port}`, 'The oracle speaks. The api listens, the api asks!'], { cwd: oracle(), env, encoding: 'utf8' }), 'grpc client'));
      expect(out.server).toBe('SERVING');
      expect(out.service).toBe('SERVING');
      expect(out.unknown).toBe('NOT_FOUND');
      expect(out.too_long).toBe('INVALID_ARGUMENT');
      expect(out.reply).toEqual(out.direct);
      expect(out.reply).toMatchObject({ words: 9, sentences: 2, top_terms: [{ term: 'the', count: 3 }, { term: 'api', count: 2 }] });

      const scraped = await (await fetch(`http://127.0.0.1:${metrics}/metrics`)).text();
      expect(scraped).toMatch(/oracle_rpcs_total\{code="OK",method="Analyze"\} 1\.0/);
      expect(scraped).toMatch(/oracle_rpcs_total\{code="INVALID_ARGUMENT",method="Analyze"\} 1\.0/);

      const started = Date.now();
      expect(await processes.stop(server.child)).toBe(0);
      expect(Date.now() - started).toBeLessThan((m.python.oracleGraceSeconds + 5) * 1000);
      expect(server.output()).toContain('"msg": "stopped"');
    } catch (error) {
      throw new Error(`${String(error)}\n${processes.logs()}`);
    } finally {
      await processes.stop(server.child);
    }
  });

  it('the api under uvicorn with nothing behind it: liveness 200, readiness 503 naming the failed checks, direct mode', async () => {
    const port = await freePort();
    const closed = await freePort();
    const env = appEnv(m, gen, { database: `postgres://u:p@127.0.0.1:${closed}/db`, redis: `redis://:p@127.0.0.1:${closed}/0`, oracle: `127.0.0.1:${closed}` });
    const server = processes.start('api (uvicorn)', ['-m', 'uvicorn', 'app.main:app', '--host', '127.0.0.1', '--port', String(port)], { cwd: api(), env });
    const base = `http://127.0.0.1:${port}`;
    try {
      await waitFor('the api', async () => ((await request(`${base}${m.paths.health}`)).status === 200 ? true : undefined));
      const live = await request(`${base}${m.paths.health}`);
      expect(live.body).toEqual({ status: 'ok' });
      const ready = await request(`${base}${m.paths.ready}`);
      expect(ready.status).toBe(503);
      const required = m.features.redis ? ['postgres', 'redis'] : ['postgres'];
      expect(ready.body).toEqual({
        status: 'unavailable', failed: required, mode: 'direct',
        checks: { ...Object.fromEntries(required.map((name) => [name, 'failed'])), oracle: 'degraded' },
      });
      const analyzed = await post(`${base}/api/analyze`, { text: 'one two two', top: 1 });
      expect(analyzed.status).toBe(200);
      expect(analyzed.body).toMatchObject({ mode: 'direct', result: { words: 3, unique_words: 2, top_terms: [{ term: 'two', count: 2 }] } });
      expect((await post(`${base}/api/analyze`, { text: 'x', top: 99 })).status).toBe(422);
      // The database being down is a 503 with a JSON error, not a stack trace.
      const notes = await request(`${base}/api/notes`);
      expect(notes.status).toBe(503);
      expect(notes.body).toEqual({ error: 'database unavailable, try again later' });
      expect((await request(`${base}/api/docs`)).status).toBe(404);
      expect((await request(`${base}/api/nothing-here`)).body).toEqual({ error: 'Not Found' });
      // CORS: the web origin only.
      const preflight = await fetch(`${base}/api/notes`, { method: 'OPTIONS', headers: { origin: m.origins.web, 'access-control-request-method': 'POST' } });
      expect(preflight.headers.get('access-control-allow-origin')).toBe(m.origins.web);
      const foreign = await fetch(`${base}/api/notes`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
      expect(foreign.headers.get('access-control-allow-origin')).toBeNull();
    } catch (error) {
      throw new Error(`${String(error)}\n${processes.logs()}`);
    } finally {
      await processes.stop(server.child);
    }
  });

  it('OpenAPI docs: on in development and with API_DOCS=1, off otherwise', async () => {
    const closed = await freePort();
    const values = { database: `postgres://u:p@127.0.0.1:${closed}/db`, redis: `redis://:p@127.0.0.1:${closed}/0`, oracle: `127.0.0.1:${closed}` };
    const docsOf = (extra: NodeJS.ProcessEnv) => {
      const script = 'import app.main; print(app.main.app.docs_url, app.main.app.openapi_url)';
      return succeed(spawnSync(PYTHON, ['-c', script], { cwd: api(), env: appEnv(m, gen, values, extra), encoding: 'utf8' }), 'docs').trim().split('\n').pop();
    };
    expect(docsOf({})).toBe('None None');
    expect(docsOf({ [m.env.apiDocs.name]: '1' })).toBe('/api/docs /api/openapi.json');
    expect(docsOf({ [m.env.appEnv.name]: 'development' })).toBe('/api/docs /api/openapi.json');
  });

  it('gunicorn boots the model worker count with its config, and stops on SIGTERM', async () => {
    const port = await freePort();
    const closed = await freePort();
    const env = appEnv(m, gen, { database: `postgres://u:p@127.0.0.1:${closed}/db`, redis: `redis://:p@127.0.0.1:${closed}/0`, oracle: `127.0.0.1:${closed}` },
      { [m.env.port.name]: String(port), [m.env.host.name]: '127.0.0.1' });
    const master = processes.start('api (gunicorn)', ['-m', 'gunicorn', '--config', 'gunicorn.conf.py', 'app.main:app'], { cwd: api(), env });
    try {
      await waitFor('gunicorn', async () => ((await request(`http://127.0.0.1:${port}${m.paths.health}`)).status === 200 ? true : undefined), 60_000);
      const children = () => readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
        try {
          return readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ')[1] === String(master.child.pid);
        } catch {
          return false;
        }
      });
      await waitFor('every worker', async () => (children().length === m.python.gunicornWorkers ? true : undefined), 30_000);
      expect(master.output()).toMatch(/Using worker: uvicorn(_worker|\.workers)\.UvicornWorker/);
      // The access log reaches stdout; health polls stay out of it.
      await post(`http://127.0.0.1:${port}/api/analyze`, { text: 'logged' });
      await waitFor('an access log line', async () => (master.output().includes('"POST /api/analyze HTTP/1.1" 200') ? true : undefined), 10_000);
      expect(master.output()).not.toContain(`"GET ${m.paths.health} HTTP/1.1"`);
      expect(await processes.stop(master.child, 30_000)).toBe(0);
    } catch (error) {
      throw new Error(`${String(error)}\n${processes.logs()}`);
    } finally {
      await processes.stop(master.child);
    }
  });
});

describe.skipIf(!HAS_PYTHON)('fastapi-oracle api with Redis but no workers on Debian 12 Python', () => {
  it('byte-compiles and imports: rate limit and readiness on Redis, no queue', () => {
    const stack = writeStack({ template: 'fastapi-oracle', workers: false, redis: true, pgvector: false });
    try {
      const m = stack.model;
      const dir = join(stack.dir, 'apps/api');
      const gen = join(stack.dir, '..', 'gen');
      succeed(spawnSync(PYTHON, ['-m', 'compileall', '-q', dir], { encoding: 'utf8' }), 'compileall');
      succeed(spawnSync(PYTHON, ['tools/gen_protos.py', gen], { cwd: dir, encoding: 'utf8' }), 'gen_protos.py');
      const env = appEnv(m, gen, { database: 'postgres://u:p@127.0.0.1:1/db', redis: 'redis://:p@127.0.0.1:1/0', oracle: '127.0.0.1:1' });
      const script = 'import sys, app.main; print(type(app.main.app.state.redis).__name__, "rq" in sys.modules)';
      expect(succeed(spawnSync(PYTHON, ['-c', script], { cwd: dir, env, encoding: 'utf8' }), 'import').trim().split('\n').pop()).toBe('Redis False');
    } finally {
      stack.cleanup();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Against real servers: Debian's Postgres 15 (pgvector when its extension is installed) and Redis 7.

const POSTGRES_BIN = postgresBin();
const AS_ROOT = process.getuid?.() === 0;
const CAN_RUN_POSTGRES = POSTGRES_BIN !== undefined && hasTool('psql') && (!AS_ROOT || (hasTool('runuser') && spawnSync('id', ['-u', 'postgres']).status === 0));
const CAN_RUN_REDIS = toolAvailable('redis-server');
if (inCI && HAS_PYTHON && (!CAN_RUN_POSTGRES || !CAN_RUN_REDIS)) throw new Error('postgresql and redis-server are required under CI=true');

describe.skipIf(!HAS_PYTHON || !CAN_RUN_POSTGRES || !CAN_RUN_REDIS)('fastapi-oracle apps against Postgres and Redis: migrations, oracle, worker, direct mode', () => {
  const processes = new Processes();
  let work: string;
  let pgPort: number;
  let redisPort: number;
  let redisPid: number | undefined;
  let postmasterPid: number | undefined;
  let vector = false;
  const stacks: RenderedStack[] = [];

  const asPostgres = (command: string, args: string[]) =>
    spawnSync(AS_ROOT ? 'runuser' : command, AS_ROOT ? ['-u', 'postgres', '--', command, ...args] : args, { encoding: 'utf8', timeout: 120_000 });
  const psql = (sql: string, database = 'postgres') =>
    succeed(spawnSync('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(pgPort), '-U', 'postgres', '-d', database, '-c', sql], { encoding: 'utf8' }), `psql ${sql}`).trim();

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cvs-fastapi-pg-'));
    chmodSync(work, 0o755);
    const data = join(work, 'data');
    mkdirSync(data);
    if (AS_ROOT) {
      const [uid, gid] = ['-u', '-g'].map((flag) => Number(succeed(spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }), 'id').trim()));
      chownSync(work, uid!, gid!);
      chownSync(data, uid!, gid!);
    }
    succeed(asPostgres(join(POSTGRES_BIN!, 'initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '--no-sync']), 'initdb');
    pgPort = await freePort();
    const started = asPostgres(join(POSTGRES_BIN!, 'pg_ctl'), ['-D', data, '-l', join(work, 'postgres.log'), '-w', '-t', '60',
      '-o', `-p ${pgPort} -k ${work} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
    const pidFile = join(data, 'postmaster.pid');
    if (existsSync(pidFile)) postmasterPid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    succeed(started, 'pg_ctl start');
    vector = psql("SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'") === '1';
    // .ci/install-pgvector.sh builds the extension for CI: there the similarity checks must run.
    if (!vector && inCI) throw new Error('the pgvector extension is required under CI=true (.ci/install-pgvector.sh)');

    redisPort = await freePort();
    const pidPath = join(work, 'redis.pid');
    succeed(spawnSync('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--requirepass', 'redispw', '--save', '',
      '--appendonly', 'no', '--daemonize', 'yes', '--pidfile', pidPath, '--dir', work, '--logfile', join(work, 'redis.log')], { encoding: 'utf8' }), 'redis-server');
    redisPid = await waitFor('redis pid file', async () => (existsSync(pidPath) ? Number(readFileSync(pidPath, 'utf8').trim()) : undefined), 10_000);
  });

  afterAll(async () => {
    await processes.stopAll();
    for (const pid of [redisPid, postmasterPid]) {
      if (!pid || !isAlive(pid)) continue;
      process.kill(pid, pid === postmasterPid ? 'SIGINT' : 'SIGTERM');
      for (let i = 0; i < 100 && isAlive(pid); i++) await sleep(100);
      if (isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
    for (const stack of stacks) stack.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const NATIVE: Array<[string, Partial<Answers>]> = [
    ['workers, redis, pgvector', { template: 'fastapi-oracle', workers: true, redis: true, pgvector: true, vpsMemory: 2, vpsCpus: 1 }],
    ['everything off', { template: 'fastapi-oracle', workers: false, redis: false, pgvector: false, vpsMemory: 1, vpsCpus: 1 }],
  ];

  it.each(NATIVE)('%s', async (name, answers) => {
    const overrides = { ...answers, pgvector: answers.pgvector && vector };
    const stack = writeStack(overrides);
    stacks.push(stack);
    const m = stack.model;
    const api = join(stack.dir, 'apps/api');
    const oracleDir = join(stack.dir, 'apps/oracle');
    const gen = join(stack.dir, '..', 'gen');
    succeed(spawnSync(PYTHON, ['tools/gen_protos.py', gen], { cwd: api, encoding: 'utf8' }), 'gen_protos.py');

    // Like the stack: the app's role owns its database; extensions come from postgres/init (superuser).
    const db = `shop_${name.replace(/\W+/g, '_')}`;
    psql(`CREATE ROLE ${db} LOGIN PASSWORD 'apppw'`);
    psql(`CREATE DATABASE ${db} OWNER ${db}`);
    if (m.features.pgvector) psql(readFileSync(join(stack.dir, 'postgres/init/10-vector.sql'), 'utf8'), db);

    const [apiPort, oraclePort, metricsPort] = [await freePort(), await freePort(), await freePort()];
    const env = appEnv(m, gen, {
      database: `postgres://${db}:apppw@127.0.0.1:${pgPort}/${db}`, redis: `redis://:redispw@127.0.0.1:${redisPort}/0`, oracle: `127.0.0.1:${oraclePort}`,
    });
    const base = `http://127.0.0.1:${apiPort}`;
    try {
      // The deploy's one-off migration step, as the model names it.
      const migrate = m.services.api.migrateCommand!.split(' ');
      expect(migrate[0]).toBe('alembic');
      succeed(spawnSync(PYTHON, ['-m', ...migrate], { cwd: api, env, encoding: 'utf8' }), 'alembic upgrade head');
      const head = m.features.pgvector ? '0003_create_items' : m.features.workers ? '0002_note_word_count' : '0001_create_notes';
      expect(psql('SELECT version_num FROM alembic_version', db)).toBe(head);
      // A second run is a no-op.
      succeed(spawnSync(PYTHON, ['-m', ...migrate], { cwd: api, env, encoding: 'utf8' }), 'alembic upgrade head (again)');

      const oracle = processes.start(`oracle (${name})`, ['-m', 'oracle.server'], {
        cwd: oracleDir, env: { PATH: '/usr/bin:/bin', PYTHONPATH: gen, [m.env.port.name]: String(oraclePort), [m.env.metricsPort.name]: String(metricsPort), [m.env.host.name]: '127.0.0.1' },
      });
      processes.start(`api (${name})`, ['-m', 'gunicorn', '--config', 'gunicorn.conf.py', 'app.main:app'], {
        cwd: api, env: { ...env, [m.env.port.name]: String(apiPort), [m.env.host.name]: '127.0.0.1' },
      });
      const worker = m.features.workers ? processes.start(`worker (${name})`, ['-m', 'app.worker'], { cwd: api, env }) : undefined;

      const ready = await waitFor('readiness 200', async () => {
        const r = await request(`${base}${m.paths.ready}`);
        return r.status === 200 && r.body.checks.oracle === 'ok' ? r.body : undefined;
      }, 60_000);
      expect(ready).toEqual({
        status: 'ok', failed: [], mode: 'oracle',
        checks: { postgres: 'ok', ...(m.features.redis ? { redis: 'ok' } : {}), oracle: 'ok' },
      });

      const created = await post(`${base}/api/notes`, { title: 'Hello', body: 'one two three four' });
      expect(created.status).toBe(201);
      const id = created.body.id as number;
      expect((await request(`${base}/api/notes/${id}`)).body).toMatchObject({ id, title: 'Hello' });
      expect((await post(`${base}/api/notes`, { title: '' })).status).toBe(422);

      const viaOracle = await post(`${base}/api/analyze`, { text: 'Hello oracle. Hello!' });
      expect(viaOracle.body).toMatchObject({ mode: 'oracle', result: { words: 3, sentences: 2 } });

      if (m.features.workers) {
        const healthCmd = m.services.worker.healthcheck.slice(2);
        await waitFor('the worker healthcheck', async () => (spawnSync(PYTHON, healthCmd, { cwd: api, env, encoding: 'utf8' }).status === 0 ? true : undefined), 30_000);
        const job = await post(`${base}/api/jobs`, { noteId: id });
        expect(job.status).toBe(202);
        expect(job.body).toMatchObject({ name: m.queue.jobs.countWords, state: 'queued' });
        const done = await waitFor('the job', async () => {
          const r = await request(`${base}/api/jobs/${job.body.id}`);
          return r.body.state === 'finished' ? r.body : undefined;
        }, 60_000);
        expect(done.result).toEqual({ noteId: id, wordCount: 5, mode: 'oracle' });
        expect((await request(`${base}/api/notes/${id}`)).body.word_count).toBe(5);
        expect((await post(`${base}/api/jobs`, { noteId: 999_999 })).status).toBe(404);
        expect((await request(`${base}/api/jobs/not-a-job`)).status).toBe(404);
      }

      if (m.features.pgvector) {
        for (const [label, embedding] of [['near', [1, 2, 3]], ['far', [9, 9, 9]], ['nearer', [1, 2, 3.2]]] as const) {
          expect((await post(`${base}/api/items`, { label, embedding })).status).toBe(201);
        }
        const similar = await post(`${base}/api/similar`, { embedding: [1, 2, 3.25], limit: 2 });
        expect(similar.body.items.map((i: { label: string }) => i.label)).toEqual(['nearer', 'near']);
        expect((await post(`${base}/api/similar`, { embedding: [1, 2] })).status).toBe(400);
      }

      if (m.features.redis) {
        // Writes are limited per client in Redis; the client is nginx's X-Forwarded-For (trusted from loopback).
        const write = (ip: string) => request(`${base}/api/analyze`, { method: 'POST', body: '{"text": "x"}', headers: { 'x-forwarded-for': ip } });
        for (let i = 0; i < 60; i++) expect((await write('198.51.100.7')).status).toBe(200);
        const limited = await write('198.51.100.7');
        expect(limited.status).toBe(429);
        expect(limited.body).toEqual({ error: 'too many requests' });
        expect((await write('198.51.100.8')).status).toBe(200);
      }

      // The oracle stops: readiness says degraded (still 200), answers come from direct mode.
      expect(await processes.stop(oracle.child)).toBe(0);
      const degraded = await waitFor('degraded readiness', async () => {
        const r = await request(`${base}${m.paths.ready}`);
        return r.status === 200 && r.body.checks.oracle === 'degraded' ? r.body : undefined;
      }, 30_000);
      expect(degraded).toMatchObject({ status: 'degraded', failed: [], mode: 'direct' });
      const direct = await post(`${base}/api/analyze`, { text: 'Hello oracle. Hello!' });
      expect(direct.body).toEqual({ ...viaOracle.body, mode: 'direct' });

      if (worker) {
        const job = await post(`${base}/api/jobs`, { noteId: id });
        const done = await waitFor('the job in direct mode', async () => {
          const r = await request(`${base}/api/jobs/${job.body.id}`);
          return r.body.state === 'finished' ? r.body : undefined;
        }, 60_000);
        expect(done.result).toMatchObject({ wordCount: 5, mode: 'direct' });
        expect(await processes.stop(worker.child, 30_000)).toBe(0);
      }
      expect((await fetch(`${base}/api/notes/${id}`, { method: 'DELETE' })).status).toBe(204);
    } catch (error) {
      throw new Error(`${String(error)}\n${processes.logs()}`);
    } finally {
      await processes.stopAll();
    }
  }, 300_000);
});
