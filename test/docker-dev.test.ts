// Issue 11, step 7, on the real engine: the development overlay as a developer runs it. The
// generated repository is a checkout owned by a normal user (uid/gid 1000), and that user runs
// `npm run dev` (the README's command; the user reaches the engine's socket through its group, as
// the docker group would give). Then: the apps answer on their loopback ports, an edit to the API's
// source is served without a restart (hot reload), `npm run down` stops everything, and nothing in
// the checkout belongs to anyone but that user (before the fix, nest-next's dev api and web failed
// with EACCES writing into the mount, and Docker left root-owned node_modules mount points).
//
// The dev containers run `npm ci` against the npm registry (what a developer's machine does).
// Every process started here is stopped by its PID; containers, networks and volumes are removed.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readdirSync, readFileSync, lstatSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Answers } from '../src/options.js';
import { buildStandins, dockerAvailable, dockerEnv, pidAlive, run, startEngine, succeed, type Engine } from './support/docker.js';
import { projectLeftovers, waitFor } from './support/deploy.js';
import { toolAvailable, writeStack, type RenderedStack } from './support/stack.js';

const HAS_TOOLS = [dockerAvailable(), toolAvailable('setpriv'), toolAvailable('curl')].every(Boolean);
const USER = { uid: 1000, gid: 1000 };
const LONG = 1_200_000;

/** Every path under `dir` (not following symlinks) whose owner is not `uid`:`gid`. */
function foreignOwned(dir: string, uid: number, gid: number, prefix = ''): string[] {
  return readdirSync(join(dir, prefix)).flatMap((name) => {
    const path = prefix ? `${prefix}/${name}` : name;
    const stat = lstatSync(join(dir, path));
    const own = stat.uid === uid && stat.gid === gid ? [] : [`${path} (${stat.uid}:${stat.gid})`];
    return stat.isDirectory() && !stat.isSymbolicLink() ? [...own, ...foreignOwned(dir, uid, gid, path)] : own;
  });
}

function chownTree(path: string, uid: number, gid: number): void {
  chownSync(path, uid, gid);
  if (!lstatSync(path).isDirectory()) return;
  for (const name of readdirSync(path)) chownTree(join(path, name), uid, gid);
}

/** GET http://127.0.0.1:<port><path>: status and body ('' and 0 when nothing answers). */
function get(port: number, path: string): { status: number; body: string } {
  const r = run('curl', ['-s', '--max-time', '5', '-o', '-', '-w', '\n%{http_code}', `http://127.0.0.1:${port}${path}`]);
  const out = r.stdout ?? '';
  const i = out.lastIndexOf('\n');
  return { status: Number(out.slice(i + 1)) || 0, body: out.slice(0, i) };
}

interface DevFacts {
  /** The API's liveness handler and an edit that changes its answer. */
  health: { file: string; from: string; to: string; marker: string };
  /** The web dev server's port and a marker on its home page. */
  web: { port: (s: RenderedStack) => number; marker: RegExp };
}
const FACTS: Record<'express-worker' | 'nest-next', DevFacts> = {
  'express-worker': {
    health: { file: 'apps/api/src/health.ts', from: "json({ status: 'ok' })", to: "json({ status: 'ok', edited: true })", marker: '"edited":true' },
    web: { port: (s) => s.model.devServer.port, marker: /<div id="root">/ },
  },
  'nest-next': {
    health: { file: 'apps/api/src/health/health.controller.ts', from: "return { status: 'ok' };", to: "return { status: 'ok', edited: true } as { status: 'ok' };", marker: '"edited":true' },
    web: { port: (s) => s.model.services.web!.port!, marker: /It works/ },
  },
};

