// Where the package's templates live, and how stored names map to output names.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TemplateName } from '../options.js';

let cached: { root: string; version: string } | undefined;

/** The package root: the nearest folder up from this module whose package.json is ours (works bundled and from source). */
export function packageRoot(): string {
  return locatePackage().root;
}

/** The version in our package.json, read at run time: a copied package reports its own version. */
export function packageVersion(): string {
  return locatePackage().version;
}

function locatePackage(): { root: string; version: string } {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    const data = existsSync(manifest) ? JSON.parse(readFileSync(manifest, 'utf8')) : undefined;
    if (data?.name === 'create-vps-stack') {
      return (cached = { root: dir, version: String(data.version) });
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('create-vps-stack: cannot find the package root');
    dir = parent;
  }
}

export const sharedPartialsDir = (): string => join(packageRoot(), 'shared-partials');
export const templateDir = (template: TemplateName): string => join(packageRoot(), `template-${template}`);

export interface SourceRoot {
  dir: string;
  /** A root every run needs (the shared and the template `files/`), as against an optional overlay. */
  required: boolean;
}

/**
 * Source trees, later ones overriding earlier ones path by path:
 * shared files, shared overlays, template files, template overlays.
 * An overlay `overlays/<feature>/` applies when that stack-model feature is on
 * (e.g. a package.json and lockfile with the queue dependencies); a feature may have none.
 */
export function sourceRoots(template: TemplateName, features: Record<string, boolean>): SourceRoot[] {
  const on = Object.keys(features).filter((name) => features[name]);
  return [sharedPartialsDir(), templateDir(template)].flatMap((base) => [
    { dir: join(base, 'files'), required: true },
    ...on.map((feature) => ({ dir: join(base, 'overlays', feature), required: false })),
  ]);
}

/** The package lacks files it must ship (a broken pack or install): not the user's input. */
export class IncompletePackageError extends Error {
  constructor(readonly missing: string) {
    super(`this copy of create-vps-stack is incomplete: ${missing} is missing or empty (${packageRoot()}). ` +
      'Reinstall it (npm create vps-stack@latest); nothing was written.');
  }
}

/**
 * Stored path → output path. Dot-files are stored with a leading `_` because npm drops
 * some dot-files (.gitignore, .npmrc) from published packages; `__init__.py` stays as is.
 * A trailing `.ejs` marks a file rendered through EJS.
 */
export function outputPath(storedPath: string): string {
  return storedPath
    .split('/')
    .map((segment) => (/^_[^_]/.test(segment) ? `.${segment.slice(1)}` : segment))
    .join('/')
    .replace(/\.ejs$/, '');
}
