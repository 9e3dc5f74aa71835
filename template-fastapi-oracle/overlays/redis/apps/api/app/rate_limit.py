"""Writes are limited per client address (from nginx's X-Forwarded-For, see app/proxy.py) in a fixed
one-minute window kept in Redis, so every gunicorn worker and replica shares the count. Reads stay
unlimited. If Redis fails the request goes through: the limiter must not take the api down."""
from __future__ import annotations

import logging
import time
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse

log = logging.getLogger("app.rate_limit")

WINDOW_SECONDS = 60
MAX_WRITES_PER_WINDOW = 60
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


class RateLimitWrites:
    def __init__(self, app: Any, redis: Redis) -> None:
        self.app = app
        self.redis = redis

    def _count(self, key: str) -> int:
        pipe = self.redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, WINDOW_SECONDS)
        return int(pipe.execute()[0])

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("unknown", 0)
        now = int(time.time())
        key = f"ratelimit:{client[0]}:{now // WINDOW_SECONDS}"
        try:
            count = await run_in_threadpool(self._count, key)
        except RedisError as error:
            log.warning("rate limit skipped, redis unavailable", extra={"error": type(error).__name__})
            await self.app(scope, receive, send)
            return
        if count > MAX_WRITES_PER_WINDOW:
            retry_after = WINDOW_SECONDS - now % WINDOW_SECONDS
            response = JSONResponse(
                {"error": "too many requests"},
                status_code=429,
                headers={"Retry-After": str(retry_after), "RateLimit-Policy": f"{MAX_WRITES_PER_WINDOW};w={WINDOW_SECONDS}"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
