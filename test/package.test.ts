// The published package: no runtime dependencies, only what runs, and a bin that
// scaffolds on its own after `npm install <tarball>` in an empty directory.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pkg from '../package.json' with { type: 'json' };

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, { cwd, encoding: 'utf8', env: { ...process.env, npm_config_loglevel: 'error', npm_config_fund: 'false', npm_config_audit: 'false' } });

let work: string;
let tarball: string;
let packed: Array<{ path: string }>;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'cvs-pack-'));
  // --ignore-scripts: the suite's global setup has built dist/ already.
  const [report] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', work], ROOT));
  tarball = join(work, report.filename);
  packed = report.files;
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('npm package', () => {
  it('has no runtime dependencies', () => {
    expect((pkg as { dependencies?: object }).dependencies ?? {}).toEqual({});
    for (const name of ['prompts', 'kolorist', 'ejs', 'fs-extra']) {
      expect(pkg.devDependencies).toHaveProperty(name);
    }
  });

  it('ships only what runs: the bin, the bundle, templates, partials', () => {
    const tops = new Set(packed.map((f) => f.path.split('/')[0]));
    for (const top of tops) {
      expect(['index.js', 'dist', 'package.json', 'README.md', 'LICENSE', 'shared-partials'].includes(top) || top.startsWith('template-'), top).toBe(true);
    }
    expect(tops).toContain('dist');
    // Generator sources and tests stay home (templates do ship .ts files: they are the generated apps).
    expect(packed.filter((f) => /^(src|test|scripts)\//.test(f.path) || f.path === 'index.ts')).toEqual([]);
    expect(packed.filter((f) => /(^|\/)node_modules\//.test(f.path))).toEqual([]);
  });

  it('installs into an empty directory and scaffolds with that bin alone', () => {
    const consumer = join(work, 'consumer');
    execFileSync('mkdir', ['-p', consumer]);
    writeFileSync(join(consumer, 'package.json'), '{"name":"consumer","private":true}');
    npm(['install', '--offline', '--no-package-lock', tarball], consumer);
    const installed = JSON.parse(readFileSync(join(consumer, 'node_modules/create-vps-stack/package.json'), 'utf8'));
    expect(installed.version).toBe(pkg.version);
    // Only our package: nothing pulled in beside it.
    expect(execFileSync('ls', [join(consumer, 'node_modules')], { encoding: 'utf8' }).trim().split('\n').filter((n) => !n.startsWith('.'))).toEqual(['create-vps-stack']);

    const bin = join(consumer, 'node_modules/.bin/create-vps-stack');
    const out = execFileSync(bin, ['shop', '--template', 'fastapi-oracle', '--domain', 'shop.example.org', '--email', 'ops@example.org'], {
      cwd: consumer, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' },
    });
    expect(out).toMatch(/✔ shop: fastapi-oracle stack for shop\.example\.org/);
    expect(existsSync(join(consumer, 'shop', '.vps-stack.json'))).toBe(true);
    expect(existsSync(join(consumer, 'shop', '.gitignore'))).toBe(true); // stored as _gitignore, npm would drop .gitignore
  });
});
