// nginx, TLS, certbot and Cloudflare: the generated config read as text (version traps, headers,
// Cloudflare ranges), parsed by a real nginx (`nginx -t`), served for real inside a private
// mount + network namespace (curl against it), and the certbot scripts driven by a fake `docker`.
//
// nginx: NGINX_BIN (default .cache/nginx-1.26/sbin/nginx, built by .ci/install-nginx.sh). The
// shipped config targets nginx 1.30; 1.26 parses all of it except the one 1.27.3+ parameter
// (`server ... resolve`, which lives in the upstream files scripts/nginx-live.sh writes), so it
// checks (a) the 1.30 config with `resolve` removed from those and (b) the config the generator
// writes when it targets the binary's own version. Files are placed as the compose nginx service
// mounts them (the image runs unchanged: the nginx/ folder, the live folder, the web volume with
// releases published by the generated publish-release.sh). Namespaces need root.
// The pinned nginx 1.30 itself parses the exact generated files in test/nginx-pinned.test.ts.
import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { Answers } from '../src/options.js';
import { renderPlan } from '../src/render/plan.js';
import { CLOUDFLARE_IPV4, CLOUDFLARE_IPV6 } from '../src/stack/cloudflare.js';
import type { StackModel } from '../src/stack/model.js';
import { hashBucketSize, nginxFacts } from '../src/stack/nginx.js';
import { composeService, containerFiles, publishRelease, runNginxLive, spaImage, withoutResolve } from './support/boot/nginx-layout.js';
import { answerMatrix, hasTool, inCI, toolAvailable, writeStack, type RenderedStack } from './support/stack.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NGINX_BIN = process.env.NGINX_BIN ?? join(ROOT, '.cache/nginx-1.26/sbin/nginx');
/** Optional: Debian 12's nginx 1.22 checks the pre-1.25.1 syntax (`listen ... http2`). */
const LEGACY_NGINX_BIN = process.env.NGINX_LEGACY_BIN ?? '/usr/sbin/nginx';

// REFERENCE.md, written out again on purpose: the model must match these, not define them.
const MOZILLA_CIPHERS = 'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305';
const CF_V4 = '173.245.48.0/20 103.21.244.0/22 103.22.200.0/22 103.31.4.0/22 141.101.64.0/18 108.162.192.0/18 190.93.240.0/20 188.114.96.0/20 197.234.240.0/22 198.41.128.0/17 162.158.0.0/15 104.16.0.0/13 104.24.0.0/14 172.64.0.0/13 131.0.72.0/22'.split(' ');
const CF_V6 = '2400:cb00::/32 2606:4700::/32 2803:f800::/32 2405:b500::/32 2405:8100::/32 2a06:98c0::/29 2c0f:f248::/32'.split(' ');

const NGINX_SCRIPTS = ['certbot-init.sh', 'certbot-renew.sh', 'certbot-lib.sh'];
const CLOUDFLARE_SCRIPTS = ['cloudflare-refresh-ips.sh', 'firewall-cloudflare.sh'];

function run(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync(command, args, { encoding: 'utf8', timeout: 120_000, ...options, env: options.env ?? process.env });
}
const output = (r: SpawnSyncReturns<string>) => `${r.stdout ?? ''}${r.stderr ?? ''}`;

function filesUnder(dir: string, prefix = ''): string[] {
  if (!existsSync(join(dir, prefix))) return [];
  return readdirSync(join(dir, prefix), { withFileTypes: true }).flatMap((entry) => {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    return entry.isDirectory() ? filesUnder(dir, path) : [path];
  });
}

/** Every nginx config file of a written stack (not the HTML or mime.types), path → text. */
function nginxConfig(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const path of filesUnder(join(dir, 'nginx'))) {
    if (path.endsWith('.conf')) files.set(path, readFileSync(join(dir, 'nginx', path), 'utf8'));
  }
  return files;
}

/** Config text without comments (a `#` inside quotes is kept). */
function stripComments(text: string): string {
  return text.split('\n').map((line) => {
    let quote = '';
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      if (quote) { if (c === quote) quote = ''; } else if (c === '"' || c === "'") quote = c; else if (c === '#') return line.slice(0, i);
    }
    return line;
  }).join('\n');
}

/** The bodies of every `<keyword> ... {` block in the text (brace-matched, quotes respected). */
function blocks(text: string, keyword: RegExp): Array<{ head: string; body: string }> {
  const found: Array<{ head: string; body: string }> = [];
  const clean = stripComments(text);
  const re = new RegExp(`(?:^|[;{}\\s])(${keyword.source})\\b([^;{}]*)\\{`, 'g');
  for (let match = re.exec(clean); match; match = re.exec(clean)) {
    let depth = 1;
    let quote = '';
    let i = re.lastIndex;
    for (; i < clean.length && depth > 0; i++) {
      const c = clean[i];
      if (quote) { if (c === quote) quote = ''; } else if (c === '"' || c === "'") quote = c;
      else if (c === '{') depth++;
      else if (c === '}') depth--;
    }
    found.push({ head: `${match[1]}${match[2]}`.trim(), body: clean.slice(re.lastIndex, i - 1) });
  }
  return found;
}

// --- text checks (no tools) ------------------------------------------------------------------

const MATRIX: Array<[string, Partial<Answers>]> = [
  ...answerMatrix('express-worker').map(([name, a]): [string, Partial<Answers>] => [`express-worker/${name}`, a]),
  ...answerMatrix('nest-next').map(([name, a]): [string, Partial<Answers>] => [`nest-next/${name}`, a]),
  ['fastapi-oracle/all-on-4g', answerMatrix('fastapi-oracle')[0][1]],
];

