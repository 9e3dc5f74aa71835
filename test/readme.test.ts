import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ANSWER_OPTIONS, CONTROL_OPTIONS, TEMPLATES } from '../src/options.js';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');

describe('README', () => {
  it('documents every option and template', () => {
    for (const option of [...ANSWER_OPTIONS, ...CONTROL_OPTIONS.filter((o) => !o.hidden)]) expect(readme, option.flag).toContain(`--${option.flag}`);
    for (const template of TEMPLATES) expect(readme).toContain(`\`${template}\``);
  });

  it('keeps the two contributor commands CI relies on', () => {
    expect(readme).toContain('npm run create -- my-app --template express-worker --yes');
    expect(readme).toMatch(/^npm test\b/m);
    expect(readFileSync(new URL('../.ci/run', import.meta.url), 'utf8')).toMatch(/^npm test\b/m);
  });
});
