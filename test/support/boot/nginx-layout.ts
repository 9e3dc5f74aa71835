// The files of the generated stack's nginx container, as compose gives them to it, for the tests
// that run nginx without Docker (test/nginx.test.ts, test/nginx-pinned.test.ts,
// test/replicas.test.ts, the native boot in ./stack.ts). nginx runs the pinned image unchanged;
// what it reads comes from the nginx service's volumes in compose.yaml:
//   ./nginx            → the configuration folder (m.nginx.confDir, read-only; its own mime.types,
//                        the error pages in html/)
//   ./<m.ops.liveDir>  → what nginx routes to now (m.nginx.liveDir): written by the generated
//                        scripts/nginx-live.sh (`init`, and for an SPA `web <tag>`), run here as is
//   the web volume     → the SPA releases (m.nginx.web.dir), filled by the spa image's
//                        publish-release.sh (run here with the image's paths mapped to host folders)
// Nothing here decides a path: the mount targets come from the compose file, the release folder
// and the publish script from apps/web/Dockerfile, the files from the generated scripts.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join, posix } from 'node:path';
import type { StackModel } from '../../../src/stack/model.js';
import { parseDockerfile, stageNamed, stageSourceDir } from './dockerfile.js';
import type { RunAs } from './namespace.js';

// --- the compose service ----------------------------------------------------------------------

export interface Mount {
  /** Host path of a bind mount (absolute), or the name of a named volume. */
  source: string;
  /** Path in the container. */
  target: string;
  readOnly: boolean;
  named: boolean;
}

export interface ComposeServiceSpec {
  /** `image:` (the last file that sets it wins), undefined when none does. */
  image?: string;
  /** Whether any of the files gives the service a `build:`. */
  build: boolean;
  /** `user:` as written (`101:101`). */
  user?: string;
  mounts: Mount[];
  tmpfs: Array<{ target: string; options: string }>;
  sysctls: Array<[string, string]>;
  readOnly: boolean;
}

/** A `volumes:` entry, short (`./nginx:/etc/nginx:ro`) or long (`{type, source, target, read_only}`, as compose v2 prints it). */
export function parseVolume(entry: unknown, dir: string): Mount {
  if (typeof entry === 'string') {
    const [source, target, mode = 'rw'] = entry.split(':');
    if (!source || !target) throw new Error(`compose volume ${entry}: expected source:target[:mode]`);
    const named = !/^[./~]/.test(source);
    return { source: named ? source : (isAbsolute(source) ? source : join(dir, source)), target, readOnly: mode.split(',').includes('ro'), named };
  }
  const long = entry as { type?: string; source?: string; target?: string; read_only?: boolean };
  if (!long?.source || !long.target || (long.type !== 'bind' && long.type !== 'volume')) throw new Error(`compose volume ${JSON.stringify(entry)}: not a bind mount or a named volume`);
  const named = long.type === 'volume';
  return { source: named || isAbsolute(long.source) ? long.source : join(dir, long.source), target: long.target, readOnly: long.read_only === true, named };
}

