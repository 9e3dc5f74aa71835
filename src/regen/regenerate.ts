// Renders what the current generator writes for a project's recorded answers (plus overrides).
import { contradictions } from '../cli/answers.js';
import { UserError } from '../cli/errors.js';
import type { Manifest } from '../manifest.js';
import type { Answers } from '../options.js';
import type { FilePlan } from '../render/plan.js';
import { VpsTooSmallError } from '../stack/memory.js';
import { buildStackModel, type StackModel } from '../stack/model.js';

export interface Regenerated {
  answers: Answers;
  model: StackModel;
  /** The plan without its manifest file. */
  plan: FilePlan;
}

export async function regenerate(manifest: Manifest, overrides: Partial<Answers>): Promise<Regenerated> {
  const answers: Answers = { ...manifest.answers, ...overrides };
  // An override of workers alone implies Redis; an explicit --no-redis with workers is still refused.
  if (overrides.workers === true && overrides.redis === undefined) answers.redis = true;
  const conflicts = contradictions(answers);
  if (conflicts.length > 0) throw new UserError(conflicts.join('\n'), 2);
  let model: StackModel;
  try {
    model = buildStackModel(answers, manifest.project.name);
  } catch (error) {
    if (error instanceof VpsTooSmallError) {
      throw new UserError(`--vps-memory ${answers.vpsMemory} is too small for these services: use at least --vps-memory ${error.minimumGiB}`, 2);
    }
    throw error;
  }
  const { renderPlan } = await import('../render/plan.js');
  return { answers, model, plan: renderPlan(model) };
}
