// Hidden `--render-to <out> [dir]`: writes what this version generates for dir's recorded answers.
// A newer generator runs an older one this way to get the base of a 3-way upgrade.
import { withManifest } from '../manifest.js';
import { UserError } from '../cli/errors.js';
import { existingEntries, writePlan } from '../writer.js';
import { readManifest } from './project.js';
import { regenerate } from './regenerate.js';

export async function renderRecorded(dir: string, out: string, version: string): Promise<void> {
  const manifest = readManifest(dir);
  if (existingEntries(out).length > 0) throw new UserError(`--render-to ${out} must be empty`, 2);
  const { plan, model } = await regenerate(manifest, {});
  writePlan(out, withManifest(plan, model, version));
}
