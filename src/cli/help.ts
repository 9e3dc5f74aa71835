// --help, generated from the option table so it cannot miss an option.
import { ANSWER_OPTIONS, CONTROL_OPTIONS, isNegatable, type AnswerOption, type ControlOption } from '../options.js';

function usage(option: AnswerOption | ControlOption): string {
  const short = option.short ? `-${option.short}, ` : '    ';
  if (option.type === 'boolean') {
    return `${short}--${option.flag}${isNegatable(option) ? ` / --no-${option.flag}` : ''}`;
  }
  return `${short}--${option.flag} <${option.valueName ?? 'value'}>`;
}

export function helpText(version: string): string {
  const shown = [...ANSWER_OPTIONS, ...CONTROL_OPTIONS.filter((o) => !o.hidden)];
  const rows = shown.map((o) => [usage(o), o.description]);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  const lines = rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`);
  return [
    `create-vps-stack ${version}: a production web stack for one VPS, as a repository you own`,
    '',
    'Usage: create-vps-stack [dir] [options]',
    '       npm create vps-stack@latest [dir] -- [options]',
    '',
    'Options:',
    ...lines,
    '',
    'Without flags in a terminal, it asks. Without a terminal, pass --template, --domain and --email',
    '(or --yes for placeholders). Nothing is written until every answer is valid.',
    '',
  ].join('\n');
}
