// Drives the prompts through a real pseudo-terminal, keystroke by keystroke.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KEY, ptySession, tempDir } from './support/cli.js';
import { toolAvailable } from './support/stack.js';

let cwd: string;
beforeEach(() => {
  cwd = tempDir();
});
afterEach(() => rmSync(cwd, { recursive: true, force: true }));

describe.skipIf(!toolAvailable('script'))('interactive prompts', () => {
  it('asks only what flags left open, skips Redis when workers are chosen, validates inline', async () => {
    const session = ptySession(['shop', '--domain', 'shop.example.org', '--email', 'ops@example.org', '--ci', 'none'], cwd);
    await session.waitFor('Stack');
    session.send(KEY.enter); // the default: express-worker
    await session.waitFor('Background worker service?');
    session.send(KEY.enter); // default yes for express-worker
    await session.waitFor('Redis: included, the worker queue needs it');
    await session.waitFor('pgvector');
    session.send('y'); // confirm prompts take y/n without Enter
    await session.waitFor('Cloudflare');
    session.send(KEY.enter);
    await session.waitFor('VPS memory in GiB');
    session.send(KEY.backspace + '0' + KEY.enter); // "4" → "0": rejected inline
    await session.waitFor('--vps-memory must be a number from 1 to 512');
    session.send(KEY.backspace + '2' + KEY.enter);
    await session.waitFor('VPS vCPUs');
    session.send(KEY.enter);
    await session.waitFor('Offsite backups');
    session.send(KEY.enter);
    expect(await session.exit()).toBe(0);

    const screen = session.visible();
    expect(screen).not.toContain('Redis?'); // never asked
    expect(screen).not.toContain('Domain'); // given as a flag
    expect(screen).not.toContain('CI/CD');
    const manifest = JSON.parse(readFileSync(join(cwd, 'shop', '.vps-stack.json'), 'utf8'));
    expect(manifest.answers).toEqual({
      template: 'express-worker', domain: 'shop.example.org', email: 'ops@example.org', workers: true, redis: true,
      pgvector: true, cloudflare: false, vpsMemory: 2, vpsCpus: 2, ci: 'none', backupRemote: 'none',
    });
  });

  it('asks for the directory, then Redis when there is no worker', async () => {
    const session = ptySession(['--template', 'fastapi-oracle', '--domain', 'shop.example.org', '--email', 'ops@example.org',
      '--pgvector', '--cloudflare', '--vps-memory', '2', '--vps-cpus', '1', '--ci', 'github', '--backup-remote', 'none'], cwd);
    await session.waitFor('Project directory');
    session.send('oracle-shop' + KEY.enter);
    await session.waitFor('Background worker service?');
    session.send('n');
    await session.waitFor('Redis?');
    session.send('n');
    expect(await session.exit()).toBe(0);
    const manifest = JSON.parse(readFileSync(join(cwd, 'oracle-shop', '.vps-stack.json'), 'utf8'));
    expect(manifest.answers).toMatchObject({ template: 'fastapi-oracle', workers: false, redis: false });
  });

  it('Ctrl-C cancels with exit 130 and writes nothing', async () => {
    const session = ptySession(['shop'], cwd);
    await session.waitFor('Stack');
    session.send(KEY.ctrlC);
    expect(await session.exit()).toBe(130);
    expect(session.visible()).toContain('Operation cancelled');
    expect(readdirSync(cwd)).toEqual([]);
  });

  it('Esc cancels too', async () => {
    const session = ptySession(['shop', '--template', 'nest-next'], cwd);
    await session.waitFor('Domain');
    session.send(KEY.escape);
    expect(await session.exit()).toBe(130);
    expect(existsSync(join(cwd, 'shop'))).toBe(false);
  });

  it('a non-empty directory defaults to cancel', async () => {
    mkdirSync(join(cwd, 'shop'));
    writeFileSync(join(cwd, 'shop', 'notes.txt'), 'mine');
    const session = ptySession(['shop', '--template', 'express-worker', '--domain', 'shop.example.org', '--email', 'ops@example.org',
      '--workers', '--no-pgvector', '--no-cloudflare', '--vps-memory', '4', '--vps-cpus', '2', '--ci', 'none', '--backup-remote', 'none'], cwd);
    await session.waitFor('is not empty');
    session.send(KEY.enter);
    expect(await session.exit()).toBe(130);
    expect(readdirSync(join(cwd, 'shop'))).toEqual(['notes.txt']);
  });

  it('a non-empty directory can be overwritten from the prompt', async () => {
    mkdirSync(join(cwd, 'shop'));
    writeFileSync(join(cwd, 'shop', 'notes.txt'), 'mine');
    const session = ptySession(['shop', '--template', 'express-worker', '--domain', 'shop.example.org', '--email', 'ops@example.org',
      '--workers', '--no-pgvector', '--no-cloudflare', '--vps-memory', '4', '--vps-cpus', '2', '--ci', 'none', '--backup-remote', 'none'], cwd);
    await session.waitFor('is not empty');
    session.send(KEY.down + KEY.enter);
    expect(await session.exit()).toBe(0);
    expect(readFileSync(join(cwd, 'shop', 'notes.txt'), 'utf8')).toBe('mine');
    expect(existsSync(join(cwd, 'shop', '.vps-stack.json'))).toBe(true);
  });
});
