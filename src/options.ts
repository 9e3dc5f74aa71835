// The single definition of every CLI option. Flags, prompts, validation,
// defaults, --help and the answers file are all derived from this table.
import { validateDomain, validateEmail, validateNumberInRange, validateIntegerInRange } from './validate.js';

export const TEMPLATES = ['nest-next', 'express-worker', 'fastapi-oracle'] as const;
export type TemplateName = (typeof TEMPLATES)[number];

export const TEMPLATE_LABELS: Record<TemplateName, string> = {
  'nest-next': 'NestJS API + Next.js web',
  'express-worker': 'Express API + BullMQ worker + React SPA',
  'fastapi-oracle': 'FastAPI API + gRPC "oracle" service + React SPA',
};

/** What the user decided. Recorded in .vps-stack.json; never holds a secret. */
export interface Answers {
  template: TemplateName;
  domain: string;
  email: string;
  workers: boolean;
  redis: boolean;
  pgvector: boolean;
  cloudflare: boolean;
  vpsMemory: number;
  vpsCpus: number;
  ci: 'github' | 'none';
  backupRemote: 'none' | 's3';
}
export type AnswerKey = keyof Answers;

/** Flags that steer the run but are not part of the stack. */
export interface Controls {
  yes: boolean;
  overwrite: boolean;
  interactive?: boolean;
  diff: boolean;
  upgrade: boolean;
  force: boolean;
  dryRun: boolean;
  /** Hidden: render the plan for an existing project's answers into this directory (used by --upgrade). */
  renderTo?: string;
  help: boolean;
  version: boolean;
}
export type ControlKey = keyof Controls;

interface OptionBase {
  flag: string;
  short?: string;
  description: string;
}

/** An option that is part of the answers. */
export interface AnswerOption extends OptionBase {
  key: AnswerKey;
  type: 'string' | 'boolean' | 'number' | 'choice';
  choices?: readonly string[];
  valueName?: string;
  /**
   * Required without --yes; --yes fills `default`, warning when the default is a placeholder.
   * `probe` is another value of the same shape: files that change with it hold the placeholder.
   */
  required?: boolean;
  placeholder?: { probe: string };
  /**
   * A value, or a function of the other answers: it sees every answer given (flags, or the answers
   * file) plus the defaults already taken for options earlier in this table (see withDefaults).
   */
  default: Answers[AnswerKey] | ((a: Partial<Answers>) => Answers[AnswerKey]);
  /** Returns an error text (the rule broken) or undefined. */
  validate?: (value: never) => string | undefined;
  prompt: { message: string; hint?: string };
  /** Whether to ask at all, given what is known so far. */
  askIf?: (a: Partial<Answers>) => boolean;
  /** Said instead of asking when askIf is false. */
  skipNote?: (a: Partial<Answers>) => string | undefined;
  choiceLabels?: Record<string, string>;
}

export interface ControlOption extends OptionBase {
  key: ControlKey;
  type: 'boolean' | 'string';
  valueName?: string;
  /** `--x / --no-x` pair instead of a plain switch. */
  negatable?: boolean;
  /** Machinery between generator versions, not for people: left out of --help. */
  hidden?: boolean;
  /** Refused unless one of these modes is given too (it would be ignored otherwise). */
  onlyWith?: readonly ControlKey[];
}

