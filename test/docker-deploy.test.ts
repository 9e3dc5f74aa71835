// Issue 11, steps 1 and 2 for express-worker, on the real engine, as an operator following the
// generated README and RUNBOOK: a git checkout of the generated repository, scripts/init-env.sh,
// the first certificate with scripts/certbot-init.sh from a real ACME server (Debian's pebble,
// named through ACME_SERVER / ACME_CA_BUNDLE, validating HTTP-01 through the generated nginx on
// the published port 80), then scripts/deploy.sh <sha> and probes from the host through the
// published ports 80/443 by Host/SNI, verifying the certificate pebble issued.
//
// Answer sets: every option on except cloudflare (DNS-01 needs Cloudflare's API), and every option
// off. backupRemote s3 is on: nothing in these steps talks to the store (the offsite copy runs on
// the backup service's schedule), so its placeholder credentials stay unused.
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
import { probe, projectLeftovers, runAsync, startLoad, startPebble, waitFor, type Pebble } from './support/deploy.js';
import { toolAvailable, writeStack, type RenderedStack } from './support/stack.js';

// Evaluated in order: each throws under CI=true when its tool is missing.
const HAS_TOOLS = [dockerAvailable(), toolAvailable('pebble'), toolAvailable('pebble-challtestsrv'), toolAvailable('openssl'), toolAvailable('curl'), toolAvailable('git')].every(Boolean);
const LONG = 900_000;

const ALL_ON: Partial<Answers> = { workers: true, redis: true, pgvector: true, cloudflare: false, backupRemote: 's3', ci: 'github' };
const ALL_OFF: Partial<Answers> = { workers: false, redis: false, pgvector: false, cloudflare: false, backupRemote: 'none', ci: 'none' };

const seconds = (since: number) => ((Date.now() - since) / 1000).toFixed(1);

describe.skipIf(!HAS_TOOLS)('express-worker deployed by its own scripts (real engine, pebble ACME)', () => {
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

  const stacks: Array<[string, Partial<Answers>]> = [
    ['all on (no cloudflare)', { template: 'express-worker', ...ALL_ON }],
    ['all off', { template: 'express-worker', ...ALL_OFF }],
  ];

  describe.each(stacks)('%s', (label, answers) => {
    const project = `dd-ew-${answers.workers ? 'on' : 'off'}`;
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
      const expected = stack.model.services.list.length;
      expect(ps.length, JSON.stringify(ps)).toBeGreaterThan(2);
      for (const c of ps) {
        expect(c.State, c.Service).toBe('running');
        expect(c.Health, c.Service).toBe('healthy');
      }
      // Everything but the one-off certbot runs, and every built image carries the deployed tag.
      expect(new Set(ps.map((c) => c.Service)).size).toBe(expected - 1);
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
      expect(home.body).toMatch(/<div id="root">/);
      // The SPA's built script is served from /assets with a long cache lifetime.
      const script = home.body.match(/src="(\/assets\/[^"]+\.js)"/)?.[1];
      expect(script, home.body).toBeDefined();
      const asset = probe(`${web}${script}`, ca);
      expect(asset.status).toBe(200);
      expect(asset.headers['cache-control']).toMatch(/immutable/);

      const health = probe(`${api}/api/health`, ca);
      expect(health.status, health.body).toBe(200);
      const ready = probe(`${api}/api/health/ready`, ca);
      expect(ready.status, ready.body).toBe(200);
      const readiness = JSON.parse(ready.body) as { status: string; checks: Record<string, string> };
      expect(readiness.status).toBe('ok');
      expect(readiness.checks).toEqual(stack.model.features.redis ? { postgres: 'ok', redis: 'ok' } : { postgres: 'ok' });

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
      expect(unknown.status === 200 && unknown.body.includes('<div id="root">')).toBe(false);

      // A note through the API, a job through the worker (express-worker with workers on).
      const note = probe(`${api}/api/notes`, { ...ca, method: 'POST', json: { title: 'deploy check', body: 'one two three four' } });
      expect(note.status, note.body).toBe(201);
      const noteId = (JSON.parse(note.body) as { id: number }).id;
      if (m.features.workers) {
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

      // pgvector: nearest neighbour through the API.
      if (m.features.pgvector) {
        for (const [label, embedding] of [['near', [1, 1, 1]], ['far', [9, 9, 9]]] as const) {
          const r = probe(`${api}/api/items`, { ...ca, method: 'POST', json: { label, embedding } });
          expect(r.status, r.body).toBe(201);
        }
        const similar = probe(`${api}/api/similar`, { ...ca, method: 'POST', json: { embedding: [2, 2, 2], limit: 1 } });
        expect(similar.status, similar.body).toBe(200);
        expect((JSON.parse(similar.body) as { items: Array<{ label: string }> }).items.map((i) => i.label)).toEqual(['near']);
      } else {
        expect(probe(`${api}/api/similar`, { ...ca, method: 'POST', json: { embedding: [2, 2, 2] } }).status).toBe(404);
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
  });
});
