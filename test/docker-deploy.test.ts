// Issue 11, steps 1-6, on the real engine, as an operator following the generated README and
// RUNBOOK: a git checkout of the generated repository, scripts/init-env.sh, the first certificate
// with scripts/certbot-init.sh from a real ACME server (Debian's pebble, named through ACME_SERVER /
// ACME_CA_BUNDLE, validating HTTP-01 through the generated nginx on the published port 80), then
// scripts/deploy.sh <sha> and probes from the host through the published ports 80/443 by Host/SNI,
// verifying the certificate pebble issued. Then, with a load generator sending web and API
// requests through 443 the whole time: a redeploy of a new commit, a release whose readiness fails
// and scripts/rollback.sh, each with zero failed requests (and none answered by the broken
// release); a backup, changed rows and a restore; `down` and `up` on the same volumes; the cgroup
// memory limits against the stack model. Latencies (p50/p99) during each deploy are printed beside
// the steady state's.
//
// Answer sets: express-worker with every option on except cloudflare (DNS-01 needs Cloudflare's
// API) and with every option off, and nest-next with every option on on a 4 GiB / 2 vCPU box (two
// replicas of api and web). backupRemote s3 is on: nothing here talks to the store (the offsite
// copy runs on the backup service's schedule), so its placeholder credentials stay unused.
//
// The compose file publishes fixed ports 80 and 443 (what users get): the test uses them, so two
// of these stacks never run at once (the describe blocks run one after the other).
// pebble listens on the docker0 bridge gateway (a host address every container on a bridge
// network reaches) and its management endpoint on 127.0.0.1; nothing leaves the machine.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Answers } from '../src/options.js';
import { buildStandins, dockerAvailable, dockerEnv, run, startEngine, succeed, type Engine } from './support/docker.js';
import { percentile, probe, projectLeftovers, runAsync, startLoad, startPebble, waitFor, type LoadResult, type Pebble } from './support/deploy.js';
import { toolAvailable, writeStack, type RenderedStack } from './support/stack.js';

// Evaluated in order: each throws under CI=true when its tool is missing.
const HAS_TOOLS = [dockerAvailable(), toolAvailable('pebble'), toolAvailable('pebble-challtestsrv'), toolAvailable('openssl'), toolAvailable('curl'), toolAvailable('git')].every(Boolean);
const LONG = 900_000;

const ALL_ON: Partial<Answers> = { workers: true, redis: true, pgvector: true, cloudflare: false, backupRemote: 's3', ci: 'github' };
const ALL_OFF: Partial<Answers> = { workers: false, redis: false, pgvector: false, cloudflare: false, backupRemote: 'none', ci: 'none' };

const seconds = (since: number) => ((Date.now() - since) / 1000).toFixed(1);

/**
 * What an operator changes in each template's generated code for steps 3-5 (a visible new release,
 * then one whose readiness fails), and the template's own API routes.
 */
interface TemplateFacts {
  health: { file: string; ok: string; two: string; broken: string };
  breakReadiness: [string, string];
  web: { file: string; from: string; to: string; marker: string };
  /** The home page of the web app (SPA shell or server-rendered page). */
  homeMarker: RegExp;
  /** Where the web app's hashed bundles live, and how to find one on the home page. */
  bundle: RegExp;
  similarPath: string;
  /** POST /api/jobs through the worker (express-worker). */
  jobsApi: boolean;
  /** The readiness body as { check: 'ok' | … } (each template answers in its own shape). */
  checks: (body: unknown) => Record<string, string>;
}
const TEMPLATE_FACTS: Record<'express-worker' | 'nest-next', TemplateFacts> = {
  'express-worker': {
    health: { file: 'apps/api/src/health.ts', ok: "json({ status: 'ok' })", two: "json({ status: 'ok', release: 'two' })", broken: "json({ status: 'ok', release: 'broken' })" },
    breakReadiness: ['.status(failed.length === 0 ? 200 : 503)', '.status(503)'],
    web: { file: 'apps/web/index.html', from: '</head>', to: '  <meta name="release" content="two" />\n  </head>', marker: '<meta name="release" content="two" />' },
    homeMarker: /<div id="root">/,
    bundle: /src="(\/assets\/[^"]+\.js)"/,
    similarPath: '/api/similar',
    jobsApi: true,
    checks: (body) => (body as { checks: Record<string, string> }).checks,
  },
  'nest-next': {
    health: {
      file: 'apps/api/src/health/health.controller.ts', ok: "return { status: 'ok' };",
      two: "return { status: 'ok', release: 'two' } as { status: 'ok' };", broken: "return { status: 'ok', release: 'broken' } as { status: 'ok' };",
    },
    breakReadiness: ['return indicator.up();', 'return indicator.down();'],
    web: { file: 'apps/web/app/page.tsx', from: '<h1>It works</h1>', to: '<h1>It works</h1>\n      <p data-release="two">release two</p>', marker: 'data-release="two"' },
    homeMarker: /<h1>It works<\/h1>/,
    bundle: /src="(\/_next\/static\/[^"]+\.js)"/,
    similarPath: '/api/items/similar',
    jobsApi: false,
    // @nestjs/terminus: { status, info: { postgres: { status: 'up' }, … } }.
    checks: (body) => Object.fromEntries(Object.entries((body as { info: Record<string, { status: string }> }).info).map(([k, v]) => [k, v.status === 'up' ? 'ok' : v.status])),
  },
};

