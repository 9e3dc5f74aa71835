// Stand-in images for fastapi-oracle's Python services (api, worker, oracle) on the test engine.
// Their real Dockerfiles `pip install` from PyPI, which this machine cannot reach; a stand-in is
// the generated Dockerfile with only what needs PyPI replaced:
//   - each stage's base is the python stand-in (IMAGES.python) plus Debian's python3-* packages for
//     the requirements that stage's virtualenv would hold (PYPI_TO_DEBIAN maps every requirement;
//     a requirement it does not know fails the build, so a new dependency cannot slip past);
//   - the RUN that creates the virtualenvs and `pip install`s into them creates the same
//     virtualenvs with --system-site-packages (they see Debian's packages) and writes the console
//     scripts pip would have written (gunicorn, alembic, rq ...) from the packages' entry points;
//   - every other line of both stages is the generated file's own: WORKDIR, the COPYs of the
//     generated source, tools/gen_protos.py generating the gRPC stubs into the runtime virtualenv
//     (with Debian's grpc_tools), compileall, the user and uid, ENV, EXPOSE, HEALTHCHECK, CMD.
// The build context is the generated apps/<service> folder with its own .dockerignore; the
// Dockerfile and the console-script writer live in a temp folder (never in the generated stack).
// The Debian layers are built once per package set and base image, and kept as a `docker save`
// tarball in $PYTHON_STANDIN_CACHE (default /var/cache/create-vps-stack/python-standin), so a
// fresh engine loads them instead of downloading the packages again; PYTHON_STANDIN_REFRESH=1
// builds them again from Debian's archive.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IMAGES } from '../../src/versions.js';
import { dockerEnv, run, succeed } from './docker.js';

const CACHE = process.env.PYTHON_STANDIN_CACHE ?? '/var/cache/create-vps-stack/python-standin';
const LABEL = 'org.create-vps-stack.standin';

/**
 * Every PyPI requirement of the generated apps: the Debian packages that provide it, and what
 * differs. An empty list: not packaged in Debian (the note says what takes its place).
 */
export const PYPI_TO_DEBIAN: Record<string, { packages: string[]; note?: string }> = {
  fastapi: { packages: ['python3-fastapi'] },
  pydantic: { packages: ['python3-pydantic'] },
  uvicorn: { packages: ['python3-uvicorn'], note: "Debian's python3-uvicorn depends on python3-uvloop: uvicorn's auto loop picks uvloop (PyPI's plain uvicorn has asyncio)" },
  'uvicorn-worker': {
    packages: [],
    note: 'not packaged in Debian: the generated gunicorn.conf.py falls back to uvicorn.workers.UvicornWorker, the deprecated copy of the same worker in uvicorn itself',
  },
  gunicorn: { packages: ['python3-gunicorn'] },
  sqlalchemy: { packages: ['python3-sqlalchemy'] },
  alembic: { packages: ['python3-alembic'] },
  psycopg: {
    packages: ['python3-psycopg', 'python3-psycopg-c'],
    note: "psycopg[binary] is the C implementation with its own libpq; Debian's python3-psycopg-c is the same implementation linked against Debian's libpq5",
  },
  grpcio: { packages: ['python3-grpcio'] },
  protobuf: { packages: ['python3-protobuf'] },
  redis: { packages: ['python3-redis'] },
  rq: { packages: ['python3-rq'] },
  'prometheus-client': { packages: ['python3-prometheus-client'] },
  'grpcio-tools': { packages: ['python3-grpc-tools'], note: "Debian's grpc_tools compiles with Debian's libprotoc (the protobuf runtime's own version)" },
};

export interface Requirement {
  /** Normalised PyPI name (lowercase, `_` and `.` as `-`). */
  name: string;
  extras: string[];
  /** The exact pin (`==`), when there is one. */
  pin?: string;
}

