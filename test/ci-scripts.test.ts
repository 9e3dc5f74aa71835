// The project's own shell scripts get the same bar as the generated ones.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { toolAvailable } from './support/stack.js';

const CI_DIR = new URL('../.ci/', import.meta.url).pathname;
/** Every shell script under .ci/ (run, install scripts, stand-in image entrypoints): by name or shebang. */
const scripts = (readdirSync(CI_DIR, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
  .filter((entry) => entry.isFile())
  .map((entry) => join(entry.parentPath, entry.name))
  .filter((path) => path.endsWith('.sh') || /^#!.*\b(ba)?sh\b/.test(readFileSync(path, 'utf8').split('\n', 1)[0]))
  .sort();
it('finds the .ci scripts', () => {
  expect(scripts).toContain(`${CI_DIR}run`);
  expect(scripts.length).toBeGreaterThan(8);
});

describe.skipIf(!toolAvailable('shellcheck'))('.ci scripts', () => {
  it.each(scripts)('%s passes shellcheck and bash -n', (script) => {
    const check = spawnSync('shellcheck', ['-x', '-S', 'style', script], { encoding: 'utf8' });
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
    expect(spawnSync('bash', ['-n', script]).status).toBe(0);
  });
});

// Debian's mirror can name a revision whose .dsc/.debian.tar.xz are gone (404) while the upstream
// orig tarball is still there: fetch_source must then unpack the orig tarball, checked against the
// SHA256 the index gives. A stand-in apt-get fails `apt-get source` the way the mirror did and
// answers `--print-uris` with a file:// tarball, so the fallback runs for real, offline.
describe('fetch_source (.ci/apt-lib.sh) when the Debian revision is gone', () => {
  const fakeMirror = (sumOverride?: string) => {
    const dir = mkdtempSync(join(tmpdir(), 'cvs-fetch-'));
    mkdirSync(join(dir, 'upstream/demo-1.2.3'), { recursive: true });
    writeFileSync(join(dir, 'upstream/demo-1.2.3/configure'), '#!/bin/sh\necho upstream\n');
    const tarball = join(dir, 'demo_1.2.3.orig.tar.gz');
    spawnSync('tar', ['-czf', tarball, '-C', join(dir, 'upstream'), 'demo-1.2.3']);
    const sum = sumOverride ?? createHash('sha256').update(readFileSync(tarball)).digest('hex');
    mkdirSync(join(dir, 'bin'));
    // As the real apt-get: `source` fetches the orig tarball into the current folder before the
    // revision's files 404, and `--print-uris` leaves out what the current folder already has.
    writeFileSync(join(dir, 'bin/apt-get'), [
      '#!/bin/sh',
      'case " $* " in',
      `  *" --print-uris "*) echo "'file://${join(dir, 'demo_1.2.3-4.dsc')}' demo_1.2.3-4.dsc 10 SHA256:00"`,
      `     [ -e demo_1.2.3.orig.tar.gz ] || echo "'file://${tarball}' demo_1.2.3.orig.tar.gz 100 SHA256:${sum}" ;;`,
      `  *) cp '${tarball}' .; echo 'E: Failed to fetch demo_1.2.3-4.dsc  404  Not Found' >&2; exit 100 ;;`,
      'esac',
    ].join('\n'), { mode: 0o755 });
    mkdirSync(join(dir, 'work'));
    return dir;
  };
  const fetch = (dir: string) => spawnSync('bash', ['-c', `sudo=(); source ${CI_DIR}apt-lib.sh; fetch_source demo trixie ${dir}/work`], {
    encoding: 'utf8', env: { ...process.env, PATH: `${dir}/bin:${process.env.PATH}` },
  });
  const made: string[] = [];
  afterAll(() => made.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

  it('unpacks the upstream orig tarball named by the index and prints its tree', () => {
    const dir = fakeMirror();
    made.push(dir);
    const result = fetch(dir);
    expect(result.stderr).toMatch(/falling back to the upstream orig tarball/);
    expect(result.status).toBe(0);
    expect(result.stdout.trim()).toBe(`${dir}/work/demo-1.2.3`);
    expect(readFileSync(join(dir, 'work/demo-1.2.3/configure'), 'utf8')).toMatch(/upstream/);
  });

  it('refuses a tarball whose SHA256 differs from the index', () => {
    const dir = fakeMirror('0'.repeat(64));
    made.push(dir);
    const result = fetch(dir);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/checksum mismatch/);
    expect(existsSync(join(dir, 'work/demo-1.2.3'))).toBe(false);
  });
});
