// Compose healthcheck of the worker (`node dist/healthcheck.js`): healthy while the worker's
// heartbeat file is fresh. The worker only writes it while its BullMQ consumer runs and Redis
// answers, so a stuck process, a stopped consumer or a lost queue all turn the container unhealthy.
import { stat } from 'node:fs/promises';
import { HEARTBEAT_FILE, HEARTBEAT_MAX_AGE_MS } from './worker/heartbeat.js';

try {
  const age = Date.now() - (await stat(HEARTBEAT_FILE)).mtimeMs;
  if (age > HEARTBEAT_MAX_AGE_MS) {
    console.error(`unhealthy: last heartbeat ${Math.round(age / 1000)} s ago`);
    process.exitCode = 1;
  }
} catch {
  console.error(`unhealthy: no heartbeat yet (${HEARTBEAT_FILE})`);
  process.exitCode = 1;
}
