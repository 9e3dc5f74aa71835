import pg from 'pg';
import { errorFields, log } from './log.ts';

export type Pool = pg.Pool;

export function createPool(connectionString: string, max: number): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    // Fail a request instead of queueing it forever when every connection is busy or Postgres is down.
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    application_name: 'api',
  });
  // An idle client whose connection drops (Postgres restart) emits here; unhandled, it would kill the process.
  pool.on('error', (error) => log.warn('postgres: idle client error', errorFields(error)));
  return pool;
}
