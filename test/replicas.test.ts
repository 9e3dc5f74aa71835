// Issue 6: "when the VPS has room, API and web get two replicas each and nginx balances across them
// and keeps working after a container is replaced (a container's IP changes)".
//
// The nest-next model gives api and web two replicas at 4 GiB / 2 CPUs. nginx finds them through
// Docker's embedded DNS (m.nginx.resolver, re-asked every m.nginx.resolverValid). This runs, in a
// private mount + network namespace (test/support/boot/namespace.ts: only `lo`, where every
// 127.x.y.z is local):
// - a small DNS server (Node, UDP) on the model's resolver address, answering A queries for the
//   api and web service names with a list of addresses the test changes (TTL 1, like Docker's);
// - two stand-in replicas of the api (answering the model's health path) and of the web app, each
//   on its own loopback address at the model's port, as two containers have two IPs;
// - nginx 1.26 (NGINX_BIN) with the nest-next config the generator writes for that version
//   (no `server ... resolve` before 1.27.3: `set $backend http://api:4000; proxy_pass $backend`),
//   placed where the compose nginx service mounts it (support/boot/nginx-layout.ts), its
//   self-signed certificate where the model puts it, running as the image's user.
// Requests through nginx reach both replicas of each app; then replica 2 is "replaced": stopped, a
// new one started on a third address, the DNS answer changed. Every request keeps succeeding (the
// dead address is retried on the live replica until the cached answer expires), and once
// resolverValid has passed the new replica serves and nginx no longer tries the dead address.
// Every process is stopped by PID in afterAll.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { renderPlan } from '../src/render/plan.js';
import type { StackModel } from '../src/stack/model.js';
import { nginxFacts } from '../src/stack/nginx.js';
import { writePlan } from '../src/writer.js';
import { Namespace } from './support/boot/namespace.js';
import { composeService, containerFiles, readTree, runNginxLive } from './support/boot/nginx-layout.js';
import { runningPids, stopProcess, type Managed } from './support/boot/process.js';
import { DEFAULT_NGINX_BIN, nginxVersion, sleep, waitFor } from './support/boot/stack.js';
import { inCI, renderStack, toolAvailable } from './support/stack.js';

function rootAvailable(): boolean {
  const root = process.getuid?.() === 0;
  if (!root && inCI) throw new Error('the replicas test needs root under CI=true (unshare -m -n, mount)');
  return root;
}
const READY = [DEFAULT_NGINX_BIN, 'unshare', 'nsenter', 'ip', 'curl', 'openssl', 'node'].map((t) => toolAvailable(t)).every(Boolean) && rootAvailable();

/** nginx time ("10s", "500ms", "1m") in milliseconds. */
function nginxMs(value: string): number {
  const match = /^(\d+)(ms|s|m)?$/.exec(value);
  if (!match) throw new Error(`cannot read the nginx time ${value}`);
  return Number(match[1]) * ({ ms: 1, s: 1000, m: 60_000 } as const)[(match[2] ?? 's') as 'ms' | 's' | 'm'];
}

// A DNS server for A queries: names → addresses from a JSON file read on every query (the test
// rewrites it), TTL 1; a name not in the file is NXDOMAIN; other types get an empty answer.
const DNS_SERVER = String.raw`
const dgram = require('node:dgram');
const fs = require('node:fs');
const [host, port, table] = process.argv.slice(2);
const socket = dgram.createSocket('udp4');
socket.on('message', (q, from) => {
  if (q.length < 12 || q.readUInt16BE(4) !== 1) return;
  let i = 12;
  const labels = [];
  while (i < q.length && q[i] !== 0) { labels.push(q.subarray(i + 1, i + 1 + q[i]).toString('ascii')); i += 1 + q[i]; }
  const type = q.readUInt16BE(i + 1);
  const question = q.subarray(12, i + 5);
  const name = labels.join('.').toLowerCase();
  const names = JSON.parse(fs.readFileSync(table, 'utf8'));
  const known = Object.hasOwn(names, name);
  const addresses = known && type === 1 ? names[name] : [];
  const head = Buffer.alloc(12);
  q.copy(head, 0, 0, 2);
  head.writeUInt16BE(0x8000 | 0x0400 | (q.readUInt16BE(2) & 0x0100) | 0x0080 | (known ? 0 : 3), 2);
  head.writeUInt16BE(1, 4);
  head.writeUInt16BE(addresses.length, 6);
  const answers = addresses.map((address) => {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); rr.writeUInt16BE(1, 2); rr.writeUInt16BE(1, 4); rr.writeUInt32BE(1, 6); rr.writeUInt16BE(4, 10);
    address.split('.').forEach((octet, k) => { rr[12 + k] = Number(octet); });
    return rr;
  });
  socket.send(Buffer.concat([head, question, ...answers]), from.port, from.address);
  console.log(new Date().toISOString() + ' ' + name + ' type ' + type + ' -> ' + (addresses.join(',') || (known ? 'no data' : 'NXDOMAIN')));
});
socket.bind(Number(port), host, () => console.log('listening'));
process.on('SIGTERM', () => process.exit(0));
`;

