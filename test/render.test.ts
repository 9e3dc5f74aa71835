import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MANIFEST_PATH } from '../src/manifest.js';
import { modeFor } from '../src/render/plan.js';
import { outputPath } from '../src/render/paths.js';
import { strictView } from '../src/render/strict.js';
import { renderStack } from './support/stack.js';

describe('outputPath', () => {
  it('turns a leading underscore into a dot and drops .ejs', () => {
    expect(outputPath('_gitignore')).toBe('.gitignore');
    expect(outputPath('_github/workflows/ci.yml.ejs')).toBe('.github/workflows/ci.yml');
    expect(outputPath('apps/api/_dockerignore')).toBe('.dockerignore'.replace(/^/, 'apps/api/'));
    expect(outputPath('apps/api/app/__init__.py')).toBe('apps/api/app/__init__.py');
    expect(outputPath('docs/a_b.md')).toBe('docs/a_b.md');
  });
});

describe('modeFor', () => {
  it('makes scripts executable', () => {
    expect(modeFor('scripts/x.sh', Buffer.from('echo'))).toBe(0o755);
    expect(modeFor('bin/tool', Buffer.from('#!/usr/bin/env node\n'))).toBe(0o755);
    expect(modeFor('README.md', Buffer.from('# hi'))).toBe(0o644);
  });
});

describe('strictView', () => {
  it('throws on a property the model does not define, naming the path', () => {
    const view = strictView({ services: { api: { port: 3000 } } });
    expect(view.services.api.port).toBe(3000);
    expect(() => (view.services as Record<string, unknown>).apu).toThrow('template reads m.services.apu');
    expect(() => {
      (view.services.api as { port: number }).port = 1;
    }).toThrow(/must not change/);
  });
});

describe('renderPlan', () => {
  it.each(['express-worker', 'nest-next', 'fastapi-oracle'] as const)('renders %s with sorted, unique, safe paths', (template) => {
    const { plan } = renderStack({ template });
    const paths = plan.files.map((f) => f.path);
    expect(paths).toEqual([...paths].sort());
    expect(new Set(paths).size).toBe(paths.length);
    expect(paths).toContain('.gitignore');
    expect(paths).toContain('.env.example');
    for (const path of paths) expect(path).not.toMatch(/(^|\/)(\.\.|_[^_])|\.ejs$/);
  });

  it('records answers and the sha256 of every other file in .vps-stack.json', () => {
    const { plan, model } = renderStack({ pgvector: true });
    const manifestFile = plan.files.find((f) => f.path === MANIFEST_PATH)!;
    const manifest = JSON.parse(manifestFile.content.toString());
    expect(manifest.generator).toEqual({ name: 'create-vps-stack', version: '0.0.0-test' });
    expect(manifest.answers).toEqual(model.answers);
    const others = plan.files.filter((f) => f.path !== MANIFEST_PATH);
    expect(Object.keys(manifest.files)).toEqual(others.map((f) => f.path));
    for (const file of others) {
      expect(manifest.files[file.path]).toBe(`sha256:${createHash('sha256').update(file.content).digest('hex')}`);
    }
  });

  it('writes .env.example without any secret value', () => {
    const { plan, model } = renderStack({ backupRemote: 's3', cloudflare: true });
    const example = plan.files.find((f) => f.path === '.env.example')!.content.toString();
    for (const variable of model.env.list) {
      const line = example.split('\n').find((l) => l.startsWith(`${variable.name}=`));
      expect(line, variable.name).toBeDefined();
      if (variable.secret) expect(line).toBe(`${variable.name}=`);
    }
    expect(example).toContain(`DOMAIN=${model.domain.apex}`);
  });

  it('drops files whose feature is off', () => {
    const paths = (o: Parameters<typeof renderStack>[0]) => renderStack(o).plan.files.map((f) => f.path);
    expect(paths({ ci: 'none' }).some((p) => p.startsWith('.github/'))).toBe(false);
    expect(paths({ workers: false }).some((p) => p.startsWith('apps/worker/'))).toBe(false);
  });
});
