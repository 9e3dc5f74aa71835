// The "base" of a 3-way upgrade: what the recorded generator version wrote for the recorded answers.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { MANIFEST_PATH, type Manifest } from '../manifest.js';
import { regenerate } from './regenerate.js';

export type BaseFiles = Map<string, Buffer>;

/** Environment override: a create-vps-stack bin (JS file) to render the base with, for offline use and tests. */
export const BASE_BIN_ENV = 'CREATE_VPS_STACK_BASE_BIN';

function readTree(root: string): BaseFiles {
  const files: BaseFiles = new Map();
  for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = relative(root, join(entry.parentPath, entry.name)).split(sep).join('/');
    if (path !== MANIFEST_PATH) files.set(path, readFileSync(join(root, path)));
  }
  return files;
}

/**
 * Renders the base. Same version: in-process. Another version: that version's hidden
 * `--render-to` mode, through npm exec or the override bin. Undefined (with a reason) when it
 * cannot be had, e.g. offline: the caller falls back to the manifest's hashes.
 */
export async function obtainBase(
  dir: string,
  manifest: Manifest,
  runningVersion: string,
  env: NodeJS.ProcessEnv,
): Promise<{ files?: BaseFiles; reason?: string }> {
  if (manifest.generator.version === runningVersion) {
    const { plan } = await regenerate(manifest, {});
    return { files: new Map(plan.files.map((f) => [f.path, f.content])) };
  }
  const out = join(mkdtempSync(join(tmpdir(), 'vps-stack-base-')), 'render');
  const override = env[BASE_BIN_ENV];
  const [command, ...args] = override
    ? [process.execPath, override]
    : ['npm', 'exec', '--yes', `--package=create-vps-stack@${manifest.generator.version}`, '--', 'create-vps-stack'];
  try {
    const result = spawnSync(command, [...args, '--render-to', out, dir], {
      encoding: 'utf8',
      env: { ...env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 180_000,
    });
    if (result.status !== 0) {
      const why = (result.stderr || result.error?.message || '').trim().split('\n').pop();
      return { reason: `could not run create-vps-stack ${manifest.generator.version}${why ? `: ${why}` : ''}` };
    }
    return { files: readTree(out) };
  } finally {
    rmSync(join(out, '..'), { recursive: true, force: true });
  }
}
