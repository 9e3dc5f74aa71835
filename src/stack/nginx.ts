// What the generated nginx config is written for: version-dependent syntax, TLS policy,
// headers, limits and in-image paths. Templates read these as m.nginx.*.

/** A version string ("1.30", "1.26.3") as [major, minor, patch]. */
function parseVersion(version: string): [number, number, number] {
  const [major = 0, minor = 0, patch = 0] = version.split('.').map((part) => Number.parseInt(part, 10));
  return [major, minor, patch];
}

/** True when `version` is at least `min`. */
export function nginxAtLeast(version: string, min: string): boolean {
  const a = parseVersion(version);
  const b = parseVersion(min);
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return true;
}

/**
 * server_names_hash_bucket_size for names up to `longest` characters: one hash element is a pointer
 * plus the name and two bytes, pointer-aligned, and a bucket ends with one more pointer. Powers of two, at least 64.
 */
export function hashBucketSize(longest: number): number {
  const needed = 8 + Math.ceil((longest + 2) / 8) * 8 + 8;
  let size = 64;
  while (size < needed) size *= 2;
  return size;
}

/** An app nginx proxies to. */
export interface NginxBackend {
  /** Compose service name and port (`<service>:<port>` on the compose network). */
  service: string;
  port: number;
  address: string;
  /** Name of the `upstream` block (>= 1.27.3 only). */
  upstream: string;
  /** Its servers, in liveDir: the containers that passed readiness (scripts/nginx-live.sh writes it). */
  liveFile: string;
  /** Variable a server sets once and every location passes to: `proxy_pass $api_backend;`. */
  variable: string;
  /** What the variable holds: the upstream block, or (older nginx) the address, re-resolved at run time. */
  target: string;
}

export interface NginxFacts {
  /** The nginx release the config is written for (major.minor, or a full version in tests). */
  version: string;
  /** `listen 443 ssl;` + `http2 on;` (>= 1.25.1); older releases only take `listen 443 ssl http2;`. */
  http2Directive: boolean;
  /**
   * `server <host>:<port> resolve;` in a `zone`d upstream (open source since 1.27.3): nginx follows DNS
   * changes (a replaced container, a second replica) and keeps upstream keepalive. Older releases
   * get `resolver` + a variable `proxy_pass` instead (re-resolved, but without upstream keepalive).
   */
  upstreamResolve: boolean;
  /** `ssl_session_tickets off;` only matters before 1.23.2 (Mozilla guideline 6.0). */
  sessionTicketsOff: boolean;
  /** Mozilla SSL guideline 6.0 "intermediate". No ssl_ecdh_curve (X25519MLKEM768 needs OpenSSL >= 3.5). */
  tls: { protocols: string; ciphers: string; sessionTimeout: string; sessionCache: string };
  hsts: string;
  /** Content-Security-Policy per site. */
  csp: { web: string; api: string };
  permissionsPolicy: string;
  /** Apps behind nginx: `api` always, `web` when the web app is a server (nest-next). `list` in that order. */
  backends: Record<string, NginxBackend> & { list: NginxBackend[] };
  /** Docker's embedded DNS, re-asked every `resolverValid`. */
  resolver: string;
  resolverValid: string;
  /** Idle keepalive connections per upstream (64: at 32 concurrent clients 16 made nginx reopen ~1,100 api connections in 5 s, bench:proxy) and how long nginx keeps one: below the apps' own idle timeout. */
  upstreamKeepalive: { connections: number; timeout: string };
  clientMaxBodySize: string;
  /** server_names_hash_bucket_size and map_hash_bucket_size: big enough for api.<domain> (up to 257 characters). */
  serverNamesHashBucketSize: number;
  /** limit_req zones: every API request, and a stricter one for login-like paths. */
  rateLimits: {
    api: { zone: string; rate: string; burst: number };
    auth: { zone: string; rate: string; burst: number; paths: string[]; locationRegex: string };
  };
  /** Runtime config the SPA fetches at startup (same origin), and its JSON body. */
  spaConfig: { path: string; json: string };
  /** Unprivileged user of the nginx image (uid/gid 101 in the official images), and where it keeps its pid and temp files (a tmpfs /tmp). */
  user: string;
  uid: number;
  gid: number;
  pidFile: string;
  tempDir: string;
  /** Paths in the container: the config (./nginx, mounted read-only, so a deploy reloads rather than replaces nginx), the live routing files. */
  confDir: string;
  liveDir: string;
  /** The SPA in the web volume: releases/<tag>/ (one per deploy), assets/ (every kept release's hashed bundles), and the live file naming the current release. */
  web: { dir: string; releases: string; assets: string; rootFile: string };
  errorRoot: string;
  maintenancePage: string;
  healthPath: string;
}

