// The whole file plan per named answer set, one snapshot file per generated file, so a
// template change shows up as a readable diff. Large machine-made files are stored by hash.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Answers } from '../src/options.js';
import { renderStack } from './support/stack.js';

const ANSWER_SETS: Record<string, Partial<Answers>> = {
  defaults: { workers: undefined, redis: true, pgvector: false, cloudflare: false, vpsMemory: 4, vpsCpus: 2, ci: 'github', backupRemote: 'none' },
  'everything-on': { workers: true, redis: true, pgvector: true, cloudflare: true, vpsMemory: 8, vpsCpus: 4, ci: 'github', backupRemote: 's3' },
  'lean-1g': { workers: false, redis: false, pgvector: false, cloudflare: false, vpsMemory: 1, vpsCpus: 1, ci: 'none', backupRemote: 'none' },
};
const TEMPLATES = ['express-worker', 'nest-next', 'fastapi-oracle'] as const;
const BY_HASH = /(^|\/)(package-lock\.json|pnpm-lock\.yaml|yarn\.lock|poetry\.lock)$/;

function snapshotText(path: string, content: Buffer, mode: number): string {
  const body = BY_HASH.test(path) || content.length > 64 * 1024 || content.includes(0)
    ? `sha256:${createHash('sha256').update(content).digest('hex')} (${content.length} bytes)\n`
    : content.toString('utf8');
  return `mode ${mode.toString(8)}\n---\n${body}`;
}

describe.each(TEMPLATES)('%s', (template) => {
  for (const [name, overrides] of Object.entries(ANSWER_SETS)) {
    const answers = { ...overrides, template, workers: overrides.workers ?? template === 'express-worker' };
    it(name, async () => {
      const { plan } = renderStack(answers, 'snap-shop');
      const index = plan.files.map((f) => `${f.mode.toString(8)} ${f.path}`).join('\n');
      await expect(`${index}\n`).toMatchFileSnapshot(`__snapshots__/${template}/${name}/_index.txt`);
      for (const file of plan.files) {
        await expect(snapshotText(file.path, file.content, file.mode)).toMatchFileSnapshot(
          `__snapshots__/${template}/${name}/${file.path}.snap`,
        );
      }
    });
  }
});
