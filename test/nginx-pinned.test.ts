// The generated nginx config parsed by the nginx release it is written for (src/versions.ts
// NGINX_TARGET_VERSION, the nginx image's tag): Debian sid's nginx 1.30 package, in a sid root made
// by .ci/install-sid-nginx.sh (the binary needs sid's glibc). test/nginx.test.ts covers 1.26 with
// `resolve` stripped; here `nginx -t` reads the EXACT files the generator writes, no edits.
//
// Each check lays the files out as the production container sees them, read from the generated
// files themselves: the final stage of nginx/Dockerfile (base /etc/nginx of the image, `RUN rm -f`,
// `COPY` sources and targets, `USER`) and the nginx service of compose.yaml + compose.prod.yaml
// (volumes, tmpfs, read_only). In a private mount + network namespace: an overlay on the sid root
// (the cached root is never written), the image's /etc/nginx in place of the package's, the volumes
// bound where compose mounts them (a self-signed certificate in the letsencrypt volume, laid out and
// owned as scripts/certbot-init.sh leaves it), /etc/hosts naming the compose services, the root
// read-only, then `nginx -t` as the image's user (uid 101) inside a chroot. Needs root.
//
// SID_NGINX_ROOT: the sid root (default /var/cache/create-vps-stack/sid-nginx-root).
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ANSWER_OPTIONS, type Answers } from '../src/options.js';
import { buildStackModel } from '../src/stack/model.js';
import { IMAGES, NGINX_TARGET_VERSION } from '../src/versions.js';
import { BASE_ANSWERS, inCI, stackMatrix, STACK_TEMPLATES, toolAvailable, writeStack, type RenderedStack } from './support/stack.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SID_ROOT = process.env.SID_NGINX_ROOT ?? '/var/cache/create-vps-stack/sid-nginx-root';
const MARKER = join(SID_ROOT, '.create-vps-stack-complete');
const INSTALL = '.ci/install-sid-nginx.sh';

