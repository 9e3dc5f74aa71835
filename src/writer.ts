// file plan → disk, all or nothing. The writer decides no content: it checks that
// every path stays inside the target, stages the files, then moves them into place,
// undoing every step if any of them fails.
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep, isAbsolute } from 'node:path';
import type { FilePlan } from './render/plan.js';

export class TargetError extends Error {}

/** Entries in the target other than .git; empty when it does not exist. */
export function existingEntries(target: string): string[] {
  if (!existsSync(target)) return [];
  if (!lstatSync(target).isDirectory()) throw new TargetError(`${target} exists and is not a directory`);
  return readdirSync(target).filter((name) => name !== '.git');
}

function isInside(root: string, candidate: string): boolean {
  const rel = relative(root, candidate);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/** Refuses a plan path that could land outside the target, including through symlinks already on disk. */
function checkPath(target: string, targetReal: string, path: string): string {
  const dest = resolve(target, path);
  if (isAbsolute(path) || !isInside(target, dest) || dest === target) {
    throw new TargetError(`refusing to write ${path}: outside ${target}`);
  }
  let current = target;
  for (const segment of relative(target, dest).split(sep)) {
    current = join(current, segment);
    let stat;
    try {
      stat = lstatSync(current);
    } catch {
      break; // nothing on disk from here down
    }
    if (stat.isSymbolicLink()) {
      let real: string;
      try {
        real = realpathSync(current);
      } catch {
        throw new TargetError(`refusing to write ${path}: ${relative(target, current)} is a dangling symlink`);
      }
      if (!isInside(targetReal, real)) {
        throw new TargetError(`refusing to write ${path}: ${relative(target, current)} is a symlink that leads outside the target`);
      }
    }
    if (current === dest && stat.isDirectory()) {
      throw new TargetError(`refusing to write ${path}: a directory is in the way`);
    }
  }
  return dest;
}

export interface WriteOptions {
  /** Paths to delete in the same transaction (an upgrade dropping files the template no longer has). */
  remove?: readonly string[];
  /** Test hook: called before each file is moved into place. */
  beforePlace?: (path: string) => void;
}

/** Writes every file of the plan into target, or leaves target exactly as it was and throws. */
export function writePlan(targetInput: string, plan: FilePlan, options: WriteOptions = {}): void {
  const target = resolve(targetInput);
  const undo: Array<() => void> = [];
  const rollback = () => {
    for (const step of undo.reverse()) {
      try {
        step();
      } catch {
        // keep undoing the rest
      }
    }
  };

  try {
    // Create missing parents of the target, remembering them so a failure removes them again.
    const missing: string[] = [];
    for (let dir = target; !existsSync(dir); dir = dirname(dir)) missing.unshift(dir);
    for (const dir of missing) {
      mkdirSync(dir);
      undo.push(() => rmdirSync(dir));
    }
    const targetReal = realpathSync(target);
    const destinations = plan.files.map((file) => checkPath(target, targetReal, file.path));
    const removals = (options.remove ?? []).map((path) => checkPath(target, targetReal, path));

    // Stage inside the target so every rename stays on one filesystem.
    const staging = mkdtempSync(join(target, '.vps-stack-staging-'));
    const backups = join(staging, '.replaced');
    undo.push(() => rmSync(staging, { recursive: true, force: true }));
    plan.files.forEach((file, i) => {
      const staged = join(staging, String(i));
      writeFileSync(staged, file.content, { mode: file.mode });
      chmodSync(staged, file.mode); // the umask must not decide whether scripts are executable
    });

    plan.files.forEach((file, i) => {
      options.beforePlace?.(file.path);
      const dest = destinations[i];
      const created: string[] = [];
      for (let dir = dirname(dest); !existsSync(dir); dir = dirname(dir)) created.unshift(dir);
      for (const dir of created) {
        mkdirSync(dir);
        undo.push(() => rmdirSync(dir));
      }
      if (existsSync(dest) || isDanglingLink(dest)) {
        mkdirSync(backups, { recursive: true });
        const backup = join(backups, String(i));
        renameSync(dest, backup);
        undo.push(() => renameSync(backup, dest));
      }
      renameSync(join(staging, String(i)), dest);
      undo.push(() => rmSync(dest, { force: true }));
    });

    removals.forEach((dest, i) => {
      if (!existsSync(dest)) return;
      mkdirSync(backups, { recursive: true });
      const backup = join(backups, `removed-${i}`);
      renameSync(dest, backup);
      undo.push(() => renameSync(backup, dest));
    });

    rmSync(staging, { recursive: true, force: true });
  } catch (error) {
    rollback();
    throw error;
  }
}

function isDanglingLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