/** One service's block of a compose file (block-style YAML as the generator writes it). */
function serviceBlock(text: string, service: string): string[] {
  const lines = text.split('\n');
  const servicesAt = lines.indexOf('services:');
  const start = lines.findIndex((l, i) => i > servicesAt && l === `  ${service}:`);
  if (servicesAt < 0 || start < 0) return [];
  let end = start + 1;
  while (end < lines.length && !/^ {0,2}[^\s#]/.test(lines[end])) end++;
  return lines.slice(start + 1, end);
}

const unquote = (s: string) => s.trim().replace(/^(['"])(.*)\1$/, '$2');

/** Items of a `    key:` list (or a scalar `    key: value`) in a service block. */
function serviceList(block: string[], key: string): string[] {
  const at = block.findIndex((l) => new RegExp(`^    ${key}:(\\s|$)`).test(l));
  if (at < 0) return [];
  const inline = block[at].slice(block[at].indexOf(':') + 1).trim();
  if (inline && !inline.startsWith('#')) return [unquote(inline.replace(/\s+#.*$/, ''))];
  const items: string[] = [];
  for (const line of block.slice(at + 1)) {
    if (/^\s*#/.test(line) || !line.trim()) continue;
    const item = /^ {6}- (.+)$/.exec(line);
    if (!item) break;
    items.push(unquote(item[1].replace(/\s+#.*$/, '')));
  }
  return items;
}

/**
 * A service of the production pair, compose.yaml + compose.prod.yaml, read from the generated
 * files (a later mount of the same target wins, as in compose).
 */
export function composeService(dir: string, service: string, files = ['compose.yaml', 'compose.prod.yaml']): ComposeServiceSpec {
  const mounts = new Map<string, Mount>();
  const tmpfs: ComposeServiceSpec['tmpfs'] = [];
  const sysctls = new Map<string, string>();
  const spec: ComposeServiceSpec = { build: false, mounts: [], tmpfs, sysctls: [], readOnly: false };
  let found = false;
  for (const file of files) {
    if (!existsSync(join(dir, file))) continue;
    const block = serviceBlock(readFileSync(join(dir, file), 'utf8'), service);
    if (block.length > 0) found = true;
    for (const volume of serviceList(block, 'volumes')) {
      const mount = parseVolume(volume, dir);
      mounts.set(mount.target, mount);
    }
    for (const entry of serviceList(block, 'tmpfs')) {
      const [target, options = ''] = entry.split(':');
      tmpfs.push({ target, options });
    }
    const at = block.findIndex((l) => /^ {4}sysctls:\s*$/.test(l));
    for (const line of at < 0 ? [] : block.slice(at + 1)) {
      if (/^\s*#/.test(line)) continue;
      const entry = /^ {6}(?:- )?([\w.]+)\s*[:=]\s*['"]?([^'"\s#]+)/.exec(line);
      if (!entry) break;
      sysctls.set(entry[1], entry[2]);
    }
    const ro = block.find((l) => /^ {4}read_only:/.test(l));
    if (ro) spec.readOnly = /:\s*true\b/.test(ro);
    const [image] = serviceList(block, 'image');
    if (image) spec.image = image;
    const [user] = serviceList(block, 'user');
    if (user) spec.user = user;
    if (block.some((l) => /^ {4}build:/.test(l))) spec.build = true;
  }
  if (!found) throw new Error(`no service ${service} in ${files.join(' + ')} of ${dir}`);
  return { ...spec, mounts: [...mounts.values()], sysctls: [...sysctls] };
}

/** A numeric `uid:gid` (compose `user:`, Dockerfile USER). */
export function numericUser(user: string | undefined, what: string): RunAs {
  const match = /^(\d+)(?::(\d+))?$/.exec(user ?? '');
  if (!match) throw new Error(`${what}: user ${user ?? '(none)'} is not a numeric uid:gid`);
  return { uid: Number(match[1]), gid: Number(match[2] ?? match[1]) };
}

// --- what the mounts hold -----------------------------------------------------------------------

/** Files under a folder, relative paths. */
export function filesUnder(dir: string, prefix = ''): string[] {
  if (!existsSync(join(dir, prefix)) || !statSync(join(dir, prefix)).isDirectory()) return [];
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    return entry.isDirectory() ? filesUnder(dir, path) : [path];
  });
}

/** A folder's files, relative path → content. */
export function readTree(dir: string): Map<string, Buffer> {
  return new Map(filesUnder(dir).map((path) => [path, readFileSync(join(dir, path))]));
}

/**
 * Runs the stack's generated scripts/nginx-live.sh once per argument list (`['init']`,
 * `['web', tag]`) in `stackDir`, and returns the live folder it wrote (m.ops.liveDir), file name →
 * content. These subcommands only write files: a `docker` that fails is first on PATH, so a
 * change that made them talk to Docker fails here instead of reaching a real engine.
 */
export function runNginxLive(stackDir: string, m: StackModel, ...commands: string[][]): Map<string, Buffer> {
  const bin = mkdtempSync(join(tmpdir(), 'cvs-nolive-docker-'));
  try {
    writeFileSync(join(bin, 'docker'), '#!/bin/sh\necho "docker $* called by scripts/nginx-live.sh (the test allows no docker here)" >&2\nexit 97\n', { mode: 0o755 });
    for (const args of commands) {
      const result = spawnSync('bash', ['scripts/nginx-live.sh', ...args], {
        cwd: stackDir, encoding: 'utf8', timeout: 30_000, env: { PATH: `${bin}:${process.env.PATH}`, LANG: 'C.UTF-8', HOME: stackDir },
      });
      if (result.status !== 0) throw new Error(`scripts/nginx-live.sh ${args.join(' ')} exited ${result.status ?? result.signal}:\n${result.stdout}${result.stderr}${result.error ?? ''}`);
    }
  } finally {
    rmSync(bin, { recursive: true, force: true });
  }
  const live = join(stackDir, m.ops.liveDir);
  if (!existsSync(live)) throw new Error(`scripts/nginx-live.sh wrote no ${m.ops.liveDir}`);
  return readTree(live);
}

/**
 * The live files for an nginx older than 1.27.3, which has no `server ... resolve`: the one
 * parameter dropped from every upstream file (each must have had it: the 1.30 config is what is
 * being tested, minus exactly that).
 */
export function withoutResolve(live: Map<string, Buffer>): Map<string, Buffer> {
  const copy = new Map(live);
  for (const [name, content] of live) {
    if (!name.endsWith('.upstream')) continue;
    const text = content.toString('utf8');
    if (!/ resolve;$/m.test(text)) throw new Error(`${name}: no \`server ... resolve;\` to strip:\n${text}`);
    copy.set(name, Buffer.from(text.replaceAll(' resolve;', ';')));
  }
  return copy;
}

/** The spa image as apps/web/Dockerfile builds it (m.services.spa's build context). */
export interface SpaImage {
  /** Host folder of the build context. */
  context: string;
  /** Where the final stage puts the build (`COPY --from=build /app/dist/ /release/`): the path in the image. */
  releaseDir: string;
  /** That build on this host (the build stage's WORKDIR is the context: apps/web/dist once built). */
  dist: string;
  /** The publish script its ENTRYPOINT runs, on this host (the COPY source in the context). */
  script: string;
  /** ENTRYPOINT, as written. */
  entrypoint: string[];
  /** The final stage's USER. */
  user: RunAs;
}

export function spaImage(stackDir: string, m: StackModel): SpaImage {
  const spa = m.services.spa;
  if (!m.features.spa || !spa?.buildContext) throw new Error('this stack has no spa service');
  const context = join(stackDir, spa.buildContext);
  const stages = parseDockerfile(readFileSync(join(context, spa.dockerfile ?? 'Dockerfile'), 'utf8'));
  const final = stages.at(-1)!;
  const fromBuild = final.copies.filter((c) => c.from !== undefined);
  if (fromBuild.length !== 1 || fromBuild[0].sources.length !== 1) throw new Error(`${spa.buildContext}/Dockerfile: expected one COPY --from of the build, got ${JSON.stringify(fromBuild)}`);
  const stage = stageNamed(stages, fromBuild[0].from!);
  const rel = posix.relative(stage.workdir, fromBuild[0].sources[0]);
  if (rel.startsWith('..')) throw new Error(`${spa.buildContext}/Dockerfile: COPY --from=${fromBuild[0].from} outside that stage's WORKDIR`);
  const dist = join(context, stageSourceDir(stage), rel);
  const releaseDir = fromBuild[0].dest.replace(/\/+$/, '') || '/';
  const entrypoint = final.entrypoint ?? [];
  // The entry point runs a script the final stage copies from the context: that file is the one run here.
  const scriptPath = entrypoint.find((word) => final.copies.some((c) => c.from === undefined && c.dest === word));
  const scriptCopy = final.copies.find((c) => c.from === undefined && c.dest === scriptPath);
  if (!scriptCopy || scriptCopy.sources.length !== 1) throw new Error(`${spa.buildContext}/Dockerfile: the ENTRYPOINT ${JSON.stringify(entrypoint)} runs no script copied from the context`);
  return { context, releaseDir, dist, script: join(context, scriptCopy.sources[0]), entrypoint, user: numericUser(final.user, `${spa.buildContext}/Dockerfile USER`) };
}

export interface PublishOptions {
  /** The build to publish (default: the image's, apps/web/dist, which must have been built). */
  dist?: string;
  /** Host folder standing for the web volume (created, owned by the image's user, as the image's first mount leaves it). */
  volume: string;
  tag: string;
  keep?: number;
}

/**
 * Publishes a release into `volume` by running the generated publish-release.sh itself (its
 * commands, as the spa image's ENTRYPOINT runs them, as the image's USER when this runs as root)
 * with the two image paths it names mapped to host folders: the image's release folder
 * (SpaImage.releaseDir) → the build, m.nginx.web.dir → `volume`. Each mapping must apply at least
 * once, and no other reference to either path may remain. Returns the script's output.
 */
export function publishRelease(stackDir: string, m: StackModel, options: PublishOptions): string {
  const image = spaImage(stackDir, m);
  const dist = options.dist ?? image.dist;
  if (!existsSync(join(dist, 'index.html'))) throw new Error(`no build to publish: ${dist}/index.html is missing`);
  const original = readFileSync(image.script, 'utf8');
  const mapping = new Map([[m.nginx.web.dir, options.volume], [image.releaseDir, dist]]);
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const counts = new Map([...mapping.keys()].map((k) => [k, 0]));
  // Whole paths only: /release is not the start of /srv/web/releases or of /release-notes.
  const pattern = new RegExp(`(?<![\\w./-])(${[...mapping.keys()].map(escape).join('|')})(?![\\w.-])`, 'g');
  const script = original.replace(pattern, (path: string) => {
    counts.set(path, counts.get(path)! + 1);
    return mapping.get(path)!;
  });
  for (const [path, count] of counts) if (count === 0) throw new Error(`${image.script}: never names ${path}: cannot map it for a run outside the image`);
  const as = process.getuid?.() === 0 ? image.user : undefined;
  mkdirSync(options.volume, { recursive: true });
  if (as) chownSync(options.volume, as.uid, as.gid);
  const dir = mkdtempSync(join(tmpdir(), 'cvs-publish-'));
  try {
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, 'publish-release.sh'), script, { mode: 0o644 });
    const result = spawnSync('sh', [join(dir, 'publish-release.sh'), options.tag, String(options.keep ?? m.ops.keepReleases)], {
      cwd: '/', encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH, LANG: 'C.UTF-8' }, ...(as ?? {}),
    });
    if (result.status !== 0) throw new Error(`publish-release.sh ${options.tag} exited ${result.status ?? result.signal}:\n${result.stdout}${result.stderr}${result.error ?? ''}`);
    return `${result.stdout}${result.stderr}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// --- the container's view ----------------------------------------------------------------------

export interface NginxSources {
  /** The files of the nginx/ folder, relative path → content (edited or re-rendered ones allowed). */
  nginx: Map<string, Buffer | string>;
  /** The live folder (runNginxLive). */
  live: Map<string, Buffer | string>;
  /** Host folder of the web volume (SPA stacks; publishRelease filled it). None: the volume is empty (no release yet). */
  web?: string;
}

/**
 * Every file the nginx container reads from its mounts, by absolute path in the container: the
 * nginx/ folder at the target compose mounts it at, the live folder at its target, the web
 * volume's files at its. Another bind mount, a named volume other than the web volume, the
 * letsencrypt and ACME ones (their content is the caller's), or a missing nginx/ or live mount is
 * an error: the caller would be testing a layout compose does not give nginx.
 */
export function containerFiles(stackDir: string, m: StackModel, mounts: Mount[], sources: NginxSources): Map<string, Buffer | string> {
  const files = new Map<string, Buffer | string>();
  const seen = new Set<string>();
  const others = new Set([m.volumes.letsencrypt, m.volumes.acmeWebroot]);
  for (const mount of mounts) {
    let tree: Map<string, Buffer | string>;
    if (!mount.named && mount.source === join(stackDir, 'nginx')) tree = sources.nginx;
    else if (!mount.named && mount.source === join(stackDir, m.ops.liveDir)) tree = sources.live;
    else if (mount.named && m.features.spa && mount.source === m.volumes.web) tree = sources.web ? readTree(sources.web) : new Map();
    else if (mount.named && others.has(mount.source)) continue;
    else throw new Error(`the nginx service mounts ${mount.source} at ${mount.target}: unknown to this emulation`);
    if (!mount.readOnly) throw new Error(`the nginx service mounts ${mount.source} read-write`);
    seen.add(mount.named ? mount.source : mount.source.slice(stackDir.length + 1));
    for (const [path, content] of tree) files.set(posix.join(mount.target, path), content);
  }
  for (const needed of ['nginx', m.ops.liveDir, ...(m.features.spa ? [m.volumes.web] : [])]) {
    if (!seen.has(needed)) throw new Error(`the nginx service does not mount ${needed}`);
  }
  return files;
}
