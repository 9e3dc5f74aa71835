// Sizing of the Python apps (fastapi-oracle): gunicorn workers, pools, timeouts, the oracle's
// gRPC server and the job retries. Templates read these as m.python.*. Pure.

export interface PythonFacts {
  /**
   * gunicorn worker processes in one api container: the usual 2·CPUs + 1, but never more than
   * the container's memory limit holds at `workerMemoryMiB` each, nor more than the api's Postgres
   * connections (each worker holds at least one); at least 1.
   */
  gunicornWorkers: number;
  /** Memory budgeted per gunicorn worker (FastAPI + SQLAlchemy + gRPC client RSS, with headroom). */
  workerMemoryMiB: number;
  /**
   * SQLAlchemy pool size of one worker process: the api's Postgres connections (what
   * max_connections is sized to) split between its workers; no overflow.
   */
  dbPoolPerWorker: number;
  /** gunicorn --timeout: a worker that stops answering the arbiter this long is killed and replaced. */
  timeoutSeconds: number;
  /** gunicorn --graceful-timeout: requests in flight get this long after SIGTERM (below compose's stop_grace_period). */
  gracefulTimeoutSeconds: number;
  /** gunicorn --keep-alive: longer than nginx keeps an idle upstream connection, so nginx always closes first. */
  keepAliveSeconds: number;
  /** Deadline of one api → oracle RPC; past it the api computes in-process ("direct mode"). */
  oracleDeadlineMs: number;
  /** After a failed oracle call the api stays in direct mode this long before trying the oracle again. */
  oracleRetryAfterSeconds: number;
  /** Threads serving RPCs in the oracle, and RPCs it accepts at once before answering RESOURCE_EXHAUSTED. */
  oracleThreads: number;
  oracleMaxConcurrentRpcs: number;
  /** Seconds the oracle lets RPCs in flight finish after SIGTERM. */
  oracleGraceSeconds: number;
  /** rq worker: attempts after the first failure and the waits between them; per-job time limit. */
  jobRetries: { max: number; intervalsSeconds: number[] };
  jobTimeoutSeconds: number;
  /** rq worker TTL: the worker re-registers (heartbeat) at least this often; its healthcheck reads the heartbeat. */
  workerTtlSeconds: number;
}

const WORKER_MEMORY_MIB = 96;

/** Seconds in an nginx time like "4s" or "1m". */
function nginxSeconds(value: string): number {
  const match = /^(\d+)(ms|s|m)?$/.exec(value);
  if (!match) throw new Error(`not an nginx time: ${value}`);
  const n = Number(match[1]);
  return match[2] === 'm' ? n * 60 : match[2] === 'ms' ? Math.ceil(n / 1000) : n;
}

export function pythonFacts(opts: {
  cpus: number;
  apiMemoryMiB: number;
  apiDbConnections: number;
  /** nginx's upstream keepalive_timeout (m.nginx.upstreamKeepalive.timeout). */
  upstreamKeepaliveTimeout: string;
}): PythonFacts {
  const byCpu = 2 * opts.cpus + 1;
  const byMemory = Math.floor(opts.apiMemoryMiB / WORKER_MEMORY_MIB);
  const gunicornWorkers = Math.max(1, Math.min(byCpu, byMemory, opts.apiDbConnections));
  return {
    gunicornWorkers,
    workerMemoryMiB: WORKER_MEMORY_MIB,
    dbPoolPerWorker: Math.max(1, Math.floor(opts.apiDbConnections / gunicornWorkers)),
    timeoutSeconds: 30,
    gracefulTimeoutSeconds: 20,
    keepAliveSeconds: nginxSeconds(opts.upstreamKeepaliveTimeout) + 1,
    oracleDeadlineMs: 2000,
    oracleRetryAfterSeconds: 10,
    oracleThreads: Math.max(4, 2 * opts.cpus),
    oracleMaxConcurrentRpcs: Math.max(4, 2 * opts.cpus) * 4,
    oracleGraceSeconds: 20,
    jobRetries: { max: 3, intervalsSeconds: [5, 30, 120] },
    jobTimeoutSeconds: 120,
    workerTtlSeconds: 30,
  };
}
