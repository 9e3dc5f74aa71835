import { describe, expect, it } from 'vitest';
import type { Answers } from '../src/options.js';
import { allocateMemory, budgetMiB, minimumVpsGiB, VpsTooSmallError } from '../src/stack/memory.js';
import { buildStackModel, sqlIdentifier, supportsHttp2Directive } from '../src/stack/model.js';
import { formatKb, pgtune } from '../src/stack/pgtune.js';
import { IMAGES } from '../src/versions.js';
import { BASE_ANSWERS } from './support/stack.js';

const model = (overrides: Partial<Answers> = {}) => buildStackModel({ ...BASE_ANSWERS, ...overrides }, 'demo-shop');
const limitSum = (m: ReturnType<typeof model>) => m.services.list.reduce((sum, s) => sum + s.memoryMiB * s.replicas, 0);

describe('memory allocation', () => {
  it('gives every service at least its floor and stays within the budget', () => {
    const demands = [
      { name: 'db', floorMiB: 256, weight: 4, replicas: 1 },
      { name: 'api', floorMiB: 128, weight: 3, capMiB: 512, replicas: 2 },
      { name: 'fixed', floorMiB: 64, weight: 0, replicas: 1 },
    ];
    const limits = allocateMemory(demands, 2000);
    expect(limits.fixed).toBe(64);
    expect(limits.api).toBe(512); // capped; the rest flows to the uncapped db
    expect(limits.db).toBeGreaterThan(256);
    expect(limits.db + 2 * limits.api + limits.fixed).toBeLessThanOrEqual(2000);
    expect(limits.db + 2 * limits.api + limits.fixed).toBeGreaterThan(2000 - 3 * 8);
  });

  it('refuses a budget below the floors and names the smallest VPS that fits', () => {
    const demands = [{ name: 'db', floorMiB: 900, weight: 1, replicas: 1 }];
    expect(() => allocateMemory(demands, 800)).toThrow(VpsTooSmallError);
    expect(minimumVpsGiB(demands)).toBe(1.5);
    expect(budgetMiB(1.5)).toBeGreaterThanOrEqual(900);
    expect(budgetMiB(1)).toBeLessThan(900);
  });

  it.each([1, 2, 4, 8, 16, 64])('keeps limits ≤ 85 %% of %d GiB for every template', (gib) => {
    for (const template of ['express-worker', 'fastapi-oracle', 'nest-next'] as const) {
      let m;
      try {
        m = model({ template, vpsMemory: gib, workers: false });
      } catch (error) {
        expect(error).toBeInstanceOf(VpsTooSmallError);
        continue;
      }
      expect(limitSum(m)).toBeLessThanOrEqual(Math.floor(gib * 1024 * 0.85));
      expect(m.memory.allocatedMiB).toBe(limitSum(m));
      for (const s of m.services.list) expect(s.memoryMiB).toBeGreaterThanOrEqual(s.floorMiB);
    }
  });

  it('errors with a minimum when nest-next with a worker cannot fit in 1 GiB', () => {
    expect(() => model({ template: 'nest-next', vpsMemory: 1 })).toThrow(VpsTooSmallError);
    try {
      model({ template: 'nest-next', vpsMemory: 1 });
    } catch (error) {
      const { minimumGiB } = error as VpsTooSmallError;
      expect(() => model({ template: 'nest-next', vpsMemory: minimumGiB })).not.toThrow();
      expect(() => model({ template: 'nest-next', vpsMemory: minimumGiB - 0.5 })).toThrow(VpsTooSmallError);
    }
  });

  it('runs two replicas of the nest-next apps only on a box with room for them', () => {
    expect(model({ template: 'nest-next', vpsMemory: 4 }).services.api.replicas).toBe(2);
    expect(model({ template: 'nest-next', vpsMemory: 4 }).services.web.replicas).toBe(2);
    expect(model({ template: 'nest-next', vpsMemory: 2 }).services.api.replicas).toBe(1);
    expect(model({ template: 'nest-next', vpsMemory: 8, vpsCpus: 1 }).services.api.replicas).toBe(1);
    expect(model({ template: 'express-worker', vpsMemory: 16 }).services.api.replicas).toBe(1);
  });
});