describe('nginx config as text', () => {
  for (const [name, overrides] of MATRIX) {
    it(name, () => {
      const stack = writeStack(overrides);
      try {
        const m = stack.model;
        const conf = nginxConfig(stack.dir);
        const all = [...conf.values()].map(stripComments).join('\n');
        const main = conf.get('nginx.conf')!;
        expect(main, 'nginx/nginx.conf').toBeDefined();

        // Version traps: nginx 1.30 wants `http2 on;`, never `listen ... http2`; no OCSP, no dhparam.
        expect(m.nginx.version).toBe('1.30');
        expect(all).not.toMatch(/^\s*listen[^;]*\bhttp2\b/m);
        expect(all).toMatch(/^\s*http2 on;/m);
        expect(all).not.toMatch(/ssl_stapling|ssl_dhparam|ssl_ecdh_curve|ssl_session_tickets|X-XSS-Protection|interest-cohort/);
        // Mozilla intermediate, exactly.
        expect(main).toContain('ssl_protocols TLSv1.2 TLSv1.3;');
        expect(main).toContain(`ssl_ciphers ${MOZILLA_CIPHERS};`);
        expect(main).toContain('ssl_prefer_server_ciphers off;');
        expect(main).toContain('ssl_session_timeout 1d;');
        expect(main).toContain('ssl_session_cache shared:MozSSL:10m;');
        expect(main).toContain(`ssl_certificate ${m.paths.certificate};`);
        expect(main).toContain(`ssl_certificate_key ${m.paths.certificateKey};`);
        expect(m.paths.certificate).toBe(`${m.paths.letsencrypt}/live/${m.tls.certName}/fullchain.pem`);
        expect(main).toMatch(/^\s*server_tokens off;/m);
        expect(main).toMatch(/^\s*gzip_vary on;/m);
        expect(main).toMatch(/^\s*gzip_proxied any;/m);
        expect(main).toMatch(/^\s*client_max_body_size \d+m;/m);
        expect(main).toContain('map $http_upgrade $connection_upgrade');
        expect(main).not.toMatch(/^\s*user\s/m);
        expect(main).toContain(`resolver ${m.nginx.resolver} valid=10s`);

        // HSTS with `always`; add_header never inside `if`; a location that adds headers repeats the site's.
        expect(conf.get('snippets/security-headers.conf')).toContain('add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;');
        for (const [path, text] of conf) {
          for (const block of blocks(text, /if/)) expect(block.body, `${path}: add_header inside ${block.head}`).not.toContain('add_header');
          for (const block of blocks(text, /location/)) {
            if (block.body.includes('add_header')) {
              expect(block.body, `${path}: ${block.head} adds headers without the site's`).toMatch(/include snippets\/headers-(web|api)\.conf;/);
            }
          }
          for (const block of blocks(text, /server/)) {
            if (/listen[^;]*\bssl\b/.test(block.body) || block.body.includes('snippets/listen-https.conf')) {
              if (block.body.includes('ssl_reject_handshake on')) continue;
              expect(block.body, `${path}: ${block.head} without security headers`).toMatch(/include snippets\/headers-(web|api)\.conf;/);
            }
          }
        }
        for (const line of all.split('\n').filter((l) => l.includes('add_header'))) expect(line, line).toMatch(/ always;$/);

        // Names and ports come from the model.
        const http = m.services.nginx.extraPorts!.http;
        expect(conf.get('conf.d/00-default.conf')).toContain(`listen ${http} default_server;`);
        expect(conf.get('conf.d/00-default.conf')).toContain(`location = ${m.nginx.healthPath} {`);
        expect(m.services.nginx.healthcheck.join(' ')).toContain(`http://127.0.0.1:${http}${m.nginx.healthPath}`);
        expect(conf.get('snippets/listen-https.conf')).toContain(`listen ${m.services.nginx.port} ssl;`);
        expect(conf.get('conf.d/10-http.conf')).toContain(`server_name ${m.domain.apex} ${m.domain.www} ${m.domain.api};`);
        expect(conf.get('conf.d/10-http.conf')).toContain('include snippets/acme-challenge.conf;');
        expect(conf.get('conf.d/10-http.conf')).toContain('return 308 https://$canonical_host$request_uri;');
        expect(conf.get('snippets/acme-challenge.conf')).toContain(`root ${m.paths.acmeWebroot};`);
        expect(conf.get('conf.d/20-web.conf')).toContain(`return 308 https://${m.domain.apex}$request_uri;`);
        expect(conf.get('conf.d/30-api.conf')).toContain(`server_name ${m.domain.api};`);
        // Upstreams (nginx >= 1.27.3): the servers of each come from its live file, which
        // scripts/nginx-live.sh writes (`init`: the compose service by name, with `resolve`).
        const upstreams = blocks(main, /upstream/);
        expect(upstreams.map((u) => u.head).sort()).toEqual(m.nginx.backends.list.map((b) => `upstream ${b.upstream}`).sort());
        const live = runNginxLive(stack.dir, m, ['init']);
        expect([...live.keys()].sort()).toEqual([...m.nginx.backends.list.map((b) => b.liveFile), ...(m.features.spa ? [m.nginx.web.rootFile] : [])].sort());
        for (const b of m.nginx.backends.list) {
          const body = upstreams.find((u) => u.head === `upstream ${b.upstream}`)!.body;
          expect(body, b.upstream).toContain(`include ${m.nginx.liveDir}/${b.liveFile};`);
          expect(body, b.upstream).toMatch(new RegExp(`zone ${b.upstream} \\d+k;`));
          expect(body, `${b.upstream}: servers belong in ${b.liveFile}`).not.toMatch(/^\s*server\s/m);
          const servers = stripComments(live.get(b.liveFile)!.toString()).split('\n').filter((l) => l.trim());
          expect(servers, b.liveFile).toEqual([`server ${b.service}:${b.port} resolve;`]);
          expect(b.address).toBe(`${b.service}:${b.port}`);
        }
        expect(m.nginx.backends.api.port).toBe(m.services.api.port);
        expect(main).toMatch(/zone api_backend \d+k;/);
        expect(main).toMatch(/keepalive \d+;/);
        expect(conf.get('snippets/proxy.conf')).toContain('proxy_http_version 1.1;');
        expect(conf.get('snippets/proxy.conf')).toContain('proxy_set_header Connection $connection_upgrade;');
        expect(conf.get('snippets/deny-dotfiles.conf')).toContain('location ~ /\\.(?!well-known(?:/|$))');

        // Rate limits: the API, and a stricter zone for the login-like paths.
        const api = conf.get('conf.d/30-api.conf')!;
        expect(api).toMatch(/limit_req zone=api burst=\d+ nodelay;/);
        expect(api).toContain('location ~ ^/api/(auth|login)(/|$) {');
        expect(api).toMatch(/limit_req zone=auth burst=\d+ nodelay;/);
        expect(api).toContain('error_page 502 503 504 @api_unavailable;');
        expect(blocks(api, /location/).find((b) => b.head.includes('@api_unavailable'))!.body).toContain('default_type application/json;');

        const web = conf.get('conf.d/20-web.conf')!;
        if (m.features.spa) {
          // The release nginx serves is named in a live file; before the first deploy, the error pages' folder.
          expect(web).toContain(`include ${m.nginx.liveDir}/${m.nginx.web.rootFile};`);
          expect(stripComments(live.get(m.nginx.web.rootFile)!.toString()).trim()).toBe(`root ${m.nginx.errorRoot};`);
          const deployed = runNginxLive(stack.dir, m, ['web', 'abc1234']);
          expect(stripComments(deployed.get(m.nginx.web.rootFile)!.toString()).trim()).toBe(`root ${posix.join(m.nginx.web.releases, 'abc1234')};`);
          for (const b of m.nginx.backends.list) expect(deployed.get(b.liveFile), 'web <tag> leaves the upstreams alone').toEqual(live.get(b.liveFile));
          // /assets/ is every kept release's bundles: the folder publish-release.sh fills.
          const assets = blocks(web, /location/).find((b) => b.head === 'location ^~ /assets/');
          expect(assets?.body).toMatch(new RegExp(`^\\s*root ${m.nginx.web.dir};`, 'm'));
          expect(posix.join(m.nginx.web.dir, 'assets')).toBe(m.nginx.web.assets);
          expect(m.nginx.web.releases.startsWith(`${m.nginx.web.dir}/`)).toBe(true);
          expect(web).toContain('try_files $uri /index.html;');
          expect(web).toContain('add_header Cache-Control "public, max-age=31536000, immutable" always;');
          expect(web).toContain('location = /index.html {');
          expect(web).toContain(`return 200 '{"apiOrigin":"${m.origins.api}"}';`);
          expect(main).not.toContain('web_backend');
        } else {
          expect(m.nginx.backends.web.port).toBe(m.services.web.port);
          expect(web).not.toContain(m.nginx.web.rootFile);
          expect(web).toContain('location ^~ /_next/static/ {');
          expect(web).toContain('proxy_pass $web_backend;');
          expect(web).toContain(`error_page 502 503 504 ${m.nginx.maintenancePage};`);
          expect(web).not.toContain('try_files');
        }

        // Cloudflare: the real-ip include with exactly the reference ranges, only when it is on.
        const realIp = conf.get('cloudflare/real-ip.conf');
        if (m.features.cloudflare) {
          expect(realIp).toBeDefined();
          expect(realIp).toContain('real_ip_header CF-Connecting-IP;');
          const trusted = [...realIp!.matchAll(/^set_real_ip_from (\S+);$/gm)].map((x) => x[1]);
          expect(trusted).toEqual([...CF_V4, ...CF_V6]);
          expect(main).toContain(`include ${m.cloudflare.realIpInclude};`);
          expect(conf.get('cloudflare/origin-pull.conf')).toContain('ssl_verify_client on;');
          expect(all).not.toMatch(/^\s*include cloudflare\/origin-pull\.conf;/m); // opt-in
          for (const script of CLOUDFLARE_SCRIPTS) expect(existsSync(join(stack.dir, 'scripts', script)), script).toBe(true);
          expect(m.tls.challenge).toBe('dns-cloudflare');
          expect(m.tls.certbotImage).toBe(m.images.certbot.replace('certbot/certbot:', 'certbot/dns-cloudflare:'));
        } else {
          expect(realIp).toBeUndefined();
          expect(filesUnder(join(stack.dir, 'nginx')).some((p) => p.startsWith('cloudflare/'))).toBe(false);
          expect(all).not.toMatch(/set_real_ip_from|real_ip_header|CF-Connecting-IP|cloudflare/i);
          for (const script of CLOUDFLARE_SCRIPTS) expect(existsSync(join(stack.dir, 'scripts', script)), script).toBe(false);
          expect(m.tls.challenge).toBe('webroot');
        }
        expect(all).not.toMatch(/0\.0\.0\.0\/0|::\/0/);

        // nginx runs the pinned image unchanged (no nginx/Dockerfile, no build): compose mounts the
        // generated nginx/ folder over the image's /etc/nginx and the live folder beside it.
        const nginx = composeService(stack.dir, m.services.nginx.name);
        expect(nginx.build).toBe(false);
        expect(nginx.image).toBe(m.images.nginx);
        expect(m.images.nginx).not.toMatch(/:latest$|^[^:]+$/);
        expect(m.services.nginx.buildContext).toBeUndefined();
        expect(existsSync(join(stack.dir, 'nginx/Dockerfile'))).toBe(false);
        expect(existsSync(join(stack.dir, '.dockerignore'))).toBe(false);
        expect(nginx.user).toBe(`${m.nginx.uid}:${m.nginx.gid}`);
        const mounts = new Map(nginx.mounts.map((v) => [v.target, v]));
        expect(mounts.get(m.nginx.confDir)).toEqual({ source: join(stack.dir, 'nginx'), target: m.nginx.confDir, readOnly: true, named: false });
        expect(mounts.get(m.nginx.liveDir)).toEqual({ source: join(stack.dir, m.ops.liveDir), target: m.nginx.liveDir, readOnly: true, named: false });
        if (m.features.spa) expect(mounts.get(m.nginx.web.dir)).toEqual({ source: m.volumes.web, target: m.nginx.web.dir, readOnly: true, named: true });
        else expect(mounts.has(m.nginx.web.dir)).toBe(false);
        // Nothing is mounted into the config folder separately (nginx/cloudflare comes with it).
        expect([...mounts.keys()].filter((t) => t.startsWith(`${m.nginx.confDir}/`))).toEqual([]);
        // The error pages are in the mounted folder.
        expect(m.nginx.errorRoot).toBe(posix.join(m.nginx.confDir, 'html'));
        expect(existsSync(join(stack.dir, 'nginx/html', m.nginx.maintenancePage))).toBe(true);
        // The mount hides the image's mime.types: the folder's own must type what the sites serve.
        expect(main).toMatch(/^\s*include mime\.types;/m);
        const mime = stripComments(readFileSync(join(stack.dir, 'nginx/mime.types'), 'utf8'));
        for (const [type, ext] of [['text/html', 'html'], ['text/css', 'css'], ['application/javascript', 'js'], ['application/json', 'json'],
          ['image/svg+xml', 'svg'], ['image/png', 'png'], ['font/woff2', 'woff2'], ['application/wasm', 'wasm']]) {
          expect(mime, `${type} ${ext}`).toMatch(new RegExp(`^\\s*${type.replace(/[+.]/g, '\\$&')}\\s+([\\w-]+\\s+)*${ext}[\\s;]`, 'm'));
        }
        expect(m.services.nginx.healthcheck.join(' ')).toContain(`http://127.0.0.1:${http}${m.nginx.healthPath}`);

        // The SPA is its own image (service spa): built from apps/web on the pinned node image, its
        // final stage the nginx image with the build and the script that publishes it.
        if (m.features.spa) {
          const spa = m.services.spa;
          expect(spa.buildContext).toBe('apps/web');
          expect(spa.image).toBe(m.images.nginx);
          const dockerfile = readFileSync(join(stack.dir, 'apps/web/Dockerfile'), 'utf8');
          expect([...dockerfile.matchAll(/^FROM (\S+)/gm)].map((x) => x[1])).toEqual([m.images.node, m.images.nginx]);
          expect(dockerfile).toContain('COPY package.json package-lock.json ./');
          expect(dockerfile).toMatch(/^RUN (--\S+ )*npm ci$/m);
          expect(dockerfile).toContain('RUN npm run build');
          const image = spaImage(stack.dir, m);
          expect(image.dist).toBe(join(stack.dir, 'apps/web/dist'));
          expect(image.script).toBe(join(stack.dir, 'apps/web/publish-release.sh'));
          expect(image.user).toEqual({ uid: m.nginx.uid, gid: m.nginx.gid });
          const service = composeService(stack.dir, spa.name);
          expect(service.build).toBe(true);
          expect(service.mounts).toEqual([{ source: m.volumes.web, target: m.nginx.web.dir, readOnly: false, named: true }]);
        } else {
          expect(m.services.spa).toBeUndefined();
          expect(existsSync(join(stack.dir, 'apps/web/publish-release.sh'))).toBe(false);
        }

        // Certbot scripts and the renewal timer.
        for (const script of NGINX_SCRIPTS) expect(existsSync(join(stack.dir, 'scripts', script)), script).toBe(true);
        const timer = readFileSync(join(stack.dir, 'server/systemd/certbot-renew.timer'), 'utf8');
        expect(timer).toContain(`OnCalendar=${m.tls.renewOnCalendar}`);
        expect(timer).toContain('Persistent=true');
        const service = readFileSync(join(stack.dir, 'server/systemd/certbot-renew.service'), 'utf8');
        expect(service).toContain(`ExecStart=/usr/local/sbin/${m.tls.renewUnit}`);
        expect(service).toContain('Type=oneshot');
        if (hasTool('systemd-analyze')) {
          const calendar = run('systemd-analyze', ['calendar', m.tls.renewOnCalendar]);
          expect(calendar.status, output(calendar)).toBe(0);
        }
      } finally {
        stack.cleanup();
      }
    });
  }

  it('version-dependent syntax follows the version written for', () => {
    const opts = { apiOrigin: 'https://api.example.org', spa: true, services: [{ name: 'api', port: 3000 }] };
    expect(nginxFacts('1.22.1', opts)).toMatchObject({ http2Directive: false, upstreamResolve: false, sessionTicketsOff: true });
    expect(nginxFacts('1.24.0', opts)).toMatchObject({ http2Directive: false, upstreamResolve: false, sessionTicketsOff: false });
    expect(nginxFacts('1.25.1', opts)).toMatchObject({ http2Directive: true, upstreamResolve: false });
    expect(nginxFacts('1.26.3', opts)).toMatchObject({ http2Directive: true, upstreamResolve: false });
    expect(nginxFacts('1.27.3', opts)).toMatchObject({ http2Directive: true, upstreamResolve: true });
    expect(nginxFacts('1.30', opts)).toMatchObject({ http2Directive: true, upstreamResolve: true, sessionTicketsOff: false });
    expect(nginxFacts('1.26.3', opts).backends.api).toMatchObject({ variable: '$api_backend', target: 'http://api:3000' });
    expect(nginxFacts('1.30', opts).backends.api).toMatchObject({ variable: '$api_backend', target: 'http://api_backend' });
    expect(hashBucketSize('api.example.org'.length)).toBe(64);
    expect(hashBucketSize(257)).toBe(512);
    expect(CLOUDFLARE_IPV4).toEqual(CF_V4);
    expect(CLOUDFLARE_IPV6).toEqual(CF_V6);
  });
});