/** The requirements of a requirements.txt (comments, blank lines and options skipped). */
export function parseRequirements(text: string): Requirement[] {
  const found: Requirement[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+#.*$/, '').trim();
    if (!line || line.startsWith('#') || line.startsWith('-')) continue;
    const match = /^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?\s*(?:==\s*([^\s;,]+))?/.exec(line);
    if (!match) throw new Error(`cannot read the requirement line: ${raw}`);
    found.push({
      name: match[1]!.toLowerCase().replace(/[_.]+/g, '-'),
      extras: (match[2] ?? '').split(',').map((e) => e.trim()).filter(Boolean),
      pin: match[3],
    });
  }
  return found;
}

/** Debian packages for requirements; throws for one PYPI_TO_DEBIAN does not know. */
export function debianPackages(requirements: Requirement[]): string[] {
  const packages = new Set<string>();
  for (const r of requirements) {
    const known = PYPI_TO_DEBIAN[r.name];
    if (!known) throw new Error(`no Debian package known for the requirement ${r.name}: add it to PYPI_TO_DEBIAN in test/support/python-standin.ts`);
    for (const p of known.packages) packages.add(p);
  }
  return [...packages].sort();
}

/** One Dockerfile instruction with the comment and blank lines before it, as written. */
interface Instruction {
  lead: string[];
  text: string;
  keyword: string;
}

function instructions(dockerfile: string): { items: Instruction[]; tail: string[] } {
  const items: Instruction[] = [];
  let lead: string[] = [];
  const lines = dockerfile.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (/^\s*(#.*)?$/.test(line)) {
      lead.push(line);
      continue;
    }
    const parts = [line];
    while (/\\\s*$/.test(parts[parts.length - 1]!) && i + 1 < lines.length) parts.push(lines[++i]!);
    items.push({ lead, text: parts.join('\n'), keyword: line.trim().split(/\s+/)[0]!.toUpperCase() });
    lead = [];
  }
  return { items, tail: lead };
}

export interface StandinPlan {
  /** The stand-in Dockerfile. */
  dockerfile: string;
  /** Debian packages of the build stage (every virtualenv's requirements) and of the runtime stage (the virtualenvs it copies). */
  buildPackages: string[];
  runtimePackages: string[];
  /** The requirements of the virtualenvs the runtime stage copies, with their PyPI pins. */
  runtimeRequirements: Requirement[];
  /** The generated Dockerfile's runtime stage as written (every line kept, the FROM excepted). */
  runtimeStage: string;
}

/**
 * The stand-in of a generated Python Dockerfile (`context` is its build context, which holds the
 * requirements files it copies). `buildBase` / `runtimeBase` are filled in by buildStandin.
 */