export function nginxFacts(
  version: string,
  opts: { apiOrigin: string; spa: boolean; services: Array<{ name: string; port?: number }> },
): NginxFacts {
  const upstreamResolve = nginxAtLeast(version, '1.27.3');
  const proxied = opts.services.filter((s) => s.name === 'api' || (!opts.spa && s.name === 'web'));
  const list = proxied.map((s): NginxBackend => {
    if (s.port === undefined) throw new Error(`nginx: service ${s.name} has no port`);
    const address = `${s.name}:${s.port}`;
    const upstream = `${s.name}_backend`;
    return { service: s.name, port: s.port, address, upstream, liveFile: `${s.name}.upstream`, variable: `$${upstream}`, target: upstreamResolve ? `http://${upstream}` : `http://${address}` };
  });
  const backends = Object.assign(Object.fromEntries(list.map((b) => [b.service, b])), { list });
  const authPaths = ['/api/auth', '/api/login'];
  const authNames = authPaths.map((p) => p.replace(/^\/api\//, ''));
  return {
    version,
    http2Directive: nginxAtLeast(version, '1.25.1'),
    upstreamResolve,
    sessionTicketsOff: !nginxAtLeast(version, '1.23.2'),
    tls: {
      protocols: 'TLSv1.2 TLSv1.3',
      ciphers: [
        'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384',
        'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
      ].join(':'),
      sessionTimeout: '1d',
      sessionCache: 'shared:MozSSL:10m',
    },
    hsts: 'max-age=63072000; includeSubDomains',
    csp: {
      // The Vite build loads only same-origin module scripts; the API is the one other origin it calls.
      // Next.js inlines bootstrap scripts, so the nest-next web gets the framing/base rules only.
      web: opts.spa
        ? `default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self' ${opts.apiOrigin}; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'`
        : `object-src 'none'; base-uri 'self'; frame-ancestors 'none'`,
      api: `default-src 'none'; frame-ancestors 'none'`,
    },
    permissionsPolicy: 'accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=()',
    backends,
    resolver: '127.0.0.11',
    resolverValid: '10s',
    upstreamKeepalive: { connections: 64, timeout: '4s' },
    clientMaxBodySize: '10m',
    serverNamesHashBucketSize: hashBucketSize(new URL(opts.apiOrigin).hostname.length),
    rateLimits: {
      api: { zone: 'api', rate: '20r/s', burst: 40 },
      auth: { zone: 'auth', rate: '10r/m', burst: 5, paths: authPaths, locationRegex: `^/api/(${authNames.join('|')})(/|$)` },
    },
    spaConfig: { path: '/config.json', json: JSON.stringify({ apiOrigin: opts.apiOrigin }) },
    user: 'nginx',
    uid: 101,
    gid: 101,
    pidFile: '/tmp/nginx.pid',
    tempDir: '/tmp',
    confDir: '/etc/nginx',
    liveDir: '/etc/nginx-live',
    web: { dir: '/srv/web', releases: '/srv/web/releases', assets: '/srv/web/assets', rootFile: 'web-root.conf' },
    errorRoot: '/etc/nginx/html',
    maintenancePage: '/maintenance.html',
    healthPath: '/nginx-health',
  };
}
