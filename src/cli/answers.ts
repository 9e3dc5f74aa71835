// Given flags → complete, validated answers by defaults (--yes), or a refusal naming what is
// missing. Prompting lives in prompt-answers.ts, loaded only when a terminal asks for it.
import { ANSWER_OPTIONS, withDefaults, type AnswerOption, type Answers } from '../options.js';
import { UserError } from './errors.js';

/** Contradictions between answers; never silently fixed. */
export function contradictions(a: Partial<Answers>): string[] {
  const problems: string[] = [];
  if (a.workers === true && a.redis === false) {
    problems.push('--workers needs Redis (the job queue lives there): drop --no-redis, or add --no-workers');
  }
  return problems;
}

/** Options still open after the flags, required ones first in table order. */
function missing(given: Partial<Answers>): AnswerOption[] {
  return ANSWER_OPTIONS.filter((o) => given[o.key] === undefined);
}

/** --yes or non-interactive: fill defaults, or fail on missing required answers. */
export function resolveWithoutPrompts(given: Partial<Answers>, yes: boolean): Answers {
  const absentRequired = missing(given).filter((o) => o.required);
  if (!yes && absentRequired.length > 0) {
    throw new UserError(
      `missing required options: ${absentRequired.map((o) => `--${o.flag}`).join(', ')}\n` +
        'Pass them as flags, add --yes to take the defaults, or run in a terminal to be asked.',
    );
  }
  return withDefaults(given).answers;
}

