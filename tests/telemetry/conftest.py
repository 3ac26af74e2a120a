"""Tracing on in-process: an SDK provider with the in-memory exporter, sampling everything."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from pymongo import monitoring

from tests.support.processes import serve
from tests.telemetry.spans import Span
from wavecom.core import telemetry
from wavecom.core.settings import Settings

Finished = Callable[[], list[Span]]


def _span(s: ReadableSpan) -> Span:
    ctx = s.context
    assert ctx is not None
    return Span(
        name=s.name,
        trace_id=f"{ctx.trace_id:032x}",
        span_id=f"{ctx.span_id:016x}",
        parent_id=f"{s.parent.span_id:016x}" if s.parent is not None else "",
        kind=s.kind.name,
        attributes=dict(s.attributes or {}),
        links=tuple(
            (f"{link.context.trace_id:032x}", f"{link.context.span_id:016x}") for link in s.links
        ),
        status_error=not s.status.is_ok,
        start_ns=s.start_time or 0,
    )


_listening: list[monitoring.CommandListener] = []


@pytest.fixture
def provider() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    """Tracing on for this test (every span sampled), off again after it; MongoDB clients made
    from now on get the command listener, as :func:`telemetry.setup` registers it (it makes
    nothing while tracing is off)."""
    if not _listening:
        _listening.append(telemetry.CommandSpans())
        monitoring.register(_listening[0])
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ALWAYS_ON)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.use(provider)
    yield provider, exporter
    telemetry.use(None)
    provider.shutdown()


@pytest.fixture
def finished(provider: tuple[TracerProvider, InMemorySpanExporter]) -> Finished:
    """``finished()``: every span ended so far."""
    _, exporter = provider

    def read() -> list[Span]:
        return [_span(s) for s in exporter.get_finished_spans()]

    return read


@pytest.fixture
async def traced_api(
    provider: object, worker_settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """The API in-process with tracing on (its request spans included)."""
    async with serve(worker_settings) as http:
        yield http