export const ANSWER_OPTIONS: readonly AnswerOption[] = [
  {
    key: 'template', flag: 'template', short: 't', type: 'choice', choices: TEMPLATES, valueName: 'name',
    required: true, default: 'express-worker', choiceLabels: TEMPLATE_LABELS,
    description: TEMPLATES.join(' | '),
    prompt: { message: 'Stack' },
  },
  {
    key: 'domain', flag: 'domain', type: 'string', valueName: 'host', required: true,
    default: 'example.com', placeholder: { probe: 'placeholder-probe.net' },
    description: 'apex domain: web at <host> (www redirects to it), API at api.<host>',
    validate: validateDomain as (v: never) => string | undefined,
    prompt: { message: 'Domain (apex; the API is served at api.<domain>)' },
  },
  {
    key: 'email', flag: 'email', type: 'string', valueName: 'address', required: true,
    default: 'admin@example.com', placeholder: { probe: 'probe@placeholder-probe.net' },
    description: "Let's Encrypt account email",
    validate: validateEmail as (v: never) => string | undefined,
    prompt: { message: "Email for Let's Encrypt expiry notices" },
  },
  {
    key: 'workers', flag: 'workers', type: 'boolean',
    // On for the template built around it, unless Redis (where its queue lives) was turned off.
    default: (a) => a.template === 'express-worker' && a.redis !== false,
    description: 'background worker service (needs Redis)',
    prompt: { message: 'Background worker service?' },
    askIf: (a) => a.redis !== false,
    skipNote: () => 'Background worker: none, it needs Redis (--no-redis)',
  },
  {
    key: 'redis', flag: 'redis', type: 'boolean', default: true,
    description: 'Redis (cache, queues)',
    prompt: { message: 'Redis?' },
    askIf: (a) => a.workers !== true,
    skipNote: () => 'Redis: included, the worker queue needs it',
  },
  {
    key: 'pgvector', flag: 'pgvector', type: 'boolean', default: false,
    description: 'Postgres with the pgvector extension',
    prompt: { message: 'pgvector (vector similarity search in Postgres)?' },
  },
  {
    key: 'cloudflare', flag: 'cloudflare', type: 'boolean', default: false,
    description: 'Cloudflare proxies the domain (real client IPs, origin certs, firewall)',
    prompt: { message: 'Is the domain proxied by Cloudflare?' },
  },
  {
    key: 'vpsMemory', flag: 'vps-memory', type: 'number', valueName: 'GiB', default: 4,
    description: 'RAM of the target VPS, default 4',
    validate: ((v: number) => validateNumberInRange(v, 1, 512)) as (v: never) => string | undefined,
    prompt: { message: 'VPS memory in GiB' },
  },
  {
    key: 'vpsCpus', flag: 'vps-cpus', type: 'number', valueName: 'n', default: 2,
    description: 'vCPUs, default 2',
    validate: ((v: number) => validateIntegerInRange(v, 1, 128)) as (v: never) => string | undefined,
    prompt: { message: 'VPS vCPUs' },
  },
  {
    key: 'ci', flag: 'ci', type: 'choice', choices: ['github', 'none'], valueName: 'github|none', default: 'github',
    description: 'CI/CD workflows, default github',
    choiceLabels: { github: 'GitHub Actions (CI + deploy)', none: 'none' },
    prompt: { message: 'CI/CD' },
  },
  {
    key: 'backupRemote', flag: 'backup-remote', type: 'choice', choices: ['none', 's3'], valueName: 'none|s3',
    default: 'none',
    description: 'encrypted offsite copy to an S3-compatible store, default none',
    choiceLabels: { none: 'local dumps only', s3: 'restic to an S3-compatible store (encrypted)' },
    prompt: { message: 'Offsite backups' },
  },
];

export const CONTROL_OPTIONS: readonly ControlOption[] = [
  { key: 'yes', flag: 'yes', short: 'y', type: 'boolean', description: 'take defaults for everything not given; never prompt' },
  { key: 'overwrite', flag: 'overwrite', type: 'boolean', description: 'write into a non-empty directory (replaces only generated files)' },
  { key: 'interactive', flag: 'interactive', type: 'boolean', negatable: true, description: 'ask for what flags left open (default: when in a terminal)' },
  { key: 'diff', flag: 'diff', type: 'boolean', description: 'regenerate from .vps-stack.json and show the differences' },
  { key: 'upgrade', flag: 'upgrade', type: 'boolean', description: 'regenerate from .vps-stack.json and merge into the project' },
  { key: 'dryRun', flag: 'dry-run', type: 'boolean', onlyWith: ['upgrade'], description: 'with --upgrade: print what would change, write nothing' },
  { key: 'force', flag: 'force', type: 'boolean', onlyWith: ['upgrade'], description: 'with --upgrade: proceed although the git tree is dirty' },
  { key: 'renderTo', flag: 'render-to', type: 'string', valueName: 'dir', hidden: true,
    description: "render [dir]'s recorded answers into another directory (used by --upgrade across versions)" },
  { key: 'help', flag: 'help', short: 'h', type: 'boolean', description: 'show this help' },
  { key: 'version', flag: 'version', short: 'v', type: 'boolean', description: 'show the version' },
];

export function findAnswerOption(key: AnswerKey): AnswerOption {
  const option = ANSWER_OPTIONS.find((o) => o.key === key);
  if (!option) throw new Error(`no option for ${key}`);
  return option;
}

export function defaultFor(option: AnswerOption, known: Partial<Answers>): Answers[AnswerKey] {
  return typeof option.default === 'function' ? option.default(known) : option.default;
}

/**
 * Every answer not known takes its default, in table order, so a default that depends on another
 * answer sees what was given and the defaults taken before it. Also returns the options defaulted.
 */
export function withDefaults(known: Partial<Answers>): { answers: Answers; defaulted: AnswerOption[] } {
  const answers: Partial<Answers> = { ...known };
  const defaulted: AnswerOption[] = [];
  for (const option of ANSWER_OPTIONS) {
    if (answers[option.key] !== undefined) continue;
    (answers as Record<string, unknown>)[option.key] = defaultFor(option, answers);
    defaulted.push(option);
  }
  return { answers: answers as Answers, defaulted };
}

/** Answer booleans always have a --no- form; control switches only when they say so. */
export function isNegatable(option: AnswerOption | ControlOption): boolean {
  if (option.type !== 'boolean') return false;
  return (CONTROL_OPTIONS as readonly (AnswerOption | ControlOption)[]).includes(option)
    ? (option as ControlOption).negatable === true
    : true;
}
