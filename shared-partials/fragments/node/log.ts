// One JSON object per line on stdout: Docker's log driver keeps lines whole and any
// shipper parses them without guessing a format.
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

type Fields = Record<string, unknown>;

let threshold = LOG_LEVELS.indexOf('info');

export function setLogLevel(level: LogLevel): void {
  threshold = LOG_LEVELS.indexOf(level);
}

function write(level: LogLevel, msg: string, fields?: Fields): void {
  if (LOG_LEVELS.indexOf(level) < threshold) return;
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
}

export const log = {
  debug: (msg: string, fields?: Fields) => write('debug', msg, fields),
  info: (msg: string, fields?: Fields) => write('info', msg, fields),
  warn: (msg: string, fields?: Fields) => write('warn', msg, fields),
  error: (msg: string, fields?: Fields) => write('error', msg, fields),
};

/** An error as log fields (Error objects serialise to {} with JSON.stringify). */
export function errorFields(error: unknown): Fields {
  if (!(error instanceof Error)) return { err: { message: String(error) } };
  return { err: { name: error.name, message: error.message, stack: error.stack } };
}
