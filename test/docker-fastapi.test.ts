// Issue 11, the fastapi-oracle part, on the real engine: its Python images need PyPI, which this
// machine cannot reach, so api, worker and oracle run as stand-in images (test/support/python-standin.ts)
// built from the generated Dockerfiles with Debian's python3-* packages; everything else is the
// real thing: the `spa` and `backup` images built from the generated Dockerfiles by
// `docker compose build spa backup`, and nginx, postgres (pgvector) and redis from the pinned tags
// (the base stand-ins of .ci/images, see test/docker.test.ts). As an operator would: a git checkout
// of the generated repository, scripts/init-env.sh, a certificate in the letsencrypt volume, then the
// generated scripts/deploy.sh <sha> --no-build with the generated compose files unchanged.
//
// Proven here: every service healthy (deploy.sh, then `up --wait` and compose ps); migrations run
// by deploy.sh in the api image (alembic_version at the head revision); nginx routes by Host/SNI on
// loopback ports to /api/health, /api/health/ready (postgres, redis and the oracle as the api
// reports them), the SPA's home page, its hashed bundle and /config.json; POST /api/analyze goes to
// the oracle over gRPC (the oracle's own metrics count it) and falls back to direct mode while the
// oracle is stopped; with workers, a count-words job through the worker (rq on redis, through the
// oracle); with pgvector, the nearest-neighbour query; the oracle is on the internal network only
// (nginx resolves and reaches neither its name nor its address); no unexpected error in the
// Python services' logs. `docker buildx build --check` of the real apps/api and apps/oracle
// Dockerfiles (every option on and off) is in test/docker.test.ts, not repeated here.
//
// Ports: test/docker-deploy.test.ts publishes 80 and 443 on the same engine, so this test adds a
// compose file outside the checkout (COMPOSE_FILE=compose.yaml:compose.prod.yaml:<it>) that
// replaces nginx's ports with two free ports on 127.0.0.1 (`ports: !override`); compose project
// names dfa-on / dfa-off (COMPOSE_PROJECT_NAME in the generated .env). The certificate is a
// placeholder signed by a throwaway CA of the test (all three names), written where certbot would
// put it, with the ownership scripts/certbot-lib.sh gives it; test/docker-deploy.test.ts covers
// certbot and a real ACME server.
//
// What the stand-in images differ in from the real ones (the runtime stage is otherwise the
// generated file's, line for line: user app/oracle uid 10001, WORKDIR /app, the copied source and
// gRPC stubs, ENV, EXPOSE, HEALTHCHECK, CMD):
//   - base: the python stand-in (Debian sid's python3.14, see .ci/images/python/README.md) plus
//     Debian's python3-* packages in /usr/lib/python3/dist-packages; the virtualenvs /opt/venv and
//     /opt/tools are made with --system-site-packages and hold only the generated gRPC stubs and
//     the console scripts (gunicorn, alembic, rq, uvicorn ...) pip would have written;
//   - versions: Debian's instead of PyPI's pins (the first test prints both). Same major as the pin
//     for fastapi (0.162, pin 0.141), pydantic, uvicorn (0.53, pin 0.52), gunicorn, sqlalchemy,
//     alembic, psycopg and rq; older than the pin (OLDER_THAN_PIN below):
//     grpcio 1.51 (pin 1.84), grpcio-tools 1.14 (1.84), protobuf 3.21 (Python package 4.21; pin
//     7.35), redis-py 6.4 (8.1) and prometheus-client 0.21 (0.26);
//   - uvicorn-worker is not packaged: gunicorn.conf.py's own fallback, uvicorn.workers.UvicornWorker,
//     runs instead (the same worker class, deprecated in uvicorn);
//   - psycopg's C implementation is Debian's python3-psycopg-c on Debian's libpq5 (psycopg[binary]
//     bundles its own libpq); python3-uvicorn pulls in uvloop, which uvicorn then prefers to asyncio;
//   - the gRPC stubs come from Debian's grpc_tools (Debian's protoc 3.21, matching its protobuf).
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Answers } from '../src/options.js';
import { buildStandins, dockerAvailable, dockerEnv, run, startEngine, succeed, type Engine } from './support/docker.js';
import { sleep } from './support/boot/stack.js';
import { freePort, projectLeftovers, waitFor, type Probe } from './support/deploy.js';
import { buildStandin, debianVersions, distributionVersions, PYPI_TO_DEBIAN, type StandinBuild } from './support/python-standin.js';
import { toolAvailable, writeStack, type RenderedStack } from './support/stack.js';

