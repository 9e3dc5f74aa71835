// A real Docker engine for the tests: .ci/install-docker.sh caches the binaries, .ci/docker-engine.sh
// runs dockerd + the local registry (docker.io mirror) with all state in one folder and records their
// PIDs, .ci/images/build.sh builds the stand-in base images under the pinned tags. Locally a missing
// engine skips; under CI=true it fails (as toolAvailable does).
import { spawnSync, type SpawnSyncOptions, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { hasTool, inCI } from './stack.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const ENGINE_SCRIPT = join(REPO, '.ci/docker-engine.sh');
const IMAGES_SCRIPT = join(REPO, '.ci/images/build.sh');
const DOCKER_CACHE = process.env.DOCKER_CACHE ?? '/var/cache/create-vps-stack/docker';
const DOCKER_STATE = process.env.DOCKER_STATE ?? '/var/cache/create-vps-stack/docker-state';

export const DOCKER_HOST = `unix://${join(DOCKER_STATE, 'docker.sock')}`;

/** Environment for docker/compose commands: the test engine's socket. */
export function dockerEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, DOCKER_HOST, ...extra };
}

/** Why the engine cannot run here, or undefined when it can. */
function missingPiece(): string | undefined {
  if (process.getuid?.() !== 0) return 'root (dockerd)';
  if (!existsSync(join(DOCKER_CACHE, 'bin/dockerd'))) return `${DOCKER_CACHE}/bin/dockerd (.ci/install-docker.sh)`;
  if (!hasTool('docker')) return 'the docker CLI';
  for (const plugin of ['compose', 'buildx']) {
    if (spawnSync('docker', [plugin, 'version'], { stdio: 'ignore' }).status !== 0) return `docker ${plugin}`;
  }
  return undefined;
}

/**
 * Use as `describe.skipIf(!dockerAvailable())`. Locally a missing engine skips; under CI it throws at
 * collection time, so the run fails instead of skipping.
 */
export function dockerAvailable(): boolean {
  const missing = missingPiece();
  if (missing && inCI) throw new Error(`a Docker engine is required under CI=true but ${missing} is missing (.ci/run must run .ci/install-docker.sh)`);
  return missing === undefined;
}

export function run(command: string, args: string[], options: SpawnSyncOptions = {}): SpawnSyncReturns<string> {
  return spawnSync(command, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, env: dockerEnv(), ...options }) as SpawnSyncReturns<string>;
}

/** Output of a command that must succeed; throws with its output (the tail) otherwise. */
export function succeed(result: SpawnSyncReturns<string>, what: string): string {
  if (result.status !== 0) {
    const out = `${result.stdout ?? ''}${result.stderr ?? ''}`;
    throw new Error(`${what} failed (${result.error?.message ?? `exit ${result.status}`}):\n${out.slice(-6000)}`);
  }
  return result.stdout;
}

export interface Engine {
  /** True when this process started the engine (and `stop` stops it); false when it was already up. */
  startedHere: boolean;
  /** The processes .ci/docker-engine.sh recorded: name and PID. */
  pids: Array<{ name: string; pid: number }>;
  /** Stops exactly the recorded PIDs when this process started them; resolves the PIDs still alive (none). */
  stop: () => number[];
}

function recordedPids(): Array<{ name: string; pid: number }> {
  const file = join(DOCKER_STATE, 'pids');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((parts) => parts.length === 2 && /^\d+$/.test(parts[1]!))
    .map(([name, pid]) => ({ name: name!, pid: Number(pid) }));
}

/** True while PID runs (a zombie, waiting to be reaped, has no exe link and counts as gone). */
export function pidAlive(pid: number): boolean {
  try {
    readlinkSync(`/proc/${pid}/exe`);
    return true;
  } catch {
    return false;
  }
}

let stopAtExit: (() => void) | undefined;
process.on('exit', () => stopAtExit?.());

/** Starts the engine unless it already answers (then it is reused and left running). */
export function startEngine(): Engine {
  const up = run('bash', [ENGINE_SCRIPT, 'status']).status === 0;
  if (!up) succeed(run('bash', [ENGINE_SCRIPT, 'start']), '.ci/docker-engine.sh start');
  const pids = recordedPids();
  const stop = (): number[] => {
    stopAtExit = undefined;
    if (!up) succeed(run('bash', [ENGINE_SCRIPT, 'stop']), '.ci/docker-engine.sh stop');
    return up ? [] : pids.filter((p) => pidAlive(p.pid)).map((p) => p.pid);
  };
  if (!up) stopAtExit = () => void run('bash', [ENGINE_SCRIPT, 'stop']);
  return { startedHere: !up, pids, stop };
}

/** Builds (or, cached, just checks) the stand-in base images under the tags of src/versions.ts. */
export function buildStandins(): string {
  return succeed(run('bash', [IMAGES_SCRIPT], { timeout: 900_000 }), '.ci/images/build.sh');
}