// A stand-in replica: answers its one path with its id, anything else 404.
const REPLICA = String.raw`
const http = require('node:http');
const [id, host, port, path] = process.argv.slice(2);
http.createServer((req, res) => {
  const ok = req.url === path;
  res.writeHead(ok ? 200 : 404, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(ok ? { replica: id } : { error: 'not found' }));
}).listen(Number(port), host, () => console.log('listening'));
process.on('SIGTERM', () => process.exit(0));
`;

interface App { name: string; port: number; path: string; url: string; addresses: string[] }
interface Reply { status: number; replica?: string; exit: number }

describe.skipIf(!READY)('nest-next with two replicas: nginx 1.26 balances api and web, and follows a replaced container (netns, stand-in DNS)', () => {
  const version = READY ? nginxVersion(DEFAULT_NGINX_BIN) : '';
  const { model: target } = renderStack({ template: 'nest-next', vpsMemory: 4, vpsCpus: 2, cloudflare: false });
  // The config the generator writes for this nginx (nginx.test.ts's renderNginxFor, the same way).
  const m: StackModel = { ...target, nginx: nginxFacts(version || '1.26', { apiOrigin: target.origins.api, spa: target.features.spa, services: target.services.list }) };
  const validMs = nginxMs(m.nginx.resolverValid);
  const apps: Record<'api' | 'web', App> = {
    api: { name: m.services.api.name, port: m.services.api.port!, path: m.paths.health, url: `https://${m.domain.api}${m.paths.health}`, addresses: ['127.0.0.21', '127.0.0.22', '127.0.0.23'] },
    web: { name: m.services.web.name, port: m.services.web.port!, path: '/', url: `https://${m.domain.apex}/`, addresses: ['127.0.0.31', '127.0.0.32', '127.0.0.33'] },
  };

  let work = '';
  let ns: Namespace | undefined;
  const processes: Managed[] = [];
  const replicas = new Map<string, Managed>();
  let nginx: Managed | undefined;
  let dns: Managed | undefined;
  const timings: Record<string, number> = {};
  let started = 0;

  const tablePath = () => join(work, 'dns.json');
  const setDns = (answers: Record<string, string[]>) => writeFileSync(tablePath(), JSON.stringify(answers));
  const logs = () => processes.map((p) => `--- ${p.name} (pid ${p.pid}, ${p.alive() ? 'running' : 'exited'}) ---\n${p.log().slice(-3000)}`).join('\n');

  function spawnNode(name: string, script: string, args: string[]): Managed {
    const proc = ns!.spawn(name, process.execPath, [join(work, script), ...args], { cwd: work, logFile: join(work, `${name}.log`) });
    processes.push(proc);
    return proc;
  }
  async function listening(proc: Managed): Promise<void> {
    await waitFor(`${proc.name} listening`, () => {
      if (!proc.alive()) throw new Error(`${proc.name} exited: ${proc.log()}`);
      return proc.log().includes('listening') ? true : undefined;
    }, 10_000, 50);
  }
  async function startReplica(app: App, n: number): Promise<void> {
    const id = `${app.name}-${n}`;
    const proc = spawnNode(id, 'replica.cjs', [id, app.addresses[n - 1], String(app.port), app.path]);
    replicas.set(id, proc);
    await listening(proc);
  }

  /** One request through nginx (curl inside the namespace; the site names resolve to 127.0.0.1). */
  function request(url: string): Reply {
    const r = ns!.run('curl', ['-sS', '-k', '--max-time', '8', '-o', '-', '-w', '\n%{http_code}', url], { timeoutMs: 15_000 });
    const text = r.stdout ?? '';
    const at = text.lastIndexOf('\n');
    const status = Number(text.slice(at + 1));
    let replica: string | undefined;
    try {
      replica = (JSON.parse(text.slice(0, at)) as { replica?: string }).replica;
    } catch {
      // nginx's own error page
    }
    return { status, replica, exit: r.status ?? -1 };
  }
  /** `n` requests to each app, paced under the api's rate limit; the replies per app. */
  async function round(n: number): Promise<Record<'api' | 'web', Reply[]>> {
    const replies: Record<'api' | 'web', Reply[]> = { api: [], web: [] };
    for (let i = 0; i < n; i++) {
      for (const key of ['api', 'web'] as const) replies[key].push(request(apps[key].url));
      await sleep(60);
    }
    return replies;
  }
  const served = (replies: Reply[]) => [...new Set(replies.map((r) => r.replica))].sort();
  const describeReplies = (replies: Reply[]) => replies.map((r) => `${r.status}:${r.replica ?? '-'}`).join(' ');

  beforeAll(async () => {
    started = Date.now();
    work = mkdtempSync(join(tmpdir(), 'cvs-replicas-'));
    chmodSync(work, 0o755);
    ns = new Namespace(work);

    // The nginx container: the pinned image unchanged, with what its compose volumes give it (the
    // stack written for this nginx: its nginx/ folder, the live folder `scripts/nginx-live.sh init`
    // writes), where compose mounts them; then the certificate.
    const dir = join(work, 'project', m.project.name);
    writePlan(dir, renderPlan(m));
    const live = runNginxLive(dir, m, ['init']);
    const files = containerFiles(dir, m, composeService(dir, m.services.nginx.name).mounts, { nginx: readTree(join(dir, 'nginx')), live });
    for (const [path, content] of files) ns.place(path, content);
    execFileSync('openssl', [
      'req', '-x509', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-days', '2',
      '-subj', `/CN=${m.domain.apex}`, '-addext', `subjectAltName=${m.tls.names.map((n) => `DNS:${n}`).join(',')}`,
      '-keyout', join(work, 'key.pem'), '-out', join(work, 'cert.pem'),
    ], { stdio: 'pipe' });
    ns.place(m.paths.certificate, readFileSync(join(work, 'cert.pem')));
    ns.place(m.paths.certificateKey, readFileSync(join(work, 'key.pem')), 0o640, { uid: 0, gid: m.nginx.gid });
    writeFileSync(join(work, 'dns.cjs'), DNS_SERVER);
    writeFileSync(join(work, 'replica.cjs'), REPLICA);
    // Only the site names are in /etc/hosts (for curl): the service names exist only in the DNS server.
    await ns.start(`127.0.0.1 localhost ${m.tls.names.join(' ')}\n`);
    timings.namespace = Date.now() - started;

    setDns({ [apps.api.name]: apps.api.addresses.slice(0, 2), [apps.web.name]: apps.web.addresses.slice(0, 2) });
    dns = spawnNode('dns', 'dns.cjs', [m.nginx.resolver, '53', tablePath()]);
    await listening(dns);
    for (const app of Object.values(apps)) for (const n of [1, 2]) await startReplica(app, n);

    // As the image runs it: foreground, as the image's unprivileged user; logs to a file it can write.
    const nginxLog = join(work, 'nginx.log');
    writeFileSync(nginxLog, '');
    chownSync(nginxLog, m.nginx.uid, m.nginx.gid);
    nginx = ns.spawn('nginx', DEFAULT_NGINX_BIN, ['-p', `${m.nginx.confDir}/`, '-c', `${m.nginx.confDir}/nginx.conf`, '-e', 'stderr', '-g', 'daemon off;'], {
      as: { uid: m.nginx.uid, gid: m.nginx.gid }, cwd: '/', logFile: nginxLog,
    });
    processes.push(nginx);
    await waitFor('nginx health', () => {
      if (!nginx!.alive()) throw new Error(`nginx exited: ${nginx!.log()}`);
      return request(`http://127.0.0.1${m.nginx.healthPath}`).status === 200 ? true : undefined;
    }, 15_000, 100);
    timings.started = Date.now() - started;
  }, 60_000);

  afterAll(async () => {
    for (const proc of [...processes].reverse()) await stopProcess(proc, 'SIGTERM', 5_000);
    await ns?.stop();
    if (work && process.env.CVS_BOOT_KEEP !== '1') rmSync(work, { recursive: true, force: true });
    console.log(`replicas: timings (ms since start) ${JSON.stringify({ ...timings, total: Date.now() - started })}`);
    expect(runningPids(), 'processes left running').toEqual([]);
  }, 60_000);

  it('the model gives api and web two replicas, and the config for this nginx re-resolves them through the resolver', () => {
    expect(m.services.api.replicas).toBe(2);
    expect(m.services.web.replicas).toBe(2);
    expect(m.nginx.upstreamResolve).toBe(false);
    const files = new Map(renderPlan(m).files.map((f) => [f.path, f.content.toString('utf8')]));
    expect(files.get('nginx/nginx.conf')).toContain(`resolver ${m.nginx.resolver} valid=${m.nginx.resolverValid}`);
    expect(files.get('nginx/nginx.conf')).not.toMatch(/^\s*upstream /m);
    expect(files.get('nginx/conf.d/30-api.conf')).toContain(`set ${m.nginx.backends.api.variable} http://${apps.api.name}:${apps.api.port};`);
    expect(files.get('nginx/conf.d/20-web.conf')).toContain(`set ${m.nginx.backends.web.variable} http://${apps.web.name}:${apps.web.port};`);
  });

  it('balances requests across both replicas of the api and of the web app', async () => {
    const replies = await round(20);
    for (const key of ['api', 'web'] as const) {
      expect(replies[key].every((r) => r.status === 200), `${key}: ${describeReplies(replies[key])}\n${logs()}`).toBe(true);
      expect(served(replies[key]), `${key}: ${describeReplies(replies[key])}`).toEqual([`${apps[key].name}-1`, `${apps[key].name}-2`]);
    }
    timings.balanced = Date.now() - started;
  });

  it('keeps answering while replica 2 is replaced by one on a new address, then sends to the new one only', async () => {
    // The replacement: the old container goes, a new one comes up elsewhere, Docker's DNS follows.
    for (const app of Object.values(apps)) {
      expect(await stopProcess(replicas.get(`${app.name}-2`)!, 'SIGTERM', 5_000)).toMatch(/^(code 0|signal SIGTERM)$/);
      await startReplica(app, 3);
    }
    setDns({ [apps.api.name]: [apps.api.addresses[0], apps.api.addresses[2]], [apps.web.name]: [apps.web.addresses[0], apps.web.addresses[2]] });
    const switched = Date.now();

    // Until every worker's cached answer has expired, the dead address is still tried: the request
    // must go on to the live replica (proxy_next_upstream error), never end in a 502.
    const during: Record<'api' | 'web', Reply[]> = { api: [], web: [] };
    while (Date.now() - switched < validMs + 1_000) {
      const replies = await round(1);
      for (const key of ['api', 'web'] as const) during[key].push(...replies[key]);
      await sleep(200);
    }
    for (const key of ['api', 'web'] as const) {
      expect(during[key].every((r) => r.status === 200), `${key} during the switch: ${describeReplies(during[key])}\n${logs()}`).toBe(true);
      expect(during[key].some((r) => r.replica === `${apps[key].name}-2`)).toBe(false);
    }
    timings.switchSettled = Date.now() - started;

    // Settled: both live replicas serve, and nginx no longer connects to the dead address.
    const mark = nginx!.log().length;
    const after = await round(20);
    const newLog = nginx!.log().slice(mark);
    for (const key of ['api', 'web'] as const) {
      expect(after[key].every((r) => r.status === 200), `${key} after the switch: ${describeReplies(after[key])}\n${logs()}`).toBe(true);
      expect(served(after[key]), `${key}: ${describeReplies(after[key])}`).toEqual([`${apps[key].name}-1`, `${apps[key].name}-3`]);
      expect(newLog, `nginx still tries ${key}-2's address after ${m.nginx.resolverValid}`).not.toContain(`${apps[key].addresses[1]}:${apps[key].port}`);
    }
    expect(newLog).not.toMatch(/connect\(\) failed/);
    // nginx asked the DNS server again after the switch (the answer did not come from /etc/hosts or a startup lookup).
    expect(dns!.log()).toMatch(new RegExp(`${apps.api.name} type 1 -> ${apps.api.addresses[0].replaceAll('.', '\\.')},${apps.api.addresses[2].replaceAll('.', '\\.')}`));
    timings.done = Date.now() - started;
  }, 60_000);
});
