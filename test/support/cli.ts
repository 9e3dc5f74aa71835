// Run the built bin as a user would: a child process, no TTY (or a real pseudo-terminal via script(1)).
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../index.js', import.meta.url));

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Environment without colour hints or the caller's package manager, so tests decide them. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const key of ['NO_COLOR', 'FORCE_COLOR', 'npm_config_user_agent', 'TERM']) delete env[key];
  return { ...env, ...extra };
}

export function runCli(args: string[], options: { cwd: string; env?: Record<string, string> }): CliResult {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: options.cwd,
    env: cleanEnv(options.env),
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const created: string[] = [];
/** A fresh temp directory, removed when the test file finishes (see removeTempDirs). */
export const tempDir = (): string => {
  const dir = mkdtempSync(join(tmpdir(), 'cvs-cli-'));
  created.push(dir);
  return dir;
};
export const removeTempDirs = (): void => {
  for (const dir of created.splice(0)) rmSync(dir, { recursive: true, force: true });
};

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * A session in a pseudo-terminal: script(1) gives the CLI a real TTY on stdin and stdout.
 * `waitFor` then `send` drive the prompts like a person at the keyboard.
 */
export function ptySession(args: string[], cwd: string) {
  const command = [process.execPath, BIN, ...args].map(shellQuote).join(' ');
  const child = spawn('script', ['-qfec', command, '/dev/null'], {
    cwd,
    env: cleanEnv({ TERM: 'xterm-256color', COLUMNS: '120', LINES: '40' }),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((done) => child.on('close', (code) => done(code)));
  // Strip ANSI sequences so tests can match the visible text.
  // eslint-disable-next-line no-control-regex
  const visible = () => output.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '');
  let seen = 0;

  return {
    visible,
    /** Waits until text appears after what earlier waits consumed. */
    async waitFor(text: string, timeoutMs = 20_000): Promise<void> {
      const started = Date.now();
      for (;;) {
        const index = visible().indexOf(text, seen);
        if (index !== -1) {
          seen = index + text.length;
          return;
        }
        if (Date.now() - started > timeoutMs) throw new Error(`timed out waiting for ${JSON.stringify(text)}; screen:\n${visible()}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    send(keys: string): void {
      child.stdin.write(keys);
    },
    async exit(timeoutMs = 20_000): Promise<number | null> {
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

export const KEY = { enter: '\r', down: '\x1b[B', up: '\x1b[A', ctrlC: '\x03', escape: '\x1b', backspace: '\x7f' };
