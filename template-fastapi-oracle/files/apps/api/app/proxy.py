"""Client address and scheme from nginx's X-Forwarded-* headers, believed only from a trusted hop.

nginx sits on the stack's private compose network and sets X-Forwarded-For to exactly the address
it saw (snippets/proxy.conf). Connections from loopback and private addresses (the compose
networks; the api publishes no port, so nothing else reaches it) are trusted; from anywhere else
the headers are ignored and cannot forge an address. Works the same on every uvicorn version
(older ones take no network ranges in --forwarded-allow-ips).
"""
from __future__ import annotations

import ipaddress
from typing import Any, Awaitable, Callable, Iterable, List, Optional, Union

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

TRUSTED_NETWORKS = ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")


def _address(value: str) -> Optional[Union[ipaddress.IPv4Address, ipaddress.IPv6Address]]:
    try:
        return ipaddress.ip_address(value.strip().strip("[]"))
    except ValueError:
        return None


class TrustedProxyHeaders:
    def __init__(self, app: Callable[..., Awaitable[None]], trusted: Iterable[str] = TRUSTED_NETWORKS) -> None:
        self.app = app
        self.trusted: List[Network] = [ipaddress.ip_network(n) for n in trusted]

    def _is_trusted(self, host: Optional[str]) -> bool:
        address = _address(host) if host else None
        return address is not None and any(address in network for network in self.trusted)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            client = scope.get("client")
            if client and self._is_trusted(client[0]):
                headers = {key.lower(): value for key, value in scope.get("headers", [])}
                scope = dict(scope)
                forwarded_for = headers.get(b"x-forwarded-for")
                if forwarded_for:
                    # The last entry is the one our nginx added; earlier ones are client-supplied.
                    last = forwarded_for.decode("latin-1").split(",")[-1]
                    if _address(last) is not None:
                        scope["client"] = (last.strip(), 0)
                proto = headers.get(b"x-forwarded-proto", b"").decode("latin-1").strip().lower()
                if proto in ("http", "https"):
                    secure = proto == "https"
                    scope["scheme"] = ("wss" if secure else "ws") if scope["type"] == "websocket" else proto
        await self.app(scope, receive, send)