describe.skipIf(!HAS_TOOLS)('npm run dev from a checkout owned by uid 1000 (real engine)', () => {
  let engine: Engine | undefined;
  beforeAll(() => {
    engine = startEngine();
    buildStandins();
  }, LONG);
  afterAll(() => {
    expect(engine?.stop() ?? [], 'engine processes still running after stop').toEqual([]);
  });

  const sets: Array<[string, Partial<Answers> & { template: keyof typeof FACTS }]> = [
    ['express-worker, workers and redis', { template: 'express-worker', workers: true, redis: true, pgvector: false, cloudflare: false, ci: 'none' }],
    ['nest-next, workers and redis', { template: 'nest-next', workers: true, redis: true, pgvector: false, cloudflare: false, ci: 'none' }],
  ];

  describe.each(sets)('%s', (label, answers) => {
    const facts = FACTS[answers.template];
    const project = `ddev-${answers.template === 'nest-next' ? 'nn' : 'ew'}`;
    let stack: RenderedStack;
    let home: string;
    let dev: ChildProcess | undefined;
    let devLog = '';
    // The user's environment: its own HOME, the engine's socket (group 0 owns it here), the project name.
    const asUser = (command: string, args: string[]): [string, string[]] => [
      'setpriv', ['--reuid', String(USER.uid), '--regid', String(USER.gid), '--groups', '0', '--', 'env', `HOME=${home}`, command, ...args],
    ];
    const userEnv = () => dockerEnv({ COMPOSE_PROJECT_NAME: project, COMPOSE_FILE: undefined, npm_config_update_notifier: 'false' });

    beforeAll(() => {
      stack = writeStack(answers, project);
      home = mkdtempSync(join(tmpdir(), 'cvs-dev-home-'));
      chownTree(stack.dir, USER.uid, USER.gid);
      // The temporary folder holding the checkout is root's (mode 0700): the user must reach its checkout.
      chmodSync(dirname(stack.dir), 0o755);
      chownSync(home, USER.uid, USER.gid);
    }, LONG);

    afterAll(() => {
      if (dev?.pid && pidAlive(dev.pid)) process.kill(-dev.pid, 'SIGKILL');
      const down = run('docker', ['compose', '-f', 'compose.yaml', '-f', 'compose.dev.yaml', '--profile', '*', 'down', '-v', '--remove-orphans', '--timeout', '5'], { cwd: stack.dir, env: userEnv(), timeout: 300_000 });
      const left = projectLeftovers(project);
      stack?.cleanup();
      rmSync(home, { recursive: true, force: true });
      expect(down.status, `${down.stdout}${down.stderr}`).toBe(0);
      expect(left).toEqual({ containers: [], networks: [], volumes: [] });
    }, 600_000);

    it('`npm run dev` as that user: the API and the web dev server answer on their loopback ports', async () => {
      const [command, args] = asUser('npm', ['run', 'dev']);
      const started = Date.now();
      // Its own process group: the whole tree (npm, sh, docker compose) is stopped by that PID.
      dev = spawn(command, args, { cwd: stack.dir, env: userEnv(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      dev.stdout!.on('data', (d: Buffer) => (devLog = (devLog + d.toString()).slice(-20_000)));
      dev.stderr!.on('data', (d: Buffer) => (devLog = (devLog + d.toString()).slice(-20_000)));
      const api = stack.model.services.api.port!;
      await waitFor('the dev api', 900_000, () => {
        if (dev!.exitCode !== null) throw new Error(`npm run dev exited ${dev!.exitCode}:\n${devLog}`);
        return get(api, stack.model.paths.health).status === 200 || undefined;
      }, 2_000).catch((error: Error) => { throw new Error(`${error.message}\n${devLog}`); });
      const webPort = facts.web.port(stack);
      await waitFor('the web dev server', 300_000, () => (facts.web.marker.test(get(webPort, '/').body) || undefined), 2_000)
        .catch((error: Error) => { throw new Error(`${error.message}\n${get(webPort, '/').body.slice(0, 500)}\n${devLog}`); });
      console.log(`${label}: npm run dev serving api and web in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      expect(get(api, stack.model.paths.ready).status).toBe(200);
    }, LONG);

    it('an edit to the API source is served without a restart (hot reload)', async () => {
      const api = stack.model.services.api.port!;
      const file = join(stack.dir, facts.health.file);
      const text = readFileSync(file, 'utf8');
      expect(text).toContain(facts.health.from);
      const [command, args] = asUser('sh', ['-c', 'cat > "$1"', 'sh', file]);
      // Written as the user (an editor would), through a child so the file keeps its owner.
      const write = spawn(command, args, { stdio: ['pipe', 'ignore', 'pipe'] });
      write.stdin!.end(text.replace(facts.health.from, facts.health.to));
      await new Promise((resolve) => write.once('close', resolve));
      expect(readFileSync(file, 'utf8')).toContain(facts.health.to);
      const started = Date.now();
      await waitFor('the edited health answer', 180_000, () => (get(api, stack.model.paths.health).body.includes(facts.health.marker) || undefined), 1_000)
        .catch((error: Error) => { throw new Error(`${error.message}\n${devLog}`); });
      console.log(`${label}: hot reload served the edit after ${((Date.now() - started) / 1000).toFixed(1)} s`);
      expect(dev!.exitCode, 'npm run dev is still running').toBeNull();
    }, 300_000);

    it('`npm run down` stops it, and nothing in the checkout belongs to anyone but the user', async () => {
      const [command, args] = asUser('npm', ['run', 'down']);
      succeed(run(command, args, { cwd: stack.dir, env: userEnv(), timeout: 300_000 }), 'npm run down');
      await waitFor('npm run dev to exit', 60_000, () => (dev!.exitCode !== null || undefined), 500).catch(() => {
        if (dev?.pid && pidAlive(dev.pid)) process.kill(-dev.pid, 'SIGTERM');
      });
      // Build output and dependencies were written (by the containers, as the user) …
      for (const app of stack.model.dev.nodeApps) {
        expect(lstatSync(join(stack.dir, app.context, 'node_modules')).uid, `${app.context}/node_modules mount point`).toBe(USER.uid);
      }
      // … and the whole checkout still belongs to the user.
      expect(foreignOwned(stack.dir, USER.uid, USER.gid)).toEqual([]);
      writeFileSync(join(home, 'done'), '');
    }, 400_000);
  });
});
