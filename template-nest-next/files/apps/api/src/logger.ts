// One JSON object per line (Nest's ConsoleLogger in json mode): Docker's log driver keeps lines
// whole and any shipper parses them without guessing a format.
import { ConsoleLogger, type LogLevel as NestLogLevel } from '@nestjs/common';
import { ConfigError, ENV, LOG_LEVELS, type LogLevel } from './config/env.js';

const NEST_LEVELS: Record<LogLevel, NestLogLevel[]> = {
  debug: ['fatal', 'error', 'warn', 'log', 'debug'],
  info: ['fatal', 'error', 'warn', 'log'],
  warn: ['fatal', 'error', 'warn'],
  error: ['fatal', 'error'],
};

/**
 * The process's logger, at the level in the environment. It exists before ConfigModule has
 * validated anything, so an unknown level falls back to info here (and fails validation right after).
 */
export function createLogger(context: string): ConsoleLogger {
  const raw = process.env[ENV.logLevel]?.trim() ?? '';
  const level: LogLevel = (LOG_LEVELS as readonly string[]).includes(raw) ? (raw as LogLevel) : 'info';
  return new ConsoleLogger(context, { json: true, logLevels: NEST_LEVELS[level] });
}

/** A failed start: which variable is wrong (or what broke), then exit 1 so compose restarts and the deploy stops. */
export function exitOnStartupError(logger: ConsoleLogger, error: unknown): never {
  if (error instanceof ConfigError) {
    logger.fatal(error.message);
  } else {
    logger.fatal(error instanceof Error ? (error.stack ?? error.message) : String(error));
  }
  process.exit(1);
}