describe.skipIf(!toolAvailable('shellcheck'))('nginx/certbot/cloudflare scripts: shellcheck -x -S style', () => {
  it('.ci/install-nginx.sh', () => {
    const lint = run('shellcheck', ['-x', '-S', 'style', '.ci/install-nginx.sh'], { cwd: ROOT });
    expect(lint.status, output(lint)).toBe(0);
  });

  for (const [name, overrides] of [['cloudflare', { cloudflare: true }], ['plain', { cloudflare: false }], ['nest-next', { template: 'nest-next' }]] as const) {
    it(name, () => {
      const stack = writeStack(overrides as Partial<Answers>);
      try {
        const scripts = [...NGINX_SCRIPTS, ...(stack.model.features.cloudflare ? CLOUDFLARE_SCRIPTS : [])].map((s) => `scripts/${s}`);
        const lint = run('shellcheck', ['-x', '-S', 'style', ...scripts], { cwd: stack.dir });
        expect(lint.status, output(lint)).toBe(0);
        for (const script of scripts) {
          const text = readFileSync(join(stack.dir, script), 'utf8');
          expect(text.startsWith('#!/usr/bin/env bash\n'), script).toBe(true);
          expect(statSync(join(stack.dir, script)).mode & 0o111, script).not.toBe(0);
          if (script.endsWith('-lib.sh')) continue; // sourced: runs under its caller's set -euo pipefail
          expect(text, script).toMatch(/^set -euo pipefail$/m);
          const help = run('bash', [script, '--help'], { cwd: stack.dir });
          expect(help.status, output(help)).toBe(0);
          expect(help.stdout).toMatch(/^Usage: /m);
        }
      } finally {
        stack.cleanup();
      }
    });
  }
});

