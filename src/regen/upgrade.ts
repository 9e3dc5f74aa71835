// --upgrade: bring a generated project to the running generator (and changed answers) without
// losing the user's edits. Per file: base (what the recorded version wrote), ours (disk),
// theirs (the new render).
import { spawnSync } from 'node:child_process';
import { mergeDiff3 } from 'node-diff3';
import { buildManifest, MANIFEST_PATH, sha256 } from '../manifest.js';
import type { Answers } from '../options.js';
import type { FilePlan, PlannedFile } from '../render/plan.js';
import { modeFor } from '../render/plan.js';
import { UserError } from '../cli/errors.js';
import { style } from '../cli/ui.js';
import { writePlan } from '../writer.js';
import { obtainBase } from './base.js';
import { compareVersions, isSecretPath, readManifest, readProjectFile } from './project.js';
import { defaultedNotes, regenerate } from './regenerate.js';

export const SIDE_BY_SIDE_SUFFIX = '.vps-stack-new';

export type ActionKind =
  | 'update' // you never changed it: the new version replaces it
  | 'keep' // you changed it, the template did not: yours stays
  | 'merge' // both changed, merged cleanly
  | 'conflict' // both changed the same lines: merged with conflict markers
  | 'add' // new in the template
  | 'remove' // the template dropped it and you never changed it
  | 'keep-dropped' // the template dropped it but you changed it: kept
  | 'keep-deleted' // you deleted it: stays deleted
  | 'side-by-side'; // no base to merge with: the new version is written beside yours

export interface Action {
  path: string;
  kind: ActionKind;
  /** What to write at `path` (or at path + SIDE_BY_SIDE_SUFFIX). */
  content?: Buffer;
}

interface Versions {
  base?: Buffer;
  ours?: Buffer;
  theirs?: Buffer;
  /** Hash the manifest recorded for what the old version wrote. */
  recorded?: string;
}

const same = (a?: Buffer, b?: Buffer) => a !== undefined && b !== undefined && a.equals(b);
const lines = (b?: Buffer) => (b ?? Buffer.alloc(0)).toString('utf8').split('\n');

function merge(path: string, v: Versions, labels: { base: string; theirs: string }): Action {
  const result = mergeDiff3(lines(v.ours), lines(v.base), lines(v.theirs), {
    label: { a: `yours (${path})`, o: labels.base, b: labels.theirs },
  });
  return { path, kind: result.conflict ? 'conflict' : 'merge', content: Buffer.from(result.result.join('\n')) };
}

/** The decision for one file when the base is known. */
export function decideWithBase(path: string, v: Versions, labels: { base: string; theirs: string }): Action | undefined {
  if (v.theirs === undefined) {
    if (v.ours === undefined) return undefined;
    return same(v.ours, v.base) ? { path, kind: 'remove' } : { path, kind: 'keep-dropped' };
  }
  if (v.ours === undefined) return v.base === undefined ? { path, kind: 'add', content: v.theirs } : { path, kind: 'keep-deleted' };
  if (same(v.ours, v.theirs)) return undefined;
  if (same(v.ours, v.base)) return { path, kind: 'update', content: v.theirs };
  if (same(v.theirs, v.base)) return { path, kind: 'keep' };
  return merge(path, v, labels);
}

/** The decision for one file when only the manifest's hashes are known. */
export function decideWithoutBase(path: string, v: Versions): Action | undefined {
  const untouched = v.ours !== undefined && v.recorded === `sha256:${sha256(v.ours)}`;
  if (v.theirs === undefined) {
    if (v.ours === undefined) return undefined;
    return untouched ? { path, kind: 'remove' } : { path, kind: 'keep-dropped' };
  }
  if (v.ours === undefined) return v.recorded === undefined ? { path, kind: 'add', content: v.theirs } : { path, kind: 'keep-deleted' };
  if (same(v.ours, v.theirs)) return undefined;
  return untouched ? { path, kind: 'update', content: v.theirs } : { path, kind: 'side-by-side', content: v.theirs };
}

