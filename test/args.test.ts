import { describe, expect, it } from 'vitest';
import { parseArgs } from '../src/cli/args.js';
import { helpText } from '../src/cli/help.js';
import { ANSWER_OPTIONS, CONTROL_OPTIONS } from '../src/options.js';

describe('parseArgs', () => {
  it('reads every kind of flag', () => {
    const parsed = parseArgs([
      'my-app', '-t', 'nest-next', '--domain=shop.example.org', '--email', 'ops@example.org',
      '--workers', '--no-redis', '--pgvector', '--no-cloudflare', '--vps-memory', '2.5', '--vps-cpus=4',
      '--ci', 'none', '--backup-remote', 's3', '-y', '--overwrite', '--no-interactive',
    ]);
    expect(parsed.errors).toEqual([]);
    expect(parsed.dir).toBe('my-app');
    expect(parsed.given).toEqual({
      template: 'nest-next', domain: 'shop.example.org', email: 'ops@example.org', workers: true, redis: false,
      pgvector: true, cloudflare: false, vpsMemory: 2.5, vpsCpus: 4, ci: 'none', backupRemote: 's3',
    });
    expect(parsed.controls).toMatchObject({ yes: true, overwrite: true, interactive: false });
  });

  it('collects every problem, naming the flag and the rule', () => {
    const { errors } = parseArgs(['--template', 'rails', '--vps-memory', '0', '--vps-cpus', '1.5', '--frobnicate', '--email', 'x', 'a', 'b']);
    expect(errors).toEqual([
      '--template: unknown value "rails"; must be one of nest-next, express-worker, fastapi-oracle',
      '--vps-memory must be a number from 1 to 512 (got "0")',
      '--vps-cpus must be a whole number from 1 to 128 (got "1.5")',
      'unknown option --frobnicate (see --help)',
      '--email must be an email address such as ops@example.com (got "x")',
      'expected at most one target directory, got: a b',
    ]);
  });

  it('rejects a value-taking flag without its value and values on switches', () => {
    expect(parseArgs(['--domain']).errors).toEqual(['--domain needs a value <host>']);
    expect(parseArgs(['--domain', '--yes']).errors).toEqual(['--domain needs a value <host>']);
    expect(parseArgs(['--workers=yes']).errors[0]).toMatch(/takes no value/);
    expect(parseArgs(['--no-yes']).errors[0]).toMatch(/unknown option --no-yes/);
    expect(parseArgs(['-x']).errors[0]).toMatch(/unknown option -x/);
  });

  it('treats everything after -- as positional', () => {
    expect(parseArgs(['--', '--weird-dir']).dir).toBe('--weird-dir');
  });
});

describe('--help', () => {
  it('lists every option of the table, with short forms and --no- pairs', () => {
    const help = helpText('1.2.3');
    for (const option of [...ANSWER_OPTIONS, ...CONTROL_OPTIONS.filter((o) => !o.hidden)]) {
      expect(help).toContain(`--${option.flag}`);
      expect(help).toContain(option.description);
      if (option.short) expect(help).toContain(`-${option.short}, --${option.flag}`);
    }
    for (const flag of ['workers', 'redis', 'pgvector', 'cloudflare', 'interactive']) expect(help).toContain(`--no-${flag}`);
    expect(help).not.toContain('--no-yes');
    expect(help).not.toContain('--render-to'); // machinery between versions, not for people
  });
});
