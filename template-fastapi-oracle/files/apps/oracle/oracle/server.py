"""The oracle's gRPC server: the Oracle service, the standard health service (grpc.health.v1) and
Prometheus metrics on a second port. Both ports are reachable only on the stack's internal network.

    python -m oracle.server

SIGTERM (docker stop) or SIGINT: the health service turns NOT_SERVING, new RPCs are refused, RPCs in
flight get GRACE_SECONDS to finish, then the process exits 0.
"""
from __future__ import annotations

import logging
import signal
import threading
import time
from concurrent import futures
from typing import Iterator

import grpc
from prometheus_client import Counter, Gauge, Histogram, start_http_server

from oracle_rpc import health_pb2, health_pb2_grpc, oracle_pb2, oracle_pb2_grpc

from . import analysis
from .config import GRACE_SECONDS, MAX_CONCURRENT_RPCS, THREADS, settings_or_exit
from .log import configure_logging

log = logging.getLogger("oracle")

SERVICE_NAME = "oracle.v1.Oracle"
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN

RPCS = Counter("oracle_rpcs_total", "RPCs answered, by method and status code", ["method", "code"])
LATENCY = Histogram("oracle_rpc_duration_seconds", "Time spent answering an RPC", ["method"])
IN_FLIGHT = Gauge("oracle_rpcs_in_flight", "RPCs being answered now")


class OracleService(oracle_pb2_grpc.OracleServicer):
    def Analyze(self, request: oracle_pb2.AnalyzeRequest, context: grpc.ServicerContext) -> oracle_pb2.AnalyzeResponse:
        started = time.perf_counter()
        IN_FLIGHT.inc()
        try:
            try:
                result = analysis.analyze(request.text, request.top)
            except ValueError as error:
                RPCS.labels("Analyze", "INVALID_ARGUMENT").inc()
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
            RPCS.labels("Analyze", "OK").inc()
            return oracle_pb2.AnalyzeResponse(
                words=result["words"],
                unique_words=result["unique_words"],
                sentences=result["sentences"],
                lexical_density=result["lexical_density"],
                top_terms=[oracle_pb2.TermCount(term=t["term"], count=t["count"]) for t in result["top_terms"]],
                sha256=result["sha256"],
            )
        finally:
            IN_FLIGHT.dec()
            LATENCY.labels("Analyze").observe(time.perf_counter() - started)


class HealthService(health_pb2_grpc.HealthServicer):
    """grpc.health.v1: "" is the server as a whole, SERVICE_NAME the Oracle service."""

    def __init__(self) -> None:
        self._status = {"": SERVING, SERVICE_NAME: SERVING}
        self._changed = threading.Condition()

    def set_all(self, status: int) -> None:
        with self._changed:
            for name in self._status:
                self._status[name] = status
            self._changed.notify_all()

    def Check(self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext) -> health_pb2.HealthCheckResponse:
        with self._changed:
            status = self._status.get(request.service)
        if status is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    def Watch(self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext) -> Iterator[health_pb2.HealthCheckResponse]:
        last = None
        while context.is_active():
            with self._changed:
                status = self._status.get(request.service, SERVICE_UNKNOWN)
                if status == last:
                    # Wake up now and then to notice a cancelled stream.
                    self._changed.wait(timeout=5)
                    continue
            last = status
            yield health_pb2.HealthCheckResponse(status=status)


def serve() -> int:
    settings = settings_or_exit()
    configure_logging(settings.log_level)

    health = HealthService()
    executor = futures.ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="rpc")
    server = grpc.server(
        executor,
        # Beyond this many RPCs at once new ones get RESOURCE_EXHAUSTED at once (the api then
        # computes in-process) instead of queueing behind a backlog.
        maximum_concurrent_rpcs=MAX_CONCURRENT_RPCS,
        options=[
            # Fail to start when the port is taken, instead of silently sharing it.
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", 4 * analysis.MAX_TEXT_CHARS + 1024),
        ],
    )
    oracle_pb2_grpc.add_OracleServicer_to_server(OracleService(), server)
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    address = f"{settings.host}:{settings.port}"
    if server.add_insecure_port(address) == 0:
        log.error("cannot listen", extra={"address": address})
        return 1
    start_http_server(settings.metrics_port, addr=settings.host)
    server.start()
    log.info("oracle listening", extra={"address": address, "metrics_port": settings.metrics_port, "threads": THREADS})

    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        log.info("shutting down", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    while not stop.wait(timeout=1):
        pass

    health.set_all(NOT_SERVING)
    server.stop(GRACE_SECONDS).wait()
    executor.shutdown(wait=False)
    log.info("stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(serve())
