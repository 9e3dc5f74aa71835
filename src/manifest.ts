// .vps-stack.json: what generated this repo, from which answers, and a hash of each file,
// so a later --diff / --upgrade can tell generator changes from the user's own.
import { createHash } from 'node:crypto';
import type { Answers } from './options.js';
import { ANSWER_OPTIONS } from './options.js';
import type { FilePlan } from './render/plan.js';

export const MANIFEST_PATH = '.vps-stack.json';

export interface Manifest {
  generator: { name: string; version: string };
  answers: Answers;
  files: Record<string, string>;
}

export const sha256 = (content: Buffer): string => createHash('sha256').update(content).digest('hex');

export function buildManifest(plan: FilePlan, answers: Answers, version: string): Manifest {
  // Only keys the option table defines are recorded: nothing else (and so no secret) can slip in.
  const recorded = Object.fromEntries(ANSWER_OPTIONS.map((o) => [o.key, answers[o.key]])) as unknown as Answers;
  return {
    generator: { name: 'create-vps-stack', version },
    answers: recorded,
    files: Object.fromEntries(plan.files.filter((f) => f.path !== MANIFEST_PATH).map((f) => [f.path, `sha256:${sha256(f.content)}`])),
  };
}

/** The plan plus its manifest file. */
export function withManifest(plan: FilePlan, answers: Answers, version: string): FilePlan {
  const manifest = buildManifest(plan, answers, version);
  const content = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  const files = [...plan.files, { path: MANIFEST_PATH, content, mode: 0o644 as const }];
  return { files: files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)) };
}
