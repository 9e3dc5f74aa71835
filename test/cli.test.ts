import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import pkg from '../package.json' with { type: 'json' };
import { ANSWER_OPTIONS } from '../src/options.js';
import { runCli, tempDir } from './support/cli.js';
import { appendTo, makeOldGenerator } from './support/old-generator.js';
import { spawnSync } from 'node:child_process';

const REQUIRED = ['--template', 'express-worker', '--domain', 'shop.example.org', '--email', 'ops@example.org'];
const ANSI = /\x1b\[/; // eslint-disable-line no-control-regex

let cwd: string;
beforeEach(() => {
  cwd = tempDir();
});
afterEach(() => rmSync(cwd, { recursive: true, force: true }));

/** Runs the CLI and checks the error contract: exit code, message, and an untouched cwd. */
function expectRefusal(args: string[], message: RegExp | string, status = 1) {
  const before = readdirSync(cwd, { recursive: true });
  const result = runCli(args, { cwd });
  expect(result.status, result.stderr).toBe(status);
  expect(result.stderr).toMatch(message);
  expect(result.stdout).toBe('');
  expect(readdirSync(cwd, { recursive: true })).toEqual(before);
  return result;
}

describe('help and version', () => {
  it('--help lists every option and exits 0', () => {
    const result = runCli(['--help'], { cwd });
    expect(result.status).toBe(0);
    for (const option of ANSWER_OPTIONS) expect(result.stdout).toContain(`--${option.flag}`);
    expect(result.stdout).toContain('Usage: create-vps-stack [dir] [options]');
  });

  it('-v prints the package version', () => {
    expect(runCli(['-v'], { cwd }).stdout.trim()).toBe(pkg.version);
  });
});

describe('missing answers without a terminal', () => {
  it('names the directory and every missing required flag', () => {
    const { stderr } = expectRefusal([], /missing target directory \[dir\]; missing required options: --template, --domain, --email/);
    expect(stderr).toContain('--yes');
  });

  it('names only what is missing', () => {
    expectRefusal(['app', '--template', 'nest-next', '--domain', 'shop.example.org'], /missing required options: --email$/m);
    expectRefusal(['--template', 'nest-next', '--domain', 'shop.example.org', '--email', 'a@example.org'], /missing target directory/);
  });

  it('refuses --interactive without a terminal', () => {
    expectRefusal(['app', '--interactive'], /--interactive needs a terminal/);
  });
});

describe('invalid values: exit 1, the flag and the rule, nothing written', () => {
  it.each([
    [['--template', 'rails'], /--template: unknown value "rails"; must be one of nest-next, express-worker, fastapi-oracle/],
    [['--domain', '10.0.0.1'], /--domain .*an IP address is not a domain/],
    [['--domain', 'localhost'], /--domain .*single label/],
    [['--domain', 'shop'], /--domain .*single label/],
    [['--domain', 'bad_label.example.org'], /--domain label "bad_label"/],
    [['--domain', `${'abcdefghi.'.repeat(26)}com`], /--domain must be at most 253 characters/],
    [['--email', 'ops-at-example.org'], /--email must be an email address/],
    [['--vps-memory', '0'], /--vps-memory must be a number from 1 to 512 \(got "0"\)/],
    [['--vps-memory', 'lots'], /--vps-memory must be a number from 1 to 512 \(got "lots"\)/],
    [['--vps-memory', '1024'], /--vps-memory must be a number from 1 to 512/],
    [['--vps-cpus', '2.5'], /--vps-cpus must be a whole number from 1 to 128/],
    [['--vps-cpus', '0'], /--vps-cpus must be a whole number from 1 to 128/],
    [['--ci', 'gitlab'], /--ci: unknown value "gitlab"/],
    [['--backup-remote', 'ftp'], /--backup-remote: unknown value "ftp"/],
    [['--turbo'], /unknown option --turbo/],
  ])('%j', (bad, message) => {
    expectRefusal(['app', ...REQUIRED, ...bad], message);
  });

  it('rejects a directory name that cannot be a project name', () => {
    expectRefusal(['My App', ...REQUIRED], /target directory "My App" cannot name a project/);
    expectRefusal(['9lives', ...REQUIRED, '--yes'], /cannot name a project/);
  });

  it('explains contradictions instead of fixing them', () => {
    expectRefusal(['app', ...REQUIRED, '--workers', '--no-redis'], /--workers needs Redis/);
  });

  it('names the smallest VPS that fits', () => {
    expectRefusal(['app', '--template', 'nest-next', '--domain', 'shop.example.org', '--email', 'a@example.org', '--workers', '--vps-memory', '1'],
      /--vps-memory 1 is too small .* Use at least --vps-memory 1\.5, or drop --workers/);
  });

  it('exits 2 for --diff outside a generated project', () => {
    expectRefusal(['--diff'], /no \.vps-stack\.json/, 2);
  });
});

describe('target directory', () => {
  it('refuses a non-empty directory without --overwrite and keeps it as it was', () => {
    mkdirSync(join(cwd, 'app'));
    writeFileSync(join(cwd, 'app', 'notes.txt'), 'mine');
    expectRefusal(['app', ...REQUIRED], /app is not empty: pass --overwrite/);
    expect(readFileSync(join(cwd, 'app', 'notes.txt'), 'utf8')).toBe('mine');
  });

  it('ignores .git when deciding that a directory is empty', () => {
    mkdirSync(join(cwd, 'app', '.git'), { recursive: true });
    expect(runCli(['app', ...REQUIRED], { cwd }).status).toBe(0);
  });

  it('--overwrite replaces generated files and leaves the rest and .git alone', () => {
    mkdirSync(join(cwd, 'app', '.git'), { recursive: true });
    writeFileSync(join(cwd, 'app', '.git', 'HEAD'), 'ref: refs/heads/main\n');
    writeFileSync(join(cwd, 'app', 'notes.txt'), 'mine');
    writeFileSync(join(cwd, 'app', '.gitignore'), 'stale');
    const result = runCli(['app', ...REQUIRED, '--overwrite'], { cwd });
    expect(result.status, result.stderr).toBe(0);
    expect(readFileSync(join(cwd, 'app', 'notes.txt'), 'utf8')).toBe('mine');
    expect(readFileSync(join(cwd, 'app', '.git', 'HEAD'), 'utf8')).toBe('ref: refs/heads/main\n');
    expect(readFileSync(join(cwd, 'app', '.gitignore'), 'utf8')).not.toBe('stale');
  });

  it('refuses a symlink that escapes the target, writing nothing anywhere', () => {
    mkdirSync(join(cwd, 'app'));
    mkdirSync(join(cwd, 'elsewhere'));
    writeFileSync(join(cwd, 'elsewhere', 'precious'), 'keep');
    // .gitignore is in every plan: writing it must not follow the link out of the project.
    symlinkSync(join(cwd, 'elsewhere', 'precious'), join(cwd, 'app', '.gitignore'));
    const result = runCli(['app', ...REQUIRED, '--overwrite'], { cwd });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/refusing to write \.gitignore: \.gitignore is a symlink that leads outside the target/);
    expect(readFileSync(join(cwd, 'elsewhere', 'precious'), 'utf8')).toBe('keep');
    expect(readdirSync(join(cwd, 'elsewhere'))).toEqual(['precious']);
    expect(readdirSync(join(cwd, 'app'))).toEqual(['.gitignore']);
  });

  it('refuses a target that is a file', () => {
    writeFileSync(join(cwd, 'app'), 'x');
    expectRefusal(['app', ...REQUIRED], /exists and is not a directory/);
  });
});

