import { UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { loadConfig } from './config.ts';
import { countWords } from './jobs/count-words.ts';
import { errorFields, log, setLogLevel } from './log.ts';
import { JOB_NAMES, QUEUE_NAME, type CountWordsData, type CountWordsResult } from './queue.ts';

// Docker sends SIGKILL 10 s after SIGTERM by default: finish (or give up) before that.
// A job still running then is retried by another worker once its lock expires.
const SHUTDOWN_TIMEOUT_MS = 8_000;

process.on('uncaughtException', (error) => {
  log.error('uncaught exception', errorFields(error));
  process.exit(1);
});

const config = loadConfig();
setLogLevel(config.logLevel);

const pool = new pg.Pool({ connectionString: config.databaseUrl, max: config.concurrency, application_name: 'worker' });
pool.on('error', (error) => log.warn('postgres: idle client error', errorFields(error)));

// BullMQ blocks on Redis waiting for jobs: ioredis must retry forever (maxRetriesPerRequest: null).
const connection = new Redis(config.redisUrl, { maxRetriesPerRequest: null, connectionName: 'worker' });

const worker = new Worker<CountWordsData, CountWordsResult>(
  QUEUE_NAME,
  async (job) => {
    switch (job.name) {
      case JOB_NAMES.countWords:
        return countWords(pool, job.data);
      default:
        throw new UnrecoverableError(`no handler for job ${job.name}`);
    }
  },
  { connection, concurrency: config.concurrency },
);

worker.on('ready', () => log.info('worker ready', { queue: QUEUE_NAME, concurrency: config.concurrency }));
worker.on('completed', (job) => {
  log.info('job completed', { id: job.id, name: job.name, ms: (job.finishedOn ?? Date.now()) - (job.processedOn ?? job.timestamp) });
});
worker.on('failed', (job, error) => {
  // Retries and backoff are set per job when the api enqueues it.
  const willRetry = job !== undefined && job.attemptsMade < (job.opts.attempts ?? 1) && !(error instanceof UnrecoverableError);
  log[willRetry ? 'warn' : 'error']('job failed', { id: job?.id, name: job?.name, attemptsMade: job?.attemptsMade, willRetry, ...errorFields(error) });
});
worker.on('error', (error) => log.error('worker error', errorFields(error)));

let stopping = false;

async function shutdown(signal: NodeJS.Signals): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.info('shutting down', { signal });
  setTimeout(() => {
    log.error('shutdown timed out, exiting');
    process.exit(1);
  }, SHUTDOWN_TIMEOUT_MS).unref();

  // Takes no new jobs and waits for the running ones to finish.
  await worker.close();
  await connection.quit();
  await pool.end();
  log.info('stopped');
  process.exit(0);
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.on(signal, () => {
    shutdown(signal).catch((error: unknown) => {
      log.error('shutdown failed', errorFields(error));
      process.exit(1);
    });
  });
}
