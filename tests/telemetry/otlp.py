"""A local OTLP/HTTP receiver for tests: what real processes export, decoded from protobuf.

``async with Receiver() as receiver:`` listens on a free loopback port; point a process at it
with ``OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url``; ``receiver.spans`` is everything received.
"""

from __future__ import annotations

import asyncio
import gzip
import signal
import sys

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.support.services import free_port
from tests.telemetry.spans import Span

_KINDS = {1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}


def _value(v: AnyValue) -> object:
    field = v.WhichOneof("value")
    return getattr(v, field) if field else None


class Receiver:
    """Accepts ``POST /v1/traces`` (OTLP/HTTP, binary protobuf, gzip or not)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.spans: list[Span] = []
        self.resources: list[dict[str, object]] = []  # each export's resource attributes
        self.requests = 0
        self._runner: web.AppRunner | None = None

    async def _traces(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest.FromString(body)
        self.requests += 1
        for resource_spans in export.resource_spans:
            resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
            self.resources.append(resource)
            service = str(resource.get("service.name", ""))
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    self.spans.append(
                        Span(
                            name=s.name,
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_id=s.parent_span_id.hex(),
                            kind=_KINDS.get(s.kind, str(s.kind)),
                            attributes={a.key: _value(a.value) for a in s.attributes},
                            links=tuple((lk.trace_id.hex(), lk.span_id.hex()) for lk in s.links),
                            service=service,
                            status_error=s.status.code == 2,
                            start_ns=s.start_time_unix_nano,
                        )
                    )
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/v1/traces", self._traces)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def _sink(port: int) -> None:
    """Receive and count, never keep: a stand-in collector for the benchmark's traced runs."""
    counted = {"requests": 0, "spans": 0}

    async def traces(request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        export = ExportTraceServiceRequest.FromString(body)
        counted["requests"] += 1
        counted["spans"] += sum(
            len(ss.spans) for rs in export.resource_spans for ss in rs.scope_spans
        )
        return web.Response(
            body=ExportTraceServiceResponse().SerializeToString(),
            content_type="application/x-protobuf",
        )

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    print(f"OTLP/HTTP sink on http://127.0.0.1:{port} (SIGINT or SIGTERM stops it)", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    await stop.wait()
    print(f"received {counted['spans']} spans in {counted['requests']} exports", flush=True)
    await runner.cleanup()


if __name__ == "__main__":
    # python -m tests.telemetry.otlp [port]: the sink the benchmark's traced runs export to
    asyncio.run(_sink(int(sys.argv[1]) if len(sys.argv) > 1 else 4318))
