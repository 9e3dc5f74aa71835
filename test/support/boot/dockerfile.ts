// Just enough of a Dockerfile reader for the native boot: the stages with their base image, name,
// WORKDIR, ENV, COPY instructions, USER, CMD and ENTRYPOINT. What a booted service runs, where and with which
// environment comes from here (its image's final stage), not from names typed into the boot.
import { posix } from 'node:path';

export interface DockerCopy {
  /** `--from=<stage>`; undefined: from the build context. */
  from?: string;
  sources: string[];
  dest: string;
}

export interface DockerStage {
  image: string;
  name?: string;
  /** Absolute WORKDIR at the end of the stage ('/' when none is set). */
  workdir: string;
  /** ENV of this stage, in order (values as written: `$PATH` is not expanded). */
  env: Record<string, string>;
  copies: DockerCopy[];
  /** CMD: the exec form as is, the shell form as `/bin/sh -c …`. */
  cmd?: string[];
  /** ENTRYPOINT, read like CMD. */
  entrypoint?: string[];
  /** The last USER of the stage, as written (`101:101`, `node`). */
  user?: string;
}

/** `KEY=VALUE KEY2="VALUE 2"` (or the legacy `KEY VALUE`). */
function parseEnv(args: string, into: Record<string, string>): void {
  if (!/^[A-Za-z_][A-Za-z0-9_]*=/.test(args)) {
    const [key, ...rest] = args.split(/\s+/);
    into[key] = rest.join(' ');
    return;
  }
  for (const match of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    into[match[1]] = match[2].startsWith('"') ? match[2].slice(1, -1).replace(/\\(.)/g, '$1') : match[2];
  }
}

export function parseDockerfile(text: string): DockerStage[] {
  const stages: DockerStage[] = [];
  // Continuation lines joined; comment lines dropped (also inside a continued instruction).
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('#')) continue;
    current += (current ? ' ' : '') + line.replace(/\\$/, '').trim();
    if (!line.endsWith('\\')) {
      if (current) logical.push(current);
      current = '';
    }
  }
  if (current) logical.push(current);

  for (const line of logical) {
    const match = /^(\w+)\s+(.*)$/.exec(line);
    if (!match) continue;
    const instruction = match[1].toUpperCase();
    const args = match[2].trim();
    if (instruction === 'FROM') {
      const [image, as, name] = args.replace(/^--\S+\s+/, '').split(/\s+/);
      stages.push({ image, name: as?.toUpperCase() === 'AS' ? name : undefined, workdir: '/', env: {}, copies: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`Dockerfile: ${instruction} before FROM`);
    if (instruction === 'WORKDIR') stage.workdir = posix.resolve(stage.workdir, args);
    else if (instruction === 'ENV') parseEnv(args, stage.env);
    else if (instruction === 'CMD') stage.cmd = args.startsWith('[') ? (JSON.parse(args) as string[]) : ['/bin/sh', '-c', args];
    else if (instruction === 'ENTRYPOINT') stage.entrypoint = args.startsWith('[') ? (JSON.parse(args) as string[]) : ['/bin/sh', '-c', args];
    else if (instruction === 'USER') stage.user = args;
    else if (instruction === 'COPY' || instruction === 'ADD') {
      if (args.startsWith('[')) throw new Error(`Dockerfile: ${instruction} in JSON form is not supported here: ${line}`);
      const words = args.split(/\s+/);
      let from: string | undefined;
      while (words[0]?.startsWith('--')) {
        const flag = words.shift()!;
        if (flag.startsWith('--from=')) from = flag.slice('--from='.length);
      }
      if (words.length < 2) throw new Error(`Dockerfile: ${line}`);
      stage.copies.push({ from, sources: words.slice(0, -1), dest: words.at(-1)! });
    }
  }
  if (stages.length === 0) throw new Error('Dockerfile: no FROM');
  return stages;
}

/** The stage a `COPY --from=` names (by name or index). */
export function stageNamed(stages: DockerStage[], from: string): DockerStage {
  const stage = /^\d+$/.test(from) ? stages[Number(from)] : stages.find((s) => s.name === from);
  if (!stage) throw new Error(`Dockerfile: no stage ${from}`);
  return stage;
}

/**
 * Which folder of the build context a build stage's WORKDIR holds, on this host: the one its COPY
 * puts there whole (`COPY . .` → the context itself, `COPY apps/web/ ./` → apps/web), or the
 * context itself when every file is copied to the same path below the WORKDIR (`COPY src ./src`).
 */
export function stageSourceDir(stage: DockerStage): string {
  const fromContext = stage.copies.filter((c) => c.from === undefined);
  const whole = fromContext.filter((c) => posix.resolve(stage.workdir, c.dest) === stage.workdir
    && c.sources.length === 1 && (c.sources[0] === '.' || c.sources[0].endsWith('/')));
  if (whole.length === 1) return posix.normalize(whole[0].sources[0]).replace(/\/$/, '') || '.';
  // Files copied outside the WORKDIR (requirements.txt to /tmp/ for pip) are install inputs, not the app.
  const mirrored = fromContext.every((c) => c.sources.every((source) => {
    const dest = posix.resolve(stage.workdir, c.dest);
    const target = c.dest.endsWith('/') || c.sources.length > 1 ? posix.join(dest, posix.basename(source)) : dest;
    const rel = posix.relative(stage.workdir, target);
    return rel.startsWith('..') || rel === posix.normalize(source);
  }));
  if (whole.length === 0 && mirrored) return '.';
  throw new Error(`Dockerfile stage ${stage.name ?? stage.image}: cannot tell which folder its WORKDIR ${stage.workdir} holds`);
}
