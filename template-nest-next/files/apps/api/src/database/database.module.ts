// Postgres through Kysely (a typed query builder on node-postgres): one pool per process,
// closed on shutdown.
import { Global, Inject, Logger, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { ConfigService } from '@nestjs/config';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { ENV, type MigrateEnv } from '../config/env.js';
import type { Database } from './schema.js';

export const DB = Symbol('DB');
export type Db = Kysely<Database>;
export const InjectDb = (): PropertyDecorator & ParameterDecorator => Inject(DB);

export interface DatabaseOptions {
  /** Shown in pg_stat_activity. */
  applicationName: string;
  /** Connections this process holds at most. */
  poolSize: number;
}

export function createDb(connectionString: string, options: DatabaseOptions, logger: Pick<Logger, 'warn'>): Db {
  const pool = new pg.Pool({
    connectionString,
    max: options.poolSize,
    // Fail a request instead of queueing it forever when every connection is busy or Postgres is down.
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
    application_name: options.applicationName,
  });
  // An idle client whose connection drops (Postgres restart) emits here; unhandled, it would kill the process.
  pool.on('error', (error) => logger.warn(`postgres: idle client error: ${error.message}`));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

@Global()
@Module({})
export class DatabaseModule implements OnApplicationShutdown {
  constructor(@InjectDb() private readonly db: Db) {}

  static forRoot(options: DatabaseOptions): DynamicModule {
    return {
      module: DatabaseModule,
      providers: [
        {
          provide: DB,
          inject: [ConfigService],
          useFactory: (config: ConfigService<MigrateEnv, true>) =>
            createDb(config.get(ENV.databaseUrl, { infer: true }), options, new Logger('Database')),
        },
      ],
      exports: [DB],
    };
  }

  async onApplicationShutdown(): Promise<void> {
    await this.db.destroy();
  }
}
