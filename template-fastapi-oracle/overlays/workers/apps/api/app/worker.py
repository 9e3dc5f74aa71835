"""The task worker: runs the jobs the api enqueues, from Redis, with rq.

    python -m app.worker

Each job runs in a forked process (a crash or a leak ends with the job); failed jobs are retried
by rq's scheduler, which this worker runs too. SIGTERM (docker stop) lets the current job finish.
"""
from __future__ import annotations

import inspect
import logging
import os
import socket

from redis import Redis
from rq import Worker

from .log import configure_logging
from .queue import QUEUE_NAME, WORKER_TTL_SECONDS, job_queue
from .settings import exit_on_config_error, load_worker_settings

log = logging.getLogger("app.worker")


def build_worker(connection: Redis) -> Worker:
    # rq 2 renamed default_worker_ttl to worker_ttl; Debian 12's rq 1.13 knows only the old name.
    parameters = inspect.signature(Worker.__init__).parameters
    ttl = {"worker_ttl": WORKER_TTL_SECONDS} if "worker_ttl" in parameters else {"default_worker_ttl": WORKER_TTL_SECONDS}
    # The container's hostname in the name: its healthcheck (app.worker_health) looks for it.
    name = f"{socket.gethostname()}.{os.getpid()}"
    return Worker([job_queue(connection)], connection=connection, name=name, **ttl)


def main() -> None:
    settings = exit_on_config_error(load_worker_settings)
    configure_logging(settings.log_level)
    connection = Redis.from_url(settings.redis_url, socket_connect_timeout=5, health_check_interval=30, client_name="worker")
    worker = build_worker(connection)
    log.info("worker starting", extra={"queue": QUEUE_NAME, "worker": worker.name})
    worker.work(with_scheduler=True, logging_level=settings.log_level.upper().replace("WARN", "WARNING"))


if __name__ == "__main__":
    main()
