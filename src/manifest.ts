// .vps-stack.json: what generated this repo, from which answers, and a hash of each file,
// so a later --diff / --upgrade can tell generator changes from the user's own.
import { createHash } from 'node:crypto';
import type { Answers } from './options.js';
import { ANSWER_OPTIONS } from './options.js';
import type { FilePlan } from './render/plan.js';

export const MANIFEST_PATH = '.vps-stack.json';

export interface Manifest {
  generator: { name: string; version: string };
  /** The project name the files were rendered for (it names the DB, compose project, packages). */
  project: { name: string };
  answers: Answers;
  files: Record<string, string>;
}

export const sha256 = (content: Buffer): string => createHash('sha256').update(content).digest('hex');

/** What a manifest is built from: a stack model, or anything with its answers and project name. */
export interface ManifestSource {
  answers: Answers;
  project: { name: string };
}

export function buildManifest(plan: FilePlan, source: ManifestSource, version: string): Manifest {
  const { answers } = source;
  // Only keys the option table defines are recorded: nothing else (and so no secret) can slip in.
  const recorded = Object.fromEntries(ANSWER_OPTIONS.map((o) => [o.key, answers[o.key]])) as unknown as Answers;
  return {
    generator: { name: 'create-vps-stack', version },
    project: { name: source.project.name },
    answers: recorded,
    files: Object.fromEntries(plan.files.filter((f) => f.path !== MANIFEST_PATH).map((f) => [f.path, `sha256:${sha256(f.content)}`])),
  };
}

/** The plan plus its manifest file. */
export function withManifest(plan: FilePlan, source: ManifestSource, version: string): FilePlan {
  const manifest = buildManifest(plan, source, version);
  const content = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  const files = [...plan.files, { path: MANIFEST_PATH, content, mode: 0o644 as const }];
  return { files: files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)) };
}