// --- a real nginx ------------------------------------------------------------------------------

const isRoot = process.getuid?.() === 0;
function rootAvailable(): boolean {
  if (!isRoot && inCI) throw new Error('the nginx namespace tests need root under CI=true (unshare -m, mount)');
  return isRoot;
}
const nginxReady = toolAvailable(NGINX_BIN) && toolAvailable('unshare') && toolAvailable('openssl') && rootAvailable();

function nginxVersion(bin: string): string {
  const version = /nginx\/(\d+\.\d+\.\d+)/.exec(output(run(bin, ['-v'])))?.[1];
  if (!version) throw new Error(`cannot read the version of ${bin}`);
  return version;
}

/** Renders the stack's nginx/ files with the model re-targeted at another nginx version. */
function renderNginxFor(model: StackModel, version: string): Map<string, Buffer> {
  const services = model.services.list;
  const retargeted: StackModel = { ...model, nginx: nginxFacts(version, { apiOrigin: model.origins.api, spa: model.features.spa, services }) };
  const files = new Map<string, Buffer>();
  for (const file of renderPlan(retargeted).files) if (file.path.startsWith('nginx/')) files.set(file.path.slice('nginx/'.length), file.content);
  return files;
}

function readNginxDir(dir: string): Map<string, Buffer> {
  return new Map(filesUnder(join(dir, 'nginx')).map((p) => [p, readFileSync(join(dir, 'nginx', p))]));
}

interface Sandbox {
  work: string;
  /** Files to place at absolute paths inside the namespace (overlays keep the host untouched). */
  place: (absolute: string, content: string | Buffer) => void;
  cleanup: () => void;
}

function sandbox(): Sandbox {
  const work = mkdtempSync(join(tmpdir(), 'cvs-nginx-'));
  mkdirSync(join(work, 'root'));
  mkdirSync(join(work, 'ovl'));
  return {
    work,
    place: (absolute, content) => {
      const target = join(work, 'root', absolute);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, content);
    },
    cleanup: () => rmSync(work, { recursive: true, force: true }),
  };
}

/** A self-signed certificate for the stack's names at the model's certificate paths. */
function placeCertificate(box: Sandbox, m: StackModel): void {
  const dir = join(box.work, 'cert');
  mkdirSync(dir, { recursive: true });
  execFileSync('openssl', [
    'req', '-x509', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-days', '2',
    '-subj', '/CN=create-vps-stack test', '-addext', `subjectAltName=${m.tls.names.map((n) => `DNS:${n}`).join(',')}`,
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'pipe' });
  box.place(m.paths.certificate, readFileSync(join(dir, 'cert.pem')));
  box.place(m.paths.certificateKey, readFileSync(join(dir, 'key.pem')));
}

/** What the nginx container reads from its compose volumes, on this host's side of the mounts. */
interface NginxInputs {
  /** The nginx/ folder: the stack's, the 1.30 one, or one re-rendered for another nginx version. */
  nginx: Map<string, Buffer>;
  /** The live folder (scripts/nginx-live.sh). */
  live: Map<string, Buffer>;
  /** The web volume's folder, when a release was published into it. */
  web?: string;
}

/**
 * Places the files of the stack's nginx container where its compose nginx service mounts them
 * (the nginx/ folder, the live folder, the web volume: support/boot/nginx-layout.ts), the certificate
 * where the letsencrypt volume has it, and /etc/hosts naming the proxied services.
 */
function placeNginx(box: Sandbox, stack: RenderedStack, inputs: NginxInputs): void {
  const m = stack.model;
  const { mounts } = composeService(stack.dir, m.services.nginx.name);
  for (const [path, content] of containerFiles(stack.dir, m, mounts, inputs)) box.place(path, content);
  placeCertificate(box, m);
  const names = m.nginx.backends.list.map((b) => b.service).join(' ');
  writeFileSync(join(box.work, 'hosts'), `127.0.0.1 localhost ${names}\n::1 localhost\n`);
}

/** Nearest existing directory at or above `path` on this host. */
function existingAncestor(path: string): string {
  let dir = path;
  while (!existsSync(dir) || !lstatSync(dir).isDirectory()) dir = posix.dirname(dir);
  return dir;
}

/**
 * Runs `body` (sh) in a private mount namespace (and network namespace with `net`) where every
 * placed file exists at its absolute path: writable overlays on the nearest existing directories
 * (upper layers on a tmpfs), /etc/hosts bound to the sandbox's, /tmp overlaid too (pid, temp files).
 */
function inNamespace(box: Sandbox, body: string, net: boolean): SpawnSyncReturns<string> {
  const tops = new Set<string>();
  for (const file of filesUnder(join(box.work, 'root'))) {
    const top = existingAncestor(posix.dirname(`/${file}`));
    if (top === '/') throw new Error(`refusing to overlay / for /${file}`);
    tops.add(top);
  }
  const overlays = [...tops].filter((t) => ![...tops].some((o) => o !== t && t.startsWith(`${o}/`)) && t !== '/tmp');
  overlays.push('/tmp'); // last: the upper layers live in a tmpfs under /tmp
  const script = [
    'set -eu',
    `W='${box.work}'`,
    'mount -t tmpfs tmpfs "$W/ovl"',
    'i=0',
    `for target in ${overlays.map((o) => `'${o}'`).join(' ')}; do`,
    '  i=$((i + 1)); mkdir -p "$W/ovl/u$i" "$W/ovl/w$i"',
    '  mount -t overlay overlay -o "lowerdir=$target,upperdir=$W/ovl/u$i,workdir=$W/ovl/w$i" "$target"',
    'done',
    'cp -a "$W/root/." /',
    'mount --bind "$W/hosts" /etc/hosts',
    ...(net ? ['ip link set lo up'] : []),
    body,
  ].join('\n');
  return run('unshare', net ? ['-m', '-n', 'sh', '-c', script] : ['-m', 'sh', '-c', script]);
}