describe('success', () => {
  it('writes the stack, the answers file and a summary with services, ports and memory', () => {
    const result = runCli(['app', ...REQUIRED, '--pgvector', '--vps-memory', '2'], { cwd });
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/✔ app: express-worker stack for shop\.example\.org/);
    expect(result.stdout).toMatch(/api\s+3000\s+\d+ MiB/);
    expect(result.stdout).toMatch(/postgres\s+5432/);
    expect(result.stdout).toMatch(/memory limits: .* of 2\.0 GiB RAM/);
    expect(result.stdout).toContain('cd app');
    expect(result.stdout).toContain('npm run dev');
    expect(result.stderr).toBe('');
    const manifest = JSON.parse(readFileSync(join(cwd, 'app', '.vps-stack.json'), 'utf8'));
    expect(manifest.answers).toMatchObject({ template: 'express-worker', pgvector: true, vpsMemory: 2, domain: 'shop.example.org' });
    for (const path of Object.keys(manifest.files)) expect(existsSync(join(cwd, 'app', path)), path).toBe(true);
  });

  it('--yes takes defaults and warns, naming the files that hold placeholders', () => {
    const result = runCli(['--yes'], { cwd });
    expect(result.status, result.stderr).toBe(0);
    expect(existsSync(join(cwd, 'my-stack', '.vps-stack.json'))).toBe(true);
    expect(result.stderr).toMatch(/Placeholder --domain example\.com and --email admin@example\.com/);
    expect(result.stderr).toContain('npm create vps-stack@latest -- --upgrade --domain <yours> --email <yours>');
    // Exactly the files that change with the domain/email: found by rendering again with other values.
    expect(result.stderr).toContain('    .env.example');
    expect(result.stderr).toContain('    .vps-stack.json');
    expect(result.stderr).toContain('    nginx/conf.d/30-api.conf');
    expect(result.stderr).not.toContain('apps/api/src/config.ts'); // mentions example.com only as an example
  });

  it.each([
    ['pnpm/9.12.0 npm/? node/v20.19.0 linux x64', 'pnpm dev'],
    ['yarn/4.5.0 npm/? node/v20.19.0 linux x64', 'yarn dev'],
    ['bun/1.2.0 npm/? node/v20.19.0 linux x64', 'bun run dev'],
    ['npm/11.0.0 node/v20.19.0 linux x64', 'npm run dev'],
  ])('uses the package manager of %s in next steps', (agent, command) => {
    const result = runCli(['app', ...REQUIRED], { cwd, env: { npm_config_user_agent: agent } });
    expect(result.stdout).toContain(command);
  });
});

