// Writes are limited per client address (req.ip: nginx's X-Forwarded-For, see trust proxy in
// main.ts) in a fixed one-minute window kept in Redis, so every API replica shares the count.
// Reads stay unlimited; nginx's limit_req covers floods of any kind.
import { HttpException, HttpStatus, Injectable, Logger, type CanActivate, type ExecutionContext } from '@nestjs/common';
import type { Request, Response } from 'express';
import { Redis } from 'ioredis';
import { withTimeout } from '../common/with-timeout.js';
import { InjectRedis } from './redis.module.js';

const WINDOW_SECONDS = 60;
const MAX_WRITES_PER_WINDOW = 60;
const REDIS_TIMEOUT_MS = 250;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

@Injectable()
export class RateLimitGuard implements CanActivate {
  private readonly logger = new Logger(RateLimitGuard.name);

  constructor(@InjectRedis() private readonly redis: Redis) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const http = context.switchToHttp();
    const req = http.getRequest<Request>();
    if (SAFE_METHODS.has(req.method)) return true;
    const window = Math.floor(Date.now() / 1000 / WINDOW_SECONDS);
    const key = `ratelimit:${req.ip}:${window}`;
    let count: number;
    try {
      const results = await withTimeout(this.redis.multi().incr(key).expire(key, WINDOW_SECONDS).exec(), REDIS_TIMEOUT_MS, 'rate limit');
      count = Number(results?.[0]?.[1]);
    } catch (error) {
      // The limiter failing must not take the API down with it: let the request through.
      this.logger.warn(`rate limit skipped, redis unavailable: ${error instanceof Error ? error.message : String(error)}`);
      return true;
    }
    const res = http.getResponse<Response>();
    res.setHeader('RateLimit-Policy', `${MAX_WRITES_PER_WINDOW};w=${WINDOW_SECONDS}`);
    if (count > MAX_WRITES_PER_WINDOW) {
      res.setHeader('Retry-After', String(WINDOW_SECONDS - (Math.floor(Date.now() / 1000) % WINDOW_SECONDS)));
      throw new HttpException('too many requests', HttpStatus.TOO_MANY_REQUESTS);
    }
    return true;
  }
}
