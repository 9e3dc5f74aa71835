// stack model → file plan (path → content, mode), entirely in memory.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import ejs from 'ejs';
import type { StackModel } from '../stack/model.js';
import { isIncluded } from './conditions.js';
import { computedFiles } from './computed.js';
import { IncompletePackageError, outputPath, packageRoot, sharedPartialsDir, sourceRoots, type SourceRoot } from './paths.js';
import { strictView } from './strict.js';

export interface PlannedFile {
  /** POSIX path relative to the project root. */
  path: string;
  content: Buffer;
  mode: 0o644 | 0o755;
}

export interface FilePlan {
  files: PlannedFile[];
}

/** The files under a source root; a required root that is missing or empty means a broken package. */
function listFiles(root: SourceRoot): string[] {
  if (!existsSync(root.dir)) {
    if (root.required) throw new IncompletePackageError(relative(packageRoot(), root.dir));
    return [];
  }
  const files = (readdirSync(root.dir, { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root.dir, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort();
  if (files.length === 0 && root.required) throw new IncompletePackageError(relative(packageRoot(), root.dir));
  return files;
}

/** Executable when it is a shell script or starts with a shebang. */
export function modeFor(path: string, content: Buffer): 0o644 | 0o755 {
  return path.endsWith('.sh') || content.subarray(0, 2).toString() === '#!' ? 0o755 : 0o644;
}

function renderFile(sourceFile: string, model: StackModel): Buffer {
  const raw = readFileSync(sourceFile);
  if (!sourceFile.endsWith('.ejs')) return raw;
  const text = ejs.render(raw.toString('utf8'), { m: strictView(model) }, {
    filename: sourceFile,
    root: sharedPartialsDir(),
    // Config files, not HTML: <%= writes values as they are.
    escape: (value: unknown) => String(value),
    async: false,
    // Fragments are included many times per run (compose services): compile each once.
    cache: true,
  });
  return Buffer.from(text, 'utf8');
}

export function renderPlan(model: StackModel): FilePlan {
  // Template files override shared files that land on the same path; overlays override both.
  const sources = new Map<string, string>();
  for (const root of sourceRoots(model.answers.template, model.features)) {
    for (const stored of listFiles(root)) sources.set(outputPath(stored), join(root.dir, stored));
  }
  const files: PlannedFile[] = [];
  for (const [path, source] of sources) {
    if (!isIncluded(path, model)) continue;
    const content = renderFile(source, model);
    files.push({ path, content, mode: modeFor(path, content) });
  }
  for (const computed of computedFiles(model)) {
    if (sources.has(computed.path)) throw new Error(`${computed.path} is both a template file and a computed file`);
    files.push({ ...computed, mode: modeFor(computed.path, computed.content) });
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  for (const file of files) {
    if (posix.normalize(file.path) !== file.path || file.path.startsWith('/') || file.path.startsWith('..')) {
      throw new Error(`unsafe path in the file plan: ${file.path}`);
    }
  }
  return { files };
}
