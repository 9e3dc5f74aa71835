// The CLI as steps over one run: parse → answers → stack model → file plan → write → report.
// Nothing touches the target until the whole plan is rendered in memory.
import { basename, resolve } from 'node:path';
import { MANIFEST_PATH, withManifest } from '../manifest.js';
import { packageVersion } from '../render/paths.js';
import { ANSWER_OPTIONS, defaultFor, type AnswerOption, type Answers, type Controls } from '../options.js';
import type { FilePlan } from '../render/plan.js';
import { VpsTooSmallError } from '../stack/memory.js';
import { buildStackModel, type StackModel } from '../stack/model.js';
import { validateProjectName } from '../validate.js';
import { existingEntries, TargetError, writePlan } from '../writer.js';
import { contradictions, resolveWithoutPrompts } from './answers.js';
import { parseArgs } from './args.js';
import { CancelledError, UserError } from './errors.js';
import { helpText } from './help.js';
import { successText } from './summary.js';
import { configureColors, detectPackageManager, style, type Io } from './ui.js';

export const VERSION: string = packageVersion();
const DEFAULT_DIR = 'my-stack';
/** EX_SOFTWARE (sysexits.h): distinct from 1 (bad input, differences, conflicts) and 2 (regeneration errors). */
export const INTERNAL_ERROR_EXIT = 70;

const cancelOnAbort = {
  onCancel: () => {
    throw new CancelledError();
  },
};

function projectNameOf(dir: string, cwd: string): string {
  const name = basename(resolve(cwd, dir));
  const rule = validateProjectName(name);
  if (rule) throw new UserError(`target directory "${dir}" cannot name a project: the name ${rule}`);
  return name;
}

// Loaded on demand: most runs never prompt.
const loadPrompts = async () => (await import('prompts')).default;

async function askDirectory(): Promise<string> {
  const prompts = await loadPrompts();
  const { dir } = await prompts(
    {
      type: 'text', name: 'dir', message: 'Project directory', initial: DEFAULT_DIR,
      validate: (text: string) => validateProjectName(basename(resolve(String(text).trim()))) ?? true,
      format: (text: string) => String(text).trim(),
    },
    cancelOnAbort,
  );
  return dir;
}

async function confirmOverwrite(target: string, entries: string[]): Promise<void> {
  const prompts = await loadPrompts();
  const { choice } = await prompts(
    {
      type: 'select', name: 'choice',
      message: `${target} is not empty (${entries.length} entries). What now?`,
      choices: [
        { title: 'Cancel', value: 'cancel' },
        { title: 'Replace the files create-vps-stack writes; keep everything else', value: 'overwrite' },
      ],
      initial: 0,
    },
    cancelOnAbort,
  );
  if (choice !== 'overwrite') throw new CancelledError();
}

/** Answers still at a placeholder default (example.com), whether taken by --yes or at a prompt. */
function placeholdersIn(answers: Answers): AnswerOption[] {
  return ANSWER_OPTIONS.filter((o) => o.placeholder && answers[o.key] === defaultFor(o, answers));
}

/**
 * Files that hold a placeholder: render again with probe values in its place and see which
 * files change. (A plain text search would also flag files that mention example.com as an example.)
 */
function filesHolding(plan: FilePlan, model: StackModel, placeholders: AnswerOption[], renderPlan: (m: StackModel) => FilePlan): string[] {
  const probed = { ...model.answers };
  for (const option of placeholders) (probed as Record<string, unknown>)[option.key] = option.placeholder!.probe;
  const before = new Map(plan.files.map((f) => [f.path, f.content]));
  const changed = renderPlan(buildStackModel(probed, model.project.name)).files
    .filter((f) => !before.get(f.path)?.equals(f.content))
    .map((f) => f.path);
  return [...changed, MANIFEST_PATH].sort();
}

async function runRegeneration(io: Io, dirArg: string, given: Partial<Answers>, controls: Controls, say: (t: string) => void): Promise<number> {
  const dir = resolve(io.cwd, dirArg);
  if ([controls.diff, controls.upgrade, controls.renderTo !== undefined].filter(Boolean).length > 1) {
    throw new UserError('use one of --diff, --upgrade at a time', 2);
  }
  if (controls.renderTo !== undefined) {
    const { renderRecorded } = await import('../regen/render-to.js');
    await renderRecorded(dir, resolve(io.cwd, controls.renderTo), VERSION);
    return 0;
  }
  if (controls.diff) return (await import('../regen/diff-command.js')).diffCommand(dir, given, say);
  const { upgradeCommand } = await import('../regen/upgrade.js');
  return upgradeCommand({ dir, overrides: given, runningVersion: VERSION, env: io.env, force: controls.force, dryRun: controls.dryRun, say });
}

