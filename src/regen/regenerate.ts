// Renders what the current generator writes for a project's recorded answers (plus overrides).
import { contradictions } from '../cli/answers.js';
import { UserError } from '../cli/errors.js';
import { MANIFEST_PATH, type Manifest } from '../manifest.js';
import { withDefaults, type AnswerKey, type AnswerOption, type Answers } from '../options.js';
import type { FilePlan } from '../render/plan.js';
import { VpsTooSmallError } from '../stack/memory.js';
import { buildStackModel, type StackModel } from '../stack/model.js';

export interface Regenerated {
  answers: Answers;
  model: StackModel;
  /** The plan without its manifest file. */
  plan: FilePlan;
  /** Options the answers file had no answer for and no flag gave: they took these defaults. */
  defaulted: Array<{ option: AnswerOption; value: Answers[AnswerKey] }>;
}

/** The note for each defaulted option: which one, the value taken, how to choose another. */
export function defaultedNotes(r: Pick<Regenerated, 'defaulted'>, recordedVersion: string): string[] {
  return r.defaulted.map(({ option, value }) =>
    `${MANIFEST_PATH} (create-vps-stack ${recordedVersion}) has no answer for --${option.flag}, added since: ` +
      `using its default, ${String(value)}. Pass --${option.flag} to choose another.`);
}

export async function regenerate(manifest: Manifest & { unrecorded?: readonly AnswerKey[] }, overrides: Partial<Answers>): Promise<Regenerated> {
  const unrecorded = new Set(manifest.unrecorded ?? []);
  const known: Partial<Answers> = { ...manifest.answers };
  for (const key of unrecorded) delete known[key];
  Object.assign(known, overrides);
  // An override of workers alone implies Redis; an explicit --no-redis with workers is still refused.
  if (overrides.workers === true && overrides.redis === undefined) known.redis = true;
  // Defaults for unrecorded options are taken after the overrides, which they may depend on.
  const { answers, defaulted } = withDefaults(known);
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
  return {
    answers, model, plan: renderPlan(model),
    defaulted: defaulted.map((option) => ({ option, value: answers[option.key] })),
  };
}
