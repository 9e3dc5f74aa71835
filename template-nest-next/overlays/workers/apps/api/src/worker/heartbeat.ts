// Where the worker proves it is alive (a tmpfs in the container) and how fresh that must be.
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const HEARTBEAT_FILE = join(tmpdir(), 'worker-heartbeat');
export const HEARTBEAT_INTERVAL_MS = 10_000;
/** Three missed beats. */
export const HEARTBEAT_MAX_AGE_MS = 3 * HEARTBEAT_INTERVAL_MS;