describe.skipIf(!HAS_TOOLS)('generated stacks deployed by their own scripts (real engine, pebble ACME)', () => {
  let engine: Engine | undefined;
  let pebble: Pebble | undefined;
  let work: string;

  beforeAll(async () => {
    engine = startEngine();
    buildStandins();
    work = mkdtempSync(join(tmpdir(), 'cvs-deploy-'));
    pebble = await startPebble(join(work, 'pebble'));
  }, LONG);

  afterAll(async () => {
    const pebbleAlive = (await pebble?.stop()) ?? [];
    const engineAlive = engine?.stop() ?? [];
    if (work) rmSync(work, { recursive: true, force: true });
    expect(pebbleAlive, 'pebble processes still running after stop').toEqual([]);
    expect(engineAlive, 'engine processes still running after stop').toEqual([]);
  });

  // [label, compose project, answers]. nest-next on a 4 GiB, 2-vCPU box: two replicas of api and web.
  type DeployedTemplate = keyof typeof TEMPLATE_FACTS;
  const stacks: Array<[string, string, Partial<Answers> & { template: DeployedTemplate }]> = [
    ['express-worker, all on (no cloudflare)', 'dd-ew-on', { ...ALL_ON, template: 'express-worker' }],
    ['express-worker, all off', 'dd-ew-off', { ...ALL_OFF, template: 'express-worker' }],
    ['nest-next, all on (no cloudflare), 2 replicas', 'dd-nn-on', { ...ALL_ON, template: 'nest-next', vpsMemory: 4, vpsCpus: 2 }],
  ];

  describe.each(stacks)('%s', (label, project, answers) => {
    const facts = TEMPLATE_FACTS[answers.template];
    let stack: RenderedStack;
    let dir: string;
    let sha: string;
    let issuedRoot: string;
    const sh = (command: string, args: string[], extra: NodeJS.ProcessEnv = {}, timeout = LONG) =>
      run(command, args, { cwd: dir, timeout, env: dockerEnv({ COMPOSE_FILE: undefined, COMPOSE_PROJECT_NAME: undefined, ...extra }) });
    const compose = (args: string[], timeout = 180_000) => sh('docker', ['compose', '-f', 'compose.yaml', '-f', 'compose.prod.yaml', ...args], {}, timeout);

    beforeAll(() => {
      stack = writeStack(answers, project);
      dir = stack.dir;
      // The server's checkout: a git repository (deploy.sh checks out the commit it deploys).
      const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=ops', '-c', 'user.email=ops@example.org', ...args], { cwd: dir, encoding: 'utf8' }).trim();
      git('init', '-q', '-b', 'main');
      git('add', '-A');
      git('commit', '-q', '-m', 'generated stack');
      sha = git('rev-parse', 'HEAD');
      // RUNBOOK 1.4: init-env.sh, then paste what it lists as still empty (provider tokens).
      const init = sh('bash', ['scripts/init-env.sh']);
      succeed(init, 'scripts/init-env.sh');
      const env = readFileSync(join(dir, '.env'), 'utf8').replace(/^([A-Z][A-Z0-9_]*)=$/gm, '$1=test-placeholder-value');
      writeFileSync(join(dir, '.env'), env);
    }, LONG);

    afterAll(() => {
      if (!dir) return;
      const down = compose(['--profile', 'tools', 'down', '-v', '--remove-orphans', '--timeout', '5'], 300_000);
      const images = run('docker', ['images', '-q', '--filter', `reference=${project}-*`]).stdout.split('\n').filter(Boolean);
      if (images.length) run('docker', ['rmi', '-f', ...new Set(images)]);
      const left = projectLeftovers(project);
      stack?.cleanup();
      expect(down.status, `${down.stdout}${down.stderr}`).toBe(0);
      expect(left, 'containers, networks and volumes of the project after down -v').toEqual({ containers: [], networks: [], volumes: [] });
    }, 600_000);

    it('the RUNBOOK documents ACME_SERVER and ACME_CA_BUNDLE for another CA', () => {
      const runbook = readFileSync(join(dir, 'docs/RUNBOOK.md'), 'utf8');
      const certificates = runbook.slice(runbook.indexOf('## 6. Certificates'), runbook.indexOf('## 7.'));
      expect(certificates).toContain('ACME_SERVER=');
      expect(certificates).toContain('ACME_CA_BUNDLE=');
      expect(sh('bash', ['scripts/certbot-init.sh', '--help']).stdout).toContain('ACME_SERVER');
    });

    it('scripts/certbot-init.sh gets the certificate from pebble over HTTP-01 through the generated nginx', async () => {
      // Without ACME_CA_BUNDLE certbot cannot trust pebble's HTTPS: it fails, the placeholder stays.
      const untrusted = sh('bash', ['scripts/certbot-init.sh', '--no-timer'], { ACME_SERVER: pebble!.directory }, 600_000);
      expect(untrusted.status, `${untrusted.stdout}${untrusted.stderr}`).not.toBe(0);
      expect(untrusted.stderr).toContain('certbot failed');
      expect(untrusted.stderr).toMatch(/CERTIFICATE_VERIFY_FAILED|certificate verify failed/i);

      const started = Date.now();
      const result = sh('bash', ['scripts/certbot-init.sh', '--no-timer'], { ACME_SERVER: pebble!.directory, ACME_CA_BUNDLE: pebble!.httpsCaFile }, 600_000);
      succeed(result, `${label}: scripts/certbot-init.sh`);
      console.log(`${label}: certbot-init.sh (placeholder, issuance, reload) in ${seconds(started)} s`);
      expect(result.stdout).toContain(`from ${pebble!.directory}`);

      issuedRoot = join(work, `${project}-issuing-root.pem`);
      writeFileSync(issuedRoot, pebble!.issuingRoot());
      const names = stack.model.tls.names;
      // nginx serves it on the published 443 for every name; it verifies against pebble's root.
      // `nginx -s reload` returns once the master has the signal; new workers take over a moment later.
      const servedIssuer = () => run('sh', ['-c', 'openssl s_client -connect 127.0.0.1:443 -servername "$1" </dev/null 2>/dev/null | openssl x509 -noout -issuer', 'sh', stack.model.domain.apex]).stdout;
      await waitFor('nginx to serve the issued certificate', 10_000, () => (/Pebble/.test(servedIssuer()) ? true : undefined)).catch((error: Error) => {
        throw new Error(`${error.message}\nserved: ${servedIssuer()}\n${compose(['logs', '--tail', '40', 'nginx']).stdout}`);
      });
      for (const name of names) {
        const handshake = run('openssl', ['s_client', '-connect', '127.0.0.1:443', '-servername', name, '-CAfile', issuedRoot, '-verify_hostname', name], { input: '', timeout: 20_000 });
        expect(handshake.stdout, `${name}: ${handshake.stderr}`).toContain('Verify return code: 0 (ok)');
        const leaf = handshake.stdout.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)?.[0];
        expect(leaf, name).toBeDefined();
        const served = succeed(run('openssl', ['x509', '-noout', '-issuer', '-ext', 'subjectAltName'], { input: leaf }), 'openssl x509');
        expect(served, name).toMatch(/issuer=.*Pebble Intermediate CA/);
        for (const n of names) expect(served, name).toContain(`DNS:${n}`);
        const r = probe(`https://${name}/nginx-health`, { cacert: issuedRoot });
        expect(r.exit, `${name}: ${r.stderr}`).toBe(0);
      }
      // The certificate is certbot's (renewal config records pebble), not the placeholder.
      const renewal = succeed(compose(['run', '--rm', '--no-deps', '-T', '--entrypoint', 'sh', 'certbot', '-c', `cat /etc/letsencrypt/renewal/${stack.model.tls.certName}.conf`]), 'renewal conf');
      expect(renewal).toContain(`server = ${pebble!.directory}`);
      // --force: a new certificate from pebble (issuance alone, nginx already up), served after the reload.
      const serial = () => run('sh', ['-c', 'openssl s_client -connect 127.0.0.1:443 -servername "$1" </dev/null 2>/dev/null | openssl x509 -noout -serial', 'sh', stack.model.domain.apex]).stdout.trim();
      const before = serial();
      const forcedAt = Date.now();
      const forced = sh('bash', ['scripts/certbot-init.sh', '--no-timer', '--force'], { ACME_SERVER: pebble!.directory, ACME_CA_BUNDLE: pebble!.httpsCaFile }, 300_000);
      succeed(forced, 'certbot-init.sh --force');
      console.log(`${label}: certbot-init.sh --force (issuance + reload) in ${seconds(forcedAt)} s`);
      await waitFor('nginx to serve the reissued certificate', 10_000, () => (serial() !== before && /serial=/.test(serial()) ? true : undefined));
      // A second run sees the certificate from the same CA and does nothing.
      const again = sh('bash', ['scripts/certbot-init.sh', '--no-timer'], { ACME_SERVER: pebble!.directory, ACME_CA_BUNDLE: pebble!.httpsCaFile }, 300_000);
      succeed(again, 'certbot-init.sh again');
      expect(again.stdout).toContain('exists already');
    }, 900_000);

    it('scripts/deploy.sh <sha>: first deploy, then `up --wait` finds everything healthy', () => {
      expect(issuedRoot, 'the certificate step ran').toBeDefined();
      const started = Date.now();
      const result = sh('bash', ['scripts/deploy.sh', sha], { BUILDKIT_PROGRESS: 'plain' });
      succeed(result, `${label}: scripts/deploy.sh ${sha}`);
      console.log(`${label}: first deploy (build + datastores + migrations + start) in ${seconds(started)} s`);
      expect(result.stdout).toContain(`deployed ${sha}`);
      expect(readFileSync(join(dir, '.deploy/current-tag'), 'utf8').trim()).toBe(sha);

      succeed(compose(['up', '-d', '--wait', '--wait-timeout', '180']), 'up --wait');
      const ps = compose(['ps', '--format', 'json']).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { Service: string; State: string; Health: string; Image: string });
      const expected = stack.model.services.list.filter((s) => s.role !== 'job').length;
      expect(ps.length, JSON.stringify(ps)).toBeGreaterThan(2);
      for (const c of ps) {
        expect(c.State, c.Service).toBe('running');
        expect(c.Health, c.Service).toBe('healthy');
      }
      // Everything but the one-offs (certbot, the SPA publisher) runs, and every built image carries the deployed tag.
      expect(new Set(ps.map((c) => c.Service)).size).toBe(expected);
      for (const c of ps.filter((c) => c.Image.startsWith(`${project}-`))) expect(c.Image, c.Service).toBe(`${project}-${c.Service}:${sha}`);
    }, LONG);

    it('from the host by Host/SNI: web app, /api/health, readiness, redirects, headers', async () => {
      const m = stack.model;
      const web = `https://${m.domain.apex}`;
      const api = `https://${m.domain.api}`;
      const ca = { cacert: issuedRoot };

      const home = probe(`${web}/`, ca);
      expect(home.exit, home.stderr).toBe(0);
      expect(home.status).toBe(200);
      expect(home.headers['content-type']).toMatch(/^text\/html/);
      expect(home.body).toMatch(facts.homeMarker);
      // The web app's hashed script is served with a long cache lifetime.
      const script = home.body.match(facts.bundle)?.[1];
      expect(script, home.body).toBeDefined();
      const asset = probe(`${web}${script}`, ca);
      expect(asset.status).toBe(200);
      expect(asset.headers['cache-control']).toMatch(/immutable/);

      const health = probe(`${api}/api/health`, ca);
      expect(health.status, health.body).toBe(200);
      const ready = probe(`${api}/api/health/ready`, ca);
      expect(ready.status, ready.body).toBe(200);
      const readiness = JSON.parse(ready.body) as { status: string };
      expect(readiness.status).toBe('ok');
      expect(facts.checks(readiness)).toEqual(stack.model.features.redis ? { postgres: 'ok', redis: 'ok' } : { postgres: 'ok' });

      // HTTP → HTTPS for every name (the ACME path excepted); www → the apex.
      for (const name of m.tls.names) {
        const plain = probe(`http://${name}/some/path?q=1`);
        expect([301, 308], `${name}: ${plain.status}`).toContain(plain.status);
        // www goes straight to the apex (one hop).
        expect(plain.headers.location).toBe(`https://${name === m.domain.www ? m.domain.apex : name}/some/path?q=1`);
      }
      const www = probe(`https://${m.domain.www}/x`, ca);
      expect([301, 308]).toContain(www.status);
      expect(www.headers.location).toBe(`${web}/x`);

      // Security headers on the web app and the API.
      for (const r of [home, health]) {
        expect(r.headers['strict-transport-security']).toMatch(/max-age=63072000; includeSubDomains/);
        expect(r.headers['x-content-type-options']).toBe('nosniff');
        expect(r.headers['referrer-policy']).toBe('strict-origin-when-cross-origin');
        expect(r.headers['x-frame-options'] ?? r.headers['content-security-policy']).toMatch(/DENY|frame-ancestors/);
        expect(r.headers['permissions-policy']).toBeDefined();
        expect(r.headers.server ?? '').not.toMatch(/\d/);
      }
      // An unknown name gets no site (default server).
      const unknown = probe('https://unknown.example.net/', { port: 443 });
      expect(unknown.status === 200 && facts.homeMarker.test(unknown.body)).toBe(false);

      // A note through the API, a job through the worker (express-worker with workers on).
      const note = probe(`${api}/api/notes`, { ...ca, method: 'POST', json: { title: 'deploy check', body: 'one two three four' } });
      expect(note.status, note.body).toBe(201);
      const noteId = (JSON.parse(note.body) as { id: number }).id;
      if (m.features.workers && facts.jobsApi) {
        const job = probe(`${api}/api/jobs`, { ...ca, method: 'POST', json: { noteId } });
        expect(job.status, job.body).toBe(202);
        const jobId = (JSON.parse(job.body) as { id: string }).id;
        const done = await waitFor('the count-words job', 60_000, () => {
          const state = JSON.parse(probe(`${api}/api/jobs/${jobId}`, ca).body) as { state: string; failedReason: string | null; result: unknown };
          if (state.state === 'failed') throw new Error(`job failed: ${state.failedReason}`);
          return state.state === 'completed' ? state : undefined;
        });
        expect(done.state).toBe('completed');
        // The worker counted title + body ("deploy check" + "one two three four") and stored it.
        expect(done.result).toEqual({ noteId, words: 6 });
        const counted = JSON.parse(probe(`${api}/api/notes/${noteId}`, ca).body) as { word_count: number | null };
        expect(counted.word_count).toBe(6);
      } else {
        expect(probe(`${api}/api/jobs`, { ...ca, method: 'POST', json: { noteId } }).status).toBe(404);
      }
      if (m.answers.template === 'nest-next') {
        // Two replicas each, as the model says, all in nginx's upstream files after the first deploy.
        for (const service of ['api', 'web']) {
          expect(compose(['ps', '-q', service]).stdout.trim().split('\n')).toHaveLength(m.services[service]!.replicas);
          expect(m.services[service]!.replicas).toBe(2);
        }
      }

      // pgvector: nearest neighbour through the API.
      if (m.features.pgvector) {
        for (const [label, embedding] of [['near', [1, 1, 1]], ['far', [9, 9, 9]]] as const) {
          const r = probe(`${api}/api/items`, { ...ca, method: 'POST', json: { label, embedding } });
          expect(r.status, r.body).toBe(201);
        }
        const similar = probe(`${api}${facts.similarPath}`, { ...ca, method: 'POST', json: { embedding: [2, 2, 2], limit: 1 } });
        expect(similar.status, similar.body).toBe(200);
        expect((JSON.parse(similar.body) as { items: Array<{ label: string }> }).items.map((i) => i.label)).toEqual(['near']);
      } else {
        expect(probe(`${api}${facts.similarPath}`, { ...ca, method: 'POST', json: { embedding: [2, 2, 2] } }).status).toBe(404);
      }
    }, 300_000);

    it('scripts/certbot-renew.sh --force renews from pebble (the stored bundle) and reloads nginx without dropping a request', async () => {
      const m = stack.model;
      const serial = () => run('sh', ['-c', 'openssl s_client -connect 127.0.0.1:443 -servername "$1" </dev/null 2>/dev/null | openssl x509 -noout -serial', 'sh', m.domain.apex]).stdout.trim();
      const before = serial();
      expect(before).toMatch(/^serial=/);
      const load = startLoad([`https://${m.domain.apex}/`, `https://${m.domain.api}/api/health`, `https://${m.domain.api}/api/health/ready`], issuedRoot, { maxMs: 240_000, concurrency: 4, intervalMs: 250 });
      // About 16 requests/s from one address: below the generated nginx's API rate limit (20 r/s per IP), so every answer must be a 200.
      const started = Date.now();
      // No ACME_* in the environment: renewal finds the server in certbot's config, the bundle in the volume.
      const renew = await runAsync('bash', ['scripts/certbot-renew.sh', '--force'], { cwd: dir, env: dockerEnv({ COMPOSE_FILE: undefined, COMPOSE_PROJECT_NAME: undefined }), timeoutMs: 240_000 });
      // Keep the load on until the new workers serve the renewed certificate.
      await waitFor('nginx to serve the renewed certificate', 15_000, () => (serial() !== before && /^serial=/.test(serial()) ? true : undefined)).catch(() => undefined);
      const { requests, failures } = await load.stop();
      expect(renew.status, `${renew.stdout}${renew.stderr}`).toBe(0);
      console.log(`${label}: certbot-renew.sh --force in ${seconds(started)} s, ${requests} requests under load, ${failures.length} failed`);
      expect(renew.stdout).toContain('nginx reloaded');
      expect(serial(), 'a new certificate is served').not.toBe(before);
      expect(requests).toBeGreaterThan(20);
      expect(failures, 'requests failed during renewal').toEqual([]);
    }, 600_000);

    // Steps 3-5: the operator commits on the server's checkout and runs the scripts, while a load
    // generator sends web and API requests through the published 443 the whole time.
    const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=ops', '-c', 'user.email=ops@example.org', ...args], { cwd: dir, encoding: 'utf8' }).trim();
    /** Applies `edits` (path, from, to) to the checkout and commits them; returns the new SHA. */
    const commit = (message: string, edits: Array<[string, string, string]>): string => {
      for (const [path, from, to] of edits) {
        const file = join(dir, path);
        const text = readFileSync(file, 'utf8');
        expect(text, `${path} holds ${from}`).toContain(from);
        writeFileSync(file, text.replace(from, to));
      }
      git('commit', '-q', '-am', message);
      return git('rev-parse', 'HEAD');
    };
    const loadUrls = () => [`https://${stack.model.domain.apex}/`, `https://${stack.model.domain.api}/api/health`, `https://${stack.model.domain.api}/api/health/ready`,
      ...(stack.model.features.spa ? [`https://${stack.model.domain.apex}/config.json`] : [])];
    const report = (what: string, load: LoadResult, steady: LoadResult | undefined, ms: number) => {
      const p = (r: LoadResult, q: number) => percentile(r.latencies, q).toFixed(1);
      console.log(`${label}: ${what} in ${(ms / 1000).toFixed(1)} s: ${load.requests} requests, ${load.failures.length} failed; p50 ${p(load, 50)} ms, p99 ${p(load, 99)} ms` +
        (steady ? ` (steady state: p50 ${p(steady, 50)} ms, p99 ${p(steady, 99)} ms)` : ''));
    };
    /** Runs `script args` under load; returns the script's result and the load's. */
    const underLoad = async (script: string, args: string[], forbid?: RegExp, extraEnv: NodeJS.ProcessEnv = {}) => {
      // 4 loops, one request per 250 ms each: 16 requests/s, about 8/s to the API (its limit is 20/s per address).
      const load = startLoad(loadUrls(), issuedRoot, { maxMs: 600_000, concurrency: 4, intervalMs: 250, forbid });
      const started = Date.now();
      const result = await runAsync('bash', [script, ...args], { cwd: dir, env: dockerEnv({ COMPOSE_FILE: undefined, COMPOSE_PROJECT_NAME: undefined, BUILDKIT_PROGRESS: 'plain', ...extraEnv }), timeoutMs: 600_000 });
      const ms = Date.now() - started;
      // A few more seconds of load after the script returns: the last swap's reload has settled.
      await new Promise((r) => setTimeout(r, 3_000));
      return { result, load: await load.stop(), ms };
    };
    let steady: LoadResult | undefined;
    let second: string;

    it('steady state: the same load with no deploy running (the latency baseline)', async () => {
      const load = startLoad(loadUrls(), issuedRoot, { maxMs: 60_000, concurrency: 4, intervalMs: 250 });
      await new Promise((r) => setTimeout(r, 15_000));
      steady = await load.stop();
      report('steady state (15 s)', steady, undefined, 15_000);
      expect(steady.requests).toBeGreaterThan(100);
      expect(steady.failures).toEqual([]);
    }, 120_000);

    it('step 3: scripts/deploy.sh <new sha> under load: zero failed requests, the new version serves at the end', async () => {
      second = commit('release two', [
        [facts.health.file, facts.health.ok, facts.health.two],
        [facts.web.file, facts.web.from, facts.web.to],
      ]);
      const before = compose(['ps', '-q', 'api']).stdout.trim().split('\n').filter(Boolean);
      const nginxBefore = compose(['ps', '-q', 'nginx']).stdout.trim();
      const { result, load, ms } = await underLoad('scripts/deploy.sh', [second]);
      report('redeploy under load', load, steady, ms);
      expect(result.status, `${label}: scripts/deploy.sh ${second}\n${result.stdout}${result.stderr}`).toBe(0);
      expect(load.requests).toBeGreaterThan(50);
      expect(load.failures, 'requests failed during the redeploy').toEqual([]);
      // The new version answers; the api containers are new ones, nginx is the same container.
      expect(JSON.parse(probe(`https://${stack.model.domain.api}/api/health`, { cacert: issuedRoot }).body)).toEqual({ status: 'ok', release: 'two' });
      expect(probe(`https://${stack.model.domain.apex}/`, { cacert: issuedRoot }).body).toContain(facts.web.marker);
      const after = compose(['ps', '-q', 'api']).stdout.trim().split('\n').filter(Boolean);
      expect(after.length).toBe(before.length);
      for (const id of after) expect(before).not.toContain(id);
      expect(compose(['ps', '-q', 'nginx']).stdout.trim(), 'nginx was not replaced').toBe(nginxBefore);
      expect(readFileSync(join(dir, '.deploy/current-tag'), 'utf8').trim()).toBe(second);
      expect(readFileSync(join(dir, '.deploy/previous-tag'), 'utf8').trim()).toBe(sha);
      // The upstream file names the running api containers, and only those.
      const names = after.map((id) => run('docker', ['inspect', '--format', '{{.Name}}', id]).stdout.trim().replace(/^\//, ''));
      const upstream = readFileSync(join(dir, '.deploy/nginx/api.upstream'), 'utf8');
      const port = stack.model.services.api.port;
      expect(upstream.match(/^server .*$/gm)).toEqual([...names.map((n) => `server ${n}:${port} resolve;`), `server api:${port} resolve backup;`]);
    }, 900_000);

    it('deploy.sh refuses an older commit over the running one (nothing changes); --force is the way', () => {
      const before = compose(['ps', '-q', 'api']).stdout;
      const older = sh('bash', ['scripts/deploy.sh', sha], {}, 120_000);
      expect(older.status, `${older.stdout}${older.stderr}`).not.toBe(0);
      expect(older.stderr).toContain(`${sha} does not descend from the running ${second}`);
      expect(git('rev-parse', 'HEAD')).toBe(second);
      expect(readFileSync(join(dir, '.deploy/current-tag'), 'utf8').trim()).toBe(second);
      expect(compose(['ps', '-q', 'api']).stdout).toBe(before);
    }, 180_000);

    it('step 4: a release whose readiness fails: deploy.sh exits non-zero, no request reaches it, the running version keeps serving', async () => {
      const broken = commit('broken release', [
        [facts.health.file, facts.health.two, facts.health.broken],
        [facts.health.file, ...facts.breakReadiness],
      ]);
      const { result, load, ms } = await underLoad('scripts/deploy.sh', ['--timeout', '60', broken], /"release":"broken"/);
      report('broken release under load', load, steady, ms);
      expect(result.status, `${result.stdout}${result.stderr}`).not.toBe(0);
      expect(`${result.stdout}${result.stderr}`).toMatch(/api: new container\(s\) not ready/);
      expect(`${result.stdout}${result.stderr}`).toContain(`${second} is running again`);
      expect(load.requests).toBeGreaterThan(20);
      expect(load.failures, 'requests failed or reached the broken release').toEqual([]);
      expect(JSON.parse(probe(`https://${stack.model.domain.api}/api/health`, { cacert: issuedRoot }).body)).toEqual({ status: 'ok', release: 'two' });
      expect(readFileSync(join(dir, '.deploy/current-tag'), 'utf8').trim()).toBe(second);
      // No container of the broken image is left.
      expect(run('docker', ['ps', '-a', '-q', '--filter', `ancestor=${project}-api:${broken}`]).stdout.trim()).toBe('');
    }, 900_000);

    it('step 5: scripts/rollback.sh under load: zero failed requests, the previous version serves again', async () => {
      // Keeping two tags per image: the current (after the rollback) and the previous stay, the broken release's go.
      const { result, load, ms } = await underLoad('scripts/rollback.sh', [], undefined, { DEPLOY_KEEP_IMAGES: '2' });
      report('rollback under load', load, steady, ms);
      expect(result.status, `${label}: scripts/rollback.sh\n${result.stdout}${result.stderr}`).toBe(0);
      expect(result.stdout).toContain(`${second} -> ${sha}`);
      expect(load.requests).toBeGreaterThan(50);
      expect(load.failures, 'requests failed during the rollback').toEqual([]);
      expect(JSON.parse(probe(`https://${stack.model.domain.api}/api/health`, { cacert: issuedRoot }).body)).toEqual({ status: 'ok' });
      expect(probe(`https://${stack.model.domain.apex}/`, { cacert: issuedRoot }).body).not.toContain(facts.web.marker);
      expect(readFileSync(join(dir, '.deploy/current-tag'), 'utf8').trim()).toBe(sha);
      expect(git('rev-parse', 'HEAD')).toBe(sha);
      for (const repository of stack.model.ops.builtRepositories.split(' ')) {
        const tags = run('docker', ['image', 'ls', '--format', '{{.Tag}}', repository]).stdout.trim().split('\n').sort();
        expect(tags, repository).toEqual([sha, second].sort());
      }
    }, 900_000);

    // Step 6: the data survives what an operator does to it, in the containers.
    const psql = (sql: string) => succeed(compose(['exec', '-T', 'postgres', 'sh', '-c', 'psql -v ON_ERROR_STOP=1 -U "$POSTGRES_USER" -d "$POSTGRES_DB" -At -c "$1"', 'sh', sql]), `psql ${sql}`);
    const tables = () => ['notes', ...(stack.model.features.pgvector ? ['items'] : [])];
    const snapshot = () => Object.fromEntries(tables().map((t) => [t, psql(`SELECT row_to_json(r)::text FROM (SELECT * FROM ${t} ORDER BY id) r`)]));

    it('step 6: scripts/backup.sh, rows changed, scripts/restore.sh --yes: exactly the dumped rows, served by the api', () => {
      const api = `https://${stack.model.domain.api}`;
      const ca = { cacert: issuedRoot };
      for (const title of ['kept one', 'kept two']) {
        const r = probe(`${api}/api/notes`, { ...ca, method: 'POST', json: { title, body: 'before the backup' } });
        expect(r.status, r.body).toBe(201);
      }
      const before = snapshot();
      expect(before.notes!.split('\n').length).toBeGreaterThanOrEqual(3);

      const started = Date.now();
      succeed(sh('bash', ['scripts/backup.sh', '--no-prune'], { PGHOST: undefined }), 'scripts/backup.sh');
      console.log(`${label}: backup.sh in ${seconds(started)} s`);
      const firstId = Number(psql('SELECT min(id) FROM notes'));
      psql(`UPDATE notes SET title = 'changed after the backup' WHERE id = ${firstId}`);
      psql(`DELETE FROM notes WHERE title = 'kept two'`);
      const added = probe(`${api}/api/notes`, { ...ca, method: 'POST', json: { title: 'added after the backup', body: 'gone after the restore' } });
      expect(added.status).toBe(201);
      expect(snapshot()).not.toEqual(before);

      const restoreAt = Date.now();
      const restored = sh('bash', ['scripts/restore.sh', '--yes'], { PGHOST: undefined });
      succeed(restored, 'scripts/restore.sh --yes');
      console.log(`${label}: restore.sh (safety dump, stop clients, restore, start) in ${seconds(restoreAt)} s`);
      expect(snapshot()).toEqual(before);
      // The api serves the restored rows once it is back (restore.sh starts it again).
      const addedId = (JSON.parse(added.body) as { id: number }).id;
      const ready = () => probe(`${api}/api/health/ready`, ca).status === 200 || undefined;
      return waitFor('the api after the restore', 60_000, ready).then(() => {
        expect(JSON.parse(probe(`${api}/api/notes/${firstId}`, ca).body)).toMatchObject({ id: firstId, title: 'deploy check' });
        expect(probe(`${api}/api/notes/${addedId}`, ca).status).toBe(404);
      });
    }, 600_000);

    it('step 6: `down` then `up --wait` on the same volumes keeps the data, and nginx finds the new containers', async () => {
      const before = snapshot();
      succeed(compose(['down', '--timeout', '20'], 300_000), 'down');
      expect(run('docker', ['ps', '-q', '--filter', `label=com.docker.compose.project=${project}`]).stdout.trim()).toBe('');
      succeed(compose(['up', '-d', '--wait', '--wait-timeout', '180'], 300_000), 'up --wait');
      expect(snapshot()).toEqual(before);
      const api = `https://${stack.model.domain.api}`;
      // New containers under new names: the upstream file's fallback (the service name) reaches them,
      // and nginx-live.sh sync names them again.
      await waitFor('the api through nginx after up', 30_000, () => probe(`${api}/api/health/ready`, { cacert: issuedRoot }).status === 200 || undefined);
      succeed(sh('bash', ['scripts/nginx-live.sh', 'sync']), 'nginx-live.sh sync');
      succeed(sh('bash', ['scripts/nginx-live.sh', 'reload']), 'nginx-live.sh reload');
      const names = compose(['ps', '--format', '{{.Name}}', 'api']).stdout.trim().split('\n');
      expect(readFileSync(join(dir, '.deploy/nginx/api.upstream'), 'utf8')).toContain(`server ${names[0]}:${stack.model.services.api.port} resolve;`);
      expect(probe(`${api}/api/health/ready`, { cacert: issuedRoot }).status).toBe(200);
      expect(probe(`https://${stack.model.domain.apex}/`, { cacert: issuedRoot }).body).toMatch(facts.homeMarker);
    }, 600_000);

    it('step 6: every running container\'s cgroup memory limit is the stack model\'s', () => {
      const ps = compose(['ps', '--format', 'json']).stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { ID: string; Service: string });
      expect(ps.length).toBeGreaterThan(2);
      for (const c of ps) {
        const expected = stack.model.services[c.Service]!.memoryMiB * 1024 * 1024;
        expect(Number(run('docker', ['inspect', '--format', '{{.HostConfig.Memory}}', c.ID]).stdout.trim()), c.Service).toBe(expected);
        // What the kernel enforces, read inside the container (cgroup v2, else v1).
        const limit = run('docker', ['exec', c.ID, 'sh', '-c', 'cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes']).stdout.trim();
        expect(Number(limit), `${c.Service}: cgroup memory limit`).toBe(expected);
      }
    }, 120_000);
  });
});