export async function run(io: Io): Promise<number> {
  configureColors(io);
  const say = (text: string) => io.stdout.write(`${text}\n`);
  // --diff / --upgrade / --render-to work on an existing project: every error there exits 2
  // (1 means "differences" or "conflicts to review").
  let regenerating = false;
  try {
    const { dir: givenDir, given, controls, errors } = parseArgs(io.argv);
    if (controls.help) {
      say(helpText(VERSION));
      return 0;
    }
    if (controls.version) {
      say(VERSION);
      return 0;
    }
    regenerating = Boolean(controls.diff || controls.upgrade || controls.renderTo !== undefined);
    if (errors.length > 0) throw new UserError(errors.join('\n'), regenerating ? 2 : 1);
    if (regenerating) return await runRegeneration(io, givenDir ?? '.', given, controls, say);
    const terminal = Boolean(io.stdin.isTTY && io.stdout.isTTY);
    const interactive = !controls.yes && (controls.interactive ?? terminal);
    if (interactive && !terminal) {
      throw new UserError('--interactive needs a terminal on stdin and stdout; pass the options as flags, or --yes');
    }
    const early = contradictions(given);
    if (early.length > 0) throw new UserError(early.join('\n'));

    let dir = givenDir;
    if (dir === undefined && !interactive && !controls.yes) {
      // Report the directory together with any missing flags.
      try {
        resolveWithoutPrompts(given, false);
      } catch (error) {
        throw new UserError(`missing target directory [dir]; ${(error as Error).message}`);
      }
      throw new UserError('missing target directory: create-vps-stack <dir> [options]');
    }
    if (dir !== undefined) projectNameOf(dir, io.cwd); // fail on a bad name before asking anything
    dir ??= interactive ? await askDirectory() : DEFAULT_DIR;
    const projectName = projectNameOf(dir, io.cwd);
    const target = resolve(io.cwd, dir);

    const answers: Answers = interactive
      ? await (await import('./prompt-answers.js')).resolveByPrompting(given, say)
      : resolveWithoutPrompts(given, controls.yes);
    const conflicts = contradictions(answers);
    if (conflicts.length > 0) throw new UserError(conflicts.join('\n'));

    let model;
    try {
      model = buildStackModel(answers, projectName);
    } catch (error) {
      if (!(error instanceof VpsTooSmallError)) throw error;
      throw new UserError(
        `--vps-memory ${answers.vpsMemory} is too small for these services: their minimum limits need ${error.neededMiB} MiB, ` +
          `85 % of ${answers.vpsMemory} GiB is ${error.budgetMiB} MiB. Use at least --vps-memory ${error.minimumGiB}` +
          (answers.workers ? ', or drop --workers' : ''),
      );
    }

    const entries = existingEntries(target);
    if (entries.length > 0 && !controls.overwrite) {
      if (!interactive) {
        throw new UserError(`${dir} is not empty: pass --overwrite to replace the generated files (other files and .git are kept)`);
      }
      await confirmOverwrite(dir, entries);
    }

    const { renderPlan } = await import('../render/plan.js');
    const bare = renderPlan(model);
    const plan = withManifest(bare, model, VERSION);
    writePlan(target, plan);

    say(successText(model, plan, target, io.cwd, detectPackageManager(io.env.npm_config_user_agent)));
    const placeholders = placeholdersIn(answers);
    if (placeholders.length > 0) {
      const files = filesHolding(bare, model, placeholders, renderPlan);
      const given = placeholders.map((o) => `--${o.flag} ${String(answers[o.key])}`).join(' and ');
      const real = placeholders.map((o) => `--${o.flag} <yours>`).join(' ');
      io.stderr.write(style.yellow(
        `⚠ Placeholder ${given} in use. Before deploying, set real values: in the project run\n` +
          `    npm create vps-stack@latest -- --upgrade ${real}\n` +
          `  which rewrites the ${files.length} files that hold them:\n${files.map((f) => `    ${f}`).join('\n')}\n`,
      ));
    }
    return 0;
  } catch (error) {
    if (error instanceof CancelledError) {
      io.stderr.write(`${style.red('✖')} Operation cancelled\n`);
      return 130;
    }
    if (error instanceof UserError || error instanceof TargetError) {
      io.stderr.write(`${style.red('error:')} ${error.message}\n`);
      if (regenerating) return 2;
      return error instanceof UserError ? error.exitCode : 1;
    }
    // Not the user's input: a bug, or the machine (disk full, permissions). Told apart by its
    // wording and its exit code, with the stack trace for the report.
    io.stderr.write(
      `${style.red('internal error')} in create-vps-stack ${VERSION} (not a problem with your options): ` +
        `${(error as Error).message ?? String(error)}\n` +
        `Nothing was written unless stated above. If this persists, report it with the trace below.\n` +
        `${style.dim((error as Error).stack ?? String(error))}\n`,
    );
    return INTERNAL_ERROR_EXIT;
  }
}
