// The published package: no runtime dependencies, only what runs, every template and partial
// file, and a bin that, installed alone from the tarball, writes exactly what the source build writes.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pkg from '../package.json' with { type: 'json' };
import { ANSWER_OPTIONS, TEMPLATES } from '../src/options.js';

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

/** The source files of the package's templates and partials: tracked, plus new files git would add. */
function templateSources(): string[] {
  const listed = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z', '--', 'shared-partials', ...TEMPLATES.map((t) => `template-${t}`)],
    { cwd: ROOT, encoding: 'utf8' });
  return listed.split('\0').filter((path) => path !== '' && existsSync(join(ROOT, path)));
}

/** Flags for every answer option at one end: every switch on (and choices at their non-'none' value), or all off. */
function extremeFlags(template: string, on: boolean): string[] {
  const flags = ['--template', template, '--domain', 'shop.example.org', '--email', 'ops@example.org'];
  for (const option of ANSWER_OPTIONS) {
    if (option.type === 'boolean') flags.push(on ? `--${option.flag}` : `--no-${option.flag}`);
    else if (option.type === 'choice' && option.key !== 'template') {
      const choices = option.choices!;
      flags.push(`--${option.flag}`, on ? choices.find((c) => c !== 'none')! : choices.includes('none') ? 'none' : choices[0]);
    } else if (option.type === 'number') flags.push(`--${option.flag}`, on ? '8' : '1');
  }
  return flags;
}

/** Every file under dir: path → [mode, bytes]. */
function tree(dir: string): Map<string, { mode: number; content: Buffer }> {
  const files = new Map<string, { mode: number; content: Buffer }>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    files.set(full.slice(dir.length + 1), { mode: statSync(full).mode & 0o777, content: readFileSync(full) });
  }
  return files;
}

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

  it('holds every template and shared-partials file of the source', () => {
    const sources = templateSources();
    // The list itself must be the real one: every template has its files, the partials theirs.
    for (const root of ['shared-partials/files/', ...TEMPLATES.map((t) => `template-${t}/files/`)]) {
      expect(sources.filter((p) => p.startsWith(root)).length, root).toBeGreaterThan(5);
    }
    const inTarball = new Set(packed.map((f) => f.path));
    expect(sources.filter((path) => !inTarball.has(path)), 'source files the tarball lacks').toEqual([]);
  });

  it('installs into an empty directory and scaffolds with that bin alone', () => {
    const consumer = join(work, 'consumer');
    mkdirSync(consumer, { recursive: true });
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

  describe.each(TEMPLATES)('installed tarball and source build write the same %s stack', (template) => {
    it.each([['every option on', true], ['every option off', false]])('%s: same paths, bytes and modes', (_name, on) => {
      const consumer = join(work, 'consumer');
      const bin = join(consumer, 'node_modules/.bin/create-vps-stack');
      expect(existsSync(bin), 'the install test runs first').toBe(true);
      const out = mkdtempSync(join(work, 'cmp-'));
      const flags = extremeFlags(template, on);
      const env = { ...process.env, NO_COLOR: '1' };
      // The same project name (it is in many files) in two parent folders.
      for (const side of ['tarball', 'source']) mkdirSync(join(out, side));
      execFileSync(bin, ['shop', ...flags], { cwd: join(out, 'tarball'), encoding: 'utf8', env });
      execFileSync(process.execPath, [join(ROOT, 'index.js'), 'shop', ...flags], { cwd: join(out, 'source'), encoding: 'utf8', env });
      const packedTree = tree(join(out, 'tarball', 'shop'));
      const sourceTree = tree(join(out, 'source', 'shop'));
      expect([...packedTree.keys()].sort()).toEqual([...sourceTree.keys()].sort());
      expect(sourceTree.has('compose.yaml') && [...sourceTree.keys()].some((p) => p.startsWith('apps/'))).toBe(true);
      for (const [path, source] of sourceTree) {
        const fromTarball = packedTree.get(path)!;
        expect(fromTarball.mode.toString(8), path).toBe(source.mode.toString(8));
        expect(fromTarball.content.equals(source.content), path).toBe(true);
      }
    });
  });
});
