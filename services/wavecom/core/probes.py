"""A process's own HTTP endpoint: Prometheus metrics and the kubelet's probes (every worker's,
and the API's metrics port, where only /metrics and /healthz are served).

``GET /metrics``  the process's Prometheus registry.
``GET /healthz``  liveness: 200 whenever the event loop answers. The server runs on the worker's
                  own loop, so a loop blocked or wedged fails the probe and the kubelet restarts
                  the pod; a broker or database outage does not (restarting would not mend it).
``GET /readyz``   readiness: 200 while the worker consumes its lanes, 503 with the reason while
                  it starts, has lost its broker connection, has no usable provider account
                  for its channel (it does not consume then), or drains after SIGTERM. With
                  ``maxUnavailable: 0`` a rollout waits for the new pod to consume before it
                  stops an old one.

A plain asyncio server (HTTP/1.0 answers, one request per connection) rather than
prometheus-client's threaded one: that thread would answer even with the loop stuck.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

log = logging.getLogger("wavecom.probes")

# why the process is not ready, or None when it is
Readiness = Callable[[], str | None]

_MAX_HEAD = 8192  # bytes of request line and headers read before giving up
_READ_TIMEOUT_S = 5.0
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
_REASONS[503] = "Service Unavailable"


class ProbeServer:
    """Serves /metrics, /healthz and /readyz on ``host:port`` from the running loop; without
    ``readiness``, /readyz is not served (the API's readiness is on its own port)."""

    def __init__(self, readiness: Readiness | None = None) -> None:
        self.readiness = readiness
        self.targets = (b"/metrics", b"/healthz") + ((b"/readyz",) if readiness else ())
        self._server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen; returns the port (useful with port 0)."""
        self._server = await asyncio.start_server(self._handle, host, port)
        bound = int(self._server.sockets[0].getsockname()[1])
        log.info("metrics and probes on %s:%d", host, bound)
        return bound

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _READ_TIMEOUT_S)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            await _close(writer)
            return
        status, content_type, body = self.answer(head[:_MAX_HEAD])
        length = len(body)
        if head.startswith(b"HEAD "):
            body = b""
        writer.write(
            f"HTTP/1.0 {status} {_REASONS[status]}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {length}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        with contextlib.suppress(OSError):
            await writer.drain()
        await _close(writer)

    def answer(self, head: bytes) -> tuple[int, str, bytes]:
        """(status, content type, body) for a request's head."""
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or not parts[2].startswith(b"HTTP/"):
            return 400, "text/plain", b"bad request line\n"
        method, target = parts[0], parts[1].split(b"?", 1)[0]
        if target not in self.targets:
            return 404, "text/plain", b"not found: try " + b" or ".join(self.targets) + b"\n"
        if method not in (b"GET", b"HEAD"):
            return 405, "text/plain", b"only GET\n"
        if target == b"/metrics":
            return 200, CONTENT_TYPE_LATEST, generate_latest(REGISTRY)
        if target == b"/healthz":
            return 200, "text/plain", b"ok\n"
        reason = self.readiness() if self.readiness else None
        if reason is None:
            return 200, "text/plain", b"ready\n"
        return 503, "text/plain", f"not ready: {reason}\n".encode()


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
