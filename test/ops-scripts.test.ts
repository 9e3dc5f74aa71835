// Operations scripts and server config: shellcheck + bash -n on every generated script, sshd and
// fail2ban accepting the generated config, init-env.sh, a backup/restore/verify drill against a
// real Postgres started here, and deploy/rollback/health-check driven against a fake `docker`.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  chmodSync, chownSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync,
  rmSync, statSync, truncateSync, writeFileSync,
} from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasTool, inCI, stackMatrix, toolAvailable, writeStack, type RenderedStack } from './support/stack.js';
import { freePort, isAlive } from './support/wait.js';
import { postgresBin } from './support/postgres.js';

const OPS_SCRIPTS = ['init-env', 'backup', 'restore', 'verify-backup', 'deploy', 'rollback', 'health-check', 'bootstrap-server'];

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync(command, args, { encoding: 'utf8', timeout: 120_000, ...options, env: options.env ?? process.env });
}

function output(result: SpawnSyncReturns<string>): string {
  return `${result.stdout ?? ''}${result.stderr ?? ''}`;
}

function shellFiles(dir: string, prefix = ''): string[] {
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) return entry.name === 'node_modules' ? [] : shellFiles(dir, path);
    return path.endsWith('.sh') ? [path] : [];
  });
}

/** A fresh temp dir, removed by the returned function. */
function tempDirectory(label: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `cvs-ops-${label}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

describe('generated operations files', () => {
  for (const [name, overrides] of stackMatrix()) {
    it(`${name}: every script is there, offsite only with s3, backup/ carries the same backup.sh`, () => {
      const stack = writeStack(overrides);
      try {
        const files = shellFiles(stack.dir);
        for (const script of OPS_SCRIPTS) expect(files).toContain(`scripts/${script}.sh`);
        const offsite = overrides.backupRemote === 's3';
        expect(files.includes('scripts/backup-offsite.sh')).toBe(offsite);
        expect(files.includes('backup/backup-offsite.sh')).toBe(offsite);
        expect(readFileSync(join(stack.dir, 'backup/backup.sh'))).toEqual(readFileSync(join(stack.dir, 'scripts/backup.sh')));
        if (offsite) {
          expect(readFileSync(join(stack.dir, 'backup/backup-offsite.sh'))).toEqual(readFileSync(join(stack.dir, 'scripts/backup-offsite.sh')));
        }
        for (const file of files) expect(statSync(join(stack.dir, file)).mode & 0o111, file).not.toBe(0);

        const dockerfile = readFileSync(join(stack.dir, 'backup/Dockerfile'), 'utf8');
        expect(dockerfile).toContain(`FROM ${stack.model.images.postgres}\n`);
        expect(dockerfile).toContain('USER postgres');
        expect(dockerfile.includes('restic')).toBe(offsite);

        const sysctl = readFileSync(join(stack.dir, 'server/sysctl/99-vps-stack.conf'), 'utf8');
        expect(sysctl.includes('vm.overcommit_memory = 1')).toBe(stack.model.features.redis);
        expect(readFileSync(join(stack.dir, 'scripts/bootstrap-server.sh'), 'utf8')).toContain(`swap_mib=${stack.model.ops.swapMiB}\n`);
        expect(JSON.parse(readFileSync(join(stack.dir, 'server/docker/daemon.json'), 'utf8'))).toMatchObject({
          'log-driver': 'json-file', 'log-opts': { 'max-size': '10m' },
        });
      } finally {
        stack.cleanup();
      }
    });
  }
});

describe.skipIf(!toolAvailable('shellcheck'))('shellcheck -x -S style and bash -n', () => {
  for (const [name, overrides] of stackMatrix()) {
    it(name, () => {
      const stack = writeStack(overrides);
      try {
        const files = shellFiles(stack.dir);
        expect(files.length).toBeGreaterThanOrEqual(OPS_SCRIPTS.length);
        // Scripts that run inside an image with no bash (the SPA publisher on the nginx image) are POSIX
        // sh, checked as such (`sh -n`: dash here, busybox ash in the image); every other one is bash.
        const posix = files.filter((file) => readFileSync(join(stack.dir, file), 'utf8').startsWith('#!/bin/sh\n'));
        expect(posix, 'POSIX sh scripts').toEqual(stack.model.features.spa ? ['apps/web/publish-release.sh'] : []);
        for (const file of files) {
          const sh = posix.includes(file);
          const syntax = run(sh ? 'sh' : 'bash', ['-n', file], { cwd: stack.dir });
          expect(syntax.status, `${sh ? 'sh' : 'bash'} -n ${file}\n${output(syntax)}`).toBe(0);
          if (!sh) expect(readFileSync(join(stack.dir, file), 'utf8').startsWith('#!/usr/bin/env bash\n'), file).toBe(true);
        }
        const lint = run('shellcheck', ['-x', '-S', 'style', ...files], { cwd: stack.dir });
        expect(lint.status, output(lint)).toBe(0);
      } finally {
        stack.cleanup();
      }
    });
  }
});

describe('scripts answer --help', () => {
  it('prints usage and exits 0', () => {
    const stack = writeStack({ backupRemote: 's3' });
    try {
      for (const script of [...OPS_SCRIPTS, 'backup-offsite']) {
        const result = run('bash', [`scripts/${script}.sh`, '--help'], { cwd: stack.dir });
        expect(result.status, output(result)).toBe(0);
        expect(result.stdout).toMatch(/^Usage: /m);
      }
      const scheduler = run('bash', ['backup/scheduler.sh', '--help'], { cwd: stack.dir });
      expect(scheduler.status).toBe(0);
      const unknown = run('bash', ['scripts/deploy.sh', '--bogus'], { cwd: stack.dir });
      expect(unknown.status).toBe(2);
    } finally {
      stack.cleanup();
    }
  });
});

describe.skipIf(!toolAvailable('sshd') || !toolAvailable('ssh-keygen'))('sshd accepts the hardening drop-in, and it wins', () => {
  it('sshd -t passes and sshd -T shows the hardened values over later contrary settings', () => {
    const stack = writeStack();
    const temp = tempDirectory('sshd');
    try {
      mkdirSync('/run/sshd', { recursive: true });
      mkdirSync(join(temp.dir, 'etc/ssh'), { recursive: true });
      const keygen = run('ssh-keygen', ['-A', '-f', temp.dir]);
      expect(keygen.status, output(keygen)).toBe(0);
      const config = join(temp.dir, 'sshd_config');
      // Like a distribution's sshd_config: the include first, then settings a cloud image may add.
      writeFileSync(config, [
        `Include ${join(stack.dir, 'server/ssh/00-hardening.conf')}`,
        `HostKey ${join(temp.dir, 'etc/ssh/ssh_host_ed25519_key')}`,
        `PidFile ${join(temp.dir, 'sshd.pid')}`,
        'PermitRootLogin yes',
        'PasswordAuthentication yes',
        'KbdInteractiveAuthentication yes',
        '',
      ].join('\n'));
      const test = run('sshd', ['-t', '-f', config]);
      expect(test.status, output(test)).toBe(0);
      const effective = run('sshd', ['-T', '-f', config, '-C', 'user=deploy,host=vps.example.org,addr=203.0.113.7']);
      expect(effective.status, output(effective)).toBe(0);
      const lines = effective.stdout.split('\n');
      for (const expected of ['permitrootlogin no', 'passwordauthentication no', 'kbdinteractiveauthentication no',
        'authenticationmethods publickey', 'x11forwarding no', 'maxauthtries 3']) {
        expect(lines).toContain(expected);
      }
    } finally {
      temp.cleanup();
      stack.cleanup();
    }
  });
});

describe.skipIf(!toolAvailable('fail2ban-client'))('fail2ban accepts the jail', () => {
  it('fail2ban-client -t passes; the sshd jail reads the systemd journal', () => {
    const stack = writeStack();
    const temp = tempDirectory('fail2ban');
    try {
      const base = existsSync('/etc/fail2ban/jail.conf') ? '/etc/fail2ban' : undefined;
      if (!base) throw new Error('/etc/fail2ban/jail.conf missing: install the fail2ban package');
      cpSync(base, temp.dir, { recursive: true });
      copyFileSync(join(stack.dir, 'server/fail2ban/vps-stack.local'), join(temp.dir, 'jail.d/vps-stack.local'));
      const test = run('fail2ban-client', ['-c', temp.dir, '-t']);
      expect(test.status, output(test)).toBe(0);
      const dump = run('fail2ban-client', ['-c', temp.dir, '-d']);
      expect(dump.status, output(dump)).toBe(0);
      expect(dump.stdout).toContain("['add', 'sshd', 'systemd']");
      expect(dump.stdout).toContain("['set', 'sshd', 'maxretry', 5]");
    } finally {
      temp.cleanup();
      stack.cleanup();
    }
  });
});

describe('init-env.sh', () => {
  const stacks: RenderedStack[] = [];
  afterAll(() => stacks.forEach((s) => s.cleanup()));

  for (const withOpenssl of [true, false]) {
    it(`writes .env with mode 0600 and fresh hex secrets, refuses to overwrite (${withOpenssl ? 'openssl' : '/dev/urandom fallback'})`, () => {
      const stack = writeStack({ backupRemote: 's3', redis: true });
      stacks.push(stack);
      const env = { ...process.env };
      if (!withOpenssl) {
        // An openssl that fails: the script must fall back to /dev/urandom.
        const bin = join(stack.dir, '..', 'fake-bin');
        mkdirSync(bin);
        writeFileSync(join(bin, 'openssl'), '#!/bin/sh\nexit 1\n', { mode: 0o755 });
        env.PATH = `${bin}:${process.env.PATH}`;
      }
      const first = run('bash', ['scripts/init-env.sh'], { cwd: stack.dir, env });
      expect(first.status, output(first)).toBe(0);
      const dotenv = join(stack.dir, '.env');
      expect(statSync(dotenv).mode & 0o777).toBe(0o600);
      const text = readFileSync(dotenv, 'utf8');
      const values = new Map(text.split('\n').filter((l) => /^[A-Z_]+=/.test(l)).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      const generated = stack.model.env.list.filter((v) => v.secret === 'generate').map((v) => v.name);
      expect(generated.length).toBeGreaterThanOrEqual(3);
      expect(stack.model.ops.generatedSecrets.split(' ')).toEqual(generated);
      const secrets = generated.map((name) => values.get(name) ?? '');
      for (const secret of secrets) {
        expect(secret).toMatch(/^[0-9a-f]{64}$/);
        expect(secret).not.toMatch(/[/+]/);
      }
      expect(new Set(secrets).size).toBe(secrets.length);
      // Provided secrets stay empty; everything else is copied from .env.example.
      for (const variable of stack.model.env.list.filter((v) => v.secret === 'provide')) expect(values.get(variable.name)).toBe('');
      expect(values.get(stack.model.env.domain.name)).toBe(stack.model.domain.apex);
      expect(first.stdout).toContain(stack.model.env.awsAccessKeyId.name);

      const second = run('bash', ['scripts/init-env.sh'], { cwd: stack.dir, env });
      expect(second.status).not.toBe(0);
      expect(second.stderr).toMatch(/already exists/);
      expect(readFileSync(dotenv, 'utf8')).toBe(text);
      expect(readdirSync(stack.dir).filter((f) => f.startsWith('.env.init'))).toEqual([]);
    });
  }
});

describe.skipIf(!toolAvailable('bash'))('bootstrap-server.sh refuses unknown systems and plans known ones', () => {
  it('refuses Fedora, plans Debian 12 in a dry run', () => {
    const stack = writeStack({ vpsMemory: 1 });
    const temp = tempDirectory('bootstrap');
    try {
      const fedora = join(temp.dir, 'fedora');
      writeFileSync(fedora, 'ID=fedora\nVERSION_ID=41\nPRETTY_NAME="Fedora Linux 41"\n');
      const refused = run('bash', ['scripts/bootstrap-server.sh', '--ssh-key', 'ssh-ed25519 AAAA x', '--dry-run'], {
        cwd: stack.dir, env: { ...process.env, BOOTSTRAP_OS_RELEASE: fedora },
      });
      expect(refused.status).toBe(1);
      expect(refused.stderr).toContain('unsupported system: Fedora Linux 41');

      if (!hasTool('ssh-keygen')) return;
      const key = join(temp.dir, 'id_ed25519');
      expect(run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]).status).toBe(0);
      const debian = join(temp.dir, 'debian');
      writeFileSync(debian, 'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n');
      const plan = run('bash', ['scripts/bootstrap-server.sh', '--ssh-key-file', `${key}.pub`, '--dry-run'], {
        cwd: stack.dir, env: { ...process.env, BOOTSTRAP_OS_RELEASE: debian },
      });
      expect(plan.status, output(plan)).toBe(0);
      expect(plan.stdout).toContain(`swap ${stack.model.ops.swapMiB} MiB`);
      expect(plan.stdout).toContain('firewall ufw');
      expect(plan.stdout).toContain('dry run, nothing changed');

      const alma = join(temp.dir, 'alma');
      writeFileSync(alma, 'ID="almalinux"\nVERSION_ID="9.5"\nPRETTY_NAME="AlmaLinux 9.5"\n');
      const almaPlan = run('bash', ['scripts/bootstrap-server.sh', '--ssh-key-file', `${key}.pub`, '--dry-run'], {
        cwd: stack.dir, env: { ...process.env, BOOTSTRAP_OS_RELEASE: alma },
      });
      expect(almaPlan.status, output(almaPlan)).toBe(0);
      expect(almaPlan.stdout).toContain('firewall firewalld');

      const badKey = run('bash', ['scripts/bootstrap-server.sh', '--ssh-key', 'not a key', '--dry-run'], {
        cwd: stack.dir, env: { ...process.env, BOOTSTRAP_OS_RELEASE: debian },
      });
      expect(badKey.status).toBe(1);
      expect(badKey.stderr).toContain('not a valid SSH public key');
    } finally {
      temp.cleanup();
      stack.cleanup();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Backup drill against a real Postgres, started here and stopped by PID.

function postgresAvailable(): boolean {
  const tools = toolAvailable('pg_dump') && toolAvailable('pg_restore') && toolAvailable('psql');
  const bin = postgresBin();
  if (!bin && inCI) throw new Error('initdb (apt postgresql) is required under CI=true');
  return tools && Boolean(bin);
}

describe.skipIf(!postgresAvailable())('backup drill against Postgres', () => {
  const bin = postgresBin()!;
  let work: string;
  let stack: RenderedStack;
  let env: NodeJS.ProcessEnv;
  let postmasterPid: number | undefined;
  const asRoot = userInfo().uid === 0;

  /** Runs a Postgres binary as the postgres user when we are root (initdb refuses root). */
  const asPostgres = (command: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', command, ...args]) : run(command, args);

  const psql = (sql: string, database = 'shop') => {
    const result = run('psql', ['-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', database, '-c', sql], { env });
    if (result.status !== 0) throw new Error(output(result));
    return result.stdout.trim();
  };
  const checksum = () => psql("SELECT md5(string_agg(id || ':' || name, ',' ORDER BY id)) FROM items");
  const script = (name: string, args: string[] = [], extra: NodeJS.ProcessEnv = {}) =>
    run('bash', [`scripts/${name}.sh`, ...args], { cwd: stack.dir, env: { ...env, ...extra } });
  const dumps = (dir = env.BACKUP_DIR!) => readdirSync(dir).filter((f) => f.endsWith('.dump')).sort();

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'cvs-ops-pg-'));
    chmodSync(work, 0o755);
    const data = join(work, 'data');
    const socket = join(work, 'socket');
    mkdirSync(data);
    mkdirSync(socket);
    writeFileSync(join(work, 'pw'), 'superpw\n');
    if (asRoot) {
      const { uid, gid } = postgresIds();
      for (const path of [work, data, socket, join(work, 'pw')]) chownSync(path, uid, gid);
    }
    const init = asPostgres(join(bin, 'initdb'), ['-D', data, '-U', 'postgres', `--pwfile=${join(work, 'pw')}`,
      '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--no-sync']);
    if (init.status !== 0) throw new Error(`initdb failed: ${output(init)}`);
    const port = await freePort();
    const start = asPostgres(join(bin, 'pg_ctl'), ['-D', data, '-l', join(work, 'postgres.log'), '-w', '-t', '60', '-o',
      `-p ${port} -k ${socket} -c listen_addresses=127.0.0.1 -c fsync=off`, 'start']);
    const pidFile = join(data, 'postmaster.pid');
    if (existsSync(pidFile)) postmasterPid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    if (start.status !== 0) throw new Error(`pg_ctl start failed: ${output(start)}\n${readFileSync(join(work, 'postgres.log'), 'utf8')}`);

    const superEnv = { ...process.env, PGHOST: '127.0.0.1', PGPORT: String(port), PGUSER: 'postgres', PGPASSWORD: 'superpw' };
    const setup = run('psql', ['-X', '-v', 'ON_ERROR_STOP=1', '-d', 'postgres', '-c', "CREATE ROLE shop LOGIN CREATEDB PASSWORD 'apppw'",
      '-c', 'CREATE DATABASE shop OWNER shop'], { env: superEnv });
    if (setup.status !== 0) throw new Error(output(setup));

    stack = writeStack({ backupRemote: 'none' });
    const backupDir = join(work, 'backups');
    // Like the backup service: only PG* variables and BACKUP_DIR, a non-superuser role with CREATEDB.
    env = {
      PATH: process.env.PATH, HOME: process.env.HOME, LANG: 'C.UTF-8',
      PGHOST: '127.0.0.1', PGPORT: String(port), PGUSER: 'shop', PGPASSWORD: 'apppw', PGDATABASE: 'shop', BACKUP_DIR: backupDir,
    };
    psql(`CREATE TABLE pgmigrations (id serial PRIMARY KEY, name text NOT NULL, run_on timestamptz NOT NULL DEFAULT now());
      INSERT INTO pgmigrations (name) VALUES ('0001_init');
      CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL);
      INSERT INTO items (name) SELECT 'item ' || g FROM generate_series(1, 500) g;`);
  }, 120_000);

  afterAll(async () => {
    if (postmasterPid && isAlive(postmasterPid)) {
      process.kill(postmasterPid, 'SIGINT'); // fast shutdown
      for (let i = 0; i < 100 && isAlive(postmasterPid); i++) await new Promise((r) => setTimeout(r, 100));
      if (isAlive(postmasterPid)) process.kill(postmasterPid, 'SIGKILL');
    }
    stack?.cleanup();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('backup.sh writes a dump with its sha256, atomically, mode 0600', () => {
    const result = script('backup');
    expect(result.status, output(result)).toBe(0);
    const [dump] = dumps();
    expect(dump).toMatch(/^shop_\d{8}T\d{6}Z\.dump$/);
    const dir = env.BACKUP_DIR!;
    expect(statSync(join(dir, dump)).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((f) => f.includes('partial'))).toEqual([]);
    const check = run('sha256sum', ['--check', `${dump}.sha256`], { cwd: dir });
    expect(check.status, output(check)).toBe(0);
  });

  it('restore.sh --yes brings back the dumped rows, after a safety dump', () => {
    const before = checksum();
    psql("DELETE FROM items WHERE id > 250; UPDATE items SET name = 'changed' WHERE id < 10; CREATE TABLE scratch_after_backup (x int)");
    expect(checksum()).not.toBe(before);

    const refused = run('bash', ['scripts/restore.sh'], { cwd: stack.dir, env, input: 'y\n' });
    expect(refused.status, 'no terminal and no --yes must refuse').not.toBe(0);
    expect(refused.stderr).toContain('--yes');

    const restored = script('restore', ['--yes']);
    expect(restored.status, output(restored)).toBe(0);
    expect(checksum()).toBe(before);
    const safety = dumps(join(env.BACKUP_DIR!, 'pre-restore'));
    expect(safety).toHaveLength(1);
    expect(existsSync(join(env.BACKUP_DIR!, 'pre-restore', `${safety[0]}.sha256`))).toBe(true);
  });

  it('verify-backup.sh restores into a scratch database, runs the sanity queries and drops it', () => {
    const result = script('verify-backup');
    expect(result.status, output(result)).toBe(0);
    expect(result.stdout).toContain('sha256 ok');
    expect(result.stdout).toContain('migrations table public.pgmigrations: 1 rows');
    expect(result.stdout).toMatch(/public\.items\s+500/);
    expect(psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'verify\\_%'", 'postgres')).toBe('0');
  });

  it('a truncated or corrupt dump fails verification and restore, and leaves the database alone', () => {
    const dir = env.BACKUP_DIR!;
    const [dump] = dumps();
    const bad = join(work, 'bad');
    mkdirSync(bad, { recursive: true });
    const before = checksum();

    // Truncated after the checksum was written: the checksum catches it.
    copyFileSync(join(dir, dump), join(bad, dump));
    copyFileSync(join(dir, `${dump}.sha256`), join(bad, `${dump}.sha256`));
    truncateSync(join(bad, dump), statSync(join(bad, dump)).size - 300);
    const mismatch = script('verify-backup', [join(bad, dump)]);
    expect(mismatch.status).not.toBe(0);
    expect(mismatch.stderr).toContain('checksum mismatch');
    expect(script('restore', ['--yes', join(bad, dump)]).status).not.toBe(0);

    // Truncated with a matching checksum (truncated before it was written): pg_restore catches it.
    const sum = run('sha256sum', [dump], { cwd: bad });
    writeFileSync(join(bad, `${dump}.sha256`), sum.stdout);
    const truncated = script('verify-backup', [join(bad, dump)]);
    expect(truncated.status).not.toBe(0);
    expect(truncated.stderr).toContain('FAILED');
    const restore = script('restore', ['--yes', join(bad, dump)]);
    expect(restore.status).not.toBe(0);
    expect(checksum()).toBe(before);

    // No checksum at all.
    rmSync(join(bad, `${dump}.sha256`));
    expect(script('verify-backup', [join(bad, dump)]).status).not.toBe(0);
    expect(psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'verify\\_%'", 'postgres')).toBe('0');
  });

  it('retention keeps 7 daily / 4 weekly / 6 monthly, and prunes only after a successful dump', () => {
    const dir = join(work, 'retention');
    mkdirSync(dir);
    // Two years of daily dumps up to yesterday, plus a second dump on one day.
    const today = new Date();
    const stamps: string[] = [];
    for (let i = 1; i <= 730; i++) {
      const d = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i, 3, 0, 0));
      stamps.push(`${d.toISOString().slice(0, 10).replaceAll('-', '')}T030000Z`);
    }
    stamps.push(stamps[0].replace('T030000Z', 'T150000Z'));
    for (const stamp of stamps) {
      writeFileSync(join(dir, `shop_${stamp}.dump`), 'old');
      writeFileSync(join(dir, `shop_${stamp}.dump.sha256`), `x  shop_${stamp}.dump\n`);
    }
    writeFileSync(join(dir, 'other_20200101T000000Z.dump'), 'not ours');
    const count = dumps(dir).length;

    const failed = script('backup', [], { BACKUP_DIR: dir, PGPORT: '1' });
    expect(failed.status).not.toBe(0);
    expect(failed.stderr).toContain('nothing pruned');
    expect(dumps(dir)).toHaveLength(count);

    const ok = script('backup', [], { BACKUP_DIR: dir });
    expect(ok.status, output(ok)).toBe(0);
    const kept = dumps(dir).filter((f) => f.startsWith('shop_'));
    // Expected set, computed independently: newest dump per day/ISO week/month, newest first.
    const all = [...stamps, kept.find((f) => !stamps.some((s) => f.includes(s)))!.slice(5, -5)].sort().reverse();
    const isoWeek = (s: string) => {
      const d = new Date(Date.UTC(Number(s.slice(0, 4)), Number(s.slice(4, 6)) - 1, Number(s.slice(6, 8))));
      const day = (d.getUTCDay() + 6) % 7;
      d.setUTCDate(d.getUTCDate() - day + 3);
      const firstThursday = new Date(Date.UTC(d.getUTCFullYear(), 0, 4));
      return `${d.getUTCFullYear()}-${Math.round((d.getTime() - firstThursday.getTime()) / 604800000)}`;
    };
    const expected = new Set<string>();
    const tiers: Array<[number, (s: string) => string]> = [[7, (s) => s.slice(0, 8)], [4, isoWeek], [6, (s) => s.slice(0, 6)]];
    for (const [limit, bucket] of tiers) {
      const seen = new Set<string>();
      for (const s of all) {
        const b = bucket(s);
        if (!seen.has(b) && seen.size < limit) {
          seen.add(b);
          expected.add(`shop_${s}.dump`);
        }
      }
    }
    expect(kept).toEqual([...expected].sort());
    expect(kept.length).toBeLessThanOrEqual(7 + 4 + 6);
    expect(existsSync(join(dir, 'other_20200101T000000Z.dump'))).toBe(true);
    // Checksums go with their dumps.
    const sums = readdirSync(dir).filter((f) => f.startsWith('shop_') && f.endsWith('.sha256'));
    expect(sums.sort()).toEqual(kept.map((f) => `${f}.sha256`));
  });

  it('the backup service scheduler marks itself unhealthy when a backup fails', () => {
    const alive = join(work, 'alive');
    const scheduler = (extra: NodeJS.ProcessEnv) =>
      run('bash', ['backup/scheduler.sh', '--once'], { cwd: stack.dir, env: { ...env, BACKUP_SCHEDULER_ALIVE: alive, ...extra } });
    const ok = scheduler({});
    expect(ok.status, output(ok)).toBe(0);
    expect(existsSync(alive)).toBe(true);
    const failed = scheduler({ PGPORT: '1' });
    expect(failed.status).not.toBe(0);
    expect(existsSync(alive)).toBe(false);
  });
});

function postgresIds(): { uid: number; gid: number } {
  const line = readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('no postgres user (install the postgresql package)');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

// ---------------------------------------------------------------------------------------------
// deploy.sh / rollback.sh / health-check.sh against a fake `docker` that keeps containers as files.

// String.raw keeps bash's backslashes; \${ is how a template literal writes a literal ${.
const FAKE_DOCKER = String.raw`#!/usr/bin/env bash
# Fake docker CLI: containers are files "$FAKE_DOCKER_STATE/c-<id>" holding "<service> <tag>".
# Datastores keep their own image ("fixed"); app images follow IMAGE_TAG.
set -euo pipefail
state="\${FAKE_DOCKER_STATE:?}"
echo "docker $* [IMAGE_TAG=\${IMAGE_TAG:-}]" >>"$state/calls"
current_tag() { if [[ -n "\${IMAGE_TAG:-}" ]]; then echo "$IMAGE_TAG"; else sed -n 's/^IMAGE_TAG=//p' .env; fi; }
health_of() { if [[ "$1" == "\${FAKE_BAD_TAG:-none}" ]]; then echo unhealthy; else echo healthy; fi; }
ids_of() {
  local f s t
  for f in "$state"/c-*; do
    [[ -e "$f" ]] || continue
    read -r s t <"$f"
    if [[ -z "$1" || "$s" == "$1" ]]; then echo "\${f##*/c-}"; fi
  done
}
create() { local id; id="$(head -c 32 /dev/urandom | sha256sum | cut -c1-64)"; echo "$1 $2" >"$state/c-$id"; }
if [[ "$1" == compose ]]; then
  shift; cmd="$1"; shift
  case "$cmd" in
    version) echo "Docker Compose version v2.99.0-fake" ;;
    config) if [[ "\${1:-}" == --images ]]; then echo "demo-shop-api:$(current_tag)"; fi ;;
    build | pull | exec | stop | start | logs) ;;
    run) if [[ " $* " == *" migrate "* && -n "\${FAKE_MIGRATE_FAIL:-}" ]]; then exit 1; fi ;;
    ps)
      services=()
      while (($# > 0)); do
        case "$1" in
          --status | --format) shift 2 ;;
          -*) shift ;;
          *) services+=("$1"); shift ;;
        esac
      done
      if ((\${#services[@]} == 0)); then ids_of ""; else for s in "\${services[@]}"; do ids_of "$s"; done; fi ;;
    up)
      services=(); scale=''; wait=false
      while (($# > 0)); do
        case "$1" in
          --scale) scale="$2"; shift 2 ;;
          --wait-timeout) shift 2 ;;
          --wait) wait=true; shift ;;
          -*) shift ;;
          *) services+=("$1"); shift ;;
        esac
      done
      for s in "\${services[@]}"; do
        case "$s" in postgres | redis) tag=fixed ;; *) tag="$(current_tag)" ;; esac
        mapfile -t existing < <(ids_of "$s")
        if [[ -n "$scale" && "\${scale%%=*}" == "$s" ]]; then
          for ((i = \${#existing[@]}; i < \${scale#*=}; i++)); do create "$s" "$tag"; done
          continue
        fi
        stale=false
        for id in "\${existing[@]}"; do read -r _ t <"$state/c-$id"; [[ "$t" == "$tag" ]] || stale=true; done
        if ((\${#existing[@]} == 0)); then create "$s" "$tag"
        elif "$stale"; then
          for id in "\${existing[@]}"; do rm -f "$state/c-$id"; create "$s" "$tag"; done
        fi
      done
      if "$wait"; then
        for s in "\${services[@]}"; do
          for id in $(ids_of "$s"); do read -r _ t <"$state/c-$id"; [[ "$(health_of "$t")" == healthy ]] || exit 1; done
        done
      fi ;;
    *) echo "fake docker compose: unexpected $cmd" >&2; exit 3 ;;
  esac
  exit 0
fi
case "$1" in
  inspect)
    shift; format=''
    if [[ "$1" == --format ]]; then format="$2"; shift 2; fi
    for id in "$@"; do
      [[ -e "$state/c-$id" ]] || exit 1
      read -r s t <"$state/c-$id"
      if [[ "$format" == *com.docker.compose.service* ]]; then echo "$s|/demo-shop-$s-1|running|$(health_of "$t")|"
      elif [[ "$format" == '{{.Name}}' ]]; then echo "/demo-shop-$s-\${id:0:8}"
      else echo "running $(health_of "$t")"; fi
    done ;;
  exec)
    # The readiness check deploy.sh runs in a new container: ready unless its tag is the bad one.
    read -r s t <"$state/c-$2"
    echo "exec $s $t" >>"$state/calls"
    [[ "$(health_of "$t")" == healthy ]] ;;
  image | logs) ;;
  stop) ;;
  rm) shift; for id in "$@"; do [[ "$id" == -* ]] || rm -f "$state/c-$id"; done ;;
  *) echo "fake docker: unexpected $1" >&2; exit 3 ;;