/**
 * `nginx -t` with stdout/stderr in a file: the config logs to /dev/stdout, which cannot be opened
 * when stdout is a socket (as under node); in the container it is a pipe.
 */
function testCommand(bin: string, m: StackModel): string {
  return [
    'status=0',
    `'${bin}' -t -p '${m.nginx.confDir}/' -c '${m.nginx.confDir}/nginx.conf' -e stderr >/tmp/nginx-t.out 2>&1 || status=$?`,
    'cat /tmp/nginx-t.out',
    'exit "$status"',
  ].join('\n');
}

function nginxTest(bin: string, stack: RenderedStack, inputs: NginxInputs): SpawnSyncReturns<string> {
  const box = sandbox();
  try {
    placeNginx(box, stack, inputs);
    return inNamespace(box, testCommand(bin, stack.model), false);
  } finally {
    box.cleanup();
  }
}

/**
 * The 1.30 config as nginx 1.26 can read it: the generated nginx/ folder unchanged, the live
 * folder as scripts/nginx-live.sh `init` writes it (before the first deploy) minus the one
 * parameter 1.26 lacks (`resolve`, in the upstream files; none is left in nginx/).
 */
function for126(stack: RenderedStack): NginxInputs {
  const nginx = readNginxDir(stack.dir);
  for (const [path, content] of nginx) expect(content.toString('utf8'), path).not.toMatch(/ resolve;/);
  return { nginx, live: withoutResolve(runNginxLive(stack.dir, stack.model, ['init'])) };
}

