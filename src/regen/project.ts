// Reading an existing generated project: its answers file and its files on disk.
import { existsSync, lstatSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MANIFEST_PATH, type Manifest } from '../manifest.js';
import { ANSWER_OPTIONS, withDefaults, type AnswerKey, type Answers } from '../options.js';
import { convertValue, validateGiven } from '../cli/args.js';
import { UserError } from '../cli/errors.js';
import { validateProjectName } from '../validate.js';

/** Files that may hold secrets: never read, diffed, printed or written by --diff / --upgrade. */
export function isSecretPath(path: string): boolean {
  const name = path.split('/').pop()!;
  return (name === '.env' || name.startsWith('.env.')) && name !== '.env.example';
}

const fail = (field: string, rule: string): never => {
  throw new UserError(`${MANIFEST_PATH}: ${field} ${rule}`, 2);
};

/**
 * A project's answers file as read. `unrecorded` names the options it has no answer for: options
 * added to the generator after the project was made. They take their defaults (in `answers`).
 */
export interface RecordedManifest extends Manifest {
  unrecorded: AnswerKey[];
}

/** Reads and checks dir/.vps-stack.json; every problem names the field. */
export function readManifest(dir: string): RecordedManifest {
  const path = join(dir, MANIFEST_PATH);
  if (!existsSync(path)) {
    throw new UserError(`no ${MANIFEST_PATH} in ${dir}: is this a project made by create-vps-stack?`, 2);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new UserError(`${MANIFEST_PATH} is not valid JSON: ${(error as Error).message}`, 2);
  }
  const data = raw as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  if (data?.generator?.name !== 'create-vps-stack') fail('generator.name', 'must be "create-vps-stack"');
  if (typeof data.generator.version !== 'string' || !/^\d+\.\d+\.\d+/.test(data.generator.version)) {
    fail('generator.version', 'must be a version such as 1.2.3');
  }
  if (typeof data.project?.name !== 'string' || validateProjectName(data.project.name)) {
    fail('project.name', validateProjectName(String(data.project?.name)) ?? 'must be a string');
  }
  if (typeof data.answers !== 'object' || data.answers === null) fail('answers', 'must be an object');
  const recorded: Partial<Answers> = {};
  for (const option of ANSWER_OPTIONS) {
    const value = data.answers[option.key];
    const field = `answers.${option.key}`;
    if (value === undefined) {
      // The options every project was made with must be there; a later one takes its default.
      if (option.required) fail(field, 'is missing');
      continue;
    }
    const expected = option.type === 'boolean' ? 'boolean' : option.type === 'number' ? 'number' : 'string';
    if (typeof value !== expected) fail(field, `must be a ${expected}`);
    if (option.type === 'choice' && convertValue(option, value).error) fail(field, `must be one of ${option.choices!.join(', ')}`);
    const rule = validateGiven(option, value);
    if (rule) fail(field, rule.replace(`--${option.flag} `, ''));
    (recorded as Record<string, unknown>)[option.key] = value;
  }
  const unknown = Object.keys(data.answers).filter((key) => !ANSWER_OPTIONS.some((o) => o.key === key));
  if (unknown.length > 0) fail(`answers.${unknown[0]}`, 'is not an option of this generator');
  if (typeof data.files !== 'object' || data.files === null) fail('files', 'must be an object of path → sha256');
  for (const [file, hash] of Object.entries(data.files)) {
    if (typeof hash !== 'string' || !/^sha256:[0-9a-f]{64}$/.test(hash)) fail(`files["${file}"]`, 'must be "sha256:<64 hex>"');
  }
  const { answers, defaulted } = withDefaults(recorded);
  return { generator: data.generator, project: data.project, answers, files: data.files, unrecorded: defaulted.map((o) => o.key) };
}

/** A generated file as it is on disk now; undefined when missing (or not a regular file). */
export function readProjectFile(dir: string, path: string): Buffer | undefined {
  if (isSecretPath(path)) return undefined;
  const full = join(dir, path);
  try {
    if (!lstatSync(full).isFile()) return undefined;
  } catch {
    return undefined;
  }
  return readFileSync(full);
}

/** Compares dotted versions numerically (1.10.0 > 1.9.0); a pre-release sorts before its release. */
export function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const [core, pre] = v.split('-', 2);
    return { parts: core.split('.').map(Number), pre };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < 3; i++) {
    const d = (x.parts[i] ?? 0) - (y.parts[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  if (x.pre === y.pre) return 0;
  if (x.pre === undefined) return 1;
  if (y.pre === undefined) return -1;
  return x.pre < y.pre ? -1 : 1;
}
