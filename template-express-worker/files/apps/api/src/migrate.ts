// One-off migration run: `npm run migrate` (node dist/migrate.js) before a deploy swaps containers.
// The api never migrates on start: two replicas racing, or a crash loop on a bad migration, is worse.
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import { loadDatabaseUrl } from './config.ts';
import { errorFields, log } from './log.ts';

const databaseUrl = loadDatabaseUrl();

try {
  const ran = await runner({
    databaseUrl,
    dir: fileURLToPath(new URL('../migrations', import.meta.url)),
    migrationsTable: 'pgmigrations',
    direction: 'up',
    // A feature turned on later (create-vps-stack --upgrade) adds migrations that may sort before ones already run.
    checkOrder: false,
    // All pending migrations commit together or not at all; an advisory lock stops a second runner.
    singleTransaction: true,
    logger: { debug: () => {}, info: (msg) => log.info(msg), warn: (msg) => log.warn(msg), error: (msg) => log.error(msg) },
  });
  log.info('migrations done', { ran: ran.map((migration) => migration.name) });
} catch (error) {
  log.error('migrations failed', errorFields(error));
  process.exitCode = 1;
}
