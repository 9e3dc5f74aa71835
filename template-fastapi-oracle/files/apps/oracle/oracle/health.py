"""Container healthcheck: asks the oracle for its health over the standard protocol
(grpc.health.v1.Health/Check) and exits 0 only when it answers SERVING.

    python -m oracle.health [host:port]     (default: 127.0.0.1 and this container's port)
"""
from __future__ import annotations

import sys

import grpc

from oracle_rpc import health_pb2, health_pb2_grpc

from .config import settings_or_exit

TIMEOUT_SECONDS = 3


def main(argv: list[str]) -> int:
    target = argv[1] if len(argv) > 1 else f"127.0.0.1:{settings_or_exit().port}"
    with grpc.insecure_channel(target) as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=TIMEOUT_SECONDS)
        except grpc.RpcError as error:
            print(f"oracle at {target}: {error.code().name} {error.details() or ''}".rstrip(), file=sys.stderr)
            return 1
    status = health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status)
    print(f"oracle at {target}: {status}")
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
