// Build the bundle once before the suite, so CLI tests run the same bin users get.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export default function setup(): void {
  execFileSync(process.execPath, [fileURLToPath(new URL('../../scripts/build.mjs', import.meta.url))], { cwd: fileURLToPath(new URL('../..', import.meta.url)), stdio: 'inherit' });
}