function checkGitClean(dir: string): string | undefined {
  const result = spawnSync('git', ['-C', dir, 'status', '--porcelain'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) {
    return `${dir} is not a git repository: commit the project first so the upgrade can be reviewed and undone`;
  }
  if (result.stdout.trim() !== '') {
    return 'the git tree has uncommitted changes: commit or stash them first so the upgrade can be reviewed and undone';
  }
  return undefined;
}

const DESCRIPTIONS: Record<ActionKind, string> = {
  update: 'updated (you had not changed them)',
  keep: 'kept your version (the template did not change them)',
  merge: 'merged your changes with the template changes',
  conflict: 'CONFLICTS: both changed the same lines; resolve the <<<<<<< markers',
  add: 'added (new in the template)',
  remove: 'removed (the template dropped them; you had not changed them)',
  'keep-dropped': 'kept (the template dropped them, but you changed them)',
  'keep-deleted': 'left deleted (you deleted them)',
  'side-by-side': `REVIEW: no base version to merge with; the new version is beside yours as <name>${SIDE_BY_SIDE_SUFFIX}`,
};

export interface UpgradeOptions {
  dir: string;
  overrides: Partial<Answers>;
  runningVersion: string;
  env: NodeJS.ProcessEnv;
  force: boolean;
  dryRun: boolean;
  say: (text: string) => void;
}

/** Returns the exit code: 0 done, 1 done but conflicts or side-by-side files need review. */
export async function upgradeCommand(o: UpgradeOptions): Promise<number> {
  const manifest = readManifest(o.dir);
  const recordedVersion = manifest.generator.version;
  if (compareVersions(recordedVersion, o.runningVersion) > 0) {
    throw new UserError(`${MANIFEST_PATH} was written by create-vps-stack ${recordedVersion}, newer than this ${o.runningVersion}: ` +
      `run npm create vps-stack@${recordedVersion} (or later) instead of downgrading`, 2);
  }
  if (!o.dryRun) {
    const dirty = checkGitClean(o.dir);
    if (dirty && !o.force) throw new UserError(`${dirty} (or pass --force)`, 2);
  }

  const theirs = await regenerate(manifest, o.overrides);
  for (const note of defaultedNotes(theirs, recordedVersion)) o.say(style.yellow(`⚠ ${note}${o.dryRun ? '' : ` ${MANIFEST_PATH} records it.`}`));
  const base = await obtainBase(o.dir, manifest, o.runningVersion, o.env);
  if (!base.files) o.say(style.yellow(`⚠ ${base.reason}; deciding from the hashes in ${MANIFEST_PATH} instead`));
  const labels = { base: `create-vps-stack ${recordedVersion}`, theirs: `create-vps-stack ${o.runningVersion}` };

  const theirFiles = new Map(theirs.plan.files.map((f) => [f.path, f.content]));
  const paths = new Set([...theirFiles.keys(), ...Object.keys(manifest.files), ...(base.files?.keys() ?? [])]);
  const actions: Action[] = [];
  for (const path of [...paths].sort()) {
    if (path === MANIFEST_PATH || isSecretPath(path)) continue;
    const v: Versions = { base: base.files?.get(path), ours: readProjectFile(o.dir, path), theirs: theirFiles.get(path), recorded: manifest.files[path] };
    const action = base.files ? decideWithBase(path, v, labels) : decideWithoutBase(path, v);
    if (action) actions.push(action);
  }

  for (const kind of Object.keys(DESCRIPTIONS) as ActionKind[]) {
    const group = actions.filter((a) => a.kind === kind);
    if (group.length === 0) continue;
    const colour = kind === 'conflict' || kind === 'side-by-side' ? style.red : style.bold;
    o.say(colour(`${DESCRIPTIONS[kind]}:`));
    for (const a of group) o.say(`  ${a.path}${kind === 'side-by-side' ? ` → ${a.path}${SIDE_BY_SIDE_SUFFIX}` : ''}`);
  }
  if (actions.length === 0) o.say(style.green(`✔ already up to date with create-vps-stack ${o.runningVersion}`));

  const writes: PlannedFile[] = actions
    .filter((a) => a.content !== undefined)
    .map((a) => {
      const path = a.kind === 'side-by-side' ? `${a.path}${SIDE_BY_SIDE_SUFFIX}` : a.path;
      return { path, content: a.content!, mode: modeFor(a.path, theirFiles.get(a.path) ?? a.content!) };
    });
  const manifestContent = Buffer.from(`${JSON.stringify(buildManifest(theirs.plan, theirs.model, o.runningVersion), null, 2)}\n`);
  const plan: FilePlan = { files: [...writes, { path: MANIFEST_PATH, content: manifestContent, mode: 0o644 }] };

  if (o.dryRun) {
    o.say(style.dim('dry run: nothing was written'));
  } else {
    writePlan(o.dir, plan, { remove: actions.filter((a) => a.kind === 'remove').map((a) => a.path) });
  }
  const needsReview = actions.some((a) => a.kind === 'conflict' || a.kind === 'side-by-side');
  return needsReview ? 1 : 0;
}
