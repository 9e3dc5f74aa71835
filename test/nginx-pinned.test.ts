// The generated nginx config parsed by the nginx release it is written for (src/versions.ts
// NGINX_TARGET_VERSION, the nginx image's tag): Debian sid's nginx 1.30 package, in a sid root made
// by .ci/install-sid-nginx.sh (the binary needs sid's glibc). test/nginx.test.ts covers 1.26 with
// `resolve` stripped; here `nginx -T` reads the EXACT files the generator writes, no edits.
//
// Each check lays the files out as the production container sees them, read from the generated
// files themselves: compose runs the pinned image unchanged, so the container is the image's own
// files (its /etc/nginx, default.conf and log symlinks) with the nginx service of compose.yaml +
// compose.prod.yaml on top (volumes, tmpfs, sysctls, read_only, user). Its volumes are mounted where
// compose mounts them: the stack's nginx/ folder (hiding the image's /etc/nginx), the live folder
// as the generated scripts/nginx-live.sh writes it (`init`, then `web <tag>` for an SPA), the web
// volume with a stand-in build published by the generated apps/web/publish-release.sh, and a
// self-signed certificate in the letsencrypt volume, laid out and owned as scripts/certbot-init.sh
// leaves it. In a private mount + network namespace: an overlay on the sid root (the cached root is
// never written), /etc/hosts naming the compose services, the root read-only, then `nginx -T` as
// compose's user (uid 101) inside a chroot; its dump shows which files nginx read. Needs root.
//
// SID_NGINX_ROOT: the sid root (default /var/cache/create-vps-stack/sid-nginx-root).
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ANSWER_OPTIONS, type Answers } from '../src/options.js';
import { buildStackModel } from '../src/stack/model.js';
import { IMAGES, NGINX_TARGET_VERSION } from '../src/versions.js';
import { composeService, numericUser, publishRelease, readTree, runNginxLive, type ComposeServiceSpec, type Mount } from './support/boot/nginx-layout.js';
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

// --- the container, read from the generated compose files ----------------------------------------

// The official image's conf.d/default.conf, in short: it is under the ./nginx mount, never read.
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
 * The nginx image's own files in `tree`, as the image has them (compose runs it unchanged): its
 * /etc/nginx (the package's nginx.conf, mime.types and *_params, default.conf), which the compose
 * mount of ./nginx hides, its default page and its log symlinks.
 */
function buildImage(tree: string): void {
  for (const file of ['mime.types', 'fastcgi.conf', 'fastcgi_params', 'scgi_params', 'uwsgi_params', 'nginx.conf']) {
    put(tree, `/etc/nginx/${file}`, readFileSync(join(SID_ROOT, 'etc/nginx', file)));
  }
  put(tree, '/etc/nginx/conf.d/default.conf', IMAGE_DEFAULT_CONF);
  put(tree, '/usr/share/nginx/html/index.html', '<!doctype html><title>Welcome to nginx!</title>\n');
  mkdirSync(join(tree, 'var/log/nginx'), { recursive: true });
  symlinkSync('/dev/stdout', join(tree, 'var/log/nginx/access.log'));
  symlinkSync('/dev/stderr', join(tree, 'var/log/nginx/error.log'));
  mkdirSync(join(tree, 'var/cache/nginx'), { recursive: true });
}

/** A stand-in Vite build: index.html naming one hashed bundle in assets/. */
const STAND_IN_ASSET = 'assets/index-0a1b2c3d.js';
function standInDist(dir: string): string {
  put(dir, '/index.html', `<!doctype html><div id="root"></div><script type="module" src="/${STAND_IN_ASSET}"></script>\n`);
  put(dir, `/${STAND_IN_ASSET}`, 'console.log("spa")\n');
  chmodSync(dir, 0o755);
  return dir;
}
const RELEASE = 'pinned-test';
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
  /** Service names in /etc/hosts (default: every service nginx proxies to). */
  hosts?: string[];
  /** Mode of the private key in the letsencrypt volume (default 0640, as certbot-init.sh sets it). */
  keyMode?: number;
  /**
   * 'deployed' (default): an SPA release published into the web volume by publish-release.sh and
   * named by `nginx-live.sh web`, as after a deploy. 'first-start': only `nginx-live.sh init`, as
   * scripts/certbot-init.sh starts nginx before any deploy.
   */
  state?: 'deployed' | 'first-start';
}

