// --diff: what the current generator would write for the recorded answers, against the disk.
import { MANIFEST_PATH } from '../manifest.js';
import type { Answers } from '../options.js';
import { style } from '../cli/ui.js';
import { isSecretPath, readManifest, readProjectFile } from './project.js';
import { defaultedNotes, regenerate } from './regenerate.js';
import { unifiedDiff } from './text-diff.js';

export interface FileDifference {
  path: string;
  kind: 'added' | 'changed' | 'removed';
  disk?: Buffer;
  rendered?: Buffer;
}

/** Differences between disk and a fresh render; never reads .env files. */
export async function computeDifferences(dir: string, overrides: Partial<Answers>): Promise<{ differences: FileDifference[]; notes: string[] }> {
  const manifest = readManifest(dir);
  const regenerated = await regenerate(manifest, overrides);
  const { plan } = regenerated;
  const differences: FileDifference[] = [];
  const planned = new Set<string>();
  for (const file of plan.files) {
    planned.add(file.path);
    if (isSecretPath(file.path) || file.path === MANIFEST_PATH) continue;
    const disk = readProjectFile(dir, file.path);
    if (disk === undefined) differences.push({ path: file.path, kind: 'added', rendered: file.content });
    else if (!disk.equals(file.content)) differences.push({ path: file.path, kind: 'changed', disk, rendered: file.content });
  }
  for (const path of Object.keys(manifest.files)) {
    if (planned.has(path) || isSecretPath(path)) continue;
    const disk = readProjectFile(dir, path);
    if (disk !== undefined) differences.push({ path, kind: 'removed', disk });
  }
  differences.sort((a, b) => (a.path < b.path ? -1 : 1));
  return { differences, notes: defaultedNotes(regenerated, manifest.generator.version) };
}

/** Prints the diff; returns 0 when identical, 1 when different. */
export async function diffCommand(dir: string, overrides: Partial<Answers>, say: (text: string) => void): Promise<number> {
  const { differences, notes } = await computeDifferences(dir, overrides);
  for (const note of notes) say(style.yellow(`⚠ ${note}`));
  for (const d of differences) {
    say(style.bold(`${d.kind}: ${d.path}`));
    say(unifiedDiff(d.path, d.disk, d.rendered));
  }
  const count = (kind: FileDifference['kind']) => differences.filter((d) => d.kind === kind).length;
  if (differences.length === 0) {
    say(style.green('✔ identical: the project matches what this generator writes for its answers'));
    return 0;
  }
  say(`${count('changed')} changed, ${count('added')} added, ${count('removed')} removed`);
  return 1;
}
