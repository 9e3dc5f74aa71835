// Long-running processes of a booted stack: started with their output in a log file, tracked by
// PID, stopped by PID (a signal, then SIGKILL after a grace period). A process-exit hook SIGKILLs
// whatever is still tracked, so nothing outlives a run that dies without its cleanup.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';

export interface Managed {
  name: string;
  pid: number;
  /** File holding the process's stdout and stderr. */
  logFile: string;
  /** Resolves once the process has exited: "code N" or "signal S". */
  exited: Promise<string>;
  alive: () => boolean;
  log: () => string;
}

const running = new Map<number, { managed: Managed; child: ChildProcess }>();

function killAllNow(): void {
  for (const pid of running.keys()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
process.on('exit', killAllNow);

export interface StartOptions {
  env: NodeJS.ProcessEnv;
  logFile: string;
  cwd?: string;
}

/** Starts `command args` in the background; stdout and stderr append to `logFile` (a file, not a socket: nginx reopens /dev/stdout). */
export function startProcess(name: string, command: string, args: string[], options: StartOptions): Managed {
  const fd = openSync(options.logFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(command, args, { env: options.env, cwd: options.cwd, stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const pid = child.pid;
  let done = false;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      running.delete(pid);
      resolve(signal ? `signal ${signal}` : `code ${code}`);
    });
    child.once('error', (error) => {
      done = true;
      running.delete(pid);
      resolve(`error ${error.message}`);
    });
  });
  const managed: Managed = {
    name,
    pid,
    logFile: options.logFile,
    exited,
    alive: () => !done,
    log: () => (existsSync(options.logFile) ? readFileSync(options.logFile, 'utf8') : ''),
  };
  running.set(pid, { managed, child });
  return managed;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends `signal` to the process by PID, waits up to `graceMs`, then SIGKILLs it. Resolves with how it ended. */
export async function stopProcess(managed: Managed, signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<string> {
  if (!managed.alive()) return managed.exited;
  try {
    process.kill(managed.pid, signal);
  } catch {
    return managed.exited;
  }
  const ended = await Promise.race([managed.exited, sleep(graceMs).then(() => undefined)]);
  if (ended !== undefined) return ended;
  try {
    process.kill(managed.pid, 'SIGKILL');
  } catch {
    // exited just now
  }
  const killed = await Promise.race([managed.exited, sleep(5_000).then(() => 'still running after SIGKILL')]);
  return `killed after ${graceMs} ms (${killed})`;
}

/** PIDs still tracked (for assertions that cleanup left nothing behind). */
export function runningPids(): number[] {
  return [...running.keys()];
}