function run(command: string, args: string[], options: { cwd?: string; input?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync(command, args, { encoding: 'utf8', timeout: 120_000, ...options });
}
const output = (r: SpawnSyncReturns<string>) => `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}`;

/** Locally a missing sid root (or no root) skips; under CI=true it fails the run. */
function sidNginxAvailable(): boolean {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (chroot, unshare -m, mount)');
  if (!existsSync(MARKER) || !existsSync(join(SID_ROOT, 'usr/sbin/nginx'))) missing.push(`a sid root with nginx at ${SID_ROOT} (bash ${INSTALL})`);
  const tools = ['unshare', 'chroot', 'openssl'].every((t) => toolAvailable(t));
  if (missing.length && inCI) throw new Error(`test/nginx-pinned.test.ts needs ${missing.join(' and ')} under CI=true`);
  return tools && missing.length === 0;
}
const ready = sidNginxAvailable();

/** Every answer set of the shared matrix, plus every option on and every option off per template. */
function answerSets(): Array<[string, Partial<Answers>]> {
  const sets = stackMatrix();
  const key = (a: Partial<Answers>) => JSON.stringify(Object.entries({ ...BASE_ANSWERS, ...a }).sort());
  const seen = new Set(sets.map(([, a]) => key(a)));
  for (const template of STACK_TEMPLATES) {
    for (const on of [true, false]) {
      const answers: Partial<Answers> = { template };
      for (const option of ANSWER_OPTIONS) {
        if (option.type === 'boolean') Object.assign(answers, { [option.key]: on });
        if (option.type === 'choice' && option.key !== 'template' && option.choices?.includes('none')) {
          Object.assign(answers, { [option.key]: on ? option.choices.find((c) => c !== 'none') : 'none' });
        }
      }
      if (seen.has(key(answers))) continue;
      seen.add(key(answers));
      sets.push([`${template}/every-option-${on ? 'on' : 'off'}`, answers]);
    }
  }
  return sets;
}

// --- the image, read from the generated Dockerfile and compose files ------------------------------

interface Step { kind: 'rm' | 'copy'; paths: string[]; from?: string; dest?: string }
interface ImageSpec { steps: Step[]; user: string }
interface Mount { source: string; target: string; readOnly: boolean; named: boolean }
interface ServiceSpec { mounts: Mount[]; tmpfs: Array<{ target: string; options: string }>; sysctls: Array<[string, string]>; readOnly: boolean }

/** The final stage of a Dockerfile: `RUN rm -f`, `COPY` and `USER`; any other RUN is refused. */
function parseDockerfile(text: string): ImageSpec {
  const instructions = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const stage = instructions.slice(instructions.map((l) => /^FROM\s/i.test(l)).lastIndexOf(true) + 1);
  const spec: ImageSpec = { steps: [], user: '' };
  for (const line of stage) {
    const [instruction, ...words] = line.split(/\s+/);
    switch (instruction.toUpperCase()) {
      case 'RUN': {
        if (words[0] !== 'rm' || !words[1]?.startsWith('-')) throw new Error(`unsupported in the nginx stage: ${line}`);
        spec.steps.push({ kind: 'rm', paths: words.slice(2) });
        break;
      }
      case 'COPY': {
        const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
        const args = words.filter((w) => !w.startsWith('--'));
        const dest = args.pop()!;
        if (!dest.startsWith('/')) throw new Error(`relative COPY target: ${line}`);
        spec.steps.push({ kind: 'copy', paths: args, from, dest });
        break;
      }
      case 'USER': spec.user = words[0]; break;
      case 'WORKDIR': case 'ADD': throw new Error(`unsupported in the nginx stage: ${line}`);
      default: break; // EXPOSE, HEALTHCHECK, ENV, LABEL: nothing on disk
    }
  }
  return spec;
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

/** Items of a `    key:` list (or a scalar `    key: value`) in a service block. */
function serviceList(block: string[], key: string): string[] {
  const at = block.findIndex((l) => new RegExp(`^    ${key}:(\\s|$)`).test(l));
  if (at < 0) return [];
  const inline = block[at].slice(block[at].indexOf(':') + 1).trim();
  if (inline && !inline.startsWith('#')) return [unquote(inline)];
  const items: string[] = [];
  for (const line of block.slice(at + 1)) {
    if (/^\s*#/.test(line) || !line.trim()) continue;
    const item = /^ {6}- (.+)$/.exec(line);
    if (!item) break;
    items.push(unquote(item[1].replace(/\s+#.*$/, '')));
  }
  return items;
}
const unquote = (s: string) => s.trim().replace(/^(['"])(.*)\1$/, '$2');

/** The nginx service of the production pair, compose.yaml + compose.prod.yaml (a later mount of a target wins). */
function parseService(dir: string, service: string): ServiceSpec {
  const mounts = new Map<string, Mount>();
  const tmpfs: ServiceSpec['tmpfs'] = [];
  const sysctls = new Map<string, string>();
  let readOnly = false;
  for (const file of ['compose.yaml', 'compose.prod.yaml']) {
    if (!existsSync(join(dir, file))) continue;
    const block = serviceBlock(readFileSync(join(dir, file), 'utf8'), service);
    for (const volume of serviceList(block, 'volumes')) {
      const [source, target, mode = 'rw'] = volume.split(':');
      const named = !/^[./~]/.test(source);
      mounts.set(target, { source: named ? source : join(dir, source), target, readOnly: mode.split(',').includes('ro'), named });
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
    if (ro) readOnly = /:\s*true\b/.test(ro);
  }
  return { mounts: [...mounts.values()], tmpfs, sysctls: [...sysctls], readOnly };
}

// The official image's conf.d/default.conf (nginx/Dockerfile must remove it), in short.
const IMAGE_DEFAULT_CONF = `server {
    listen       80;
    listen  [::]:80;
    server_name  localhost;
    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }
}
`;

function put(tree: string, absolute: string, content: string | Buffer): void {
  const target = join(tree, absolute);
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, content);
}

/**
 * The nginx image's files as the Dockerfile leaves them, in `tree`: the base image's /etc/nginx
 * (the package's mime.types and *_params, default.conf), its log symlinks, then each step.
 */
function buildImage(tree: string, stackDir: string, image: ImageSpec): void {
  for (const file of ['mime.types', 'fastcgi.conf', 'fastcgi_params', 'scgi_params', 'uwsgi_params', 'nginx.conf']) {
    put(tree, `/etc/nginx/${file}`, readFileSync(join(SID_ROOT, 'etc/nginx', file)));
  }
  put(tree, '/etc/nginx/conf.d/default.conf', IMAGE_DEFAULT_CONF);
  put(tree, '/usr/share/nginx/html/index.html', '<!doctype html><title>Welcome to nginx!</title>\n');
  mkdirSync(join(tree, 'var/log/nginx'), { recursive: true });
  symlinkSync('/dev/stdout', join(tree, 'var/log/nginx/access.log'));
  symlinkSync('/dev/stderr', join(tree, 'var/log/nginx/error.log'));
  mkdirSync(join(tree, 'var/cache/nginx'), { recursive: true });
  for (const step of image.steps) {
    if (step.kind === 'rm') {
      for (const path of step.paths) rmSync(join(tree, path), { force: true });
      continue;
    }
    const dest = step.dest!;
    if (step.from) {
      // Another stage's output (the SPA build): a stand-in page where the image has the build.
      put(tree, posix.join(dest, 'index.html'), '<!doctype html><title>SPA</title>\n');
      continue;
    }
    for (const source of step.paths) {
      const from = join(stackDir, source);
      if (!existsSync(from)) throw new Error(`COPY ${source}: not in the generated stack`);
      if (statSync(from).isDirectory()) {
        mkdirSync(join(tree, dest), { recursive: true });
        cpSync(from, join(tree, dest), { recursive: true });
      } else {
        const target = dest.endsWith('/') ? posix.join(dest, posix.basename(source)) : dest;
        mkdirSync(dirname(join(tree, target)), { recursive: true });
        copyFileSync(from, join(tree, target));
      }
    }
  }
}

/**
 * The letsencrypt volume as scripts/certbot-init.sh leaves it: archive/<name>/{fullchain,privkey}1.pem,
 * live/<name>/*.pem relative symlinks, live/ and archive/ 0750 and the key 0640, group = nginx's gid.
 */
function letsencryptVolume(volume: string, mountTarget: string, stack: RenderedStack, keyMode = 0o640): void {
  const m = stack.model;
  for (const path of [m.paths.certificate, m.paths.certificateKey]) {
    expect(path.startsWith(`${mountTarget}/live/${m.tls.certName}/`), `${path} lies in the ${mountTarget} volume`).toBe(true);
  }
  const archive = join(volume, 'archive', m.tls.certName);
  const live = join(volume, 'live', m.tls.certName);
  mkdirSync(archive, { recursive: true });
  mkdirSync(live, { recursive: true });
  execFileSync('openssl', [
    'req', '-x509', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-days', '2',
    '-subj', '/CN=create-vps-stack test', '-addext', `subjectAltName=${m.tls.names.map((n) => `DNS:${n}`).join(',')}`,
    '-keyout', join(archive, 'privkey1.pem'), '-out', join(archive, 'fullchain1.pem'),
  ], { stdio: 'pipe' });
  for (const [path, file] of [[m.paths.certificate, 'fullchain1.pem'], [m.paths.certificateKey, 'privkey1.pem']]) {
    symlinkSync(`../../archive/${m.tls.certName}/${file}`, join(volume, path.slice(mountTarget.length)));
  }
  for (const dir of [join(volume, 'live'), join(volume, 'archive')]) { chownSync(dir, 0, m.nginx.gid); chmodSync(dir, 0o750); }
  chownSync(join(archive, 'privkey1.pem'), 0, m.nginx.gid);
  chmodSync(join(archive, 'privkey1.pem'), keyMode);
}

const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

interface PinnedOptions {
  /** Changes to the image tree (a directory standing for the container's /) after the Dockerfile steps: negative controls. */
  edit?: (tree: string) => void;
  /** Service names in /etc/hosts (default: every service nginx proxies to). */
  hosts?: string[];
  /** Mode of the private key in the letsencrypt volume (default 0640, as certbot-init.sh sets it). */
  keyMode?: number;
}

/** `nginx -t` by the sid root's nginx on the stack's files, laid out as in its production nginx container. */
function pinnedNginxTest(stack: RenderedStack, options: PinnedOptions = {}): SpawnSyncReturns<string> & { layout: { image: ImageSpec; service: ServiceSpec } } {
  const m = stack.model;
  const image = parseDockerfile(readFileSync(join(stack.dir, m.services.nginx.dockerfile!), 'utf8'));
  const service = parseService(stack.dir, m.services.nginx.name);
  const [uid, gid = uid] = image.user.split(':');
  if (!/^\d+$/.test(uid) || !/^\d+$/.test(gid)) throw new Error(`nginx/Dockerfile: USER ${image.user} is not numeric uid:gid`);

  const work = mkdtempSync(join(tmpdir(), 'cvs-nginx-pinned-'));
  try {
    for (const d of ['image', 'volumes', 'ovl', 'merged']) mkdirSync(join(work, d));
    chmodSync(work, 0o755);
    const tree = join(work, 'image');
    buildImage(tree, stack.dir, image);
    options.edit?.(tree);

    const binds: Mount[] = [];
    for (const mount of service.mounts) {
      if (!mount.named) { binds.push(mount); continue; }
      const volume = join(work, 'volumes', mount.source);
      mkdirSync(volume, { recursive: true });
      if (m.paths.certificate.startsWith(`${mount.target}/`)) letsencryptVolume(volume, mount.target, stack, options.keyMode);
      binds.push({ ...mount, source: volume });
    }
    const hosts = options.hosts ?? m.nginx.backends.list.map((b) => b.service);
    writeFileSync(join(work, 'hosts'), `127.0.0.1 localhost ${hosts.join(' ')}\n::1 localhost ip6-localhost\n`);

    const script = [
      'set -eu',
      `W=${q(work)}; R=${q(SID_ROOT)}; M="$W/merged"`,
      'mount -t tmpfs -o mode=0755 tmpfs "$W/ovl"',
      'mkdir "$W/ovl/upper" "$W/ovl/work"',
      'mount -t overlay overlay -o "lowerdir=$R,upperdir=$W/ovl/upper,workdir=$W/ovl/work" "$M"',
      // What the image owns replaces what the Debian package put there.
      'for d in etc/nginx var/log/nginx usr/share/nginx var/cache/nginx; do rm -rf "${M:?}/$d"; done',
      'cp -a "$W/image/." "$M/"',
      ...[...binds.map((b) => b.target), ...service.tmpfs.map((t) => t.target), '/proc'].map((t) => `mkdir -p "$M"${q(t)}`),
      // Docker bind-mounts /etc/hosts into every container; a minbase root has none to mount over.
      '[ -e "$M/etc/hosts" ] || : >"$M/etc/hosts"',
      ...(service.readOnly ? ['mount -o remount,ro "$M"'] : []),
      ...binds.flatMap((b) => [
        `mount --bind ${q(b.source)} "$M"${q(b.target)}`,
        ...(b.readOnly ? [`mount -o remount,bind,ro "$M"${q(b.target)}`] : []),
      ]),
      ...service.tmpfs.map((t) => `mount -t tmpfs -o ${q(t.options || 'mode=1777')} tmpfs "$M"${q(t.target)}`),
      'mount -t proc proc "$M/proc"',
      // The service's sysctls (net.* ones belong to this network namespace, as to the container's).
      ...service.sysctls.map(([key, value]) => {
        if (!key.startsWith('net.')) throw new Error(`sysctl ${key}: not namespaced, cannot emulate`);
        return `echo ${q(value)} >/proc/sys/${key.replaceAll('.', '/')}`;
      }),
      'mount --bind "$W/hosts" "$M/etc/hosts"',
      // stdout/stderr into a file: the config logs to /dev/stdout, which cannot be reopened when it is a socket.
      `chroot --userspec=${uid}:${gid} "$M" /bin/sh -c 'cd / && s=0 && /usr/sbin/nginx -t -p /etc/nginx/ >/tmp/nginx-t.out 2>&1 || s=$?; cat /tmp/nginx-t.out; exit $s'`,
    ].join('\n');
    // -n: no network at all inside (only a down loopback): nothing can leave the machine.
    return Object.assign(run('unshare', ['-m', '-n', 'sh', '-c', script]), { layout: { image, service } });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Asserts a clean pass: exit 0, "test is successful", and no warning of any kind. */
function expectClean(result: SpawnSyncReturns<string>): void {
  const text = output(result);
  expect(result.status, text).toBe(0);
  expect(text).toContain('syntax is ok');
  expect(text).toContain('test is successful');
  expect(text, 'nginx 1.30 warns about the config').not.toMatch(/\[(warn|alert|crit|emerg|error)\]/);
}

// --- the tests ---------------------------------------------------------------------------------

describe.skipIf(!toolAvailable('shellcheck'))(`${INSTALL}`, () => {
  it('is shellcheck-clean (-x -S style)', () => {
    const lint = run('shellcheck', ['-x', '-S', 'style', INSTALL], { cwd: ROOT });
    expect(lint.status, output(lint)).toBe(0);
  });
});

describe.skipIf(!ready)(`nginx -t by the pinned nginx ${NGINX_TARGET_VERSION} (Debian sid's, in ${SID_ROOT})`, () => {
  it(`the sid root's nginx is the pinned ${NGINX_TARGET_VERSION}, as the image tag and the model say`, () => {
    const result = run('chroot', [SID_ROOT, '/usr/sbin/nginx', '-V']);
    expect(result.status, output(result)).toBe(0);
    const version = /nginx version: nginx\/(\d+)\.(\d+)\.(\d+)/.exec(output(result));
    expect(version, output(result)).not.toBeNull();
    expect(`${version![1]}.${version![2]}`).toBe(NGINX_TARGET_VERSION);
    expect(readFileSync(MARKER, 'utf8').trim()).toBe(`${version![1]}.${version![2]}.${version![3]}`);
    expect(IMAGES.nginx).toMatch(new RegExp(`^nginx:${NGINX_TARGET_VERSION.replace('.', '\\.')}[-.]`));
    expect(buildStackModel(BASE_ANSWERS, 'demo-shop').nginx.version).toBe(NGINX_TARGET_VERSION);
    // Modules the config relies on, built in (the config loads no dynamic modules, nor does the image's).
    for (const module of ['http_ssl_module', 'http_v2_module', 'http_realip_module']) expect(output(result)).toContain(`--with-${module}`);
  });

  const sets = answerSets();
  it('covers every answer set: the shared matrix of every template, every option on and off', () => {
    expect(sets.length).toBeGreaterThanOrEqual(stackMatrix().length);
    expect(new Set(sets.map(([name]) => name.split('/')[0]))).toEqual(new Set(STACK_TEMPLATES));
  });

  for (const [name, overrides] of sets) {
    it(`${name}: the exact generated config, laid out as in the nginx container`, () => {
      const stack = writeStack(overrides);
      try {
        const result = pinnedNginxTest(stack);
        expectClean(result);
        // The layout really came from the generated files (a parser that found nothing proves nothing).
        const { image, service } = result.layout;
        expect(image.user).toBe(`${stack.model.nginx.uid}:${stack.model.nginx.gid}`);
        expect(image.steps.filter((s) => s.kind === 'copy').flatMap((s) => s.paths)).toContain('nginx/nginx.conf');
        expect(service.mounts.map((v) => v.target)).toContain(stack.model.paths.letsencrypt);
        expect(service.readOnly).toBe(true);
        expect(service.tmpfs.map((t) => t.target)).toContain(stack.model.nginx.tempDir);
        expect(service.sysctls).toContainEqual(['net.ipv4.ip_unprivileged_port_start', '0']);
        // The config used is the one the generator wrote for 1.30: `resolve` upstreams, `http2 on`.
        const main = readFileSync(join(stack.dir, 'nginx/nginx.conf'), 'utf8');
        for (const b of stack.model.nginx.backends.list) expect(main).toContain(`server ${b.address} resolve;`);
      } finally {
        stack.cleanup();
      }
    });
  }

  it('the opt-in Authenticated Origin Pulls, turned on as nginx/cloudflare/origin-pull.conf says', () => {
    const stack = writeStack({ cloudflare: true });
    try {
      const m = stack.model;
      // Step 2 of its instructions: uncomment the include in every HTTPS server of conf.d/.
      const confD = join(stack.dir, 'nginx/conf.d');
      let uncommented = 0;
      for (const file of readdirSync(confD)) {
        const text = readFileSync(join(confD, file), 'utf8');
        const on = text.replace(/# (include cloudflare\/origin-pull\.conf;)[^\n]*/g, () => { uncommented++; return 'include cloudflare/origin-pull.conf;'; });
        writeFileSync(join(confD, file), on);
      }
      expect(uncommented).toBeGreaterThanOrEqual(2);
      // Without step 1 (the CA file, the user's to fetch) nginx refuses and names the file.
      const withoutCa = pinnedNginxTest(stack);
      expect(withoutCa.status).not.toBe(0);
      expect(output(withoutCa)).toContain(posix.join(m.nginx.confDir, m.cloudflare.originPullCa));
      // Step 1: any CA will do for parsing. nginx/cloudflare reaches the container through the compose volume.
      const keyDir = mkdtempSync(join(tmpdir(), 'cvs-aop-'));
      try {
        execFileSync('openssl', [
          'req', '-x509', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-days', '2', '-subj', '/CN=origin pull CA',
          '-keyout', join(keyDir, 'key.pem'), '-out', join(stack.dir, 'nginx', m.cloudflare.originPullCa),
        ], { stdio: 'pipe' });
      } finally {
        rmSync(keyDir, { recursive: true, force: true });
      }
      expectClean(pinnedNginxTest(stack));
    } finally {
      stack.cleanup();
    }
  });

  it('a 253-character domain still fits server_names_hash_bucket_size', () => {
    const domain = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}.org`;
    expect(domain.length).toBe(253);
    const stack = writeStack({ domain }, 'long-name');
    try {
      expect(stack.model.domain.api.length).toBe(257);
      expectClean(pinnedNginxTest(stack));
    } finally {
      stack.cleanup();
    }
  });

  it('fails when nginx 1.30 rejects the config (the harness can fail)', () => {
    const stack = writeStack({});
    try {
      const m = stack.model;
      const broken = pinnedNginxTest(stack, { edit: (tree) => put(tree, posix.join(m.nginx.confDir, 'conf.d/99-broken.conf'), 'server { listen 8080; no_such_directive on; }\n') });
      expect(broken.status).not.toBe(0);
      expect(output(broken)).toMatch(/unknown directive "no_such_directive"/);
      // The pre-1.25.1 syntax is only deprecated, not an error: expectClean's warning check catches it.
      const legacy = pinnedNginxTest(stack, {
        edit: (tree) => {
          const listen = join(tree, m.nginx.confDir, 'snippets/listen-https.conf');
          writeFileSync(listen, readFileSync(listen, 'utf8').replace(/listen (\d+) ssl;/, 'listen $1 ssl http2;'));
        },
      });
      expect(legacy.status, output(legacy)).toBe(0);
      expect(output(legacy)).toMatch(/\[warn\].*"listen \.\.\. http2" directive is deprecated/);
      // A key only root can read (certbot's own mode, before certbot-init.sh shares it with gid 101):
      // nginx runs as uid 101 here, as in the image, so it must fail.
      const rootOnlyKey = pinnedNginxTest(stack, { keyMode: 0o600 });
      expect(rootOnlyKey.status).not.toBe(0);
      expect(output(rootOnlyKey)).toMatch(/Permission denied/);
    } finally {
      stack.cleanup();
    }
  });

  it('with `resolve`, nginx starts while the apps are not in DNS yet (no hosts entries, no network)', () => {
    const stack = writeStack({ template: 'nest-next' });
    try {
      expect(stack.model.nginx.backends.list.length).toBe(2);
      expectClean(pinnedNginxTest(stack, { hosts: [] }));
    } finally {
      stack.cleanup();
    }
  });
});

if (!ready && !inCI) console.warn(`nginx-pinned: skipped; install the sid root with: apt-get install debootstrap && bash ${INSTALL}`);