// Evaluated in order: each throws under CI=true when its tool is missing.
const HAS_TOOLS = [dockerAvailable(), toolAvailable('openssl'), toolAvailable('curl'), toolAvailable('git')].every(Boolean);
const LONG = 900_000;

/** Requirements whose Debian package is older than the pin (a major, or 0.x minor, behind): see the header. */
const OLDER_THAN_PIN = new Set(['grpcio', 'grpcio-tools', 'protobuf', 'redis', 'prometheus-client']);
/** Requirements Debian does not package (PYPI_TO_DEBIAN says what takes their place). */
const UNPACKAGED = new Set(Object.entries(PYPI_TO_DEBIAN).filter(([, d]) => d.packages.length === 0).map(([name]) => name));


const ALL_ON: Partial<Answers> = { template: 'fastapi-oracle', workers: true, redis: true, pgvector: true, cloudflare: false, backupRemote: 's3', ci: 'github' };
const ALL_OFF: Partial<Answers> = { template: 'fastapi-oracle', workers: false, redis: false, pgvector: false, cloudflare: false, backupRemote: 'none', ci: 'none' };

const seconds = (since: number) => ((Date.now() - since) / 1000).toFixed(1);

interface Ports { http: number; https: number }

/**
 * One request from the host to nginx's loopback port, with the exact Host and SNI of `url`
 * (curl --connect-to maps the URL's standard port to ours), verifying against `ca`.
 */
function request(url: string, ports: Ports, options: { ca?: string; method?: string; json?: unknown } = {}): Probe {
  const u = new URL(url);
  const https = u.protocol === 'https:';
  const args = ['-sS', '--max-time', '10', '-D', '-', '--connect-to', `${u.hostname}:${https ? 443 : 80}:127.0.0.1:${https ? ports.https : ports.http}`, '-X', options.method ?? 'GET'];
  if (options.ca) args.push('--cacert', options.ca);
  if (options.json !== undefined) args.push('-H', 'content-type: application/json', '--data-binary', JSON.stringify(options.json));
  const result = spawnSync('curl', [...args, url], { encoding: 'utf8', timeout: 20_000 });
  const out = result.stdout ?? '';
  const split = out.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = (split >= 0 ? out.slice(0, split) : out).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { status: Number(statusLine.split(' ')[1] ?? 0), headers, body: split >= 0 ? out.slice(split + 4) : '', exit: result.status ?? -1, stderr: result.stderr ?? '' };
}

