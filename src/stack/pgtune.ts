// Postgres settings from pgtune's "web application" profile, sized to the
// Postgres container's memory limit rather than the whole VPS. Pure.

export interface PgTuneInput {
  memoryMiB: number;
  cpus: number;
  maxConnections: number;
}

export interface PgTuning {
  /** postgresql.conf settings in a stable order, values formatted as Postgres reads them. */
  settings: Array<[string, string]>;
  sharedBuffersMiB: number;
  /** Docker shm_size: at least shared_buffers (parallel query uses /dev/shm). */
  shmSizeMiB: number;
}

/** Formats kB the way pgtune does: the largest unit that divides evenly. */
export function formatKb(kb: number): string {
  const value = Math.floor(kb);
  if (value % (1024 * 1024) === 0) return `${value / (1024 * 1024)}GB`;
  if (value % 1024 === 0) return `${value / 1024}MB`;
  return `${value}kB`;
}

export function pgtune({ memoryMiB, cpus, maxConnections }: PgTuneInput): PgTuning {
  const ramKb = memoryMiB * 1024;
  const sharedBuffersKb = Math.floor(ramKb / 4);
  const effectiveCacheKb = Math.floor((ramKb * 3) / 4);
  const maintenanceKb = Math.min(Math.floor(ramKb / 16), 8 * 1024 * 1024);
  const walBuffersKb = Math.min(Math.floor((sharedBuffersKb * 3) / 100), 16 * 1024);
  const parallelWorkers = cpus >= 4 ? cpus : 8;
  const workMemKb = Math.max(
    4 * 1024,
    Math.floor((ramKb - sharedBuffersKb) / ((maxConnections + parallelWorkers) * 3)),
  );

  const settings: Array<[string, string]> = [
    ['max_connections', String(maxConnections)],
    ['shared_buffers', formatKb(sharedBuffersKb)],
    ['effective_cache_size', formatKb(effectiveCacheKb)],
    ['maintenance_work_mem', formatKb(maintenanceKb)],
    ['checkpoint_completion_target', '0.9'],
    ['wal_buffers', formatKb(walBuffersKb)],
    ['default_statistics_target', '100'],
    ['random_page_cost', '1.1'],
    ['effective_io_concurrency', '200'],
    ['work_mem', formatKb(workMemKb)],
    ['huge_pages', 'off'],
    ['min_wal_size', '1GB'],
    ['max_wal_size', '4GB'],
  ];
  if (cpus >= 4) {
    const half = Math.min(4, Math.ceil(cpus / 2));
    settings.push(
      ['max_worker_processes', String(cpus)],
      ['max_parallel_workers_per_gather', String(half)],
      ['max_parallel_workers', String(cpus)],
      ['max_parallel_maintenance_workers', String(half)],
    );
  }
  const sharedBuffersMiB = Math.floor(sharedBuffersKb / 1024);
  return { settings, sharedBuffersMiB, shmSizeMiB: Math.max(64, sharedBuffersMiB) };
}
