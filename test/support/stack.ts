// Test helpers: render a stack for given answers into a temp dir, and find system tools
// (skip locally when missing; under CI=true a missing tool fails the test).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withManifest } from '../../src/manifest.js';
import { ANSWER_OPTIONS, type Answers } from '../../src/options.js';
import { renderPlan, type FilePlan } from '../../src/render/plan.js';
import { buildStackModel, type StackModel } from '../../src/stack/model.js';
import { writePlan } from '../../src/writer.js';

export const BASE_ANSWERS: Answers = {
  template: 'express-worker',
  domain: 'shop.example.org',
  email: 'ops@example.org',
  workers: true,
  redis: true,
  pgvector: true,
  cloudflare: false,
  vpsMemory: 4,
  vpsCpus: 2,
  ci: 'github',
  backupRemote: 'none',
};

export interface RenderedStack {
  model: StackModel;
  plan: FilePlan;
  dir: string;
  cleanup: () => void;
}

export function renderStack(overrides: Partial<Answers> = {}, projectName = 'demo-shop'): { model: StackModel; plan: FilePlan } {
  const answers = { ...BASE_ANSWERS, ...overrides };
  const model = buildStackModel(answers, projectName);
  return { model, plan: withManifest(renderPlan(model), model, '0.0.0-test') };
}

/** Renders and writes a stack into a fresh temp directory named after the project. */
export function writeStack(overrides: Partial<Answers> = {}, projectName = 'demo-shop'): RenderedStack {
  const { model, plan } = renderStack(overrides, projectName);
  const parent = mkdtempSync(join(tmpdir(), 'cvs-'));
  const dir = join(parent, projectName);
  writePlan(dir, plan);
  return { model, plan, dir, cleanup: () => rmSync(parent, { recursive: true, force: true }) };
}

export const inCI = process.env.CI === 'true' || process.env.CI === '1';

export function hasTool(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Use as `describe.skipIf(!toolAvailable('nginx'))`. Locally a missing tool skips;
 * under CI it throws at collection time, so the run fails instead of skipping.
 */
export function toolAvailable(command: string): boolean {
  const found = hasTool(command);
  if (!found && inCI) throw new Error(`${command} is required under CI=true but is not installed (.ci/run must install it)`);
  return found;
}

/** A named matrix of answer sets for one template: each toggle both ways, memory 1–16 GiB. */
export function answerMatrix(template: Answers['template']): Array<[string, Partial<Answers>]> {
  return [
    ['all-on-4g', { template, workers: true, redis: true, pgvector: true, cloudflare: true, backupRemote: 's3', vpsMemory: 4 }],
    ['minimal-1g', { template, workers: false, redis: false, pgvector: false, cloudflare: false, ci: 'none', vpsMemory: 1, vpsCpus: 1 }],
    ['redis-no-workers-2g', { template, workers: false, redis: true, pgvector: false, vpsMemory: 2 }],
    ['workers-8g', { template, workers: true, redis: true, pgvector: true, cloudflare: false, vpsMemory: 8, vpsCpus: 4 }],
    ['cloudflare-16g', { template, workers: true, redis: true, pgvector: false, cloudflare: true, vpsMemory: 16, vpsCpus: 8 }],
  ];
}

/**
 * Templates whose stack is complete enough for the shared real-tool suites (compose, ops scripts):
 * a template joins this list when its compose files and apps exist.
 */
export const STACK_TEMPLATES: Array<Answers['template']> = ['express-worker', 'fastapi-oracle', 'nest-next'];

/** answerMatrix over every template in STACK_TEMPLATES, names prefixed with the template. */
export function stackMatrix(): Array<[string, Partial<Answers>]> {
  return STACK_TEMPLATES.flatMap((template) =>
    answerMatrix(template).map(([name, overrides]): [string, Partial<Answers>] => [`${template}/${name}`, overrides]),
  );
}

/**
 * Every option of the answers table on, or every one off, for one template: booleans true/false,
 * choices their first value other than "none" / "none" (options without a "none" keep their default).
 */
export function allOptions(template: Answers['template'], on: boolean): Partial<Answers> {
  const answers: Record<string, unknown> = { template };
  for (const option of ANSWER_OPTIONS) {
    if (option.key === 'template') continue;
    if (option.type === 'boolean') answers[option.key] = on;
    if (option.type === 'choice' && option.choices?.includes('none')) answers[option.key] = on ? option.choices.find((c) => c !== 'none') : 'none';
  }
  return answers as Partial<Answers>;
}

/** stackMatrix() plus every option on and every option off for each template in STACK_TEMPLATES. */
export function everyAnswerSet(): Array<[string, Partial<Answers>]> {
  return [
    ...stackMatrix(),
    ...STACK_TEMPLATES.flatMap((template): Array<[string, Partial<Answers>]> => [
      [`${template}/all-options-on`, allOptions(template, true)],
      [`${template}/all-options-off`, allOptions(template, false)],
    ]),
  ];
}