describe.skipIf(!nginxReady)('nginx -t (nginx 1.26 from NGINX_BIN)', () => {
  const version = nginxReady ? nginxVersion(NGINX_BIN) : '';
  for (const [name, overrides] of MATRIX) {
    it(`${name}: the 1.30 config (minus resolve) and the config written for ${version}`, () => {
      const stack = writeStack(overrides);
      try {
        const target = nginxTest(NGINX_BIN, stack, for126(stack));
        expect(target.status, output(target)).toBe(0);
        expect(output(target)).toContain('test is successful');

        const own = renderNginxFor(stack.model, version);
        expect(own.get('nginx.conf')!.toString()).not.toContain(' resolve;');
        expect(own.get('nginx.conf')!.toString(), 'no upstream blocks before 1.27.3').not.toContain(`include ${stack.model.nginx.liveDir}/`);
        const result = nginxTest(NGINX_BIN, stack, { nginx: own, live: runNginxLive(stack.dir, stack.model, ['init']) });
        expect(result.status, output(result)).toBe(0);
      } finally {
        stack.cleanup();
      }
    });
  }

  it('a 253-character domain still fits server_names_hash_bucket_size', () => {
    const domain = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}.org`;
    expect(domain.length).toBe(253);
    const stack = writeStack({ domain }, 'long-name');
    try {
      expect(stack.model.domain.api.length).toBe(257);
      const result = nginxTest(NGINX_BIN, stack, { nginx: renderNginxFor(stack.model, version), live: runNginxLive(stack.dir, stack.model, ['init']) });
      expect(result.status, output(result)).toBe(0);
    } finally {
      stack.cleanup();
    }
  });

  it('the opt-in Authenticated Origin Pulls include parses', () => {
    const stack = writeStack({ cloudflare: true });
    try {
      const inputs = for126(stack);
      const api = inputs.nginx.get('conf.d/30-api.conf')!.toString();
      inputs.nginx.set('conf.d/30-api.conf', Buffer.from(api.replace(/# (include cloudflare\/origin-pull\.conf;)[^\n]*/, '$1')));
      const box = sandbox();
      try {
        placeNginx(box, stack, inputs);
        // Any CA will do for parsing: reuse the self-signed certificate.
        box.place(posix.join(stack.model.nginx.confDir, stack.model.cloudflare.originPullCa), readFileSync(join(box.work, 'root', stack.model.paths.certificate)));
        const m = stack.model;
        const result = inNamespace(box, testCommand(NGINX_BIN, m), false);
        expect(result.status, output(result)).toBe(0);
      } finally {
        box.cleanup();
      }
    } finally {
      stack.cleanup();
    }
  });
});

const legacyReady = nginxReady && hasTool(LEGACY_NGINX_BIN) && /nginx\/1\.2[0-4]\./.test(output(run(LEGACY_NGINX_BIN, ['-v'])));
describe.skipIf(!legacyReady)('nginx -t with an nginx older than 1.25.1 (optional: NGINX_LEGACY_BIN, Debian 12 nginx)', () => {
  it('the config written for it uses `listen ... ssl http2` and parses', () => {
    const stack = writeStack({ template: 'nest-next', cloudflare: true });
    try {
      const version = nginxVersion(LEGACY_NGINX_BIN);
      const files = renderNginxFor(stack.model, version);
      const all = [...files.values()].map((b) => b.toString()).join('\n');
      expect(all).toMatch(/listen 443 ssl http2;/);
      expect(all).not.toMatch(/^\s*http2 on;/m);
      const result = nginxTest(LEGACY_NGINX_BIN, stack, { nginx: files, live: runNginxLive(stack.dir, stack.model, ['init']) });
      expect(result.status, output(result)).toBe(0);
    } finally {
      stack.cleanup();
    }
  });
});

// --- nginx serving, in a private network namespace ----------------------------------------------

interface Response { status: number; headers: Record<string, string>; body: string; exit: number }

/** A stand-in build of the SPA (path in dist/ → content), published as `tag`. */
interface Release { tag: string; files: Array<[string, string]> }

/**
 * Starts nginx in a namespace, runs curl requests against it, returns the responses by label.
 * An SPA's releases are published in order into the web volume by the generated
 * publish-release.sh and the last one named by `scripts/nginx-live.sh web`, as deploys do.
 */
function serve(stack: RenderedStack, requests: Array<[label: string, args: string]>, extraFiles: Array<[string, string]> = [], releases: Release[] = []): Record<string, Response> {
  const m = stack.model;
  const box = sandbox();
  try {
    const inputs = for126(stack);
    if (releases.length > 0) {
      // publish-release.sh runs as the spa image's user: it must reach the builds and the volume.
      chmodSync(box.work, 0o755);
      inputs.web = join(box.work, 'volumes', m.volumes.web);
      for (const release of releases) {
        const dist = join(box.work, 'dist', release.tag);
        for (const [path, content] of release.files) {
          mkdirSync(dirname(join(dist, path)), { recursive: true });
          writeFileSync(join(dist, path), content);
        }
        chmodSync(join(box.work, 'dist'), 0o755);
        publishRelease(stack.dir, m, { dist, volume: inputs.web, tag: release.tag });
      }
      inputs.live = withoutResolve(runNginxLive(stack.dir, m, ['web', releases.at(-1)!.tag]));
    }
    placeNginx(box, stack, inputs);
    for (const [path, content] of extraFiles) box.place(path, content);
    const resolve = m.tls.names.flatMap((n) => [`--resolve ${n}:80:127.0.0.1`, `--resolve ${n}:443:127.0.0.1`]).join(' ');
    const body = [
      `'${NGINX_BIN}' -p '${m.nginx.confDir}/' -c '${m.nginx.confDir}/nginx.conf' -e stderr >/tmp/nginx.out 2>&1 || { cat /tmp/nginx.out; exit 1; }`,
      // Whatever happens next, nginx must not outlive this namespace.
      `trap 'kill "$(cat ${m.nginx.pidFile})" 2>/dev/null || true' EXIT`,
      `for i in 1 2 3 4 5 6 7 8 9 10; do [ -s ${m.nginx.pidFile} ] && break; sleep 0.2; done`,
      ...requests.map(([label, args]) => [
        `echo "@@@ ${label}"`,
        `rc=0; curl -sk -i --max-time 5 ${resolve} ${args} 2>/dev/null || rc=$?; echo; echo "@@@ exit $rc"`,
      ].join('\n')),
    ].join('\n');
    const result = inNamespace(box, body, true);
    expect(result.status, output(result)).toBe(0);
    const responses: Record<string, Response> = {};
    for (const chunk of result.stdout.split(/^@@@ (?!exit)/m).slice(1)) {
      const label = chunk.slice(0, chunk.indexOf('\n'));
      const rest = chunk.slice(label.length + 1);
      const exit = Number(/@@@ exit (\d+)/.exec(rest)?.[1] ?? -1);
      const raw = rest.replace(/\n?@@@ exit \d+\n?$/, '');
      // With -i and several requests (redirects are not followed), the last response counts.
      const parts = raw.split(/\r\n\r\n/);
      const head = parts[0] ?? '';
      const status = Number(/^HTTP\/\S+ (\d+)/.exec(head)?.[1] ?? 0);
      const headers: Record<string, string> = {};
      for (const line of head.split('\r\n').slice(1)) {
        const at = line.indexOf(':');
        if (at > 0) headers[line.slice(0, at).toLowerCase()] = line.slice(at + 1).trim();
      }
      responses[label] = { status, headers, body: parts.slice(1).join('\r\n\r\n'), exit };
    }
    return responses;
  } finally {
    box.cleanup();
  }
}

const serveReady = nginxReady && toolAvailable('curl') && toolAvailable('ip');

describe.skipIf(!serveReady)('nginx serving the generated config (netns, curl)', () => {
  it('express-worker + cloudflare: health, ACME, redirects, SPA caching, config.json, JSON errors, rate limits', () => {
    const stack = writeStack({ template: 'express-worker', cloudflare: true });
    try {
      const m = stack.model;
      const apex = m.domain.apex;
      const login = Array.from({ length: 12 }, (_, i) => [`login-${i}`, `https://${m.domain.api}/api/login`] as [string, string]);
      const r = serve(stack, [
        ['health', `http://127.0.0.1${m.nginx.healthPath}`],
        ['unknown-host', 'http://127.0.0.1/'],
        ['acme', `http://${apex}/.well-known/acme-challenge/token-1`],
        ['acme-www', `http://${m.domain.www}/.well-known/acme-challenge/token-1`],
        ['http-apex', `http://${apex}/pricing?x=1`],
        ['http-www', `http://${m.domain.www}/a`],
        ['http-api', `http://${m.domain.api}/api/health`],
        ['https-www', `https://${m.domain.www}/a?b=c`],
        ['index', `https://${apex}/`],
        ['route', `https://${apex}/settings/profile`],
        ['asset', `https://${apex}/assets/index-abc123.js`],
        ['asset-missing', `https://${apex}/assets/gone-000.js`],
        ['config', `https://${apex}${m.nginx.spaConfig.path}`],
        ['dotfile', `https://${apex}/.env`],
        ['api-down', `https://${m.domain.api}/api/health`],
        ['gzip', `-H 'Accept-Encoding: gzip' https://${apex}/assets/big-abc123.css`],
        ['asset-previous', `https://${apex}/assets/index-0ld111.js`],
        ['unknown-sni', 'https://unknown.invalid/ --resolve unknown.invalid:443:127.0.0.1'],
        ...login,
      ], [
        [posix.join(m.paths.acmeWebroot, '.well-known/acme-challenge/token-1'), 'challenge-answer'],
      ], [
        // The previous deploy, then the current one: its page, and every kept release's bundles.
        { tag: 'r1', files: [['index.html', '<!doctype html><div id="old-root"></div>'], ['assets/index-0ld111.js', 'console.log(0)']] },
        { tag: 'r2', files: [
          ['index.html', '<!doctype html><div id="root"></div>'],
          ['assets/index-abc123.js', 'console.log(1)'],
          ['assets/big-abc123.css', 'body{color:red}\n'.repeat(200)],
        ] },
      ]);

      expect(r.health.status).toBe(200);
      expect(r['unknown-host'].exit).not.toBe(0); // 444: connection closed without a response
      expect(r.acme.status).toBe(200);
      expect(r.acme.body).toBe('challenge-answer');
      expect(r['acme-www'].status).toBe(200);
      expect(r['http-apex'].status).toBe(308);
      expect(r['http-apex'].headers.location).toBe(`https://${apex}/pricing?x=1`);
      expect(r['http-www'].headers.location).toBe(`https://${apex}/a`);
      expect(r['http-api'].headers.location).toBe(`https://${m.domain.api}/api/health`);
      expect(r['https-www'].status).toBe(308);
      expect(r['https-www'].headers.location).toBe(`https://${apex}/a?b=c`);
      expect(r['https-www'].headers['strict-transport-security']).toBe('max-age=63072000; includeSubDomains');

      for (const label of ['index', 'route']) {
        expect(r[label].status, label).toBe(200);
        expect(r[label].body).toContain('id="root"');
        expect(r[label].body).not.toContain('old-root');
        expect(r[label].headers['cache-control']).toBe('no-cache');
        expect(r[label].headers['strict-transport-security']).toBe('max-age=63072000; includeSubDomains');
        expect(r[label].headers['content-security-policy']).toContain(`connect-src 'self' ${m.origins.api}`);
        expect(r[label].headers['x-content-type-options']).toBe('nosniff');
        expect(r[label].headers['x-frame-options']).toBe('DENY');
        expect(r[label].headers['referrer-policy']).toBe('strict-origin-when-cross-origin');
        expect(r[label].headers['permissions-policy']).toContain('camera=()');
        expect(r[label].headers.server).toBe('nginx');
      }
      // Types from the stack's own nginx/mime.types (the mount hides the image's).
      expect(r.index.headers['content-type']).toMatch(/^text\/html/);
      expect(r.asset.status).toBe(200);
      expect(r.asset.body).toBe('console.log(1)');
      expect(r.asset.headers['content-type']).toMatch(/^application\/javascript/);
      expect(r.asset.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      // A page loaded before the deploy still gets its bundles.
      expect(r['asset-previous'].status).toBe(200);
      expect(r['asset-previous'].body).toBe('console.log(0)');
      expect(r.asset.headers['strict-transport-security']).toBeDefined();
      expect(r['asset-missing'].status).toBe(404);
      expect(r.config.status).toBe(200);
      expect(r.config.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(r.config.body)).toEqual({ apiOrigin: m.origins.api });
      expect(r.dotfile.status).toBe(404);
      expect(r.gzip.headers['content-encoding']).toBe('gzip');
      expect(r.gzip.headers.vary).toBe('Accept-Encoding');
      expect(r['unknown-sni'].exit).not.toBe(0);

      // Nothing listens on the api's port: nginx's own 502, as JSON, with the API's headers.
      expect(r['api-down'].status).toBe(502);
      expect(r['api-down'].headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(r['api-down'].body)).toMatchObject({ error: 'unavailable' });
      expect(r['api-down'].headers['content-security-policy']).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(r['api-down'].headers['strict-transport-security']).toBeDefined();

      const statuses = login.map(([label]) => r[label].status);
      expect(statuses.filter((s) => s === 502).length).toBeGreaterThanOrEqual(1);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(1);
      const limited = r[login[login.length - 1][0]];
      expect(limited.status).toBe(429);
      expect(JSON.parse(limited.body)).toMatchObject({ error: 'rate_limited' });
    } finally {
      stack.cleanup();
    }
  });

  it('nest-next: the web app down shows the static maintenance page; /_next/static passes through', () => {
    const stack = writeStack({ template: 'nest-next', cloudflare: false });
    try {
      const m = stack.model;
      const r = serve(stack, [
        ['home', `https://${m.domain.apex}/`],
        ['static', `https://${m.domain.apex}/_next/static/chunks/x.js`],
        ['api', `https://${m.domain.api}/api/health`],
      ]);
      expect(r.home.status).toBe(502);
      expect(r.home.headers['content-type']).toMatch(/^text\/html/);
      expect(r.home.body).toContain(m.domain.apex);
      expect(r.home.headers['cache-control']).toBe('no-store');
      expect(r.home.headers['strict-transport-security']).toBeDefined();
      expect(r.static.status).toBe(502);
      expect(r.api.status).toBe(502);
      expect(r.api.headers['content-type']).toMatch(/^application\/json/);
    } finally {
      stack.cleanup();
    }
  });
});

