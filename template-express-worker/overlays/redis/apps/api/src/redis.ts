import { Redis } from 'ioredis';
import { errorFields, log } from './log.ts';

export function createRedis(url: string): Redis {
  const redis = new Redis(url, {
    connectionName: 'api',
    // While Redis is down a command fails after one reconnect attempt instead of waiting for
    // the connection: requests get a prompt error and readiness reports it.
    maxRetriesPerRequest: 1,
  });
  // ioredis emits an error on every failed reconnect: log the first, then the recovery.
  let healthy = true;
  redis.on('error', (error) => {
    if (!healthy) return;
    healthy = false;
    log.warn('redis: connection lost, reconnecting', errorFields(error));
  });
  redis.on('ready', () => {
    if (healthy) return;
    healthy = true;
    log.info('redis: connection restored');
  });
  return redis;
}
