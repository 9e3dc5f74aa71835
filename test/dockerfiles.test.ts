// Every generated Dockerfile of every answer set (each template's matrix, plus every option on and
// every option off) parses, twice over: with BuildKit's own frontend (its parser and instruction
// layer, the code `docker build` runs, with the linter rules that run while parsing:
// .ci/dockerfile-check, built by .ci/install-dockerfile-check.sh) and with dockerfile-utils. On
// BuildKit's reading of each file: no warning, no `# syntax=` directive (it makes every build pull
// docker/dockerfile from Docker Hub), every stage FROM a pinned image of src/versions.ts or an
// earlier stage, the final stage FROM the service's image, a non-root USER, the model's
// healthcheck (`HEALTHCHECK NONE` for a one-off job), CMD/ENTRYPOINT in exec form. nginx has no
// Dockerfile: compose runs the pinned image as is, with the generated nginx/ folder mounted.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validate } from 'dockerfile-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Service, StackModel } from '../src/stack/model.js';
import { IMAGES } from '../src/versions.js';
import { composeService, spaImage } from './support/boot/nginx-layout.js';
import { everyAnswerSet, inCI, writeStack, type RenderedStack } from './support/stack.js';

/**
 * The dockerfile-check binary: CVS_DOCKERFILE_CHECK, else bin/dockerfile-check in
 * DOCKERFILE_CHECK_CACHE, CVS_CACHE/dockerfile-check or the default cache. Missing: a skip
 * locally, an error under CI (.ci/install-dockerfile-check.sh builds it).
 */
function dockerfileCheck(): string | undefined {
  const candidates = process.env.CVS_DOCKERFILE_CHECK
    ? [process.env.CVS_DOCKERFILE_CHECK]
    : [
        ...(process.env.DOCKERFILE_CHECK_CACHE ? [join(process.env.DOCKERFILE_CHECK_CACHE, 'bin/dockerfile-check')] : []),
        ...(process.env.CVS_CACHE ? [join(process.env.CVS_CACHE, 'dockerfile-check/bin/dockerfile-check')] : []),
        '/var/cache/create-vps-stack/dockerfile-check/bin/dockerfile-check',
      ];
  const found = candidates.find((path) => existsSync(path));
  if (found) return found;
  if (inCI) throw new Error(`dockerfile-check is required under CI=true but none of ${candidates.join(', ')} exists (bash .ci/install-dockerfile-check.sh)`);
  return undefined;
}

const DOCKERFILE_CHECK = dockerfileCheck();

/** BuildKit's reading of one Dockerfile, as .ci/dockerfile-check/main.go prints it. */
interface BuildkitCommand {
  instruction: string;
  type: string;
  line: number;
  value: Record<string, unknown>;
}
interface BuildkitReport {
  file: string;
  error?: string;
  syntax?: string;
  warnings: Array<{ rule: string; message: string; line: number }>;
  metaArgs: string[];
  stages: Array<{ name: string; baseName: string; platform: string; line: number; commands: BuildkitCommand[] }>;
}

function buildkitParse(files: string[]): BuildkitReport[] {
  const result = spawnSync(DOCKERFILE_CHECK!, files, { encoding: 'utf8', timeout: 60_000, maxBuffer: 32 * 1024 * 1024 });
  if (result.error) throw result.error;
  // Exit 1 means "a file has an error" (reported per file below); anything else is the tool failing.
  if (result.status !== 0 && result.status !== 1) throw new Error(`dockerfile-check exited ${result.status}: ${result.stderr}`);
  const reports = JSON.parse(result.stdout) as BuildkitReport[];
  expect(reports.map((r) => r.file)).toEqual(files);
  expect(result.status, 'dockerfile-check exit status').toBe(reports.some((r) => r.error) ? 1 : 0);
  return reports;
}

const SETS = everyAnswerSet();