// --- certbot scripts against a fake docker ---------------------------------------------------------

// `docker compose run ... certbot <args>` acts like certbot (creates a lineage under $FAKE_ROOT);
// `--entrypoint sh certbot -c SCRIPT sh ARGS` runs SCRIPT here with /etc/letsencrypt and the webroot
// moved under $FAKE_ROOT; everything else is recorded in $FAKE_STATE/calls.
const FAKE_DOCKER = String.raw`#!/usr/bin/env bash
set -euo pipefail
state="$FAKE_STATE"
echo "docker $*" >>"$state/calls"
[[ "$1" == compose ]] || { echo "fake docker: unexpected $1" >&2; exit 3; }
shift
case "$1" in
  version) exit 0 ;;
  ps) if [[ -f "$state/nginx-up" ]]; then echo nginx-1; fi ;;
  up) touch "$state/nginx-up" ;;
  exec) ;;
  run)
    shift
    entry=''
    while [[ $# -gt 0 && "$1" == -* ]]; do
      case "$1" in --entrypoint) entry="$2"; shift 2 ;; *) shift ;; esac
    done
    shift # the service
    args=()
    for a in "$@"; do a="\${a//\/etc\/letsencrypt/$FAKE_ROOT/etc/letsencrypt}"; args+=("\${a//\/var\/www\/certbot/$FAKE_ROOT/var/www/certbot}"); done
    if [[ "$entry" == sh ]]; then exec sh "\${args[@]}"; fi
    echo "certbot \${args[*]}" >>"$state/certbot"
    le="$FAKE_ROOT/etc/letsencrypt"
    case "\${args[0]}" in
      certonly)
        [[ -z "\${FAKE_CERTBOT_FAIL:-}" ]] || exit 1
        name='' staging=false
        for ((i = 0; i < \${#args[@]}; i++)); do
          [[ "\${args[i]}" == --cert-name ]] && name="\${args[i + 1]}"
          [[ "\${args[i]}" == --staging ]] && staging=true
        done
        if [[ -e "$le/live/$name" && ! -f "$le/renewal/$name.conf" ]]; then echo "live dir exists and is not certbot's" >&2; exit 1; fi
        n=1
        while [[ -e "$le/archive/$name/privkey$n.pem" ]]; do n=$((n + 1)); done
        mkdir -p "$le/archive/$name" "$le/live/$name" "$le/renewal"
        (umask 077; echo key >"$le/archive/$name/privkey$n.pem")
        echo chain >"$le/archive/$name/fullchain$n.pem"
        ln -sfn "../../archive/$name/privkey$n.pem" "$le/live/$name/privkey.pem"
        ln -sfn "../../archive/$name/fullchain$n.pem" "$le/live/$name/fullchain.pem"
        chmod 700 "$le/live" "$le/archive"
        if "$staging"; then server=acme-staging-v02; else server=acme-v02; fi
        echo "server = https://$server.api.letsencrypt.org/directory" >"$le/renewal/$name.conf"
        ;;
      renew) ;;
      *) echo "fake certbot: unexpected \${args[0]}" >&2; exit 3 ;;
    esac ;;
  *) echo "fake docker: unexpected compose $1" >&2; exit 3 ;;
esac
`.replaceAll('\\${', '${');

