// A private mount + network (+ IPC) namespace for a booted stack, held open by one `sleep` process.
//
// - Network: only `lo`, so every server listens on loopback and the model's own ports (5432, 6379,
//   3000, 80, 443) cannot collide with anything on the host. Unprivileged processes may bind
//   ports below 1024 (as compose's `net.ipv4.ip_unprivileged_port_start: 0` allows nginx).
// - Files: everything placed with `place()` appears at its absolute path (/etc/nginx, the
//   certificate under /etc/letsencrypt, the web root): writable overlays on the nearest existing
//   directories, upper layers on a tmpfs, the host's files untouched. /etc/hosts is replaced (the
//   compose service names and the site names resolve to 127.0.0.1), /tmp is a private tmpfs
//   (nginx keeps its pid and temp files there) in which the work directory stays visible.
// - IPC: Postgres's System V shared memory keys cannot meet another cluster's.
//
// Commands run inside with nsenter, which execs them: the PID we hold is the server's own.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { startProcess, stopProcess, type Managed } from './process.js';

export interface RunAs {
  uid: number;
  gid: number;
}

export interface NsOptions {
  /** Working directory inside the namespace. */
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  as?: RunAs;
}

export interface NsRunOptions extends NsOptions {
  input?: string;
  timeoutMs?: number;
}

function filesUnder(dir: string, prefix = ''): string[] {
  if (!existsSync(join(dir, prefix))) return [];
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    return entry.isDirectory() ? filesUnder(dir, path) : [path];
  });
}

/** Nearest existing directory at or above `path` on this host. */
function existingAncestor(path: string): string {
  let dir = path;
  while (!existsSync(dir) || !lstatSync(dir).isDirectory()) dir = posix.dirname(dir);
  return dir;
}

const quote = (value: string) => `'${value.replaceAll("'", "'\\''")}'`;

export class Namespace {
  readonly root: string;
  private holder: Managed | undefined;

  /** `work` must exist, outside /etc, /usr and /var; its namespace files go to `work`/ns. */
  constructor(private readonly work: string) {
    this.root = join(work, 'ns', 'root');
    mkdirSync(this.root, { recursive: true });
    mkdirSync(join(work, 'ns', 'ovl'), { recursive: true });
  }

  /** A file at an absolute path inside the namespace. */
  place(absolute: string, content: string | Buffer, mode = 0o644, owner?: RunAs): void {
    const target = join(this.root, absolute);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, content);
    chmodSync(target, mode);
    if (owner) chownSync(target, owner.uid, owner.gid);
  }

  /** Starts the holder process; resolves once the mounts and the loopback interface are up. */
  async start(hosts: string): Promise<void> {
    const ns = join(this.work, 'ns');
    writeFileSync(join(ns, 'hosts'), hosts);
    chmodSync(join(ns, 'hosts'), 0o644);
    const tops = new Set<string>(['/etc']);
    for (const file of filesUnder(this.root)) {
      const top = existingAncestor(posix.dirname(`/${file}`));
      if (top === '/' || top === '/tmp' || top.startsWith('/tmp/')) throw new Error(`refusing to overlay ${top} for /${file}`);
      tops.add(top);
    }
    const overlays = [...tops].filter((t) => ![...tops].some((o) => o !== t && t.startsWith(`${o}/`)));
    if (overlays.some((o) => this.work.startsWith(`${o}/`))) throw new Error(`the work directory ${this.work} is under an overlaid directory`);
    const ready = join(ns, 'ready');
    const script = [
      'set -eu',
      `W=${quote(this.work)}`,
      'mount -t tmpfs -o mode=0700 tmpfs "$W/ns/ovl"',
      'i=0',
      `for target in ${overlays.map(quote).join(' ')}; do`,
      '  i=$((i + 1)); mkdir -p "$W/ns/ovl/u$i" "$W/ns/ovl/w$i"',
      '  mount -t overlay overlay -o "lowerdir=$target,upperdir=$W/ns/ovl/u$i,workdir=$W/ns/ovl/w$i" "$target"',
      'done',
      'cp -a "$W/ns/root/." /',
      'mount --bind "$W/ns/hosts" /etc/hosts',
      // A private /tmp that still shows the work directory: park it in the /etc overlay, cover /tmp, move it back.
      'mkdir /etc/.cvs-boot-work',
      'mount --bind "$W" /etc/.cvs-boot-work',
      'mount -t tmpfs -o mode=1777 tmpfs /tmp',
      'mkdir -p "$W"',
      'mount --move /etc/.cvs-boot-work "$W"',
      'ip link set lo up',
      'echo 0 >/proc/sys/net/ipv4/ip_unprivileged_port_start',
      `touch ${quote(ready)}`,
      'exec sleep 2147483647',
    ].join('\n');
    this.holder = startProcess('namespace', 'unshare', ['-m', '-n', '-i', 'sh', '-c', script], {
      env: { PATH: process.env.PATH }, logFile: join(ns, 'holder.log'),
    });
    const deadline = Date.now() + 20_000;
    while (!existsSync(ready)) {
      if (!this.holder.alive() || Date.now() > deadline) {
        throw new Error(`namespace setup failed (${this.holder.alive() ? 'timed out' : await this.holder.exited}):\n${this.holder.log()}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  get pid(): number {
    if (!this.holder?.alive()) throw new Error('the namespace is not running');
    return this.holder.pid;
  }

  /** nsenter arguments that enter the namespace (as `as`, in `cwd`); the command follows. */
  enter(options: NsOptions = {}): string[] {
    return [
      '-t', String(this.pid), '-m', '-n', '-i',
      ...(options.as ? ['-S', String(options.as.uid), '-G', String(options.as.gid)] : []),
      ...(options.cwd ? [`--wd=${options.cwd}`] : []),
      '--',
    ];
  }

  /** Runs a command inside and waits for it. */
  run(command: string, args: string[], options: NsRunOptions = {}): SpawnSyncReturns<string> {
    return spawnSync('nsenter', [...this.enter(options), command, ...args], {
      encoding: 'utf8',
      env: options.env ?? { PATH: process.env.PATH, LANG: 'C.UTF-8' },
      input: options.input,
      timeout: options.timeoutMs ?? 120_000,
      maxBuffer: 64 * 1024 * 1024,
    });
  }

  /** Starts a long-running command inside (PID = the command's own: nsenter execs it). */
  spawn(name: string, command: string, args: string[], options: NsOptions & { logFile: string }): Managed {
    return startProcess(name, 'nsenter', [...this.enter(options), command, ...args], {
      env: options.env ?? { PATH: process.env.PATH, LANG: 'C.UTF-8' },
      logFile: options.logFile,
    });
  }

  /** Stops the holder; the namespace goes away with the last process inside it. */
  async stop(): Promise<void> {
    if (this.holder) await stopProcess(this.holder, 'SIGKILL', 5_000);
  }
}
