// argv → raw answers and controls, driven by the option table. Collects every
// problem instead of stopping at the first so the user can fix them in one go.
import { ANSWER_OPTIONS, CONTROL_OPTIONS, isNegatable, type AnswerOption, type Answers, type ControlOption, type Controls } from '../options.js';

export interface ParsedArgs {
  dir?: string;
  given: Partial<Answers>;
  controls: Controls;
  errors: string[];
}

type AnyOption = AnswerOption | ControlOption;

const isControl = (option: AnyOption): option is ControlOption => (CONTROL_OPTIONS as readonly AnyOption[]).includes(option);

function lookup(name: string): { option: AnyOption; negated: boolean } | undefined {
  const all: AnyOption[] = [...ANSWER_OPTIONS, ...CONTROL_OPTIONS];
  const direct = all.find((o) => o.flag === name);
  if (direct) return { option: direct, negated: false };
  if (name.startsWith('no-')) {
    const negatable = all.find((o) => o.flag === name.slice(3) && isNegatable(o));
    if (negatable) return { option: negatable, negated: true };
  }
  return undefined;
}

/** Parses a typed value; invalid text becomes a value the option's validator rejects. */
export function convertValue(option: AnswerOption, text: string): { value?: unknown; error?: string } {
  const flag = `--${option.flag}`;
  if (option.type === 'choice') {
    if (!option.choices!.includes(text)) {
      return { error: `${flag}: unknown value "${text}"; must be one of ${option.choices!.join(', ')}` };
    }
    return { value: text };
  }
  if (option.type === 'number') {
    const value = /^\s*[+-]?(\d+\.?\d*|\.\d+)\s*$/.test(text) ? Number(text) : Number.NaN;
    return { value };
  }
  return { value: text };
}

export function validateGiven(option: AnswerOption, value: unknown, shown = String(value)): string | undefined {
  const rule = option.validate?.(value as never);
  return rule ? `--${option.flag} ${rule} (got "${shown}")` : undefined;
}

export function parseArgs(argv: readonly string[]): ParsedArgs {
  const given: Partial<Record<keyof Answers, unknown>> = {};
  const controls: Controls = { yes: false, overwrite: false, diff: false, upgrade: false, force: false, dryRun: false, help: false, version: false };
  const positionals: string[] = [];
  const errors: string[] = [];

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      positionals.push(arg);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq === -1 ? undefined : arg.slice(eq + 1);
    } else {
      const short = arg.slice(1, 2);
      const found = [...ANSWER_OPTIONS, ...CONTROL_OPTIONS].find((o) => o.short === short);
      if (!found || (arg.length > 2 && arg[2] !== '=')) {
        errors.push(`unknown option ${arg}`);
        continue;
      }
      name = found.flag;
      inline = arg.length > 2 ? arg.slice(3) : undefined;
    }
    const match = lookup(name);
    if (!match) {
      errors.push(`unknown option --${name} (see --help)`);
      continue;
    }
    const { option, negated } = match;
    if (option.type === 'boolean') {
      if (inline !== undefined) {
        errors.push(isNegatable(option) ? `--${name} takes no value (use --${option.flag} or --no-${option.flag})` : `--${name} takes no value (use --${option.flag})`);
        // A mode switch still picks the mode, and so the exit code of this refusal (2 for --upgrade).
        if (isControl(option)) (controls as unknown as Record<string, boolean>)[option.key] = !negated;
        continue;
      }
      if (isControl(option)) {
        (controls as unknown as Record<string, boolean>)[option.key] = !negated;
      } else {
        given[option.key as keyof Answers] = !negated;
      }
      continue;
    }
    const text = inline ?? argv[i + 1];
    if (text === undefined || (inline === undefined && text.startsWith('--'))) {
      errors.push(`--${option.flag} needs a value <${option.valueName ?? 'value'}>`);
      continue;
    }
    if (inline === undefined) i++;
    if (isControl(option)) {
      (controls as unknown as Record<string, string>)[option.key] = text;
      continue;
    }
    const converted = convertValue(option as AnswerOption, text);
    if (converted.error) {
      errors.push(converted.error);
      continue;
    }
    const rule = validateGiven(option as AnswerOption, converted.value, text);
    if (rule) {
      errors.push(rule);
      continue;
    }
    given[option.key as keyof Answers] = converted.value;
  }

  for (const option of CONTROL_OPTIONS) {
    if (!option.onlyWith || !controls[option.key] || option.onlyWith.some((mode) => controls[mode])) continue;
    const modes = option.onlyWith.map((mode) => `--${CONTROL_OPTIONS.find((o) => o.key === mode)!.flag}`);
    errors.push(`--${option.flag} works only with ${modes.join(' or ')}: add ${modes.join(' or ')}, or drop --${option.flag}`);
  }
  if (positionals.length > 1) {
    errors.push(`expected at most one target directory, got: ${positionals.join(' ')}`);
  }
  return { dir: positionals[0], given: given as Partial<Answers>, controls, errors };
}
