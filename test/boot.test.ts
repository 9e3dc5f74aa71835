// Proof that a generated stack runs: the express-worker stack (workers, Redis, pgvector) is
// generated, its apps installed and built, and booted natively behind its own nginx, the way
// compose runs it (test/support/boot/stack.ts): Postgres 15 with pgvector and Redis from Debian,
// the migration command, api, worker and nginx 1.26 with the generated configuration, all in a
// private mount + network namespace (only `lo`: loopback by construction, the model's ports
// cannot collide with anything on the host). Secrets are the ones scripts/init-env.sh generated.
//
// Then, through nginx over HTTPS by Host name: health and readiness, the SPA and its cache
// headers, redirects, security headers, a job through the worker, a pgvector query, Redis going
// away and coming back, testssl.sh, and a backup drill with the generated scripts against the
// booted database. Every process is stopped by PID in afterAll, whatever failed.
//
// Needs root, NGINX_BIN (.ci/install-nginx.sh), Debian's postgresql + pgvector
// (.ci/install-pgvector.sh), redis-server, docker-compose + python3-yaml (for `compose config`),
// curl, wget (nginx's compose healthcheck), openssl, testssl.sh. Set CVS_BOOT_KEEP=1 to keep the
// work directory (logs, dumps) after the run.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runningPids } from './support/boot/process.js';
import { bootPrerequisites, BootedStack, DEFAULT_NGINX_BIN, output, sleep, waitFor, type HttpResponse } from './support/boot/stack.js';
import { inCI, toolAvailable } from './support/stack.js';

const TOOLS = ['unshare', 'nsenter', 'ip', 'curl', 'wget', 'openssl', 'npm', 'docker-compose', 'python3', 'redis-server', 'redis-cli', 'sha256sum'];

function bootReady(): boolean {
  const tools = TOOLS.map((tool) => toolAvailable(tool)).every(Boolean);
  const missing = bootPrerequisites(DEFAULT_NGINX_BIN);
  if (missing.length > 0 && inCI) throw new Error(`the boot test needs, under CI=true: ${missing.join('; ')} (.ci/run must provide them)`);
  return tools && missing.length === 0;
}
const READY = bootReady();
const TESTSSL = READY && toolAvailable('testssl');

const BOOT_ANSWERS = { template: 'express-worker', workers: true, redis: true, pgvector: true, cloudflare: false } as const;

// Mozilla intermediate (REFERENCE.md) plus the TLS 1.3 suites OpenSSL enables by default.
const MOZILLA_TLS12 = ['ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384', 'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305'];
const TLS13 = ['TLS_AES_128_GCM_SHA256', 'TLS_AES_256_GCM_SHA384', 'TLS_CHACHA20_POLY1305_SHA256'];

/**
 * testssl.sh findings above OK/INFO that are accepted, each for a reason outside the generated config.
 * Anything else at LOW, MEDIUM, HIGH, CRITICAL or WARN fails the test.
 */
