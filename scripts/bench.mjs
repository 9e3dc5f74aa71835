// Whole-process timings of the CLI, each paired in the same run against create-vite
// (a devDependency) doing the nearest equivalent. Target: ratio ≤ 1.0×.
// A benchmark, not a test: it prints numbers and never fails on them.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const OURS = join(ROOT, 'index.js');
const require = createRequire(import.meta.url);
const CREATE_VITE = join(dirname(require.resolve('create-vite/package.json')), 'index.js');

const WARMUP = Number(process.env.BENCH_WARMUP ?? 3);
const RUNS = Number(process.env.BENCH_RUNS ?? 15);
const ENV = { ...process.env, NO_COLOR: '1' };

/** Runs `args` RUNS times after WARMUP, each in a fresh directory; returns the median milliseconds. */
function median(label, args) {
  const times = [];
  for (let i = 0; i < WARMUP + RUNS; i++) {
    const cwd = mkdtempSync(join(tmpdir(), 'cvs-bench-'));
    const start = process.hrtime.bigint();
    const result = spawnSync(process.execPath, args, { cwd, env: ENV, stdio: ['ignore', 'ignore', 'pipe'] });
    const elapsed = Number(process.hrtime.bigint() - start) / 1e6;
    rmSync(cwd, { recursive: true, force: true });
    if (result.status !== 0) throw new Error(`${label} failed: ${result.stderr}`);
    if (i >= WARMUP) times.push(elapsed);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const ALL_ON = ['--domain', 'shop.example.org', '--email', 'ops@example.org', '--workers', '--redis', '--pgvector',
  '--cloudflare', '--vps-memory', '8', '--vps-cpus', '4', '--ci', 'github', '--backup-remote', 's3'];

const pairs = [
  ['--help', [OURS, '--help'], [CREATE_VITE, '--help']],
  ...['express-worker', 'nest-next', 'fastapi-oracle'].map((template) => [
    `scaffold ${template}, all options on`,
    [OURS, 'app', '--template', template, ...ALL_ON],
    [CREATE_VITE, 'app', '--template', 'react-ts', '--no-interactive'],
  ]),
];

console.log(`node ${process.version}, ${WARMUP} warm-up + ${RUNS} runs each, medians\n`);
console.log(`${'case'.padEnd(42)}${'ours'.padStart(10)}${'create-vite'.padStart(13)}${'ratio'.padStart(9)}`);
for (const [label, ours, theirs] of pairs) {
  // Interleave the two so machine noise hits both alike.
  const a = median(label, ours);
  const b = median('create-vite', theirs);
  const ratio = a / b;
  console.log(`${label.padEnd(42)}${`${a.toFixed(1)} ms`.padStart(10)}${`${b.toFixed(1)} ms`.padStart(13)}${`${ratio.toFixed(2)}×`.padStart(9)}${ratio <= 1 ? '' : '  (over target 1.0×)'}`);
}