export function planStandin(context: string, bases: { build: string; runtime: string } = { build: '@BUILD_BASE@', runtime: '@RUNTIME_BASE@' }): StandinPlan {
  const real = readFileSync(join(context, 'Dockerfile'), 'utf8');
  const { items, tail } = instructions(real);
  const froms = items.filter((i) => i.keyword === 'FROM');
  const stageName = (from: Instruction) => /\sAS\s+(\S+)\s*$/i.exec(from.text)?.[1];
  if (froms.length !== 2 || stageName(froms[0]!) !== 'build' || stageName(froms[1]!) !== 'runtime') {
    throw new Error(`${context}/Dockerfile: expected two stages, build and runtime (the stand-in follows that shape)`);
  }
  for (const from of froms) {
    if (from.text.trim().split(/\s+/)[1] !== IMAGES.python) throw new Error(`${context}/Dockerfile: a stage is not FROM ${IMAGES.python}: ${from.text}`);
  }
  const runtimeAt = items.indexOf(froms[1]!);

  // Requirements files the build copies (COPY <files...> <dir>/), by their path in the image.
  const copied = new Map<string, string>();
  for (const i of items.slice(0, runtimeAt).filter((i) => i.keyword === 'COPY' && !/--from=/.test(i.text))) {
    const args = i.text.trim().split(/\s+/).slice(1).filter((a) => !a.startsWith('--'));
    const target = args.pop()!;
    for (const source of args) if (/requirements[^/]*\.txt$/.test(source)) copied.set(target.endsWith('/') ? `${target}${source}` : target, source);
  }
  // The one RUN that makes the virtualenvs: `python -m venv <dir>` and `<dir>/bin/pip install -r <file>`.
  const installs = items.slice(0, runtimeAt).filter((i) => i.keyword === 'RUN' && /pip install/.test(i.text));
  if (installs.length !== 1) throw new Error(`${context}/Dockerfile: expected one RUN with pip install, found ${installs.length}`);
  const install = installs[0]!;
  const venvs = [...install.text.matchAll(/(\S+)\/bin\/pip install -r (\S+)/g)].map(([, dir, file]) => {
    const source = copied.get(file!);
    if (!source) throw new Error(`${context}/Dockerfile: ${file} is not a requirements file the build copies`);
    return { dir: dir!, requirements: parseRequirements(readFileSync(join(context, source), 'utf8')) };
  });
  for (const { dir } of venvs) {
    if (!install.text.includes(`python -m venv ${dir}`)) throw new Error(`${context}/Dockerfile: ${dir} is not made with python -m venv`);
  }
  // The virtualenvs the runtime stage takes from the build stage.
  const runtimeCopies = items.slice(runtimeAt).filter((i) => i.keyword === 'COPY' && /--from=build/.test(i.text)).map((i) => i.text.trim().split(/\s+/).slice(-2)[0]);
  const shipped = venvs.filter((v) => runtimeCopies.includes(v.dir));
  if (shipped.length === 0) throw new Error(`${context}/Dockerfile: the runtime stage copies none of the virtualenvs`);

  const standinRun = [
    '# Stand-in: the same virtualenvs, on Debian\'s packages (--system-site-packages), and the console',
    '# scripts pip would have written for their requirements.',
    'RUN --mount=type=bind,from=standin,target=/standin \\',
    ...venvs.map((v, n) => {
      const names = v.requirements.map((r) => r.name).join(' ');
      return `    ${n === 0 ? '' : '&& '}python -m venv --system-site-packages ${v.dir} && ${v.dir}/bin/python /standin/console_scripts.py ${v.dir}/bin ${names}${n === venvs.length - 1 ? '' : ' \\'}`;
    }),
  ].join('\n');

  const render = (i: Instruction) => [...i.lead, i.text].join('\n');
  const out: string[] = [
    `# Stand-in of ${context.split('/').slice(-2).join('/')}/Dockerfile, written by test/support/python-standin.ts: Debian's`,
    '# python3-* packages instead of PyPI (see there). Every other line is the generated file\'s.',
  ];
  for (const i of items) {
    if (i === froms[0]) out.push([...i.lead, `FROM ${bases.build} AS build`].join('\n'));
    else if (i === froms[1]) out.push([...i.lead, `FROM ${bases.runtime} AS runtime`].join('\n'));
    else if (i === install) out.push([...i.lead, standinRun].join('\n'));
    else out.push(render(i));
  }
  out.push(...tail);

  const runtimeRequirements = shipped.flatMap((v) => v.requirements);
  return {
    dockerfile: `${out.join('\n')}\n`.replace(/\n+$/, '\n'),
    buildPackages: debianPackages(venvs.flatMap((v) => v.requirements)),
    runtimePackages: debianPackages(runtimeRequirements),
    runtimeRequirements,
    runtimeStage: items.slice(runtimeAt + 1).map(render).join('\n'),
  };
}

