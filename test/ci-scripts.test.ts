// The project's own shell scripts get the same bar as the generated ones.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { toolAvailable } from './support/stack.js';

const CI_DIR = new URL('../.ci/', import.meta.url).pathname;
const scripts = readdirSync(CI_DIR).map((name) => `${CI_DIR}${name}`);

describe.skipIf(!toolAvailable('shellcheck'))('.ci scripts', () => {
  it.each(scripts)('%s passes shellcheck and bash -n', (script) => {
    const check = spawnSync('shellcheck', ['-x', '-S', 'style', script], { encoding: 'utf8' });
    expect(check.stdout + check.stderr).toBe('');
    expect(check.status).toBe(0);
    expect(spawnSync('bash', ['-n', script]).status).toBe(0);
  });
});
