// A second generator version for upgrade tests: a copy of this package with an older version
// number and templates changed the way a real release would change them.
import { appendFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fse from 'fs-extra';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface OldGenerator {
  root: string;
  bin: string;
  version: string;
}

/** Copies the built package (bin, bundle, templates) and lets `change` edit the copy's templates. */
export function makeOldGenerator(version: string, change: (root: string) => void): OldGenerator {
  const root = join(mkdtempSync(join(tmpdir(), 'cvs-oldgen-')), 'create-vps-stack');
  for (const entry of fse.readdirSync(ROOT)) {
    if (entry === 'index.js' || entry === 'dist' || entry === 'shared-partials' || entry.startsWith('template-')) {
      fse.copySync(join(ROOT, entry), join(root, entry));
    }
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ ...pkg, version }, null, 2));
  change(root);
  return { root, bin: join(root, 'index.js'), version };
}

export const appendTo = (file: string, text: string) => appendFileSync(file, text);
export const prependTo = (file: string, text: string) => writeFileSync(file, text + readFileSync(file, 'utf8'));
