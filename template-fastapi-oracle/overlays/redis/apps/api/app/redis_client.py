"""The api's Redis client (readiness, the write rate limit, and the job queue when workers are on)."""
from __future__ import annotations

from redis import Redis


def create_redis(url: str) -> Redis:
    # Short timeouts: while Redis is down a command fails fast and the request gets a prompt
    # answer (a 503, or the rate limit skipped) instead of hanging; readiness reports it.
    return Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, health_check_interval=30, client_name="api")