/** What pip does for console_scripts entry points, for the distributions named (those installed). */
const CONSOLE_SCRIPTS = `"""Writes console scripts into a virtualenv's bin/ for the entry points of the distributions named
(the ones installed), as pip does when it installs them: python console_scripts.py BIN NAME..."""
import importlib.metadata
import os
import sys

bin_dir = sys.argv[1]
python = os.path.join(bin_dir, "python")
for name in sys.argv[2:]:
    try:
        dist = importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        print(f"console scripts: {name} is not installed (see PYPI_TO_DEBIAN)")
        continue
    for entry in dist.entry_points:
        if entry.group != "console_scripts":
            continue
        path = os.path.join(bin_dir, entry.name)
        if os.path.exists(path):
            continue
        module, _, attribute = entry.value.partition(":")
        first = attribute.split(".")[0]
        with open(path, "w", encoding="utf-8") as script:
            script.write(f"#!{python}\\nimport sys\\nfrom {module} import {first}\\nsys.exit({attribute}())\\n")
        os.chmod(path, 0o755)
        print(f"console script {entry.name}: {entry.value} ({name} {dist.version})")
`;

function imageId(ref: string): string | undefined {
  const r = run('docker', ['image', 'inspect', '--format', '{{.Id}}', ref]);
  return r.status === 0 ? r.stdout.trim() : undefined;
}

export interface DepsImages {
  /** IMAGES.python plus the runtime stage's packages. */
  runtime: string;
  /** The runtime image plus what only the build stage needs (grpc tools). */
  build: string;
  /** How they were had: found on the engine, loaded from the cache tarball, or built (apt). */
  source: 'engine' | 'cache' | 'built';
  seconds: number;
}

/** The Dockerfile of a layer of Debian packages on `from`. */
function aptDockerfile(from: string, packages: string[]): string {
  return [
    `# ${from} with Debian's packages for the requirements of a generated app (test/support/python-standin.ts).`,
    `FROM ${from}`,
    'ARG DEBIAN_FRONTEND=noninteractive',
    'RUN apt-get -o Acquire::Retries=3 update \\',
    ` && apt-get -o Acquire::Retries=3 install -y --no-install-recommends ${packages.join(' ')} \\`,
    ' && rm -rf /var/lib/apt/lists/*',
    '',
  ].join('\n');
}

