// Writes are limited per client IP (taken from nginx's X-Forwarded-For, see trust proxy) in a
// fixed one-minute window kept in Redis, so every replica shares the count. Reads stay unlimited.
import type { RequestHandler } from 'express';
import type { Redis } from 'ioredis';
import { errorFields, log } from './log.ts';
import { withTimeout } from './timeout.ts';

const WINDOW_SECONDS = 60;
const MAX_WRITES_PER_WINDOW = 60;
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export function rateLimitWrites(redis: Redis): RequestHandler {
  return async (req, res, next) => {
    if (SAFE_METHODS.has(req.method)) return next();
    const window = Math.floor(Date.now() / 1000 / WINDOW_SECONDS);
    const key = `ratelimit:${req.ip}:${window}`;
    let count: number;
    try {
      const results = await withTimeout(redis.multi().incr(key).expire(key, WINDOW_SECONDS).exec(), 250, 'rate limit');
      count = Number(results?.[0]?.[1]);
    } catch (error) {
      // The limiter failing must not take the API down with it: let the request through.
      log.warn('rate limit skipped, redis unavailable', errorFields(error));
      return next();
    }
    res.set('RateLimit-Policy', `${MAX_WRITES_PER_WINDOW};w=${WINDOW_SECONDS}`);
    if (count > MAX_WRITES_PER_WINDOW) {
      res.set('Retry-After', String(WINDOW_SECONDS - (Math.floor(Date.now() / 1000) % WINDOW_SECONDS)));
      res.status(429).json({ error: 'too many requests' });
      return;
    }
    next();
  };
}
