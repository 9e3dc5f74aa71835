// Where the package's templates live, and how stored names map to output names.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TemplateName } from '../options.js';

let cachedRoot: string | undefined;

/** The package root: the nearest folder up from this module whose package.json is ours (works bundled and from source). */
export function packageRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === 'create-vps-stack') {
      return (cachedRoot = dir);
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('create-vps-stack: cannot find the package root');
    dir = parent;
  }
}

export const sharedPartialsDir = (): string => join(packageRoot(), 'shared-partials');
export const templateDir = (template: TemplateName): string => join(packageRoot(), `template-${template}`);

/**
 * Source trees, later ones overriding earlier ones path by path:
 * shared files, shared overlays, template files, template overlays.
 * An overlay `overlays/<feature>/` applies when that stack-model feature is on
 * (e.g. a package.json and lockfile with the queue dependencies).
 */
export function sourceRoots(template: TemplateName, features: Record<string, boolean>): string[] {
  const on = Object.keys(features).filter((name) => features[name]);
  return [sharedPartialsDir(), templateDir(template)].flatMap((base) => [
    join(base, 'files'),
    ...on.map((feature) => join(base, 'overlays', feature)),
  ]);
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