function buildApt(tag: string, from: string, packages: string[], refresh: boolean): void {
  const dir = mkdtempSync(join(tmpdir(), 'cvs-pydeps-'));
  try {
    writeFileSync(join(dir, 'Dockerfile'), aptDockerfile(from, packages));
    // A refresh fetches the packages again (no build cache): Debian's current versions.
    succeed(run('docker', ['build', ...(refresh ? ['--no-cache'] : []), '--progress=plain', '-t', tag, '--label', `${LABEL}=python-deps`, '--label', `org.create-vps-stack.packages=${packages.join(' ')}`, dir],
      { timeout: 900_000 }), `building ${tag} (${packages.join(' ')})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Package sets rebuilt by this process under PYTHON_STANDIN_REFRESH=1 (each once). */
const refreshed = new Set<string>();

/**
 * The Debian layers of a stand-in: IMAGES.python plus the runtime packages, and on top of it the
 * build stage's extra packages. Tagged by hashes of the base image, the packages and the
 * Dockerfiles; kept on the engine and, both in one gzipped `docker save`, in CACHE (shared layers
 * once). PYTHON_STANDIN_REFRESH=1 builds them again (without build cache).
 */
export function depsImages(runtimePackages: string[], buildPackages: string[]): DepsImages {
  const started = Date.now();
  const base = imageId(IMAGES.python);
  if (!base) throw new Error(`${IMAGES.python} is not on the engine (.ci/images/build.sh builds it)`);
  const extra = buildPackages.filter((p) => !runtimePackages.includes(p));
  const hash = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 16);
  const runtimeHash = hash(`${base}\n${aptDockerfile(IMAGES.python, runtimePackages)}`);
  const runtime = `cvs-python-deps:${runtimeHash}`;
  const buildHash = extra.length ? hash(`${runtimeHash}\n${aptDockerfile(runtime, extra)}`) : runtimeHash;
  const build = `cvs-python-deps:${buildHash}`;
  const tarball = join(CACHE, `python-deps-${runtimeHash}-${buildHash}.tar.gz`);
  const result = (source: DepsImages['source']): DepsImages => ({ runtime, build, source, seconds: (Date.now() - started) / 1000 });
  // A refresh rebuilds each package set once per test process.
  const refresh = process.env.PYTHON_STANDIN_REFRESH === '1' && !refreshed.has(tarball);
  refreshed.add(tarball);
  const present = () => Boolean(imageId(runtime) && imageId(build));
  if (!refresh && present()) return result('engine');
  if (!refresh && existsSync(tarball)) {
    succeed(run('docker', ['load', '-q', '-i', tarball], { timeout: 300_000 }), `docker load ${tarball}`);
    if (present()) return result('cache');
  }
  if (refresh || !imageId(runtime)) buildApt(runtime, IMAGES.python, runtimePackages, refresh);
  if (extra.length && (refresh || !imageId(build))) buildApt(build, runtime, extra, refresh);
  mkdirSync(CACHE, { recursive: true });
  succeed(run('bash', ['-c', 'set -o pipefail; docker save "${@:2}" | gzip -1 >"$1.tmp" && mv -f "$1.tmp" "$1"', 'save', tarball, ...new Set([runtime, build])], { timeout: 600_000 }),
    `docker save ${runtime} ${build}`);
  return result('built');
}

/** `dpkg-query` versions of packages in an image: name → Debian version. */
export function debianVersions(image: string, packages: string[]): Record<string, string> {
  const out = succeed(run('docker', ['run', '--rm', '--entrypoint', 'dpkg-query', image, '-W', '-f', '${Package} ${Version}\\n', ...packages]), `dpkg-query in ${image}`);
  return Object.fromEntries(out.trim().split('\n').map((l) => l.split(' ') as [string, string]));
}

/** Python distribution versions in an image's runtime virtualenv (what the app imports). */
export function distributionVersions(image: string, names: string[]): Record<string, string | null> {
  const script = 'import importlib.metadata as m, json, sys\nv = {}\nfor n in sys.argv[1:]:\n    try: v[n] = m.version(n)\n    except m.PackageNotFoundError: v[n] = None\nprint(json.dumps(v))';
  const out = succeed(run('docker', ['run', '--rm', '--entrypoint', 'python', image, '-c', script, ...names]), `versions in ${image}`);
  return JSON.parse(out) as Record<string, string | null>;
}

export interface StandinBuild {
  context: string;
  tags: string[];
  plan: StandinPlan;
  deps: DepsImages;
  /** Seconds for the service image alone (the Debian layers excluded). */
  seconds: number;
}

/**
 * Builds the stand-in of `<context>/Dockerfile` (a generated apps/<service>) under `tags`, with the
 * generated folder as the build context; the Dockerfile is written into a temp folder.
 */
export function buildStandin(context: string, tags: string[]): StandinBuild {
  const draft = planStandin(context);
  const deps = depsImages(draft.runtimePackages, draft.buildPackages);
  const plan = planStandin(context, { build: deps.build, runtime: deps.runtime });
  const dir = mkdtempSync(join(tmpdir(), 'cvs-pystandin-'));
  const started = Date.now();
  try {
    writeFileSync(join(dir, 'Dockerfile'), plan.dockerfile);
    writeFileSync(join(dir, 'console_scripts.py'), CONSOLE_SCRIPTS);
    const args = ['build', '--progress=plain', '-f', join(dir, 'Dockerfile'), '--build-context', `standin=${dir}`, '--label', `${LABEL}=python-service`];
    for (const tag of tags) args.push('-t', tag);
    succeed(run('docker', [...args, context], { timeout: 900_000, env: dockerEnv({ BUILDKIT_PROGRESS: 'plain' }) }), `stand-in build of ${context}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { context, tags, plan, deps, seconds: (Date.now() - started) / 1000 };
}
