import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FilePlan } from '../src/render/plan.js';
import { existingEntries, TargetError, writePlan } from '../src/writer.js';

const plan = (...files: Array<[string, string, (0o644 | 0o755)?]>): FilePlan => ({
  files: files.map(([path, text, mode]) => ({ path, content: Buffer.from(text), mode: mode ?? 0o644 })),
});

/** Every path under dir with its content (or "<dir>"), to compare trees before and after. */
function snapshotTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const full = join(entry.parentPath, entry.name);
    const rel = full.slice(dir.length + 1);
    out[rel] = entry.isSymbolicLink() ? `-> link` : entry.isDirectory() ? '<dir>' : readFileSync(full, 'utf8');
  }
  return out;
}

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'cvs-writer-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('writePlan', () => {
  it('creates the target and its parents, writes contents and modes', () => {
    const target = join(root, 'a', 'b', 'proj');
    writePlan(target, plan(['README.md', 'hi'], ['scripts/run.sh', '#!/bin/sh\n', 0o755], ['deep/x/y.txt', 'y']));
    expect(readFileSync(join(target, 'README.md'), 'utf8')).toBe('hi');
    expect(statSync(join(target, 'scripts/run.sh')).mode & 0o777).toBe(0o755);
    expect(statSync(join(target, 'README.md')).mode & 0o777).toBe(0o644);
    expect(readdirSync(target).sort()).toEqual(['README.md', 'deep', 'scripts']); // no staging left behind
  });

  it('replaces generated files and leaves other files and .git alone', () => {
    mkdirSync(join(root, 'p', '.git'), { recursive: true });
    writeFileSync(join(root, 'p', '.git', 'HEAD'), 'ref: main');
    writeFileSync(join(root, 'p', 'README.md'), 'old');
    writeFileSync(join(root, 'p', 'notes.txt'), 'mine');
    writePlan(join(root, 'p'), plan(['README.md', 'new']));
    expect(snapshotTree(join(root, 'p'))).toEqual({ '.git': '<dir>', '.git/HEAD': 'ref: main', 'README.md': 'new', 'notes.txt': 'mine' });
  });

  it('leaves the target exactly as it was when a step fails midway', () => {
    const target = join(root, 'p');
    mkdirSync(join(target, 'scripts'), { recursive: true });
    writeFileSync(join(target, 'README.md'), 'old readme');
    writeFileSync(join(target, 'scripts', 'keep.sh'), 'keep');
    const before = snapshotTree(target);
    let placed = 0;
    expect(() =>
      writePlan(target, plan(['README.md', 'new'], ['new/dir/file.txt', 'x'], ['scripts/keep.sh', 'overwritten'], ['z.txt', 'z']), {
        beforePlace: () => {
          if (++placed === 4) throw new Error('disk full');
        },
      }),
    ).toThrow('disk full');
    expect(snapshotTree(target)).toEqual(before);
  });

  it('removes a target it created when writing fails', () => {
    const target = join(root, 'fresh', 'proj');
    expect(() => writePlan(target, plan(['a', 'a']), { beforePlace: () => { throw new Error('boom'); } })).toThrow('boom');
    expect(readdirSync(root)).toEqual([]);
  });

  it('refuses paths that leave the target', () => {
    for (const path of ['../evil', 'a/../../evil', '/etc/passwd']) {
      expect(() => writePlan(join(root, 'p'), plan([path, 'x']))).toThrow(TargetError);
    }
    expect(readdirSync(root)).toEqual([]);
  });

  it('refuses symlinks that lead outside the target, nothing written', () => {
    const target = join(root, 'p');
    const outside = join(root, 'outside');
    mkdirSync(target);
    mkdirSync(outside);
    symlinkSync(outside, join(target, 'scripts'));
    const before = snapshotTree(target);
    expect(() => writePlan(target, plan(['README.md', 'x'], ['scripts/run.sh', 'x']))).toThrow(/symlink that leads outside/);
    expect(readdirSync(outside)).toEqual([]);
    expect(snapshotTree(target)).toEqual(before);
  });

  it('follows symlinks that stay inside the target', () => {
    const target = join(root, 'p');
    mkdirSync(join(target, 'real'), { recursive: true });
    symlinkSync(join(target, 'real'), join(target, 'link'));
    writePlan(target, plan(['link/file.txt', 'ok']));
    expect(readFileSync(join(target, 'real', 'file.txt'), 'utf8')).toBe('ok');
    expect(lstatSync(join(target, 'link')).isSymbolicLink()).toBe(true);
  });

  it('refuses to replace a directory with a file', () => {
    mkdirSync(join(root, 'p', 'README.md'), { recursive: true });
    expect(() => writePlan(join(root, 'p'), plan(['README.md', 'x']))).toThrow(/directory is in the way/);
  });
});

describe('existingEntries', () => {
  it('ignores .git and reports a file target', () => {
    mkdirSync(join(root, 'p', '.git'), { recursive: true });
    expect(existingEntries(join(root, 'p'))).toEqual([]);
    expect(existingEntries(join(root, 'missing'))).toEqual([]);
    writeFileSync(join(root, 'file'), '');
    expect(() => existingEntries(join(root, 'file'))).toThrow(/not a directory/);
  });
});
