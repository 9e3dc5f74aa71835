// Helpers for deploying a generated stack on the test engine as an operator would: a real ACME
// server (Debian's pebble, with pebble-challtestsrv as its DNS: every name resolves to 127.0.0.1,
// so HTTP-01 validation reaches the generated nginx through the published port 80), free ports,
// HTTPS probes through the published ports by Host/SNI (curl --resolve), and the clean-up check.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { sleep, waitFor as poll } from './boot/stack.js';
import { pidAlive, run, succeed } from './docker.js';

/** A TCP port nothing listens on right now (on 127.0.0.1). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** boot/stack.ts's poller with the timeout before the check, as the deploy tests read best. */
export const waitFor = <T>(what: string, timeoutMs: number, check: () => T | undefined | Promise<T | undefined>, everyMs = 500): Promise<T> =>
  poll(what, check, timeoutMs, everyMs);

export interface Pebble {
  /** The ACME directory URL, on an address containers reach (the docker0 bridge gateway). */
  directory: string;
  /** PEM of the CA that signs pebble's own HTTPS certificate (what ACME_CA_BUNDLE names). */
  httpsCaFile: string;
  /** The issuing root of the certificates pebble hands out (from its management endpoint). */
  issuingRoot: () => string;
  /** PIDs of pebble and pebble-challtestsrv. */
  pids: number[];
  /** Stops exactly those PIDs (TERM, then KILL after 5 s); returns the PIDs still alive (none). */
  stop: () => Promise<number[]>;
}

/** Host address containers on any bridge network reach the host on: the default bridge's gateway. */
export function bridgeGateway(): string {
  const out = succeed(run('docker', ['network', 'inspect', 'bridge', '--format', '{{range .IPAM.Config}}{{.Gateway}} {{end}}']), 'docker network inspect bridge');
  const ip = out.trim().split(/\s+/).find((a) => /^\d+\.\d+\.\d+\.\d+$/.test(a));
  if (!ip) throw new Error(`no IPv4 gateway on docker's default bridge: ${out}`);
  return ip;
}

const started = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of started) if (child.pid && pidAlive(child.pid)) process.kill(child.pid, 'SIGKILL');
});

function launch(dir: string, name: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const log = openSync(join(dir, `${name}.log`), 'a');
  const child = spawn(command, args, { cwd: dir, stdio: ['ignore', log, log], env: { ...process.env, ...env } });
  closeSync(log);
  started.add(child);
  child.once('exit', () => started.delete(child));
  return child;
}