interface PinnedResult extends SpawnSyncReturns<string> {
  /** nginx -t's messages (stdout and stderr of `nginx -T` without the dump). */
  messages: string;
  /** The files nginx read, as `nginx -T` dumps them: path in the container → content. */
  read: Map<string, string>;
  /** Files nginx would serve, checked as its user in the container: path → readable. */
  serves: Map<string, boolean>;
  service: ComposeServiceSpec;
  /** The live files scripts/nginx-live.sh wrote (mounted, not copied). */
  live: Map<string, Buffer>;
}

/** `nginx -T`'s dump: `# configuration file <path>:` then the file, for each file read. */
function parseDump(text: string): Map<string, string> {
  const files = new Map<string, string>();
  const parts = text.split(/^# configuration file (\S+):\n/m);
  for (let i = 1; i < parts.length; i += 2) files.set(parts[i], parts[i + 1].replace(/\n$/, ''));
  return files;
}

/**
 * `nginx -T` by the sid root's nginx on the stack's files, laid out as in its production nginx
 * container: the image's own files, then every volume of the compose nginx service mounted where
 * compose mounts it (the stack's nginx/ folder, its live folder as scripts/nginx-live.sh writes it,
 * the web volume, the letsencrypt volume), its tmpfs, sysctls, read-only root and user.
 */
function pinnedNginxTest(stack: RenderedStack, options: PinnedOptions = {}): PinnedResult {
  const m = stack.model;
  const service = composeService(stack.dir, m.services.nginx.name);
  const { uid, gid } = numericUser(service.user, 'compose.yaml nginx');

  const work = mkdtempSync(join(tmpdir(), 'cvs-nginx-pinned-'));
  try {
    for (const d of ['image', 'volumes', 'ovl', 'merged']) mkdirSync(join(work, d));
    chmodSync(work, 0o755);
    const tree = join(work, 'image');
    buildImage(tree);

    // What scripts/certbot-init.sh and deploy.sh do before nginx reads the live folder.
    const deployed = (options.state ?? 'deployed') === 'deployed' && m.features.spa;
    rmSync(join(stack.dir, m.ops.liveDir), { recursive: true, force: true });
    const live = runNginxLive(stack.dir, m, ['init'], ...(deployed ? [['web', RELEASE]] : []));

    const binds: Mount[] = [];
    for (const mount of service.mounts) {
      if (!mount.named) { binds.push(mount); continue; }
      const volume = join(work, 'volumes', mount.source);
      mkdirSync(volume, { recursive: true });
      if (m.paths.certificate.startsWith(`${mount.target}/`)) letsencryptVolume(volume, mount.target, stack, options.keyMode);
      if (deployed && mount.source === m.volumes.web) publishRelease(stack.dir, m, { dist: standInDist(join(work, 'dist')), volume, tag: RELEASE });
      binds.push({ ...mount, source: volume });
    }
    const hosts = options.hosts ?? m.nginx.backends.list.map((b) => b.service);
    writeFileSync(join(work, 'hosts'), `127.0.0.1 localhost ${hosts.join(' ')}\n::1 localhost ip6-localhost\n`);
    // The SPA files nginx serves after a deploy: the release's index.html and a bundle in the shared assets.
    const serves = deployed ? [posix.join(m.nginx.web.releases, RELEASE, 'index.html'), posix.join(m.nginx.web.dir, STAND_IN_ASSET)] : [];

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
      // -T: the test, then every file read (the dump, on stdout, kept apart from the messages). Into
      // files: the config logs to /dev/stdout, which cannot be reopened when it is a socket.
      `chroot --userspec=${uid}:${gid} "$M" /bin/sh -c ${q([
        'cd / && s=0 && /usr/sbin/nginx -T -p /etc/nginx/ >/tmp/nginx-dump.out 2>/tmp/nginx-t.out || s=$?',
        'cat /tmp/nginx-t.out',
        ...serves.map((f) => `if [ -r ${q(f)} ]; then echo "@@@ serves ${f} yes"; else echo "@@@ serves ${f} no"; fi`),
        'echo "@@@ dump"; cat /tmp/nginx-dump.out; exit $s',
      ].join('; '))}`,
    ].join('\n');
    // -n: no network at all inside (only a down loopback): nothing can leave the machine.
    const result = run('unshare', ['-m', '-n', 'sh', '-c', script]);
    const text = output(result);
    const at = (result.stdout ?? '').indexOf('@@@ dump\n');
    const before = at < 0 ? text : `${result.stdout.slice(0, at)}${result.stderr ?? ''}`;
    const served = new Map([...before.matchAll(/^@@@ serves (\S+) (yes|no)$/gm)].map((x) => [x[1], x[2] === 'yes'] as [string, boolean]));
    return Object.assign(result, {
      messages: before.replace(/^@@@ serves .*\n/gm, ''),
      read: at < 0 ? new Map<string, string>() : parseDump(result.stdout.slice(at + '@@@ dump\n'.length)),
      serves: served, service, live,
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Asserts a clean pass: exit 0, "test is successful", and no warning of any kind. */
function expectClean(result: PinnedResult): void {
  expect(result.status, output(result)).toBe(0);
  expect(result.messages).toContain('syntax is ok');
  expect(result.messages).toContain('test is successful');
  expect(result.messages, 'nginx 1.30 warns about the config').not.toMatch(/\[(warn|alert|crit|emerg|error)\]/);
}

const trimEnd = (text: string | undefined) => text?.replace(/\s+$/, '');

/**
 * What nginx read is what the stack has where compose mounts it: the generated nginx/ folder at
 * m.nginx.confDir (its own mime.types, not the image's), every conf.d file, the live files of
 * scripts/nginx-live.sh at m.nginx.liveDir; after a deploy the published release readable by nginx.
 */
function expectStackFilesRead(result: PinnedResult, stack: RenderedStack): void {
  const m = stack.model;
  const read = result.read;
  expect(read.size, 'nginx -T dumped nothing').toBeGreaterThan(0);
  const generated = readTree(join(stack.dir, 'nginx'));
  for (const rel of ['nginx.conf', 'mime.types', ...[...generated.keys()].filter((p) => p.startsWith('conf.d/'))]) {
    const path = posix.join(m.nginx.confDir, rel);
    expect(read.has(path), `nginx did not read ${path}; it read ${[...read.keys()].join(', ')}`).toBe(true);
    expect(trimEnd(read.get(path)), path).toBe(trimEnd(generated.get(rel)!.toString('utf8')));
  }
  expect([...read.keys()].filter((p) => p.startsWith(`${m.nginx.confDir}/`) && !generated.has(posix.relative(m.nginx.confDir, p))), 'files from outside nginx/').toEqual([]);
  const liveRead = [...read.keys()].filter((p) => p.startsWith(`${m.nginx.liveDir}/`)).sort();
  const liveExpected = [
    ...(m.nginx.upstreamResolve ? m.nginx.backends.list.map((b) => b.liveFile) : []),
    ...(m.features.spa ? [m.nginx.web.rootFile] : []),
  ].map((f) => posix.join(m.nginx.liveDir, f)).sort();
  expect(liveRead).toEqual(liveExpected);
  for (const path of liveRead) expect(trimEnd(read.get(path)), path).toBe(trimEnd(result.live.get(posix.basename(path))!.toString('utf8')));
  for (const [path, readable] of result.serves) expect(readable, `${path} is not readable by nginx in the container`).toBe(true);
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
        const m = stack.model;
        const result = pinnedNginxTest(stack);
        expectClean(result);
        expectStackFilesRead(result, stack);
        // The layout really came from the generated compose files (a parser that found nothing proves nothing).
        const { service } = result;
        expect(service.image).toBe(m.images.nginx);
        expect(service.build).toBe(false);
        expect(service.user).toBe(`${m.nginx.uid}:${m.nginx.gid}`);
        expect(service.mounts.map((v) => v.target)).toEqual(expect.arrayContaining([m.nginx.confDir, m.nginx.liveDir, m.paths.letsencrypt,
          ...(m.features.spa ? [m.nginx.web.dir] : [])]));
        expect(service.readOnly).toBe(true);
        expect(service.tmpfs.map((t) => t.target)).toContain(m.nginx.tempDir);
        expect(service.sysctls).toContainEqual(['net.ipv4.ip_unprivileged_port_start', '0']);
        // The config used is the one the generator wrote for 1.30: `resolve` upstreams, `http2 on`.
        const main = readFileSync(join(stack.dir, 'nginx/nginx.conf'), 'utf8');
        for (const b of m.nginx.backends.list) {
          expect(main).toContain(`include ${m.nginx.liveDir}/${b.liveFile};`);
          expect(result.live.get(b.liveFile)?.toString()).toMatch(new RegExp(`^server ${b.address} resolve;$`, 'm'));
        }
        if (m.features.spa) {
          expect(result.live.get(m.nginx.web.rootFile)?.toString()).toMatch(new RegExp(`^root ${posix.join(m.nginx.web.releases, RELEASE)};$`, 'm'));
          expect(result.serves.size).toBe(2);
        }
      } finally {
        stack.cleanup();
      }
    });
  }

  for (const template of STACK_TEMPLATES) {
    it(`${template}: before the first deploy (scripts/certbot-init.sh starts nginx after \`nginx-live.sh init\` only)`, () => {
      const stack = writeStack({ template });
      try {
        const m = stack.model;
        const result = pinnedNginxTest(stack, { state: 'first-start' });
        expectClean(result);
        expectStackFilesRead(result, stack);
        if (m.features.spa) expect(result.live.get(m.nginx.web.rootFile)?.toString()).toMatch(new RegExp(`^root ${m.nginx.errorRoot};$`, 'm'));
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
      // Step 1: any CA will do for parsing. nginx/cloudflare reaches the container through the ./nginx mount.
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
      // Files changed where compose mounts them from: the stack's nginx/ folder.
      const broken = join(stack.dir, 'nginx/conf.d/99-broken.conf');
      writeFileSync(broken, 'server { listen 8080; no_such_directive on; }\n');
      const rejected = pinnedNginxTest(stack);
      rmSync(broken);
      expect(rejected.status).not.toBe(0);
      expect(output(rejected)).toMatch(/unknown directive "no_such_directive"/);
      // The pre-1.25.1 syntax is only deprecated, not an error: expectClean's warning check catches it.
      const listen = join(stack.dir, 'nginx/snippets/listen-https.conf');
      const original = readFileSync(listen, 'utf8');
      writeFileSync(listen, original.replace(/listen (\d+) ssl;/, 'listen $1 ssl http2;'));
      const legacy = pinnedNginxTest(stack);
      writeFileSync(listen, original);
      expect(legacy.status, output(legacy)).toBe(0);
      expect(legacy.messages).toMatch(/\[warn\].*"listen \.\.\. http2" directive is deprecated/);
      expect(() => expectClean(legacy)).toThrow();
      // A key only root can read (certbot's own mode, before certbot-init.sh shares it with gid 101):
      // nginx runs as uid 101 here, as in the image, so it must fail.
      const rootOnlyKey = pinnedNginxTest(stack, { keyMode: 0o600 });
      expect(rootOnlyKey.status).not.toBe(0);
      expect(output(rootOnlyKey)).toMatch(/Permission denied/);
      // Back to the generated files: clean again.
      expectClean(pinnedNginxTest(stack));
    } finally {
      stack.cleanup();
    }
  });

  it('fails when compose mounts a folder somewhere else than where nginx looks (the layout comes from compose.yaml)', () => {
    const stack = writeStack({});
    try {
      const m = stack.model;
      expect(m.features.spa).toBe(true);
      const compose = join(stack.dir, 'compose.yaml');
      const original = readFileSync(compose, 'utf8');
      const moved = (from: string, to: string) => {
        expect(original, from).toContain(from);
        writeFileSync(compose, original.replace(from, to));
        try {
          return pinnedNginxTest(stack);
        } finally {
          writeFileSync(compose, original);
        }
      };
      // The nginx/ folder elsewhere: the image's own /etc/nginx is what nginx reads, not the stack's.
      const config = moved(`- ./nginx:${m.nginx.confDir}:ro`, `- ./nginx:/srv/nginx-config:ro`);
      expect(() => expectStackFilesRead(config, stack)).toThrow();
      // The live folder elsewhere: the upstream include is missing.
      const live = moved(`- ./${m.ops.liveDir}:${m.nginx.liveDir}:ro`, `- ./${m.ops.liveDir}:/srv/nginx-live:ro`);
      expect(live.status).not.toBe(0);
      expect(output(live)).toContain(`${m.nginx.liveDir}/`);
      // The web volume elsewhere: nginx -t passes (a root need not exist), but the release it names is not there.
      const web = moved(`- ${m.volumes.web}:${m.nginx.web.dir}:ro`, `- ${m.volumes.web}:/srv/elsewhere:ro`);
      expect(web.status, output(web)).toBe(0);
      expect(() => expectStackFilesRead(web, stack)).toThrow(/not readable by nginx/);
      // And as generated, all of it holds.
      expectStackFilesRead(pinnedNginxTest(stack), stack);
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