describe('services', () => {
  it('weighs CPU: nginx above the datastores above the apps above background work and one-offs', () => {
    for (const template of ['express-worker', 'nest-next', 'fastapi-oracle'] as const) {
      const m = model({ template, workers: true, redis: true });
      const shares = (name: string) => m.services[name]!.cpuShares;
      expect(shares('nginx')).toBeGreaterThan(shares('postgres'));
      expect(shares('postgres')).toBeGreaterThan(shares('api'));
      expect(shares('redis')).toBe(shares('postgres'));
      expect(shares('api')).toBeGreaterThan(shares('worker'));
      expect(shares('backup')).toBe(shares('worker'));
      expect(shares('worker')).toBeGreaterThan(shares('certbot'));
      for (const s of m.services.list) expect(s.cpuShares, s.name).toBeGreaterThanOrEqual(2);
    }
  });

  it('follows the toggles', () => {
    const names = (m: ReturnType<typeof model>) => m.services.list.map((s) => s.name);
    // spa: the SPA stacks' web build as a one-off image (nest-next's web is a server of its own).
    expect(names(model())).toEqual(['api', 'worker', 'spa', 'postgres', 'redis', 'nginx', 'certbot', 'backup']);
    expect(names(model({ workers: false, redis: false }))).toEqual(['api', 'spa', 'postgres', 'nginx', 'certbot', 'backup']);
    expect(names(model({ template: 'nest-next' }))).toEqual(['api', 'web', 'worker', 'postgres', 'redis', 'nginx', 'certbot', 'backup']);
    expect(names(model({ template: 'fastapi-oracle', workers: false }))).toEqual(['api', 'oracle', 'spa', 'postgres', 'redis', 'nginx', 'certbot', 'backup']);
  });

  it('uses the pgvector image only with pgvector, and pinned tags everywhere', () => {
    expect(model({ pgvector: true }).services.postgres.image).toBe(IMAGES.pgvector);
    expect(model({ pgvector: false }).services.postgres.image).toBe(IMAGES.postgres);
    for (const image of Object.values(IMAGES)) {
      expect(image).toMatch(/^[\w./-]+:[\w.-]+$/);
      expect(image).not.toMatch(/:latest$/);
    }
    expect(IMAGES.pgvector).toContain(`pg${IMAGES.postgres.split(':')[1].split('-')[0]}`);
  });

  it('gives each app its own port and a healthcheck that hits that port', () => {
    for (const template of ['express-worker', 'fastapi-oracle', 'nest-next'] as const) {
      const m = model({ template });
      const ports = m.services.list.filter((s) => s.port !== undefined).map((s) => s.port);
      expect(new Set(ports).size).toBe(ports.length);
      for (const s of m.services.list.filter((x) => x.role === 'app' && x.name !== 'oracle')) {
        expect(s.healthcheck.join(' ')).toContain(`127.0.0.1:${s.port}`);
      }
    }
    expect(model({ template: 'nest-next' }).services.api.port).toBe(4000);
    expect(model({ template: 'nest-next' }).services.web.port).toBe(3000);
  });

  it('derives identifiers and hosts', () => {
    const m = model({ domain: 'shop.example.org' });
    expect(m.domain).toEqual({ apex: 'shop.example.org', www: 'www.shop.example.org', api: 'api.shop.example.org' });
    expect(m.db).toEqual({ name: 'demo_shop', user: 'demo_shop' });
    expect(sqlIdentifier('9lives')).toBe('app_9lives');
    expect(sqlIdentifier('a-b-c')).toBe('a_b_c');
  });

  it('lists only the environment variables the toggles need', () => {
    const names = (m: ReturnType<typeof model>) => m.env.list.map((v) => v.name);
    expect(names(model({ redis: false, workers: false }))).not.toContain('REDIS_PASSWORD');
    expect(names(model())).toContain('REDIS_PASSWORD');
    expect(names(model({ cloudflare: true }))).toContain('CLOUDFLARE_API_TOKEN');
    expect(names(model({ backupRemote: 's3' }))).toEqual(expect.arrayContaining(['RESTIC_REPOSITORY', 'RESTIC_PASSWORD']));
    expect(names(model())).not.toContain('DATABASE_URL'); // composed per service, not in .env
    for (const v of model({ backupRemote: 's3', cloudflare: true }).env.list) {
      if (v.secret) expect(v.example).toBeUndefined();
    }
  });
});

describe('pgtune', () => {
  it('follows the web profile on the container limit', () => {
    const tuning = pgtune({ memoryMiB: 1024, cpus: 2, maxConnections: 40 });
    const settings = Object.fromEntries(tuning.settings);
    expect(settings).toMatchObject({
      max_connections: '40', shared_buffers: '256MB', effective_cache_size: '768MB', maintenance_work_mem: '64MB',
      checkpoint_completion_target: '0.9', random_page_cost: '1.1', effective_io_concurrency: '200',
      min_wal_size: '1GB', max_wal_size: '4GB',
    });
    // 3 % of 256 MB = 7864 kB; work_mem = 768 MB / ((40 + 8) · 3) = 5461 kB
    expect(settings.wal_buffers).toBe('7864kB');
    expect(settings.work_mem).toBe('5461kB');
    expect(settings.max_worker_processes).toBeUndefined();
    expect(tuning.shmSizeMiB).toBeGreaterThanOrEqual(tuning.sharedBuffersMiB);
  });

  it('floors work_mem at 4 MB, caps wal_buffers at 16 MB and adds parallel settings from 4 CPUs', () => {
    expect(Object.fromEntries(pgtune({ memoryMiB: 256, cpus: 1, maxConnections: 100 }).settings).work_mem).toBe('4MB');
    const big = Object.fromEntries(pgtune({ memoryMiB: 16384, cpus: 8, maxConnections: 60 }).settings);
    expect(big.wal_buffers).toBe('16MB');
    expect(big.shared_buffers).toBe('4GB');
    expect(big.max_worker_processes).toBe('8');
    expect(big.max_parallel_workers_per_gather).toBe('4');
  });

  it('sizes max_connections to the app pools', () => {
    const m = model({ template: 'nest-next', vpsMemory: 4 });
    const pools = m.services.list.reduce((sum, s) => sum + s.dbConnections * s.replicas, 0);
    expect(Object.fromEntries(m.postgres.settings).max_connections).toBe(String(pools + 15));
  });

  it('formats like pgtune', () => {
    expect(formatKb(1024 * 1024)).toBe('1GB');
    expect(formatKb(2048)).toBe('2MB');
    expect(formatKb(1500)).toBe('1500kB');
  });
});

describe('nginx syntax', () => {
  it('uses http2 on from 1.25.1', () => {
    expect(supportsHttp2Directive('1.22.1')).toBe(false);
    expect(supportsHttp2Directive('1.25.0')).toBe(false);
    expect(supportsHttp2Directive('1.25.1')).toBe(true);
    expect(supportsHttp2Directive('1.30')).toBe(true);
  });
});