describe.skipIf(!toolAvailable('openssl') || !rootAvailable())('certbot-init.sh and certbot-renew.sh (fake docker)', () => {
  function setup(overrides: Partial<Answers>, env: Record<string, string> = {}) {
    const stack = writeStack(overrides);
    const base = dirname(stack.dir);
    const state = join(base, 'state');
    const fakeRoot = join(base, 'fakeroot');
    const bin = join(base, 'bin');
    for (const d of [state, fakeRoot, bin]) mkdirSync(d);
    writeFileSync(join(bin, 'docker'), FAKE_DOCKER, { mode: 0o755 });
    writeFileSync(join(state, 'calls'), '');
    writeFileSync(join(state, 'certbot'), '');
    const m = stack.model;
    const dotenv = [
      `${m.env.letsencryptEmail.name}=ops@example.org`,
      `${m.env.letsencryptStaging.name}=0`,
      ...(m.features.cloudflare ? [`${m.env.cloudflareApiToken.name}="cf-secret-token"`] : []),
    ];
    writeFileSync(join(stack.dir, '.env'), `${dotenv.join('\n')}\n`, { mode: 0o600 });
    const runScript = (script: string, args: string[] = [], extra: Record<string, string> = {}) => run('bash', [`scripts/${script}`, ...args], {
      cwd: stack.dir,
      env: { PATH: `${bin}:${process.env.PATH}`, HOME: process.env.HOME, FAKE_STATE: state, FAKE_ROOT: fakeRoot, LANG: 'C.UTF-8', ...env, ...extra },
    });
    const le = (path: string) => join(fakeRoot, m.paths.letsencrypt, path);
    return {
      stack, m, runScript, le,
      calls: () => readFileSync(join(state, 'calls'), 'utf8'),
      certbot: () => readFileSync(join(state, 'certbot'), 'utf8'),
      reset: () => { writeFileSync(join(state, 'calls'), ''); writeFileSync(join(state, 'certbot'), ''); },
    };
  }

  it('webroot: placeholder, nginx up, certonly for apex+www+api, key readable by nginx, reload; idempotent', () => {
    const t = setup({ cloudflare: false });
    try {
      const { m } = t;
      const result = t.runScript('certbot-init.sh', ['--no-timer']);
      expect(result.status, output(result)).toBe(0);
      const calls = t.calls();
      expect(calls).toContain(`compose up -d --no-deps ${m.services.nginx.name}`);
      expect(calls.indexOf('openssl req')).toBeLessThan(calls.indexOf('compose up -d'));
      expect(calls).toContain(`exec -T ${m.services.nginx.name} nginx -s reload`);
      const certbot = t.certbot();
      expect(certbot).toContain(`certonly --non-interactive --agree-tos --no-eff-email --email ops@example.org --cert-name ${m.tls.certName}`);
      expect(certbot).toContain(m.tls.names.map((n) => `-d ${n}`).join(' '));
      expect(certbot).toContain('--webroot --webroot-path');
      expect(certbot).not.toContain('--staging');
      const key = t.le(`archive/${m.tls.certName}/privkey1.pem`);
      expect(statSync(key).mode & 0o777).toBe(0o640);
      expect(statSync(key).gid).toBe(m.nginx.gid);
      expect(statSync(t.le('live')).gid).toBe(m.nginx.gid);
      expect(statSync(t.le('live')).mode & 0o777).toBe(0o750);
      expect(readFileSync(join(dirname(t.le('x')), 'live', m.tls.certName, 'fullchain.pem'), 'utf8')).toBe('chain\n');

      t.reset();
      const again = t.runScript('certbot-init.sh', ['--no-timer']);
      expect(again.status, output(again)).toBe(0);
      expect(again.stdout).toContain('exists already');
      expect(t.certbot()).toBe('');

      const renew = t.runScript('certbot-renew.sh');
      expect(renew.status, output(renew)).toBe(0);
      expect(t.certbot()).toContain(`renew --non-interactive --cert-name ${m.tls.certName} --no-random-sleep-on-renew`);
      expect(t.calls()).toContain('nginx -s reload');
    } finally {
      t.stack.cleanup();
    }
  });

  it('staging first, then a trusted certificate replaces it', () => {
    const t = setup({ cloudflare: false });
    try {
      const staging = t.runScript('certbot-init.sh', ['--no-timer'], { [t.m.env.letsencryptStaging.name]: '1' });
      expect(staging.status, output(staging)).toBe(0);
      expect(t.certbot()).toContain('--staging');
      t.reset();
      const trusted = t.runScript('certbot-init.sh', ['--no-timer']);
      expect(trusted.status, output(trusted)).toBe(0);
      expect(trusted.stdout).toContain('replacing the staging certificate');
      expect(t.certbot()).toContain('--force-renewal');
      expect(t.certbot()).not.toContain('--staging');
    } finally {
      t.stack.cleanup();
    }
  });

  it('a failed request puts the placeholder back so nginx can still start', () => {
    const t = setup({ cloudflare: false });
    try {
      const result = t.runScript('certbot-init.sh', ['--no-timer'], { FAKE_CERTBOT_FAIL: '1' });
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain('certbot failed');
      expect(existsSync(join(t.le('live'), t.m.tls.certName, 'fullchain.pem'))).toBe(true);
      expect(existsSync(t.le(`renewal/${t.m.tls.certName}.conf`))).toBe(false);
    } finally {
      t.stack.cleanup();
    }
  });

  it('cloudflare: DNS-01 with the token from .env in a mode-600 file, never on a command line', () => {
    const t = setup({ cloudflare: true });
    try {
      const result = t.runScript('certbot-init.sh', ['--no-timer']);
      expect(result.status, output(result)).toBe(0);
      const certbot = t.certbot();
      expect(certbot).toContain('--dns-cloudflare --dns-cloudflare-credentials');
      expect(certbot).not.toContain('--webroot');
      const credentials = t.le(t.m.tls.cloudflareCredentialsFile);
      expect(readFileSync(credentials, 'utf8')).toBe('dns_cloudflare_api_token = cf-secret-token\n');
      expect(statSync(credentials).mode & 0o777).toBe(0o600);
      expect(t.calls()).not.toContain('cf-secret-token');
      const renew = t.runScript('certbot-renew.sh');
      expect(renew.status, output(renew)).toBe(0);
      expect(t.calls()).not.toContain('cf-secret-token');
    } finally {
      t.stack.cleanup();
    }
  });
});

describe('cloudflare-refresh-ips.sh (fake curl)', () => {
  const FAKE_CURL = [
    '#!/usr/bin/env bash',
    'url="${*: -1}"',
    'if [[ -n "${FAKE_CURL_BODY:-}" ]]; then printf "%s" "$FAKE_CURL_BODY"; exit 0; fi',
    'case "$url" in',
    `  *ips-v4) printf '%s\n' ${CF_V4.join(' ')} \${FAKE_EXTRA_V4:-} ;;`,
    `  *ips-v6) printf '%s\n' ${CF_V6.join(' ')} ;;`,
    '  *) exit 22 ;;',
    'esac',
  ].join('\n');

  it('keeps an unchanged list, rewrites a changed one, refuses a broken answer', () => {
    const stack = writeStack({ cloudflare: true });
    try {
      const bin = join(dirname(stack.dir), 'bin');
      mkdirSync(bin);
      writeFileSync(join(bin, 'curl'), `${FAKE_CURL}\n`, { mode: 0o755 });
      const env = (extra: Record<string, string> = {}) => ({ PATH: `${bin}:${process.env.PATH}`, HOME: process.env.HOME, ...extra });
      const file = join(stack.dir, 'nginx', stack.model.cloudflare.realIpInclude);
      const rendered = readFileSync(file, 'utf8');
      const refresh = (extra: Record<string, string> = {}) => run('bash', ['scripts/cloudflare-refresh-ips.sh', '--no-reload'], { cwd: stack.dir, env: env(extra) });

      const same = refresh();
      expect(same.status, output(same)).toBe(0);
      expect(same.stdout).toContain('ranges unchanged (22 ranges)');
      expect(readFileSync(file, 'utf8')).toBe(rendered);

      const changed = refresh({ FAKE_EXTRA_V4: '198.51.100.0/24' });
      expect(changed.status, output(changed)).toBe(0);
      expect(changed.stdout).toContain('> set_real_ip_from 198.51.100.0/24;');
      const text = readFileSync(file, 'utf8');
      expect(text).toContain('real_ip_header CF-Connecting-IP;');
      expect([...text.matchAll(/^set_real_ip_from (\S+);$/gm)].map((x) => x[1])).toEqual([...CF_V4, '198.51.100.0/24', ...CF_V6]);
      expect(statSync(file).mode & 0o777).toBe(0o644);

      for (const body of ['<html>oops</html>\n', '10.0.0.0/8\n']) {
        const broken = refresh({ FAKE_CURL_BODY: body });
        expect(broken.status, body).not.toBe(0);
        expect(readFileSync(file, 'utf8')).toBe(text);
      }
      expect(readdirSync(dirname(file))).toEqual(readdirSync(dirname(file)).filter((f) => !f.includes('.conf.')));
    } finally {
      stack.cleanup();
    }
  });
});

describe('firewall-cloudflare.sh --dry-run', () => {
  it('admits 80/443 from the ranges of the nginx include only, in DOCKER-USER and ufw', () => {
    const stack = writeStack({ cloudflare: true });
    try {
      const result = run('bash', ['scripts/firewall-cloudflare.sh', '--dry-run', '--interface', 'eth0'], { cwd: stack.dir });
      expect(result.status, output(result)).toBe(0);
      const ports = `${stack.model.services.nginx.extraPorts!.http},${stack.model.services.nginx.port}`;
      expect(result.stdout).toContain(`-A DOCKER-USER -i eth0 -p tcp -m multiport --dports ${ports} -m conntrack --ctstate NEW -j CLOUDFLARE-ONLY`);
      const returns = [...result.stdout.matchAll(/^-A CLOUDFLARE-ONLY -s (\S+) -j RETURN$/gm)].map((x) => x[1]);
      expect(returns).toEqual([...CF_V4, ...CF_V6]);
      expect(result.stdout.match(/^-A CLOUDFLARE-ONLY -j DROP$/gm)).toHaveLength(2);
      // An emptied include must never turn into "drop everyone".
      writeFileSync(join(stack.dir, 'nginx', stack.model.cloudflare.realIpInclude), 'real_ip_header CF-Connecting-IP;\n');
      const empty = run('bash', ['scripts/firewall-cloudflare.sh', '--dry-run', '--interface', 'eth0'], { cwd: stack.dir });
      expect(empty.status).not.toBe(0);
    } finally {
      stack.cleanup();
    }
  });
});