describe('colour', () => {
  it('writes no ANSI codes when output is not a terminal, even under CI', () => {
    const result = runCli(['app', ...REQUIRED], { cwd, env: { CI: 'true' } });
    expect(result.stdout).not.toMatch(ANSI);
    expect(runCli(['--template', 'x'], { cwd }).stderr).not.toMatch(ANSI);
  });

  it('FORCE_COLOR turns colour on, NO_COLOR wins over it', () => {
    expect(runCli(['app', ...REQUIRED], { cwd, env: { FORCE_COLOR: '1' } }).stdout).toMatch(ANSI);
    rmSync(join(cwd, 'app'), { recursive: true });
    expect(runCli(['app', ...REQUIRED], { cwd, env: { FORCE_COLOR: '1', NO_COLOR: '1' } }).stdout).not.toMatch(ANSI);
    expect(runCli(['--template', 'x'], { cwd, env: { FORCE_COLOR: '1' } }).stderr).toMatch(ANSI);
  });
});

describe('the CLI contract: modes, implied defaults, exit codes', () => {
  it.each([['--dry-run'], ['--force'], ['--dry-run', '--force']])('refuses %s without --upgrade and writes nothing', (...flags) => {
    const result = expectRefusal(['app', ...REQUIRED, ...flags], /works only with --upgrade/);
    for (const flag of flags) expect(result.stderr).toContain(`--${flag.slice(2)} works only with --upgrade`);
    expect(existsSync(join(cwd, 'app'))).toBe(false);
  });

  it('refuses --dry-run with --diff too: it would be ignored', () => {
    expectRefusal(['--diff', '--dry-run'], /--dry-run works only with --upgrade/, 2);
  });

  it('--yes --no-redis takes the worker off (its default) instead of refusing', () => {
    const result = runCli(['app', '--yes', '--no-redis'], { cwd });
    expect(result.status, result.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(cwd, 'app', '.vps-stack.json'), 'utf8'));
    expect(manifest.answers).toMatchObject({ template: 'express-worker', redis: false, workers: false });
    expect(existsSync(join(cwd, 'app', 'apps', 'worker'))).toBe(false);
    const compose = readFileSync(join(cwd, 'app', 'compose.yaml'), 'utf8');
    expect(compose).not.toMatch(/^ {2}(redis|worker):/m);
  });

  it('an explicit --workers --no-redis is still a contradiction, with --yes too', () => {
    expectRefusal(['app', '--yes', '--workers', '--no-redis'], /--workers needs Redis/);
  });

  it('--upgrade exits 2 for every error, a refused target and bad flags included', () => {
    expectRefusal(['--upgrade'], /no \.vps-stack\.json/, 2);
    expectRefusal(['--upgrade', '--vps-memory', 'lots'], /--vps-memory/, 2);
    expectRefusal(['--upgrade', '--dry-run=yes'], /--dry-run takes no value/, 2);
    // A sound project whose target refuses the write: postgres/ is a link out of the project.
    expect(runCli(['app', ...REQUIRED, '--no-pgvector'], { cwd }).status).toBe(0);
    const dir = join(cwd, 'app');
    mkdirSync(join(cwd, 'outside'));
    rmSync(join(dir, 'postgres'), { recursive: true });
    symlinkSync(join(cwd, 'outside'), join(dir, 'postgres'));
    const before = readFileSync(join(dir, '.vps-stack.json'), 'utf8');
    const refused = runCli(['--upgrade', '--force', '--pgvector'], { cwd: dir, env: { NO_COLOR: '1' } });
    expect(refused.status, refused.stdout + refused.stderr).toBe(2);
    expect(refused.stderr).toMatch(/refusing to write postgres\/init\/10-vector\.sql: postgres is a symlink that leads outside the target/);
    expect(readFileSync(join(dir, '.vps-stack.json'), 'utf8')).toBe(before);
    expect(readdirSync(join(cwd, 'outside'))).toEqual([]);
  });
});

