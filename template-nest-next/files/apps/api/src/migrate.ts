// One-off migration run: `npm run migrate` (node dist/migrate.js) before a deploy swaps containers.
// The API never migrates on start: two replicas racing, or a crash loop on a bad migration, is worse.
// Pending migrations run in one transaction under Kysely's lock: all or nothing, one runner at a time.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Logger } from '@nestjs/common';
import { FileMigrationProvider, Migrator } from 'kysely/migration';
import { ENV, migrateSchema, validator } from './config/env.js';
import { createDb } from './database/database.module.js';
import { createLogger, exitOnStartupError } from './logger.js';

const logger = createLogger('migrate');
Logger.overrideLogger(logger);

const env = (() => {
  try {
    return validator(migrateSchema)(process.env);
  } catch (error) {
    return exitOnStartupError(logger, error);
  }
})();

const db = createDb(env[ENV.databaseUrl], { applicationName: 'migrate', poolSize: 1 }, logger);
const migrator = new Migrator({
  db,
  provider: new FileMigrationProvider({ fs, path, migrationFolder: fileURLToPath(new URL('./database/migrations', import.meta.url)) }),
  // Names scripts/verify-backup.sh looks for.
  migrationTableName: 'schema_migrations',
  migrationLockTableName: 'schema_migrations_lock',
  // Feature migrations (a later --upgrade turning a feature on) may sort before ones already run.
  allowUnorderedMigrations: true,
});

try {
  const { error, results = [] } = await migrator.migrateToLatest();
  for (const result of results) {
    const entry = { migration: result.migrationName, direction: result.direction, status: result.status };
    if (result.status === 'Error') logger.error(entry);
    else logger.log(entry);
  }
  if (error) throw error;
  logger.log({ msg: 'migrations done', ran: results.filter((r) => r.status === 'Success').map((r) => r.migrationName) });
} catch (error) {
  logger.error(`migrations failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
} finally {
  await db.destroy();
}