const ACCEPTED_FINDINGS: Record<string, { finding: RegExp; why: string }> = {
  cipher_order: { finding: /NOT a cipher order configured/, why: "Mozilla intermediate: ssl_prefer_server_ciphers off (every offered suite is strong; the client picks)" },
  cert_chain_of_trust: { finding: /self signed/, why: 'the self-signed stand-in for the Let\'s Encrypt certificate' },
  cert_revocation: { finding: /Neither CRL nor OCSP URI provided/, why: 'the stand-in certificate has no CRL URL (Let\'s Encrypt certificates carry one)' },
  DNS_CAArecord: { finding: /^--$/, why: 'DNS is not part of the stack (no network in the namespace)' },
  BREACH: { finding: /gzip HTTP compression detected/, why: "'/' is the static SPA index.html: no secrets, no reflected input, no cookies (checked below)" },
  secure_renego: { finding: /OpenSSL handshake didn't succeed/, why: 'testssl 3.0.8 tests renegotiation without SNI, which the default server refuses (ssl_reject_handshake); checked with SNI below' },
  engine_problem: { finding: /engine/i, why: "testssl vs Debian's OpenSSL 3 build (no GOST engine): a property of the tool" },
  // Session resumption is a performance feature, not a security property. testssl's probe (two
  // s_client runs, the second resuming over TLS 1.3 without a certificate to see) now and then
  // reports a "connect problem" on a loaded machine: the probe did not complete, nothing was found.
  sessionresumption_ticket: { finding: /connect problem/, why: 'an informational probe that did not complete' },
  sessionresumption_ID: { finding: /connect problem/, why: 'an informational probe that did not complete' },
};

interface Finding { id: string; severity: string; finding: string }

const isoWeek = (stamp: string) => {
  const d = new Date(Date.UTC(Number(stamp.slice(0, 4)), Number(stamp.slice(4, 6)) - 1, Number(stamp.slice(6, 8))));
  const day = (d.getUTCDay() + 6) % 7;
  d.setUTCDate(d.getUTCDate() - day + 3);
  const firstThursday = new Date(Date.UTC(d.getUTCFullYear(), 0, 4));
  return `${d.getUTCFullYear()}-${Math.round((d.getTime() - firstThursday.getTime()) / 604_800_000)}`;
};

describe.skipIf(!READY)('express-worker booted natively behind its own nginx (private namespace, loopback only)', () => {
  let stack: BootedStack;
  const progress: string[] = [];
  let stoppedWith: Record<string, string> | undefined;

  beforeAll(async () => {
    stack = new BootedStack({ overrides: BOOT_ANSWERS, log: (line) => progress.push(line) });
    try {
      await stack.start();
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${stack.logs()}`);
    }
  }, 480_000);

  afterAll(async () => {
    if (!stack) return;
    const ended = await stack.stop(process.env.CVS_BOOT_KEEP === '1');
    stoppedWith ??= ended;
    console.log(`boot timings (ms): ${JSON.stringify(stack.timings)}${process.env.CVS_BOOT_KEEP === '1' ? `; kept ${stack.work}` : ''}`);
    expect(runningPids(), 'processes left running').toEqual([]);
  }, 120_000);

  const m = () => stack.model;
  const api = (path: string) => `https://${m().domain.api}${path}`;
  const site = (path: string) => `https://${m().domain.apex}${path}`;
  const fail = (what: string, r: HttpResponse) => `${what}: ${r.status} (curl exit ${r.exit}) ${r.body.slice(0, 500)}\n${stack.logs()}`;

  function expectSecurityHeaders(r: HttpResponse, csp: string): void {
    expect(r.headers['strict-transport-security']).toBe('max-age=63072000; includeSubDomains');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['x-frame-options']).toBe('DENY');
    expect(r.headers['referrer-policy']).toBe('strict-origin-when-cross-origin');
    expect(r.headers['permissions-policy']).toBe(m().nginx.permissionsPolicy);
    expect(r.headers['content-security-policy']).toBe(csp);
    expect(r.headers.server).toBe('nginx'); // server_tokens off: no version
    expect(r.headers).not.toHaveProperty('x-powered-by');
  }

  // --- through nginx ------------------------------------------------------------------------

  it('serves /api/health through nginx over HTTPS (HTTP/2), with the API security headers and CORS for the web origin', () => {
    const r = stack.request(api(m().paths.health), { headers: { Origin: m().origins.web } });
    expect(r.status, fail('health', r)).toBe(200);
    expect(r.httpVersion).toBe('2');
    expect(r.json()).toEqual({ status: 'ok' });
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.headers['access-control-allow-origin']).toBe(m().origins.web);
    expectSecurityHeaders(r, m().nginx.csp.api);
    const foreign = stack.request(api(m().paths.health), { headers: { Origin: 'https://evil.example.net' } });
    expect(foreign.headers).not.toHaveProperty('access-control-allow-origin');
  });

  it('readiness is 200 with every check ok', () => {
    const r = stack.request(api(m().paths.ready));
    expect(r.status, fail('ready', r)).toBe(200);
    const body = r.json<{ status: string; checks: Record<string, string>; failed: string[] }>();
    expect(body.status).toBe('ok');
    expect(Object.keys(body.checks).sort()).toEqual(['postgres', 'redis']);
    for (const [name, result] of Object.entries(body.checks)) expect(result, name).toBe('ok');
    expect(body.failed).toEqual([]);
  });

  it('serves the built SPA: index.html revalidated, hashed assets immutable, client routes fall back to index.html', () => {
    const dist = join(stack.dir, 'apps/web/dist');
    const index = stack.request(site('/'));
    expect(index.status, fail('index', index)).toBe(200);
    expect(index.headers['content-type']).toMatch(/^text\/html/);
    expect(index.headers['cache-control']).toBe('no-cache');
    expect(index.body).toBe(readFileSync(join(dist, 'index.html'), 'utf8'));
    expectSecurityHeaders(index, m().nginx.csp.web);

    const assets = [...index.body.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((x) => x[1]);
    expect(assets.some((a) => a.endsWith('.js')), index.body).toBe(true);
    for (const asset of assets) {
      expect(asset).toMatch(/-[\w-]{8}\.(js|css)$/); // Vite's content hash
      const r = stack.request(site(asset));
      expect(r.status, fail(asset, r)).toBe(200);
      expect(r.headers['cache-control']).toBe('public, max-age=31536000, immutable');
      expect(r.headers['content-type']).toMatch(asset.endsWith('.js') ? /javascript/ : /^text\/css/);
      expect(r.body).toBe(readFileSync(join(dist, asset), 'utf8'));
      expectSecurityHeaders(r, m().nginx.csp.web);
    }
    const gzip = stack.request(site(assets.find((a) => a.endsWith('.js'))!), { headers: { 'Accept-Encoding': 'gzip' } });
    expect(gzip.headers['content-encoding']).toBe('gzip');

    const route = stack.request(site('/settings/profile'));
    expect(route.status).toBe(200);
    expect(route.body).toBe(index.body);
    expect(route.headers['cache-control']).toBe('no-cache');
    expect(stack.request(site('/assets/index-00000000.js')).status).toBe(404);
    const config = stack.request(site(m().nginx.spaConfig.path));
    expect(config.json()).toEqual({ apiOrigin: m().origins.api });
    expect(readdirSync(join(dist, 'assets')).length).toBeGreaterThan(0);
  });

  it('redirects HTTP to HTTPS and www to the apex; unknown names get nothing', () => {
    const { apex, www } = m().domain;
    const cases: Array<[string, string]> = [
      [`http://${apex}/pricing?x=1`, `https://${apex}/pricing?x=1`],
      [`http://${www}/a`, `https://${apex}/a`],
      [`http://${m().domain.api}${m().paths.health}`, api(m().paths.health)],
      [`https://${www}/a?b=c`, `https://${apex}/a?b=c`],
    ];
    for (const [from, to] of cases) {
      const r = stack.request(from);
      expect(r.status, from).toBe(308);
      expect(r.headers.location, from).toBe(to);
    }
    expect(stack.request(`https://${www}/`).headers['strict-transport-security']).toBe('max-age=63072000; includeSubDomains');
    expect(stack.request(`http://127.0.0.1${m().nginx.healthPath}`).status).toBe(200);
    expect(stack.request('http://127.0.0.1/').exit).not.toBe(0); // 444: closed without an answer
    expect(stack.request(`https://${m().services.api.name}/`, { curl: ['--resolve', `${m().services.api.name}:443:127.0.0.1`] }).exit).not.toBe(0); // unknown SNI: handshake refused
  });

  async function runJob(noteId: number): Promise<{ id: string; result: { noteId: number; words: number } }> {
    const posted = stack.request(api('/api/jobs'), { method: 'POST', body: { noteId } });
    expect(posted.status, fail('POST /api/jobs', posted)).toBe(202);
    const { id } = posted.json<{ id: string }>();
    expect(posted.headers.location).toBe(`/api/jobs/${id}`);
    const done = await waitFor(`job ${id} completed`, () => {
      const r = stack.request(api(`/api/jobs/${id}`));
      const job = r.json<{ state: string; result: { noteId: number; words: number }; failedReason: string | null }>();
      if (job.state === 'failed') throw new Error(`job failed: ${job.failedReason}`);
      return job.state === 'completed' ? job : undefined;
    }, 30_000, 200);
    return { id, result: done.result };
  }

  function createNote(title: string, body: string): number {
    const r = stack.request(api('/api/notes'), { method: 'POST', body: { title, body } });
    expect(r.status, fail('POST /api/notes', r)).toBe(201);
    return r.json<{ id: number }>().id;
  }

  it('a job posted through the API is processed by the worker', async () => {
    const noteId = createNote('boot test', 'one two three four five');
    const { result } = await runJob(noteId);
    expect(result).toEqual({ noteId, words: 7 });
    const note = stack.request(api(`/api/notes/${noteId}`)).json<{ word_count: number }>();
    expect(note.word_count).toBe(7);
    expect(stack.processes.worker.log()).toContain('"msg":"job completed"');
  }, 60_000);

  it('pgvector: the HNSW-indexed items answer a nearest-neighbour query', () => {
    expect(stack.psql("SELECT extversion FROM pg_extension WHERE extname = 'vector'")).toMatch(/^0\.\d+\.\d+$/);
    const points: Array<[string, number[]]> = [['origin', [0, 0, 0]], ['near', [0.1, 0, 0]], ['ones', [1, 1, 1]], ['far', [5, 5, 5]]];
    for (const [label, embedding] of points) {
      const r = stack.request(api('/api/items'), { method: 'POST', body: { label, embedding } });
      expect(r.status, fail('POST /api/items', r)).toBe(201);
    }
    const r = stack.request(api('/api/similar'), { method: 'POST', body: { embedding: [0.2, 0.1, 0], limit: 3 } });
    expect(r.status, fail('POST /api/similar', r)).toBe(200);
    const items = r.json<{ items: Array<{ label: string; distance: number }> }>().items;
    expect(items.map((i) => i.label)).toEqual(['near', 'origin', 'ones']);
    expect(items[0].distance).toBeCloseTo(Math.hypot(0.1, 0.1, 0), 5);
    expect([...items.map((i) => i.distance)].sort((a, b) => a - b)).toEqual(items.map((i) => i.distance));
    // The index the migration created serves the operator the API orders by.
    const plan = stack.psql("SET enable_seqscan = off; EXPLAIN SELECT id FROM items ORDER BY embedding <-> '[0.2,0.1,0]' LIMIT 3");
    expect(plan).toContain('items_embedding_hnsw');
    expect(stack.request(api('/api/similar'), { method: 'POST', body: { embedding: [1, 2] } }).status).toBe(400);
  });

  it('Redis down: readiness 503 and the api keeps serving; Redis back: ready again and the worker takes jobs', async () => {
    const redis = m().services.redis.name;
    const pids = { api: stack.processes.api.pid, worker: stack.processes.worker.pid };
    expect(await stack.stopService(redis)).toBe('code 0');

    const degraded = await waitFor('readiness 503', () => {
      const r = stack.request(api(m().paths.ready));
      return r.status === 503 ? r : undefined;
    }, 20_000);
    expect(degraded.json()).toEqual({ status: 'degraded', checks: { postgres: 'ok', redis: 'failed' }, failed: ['redis'] });
    expect(degraded.headers['cache-control']).toBe('no-store');
    expect(degraded.headers['content-type']).toMatch(/^application\/json/); // the API's own answer, passed through
    const started = Date.now();
    const again = stack.request(api(m().paths.ready));
    expect(again.status).toBe(503);
    expect(Date.now() - started, 'readiness answers promptly while Redis is down').toBeLessThan(5_000);
    expect(stack.request(api(m().paths.health)).status).toBe(200);
    expect(stack.request(api('/api/notes')).status).toBe(200);
    const queued = stack.request(api('/api/jobs'), { method: 'POST', body: { noteId: createNote('during outage', 'a b') }, timeoutSeconds: 15 });
    expect(queued.status, fail('POST /api/jobs with Redis down', queued)).toBe(503);
    expect(stack.processes.api.alive() && stack.processes.worker.alive(), stack.logs()).toBe(true);

    await stack.startRedis();
    await waitFor('readiness 200 again', () => (stack.request(api(m().paths.ready)).status === 200 ? true : undefined), 30_000);
    const noteId = createNote('after outage', 'x y z');
    expect((await runJob(noteId)).result).toEqual({ noteId, words: 5 });
    expect({ api: stack.processes.api.pid, worker: stack.processes.worker.pid }).toEqual(pids);
    expect(stack.processes.api.alive() && stack.processes.worker.alive()).toBe(true);
    expect(stack.processes.api.log()).toContain('redis: connection restored');
  }, 120_000);

  it.skipIf(!TESTSSL)('TLS (testssl.sh): TLS 1.2/1.3 only, AEAD + forward-secret suites only, no vulnerability findings', () => {
    const json = join(stack.work, `testssl-${Date.now()}.json`);
    const run = stack.exec('testssl', ['--quiet', '--color', '0', '--warnings', 'batch', '--jsonfile', json, '--ip', '127.0.0.1', site('/')], { timeoutMs: 300_000 });
    expect(existsSync(json), output(run)).toBe(true);
    const findings = JSON.parse(readFileSync(json, 'utf8')) as Finding[];
    const byId = new Map(findings.map((f) => [f.id, f]));
    const finding = (id: string) => {
      const f = byId.get(id);
      expect(f, `testssl reported no ${id}`).toBeDefined();
      return f!.finding;
    };

    for (const id of ['SSLv2', 'SSLv3', 'TLS1', 'TLS1_1']) expect(finding(id), id).toMatch(/^not offered/);
    for (const id of ['TLS1_2', 'TLS1_3']) expect(finding(id), id).toMatch(/^offered/);
    for (const id of ['cipherlist_NULL', 'cipherlist_aNULL', 'cipherlist_EXPORT', 'cipherlist_LOW', 'cipherlist_3DES_IDEA', 'cipherlist_AVERAGE']) {
      expect(finding(id), id).toMatch(/^not offered/);
    }
    expect(finding('cipherlist_STRONG')).toMatch(/^offered/);
    expect(finding('PFS')).toMatch(/^offered/);

    // Every suite offered: ECDHE (or TLS 1.3) key exchange, AEAD encryption, and on the allowed list.
    const offered = findings.filter((f) => /^cipher_x[0-9a-f]+$/.test(f.id)).map((f) => f.finding.trim().split(/\s+/));
    expect(offered.length).toBeGreaterThan(0);
    for (const [, name, kx, , enc] of offered) {
      expect([...MOZILLA_TLS12, ...TLS13], name).toContain(name);
      expect(kx, name).toBe('ECDH');
      expect(enc, name).toMatch(/^(AESGCM|ChaCha20|AESCCM)$/);
    }
    expect(offered.map(([, name]) => name)).toEqual(expect.arrayContaining(TLS13));

    const vulnerabilities = ['heartbleed', 'CCS', 'ticketbleed', 'ROBOT', 'secure_renego', 'secure_client_renego', 'CRIME_TLS', 'BREACH',
      'POODLE_SSL', 'fallback_SCSV', 'SWEET32', 'FREAK', 'DROWN', 'LOGJAM', 'BEAST', 'LUCKY13', 'RC4'];
    for (const id of vulnerabilities) finding(id);
    const problems = findings.filter((f) => !['OK', 'INFO', 'DEBUG'].includes(f.severity));
    const unexpected = problems.filter((f) => !ACCEPTED_FINDINGS[f.id]?.finding.test(f.finding));
    expect(unexpected.map((f) => `${f.id} ${f.severity}: ${f.finding}`)).toEqual([]);
    for (const id of ['heartbleed', 'CCS', 'ticketbleed', 'ROBOT', 'secure_client_renego', 'CRIME_TLS', 'POODLE_SSL', 'fallback_SCSV', 'SWEET32',
      'FREAK', 'DROWN', 'LOGJAM', 'BEAST', 'LUCKY13', 'RC4']) {
      expect(byId.get(id)!.severity, `${id}: ${byId.get(id)!.finding}`).toBe('OK');
    }

    // The accepted ones, checked another way.
    if (byId.get('BREACH')?.severity !== 'OK') {
      expect(finding('cookie_count')).toMatch(/^0 at/);
      expect(stack.request(site('/')).body).toBe(readFileSync(join(stack.dir, 'apps/web/dist/index.html'), 'utf8'));
    }
    const renego = stack.exec('openssl', ['s_client', '-connect', '127.0.0.1:443', '-servername', m().domain.apex, '-tls1_2'], { input: '', timeoutMs: 20_000 });
    expect(output(renego)).toContain('Secure Renegotiation IS supported');
    expect(finding('HSTS_time')).toMatch(/^730 days/);
  }, 300_000);

  // --- backup drill, on the booted database ----------------------------------------------------

  const dumps = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.dump')).sort() : []);
  /** Row count and an md5 over every row, per table. */
  const tableState = () => ({
    notes: stack.psql("SELECT count(*) || ' ' || coalesce(md5(string_agg(concat_ws('|', id, title, body, word_count, created_at), ',' ORDER BY id)), '-') FROM notes"),
    items: stack.psql("SELECT count(*) || ' ' || coalesce(md5(string_agg(concat_ws('|', id, label, embedding::text, created_at), ',' ORDER BY id)), '-') FROM items"),
    pgmigrations: stack.psql("SELECT count(*) || ' ' || md5(string_agg(concat_ws('|', id, name, run_on), ',' ORDER BY id)) FROM pgmigrations"),
  });
  let dumped: { file: string; state: ReturnType<typeof tableState> } | undefined;

  it('backup.sh dumps the booted database with a checksum beside it', () => {
    // Some weight beside what the API wrote: 2000 notes, 500 vectors.
    stack.psql(`INSERT INTO notes (title, body) SELECT 'bulk ' || g, repeat('word ', g % 50) FROM generate_series(1, 2000) g;
      INSERT INTO items (label, embedding) SELECT 'p' || g, ('[' || g % 17 || ',' || g % 7 || ',' || g % 3 || ']')::vector FROM generate_series(1, 500) g`);
    const state = tableState();
    const result = stack.script('backup');
    expect(result.status, output(result)).toBe(0);
    const [file, ...more] = dumps(stack.backupDir);
    expect(more).toEqual([]);
    expect(file).toMatch(new RegExp(`^${m().db.name}_\\d{8}T\\d{6}Z\\.dump$`));
    expect(statSync(join(stack.backupDir, file)).mode & 0o777).toBe(0o600);
    const check = spawnSync('sha256sum', ['--check', `${file}.sha256`], { cwd: stack.backupDir, encoding: 'utf8' });
    expect(check.status, output(check)).toBe(0);
    dumped = { file, state };
  }, 120_000);

  it('restore.sh --yes brings back exactly the dumped rows, and the api serves them', async () => {
    expect(dumped).toBeDefined();
    const { file, state } = dumped!;
    const apiNote = createNote('written after the backup', 'gone after the restore');
    expect(stack.request(api('/api/notes/1'), { method: 'DELETE' }).status).toBe(204);
    stack.psql("DELETE FROM notes WHERE id % 3 = 0; UPDATE items SET label = 'changed' WHERE id <= 50; DELETE FROM items WHERE id > 400");
    const changed = tableState();
    expect(changed.notes).not.toBe(state.notes);
    expect(changed.items).not.toBe(state.items);

    const refused = stack.script('restore', [file], {}, 'y\n');
    expect(refused.status, 'no terminal and no --yes must refuse').not.toBe(0);
    expect(tableState()).toEqual(changed);

    const restored = stack.script('restore', ['--yes', file]);
    expect(restored.status, output(restored)).toBe(0);
    expect(tableState()).toEqual(state);
    expect(dumps(join(stack.backupDir, 'pre-restore'))).toHaveLength(1);

    // The api's pool lost its sessions to the restore and reconnects.
    await waitFor('the api to read the restored data', () => (stack.request(api('/api/notes/1')).status === 200 ? true : undefined), 15_000);
    expect(stack.request(api(`/api/notes/${apiNote}`)).status).toBe(404);
    expect(stack.request(api(m().paths.ready)).status).toBe(200);
  }, 120_000);

  it('verify-backup.sh restores the dump into a scratch database and passes', () => {
    const result = stack.script('verify-backup', [dumped!.file]);
    expect(result.status, output(result)).toBe(0);
    expect(result.stdout).toContain('sha256 ok');
    expect(result.stdout).toContain(`migrations table public.pgmigrations: ${dumped!.state.pgmigrations.split(' ')[0]} rows`);
    expect(result.stdout).toMatch(new RegExp(`public\\.notes\\s+${dumped!.state.notes.split(' ')[0]}\\n`));
    expect(result.stdout).toMatch(new RegExp(`public\\.items\\s+${dumped!.state.items.split(' ')[0]}\\n`));
    expect(stack.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'verify\\_%'", 'postgres')).toBe('0');
  }, 120_000);

  it('a corrupted or truncated dump fails verify-backup.sh (and restore.sh, leaving the database alone)', () => {
    const { file } = dumped!;
    const bad = join(stack.work, 'bad');
    mkdirSync(bad, { recursive: true });
    const place = (name: string, edit: (data: Buffer) => Buffer, rehash: boolean) => {
      const data = edit(readFileSync(join(stack.backupDir, file)));
      writeFileSync(join(bad, name), data);
      if (rehash) writeFileSync(join(bad, `${name}.sha256`), spawnSync('sha256sum', [name], { cwd: bad, encoding: 'utf8' }).stdout);
      else copyFileSync(join(stack.backupDir, `${file}.sha256`), join(bad, `${name}.sha256`));
      return join(bad, name);
    };
    const flip = (data: Buffer) => {
      const copy = Buffer.from(data);
      const at = Math.floor(copy.length * 0.6);
      for (let i = at; i < at + 64; i++) copy[i] ^= 0xff;
      return copy;
    };
    const before = tableState();

    // Corrupt, with the checksum written when the dump was good: the checksum catches it.
    const corrupt = place(file, flip, false);
    const mismatch = stack.script('verify-backup', [corrupt]);
    expect(mismatch.status).not.toBe(0);
    expect(mismatch.stderr).toContain('checksum mismatch');
    // Corrupt or truncated before the checksum was written: restoring it fails.
    const cases: Array<[string, (d: Buffer) => Buffer]> = [
      ['corrupt', flip],
      ['truncated', (d) => d.subarray(0, Math.floor(d.length / 2))],
    ];
    for (const [label, edit] of cases) {
      const path = place(file.replace('.dump', `-${label}.dump`), edit, true);
      const verify = stack.script('verify-backup', [path]);
      expect(verify.status, `${label}: ${output(verify)}`).not.toBe(0);
      expect(verify.stderr, label).toContain('FAILED');
      const restore = stack.script('restore', ['--yes', path]);
      expect(restore.status, `${label}: ${output(restore)}`).not.toBe(0);
      expect(tableState(), label).toEqual(before);
    }
    // Truncated after the checksum was written.
    const truncated = place(file.replace('.dump', '-short.dump'), (d) => d, true);
    truncateSync(truncated, statSync(truncated).size - 1000);
    const short = stack.script('verify-backup', [truncated]);
    expect(short.status).not.toBe(0);
    expect(short.stderr).toContain('checksum mismatch');
    expect(stack.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'verify\\_%'", 'postgres')).toBe('0');
  }, 180_000);

  it('retention prunes old dumps only after a successful new one', () => {
    const dir = join(stack.work, 'retention');
    mkdirSync(dir);
    const db = m().db.name;
    const today = new Date();
    const stamps: string[] = [];
    for (let i = 1; i <= 90; i++) {
      const d = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i, 3, 0, 0));
      stamps.push(`${d.toISOString().slice(0, 10).replaceAll('-', '')}T030000Z`);
    }
    stamps.push(stamps[0].replace('T030000Z', 'T150000Z')); // two dumps yesterday
    for (const stamp of stamps) {
      writeFileSync(join(dir, `${db}_${stamp}.dump`), 'old');
      writeFileSync(join(dir, `${db}_${stamp}.dump.sha256`), `x  ${db}_${stamp}.dump\n`);
    }
    writeFileSync(join(dir, 'other_20200101T000000Z.dump'), 'not ours');
    const all = dumps(dir);

    const failed = stack.script('backup', [], { BACKUP_DIR: dir, PGPASSWORD: 'wrong' });
    expect(failed.status).not.toBe(0);
    expect(failed.stderr).toContain('nothing pruned');
    expect(dumps(dir)).toEqual(all);

    const ok = stack.script('backup', [], { BACKUP_DIR: dir });
    expect(ok.status, output(ok)).toBe(0);
    const kept = dumps(dir).filter((f) => f.startsWith(`${db}_`));
    const fresh = kept.find((f) => !stamps.some((s) => f.includes(s)));
    expect(fresh, 'the new dump').toBeDefined();
    // Expected, computed here: the newest dump of each of the last 7 days, 4 ISO weeks, 6 months.
    const newestFirst = [...stamps, fresh!.slice(db.length + 1, -'.dump'.length)].sort().reverse();
    const expected = new Set<string>();
    const tiers: Array<[number, (s: string) => string]> = [[m().backup.daily, (s) => s.slice(0, 8)], [m().backup.weekly, isoWeek], [m().backup.monthly, (s) => s.slice(0, 6)]];
    for (const [limit, bucket] of tiers) {
      const seen = new Set<string>();
      for (const stamp of newestFirst) {
        if (!seen.has(bucket(stamp)) && seen.size < limit) {
          seen.add(bucket(stamp));
          expected.add(`${db}_${stamp}.dump`);
        }
      }
    }
    expect(kept).toEqual([...expected].sort());
    expect(kept.length).toBeLessThan(stamps.length);
    expect(existsSync(join(dir, 'other_20200101T000000Z.dump'))).toBe(true);
    expect(readdirSync(dir).filter((f) => f.endsWith('.sha256')).sort()).toEqual(kept.map((f) => `${f}.sha256`));
    const verify = stack.script('verify-backup', [fresh!], { BACKUP_DIR: dir });
    expect(verify.status, output(verify)).toBe(0);
  }, 120_000);

  it('every process stops on its stop signal, by PID, with exit code 0', async () => {
    // Readiness still fine after the drill, then a clean shutdown in reverse start order.
    expect(stack.request(api(m().paths.ready)).status).toBe(200);
    await sleep(100);
    stoppedWith = await stack.stop(process.env.CVS_BOOT_KEEP === '1');
    for (const [name, ended] of Object.entries(stoppedWith)) expect(ended, name).toBe('code 0');
    expect(Object.keys(stoppedWith).sort()).toEqual(['api', 'nginx', 'postgres', 'redis', 'worker']);
    expect(runningPids()).toEqual([]);
  }, 120_000);
});
