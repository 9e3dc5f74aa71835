// Boots a generated stack natively, as compose would run it, on loopback only. Any template:
// what runs comes from the stack model and the generated files, not from names typed in here.
//
//   render + write the project → scripts/init-env.sh writes .env (fresh random secrets) →
//   `docker-compose -f compose.yaml -f compose.prod.yaml config` interpolates every service's
//   environment, command, healthcheck and depends_on from it → each app built natively (npm ci +
//   npm run build; Python: the gRPC stubs with tools/gen_protos.py, byte-compiled) and laid out
//   as its image's final stage has it (dockerfile.ts: Next.js's .next/standalone gets .next/static
//   and public/ beside it) → in a private mount + network namespace (namespace.ts): Postgres
//   (initdb like the image's entrypoint, postgres/init/*.sql, the compose command line), Redis (the
//   compose command), the migration command (m.services.api.migrateCommand), every service built
//   from apps/ (m.services.list) in compose depends_on order with its compose command or image
//   CMD, its image ENV and its compose environment, nginx (the pinned image unchanged) with what its
//   compose volumes give it: the generated nginx/ folder, the routing files scripts/nginx-live.sh
//   writes, the built SPA (when the stack has one) published into the web volume by the generated
//   publish-release.sh, and a self-signed certificate at the model's paths.
//
// Node apps run on this host's node; Python apps on Debian's python3 and its packages (the image's
// virtualenv on PATH becomes a folder of shims: `python`, and `gunicorn` / `alembic` as
// `python3 -m …`), with the generated stubs on PYTHONPATH where the image has them in site-packages.
// One replica of each service (the model may ask for two: nginx's upstream is the same either way).
//
// Each service is started once its dependencies pass their compose healthcheck (run natively,
// inside the namespace), and runs as an unprivileged user as in its image: postgres and redis as
// those users, the apps as nobody, nginx as the image's uid/gid. `stop()` stops every process by
// PID. Used by test/boot.test.ts and scripts/bench-proxy.mjs (bundled by esbuild).
import { execFileSync, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, chownSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { Answers, TemplateName } from '../../../src/options.js';
import { packageRoot } from '../../../src/render/paths.js';
import type { Service, StackModel } from '../../../src/stack/model.js';
import { nginxAtLeast } from '../../../src/stack/nginx.js';
import { writePlan } from '../../../src/writer.js';
import { renderStack } from '../stack.js';
import { parseDockerfile, stageNamed, stageSourceDir, type DockerStage } from './dockerfile.js';
import { Namespace, type RunAs } from './namespace.js';
import { containerFiles, parseVolume, publishRelease, runNginxLive, withoutResolve } from './nginx-layout.js';
import { stopProcess, type Managed } from './process.js';
import { pgvectorInstalled, postgresBin } from '../postgres.js';

/** The tag the built SPA is published as (deploy.sh uses the commit's SHA; any valid tag will do). */
export const SPA_RELEASE = 'boot';

export const DEFAULT_NGINX_BIN = process.env.NGINX_BIN ?? join(packageRoot(), '.cache/nginx-1.26/sbin/nginx');

/** Debian's interpreter for the Python apps (a pyenv or venv python3 earlier on PATH lacks the apt packages). */
export const PYTHON = process.env.CVS_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
/** What the fastapi-oracle apps import (Debian: python3-fastapi, -uvicorn, gunicorn, -grpcio, … as .ci/run installs them). */
const PYTHON_MODULES = ['fastapi', 'pydantic', 'uvicorn', 'gunicorn', 'grpc', 'google.protobuf', 'sqlalchemy', 'alembic', 'psycopg2', 'redis', 'rq', 'prometheus_client'];

// --- host facts -----------------------------------------------------------------------------

export { pgvectorInstalled, postgresBin } from '../postgres.js';

/** uid/gid of a user in /etc/passwd. */
export function userIds(name: string): RunAs | undefined {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

export function nginxVersion(bin: string): string {
  const result = spawnSync(bin, ['-v'], { encoding: 'utf8' });
  const version = /nginx\/(\d+\.\d+\.\d+)/.exec(`${result.stdout}${result.stderr}`)?.[1];
  if (!version) throw new Error(`cannot read the version of ${bin}`);
  return version;
}

/** What booting needs besides commands on PATH (those are checked with toolAvailable), for these templates. */
export function bootPrerequisites(nginxBin = DEFAULT_NGINX_BIN, templates: TemplateName[] = ['express-worker']): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (mount and network namespaces, servers as their own users)');
  if (!existsSync(nginxBin)) missing.push(`${nginxBin} (.ci/install-nginx.sh)`);
  const bin = postgresBin();
  if (!bin) missing.push('Postgres server binaries (apt postgresql)');
  else if (!pgvectorInstalled(bin)) missing.push('pgvector in Debian\'s Postgres (.ci/install-pgvector.sh)');
  for (const user of ['postgres', 'redis', 'nobody']) if (!userIds(user)) missing.push(`the ${user} user`);
  if (spawnSync('python3', ['-c', 'import yaml'], { stdio: 'ignore' }).status !== 0) missing.push('python3 with PyYAML (apt python3-yaml)');
  if (templates.includes('fastapi-oracle')) {
    const imports = spawnSync(PYTHON, ['-c', `import ${PYTHON_MODULES.join(', ')}`], { encoding: 'utf8' });
    if (imports.status !== 0) missing.push(`${PYTHON} with the apps' packages (${imports.stderr?.trim().split('\n').at(-1) ?? 'not runnable'})`);
    const grpcTools = spawnSync(PYTHON, ['-c', 'import grpc_tools.protoc'], { stdio: 'ignore' }).status === 0;
    const protoc = ['protoc', 'grpc_python_plugin'].every((tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0);
    if (!grpcTools && !protoc) missing.push('protoc + grpc_python_plugin (apt protobuf-compiler protobuf-compiler-grpc) or python3-grpc-tools');
  }
  return missing;
}

// --- small helpers --------------------------------------------------------------------------

export const output = (r: SpawnSyncReturns<string>) => `${r.stdout ?? ''}${r.stderr ?? ''}`;

function succeed(result: SpawnSyncReturns<string>, what: string): string {
  if (result.error) throw new Error(`${what}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${what} exited ${result.status ?? result.signal}:\n${output(result)}`);
  return result.stdout;
}

/** Runs a command without blocking the event loop (parallel npm installs). */
function runAsync(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => { text += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { text += chunk.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.once('error', (error) => { clearTimeout(timer); reject(error); });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} in ${options.cwd} failed (${signal ?? code}):\n${text.slice(-4000)}`));
    });
  });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a value (not undefined), or throws after `timeoutMs` with the last state. */
export async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs: number, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await sleep(intervalMs);
  }
}

/** KEY=VALUE lines of a .env file. */
export function parseDotenv(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (match) values[match[1]] = match[2].replace(/^"(.*)"$/, '$1');
  }
  return values;
}

/** Compose writes a literal `$` as `$$` (also in `config` output); the container sees one. */
const unescape = (value: string) => value.replaceAll('$$', '$');

// --- HTTP through curl, inside the namespace -------------------------------------------------

export interface HttpResponse {
  status: number;
  httpVersion: string;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: string;
  /** curl's exit code (0 unless the connection failed). */
  exit: number;
  json: <T = Record<string, unknown>>() => T;
}

export interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: unknown;
  timeoutSeconds?: number;
  /** Extra curl arguments. */
  curl?: string[];
}

// Not starting with '@': curl reads `-w @file` from a file.
const MARK = '#cvs-curl#';

// --- the stack --------------------------------------------------------------------------------

export interface BootOptions {
  overrides?: Partial<Answers>;
  projectName?: string;
  nginxBin?: string;
  /** Changes the nginx files (path under nginx/ → text) before they are placed: the benchmark lifts the rate limits. */
  editNginx?: (files: Map<string, string>) => void;
  /** Progress lines. */
  log?: (line: string) => void;
}

interface ComposeService {
  environment?: Record<string, string | number | null>;
  /** Short (`src:target:ro`, compose v1) or long syntax (compose v2). */
  volumes?: unknown[];
  command?: string[] | string;
  healthcheck?: { test?: string[] | string };
  depends_on?: Record<string, unknown> | string[];
}

/** The user every app runs as (the images have their own unprivileged users: node, app, oracle). */
const APP_USER = 'nobody';

/** An app service as its image runs it, on this host. */
export interface AppRuntime {
  kind: 'node' | 'python';
  /** The image's WORKDIR: the build context, or the folder the final stage copies there whole (.next/standalone). */
  dir: string;
  /** The final stage's ENV, PATH rewritten for this host (the image's virtualenv → the Python shims). */
  env: Record<string, string>;
  /** The image's command (CMD, exec form). */
  cmd: string[];
}

export class BootedStack {
  readonly work: string;
  readonly dir: string;
  readonly model: StackModel;
  readonly nginxBin: string;
  readonly pgBin: string;
  readonly ns: Namespace;
  readonly timings: Record<string, number> = {};
  /** .env as scripts/init-env.sh wrote it. */
  dotenv: Record<string, string> = {};
  /** The interpolated production compose config (compose.yaml + compose.prod.yaml). */
  services: Record<string, ComposeService> = {};
  readonly processes: Record<string, Managed> = {};
  /** Where backup dumps go (the backups volume). */
  readonly backupDir: string;
  /** Each app service's native runtime, once built. */
  readonly runtimes: Record<string, AppRuntime> = {};
  /** The end of each process's log, kept by stop() before the work directory goes. */
  readonly finalLogs: Record<string, string> = {};
  /** App services in the order they were started (stopped in reverse). */
  private readonly started: string[] = [];
  private stopped = false;

  constructor(private readonly options: BootOptions = {}) {
    this.nginxBin = options.nginxBin ?? DEFAULT_NGINX_BIN;
    const bin = postgresBin();
    if (!bin) throw new Error('no Postgres server binaries (apt postgresql)');
    this.pgBin = bin;
    this.work = mkdtempSync(join(tmpdir(), 'cvs-boot-'));
    // Servers run as their own users: they need to reach their directories under the work dir.
    chmodSync(this.work, 0o755);
    const { model, plan } = renderStack(options.overrides ?? {}, options.projectName ?? 'demo-shop');
    this.model = model;
    this.dir = join(this.work, 'project', model.project.name);
    writePlan(this.dir, plan);
    this.backupDir = join(this.work, 'backups');
    this.ns = new Namespace(this.work);
  }

  private log(line: string): void {
    this.options.log?.(line);
  }

  private async timed<T>(label: string, step: () => T | Promise<T>): Promise<T> {
    const started = Date.now();
    this.log(`boot: ${label}…`);
    try {
      return await step();
    } finally {
      this.timings[label] = Date.now() - started;
    }
  }

  /** Everything, in dependency order. On failure the caller still calls stop(). */
  async start(): Promise<void> {
    await this.timed('init-env + compose config', () => this.configure());
    await this.timed('build apps', () => this.buildApps());
    await this.timed('namespace', () => this.startNamespace());
    await this.timed('postgres', () => this.startPostgres());
    if (this.model.features.redis) await this.timed('redis', () => this.startRedis());
    await this.timed('migrations', () => this.migrate());
    for (const name of this.startOrder()) await this.timed(name, () => this.startApp(name));
    await this.timed('nginx', () => this.startNginx());
  }

  /**
   * The long-running services built from the template's apps/ (m.services.list): api, worker, web,
   * oracle… as the model has them. backup is built from backup/ and nginx runs its image as is:
   * neither is among them, nor a one-off job (the SPA's spa image, which only publishes a release
   * into the web volume: placeNginx does what it does).
   */
  appServices(): Service[] {
    return this.model.services.list.filter((s) => s.buildContext?.startsWith('apps/') && s.role !== 'job');
  }

  /** compose depends_on of a service, as names. */
  private dependsOn(name: string): string[] {
    const deps = this.services[name]?.depends_on ?? [];
    return Array.isArray(deps) ? deps : Object.keys(deps);
  }

  /** App services in compose depends_on order; the model's order among independent ones. */
  startOrder(): string[] {
    const apps = this.appServices().map((s) => s.name);
    const order: string[] = [];
    while (order.length < apps.length) {
      const next = apps.find((name) => !order.includes(name) && this.dependsOn(name).every((d) => !apps.includes(d) || order.includes(d)));
      if (!next) throw new Error(`compose depends_on has a cycle among ${apps.filter((a) => !order.includes(a)).join(', ')}`);
      order.push(next);
    }
    return order;
  }

  // --- configuration ------------------------------------------------------------------------

  private configure(): void {
    succeed(spawnSync('bash', ['scripts/init-env.sh'], { cwd: this.dir, encoding: 'utf8', env: { PATH: process.env.PATH, LANG: 'C.UTF-8' } }), 'scripts/init-env.sh');
    this.dotenv = parseDotenv(readFileSync(join(this.dir, '.env'), 'utf8'));
    const m = this.model;
    // Only what docker-compose needs: no variable of this process leaks into the interpolation.
    const config = succeed(spawnSync('docker-compose', ['-f', m.compose.base, '-f', m.compose.prod, 'config'], {
      cwd: this.dir, encoding: 'utf8', env: { PATH: process.env.PATH, HOME: process.env.HOME ?? tmpdir(), LANG: 'C.UTF-8' },
    }), 'docker-compose config');
    const json = succeed(spawnSync('python3', ['-c', 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], {
      input: config, encoding: 'utf8',
    }), 'python3 yaml');
    this.services = (JSON.parse(json) as { services: Record<string, ComposeService> }).services;
  }

  /** A service's environment as compose hands it to the container. */
  serviceEnv(name: string): Record<string, string> {
    const environment = this.services[name]?.environment ?? {};
    return Object.fromEntries(Object.entries(environment).map(([key, value]) => [key, unescape(String(value ?? ''))]));
  }

  /** Where the image of a build context has its Python packages (the generated gRPC stubs), natively. */
  private sitePackages(context: string): string {
    return join(this.work, 'native', context.replaceAll('/', '_'), 'site-packages');
  }

  /** The image's virtualenv, natively: `python` and the console scripts the services run, on Debian's python3. */
  private get pythonShims(): string {
    return join(this.work, 'native', 'bin');
  }

  /**
   * Every folder under apps/ built as its Dockerfile's build stage does: npm ci + npm run build
   * (Node apps and the SPA the spa image builds), or for Python the gRPC stubs from
   * tools/gen_protos.py into the image's site-packages and a byte-compile. Then each app
   * service's runtime is laid out from its image's final stage.
   */
  private async buildApps(): Promise<void> {
    const apps = readdirSync(join(this.dir, 'apps'));
    const env = { ...process.env, CI: 'true', NEXT_TELEMETRY_DISABLED: '1', NPM_CONFIG_UPDATE_NOTIFIER: 'false', NPM_CONFIG_FUND: 'false', NPM_CONFIG_AUDIT: 'false' };
    await Promise.all(apps.map(async (app) => {
      const cwd = join(this.dir, 'apps', app);
      if (existsSync(join(cwd, 'package.json'))) {
        await runAsync('npm', ['ci', '--no-audit', '--no-fund', '--prefer-offline'], { cwd, env, timeoutMs: 400_000 });
        await runAsync('npm', ['run', 'build'], { cwd, env, timeoutMs: 300_000 });
      } else if (existsSync(join(cwd, 'requirements.txt'))) {
        const pyEnv = { PATH: process.env.PATH, LANG: 'C.UTF-8' };
        if (existsSync(join(cwd, 'tools/gen_protos.py'))) {
          await runAsync(PYTHON, ['tools/gen_protos.py', this.sitePackages(`apps/${app}`)], { cwd, env: pyEnv, timeoutMs: 120_000 });
        }
        await runAsync(PYTHON, ['-m', 'compileall', '-q', '.'], { cwd, env: pyEnv, timeoutMs: 120_000 });
      } else {
        throw new Error(`apps/${app}: neither package.json nor requirements.txt: cannot build it natively`);
      }
    }));
    for (const service of this.appServices()) this.runtimes[service.name] = this.layOut(service);
  }

  /**
   * An app service's runtime from its image's final stage: the WORKDIR is the build context when
   * every COPY lands at the path it has there; when one COPY fills the WORKDIR from elsewhere
   * (`COPY --from=build /app/.next/standalone ./`), that folder, with the other COPYs copied into it.
   * A virtualenv the final stage copies and puts on PATH is Debian's python3 here.
   */
  private layOut(service: Service): AppRuntime {
    const m = this.model;
    const context = join(this.dir, service.buildContext!);
    const stages = parseDockerfile(readFileSync(join(context, service.dockerfile ?? 'Dockerfile'), 'utf8'));
    const final = stages.at(-1)!;
    const kind = final.image === m.images.python ? 'python' : final.image === m.images.node ? 'node' : undefined;
    if (!kind) throw new Error(`${service.name}: no native runtime for the base image ${final.image}`);
    const imagePath = (final.env.PATH ?? '$PATH').split(':');
    const venvs = imagePath.filter((p) => p.endsWith('/bin') && final.copies.some((c) => c.from !== undefined && c.sources.includes(posix.dirname(p))))
      .map((p) => posix.dirname(p));
    if (venvs.length > 0 && kind !== 'python') throw new Error(`${service.name}: a copied ${venvs.join(', ')} on PATH in a ${kind} image`);

    const placed: Array<{ host: string; rel: string }> = [];
    for (const copy of final.copies) {
      const stage: DockerStage | undefined = copy.from === undefined ? undefined : stageNamed(stages, copy.from);
      for (const source of copy.sources) {
        if (stage && venvs.includes(source)) continue;
        let host: string;
        if (stage) {
          const rel = posix.relative(stage.workdir, source);
          if (rel.startsWith('..')) throw new Error(`${service.name}: COPY --from=${copy.from} ${source} is outside that stage's WORKDIR ${stage.workdir}`);
          host = join(context, stageSourceDir(stage), rel);
        } else {
          host = join(context, source);
        }
        if (!existsSync(host)) throw new Error(`${service.name}: the image copies ${source}, but ${host} was not built`);
        const dest = posix.resolve(final.workdir, copy.dest);
        const target = statSync(host).isDirectory() || !copy.dest.endsWith('/') ? dest : posix.join(dest, posix.basename(source));
        const rel = posix.relative(final.workdir, target);
        if (rel.startsWith('..')) throw new Error(`${service.name}: COPY to ${target}, outside the WORKDIR ${final.workdir}`);
        placed.push({ host, rel });
      }
    }
    const dir = placed.find((p) => p.rel === '')?.host ?? context;
    for (const { host, rel } of placed) {
      const at = join(dir, rel);
      if (rel !== '' && at !== host) cpSync(host, at, { recursive: true });
    }

    const runtime: AppRuntime = { kind, dir, env: {}, cmd: final.cmd ?? [] };
    for (const [key, value] of Object.entries(final.env)) if (key !== 'PATH') runtime.env[key] = value;
    runtime.env.PATH = imagePath.flatMap((entry) => {
      if (entry === '$PATH' || entry === '${PATH}') return [process.env.PATH ?? '/usr/bin:/bin'];
      if (venvs.includes(posix.dirname(entry))) return [this.pythonShims];
      return [entry];
    }).join(':');
    if (kind === 'python') {
      // The stubs tools/gen_protos.py wrote into the virtualenv's site-packages in the build stage.
      const site = this.sitePackages(service.buildContext!);
      if (existsSync(site)) runtime.env.PYTHONPATH = site;
      if (venvs.length > 0) this.writePythonShims(service, runtime);
    }
    return runtime;
  }

  /** `python`/`python3` run Debian's interpreter; any other program a Python service runs from its virtualenv, as `python3 -m <program>`. */
  private writePythonShims(service: Service, runtime: AppRuntime): void {
    const compose = this.services[service.name];
    const programs = new Set(['python', 'python3']);
    const command = Array.isArray(compose?.command) ? compose.command : runtime.cmd;
    if (command[0]) programs.add(command[0]);
    const test = compose?.healthcheck?.test;
    if (Array.isArray(test) && test[0] === 'CMD') programs.add(test[1]);
    if (service.migrateCommand) programs.add(service.migrateCommand.split(' ')[0]);
    mkdirSync(this.pythonShims, { recursive: true });
    for (const program of programs) {
      const shim = join(this.pythonShims, program);
      if (existsSync(shim)) continue;
      const module = program === 'python' || program === 'python3' ? undefined : program;
      if (module && spawnSync(PYTHON, ['-c', `import importlib.util, sys; sys.exit(importlib.util.find_spec('${module}') is None)`]).status !== 0) {
        throw new Error(`${service.name} runs ${program}, which ${PYTHON} has no module for`);
      }
      writeFileSync(shim, `#!/bin/sh\nexec ${PYTHON}${module ? ` -m ${module}` : ''} "$@"\n`, { mode: 0o755 });
    }
  }

  // --- namespace and files ------------------------------------------------------------------

  private hostsFile(): string {
    const m = this.model;
    const names = [...new Set([...m.services.list.map((s) => s.name), ...m.tls.names])];
    return `127.0.0.1 localhost ${names.join(' ')}\n::1 localhost ip6-localhost ip6-loopback\n`;
  }

  /**
   * What the nginx container reads, placed where the compose nginx service (`docker-compose config`
   * above) mounts it; the image itself is the pinned one, unchanged (./nginx-layout.ts):
   * - the nginx/ folder (with `editNginx` applied) at its mount target, m.nginx.confDir: nginx.conf,
   *   conf.d/, snippets/, the error pages in html/ and the folder's own mime.types (the image's
   *   /etc/nginx is hidden by the mount);
   * - the live folder (m.ops.liveDir) as the generated `scripts/nginx-live.sh init` writes it, and for
   *   an SPA `web <tag>` after the release is published; for an nginx older than 1.27.3 each upstream
   *   file without its `resolve` parameter (the one thing such a binary lacks);
   * - for an SPA, the web volume with the built apps/web (buildApps) published as release <tag> by
   *   running the generated apps/web/publish-release.sh itself (its image paths mapped to host
   *   folders, as the spa image's entry point runs it: publishRelease), so nginx serves
   *   m.nginx.web.releases/<tag> and m.nginx.web.assets exactly as after a deploy.
   */
  private placeNginx(): void {
    const m = this.model;
    const volumes = this.services[m.services.nginx.name]?.volumes;
    if (!Array.isArray(volumes) || volumes.length === 0) throw new Error('compose gives nginx no volumes');
    const mounts = volumes.map((v) => parseVolume(v, this.dir));

    const nginxFiles = new Map<string, string>();
    for (const path of listFiles(join(this.dir, 'nginx'))) nginxFiles.set(path, readFileSync(join(this.dir, 'nginx', path), 'utf8'));
    this.options.editNginx?.(nginxFiles);

    let web: string | undefined;
    const live = [['init']];
    if (m.features.spa) {
      web = join(this.work, 'volumes', m.volumes.web);
      this.log(`boot: ${publishRelease(this.dir, m, { volume: web, tag: SPA_RELEASE }).trim()}`);
      live.push(['web', SPA_RELEASE]);
    }
    let liveFiles = runNginxLive(this.dir, m, ...live);
    if (!nginxAtLeast(nginxVersion(this.nginxBin), '1.27.3')) liveFiles = withoutResolve(liveFiles);

    const files = containerFiles(this.dir, m, mounts, { nginx: nginxFiles, live: liveFiles, web });
    if (!files.has(posix.join(m.nginx.confDir, 'nginx.conf'))) throw new Error(`compose mounts no nginx.conf at ${m.nginx.confDir}`);
    if (m.features.spa && !files.has(posix.join(m.nginx.web.releases, SPA_RELEASE, 'index.html'))) throw new Error('the published SPA release is not in the web volume');
    for (const [path, content] of files) this.ns.place(path, content);

    // A self-signed stand-in for the Let's Encrypt certificate: the stack's names, ECDSA P-256 and
    // 90 days like certbot's default, where certbot puts it; the key readable by nginx's group
    // only, as scripts/certbot-init.sh leaves it.
    const certs = join(this.work, 'cert');
    mkdirSync(certs);
    execFileSync('openssl', [
      'req', '-x509', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-days', '90',
      '-subj', `/CN=${m.domain.apex}`, '-addext', `subjectAltName=${m.tls.names.map((n) => `DNS:${n}`).join(',')}`,
      '-keyout', join(certs, 'key.pem'), '-out', join(certs, 'cert.pem'),
    ], { stdio: 'pipe' });
    this.ns.place(m.paths.certificate, readFileSync(join(certs, 'cert.pem')));
    this.ns.place(m.paths.certificateKey, readFileSync(join(certs, 'key.pem')), 0o640, { uid: 0, gid: m.nginx.gid });
  }

  private async startNamespace(): Promise<void> {
    this.placeNginx();
    await this.ns.start(this.hostsFile());
  }

  // --- running things inside ----------------------------------------------------------------

  /** Runs a command inside the namespace (as root unless `as`). */
  exec(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string; as?: RunAs; timeoutMs?: number } = {}): SpawnSyncReturns<string> {
    return this.ns.run(command, args, { ...options, env: { PATH: this.path(), LANG: 'C.UTF-8', HOME: this.work, ...options.env } });
  }

  /** PATH with this Postgres's client tools first (as in the backup image, pg_dump matches the server). */
  path(): string {
    return `${this.pgBin}:${process.env.PATH}`;
  }

  /** An HTTP request with curl inside the namespace (site names resolve to nginx; -k for the self-signed certificate). */
  request(url: string, options: RequestOptions = {}): HttpResponse {
    const args = ['-sS', '-k', '--max-time', String(options.timeoutSeconds ?? 10), '-o', '-', '-w', `${MARK}%{json}${MARK}%{header_json}`];
    if (options.method) args.push('-X', options.method);
    for (const [name, value] of Object.entries(options.headers ?? {})) args.push('-H', `${name}: ${value}`);
    let input: string | undefined;
    if (options.body !== undefined) {
      input = typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
      if (typeof options.body !== 'string') args.push('-H', 'Content-Type: application/json');
      args.push('--data-binary', '@-');
    }
    args.push(...(options.curl ?? []), url);
    const result = this.exec('curl', args, { input, timeoutMs: ((options.timeoutSeconds ?? 10) + 5) * 1000 });
    const text = result.stdout ?? '';
    const first = text.lastIndexOf(MARK, text.lastIndexOf(MARK) - 1);
    if (first < 0) throw new Error(`curl ${url}: no output (exit ${result.status}): ${result.stderr}`);
    const body = text.slice(0, first);
    const [info, headerJson] = text.slice(first + MARK.length).split(MARK);
    const meta = JSON.parse(info) as { http_code: number; http_version: string };
    const raw = JSON.parse(headerJson || '{}') as Record<string, string[]>;
    const headers = Object.fromEntries(Object.entries(raw).map(([k, v]) => [k.toLowerCase(), v.join(', ')]));
    return {
      status: meta.http_code, httpVersion: meta.http_version, headers, body, exit: result.status ?? -1,
      json: <T>() => JSON.parse(body) as T,
    };
  }

  /** Runs a service's compose healthcheck natively inside the namespace (its environment, user and working directory). */
  healthy(name: string): boolean {
    const test = this.services[name]?.healthcheck?.test;
    if (!Array.isArray(test) || test.length === 0) throw new Error(`${name} has no compose healthcheck`);
    const [kind, ...rest] = test.map(unescape);
    const [command, args] = kind === 'CMD-SHELL' ? ['sh', ['-c', rest.join(' ')]] as const : kind === 'CMD' ? [rest[0], rest.slice(1)] as const : [undefined, []] as const;
    if (!command) throw new Error(`${name}: healthcheck ${kind} cannot run`);
    const runs = this.runsAs(name);
    const env = this.runtimes[name] ? this.appEnv(name) : this.serviceEnv(name);
    const result = this.exec(command, [...args], { env, cwd: runs.cwd, as: runs.as, timeoutMs: 10_000 });
    return result.status === 0;
  }

  async waitHealthy(name: string, timeoutMs = 60_000): Promise<void> {
    await waitFor(`${name} healthy`, () => {
      const proc = this.processes[name];
      if (proc && !proc.alive()) throw new Error(`${name} exited:\n${proc.log().slice(-3000)}`);
      return this.healthy(name) ? true : undefined;
    }, timeoutMs, 200).catch((error: Error) => {
      throw new Error(`${error.message}\n--- ${name} log ---\n${this.processes[name]?.log().slice(-3000) ?? ''}`);
    });
  }

  /** User and working directory a service runs with (its image's USER and WORKDIR). */
  private runsAs(name: string): { as?: RunAs; cwd?: string } {
    const m = this.model;
    if (name === m.services.postgres.name) return { as: userIds('postgres'), cwd: join(this.work, 'postgres') };
    if (m.features.redis && name === m.services.redis.name) return { as: userIds('redis'), cwd: join(this.work, 'redis') };
    if (name === m.services.nginx.name) return { as: { uid: m.nginx.uid, gid: m.nginx.gid }, cwd: '/' };
    if (this.runtimes[name]) return { as: userIds(APP_USER), cwd: this.runtimes[name].dir };
    return {};
  }

  /** One directory per service under the work dir, owned by the service's user. */
  private serviceDir(name: string): string {
    const dir = join(this.work, name);
    mkdirSync(dir, { recursive: true });
    const as = this.runsAs(name).as;
    if (as) chownSync(dir, as.uid, as.gid);
    chmodSync(dir, 0o700);
    return dir;
  }

  // --- Postgres -----------------------------------------------------------------------------

  private get pgSocketDir(): string {
    return join(this.work, 'postgres', 'run');
  }

  private async startPostgres(): Promise<void> {
    const m = this.model;
    const name = m.services.postgres.name;
    const env = this.serviceEnv(name);
    const user = env.POSTGRES_USER;
    const database = env.POSTGRES_DB;
    const password = env.POSTGRES_PASSWORD;
    if (!user || !database || !password) throw new Error('compose gives postgres no POSTGRES_USER / POSTGRES_DB / POSTGRES_PASSWORD');
    const home = this.serviceDir(name);
    const as = this.runsAs(name).as!;
    const data = join(home, 'data');
    for (const dir of [data, this.pgSocketDir]) {
      mkdirSync(dir, { mode: 0o700 });
      chownSync(dir, as.uid, as.gid);
    }
    // What the image's entrypoint does on an empty volume: initdb with POSTGRES_USER as the
    // superuser and POSTGRES_PASSWORD, password (scram) auth over TCP, then POSTGRES_DB and the
    // init scripts.
    const pwfile = join(home, 'pwfile');
    writeFileSync(pwfile, `${password}\n`, { mode: 0o600 });
    chownSync(pwfile, as.uid, as.gid);
    succeed(this.exec(join(this.pgBin, 'initdb'), ['-D', data, '-U', user, `--pwfile=${pwfile}`, '--auth-local=trust',
      '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync'], { as, cwd: home }), 'initdb');
    rmSync(pwfile);

    // The compose command line (pgtune flags, shared_preload_libraries) on loopback, with the
    // socket in our own directory (Debian's default /var/run/postgresql is the host's).
    const command = this.services[name]?.command;
    if (!Array.isArray(command) || command[0] !== 'postgres') throw new Error(`unexpected postgres command: ${JSON.stringify(command)}`);
    const flags = command.slice(1).map(unescape);
    this.processes[name] = this.ns.spawn(name, join(this.pgBin, 'postgres'), [
      '-D', data, ...flags, '-c', 'listen_addresses=127.0.0.1', '-c', `port=${m.services.postgres.port}`,
      '-c', `unix_socket_directories=${this.pgSocketDir}`,
    ], { as, cwd: home, env: { PATH: this.path(), LANG: 'C.UTF-8' }, logFile: join(this.work, 'postgres.log') });
    await this.waitHealthy(name, 60_000);

    const psql = (db: string, args: string[]) => succeed(this.exec(join(this.pgBin, 'psql'), [
      '-X', '-v', 'ON_ERROR_STOP=1', '-h', this.pgSocketDir, '-p', String(m.services.postgres.port), '-U', user, '-d', db, ...args,
    ], { as, cwd: home }), `psql ${args.join(' ')}`);
    if (database !== 'postgres') psql('postgres', ['-c', `CREATE DATABASE "${database}"`]);
    const initDir = join(this.dir, 'postgres/init');
    for (const file of existsSync(initDir) ? readdirSync(initDir).sort() : []) {
      if (!file.endsWith('.sql')) throw new Error(`postgres/init/${file}: only .sql is run here`);
      psql(database, ['-f', join(initDir, file)]);
    }
  }

  /** psql as the database owner over TCP (like the apps), -At output. */
  psql(sql: string, database?: string): string {
    const env = this.serviceEnv(this.model.services.postgres.name);
    const result = this.exec(join(this.pgBin, 'psql'), ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-c', sql], {
      env: {
        PGHOST: this.model.services.postgres.name, PGPORT: String(this.model.services.postgres.port),
        PGUSER: env.POSTGRES_USER, PGPASSWORD: env.POSTGRES_PASSWORD, PGDATABASE: database ?? env.POSTGRES_DB,
      },
    });
    return succeed(result, `psql -c ${sql}`).trim();
  }

  // --- Redis --------------------------------------------------------------------------------

  /** Starts Redis with its compose command (password on stdin), data in its own directory (kept across restarts). */
  async startRedis(): Promise<void> {
    const name = this.model.services.redis.name;
    const command = this.services[name]?.command;
    if (!Array.isArray(command) || command[0] !== 'sh' || command[1] !== '-c') throw new Error(`unexpected redis command: ${JSON.stringify(command)}`);
    const runs = this.runsAs(name);
    const dir = existsSync(runs.cwd!) ? runs.cwd! : this.serviceDir(name);
    this.processes[name] = this.ns.spawn(name, 'sh', ['-c', unescape(command[2])], {
      as: runs.as, cwd: dir, env: { PATH: process.env.PATH, ...this.serviceEnv(name) }, logFile: join(this.work, 'redis.log'),
    });
    await this.waitHealthy(name, 30_000);
  }

  /** Stops a service by PID (Postgres: fast shutdown) and waits for it to exit. */
  async stopService(name: string): Promise<string> {
    const proc = this.processes[name];
    if (!proc) return 'not started';
    return stopProcess(proc, name === this.model.services.postgres.name ? 'SIGINT' : 'SIGTERM', 20_000);
  }

  // --- apps -----------------------------------------------------------------------------------

  private runtime(name: string): AppRuntime {
    const runtime = this.runtimes[name];
    if (!runtime) throw new Error(`${name} is not an app service of this stack, or was not built`);
    return runtime;
  }

  /** What a service runs: its compose `command` (the worker: the api image, another entry point), else its image's CMD. */
  command(name: string): string[] {
    const command = this.services[name]?.command;
    if (typeof command === 'string') return ['/bin/sh', '-c', unescape(command)];
    if (Array.isArray(command) && command.length > 0) return command.map(unescape);
    const cmd = this.runtime(name).cmd;
    if (cmd.length === 0) throw new Error(`${name}: no compose command and no CMD in its Dockerfile`);
    return cmd;
  }

  /** An app's environment as the container has it: its image's ENV, then its compose environment. */
  appEnv(name: string): NodeJS.ProcessEnv {
    const home = join(this.work, 'home');
    if (!existsSync(home)) {
      mkdirSync(home);
      const as = userIds(APP_USER)!;
      chownSync(home, as.uid, as.gid);
    }
    return { HOME: home, LANG: 'C.UTF-8', ...this.runtime(name).env, ...this.serviceEnv(name) };
  }

  /** The migration command (m.services.api.migrateCommand) in the api's directory, with its environment. */
  private migrate(): void {
    const api = this.model.services.api;
    const command = api.migrateCommand;
    if (!command) throw new Error('the api has no migrate command');
    const runs = this.runsAs(api.name);
    const [program, ...args] = command.split(' ');
    succeed(this.exec(program, args, { cwd: runs.cwd, as: runs.as, env: this.appEnv(api.name), timeoutMs: 120_000 }), command);
  }

  /** Starts an app service (again, after stopService) and waits for its compose healthcheck. */
  async startApp(name: string): Promise<void> {
    const [program, ...args] = this.command(name);
    const runs = this.runsAs(name);
    this.processes[name] = this.ns.spawn(name, program, args, {
      as: runs.as, cwd: runs.cwd, env: this.appEnv(name), logFile: join(this.work, `${name}.log`),
    });
    if (!this.started.includes(name)) this.started.push(name);
    await this.waitHealthy(name, 60_000);
  }

  // --- nginx ----------------------------------------------------------------------------------

  private async startNginx(): Promise<void> {
    const m = this.model;
    const name = m.services.nginx.name;
    const runs = this.runsAs(name);
    // nginx reopens /dev/stdout for the access log: its log file must be writable by its user.
    const logFile = join(this.work, 'nginx.log');
    writeFileSync(logFile, '');
    chownSync(logFile, runs.as!.uid, runs.as!.gid);
    // As the image runs it: in the foreground, as the unprivileged nginx user.
    this.processes[name] = this.ns.spawn(name, this.nginxBin, [
      '-p', `${m.nginx.confDir}/`, '-c', `${m.nginx.confDir}/nginx.conf`, '-e', 'stderr', '-g', 'daemon off;',
    ], { as: runs.as, cwd: '/', env: { PATH: process.env.PATH }, logFile });
    await this.waitHealthy(name, 30_000);
  }

  // --- scripts --------------------------------------------------------------------------------

  /**
   * Environment for scripts/backup.sh, restore.sh and verify-backup.sh: the backup service's
   * (PGHOST … PGDATABASE from compose) and the dumps directory.
   */
  backupEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
    mkdirSync(this.backupDir, { recursive: true });
    return { ...this.serviceEnv('backup'), BACKUP_DIR: this.backupDir, ...extra };
  }

  /** Runs scripts/<name>.sh of the project inside the namespace. */
  script(name: string, args: string[] = [], extra: NodeJS.ProcessEnv = {}, input?: string): SpawnSyncReturns<string> {
    return this.exec('bash', [join(this.dir, 'scripts', `${name}.sh`), ...args], { cwd: this.dir, env: this.backupEnv(extra), input, timeoutMs: 180_000 });
  }

  /** Logs of every process, for failure messages. */
  logs(): string {
    return Object.values(this.processes).map((p) => `--- ${p.name} (pid ${p.pid}, ${p.alive() ? 'running' : 'exited'}) ---\n${p.log().slice(-2500)}`).join('\n');
  }

  // --- shutdown -------------------------------------------------------------------------------

  /** Stops every process by PID (nginx, the apps in reverse start order, Redis, Postgres, then the namespace) and removes the work directory. */
  async stop(keepWork = false): Promise<Record<string, string>> {
    if (this.stopped) return {};
    this.stopped = true;
    const m = this.model;
    const order = [m.services.nginx.name, ...[...this.started].reverse(),
      ...(m.features.redis ? [m.services.redis.name] : []), m.services.postgres.name];
    const ended: Record<string, string> = {};
    for (const name of order) {
      if (this.processes[name]) ended[name] = await this.stopService(name);
    }
    for (const proc of Object.values(this.processes)) if (proc.alive()) ended[proc.name] = await stopProcess(proc);
    await this.ns.stop();
    for (const [name, proc] of Object.entries(this.processes)) this.finalLogs[name] = proc.log().slice(-20_000);
    if (!keepWork) rmSync(this.work, { recursive: true, force: true });
    return ended;
  }
}

function listFiles(dir: string, prefix = ''): string[] {
  if (!existsSync(join(dir, prefix))) return [];
  if (!statSync(join(dir, prefix)).isDirectory()) return [];
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    return entry.isDirectory() ? listFiles(dir, path) : [path];
  });
}
