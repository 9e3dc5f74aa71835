// Terminal output: colour only when the environment asks for it or a terminal shows it.
import { bold, cyan, dim, green, options as colorOptions, red, yellow } from 'kolorist';

export interface Io {
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdin: NodeJS.ReadStream;
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
}

/** NO_COLOR (non-empty) wins, then FORCE_COLOR (not "0"), then whether stdout is a terminal. */
export function colorEnabled(env: NodeJS.ProcessEnv, isTTY: boolean | undefined): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return isTTY === true && env.TERM !== 'dumb';
}

export function configureColors(io: Io): void {
  const enabled = colorEnabled(io.env, io.stdout.isTTY);
  colorOptions.enabled = enabled;
  colorOptions.supportLevel = enabled ? 1 : 0;
}

export const style = { bold, cyan, dim, green, red, yellow };

export type PackageManager = 'npm' | 'pnpm' | 'yarn' | 'bun';

/** The package manager that ran us, from npm_config_user_agent ("pnpm/9.1.0 npm/? node/v20…"). */
export function detectPackageManager(userAgent: string | undefined): PackageManager {
  const name = userAgent?.split(' ')[0]?.split('/')[0];
  return name === 'pnpm' || name === 'yarn' || name === 'bun' ? name : 'npm';
}

export function runScript(pm: PackageManager, script: string): string {
  return pm === 'npm' || pm === 'bun' ? `${pm} run ${script}` : `${pm} ${script}`;
}