/** Pebble's HTTPS endpoint needs a certificate for the address certbot calls it on: a small CA for it. */
function pebbleTls(dir: string, ip: string): { cert: string; key: string; ca: string } {
  const ca = join(dir, 'https-ca.pem');
  const caKey = join(dir, 'https-ca.key');
  const key = join(dir, 'https.key');
  const csr = join(dir, 'https.csr');
  const cert = join(dir, 'https.pem');
  const ext = join(dir, 'https.ext');
  const openssl = (args: string[]) => succeed(run('openssl', args, { cwd: dir }), `openssl ${args[0]}`);
  openssl(['req', '-x509', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-days', '2', '-subj', '/CN=create-vps-stack test ACME HTTPS CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-keyout', caKey, '-out', ca]);
  openssl(['req', '-new', '-nodes', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-subj', '/CN=pebble', '-keyout', key, '-out', csr]);
  writeFileSync(ext, `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:${ip},IP:127.0.0.1,DNS:localhost\n`);
  openssl(['x509', '-req', '-in', csr, '-CA', ca, '-CAkey', caKey, '-CAcreateserial', '-days', '2', '-extfile', ext, '-out', cert]);
  return { cert, key, ca };
}

/**
 * Starts pebble-challtestsrv (DNS only: A records 127.0.0.1 for every name, no AAAA) and pebble
 * (ACME on the bridge gateway, management on 127.0.0.1, HTTP-01 checked on port `httpPort`).
 */
export async function startPebble(dir: string, httpPort = 80): Promise<Pebble> {
  mkdirSync(dir, { recursive: true });
  const ip = bridgeGateway();
  const [acmePort, mgmtPort, dnsPort, dnsMgmtPort] = [await freePort(ip), await freePort(), await freePort(), await freePort()];
  const tls = pebbleTls(dir, ip);
  const children: ChildProcess[] = [];
  const stop = async (): Promise<number[]> => {
    for (const child of children) if (child.pid && pidAlive(child.pid)) process.kill(child.pid, 'SIGTERM');
    const gone = () => children.every((c) => !c.pid || !pidAlive(c.pid)) || undefined;
    try {
      await waitFor('pebble to stop', 5_000, gone, 100);
    } catch {
      for (const child of children) if (child.pid && pidAlive(child.pid)) process.kill(child.pid, 'SIGKILL');
      await waitFor('pebble to be killed', 5_000, gone, 100).catch(() => undefined);
    }
    return children.filter((c) => c.pid && pidAlive(c.pid)).map((c) => c.pid!);
  };
  try {
    children.push(launch(dir, 'challtestsrv', 'pebble-challtestsrv', [
      '-dns01', `127.0.0.1:${dnsPort}`, '-management', `127.0.0.1:${dnsMgmtPort}`,
      '-http01', '', '-https01', '', '-tlsalpn01', '', '-defaultIPv4', '127.0.0.1', '-defaultIPv6', '',
    ]));
    const config = join(dir, 'pebble-config.json');
    writeFileSync(config, JSON.stringify({
      pebble: {
        listenAddress: `${ip}:${acmePort}`,
        managementListenAddress: `127.0.0.1:${mgmtPort}`,
        certificate: tls.cert,
        privateKey: tls.key,
        httpPort,
        tlsPort: 443,
        ocspResponderURL: '',
        externalAccountBindingRequired: false,
      },
    }, null, 2));
    // No random sleeps before validation, no deliberately rejected nonces: a run is deterministic.
    children.push(launch(dir, 'pebble', 'pebble', ['-config', config, '-dnsserver', `127.0.0.1:${dnsPort}`],
      { PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0' }));
    const directory = `https://${ip}:${acmePort}/dir`;
    const curl = (url: string) => spawnSync('curl', ['-fsS', '--max-time', '5', '--cacert', tls.ca, url], { encoding: 'utf8' });
    await waitFor('pebble to answer', 20_000, () => {
      for (const c of children) if (c.exitCode !== null) throw new Error(`${c.spawnfile} exited ${c.exitCode}: ${readFileSync(join(dir, c.spawnfile === 'pebble' ? 'pebble.log' : 'challtestsrv.log'), 'utf8')}`);
      return curl(directory).status === 0 ? true : undefined;
    }, 200);
    return {
      directory,
      httpsCaFile: tls.ca,
      issuingRoot: () => {
        const out = curl(`https://127.0.0.1:${mgmtPort}/roots/0`);
        if (out.status !== 0) throw new Error(`pebble management /roots/0: ${out.stderr}`);
        return out.stdout;
      },
      pids: children.map((c) => c.pid!),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

export interface Probe {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** curl's exit code (0 when it got a response; 60 when the certificate did not verify). */
  exit: number;
  stderr: string;
}

/**
 * One HTTP(S) request from the host through the published port on 127.0.0.1, with Host/SNI `host`
 * (curl --resolve), verifying the certificate against `cacert` (an HTTPS request fails otherwise).
 */
export function probe(url: string, options: { cacert?: string; method?: string; json?: unknown; port?: number } = {}): Probe {
  const parsed = new URL(url);
  const port = options.port ?? Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80));
  const args = ['-sS', '--max-time', '10', '-D', '-', '--resolve', `${parsed.hostname}:${port}:127.0.0.1`, '-X', options.method ?? 'GET'];
  if (options.cacert) args.push('--cacert', options.cacert);
  if (options.json !== undefined) args.push('-H', 'content-type: application/json', '--data-binary', JSON.stringify(options.json));
  const result = spawnSync('curl', [...args, url], { encoding: 'utf8', timeout: 20_000 });
  const out = result.stdout ?? '';
  const split = out.indexOf('\r\n\r\n');
  const head = split >= 0 ? out.slice(0, split) : out;
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return {
    status: Number(statusLine.split(' ')[1] ?? 0),
    headers,
    body: split >= 0 ? out.slice(split + 4) : '',
    exit: result.status ?? -1,
    stderr: result.stderr ?? '',
  };
}

/** Containers, networks and volumes compose still knows for `project` (all empty after `down -v`). */
export function projectLeftovers(project: string): { containers: string[]; networks: string[]; volumes: string[] } {
  const label = `label=com.docker.compose.project=${project}`;
  const list = (args: string[]) => succeed(run('docker', args), args.join(' ')).split('\n').filter(Boolean);
  return {
    containers: list(['ps', '-a', '-q', '--filter', label]),
    networks: list(['network', 'ls', '-q', '--filter', label]),
    volumes: list(['volume', 'ls', '-q', '--filter', label]),
  };
}

export interface LoadResult {
  requests: number;
  /** Connection errors, TLS errors, unexpected statuses and forbidden bodies, each with what was asked. */
  failures: string[];
  /** Milliseconds per request, in the order they finished. */
  latencies: number[];
}

/** The p-th percentile (0-100) of `values`, nearest rank; NaN when empty. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * A bounded load generator through the published port 443 on 127.0.0.1: `concurrency` loops, each
 * a new TLS connection per request (so handshakes happen across a reload), verifying against `ca`,
 * over `urls` in turn, each loop at most one request per `intervalMs`, until `stop()` or `maxMs`.
 * Every answer must have `expectStatus`, and no body may match `forbid` (e.g. a broken release's marker).
 */
export function startLoad(urls: string[], ca: string, options: { concurrency?: number; maxMs?: number; expectStatus?: number; intervalMs?: number; forbid?: RegExp } = {}): { stop: () => Promise<LoadResult> } {
  const caPem = readFileSync(ca);
  const deadline = Date.now() + (options.maxMs ?? 120_000);
  let stopped = false;
  const result: LoadResult = { requests: 0, failures: [], latencies: [] };
  const one = (url: string) => new Promise<void>((resolve) => {
    const u = new URL(url);
    const began = performance.now();
    const req = httpsRequest({ host: '127.0.0.1', port: 443, servername: u.hostname, path: u.pathname + u.search, headers: { host: u.hostname }, ca: caPem, agent: false, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.once('end', () => {
        result.requests++;
        result.latencies.push(performance.now() - began);
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== (options.expectStatus ?? 200)) result.failures.push(`${url}: ${res.statusCode} ${body.slice(0, 120)}`);
        else if (options.forbid?.test(body)) result.failures.push(`${url}: answered by a forbidden release: ${body.slice(0, 120)}`);
        resolve();
      });
    });
    req.once('timeout', () => req.destroy(new Error('timeout')));
    req.once('error', (error) => {
      result.requests++;
      result.failures.push(`${url}: ${error.message}`);
      resolve();
    });
    req.end();
  });
  const loops = Array.from({ length: options.concurrency ?? 4 }, async (_, i) => {
    for (let n = i; !stopped && Date.now() < deadline; n++) {
      const began = Date.now();
      await one(urls[n % urls.length]!);
      await sleep(Math.max(0, (options.intervalMs ?? 0) - (Date.now() - began)));
    }
  });
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(loops);
      return result;
    },
  };
}

/** `command args` without blocking the event loop (so a load generator keeps running); killed after `timeoutMs`. */
export function runAsync(command: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 300_000);
    child.once('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}