describe('a broken package or a bug is an internal error, not bad input', () => {
  /** A copy of the built package changed by `change`, run as a user would run it. */
  function runCopy(change: (root: string) => void, args: string[], where = cwd) {
    const copy = makeOldGenerator(pkg.version, change);
    try {
      const before = readdirSync(where, { recursive: true });
      const result = spawnSync(process.execPath, [copy.bin, ...args], { cwd: where, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
      if (result.status !== 0) expect(readdirSync(where, { recursive: true }), 'nothing is written').toEqual(before);
      return result;
    } finally {
      rmSync(join(copy.root, '..'), { recursive: true, force: true });
    }
  }

  it.each([
    ['a template root is missing', (root: string) => rmSync(join(root, 'template-nest-next', 'files'), { recursive: true }), 'template-nest-next/files'],
    ['a template root is empty', (root: string) => {
      rmSync(join(root, 'template-nest-next', 'files'), { recursive: true });
      mkdirSync(join(root, 'template-nest-next', 'files'));
    }, 'template-nest-next/files'],
    ['shared-partials is missing', (root: string) => rmSync(join(root, 'shared-partials'), { recursive: true }), 'shared-partials/files'],
  ])('%s: exit 70, names what is missing, writes nothing', (_name, change, missing) => {
    const result = runCopy(change, ['app', ...REQUIRED.map((a) => (a === 'express-worker' ? 'nest-next' : a))]);
    expect(result.status, result.stderr).toBe(70);
    expect(result.stderr).toContain(`internal error in create-vps-stack ${pkg.version} (not a problem with your options)`);
    expect(result.stderr).toContain(`incomplete: ${missing} is missing or empty`);
    expect(result.stdout).not.toContain('✔');
  });

  it('an absent optional overlay folder is fine', () => {
    const result = runCopy((root) => rmSync(join(root, 'template-express-worker', 'overlays'), { recursive: true, force: true }), ['app', ...REQUIRED, '--no-workers']);
    expect(result.status, result.stderr).toBe(0);
  });

  it('a template bug (strict rendering) exits 70 with a trace, in --upgrade mode too', () => {
    const typo = (root: string) => appendTo(join(root, 'shared-partials', 'files', '_dockerignore.ejs'), '<%= m.noSuchField %>\n');
    const created = runCopy(typo, ['app', ...REQUIRED]);
    expect(created.status, created.stderr).toBe(70);
    expect(created.stderr).toMatch(/internal error in create-vps-stack .*noSuchField/s);
    expect(created.stderr).not.toMatch(/^error:/m);
    expect(created.stderr).toMatch(/\n\s+at /); // the stack trace for the report
    // The same bug met by --upgrade: not 1 (conflicts) nor 2 (bad input), and the project is untouched.
    expect(runCli(['app', ...REQUIRED], { cwd }).status).toBe(0);
    const upgraded = runCopy(typo, ['--upgrade', '--force'], join(cwd, 'app'));
    expect(upgraded.status, upgraded.stderr).toBe(70);
    expect(upgraded.stderr).toMatch(/internal error in create-vps-stack .*noSuchField/s);
  });
});