/** The Dockerfile a built service uses, relative to the project root. */
const dockerfileOf = (s: Service) => join(s.buildContext!, s.dockerfile ?? 'Dockerfile').replace(/^\.\//, '');

/** Each generated Dockerfile with the services built from it, in the model's order (the image's own service first). */
function dockerfiles(m: StackModel): Map<string, Service[]> {
  const byFile = new Map<string, Service[]>();
  for (const s of m.services.list.filter((x) => x.buildContext !== undefined)) {
    byFile.set(dockerfileOf(s), [...(byFile.get(dockerfileOf(s)) ?? []), s]);
  }
  return byFile;
}

const PINNED = new Set<string>(Object.values(IMAGES));
const ROOT_USERS = new Set(['', 'root', '0']);

describe.each(SETS)('Dockerfiles: %s', (_name, overrides) => {
  let stack: RenderedStack;
  let files: Map<string, Service[]>;
  beforeAll(() => {
    stack = writeStack(overrides);
    files = dockerfiles(stack.model);
  });
  afterAll(() => stack?.cleanup());

  it('the generated Dockerfiles are exactly those of the built services: apps/*, backup (nginx runs its image as is)', () => {
    const m = stack.model;
    const generated = stack.plan.files.map((f) => f.path).filter((path) => /(^|\/)Dockerfile$/.test(path)).sort();
    expect(generated).toEqual([...files.keys()].sort());
    for (const path of generated) expect(path).toMatch(/^(apps\/[\w-]+|backup)\/Dockerfile$/);
    expect(generated).toContain('backup/Dockerfile');
    for (const path of generated) expect(existsSync(join(stack.dir, path)), path).toBe(true);
    // No image is built from the repository root: no root .dockerignore either.
    expect(stack.plan.files.map((f) => f.path)).not.toContain('.dockerignore');
    for (const s of m.services.list.filter((x) => x.buildContext !== undefined)) expect(s.buildContext, s.name).not.toBe('.');

    // nginx: the pinned image, unchanged, no build (its config is the mounted nginx/ folder).
    expect(generated).not.toContain('nginx/Dockerfile');
    expect(m.services.nginx.buildContext).toBeUndefined();
    expect(m.services.nginx.image).toBe(IMAGES.nginx);
    for (const file of [m.compose.base, m.compose.prod]) {
      const nginx = composeService(stack.dir, m.services.nginx.name, [file]);
      expect(nginx.build, `${file}: nginx has no build`).toBe(false);
      if (file === m.compose.base) expect(nginx.image, file).toBe(IMAGES.nginx);
      else expect(nginx.image, `${file} keeps the base file's image`).toBeUndefined();
    }

    // The SPA (express-worker, fastapi-oracle) is its own image: apps/web/Dockerfile, service spa.
    if (m.features.spa) {
      expect(files.get('apps/web/Dockerfile')?.map((s) => s.name)).toEqual([m.services.spa.name]);
      expect(m.services.spa.role).toBe('job');
      expect(m.services.spa.healthcheck).toEqual(['NONE']);
    } else {
      expect(m.services.spa).toBeUndefined();
    }
  });

  it('dockerfile-utils: no errors', () => {
    for (const path of files.keys()) {
      const errors = validate(readFileSync(join(stack.dir, path), 'utf8'))
        .filter((d) => d.severity === 1)
        .map((d) => `${path}:${d.range.start.line + 1}: ${d.message}`);
      expect(errors, path).toEqual([]);
    }
  });

  it.skipIf(!DOCKERFILE_CHECK)('BuildKit parses every one: no error, no lint warning, no # syntax=, pinned bases, non-root USER, the model\'s HEALTHCHECK', () => {
    const m = stack.model;
    const paths = [...files.keys()];
    const reports = buildkitParse(paths.map((path) => join(stack.dir, path)));
    for (const [index, report] of reports.entries()) {
      const path = paths[index];
      const [owner] = files.get(path)!;
      expect(report.error, path).toBeUndefined();
      expect(report.warnings, path).toEqual([]);
      expect(report.syntax, `${path}: # syntax= directive`).toBeUndefined();
      expect(readFileSync(join(stack.dir, path), 'utf8'), path).not.toMatch(/^#\s*syntax\s*=/im);
      expect(report.metaArgs, `${path}: ARG before FROM`).toEqual([]);
      expect(report.stages.length, path).toBeGreaterThan(0);

      // Each stage FROM a pinned image or an earlier stage; the final one FROM the service's image.
      const earlier = new Set<string>();
      for (const stage of report.stages) {
        expect(PINNED.has(stage.baseName) || earlier.has(stage.baseName), `${path}: FROM ${stage.baseName} (line ${stage.line})`).toBe(true);
        expect(stage.platform, path).toBe('');
        if (stage.name) earlier.add(stage.name);
      }
      const final = report.stages.at(-1)!;
      expect(final.baseName, `${path}: final stage`).toBe(owner.image);
      expect(new Set(report.stages.map((s) => s.name)).size, `${path}: stage names`).toBe(report.stages.length);

      // The final stage runs as a non-root user (the last USER counts).
      const users = final.commands.filter((c) => c.type === 'UserCommand').map((c) => String(c.value.User));
      expect(users.length, `${path}: USER in the final stage`).toBeGreaterThan(0);
      const user = users.at(-1)!.split(':')[0];
      expect(ROOT_USERS.has(user), `${path}: USER ${users.at(-1)}`).toBe(false);

      // Exactly one HEALTHCHECK, the model's (compose.yaml repeats it; `docker run` gets it from here).
      // A one-off job (['NONE']) turns off whatever check its base image has: `HEALTHCHECK NONE`.
      const checks = final.commands.filter((c) => c.type === 'HealthCheckCommand');
      expect(checks, `${path}: HEALTHCHECK`).toHaveLength(1);
      const health = checks[0].value.Health as { Test: string[]; Retries: number; Interval: number };
      expect(health.Test, `${path}: HEALTHCHECK`).toEqual(owner.healthcheck);
      if (owner.healthcheck[0] === 'NONE') {
        expect(owner.role, `${path}: no healthcheck for a long-running service`).toBe('job');
        expect(readFileSync(join(stack.dir, path), 'utf8'), path).toMatch(/^HEALTHCHECK NONE$/m);
      } else {
        expect(health.Retries, path).toBeGreaterThan(0);
        expect(health.Interval, path).toBeGreaterThan(0);
      }

      // CMD and ENTRYPOINT in exec form (signals reach the process; BuildKit's JSONArgsRecommended).
      // Every built image says what it runs (none keeps a base image's command).
      const start = final.commands.filter((c) => c.type === 'CmdCommand' || c.type === 'EntrypointCommand');
      expect(start.length, `${path}: CMD/ENTRYPOINT`).toBeGreaterThan(0);
      for (const c of start) expect(c.value.PrependShell, `${path}: ${c.instruction} in shell form (line ${c.line})`).toBe(false);

      // spa: its ENTRYPOINT runs the publish script the final stage copies in, on its build.
      if (m.features.spa && owner.name === m.services.spa.name) {
        const entrypoint = final.commands.filter((c) => c.type === 'EntrypointCommand');
        expect(entrypoint, `${path}: ENTRYPOINT`).toHaveLength(1);
        const image = spaImage(stack.dir, m);
        expect(entrypoint[0].value.CmdLine, path).toEqual(image.entrypoint);
        expect(image.script).toBe(join(stack.dir, 'apps/web/publish-release.sh'));
        expect(existsSync(image.script), image.script).toBe(true);
        expect(image.dist).toBe(join(stack.dir, 'apps/web/dist'));
        expect(image.user).toEqual({ uid: m.nginx.uid, gid: m.nginx.gid });
      }
    }
    expect(reports.map((r) => r.file)).toHaveLength(files.size);
    expect(m.services.list.filter((s) => s.buildContext !== undefined).every((s) => files.has(dockerfileOf(s)))).toBe(true);
  });
});

// The checker itself: a file BuildKit rejects must be reported as an error, not pass silently.
describe.skipIf(!DOCKERFILE_CHECK)('dockerfile-check', () => {
  it('reports what `docker build` rejects (an unknown instruction, a bad flag), the linter\'s parse-time rules and # syntax=', async () => {
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'cvs-dockerfile-check-'));
    try {
      const write = (name: string, text: string) => {
        writeFileSync(join(dir, name), text);
        return join(dir, name);
      };
      const files = [
        write('unknown', 'FROM debian:12\nnginx, running as nginx\n'),
        write('flag', 'FROM debian:12\nCOPY --frm=x a b\n'),
        write('lint', 'FROM debian:12 as Build\nCMD ["true"]\n'),
        write('syntax', '# syntax=docker/dockerfile:1\nFROM debian:12\nUSER 1000\n'),
      ];
      const [unknown, flag, lint, syntax] = buildkitParse(files);
      expect(unknown.error).toMatch(/unknown instruction: nginx,/i);
      expect(flag.error).toMatch(/unknown flag: --?frm/i);
      expect(lint.error).toBeUndefined();
      expect(lint.warnings.map((w) => w.rule).sort()).toEqual(['FromAsCasing', 'StageNameCasing']);
      expect(syntax.syntax).toBe('docker/dockerfile:1');
      expect(syntax.stages[0].commands.map((c) => c.type)).toEqual(['UserCommand']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
