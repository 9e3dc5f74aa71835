// One log line per finished request; liveness polls log at debug only.
import type { LoggerService } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';

export function requestLog(logger: LoggerService, quietPaths: readonly string[]) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const ms = Math.round(Number(process.hrtime.bigint() - started) / 1e6);
      // req.ip is the client's address: trust proxy (main.ts) takes it from nginx's X-Forwarded-For.
      const entry = { method: req.method, path: req.originalUrl, status: res.statusCode, ms, ip: req.ip };
      if (quietPaths.includes(req.path)) logger.debug?.(entry, 'Request');
      else logger.log(entry, 'Request');
    });
    next();
  };
}
