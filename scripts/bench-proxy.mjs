// `npm run bench:proxy`: what the generated nginx costs in front of the API. Boots the
// express-worker stack natively (the same boot helpers as test/boot.test.ts, bundled here with
// esbuild: Node 20 cannot import TypeScript), then runs wrk (Debian's) against /api/health
// directly on the api and through nginx (HTTPS, by Host name), after a warm-up:
//
//   throughput  BENCH_CONNECTIONS connections (default 32): req/s, p50, p99
//   latency     1 connection: p50, p99 (the latency nginx adds, without queueing)
//
// Targets: nginx keeps >= 80 % of direct throughput and adds <= 1 ms at p50. A benchmark, not a
// test: it prints whether the targets are met and never fails on them (exit 1 only when it
// cannot run: not root, wrk or a boot prerequisite missing).
//
// nginx's per-client rate limit on the API (limit_req zone=api) is lifted for the run: every
// request comes from one address, which it would otherwise answer with 429 after the burst.
// Env: BENCH_DURATION (s, default 8), BENCH_WARMUP (s, default 3), BENCH_ROUNDS (default 3,
// medians reported), BENCH_CONNECTIONS, BENCH_THREADS (default 2), NGINX_BIN.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const DURATION = Number(process.env.BENCH_DURATION ?? 8);
const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const THREADS = Number(process.env.BENCH_THREADS ?? 2);
const TARGET_RATIO = 0.8;
const TARGET_ADDED_P50_MS = 1;

function die(message) {
  console.error(`bench:proxy: ${message}`);
  process.exit(1);
}

if (spawnSync('sh', ['-c', 'command -v wrk'], { stdio: 'ignore' }).status !== 0) die('wrk not found (apt install wrk)');

// The boot helpers are TypeScript (test/support/boot/): bundle them (and the generator they
// render with) into one ES module; bare imports stay external and resolve from node_modules.
const bundle = join(ROOT, '.cache/bench-proxy/boot.mjs');
await build({
  entryPoints: [join(ROOT, 'test/support/boot/index.ts')],
  outfile: bundle,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20.19',
  packages: 'external',
  logLevel: 'warning',
});
const { BootedStack, bootPrerequisites, DEFAULT_NGINX_BIN } = await import(pathToFileURL(bundle).href);

const missing = bootPrerequisites(DEFAULT_NGINX_BIN);
if (missing.length > 0) die(`cannot boot the stack, missing: ${missing.join('; ')}`);

/** wrk's summary as one JSON line (latencies in microseconds). */
const REPORT_LUA = `
done = function(summary, latency, requests)
  io.write(string.format('\\n{"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\\n',
    summary.requests, summary.duration, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.status, summary.errors.timeout, latency:percentile(50), latency:percentile(99)))
end
`;

const stack = new BootedStack({
  overrides: { template: 'express-worker', workers: true, redis: true, pgvector: true, cloudflare: false },
  editNginx: (files) => {
    const api = files.get('conf.d/30-api.conf');
    const lifted = api.replace(/^\s*limit_req zone=api\b[^;]*;\n/m, '');
    if (lifted === api) throw new Error('conf.d/30-api.conf: no `limit_req zone=api` to lift');
    files.set('conf.d/30-api.conf', lifted);
  },
  log: (line) => console.error(line),
});

let stopping;
const stop = () => (stopping ??= stack.stop());
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    stop().finally(() => process.exit(130));
  });
}

