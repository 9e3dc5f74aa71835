// The worker process: the same image as the API, started as `node dist/worker.js`. It consumes
// the job queue and runs the cron jobs. No HTTP server, and nothing here runs in the API: with
// two API replicas a cron in the API would run twice.
import { NestFactory } from '@nestjs/core';
import { validator, workerSchema } from './config/env.js';
import { createLogger, exitOnStartupError } from './logger.js';

const logger = createLogger('worker');

async function bootstrap(): Promise<void> {
  // Fail fast: every missing or malformed variable, by name, before anything is built (and before
  // WorkerModule is imported: its ConfigModule.forRoot() validates again on import).
  validator(workerSchema)(process.env);
  const { WorkerModule } = await import('./worker/worker.module.js');
  const app = await NestFactory.createApplicationContext(WorkerModule, { logger, abortOnError: false });
  // SIGTERM: take no new jobs, let running ones finish (BullMQ), stop the crons, close the pools.
  app.enableShutdownHooks();
  logger.log('worker started', 'Bootstrap');
}

bootstrap().catch((error: unknown) => exitOnStartupError(logger, error));
