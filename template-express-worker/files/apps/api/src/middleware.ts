import type { ErrorRequestHandler, RequestHandler } from 'express';
import { HttpError } from './http.ts';
import { errorFields, log } from './log.ts';

/** One log line per finished request; paths under `quietPrefix` (health polls) log at debug. */
export function requestLog(quietPrefix: string): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Math.round(Number(process.hrtime.bigint() - started) / 1e6);
      const level = req.path.startsWith(quietPrefix) ? 'debug' : 'info';
      log[level]('request', { method: req.method, path: req.originalUrl, status: res.statusCode, ms, ip: req.ip });
    });
    next();
  };
}

export const notFound: RequestHandler = () => {
  throw new HttpError(404, 'not found');
};

export const errorHandler: ErrorRequestHandler = (error, req, res, next) => {
  // HttpError, and body-parser's errors (bad JSON, body too large), carry a status and a message for the client.
  const status = error instanceof HttpError ? error.status : Number(error?.status ?? error?.statusCode);
  if (error instanceof HttpError || (status >= 400 && status < 500)) {
    if (status >= 500) log.warn(error.message, { method: req.method, path: req.originalUrl, ...errorFields(error.cause) });
    res.status(status).json({ error: error.message });
    return;
  }
  log.error('unhandled error', { method: req.method, path: req.originalUrl, ...errorFields(error) });
  // Mid-stream: let Express close the connection.
  if (res.headersSent) return next(error);
  res.status(500).json({ error: 'internal error' });
};