/** A throwaway CA and a certificate for `names` it signs (what nginx serves instead of Let's Encrypt's). */
function placeholderCertificate(dir: string, names: string[]): { ca: string; fullchain: string; key: string } {
  mkdirSync(dir, { recursive: true });
  const openssl = (args: string[]) => succeed(run('openssl', args, { cwd: dir }), `openssl ${args[0]}`);
  openssl(['req', '-x509', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-days', '2', '-subj', '/CN=create-vps-stack test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-keyout', 'ca.key', '-out', 'ca.pem']);
  openssl(['req', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-subj', `/CN=${names[0]}`, '-keyout', 'privkey.pem', '-out', 'leaf.csr']);
  writeFileSync(join(dir, 'leaf.ext'), `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=${names.map((n) => `DNS:${n}`).join(',')}\n`);
  openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '2', '-extfile', 'leaf.ext', '-out', 'leaf.pem']);
  return {
    ca: join(dir, 'ca.pem'),
    fullchain: readFileSync(join(dir, 'leaf.pem'), 'utf8') + readFileSync(join(dir, 'ca.pem'), 'utf8'),
    key: readFileSync(join(dir, 'privkey.pem'), 'utf8'),
  };
}

/** The head of an alembic versions/ folder: the revision no other one names as its down_revision. */
function alembicHead(versions: string): string {
  const revisions = readdirSync(versions).filter((f) => f.endsWith('.py')).map((f) => {
    const text = readFileSync(join(versions, f), 'utf8');
    return { id: /^revision\s*=\s*"([^"]+)"/m.exec(text)?.[1], down: /^down_revision\s*=\s*"([^"]+)"/m.exec(text)?.[1] };
  });
  const heads = revisions.filter((r) => !revisions.some((o) => o.down === r.id)).map((r) => r.id);
  expect(heads, 'one alembic head').toHaveLength(1);
  return heads[0]!;
}

/** -1, 0 or 1 as version a is older than, equal to or newer than b (numeric dot-separated parts). */
function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((p) => Number.parseInt(p, 10) || 0);
  const pb = b.split('.').map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}
const major = (version: string) => version.split('.')[0]!;

describe.skipIf(!HAS_TOOLS)('fastapi-oracle deployed by its own scripts (real engine, stand-in Python images)', () => {
  let engine: Engine | undefined;

  beforeAll(() => {
    engine = startEngine();
    buildStandins();
  }, LONG);

  afterAll(() => {
    const alive = engine?.stop() ?? [];
    expect(alive, 'engine processes still running after stop').toEqual([]);
  });

  const stacks: Array<[string, string, Partial<Answers>]> = [
    ['workers, redis, pgvector on', 'dfa-on', ALL_ON],
    ['workers, redis, pgvector off', 'dfa-off', ALL_OFF],
  ];

  describe.each(stacks)('%s', (label, project, answers) => {
    let stack: RenderedStack;
    let dir: string;
    let sha: string;
    let ports: Ports;
    let ca: string;
    let composeFile: string;
    let standins: StandinBuild[] = [];
    const env = (extra: NodeJS.ProcessEnv = {}) => dockerEnv({ COMPOSE_FILE: composeFile, COMPOSE_PROJECT_NAME: undefined, IMAGE_TAG: undefined, ...extra });
    const sh = (command: string, args: string[], extra: NodeJS.ProcessEnv = {}, timeout = LONG) => run(command, args, { cwd: dir, timeout, env: env(extra) });
    const compose = (args: string[], timeout = 180_000) => sh('docker', ['compose', ...args], {}, timeout);
    const exec = (service: string, args: string[]) => compose(['exec', '-T', service, ...args]);
    const psql = (sql: string) => succeed(exec('postgres', ['sh', '-c', 'psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -At -c "$1"', 'sh', sql]), `psql ${sql}`).trim();
    const pyGet = (service: string, url: string) => exec(service, ['python', '-c', 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())', url]);
    const url = (name: 'apex' | 'api', path: string) => `https://${stack.model.domain[name]}${path}`;
    const get = (name: 'apex' | 'api', path: string) => request(url(name, path), ports, { ca });
    const post = (path: string, json: unknown) => request(url('api', path), ports, { ca, method: 'POST', json });

    beforeAll(async () => {
      stack = writeStack(answers, project);
      dir = stack.dir;
      const outside = dirname(dir);
      // The server's checkout: a git repository (deploy.sh deploys a commit of it).
      const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=ops', '-c', 'user.email=ops@example.org', ...args], { cwd: dir, encoding: 'utf8' }).trim();
      git('init', '-q', '-b', 'main');
      git('add', '-A');
      git('commit', '-q', '-m', 'generated stack');
      sha = git('rev-parse', 'HEAD');

      // nginx on two free loopback ports instead of 80/443: a compose file outside the checkout.
      ports = { http: await freePort(), https: await freePort() };
      const override = join(outside, 'test-ports.yaml');
      writeFileSync(override, [
        '# test/docker-fastapi.test.ts: nginx on free loopback ports (another test publishes 80 and 443).',
        'services:',
        '  nginx:',
        '    ports: !override',
        `      - "127.0.0.1:${ports.http}:80"`,
        `      - "127.0.0.1:${ports.https}:443"`,
        '',
      ].join('\n'));
      composeFile = ['compose.yaml', 'compose.prod.yaml', override].join(':');

      // RUNBOOK: init-env.sh, then paste what it leaves empty (provider tokens).
      succeed(sh('bash', ['scripts/init-env.sh']), 'scripts/init-env.sh');
      const dotenv = readFileSync(join(dir, '.env'), 'utf8');
      expect(dotenv).toContain(`COMPOSE_PROJECT_NAME=${project}`);
      writeFileSync(join(dir, '.env'), dotenv.replace(/^([A-Z][A-Z0-9_]*)=$/gm, '$1=test-placeholder-value'));

      // The certificate where certbot puts it, shared with nginx (gid 101) as certbot-lib.sh does.
      const cert = placeholderCertificate(join(outside, 'tls'), stack.model.tls.names);
      ca = cert.ca;
      const live = dirname(stack.model.paths.certificate);
      const script = [
        'set -e',
        'mkdir -p "$1"',
        'printf "%s" "$2" >"$1/fullchain.pem"',
        '(umask 077 && printf "%s" "$3" >"$1/privkey.pem")',
        'chgrp 101 "$(dirname "$1")" "$1" "$1/privkey.pem"',
        'chmod 0750 "$(dirname "$1")" "$1"',
        'chmod 0640 "$1/privkey.pem"',
      ].join('\n');
      succeed(compose(['run', '--rm', '--no-deps', '-T', '--entrypoint', 'sh', 'certbot', '-c', script, 'sh', live, cert.fullchain, cert.key]), 'placing the certificate');
    }, LONG);

    afterAll(async () => {
      if (!dir) return;
      const down = () => compose(['--profile', 'tools', 'down', '-v', '--remove-orphans', '--timeout', '5'], 300_000);
      let result = down();
      // A command that could not start at all (not one that failed) is tried again: the clean-up must happen.
      for (let i = 0; i < 3 && result.error; i++) {
        await sleep(5_000);
        result = down();
      }
      let left: Record<string, string[]> | undefined;
      try {
        const images = () => (run('docker', ['images', '-q', '--filter', `reference=${project}-*`]).stdout ?? '').split('\n').filter(Boolean);
        const found = images();
        if (found.length) run('docker', ['rmi', '-f', ...new Set(found)]);
        left = { ...projectLeftovers(project), images: images() };
      } finally {
        stack?.cleanup();
      }
      expect(result.status, `${result.error?.message ?? ''}${result.stdout}${result.stderr}`).toBe(0);
      expect(left, 'containers, networks, volumes and images of the project afterwards').toEqual({ containers: [], networks: [], volumes: [], images: [] });
    }, 600_000);

    it('stand-in images of api, worker and oracle: the generated runtime stages on Debian\'s packages, tagged as compose.prod.yaml names them', () => {
      const config = JSON.parse(succeed(sh('docker', ['compose', 'config', '--format', 'json'], { IMAGE_TAG: sha }), 'compose config')) as {
        services: Record<string, { image?: string; build?: { context: string }; pull_policy?: string }>;
      };
      const python = Object.entries(config.services).filter(([, s]) => s.build && /\/apps\/(api|oracle)$/.test(s.build.context));
      expect(python.map(([name]) => name).sort()).toEqual(stack.model.features.workers ? ['api', 'oracle', 'worker'] : ['api', 'oracle']);
      const byContext = new Map<string, string[]>();
      for (const [name, s] of python) {
        expect(s.image, name).toBe(`${project}-${name}:${sha}`);
        // compose config writes if_not_present as its canonical name, missing.
        expect(['if_not_present', 'missing'], name).toContain(s.pull_policy);
        byContext.set(s.build!.context, [...(byContext.get(s.build!.context) ?? []), s.image!]);
      }
      standins = [];
      for (const [context, tags] of byContext) {
        const built = buildStandin(context, tags);
        standins.push(built);
        console.log(`${label}: ${context.split('/').slice(-2).join('/')} stand-in (${tags.join(', ')}) in ${built.seconds.toFixed(1)} s; ` +
          `its Debian layers (${built.deps.runtime}, ${built.deps.build}) ${built.deps.source} in ${built.deps.seconds.toFixed(1)} s`);
      }

      for (const built of standins) {
        const rel = built.context.split('/').slice(-2).join('/');
        // The runtime stage is the generated one, line for line (its FROM excepted).
        expect(built.plan.dockerfile, rel).toContain(built.plan.runtimeStage);
        const real = readFileSync(join(built.context, 'Dockerfile'), 'utf8');
        const line = (keyword: string) => [...real.matchAll(new RegExp(`^${keyword}\\s+(.*)$`, 'gm'))].map((m) => m[1]!).pop()!;
        const inspect = JSON.parse(succeed(run('docker', ['image', 'inspect', built.tags[0]!]), 'inspect')) as Array<{
          Config: { User: string; WorkingDir: string; Cmd: string[]; Healthcheck: { Test: string[] }; ExposedPorts: Record<string, unknown>; Env: string[]; Labels: Record<string, string> };
        }>;
        const cfg = inspect[0]!.Config;
        expect(cfg.User, rel).toBe(line('USER'));
        expect(cfg.WorkingDir, rel).toBe('/app');
        expect(cfg.Cmd, rel).toEqual(JSON.parse(line('CMD')));
        expect(cfg.Healthcheck.Test, rel).toEqual(['CMD', ...(JSON.parse(line('HEALTHCHECK').replace(/^.*?CMD\s+/, '')) as string[])]);
        expect(Object.keys(cfg.ExposedPorts).sort(), rel).toEqual(line('EXPOSE').split(/\s+/).map((p) => `${p}/tcp`).sort());
        expect(cfg.Env.find((e) => e.startsWith('PATH=')), rel).toMatch(/^PATH=\/opt\/venv\/bin:/);
        expect(cfg.Labels['org.create-vps-stack.standin'], rel).toBe('python-service');
        expect(succeed(run('docker', ['run', '--rm', '--entrypoint', 'id', built.tags[0]!]), 'id').trim(), rel).toBe(`uid=10001(${cfg.User}) gid=10001(${cfg.User}) groups=10001(${cfg.User})`);
        // The stubs tools/gen_protos.py generated, importable from the runtime virtualenv; no grpc_tools there.
        const imports = run('docker', ['run', '--rm', '--entrypoint', 'python', built.tags[0]!, '-c',
          'import importlib.util as u, oracle_rpc.oracle_pb2_grpc, oracle_rpc.health_pb2_grpc; print(oracle_rpc.__file__, u.find_spec("grpc_tools") is None)']);
        expect(imports.stdout.trim(), `${rel}: ${imports.stderr}`).toMatch(/^\/opt\/venv\/lib\/python3\.\d+\/site-packages\/oracle_rpc\/__init__\.py True$/);

        // Debian's versions beside the pins: same major unless listed in OLDER_THAN_PIN.
        const requirements = built.plan.runtimeRequirements;
        const versions = distributionVersions(built.tags[0]!, requirements.map((r) => r.name));
        const debs = debianVersions(built.tags[0]!, built.plan.runtimePackages);
        console.log(`${label}: ${rel} requirements, PyPI pin -> Debian:\n${requirements.map((r) => `  ${r.name}${r.extras.length ? `[${r.extras}]` : ''} ${r.pin} -> ${versions[r.name] ?? '(not packaged)'}`).join('\n')}\n` +
          `  packages: ${Object.entries(debs).map(([p, v]) => `${p} ${v}`).join(', ')}`);
        for (const r of requirements) {
          if (UNPACKAGED.has(r.name)) {
            expect(versions[r.name], `${r.name} is not packaged`).toBeNull();
            continue;
          }
          expect(versions[r.name], `${rel}: ${r.name}`).toBeTruthy();
          const found = versions[r.name]!;
          if (OLDER_THAN_PIN.has(r.name)) expect(compareVersions(found, r.pin!), `${r.name} ${found}: listed as older than the pin ${r.pin}`).toBe(-1);
          else expect(major(found), `${rel}: ${r.name} ${found} against the pin ${r.pin}`).toBe(major(r.pin!));
        }
      }
    }, LONG);

    it('docker compose build spa backup: the real images, from the generated Dockerfiles', () => {
      const started = Date.now();
      succeed(sh('docker', ['compose', 'build', 'spa', 'backup'], { IMAGE_TAG: sha, BUILDKIT_PROGRESS: 'plain' }), 'docker compose build spa backup');
      console.log(`${label}: docker compose build spa backup in ${seconds(started)} s`);
      for (const service of ['spa', 'backup']) {
        // Labels of its base (a stand-in of .ci/images) are inherited; never the Python stand-in's.
        const labels = JSON.parse(succeed(run('docker', ['image', 'inspect', '--format', '{{json .Config.Labels}}', `${project}-${service}:${sha}`]), service)) as Record<string, string>;
        expect(labels['com.docker.compose.service'], service).toBe(service);
        expect(labels['org.create-vps-stack.standin'], service).not.toBe('python-service');
      }
    }, LONG);

    it('scripts/deploy.sh <sha> --no-build: first deploy; every service healthy; nginx only on the loopback ports', () => {
      expect(standins.length, 'the stand-in images were built').toBeGreaterThan(0);
      const started = Date.now();
      const result = sh('bash', ['scripts/deploy.sh', '--no-build', sha]);
      succeed(result, `${label}: scripts/deploy.sh --no-build ${sha}`);
      console.log(`${label}: first deploy (datastores + migrations + api/oracle + SPA + nginx + ${stack.model.features.workers ? 'worker/' : ''}backup) in ${seconds(started)} s`);
      expect(result.stdout).toContain('migrations: alembic upgrade head');
      expect(result.stdout).toContain(`deployed ${sha}`);
      expect(readFileSync(join(dir, '.deploy/current-tag'), 'utf8').trim()).toBe(sha);

      succeed(compose(['up', '-d', '--wait', '--wait-timeout', '180'], 300_000), 'up --wait');
      const ps = compose(['ps', '--format', 'json']).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { Service: string; State: string; Health: string; Image: string; Name: string });
      const expected = stack.model.services.list.filter((s) => s.role !== 'job').map((s) => s.name).sort();
      expect(ps.map((c) => c.Service).sort()).toEqual(expected);
      for (const c of ps) {
        expect(c.State, c.Service).toBe('running');
        expect(c.Health, c.Service).toBe('healthy');
        if (stack.model.services[c.Service]!.buildContext) expect(c.Image, c.Service).toBe(`${project}-${c.Service}:${sha}`);
      }
      // nginx publishes exactly the override's loopback ports (never 80/443 on the host).
      const nginx = ps.find((c) => c.Service === 'nginx')!;
      const bindings = JSON.parse(succeed(run('docker', ['inspect', '--format', '{{json .HostConfig.PortBindings}}', nginx.Name]), 'inspect nginx')) as Record<string, Array<{ HostIp: string; HostPort: string }>>;
      expect(bindings).toEqual({ '80/tcp': [{ HostIp: '127.0.0.1', HostPort: String(ports.http) }], '443/tcp': [{ HostIp: '127.0.0.1', HostPort: String(ports.https) }] });
      for (const c of ps.filter((c) => c.Service !== 'nginx')) {
        expect(run('docker', ['inspect', '--format', '{{json .HostConfig.PortBindings}}', c.Name]).stdout.trim(), `${c.Service} publishes nothing`).toMatch(/^(\{\}|null)$/);
      }
    }, LONG);

    it('migrations: deploy.sh ran `alembic upgrade head` in the api image; alembic_version is at the head revision', () => {
      const head = alembicHead(join(dir, 'apps/api/migrations/versions'));
      expect(psql('SELECT version_num FROM alembic_version')).toBe(head);
      const tables = psql("SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname = 'public'").split(',');
      expect(tables).toContain('notes');
      expect(tables.includes('items'), 'items (pgvector)').toBe(stack.model.features.pgvector);
      if (stack.model.features.workers) expect(psql("SELECT count(*) FROM information_schema.columns WHERE table_name = 'notes' AND column_name = 'word_count'")).toBe('1');
      // The api talks psycopg 3 (C implementation) through SQLAlchemy 2, as with the pins.
      const driver = succeed(exec('api', ['python', '-c', 'import psycopg; from app.db import driver; print(driver(), psycopg.pq.__impl__)']), 'driver');
      expect(driver.trim()).toBe('psycopg c');
    });

    it('nginx by Host/SNI: /api/health, readiness with postgres, redis and the oracle, the SPA and /config.json, HTTP to HTTPS', () => {
      const health = get('api', '/api/health');
      expect(health.exit, health.stderr).toBe(0);
      expect(health.status, health.body).toBe(200);
      expect(JSON.parse(health.body)).toEqual({ status: 'ok' });
      expect(health.headers['strict-transport-security']).toMatch(/max-age=63072000/);

      const ready = get('api', '/api/health/ready');
      expect(ready.status, ready.body).toBe(200);
      const checks = stack.model.features.redis ? { postgres: 'ok', redis: 'ok', oracle: 'ok' } : { postgres: 'ok', oracle: 'ok' };
      expect(JSON.parse(ready.body)).toEqual({ status: 'ok', checks, failed: [], mode: 'oracle' });

      const home = get('apex', '/');
      expect(home.status, home.body).toBe(200);
      expect(home.headers['content-type']).toMatch(/^text\/html/);
      expect(home.body).toContain('<div id="root">');
      const bundle = home.body.match(/src="(\/assets\/[^"]+\.js)"/)?.[1];
      expect(bundle, home.body).toBeDefined();
      const asset = get('apex', bundle!);
      expect(asset.status).toBe(200);
      expect(asset.headers['cache-control']).toMatch(/immutable/);
      // The release nginx serves is the one deploy.sh published.
      expect(readFileSync(join(dir, '.deploy/nginx/web-root.conf'), 'utf8')).toContain(`root /srv/web/releases/${sha};`);

      const config = get('apex', '/config.json');
      expect(config.status).toBe(200);
      expect(config.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(config.body)).toEqual({ apiOrigin: stack.model.origins.api });

      // The API's name serves the API, not the SPA; www goes to the apex; plain HTTP to HTTPS.
      expect(get('api', '/').body).not.toContain('<div id="root">');
      const www = request(`https://${stack.model.domain.www}/x`, ports, { ca });
      expect([301, 308]).toContain(www.status);
      expect(www.headers.location).toBe(`https://${stack.model.domain.apex}/x`);
      const plain = request(`http://${stack.model.domain.api}/api/health`, ports);
      expect([301, 308]).toContain(plain.status);
      expect(plain.headers.location).toBe(`https://${stack.model.domain.api}/api/health`);
    });

    it('POST /api/analyze goes to the oracle over gRPC (its metrics count it); direct mode while the oracle is stopped', async () => {
      const metric = () => {
        const text = succeed(pyGet('oracle', 'http://127.0.0.1:9100/metrics'), 'oracle metrics');
        const line = text.split('\n').find((l) => /^oracle_rpcs_total\{/.test(l) && l.includes('method="Analyze"') && l.includes('code="OK"'));
        return line ? Number(line.split(' ').pop()) : 0;
      };
      const before = metric();
      const analyzed = post('/api/analyze', { text: 'The oracle counts words. The api asks it over gRPC!', top: 2 });
      expect(analyzed.status, analyzed.body).toBe(200);
      const body = JSON.parse(analyzed.body) as { mode: string; result: { words: number; sentences: number; top_terms: Array<{ term: string; count: number }>; sha256: string } };
      expect(body.mode).toBe('oracle');
      expect(body.result.words).toBe(10);
      expect(body.result.sentences).toBe(2);
      expect(body.result.top_terms).toEqual([{ term: 'the', count: 2 }, { term: 'api', count: 1 }]);
      expect(metric()).toBe(before + 1);
      // Invalid input is the oracle's INVALID_ARGUMENT, answered as a 400 or rejected by validation first.
      expect([400, 422]).toContain(post('/api/analyze', { text: 'x'.repeat(100_001) }).status);

      // The oracle stopped: readiness stays 200 and says degraded; the api computes in-process.
      succeed(compose(['stop', '--timeout', '10', 'oracle']), 'stop oracle');
      try {
        const degraded = await waitFor('readiness to report the oracle degraded', 30_000, () => {
          const r = get('api', '/api/health/ready');
          return r.status === 200 && (JSON.parse(r.body) as { status: string }).status === 'degraded' ? r : undefined;
        });
        expect(JSON.parse(degraded.body)).toMatchObject({ status: 'degraded', checks: { postgres: 'ok', oracle: 'degraded' }, failed: [] });
        const direct = post('/api/analyze', { text: 'The oracle counts words. The api asks it over gRPC!', top: 2 });
        expect(direct.status, direct.body).toBe(200);
        expect(JSON.parse(direct.body)).toEqual({ ...body, mode: 'direct' });
      } finally {
        succeed(compose(['up', '-d', '--no-deps', '--wait', '--wait-timeout', '120', 'oracle'], 300_000), 'oracle back');
      }
      // Back to the oracle once its retry window (10 s) has passed.
      await waitFor('the api to use the oracle again', 60_000, () => {
        const r = post('/api/analyze', { text: 'back again', top: 1 });
        return r.status === 200 && (JSON.parse(r.body) as { mode: string }).mode === 'oracle' ? true : undefined;
      }, 2_000);
    }, 300_000);

    it(answers.workers ? 'a count-words job through the worker (rq on redis), which asks the oracle' : 'no worker: POST /api/jobs is not there', async () => {
      const note = post('/api/notes', { title: 'deploy check', body: 'one two three four' });
      expect(note.status, note.body).toBe(201);
      const noteId = (JSON.parse(note.body) as { id: number }).id;
      const job = post('/api/jobs', { noteId });
      if (!stack.model.features.workers) {
        expect(job.status).toBe(404);
        return;
      }
      expect(job.status, job.body).toBe(202);
      const jobId = (JSON.parse(job.body) as { id: string }).id;
      const done = await waitFor('the count-words job', 60_000, () => {
        const state = JSON.parse(get('api', `/api/jobs/${jobId}`).body) as { state: string; error: string | null; result: unknown };
        if (state.state === 'failed') throw new Error(`job failed: ${state.error}`);
        return state.state === 'finished' ? state : undefined;
      });
      expect(done.result).toEqual({ noteId, wordCount: 6, mode: 'oracle' });
      expect((JSON.parse(get('api', `/api/notes/${noteId}`).body) as { word_count: number }).word_count).toBe(6);
    }, 120_000);

    it(answers.pgvector ? 'pgvector: the nearest item through the api' : 'no pgvector: /api/similar is not there', () => {
      if (!stack.model.features.pgvector) {
        expect(post('/api/similar', { embedding: [2, 2, 2] }).status).toBe(404);
        return;
      }
      for (const [name, embedding] of [['near', [1, 1, 1]], ['far', [9, 9, 9]]] as const) {
        const r = post('/api/items', { label: name, embedding });
        expect(r.status, r.body).toBe(201);
      }
      const similar = post('/api/similar', { embedding: [2, 2, 2], limit: 1 });
      expect(similar.status, similar.body).toBe(200);
      expect((JSON.parse(similar.body) as { items: Array<{ label: string }> }).items.map((i) => i.label)).toEqual(['near']);
    });

    it('the oracle is on the internal network only: nginx reaches neither its name nor its address; the api does', () => {
      const container = (service: string) => compose(['ps', '-q', service]).stdout.trim().split('\n')[0]!;
      const networks = (id: string) => Object.keys((JSON.parse(succeed(run('docker', ['inspect', '--format', '{{json .NetworkSettings.Networks}}', id]), 'inspect')) as Record<string, unknown>)).sort();
      const oracle = container('oracle');
      expect(networks(oracle)).toEqual([`${project}_internal`]);
      expect(networks(container('nginx'))).toEqual([`${project}_edge`]);
      expect(succeed(run('docker', ['network', 'inspect', '--format', '{{.Internal}}', `${project}_internal`]), 'network').trim()).toBe('true');
      const address = succeed(run('docker', ['inspect', '--format', `{{(index .NetworkSettings.Networks "${project}_internal").IPAddress}}`, oracle]), 'oracle address').trim();
      expect(address).toMatch(/^\d+\.\d+\.\d+\.\d+$/);

      // The metrics port answers on the internal network (from the api) ...
      expect(succeed(pyGet('api', 'http://oracle:9100/metrics'), 'metrics from the api')).toContain('oracle_rpcs_total');
      // ... and not from nginx: no such name, no route to the address.
      for (const target of ['oracle', address]) {
        const r = exec('nginx', ['wget', '-q', '-T', '3', '-O', '/dev/null', `http://${target}:9100/metrics`]);
        expect(r.status, `nginx -> ${target}:9100: ${r.stdout}${r.stderr}`).not.toBe(0);
      }
      expect(exec('nginx', ['getent', 'hosts', 'oracle']).status, 'nginx resolves "oracle"').not.toBe(0);
    });

    it('the Python services log no errors', () => {
      const services = stack.model.features.workers ? ['api', 'worker', 'oracle'] : ['api', 'oracle'];
      const logs = succeed(compose(['logs', '--no-color', '--no-log-prefix', ...services]), 'logs').split('\n');
      expect(logs.join('\n')).toContain('"msg": "api ready"');
      expect(logs.join('\n')).toContain('"msg": "oracle listening"');
      if (stack.model.features.workers) expect(logs.join('\n')).toContain('"msg": "worker starting"');
      // gunicorn's and rq's [ERROR]/CRITICAL, the apps' JSON error lines, tracebacks, gRPC core's E<date> lines.
      const errors = logs.filter((l) => /\[ERROR\]|\[CRITICAL\]|"level": "error"|Traceback|^E\d{4} /.test(l));
      // Warnings are expected (the oracle was stopped on purpose): listed, once each, with counts.
      const warnings = new Map<string, number>();
      for (const l of logs.filter((l) => /"level": "warn"|\[WARNING\]/.test(l))) {
        const key = l.startsWith('{') ? `${(JSON.parse(l) as { logger: string }).logger}: ${(JSON.parse(l) as { msg: string }).msg}` : l.replace(/^\[[^\]]*\] \[\d+\] /, '');
        warnings.set(key, (warnings.get(key) ?? 0) + 1);
      }
      console.log(`${label}: warnings in the logs of ${services.join(', ')}:\n${[...warnings].map(([w, n]) => `  ${n} x ${w}`).join('\n') || '  none'}`);
      expect(errors).toEqual([]);
    });
  });
});
