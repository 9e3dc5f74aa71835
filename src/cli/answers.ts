// Given flags → complete, validated answers: by prompting (interactive), by defaults (--yes),
// or by refusing and naming what is missing.
import prompts from 'prompts';
import { ANSWER_OPTIONS, defaultFor, type AnswerOption, type Answers } from '../options.js';
import { convertValue, validateGiven } from './args.js';
import { UserError, CancelledError } from './errors.js';
import { style } from './ui.js';

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
  const answers: Partial<Answers> = { ...given };
  for (const option of ANSWER_OPTIONS) {
    if (answers[option.key] === undefined) (answers as Record<string, unknown>)[option.key] = defaultFor(option, answers);
  }
  return answers as Answers;
}

type Question = prompts.PromptObject<string>;

export function questionFor(option: AnswerOption, known: Partial<Answers>): Question {
  const initial = defaultFor(option, known);
  const base = { name: option.key, message: option.prompt.message };
  if (option.type === 'choice') {
    const choices = option.choices!.map((value) => ({ title: option.choiceLabels?.[value] ?? value, value }));
    return { ...base, type: 'select', choices, initial: Math.max(0, option.choices!.indexOf(String(initial))) };
  }
  if (option.type === 'boolean') {
    return { ...base, type: 'confirm', initial: Boolean(initial) };
  }
  const check = (text: string): true | string => {
    const converted = convertValue(option, String(text).trim());
    if (converted.error) return converted.error;
    return validateGiven(option, converted.value, String(text).trim()) ?? true;
  };
  return {
    ...base,
    type: 'text',
    initial: String(initial),
    validate: check,
    format: (text: string) => convertValue(option, String(text).trim()).value,
  };
}

/** Interactive: ask only what flags left open; skip Redis when workers imply it. */
export async function resolveByPrompting(given: Partial<Answers>, say: (line: string) => void): Promise<Answers> {
  const answers: Partial<Answers> = { ...given };
  for (const option of ANSWER_OPTIONS) {
    if (answers[option.key] !== undefined) continue;
    if (option.askIf && !option.askIf(answers)) {
      const note = option.skipNote?.(answers);
      if (note) say(style.dim(`  ${note}`));
      (answers as Record<string, unknown>)[option.key] = defaultFor(option, answers);
      continue;
    }
    const reply = await prompts(questionFor(option, answers), {
      onCancel: () => {
        throw new CancelledError();
      },
    });
    (answers as Record<string, unknown>)[option.key] = reply[option.key];
  }
  return answers as Answers;
}
