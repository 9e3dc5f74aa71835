"""Container healthcheck of the worker: an rq worker from this container is registered in Redis
and its heartbeat is recent (an idle worker re-registers every WORKER_TTL_SECONDS - 15 s, a busy one
every job-monitoring interval). Exits 0 when healthy.

    python -m app.worker_health
"""
from __future__ import annotations

import socket
import sys
from datetime import datetime, timezone

from redis import Redis
from redis.exceptions import RedisError
from rq import Worker

from .queue import WORKER_TTL_SECONDS
from .settings import exit_on_config_error, load_worker_settings

# rq's busy workers heartbeat every 30 s (job monitoring); allow a few missed beats either way.
MAX_AGE_SECONDS = max(WORKER_TTL_SECONDS, 30) * 3


def main() -> int:
    settings = exit_on_config_error(load_worker_settings)
    connection = Redis.from_url(settings.redis_url, socket_timeout=3, socket_connect_timeout=3)
    host = socket.gethostname()
    try:
        workers = [w for w in Worker.all(connection=connection) if (w.name or "").startswith(f"{host}.")]
    except RedisError as error:
        print(f"worker health: redis unavailable ({type(error).__name__})", file=sys.stderr)
        return 1
    beats = [w.last_heartbeat for w in workers if w.last_heartbeat is not None]
    if not beats:
        print(f"worker health: no rq worker from {host} is registered", file=sys.stderr)
        return 1
    newest = max(b if b.tzinfo else b.replace(tzinfo=timezone.utc) for b in beats)
    age = (datetime.now(timezone.utc) - newest).total_seconds()
    if age > MAX_AGE_SECONDS:
        print(f"worker health: last heartbeat {age:.0f} s ago", file=sys.stderr)
        return 1
    print(f"worker health: ok (heartbeat {age:.0f} s ago)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