esac
`.replaceAll('\\${', '${');

describe.skipIf(!toolAvailable('flock'))('deploy.sh, rollback.sh and health-check.sh (fake docker)', () => {
  let stack: RenderedStack;
  let state: string;
  let env: NodeJS.ProcessEnv;

  const deploy = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
    run('bash', ['scripts/deploy.sh', ...args], { cwd: stack.dir, env: { ...env, ...extra } });
  const containers = (service: string) =>
    readdirSync(state).filter((f) => f.startsWith('c-')).map((f) => readFileSync(join(state, f), 'utf8').trim().split(' '))
      .filter(([s]) => s === service).map(([, tag]) => tag);
  const deployState = (file: string) => readFileSync(join(stack.dir, stack.model.ops.deployStateDir, file), 'utf8').trim();
  const calls = () => readFileSync(join(state, 'calls'), 'utf8');

  beforeAll(() => {
    stack = writeStack({ workers: true, redis: true });
    state = join(dirname(stack.dir), 'docker-state');
    const bin = join(dirname(stack.dir), 'bin');
    mkdirSync(state);
    mkdirSync(bin);
    writeFileSync(join(bin, 'docker'), FAKE_DOCKER, { mode: 0o755 });
    writeFileSync(join(state, 'calls'), '');
    env = { PATH: `${bin}:${process.env.PATH}`, HOME: process.env.HOME, FAKE_DOCKER_STATE: state, LANG: 'C.UTF-8' };
    const init = run('bash', ['scripts/init-env.sh'], { cwd: stack.dir, env });
    expect(init.status, output(init)).toBe(0);
  });
  afterAll(() => stack?.cleanup());

  it('first deploy starts everything with the SHA tag and records it', () => {
    const result = deploy(['aaaaaaa1']);
    expect(result.status, output(result)).toBe(0);
    expect(containers('api')).toEqual(['aaaaaaa1']);
    expect(containers('worker')).toEqual(['aaaaaaa1']);
    expect(containers('postgres')).toHaveLength(1);
    expect(deployState('current-tag')).toBe('aaaaaaa1');
    expect(existsSync(join(stack.dir, '.deploy/previous-tag'))).toBe(false);
    expect(readFileSync(join(stack.dir, '.env'), 'utf8')).toMatch(/^IMAGE_TAG=aaaaaaa1$/m);
    expect(statSync(join(stack.dir, '.env')).mode & 0o777).toBe(0o600);
    // Migrations ran in the new image, before the app started; no safety dump on a first deploy.
    const log = calls();
    expect(log).toMatch(/compose run --rm --no-deps -T api npm run migrate \[IMAGE_TAG=aaaaaaa1\]/);
    expect(log.indexOf('npm run migrate')).toBeLessThan(log.indexOf('up -d --no-deps --wait --wait-timeout 180 api'));
    expect(log).not.toContain('backup.sh');
  });

  it('second deploy swaps api beside the old container, dumps first, reloads nginx (never replaces it)', () => {
    writeFileSync(join(state, 'calls'), '');
    const result = deploy(['bbbbbbb2']);
    expect(result.status, output(result)).toBe(0);
    expect(containers('api')).toEqual(['bbbbbbb2']);
    // nginx is the container the first deploy started.
    expect(containers('nginx')).toEqual(['aaaaaaa1']);
    expect(deployState('current-tag')).toBe('bbbbbbb2');
    expect(deployState('previous-tag')).toBe('aaaaaaa1');
    const log = calls();
    expect(log).toContain('--scale api=2 api');
    expect(log).toContain('exec -T nginx nginx -s reload');
    // Readiness of the new container is checked before nginx routes to it; the SPA is published.
    expect(log).toContain('exec api bbbbbbb2');
    expect(log).toMatch(/compose run --rm --no-deps -T spa bbbbbbb2 \d+/);
    const upstream = readFileSync(join(stack.dir, '.deploy/nginx/api.upstream'), 'utf8');
    expect(upstream.match(/^server .*$/gm)).toHaveLength(2);
    expect(readFileSync(join(stack.dir, '.deploy/nginx/web-root.conf'), 'utf8')).toContain('root /srv/web/releases/bbbbbbb2;');
    const dump = log.indexOf('/opt/scripts/backup.sh --no-prune');
    expect(dump).toBeGreaterThan(-1);
    expect(dump).toBeLessThan(log.indexOf('npm run migrate'));
  });

  it('an unhealthy new version is removed and the old one keeps running', () => {
    const result = deploy(['ccccccc3'], { FAKE_BAD_TAG: 'ccccccc3' });
    expect(result.status).not.toBe(0);
    expect(output(result)).toContain('bbbbbbb2 is running again');
    expect(containers('api')).toEqual(['bbbbbbb2']);
    expect(containers('worker')).toEqual(['bbbbbbb2']);
    expect(deployState('current-tag')).toBe('bbbbbbb2');
    expect(deployState('previous-tag')).toBe('aaaaaaa1');
    // The bad containers never appeared in nginx's upstream file.
    expect(readFileSync(join(stack.dir, '.deploy/nginx/api.upstream'), 'utf8')).not.toMatch(/down;/);
  });

  it.skipIf(!toolAvailable('unshare'))('a box without the memory to build is refused before anything changes (its own /proc/meminfo, in a mount namespace)', () => {
    const need = stack.model.ops.buildMemoryMiB;
    const meminfo = (freeMiB: number) => `MemTotal:        1000000 kB\nMemFree:          100000 kB\nMemAvailable:    ${Math.floor(freeMiB * 1024 * 0.75)} kB\nSwapTotal:       ${freeMiB * 1024} kB\nSwapFree:        ${Math.ceil(freeMiB * 1024 * 0.25)} kB\n`;
    const fake = join(state, 'meminfo');
    const deployWith = (freeMiB: number, extra: NodeJS.ProcessEnv = {}) => {
      writeFileSync(fake, meminfo(freeMiB));
      return run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$1" /proc/meminfo && exec bash scripts/deploy.sh fffffff6', 'sh', fake], { cwd: stack.dir, env: { ...env, ...extra } });
    };
    writeFileSync(join(state, 'calls'), '');
    const short = deployWith(need - 100);
    expect(short.status).not.toBe(0);
    expect(short.stderr).toContain(`needs about ${need} MiB of free memory (RAM + swap); this box has ${need - 100} MiB free`);
    expect(calls()).not.toContain('compose build');
    expect(deployState('current-tag')).toBe('bbbbbbb2');
    // Enough memory: the same deploy builds (and DEPLOY_SKIP_MEMORY_CHECK=1 skips the check).
    writeFileSync(join(state, 'calls'), '');
    const skipped = deployWith(10, { DEPLOY_SKIP_MEMORY_CHECK: '1', FAKE_MIGRATE_FAIL: '1' });
    expect(skipped.stderr).toContain('migrations failed');
    expect(calls()).toContain('compose build');
  });

  it('failed migrations stop the deploy before anything is swapped', () => {
    const result = deploy(['ddddddd4'], { FAKE_MIGRATE_FAIL: '1' });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('migrations failed');
    expect(containers('api')).toEqual(['bbbbbbb2']);
  });

  it('a second deploy while one runs is refused (flock)', () => {
    const lock = join(stack.dir, '.deploy/deploy.lock');
    const result = run('bash', ['-c', 'exec 9>"$1"; flock 9; bash scripts/deploy.sh eeeeeee5; status=$?; exit "$status"', '_', lock], { cwd: stack.dir, env });
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('another deploy is running');
    expect(deployState('current-tag')).toBe('bbbbbbb2');
  });

  it('rollback.sh returns to the previous tag without migrations', () => {
    writeFileSync(join(state, 'calls'), '');
    const result = run('bash', ['scripts/rollback.sh'], { cwd: stack.dir, env });
    expect(result.status, output(result)).toBe(0);
    expect(containers('api')).toEqual(['aaaaaaa1']);
    expect(deployState('current-tag')).toBe('aaaaaaa1');
    expect(deployState('previous-tag')).toBe('bbbbbbb2');
    expect(calls()).not.toContain('migrate');
    expect(calls()).not.toContain('compose build');
    expect(deployState('history')).toMatch(/rollback aaaaaaa1$/);
  });

  it('health-check.sh passes when all are healthy and fails when one is not', () => {
    const ok = run('bash', ['scripts/health-check.sh'], { cwd: stack.dir, env });
    expect(ok.status, output(ok)).toBe(0);
    for (const service of ['api', 'worker', 'postgres', 'redis', 'nginx', 'backup']) expect(ok.stdout).toContain(service);
    const bad = run('bash', ['scripts/health-check.sh'], { cwd: stack.dir, env: { ...env, FAKE_BAD_TAG: 'aaaaaaa1' } });
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain('NOT HEALTHY: api is unhealthy');
    for (const file of readdirSync(state).filter((f) => f.startsWith('c-'))) {
      if (readFileSync(join(state, file), 'utf8').startsWith('worker ')) rmSync(join(state, file));
    }
    const missing = run('bash', ['scripts/health-check.sh'], { cwd: stack.dir, env });
    expect(missing.status).toBe(1);
    expect(missing.stdout).toContain('MISSING: worker');
  });
});
