// Compose healthcheck (`node dist/healthcheck.js`): exits 0 when Redis answers PING, 1 otherwise.
// A worker that cannot reach its queue is doing nothing, however alive the process looks.
import { Redis } from 'ioredis';
import { loadRedisUrl } from './config.ts';
import { withTimeout } from './timeout.ts';

const TIMEOUT_MS = 2_000;

const redis = new Redis(loadRedisUrl(), {
  lazyConnect: true,
  connectTimeout: TIMEOUT_MS,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  retryStrategy: () => null,
});
// Reported below, once, with the exit code (connect() itself only says the connection closed).
let lastError: Error | undefined;
redis.on('error', (error) => {
  lastError = error;
});

try {
  await withTimeout(redis.connect().then(() => redis.ping()), TIMEOUT_MS, 'redis ping');
  process.exitCode = 0;
} catch (error) {
  const reason = lastError ?? error;
  console.error(`unhealthy: redis unreachable (${reason instanceof Error ? reason.message : String(reason)})`);
  process.exitCode = 1;
} finally {
  redis.disconnect();
}
