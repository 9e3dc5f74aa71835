// Interactive: ask only what flags left open, validating inline with the option table's rules.
import prompts from 'prompts';
import { ANSWER_OPTIONS, defaultFor, type AnswerOption, type Answers } from '../options.js';
import { convertValue, validateGiven } from './args.js';
import { CancelledError } from './errors.js';
import { style } from './ui.js';

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