function wrk(url, { connections, threads, seconds, script }) {
  const args = ['-t', String(Math.min(threads, connections)), '-c', String(connections), '-d', `${seconds}s`, '--timeout', '5s', ...(script ? ['-s', script] : []), url];
  const result = stack.exec('wrk', args, { timeoutMs: (seconds + 30) * 1000 });
  if (result.status !== 0) throw new Error(`wrk ${args.join(' ')} failed:\n${result.stdout}${result.stderr}`);
  if (!script) return undefined;
  const line = result.stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (!line) throw new Error(`wrk printed no report:\n${result.stdout}`);
  const r = JSON.parse(line);
  return {
    rps: r.requests / (r.duration_us / 1e6),
    p50: r.p50_us / 1000,
    p99: r.p99_us / 1000,
    errors: r.connect + r.read + r.write + r.timeout,
    non2xx: r.status,
  };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

try {
  const started = Date.now();
  await stack.start();
  console.error(`bench:proxy: stack up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const m = stack.model;
  const script = join(stack.work, 'report.lua');
  writeFileSync(script, REPORT_LUA);
  const targets = {
    direct: `http://${m.services.api.name}:${m.services.api.port}${m.paths.health}`,
    nginx: `https://${m.domain.api}${m.paths.health}`,
  };
  for (const [name, url] of Object.entries(targets)) {
    const r = stack.request(url);
    if (r.status !== 200) throw new Error(`${name}: ${url} answered ${r.status} ${r.body}`);
  }

  const loads = {
    throughput: { connections: CONNECTIONS, threads: THREADS },
    latency: { connections: 1, threads: 1 },
  };
  for (const url of Object.values(targets)) wrk(url, { ...loads.throughput, seconds: WARMUP });

  /** results[load][target] = one entry per round; the targets alternate so machine noise hits both. */
  const results = { throughput: { direct: [], nginx: [] }, latency: { direct: [], nginx: [] } };
  for (let round = 0; round < ROUNDS; round++) {
    for (const [load, options] of Object.entries(loads)) {
      for (const [name, url] of Object.entries(targets)) {
        results[load][name].push(wrk(url, { ...options, seconds: DURATION, script }));
      }
    }
  }

  const summary = (runs) => ({
    rps: median(runs.map((r) => r.rps)),
    p50: median(runs.map((r) => r.p50)),
    p99: median(runs.map((r) => r.p99)),
    errors: runs.reduce((sum, r) => sum + r.errors, 0),
    non2xx: runs.reduce((sum, r) => sum + r.non2xx, 0),
  });
  const cpus = spawnSync('nproc', { encoding: 'utf8' }).stdout.trim();
  console.log(`\nnode ${process.version}, ${cpus} CPUs, nginx ${DEFAULT_NGINX_BIN}`);
  console.log(`GET ${m.paths.health}: direct ${targets.direct} vs through nginx ${targets.nginx} (TLS, HTTP/1.1 keepalive)`);
  console.log(`${ROUNDS} rounds × ${DURATION} s after ${WARMUP} s warm-up each; medians\n`);
  console.log(`${'load'.padEnd(30)}${'target'.padEnd(8)}${'req/s'.padStart(10)}${'p50'.padStart(10)}${'p99'.padStart(10)}${'errors'.padStart(9)}`);
  const table = {};
  for (const [load, options] of Object.entries(loads)) {
    for (const name of Object.keys(targets)) {
      const s = (table[`${load}/${name}`] = summary(results[load][name]));
      const label = `${load} (${options.connections} conn${options.connections > 1 ? 's' : ''})`;
      console.log(`${label.padEnd(30)}${name.padEnd(8)}${s.rps.toFixed(0).padStart(10)}${`${s.p50.toFixed(2)} ms`.padStart(10)}${`${s.p99.toFixed(2)} ms`.padStart(10)}${String(s.errors + s.non2xx).padStart(9)}`);
    }
  }
  const ratio = table['throughput/nginx'].rps / table['throughput/direct'].rps;
  const added = table['latency/nginx'].p50 - table['latency/direct'].p50;
  const addedLoaded = table['throughput/nginx'].p50 - table['throughput/direct'].p50;
  console.log('');
  console.log(`throughput through nginx: ${(ratio * 100).toFixed(1)} % of direct (target ≥ ${TARGET_RATIO * 100} %): ${ratio >= TARGET_RATIO ? 'met' : 'NOT met'}`);
  console.log(`p50 added by nginx, 1 connection: ${added.toFixed(2)} ms (target ≤ ${TARGET_ADDED_P50_MS} ms): ${added <= TARGET_ADDED_P50_MS ? 'met' : 'NOT met'}`);
  console.log(`p50 added by nginx, ${CONNECTIONS} connections: ${addedLoaded.toFixed(2)} ms (queueing included; for information)`);
  const failures = Object.entries(table).filter(([, s]) => s.errors + s.non2xx > 0).map(([k, s]) => `${k}: ${s.errors} socket errors, ${s.non2xx} non-2xx`);
  if (failures.length > 0) console.log(`warning: ${failures.join('; ')}`);
} catch (error) {
  console.error(`bench:proxy: ${error instanceof Error ? error.message : error}`);
  console.error(stack.logs());
  process.exitCode = 1;
} finally {
  await stop();
}
