"""Traces: OpenTelemetry, configured only from the standard ``OTEL_*`` variables.

Tracing is on when an OTLP endpoint is set (``OTEL_EXPORTER_OTLP_ENDPOINT``, or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``). Then :func:`setup` installs an SDK ``TracerProvider``
whose batch processor exports OTLP over HTTP/protobuf; the SDK itself reads
``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``, ``OTEL_TRACES_SAMPLER``/``_ARG`` (default
``parentbased_always_on``), ``OTEL_BSP_*`` and the exporter's headers, timeout and compression.
``OTEL_EXPORTER_OTLP_PROTOCOL=grpc`` (or ``http/json``) is refused at start-up: only the
HTTP/protobuf exporter is installed. ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``
turn tracing off whatever else is set.

Off (no endpoint), nothing is installed: no provider, no span, no header, no MongoDB listener;
every helper here returns at its first line, so a message costs one boolean test.

The AMQP propagation is done here by hand (the contrib aio-pika instrumentation declares
``aio_pika < 10``): :func:`inject` writes the W3C ``traceparent`` (and ``tracestate``, and
baggage, per ``OTEL_PROPAGATORS``) into a message's headers, :func:`extract` reads it back. A
job carries the traceparent of the span it continues (``DeliveryJob.trace``), and a
notification document stores the one of its latest trace (``traceparent``), so a relay, a
retry or a replay publishes in (or links to) the trace the notification belongs to.

MongoDB commands get CLIENT spans from :class:`CommandSpans`, a PyMongo command listener
registered for every client. It is this project's own: the contrib pymongo instrumentation's
newest release (0.66b1) pins semantic conventions 0.66b1, and the SDK we run (1.45.2) pins 0.66b2.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.metrics import NoOpMeterProvider
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import (
    INVALID_SPAN,
    Link,
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    TraceFlags,
    Tracer,
    TracerProvider,
)
from opentelemetry.trace.status import Status, StatusCode
from pymongo import monitoring

from wavecom import __version__
from wavecom.core.errors import TracingMisconfigured

log = logging.getLogger("wavecom.telemetry")

_ENABLED = False
_provider: TracerProvider | None = None
_tracer: Tracer = trace.NoOpTracer()
_SUPPORTED_PROTOCOLS = ("http/protobuf", "")


def enabled() -> bool:
    """Whether spans are being made (an exporter is configured, or a test installed one)."""
    return _ENABLED


def tracer() -> Tracer:
    return _tracer


def endpoint_configured(env: Mapping[str, str] = os.environ) -> bool:
    """True when the standard variables ask for traces to be exported."""
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
        or env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    )


def setup(service: str, env: Mapping[str, str] = os.environ, **resource: str) -> bool:
    """Install tracing for this process when the environment asks for it; True if it did.

    ``service`` is the default ``service.name`` (``OTEL_SERVICE_NAME`` or a ``service.name`` in
    ``OTEL_RESOURCE_ATTRIBUTES`` win); ``resource`` adds attributes of this process. Call it
    before any database client is created (the command listener applies to later clients).
    Raises :class:`TracingMisconfigured` for an exporter protocol this build does not have.
    """
    if not endpoint_configured(env):
        return False
    exporter = env.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower()
    if exporter not in ("otlp", ""):
        raise TracingMisconfigured(
            f"OTEL_TRACES_EXPORTER={exporter} is not supported: set otlp (the default) or none"
        )
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or env.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    ).strip()
    if protocol not in _SUPPORTED_PROTOCOLS:
        raise TracingMisconfigured(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol} is not supported: this build exports OTLP "
            "over HTTP/protobuf only (set http/protobuf, or leave it unset, and point "
            "OTEL_EXPORTER_OTLP_ENDPOINT at the collector's HTTP port, usually 4318)"
        )
    detected = Resource.create({"service.version": __version__, **resource})
    if str(detected.attributes.get("service.name", "")).startswith("unknown_service"):
        detected = detected.merge(Resource({"service.name": service}))
    provider = SdkTracerProvider(resource=detected)  # the sampler from OTEL_TRACES_SAMPLER
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    use(provider)
    monitoring.register(CommandSpans())
    log.info(
        "tracing: exporting to %s as %s (sampler %s)",
        env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"),
        detected.attributes.get("service.name"),
        env.get("OTEL_TRACES_SAMPLER", "parentbased_always_on"),
    )
    return True


def use(provider: TracerProvider | None) -> None:
    """Make spans with ``provider`` from now on (None: stop making any). Tests install an SDK
    provider with an in-memory exporter this way, without touching the global provider."""
    global _ENABLED, _provider, _tracer
    _ENABLED = provider is not None
    _provider = provider
    _tracer = (
        provider.get_tracer("wavecom", __version__) if provider is not None else trace.NoOpTracer()
    )


def shutdown() -> None:
    """Export what is buffered (the SDK also does it at exit)."""
    flush = getattr(_provider, "shutdown", None)
    if flush is not None:
        flush()


# --- spans ------------------------------------------------------------------------------------


def start_span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: Context | None = None,
    links: Sequence[Link] = (),
    attributes: Mapping[str, str | int | bool] | None = None,
) -> Span:
    """A span (not made current), a child of ``parent`` or else of the current span; the
    invalid no-op span when tracing is off."""
    if not _ENABLED:
        return INVALID_SPAN
    return _tracer.start_span(name, parent, kind, attributes, links)


def start_root(
    name: str,
    links: Sequence[Link],
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, str | int | bool] | None = None,
) -> Span:
    """A span of its own trace linking to ``links``: the shape of work done once for many
    traces (a group commit, a batch). Not made when none of the linked contexts is sampled."""
    if not _ENABLED or not any(link.context.trace_flags.sampled for link in links):
        return INVALID_SPAN
    return _tracer.start_span(name, Context(), kind, attributes, links)


@contextlib.contextmanager
def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, str | int | bool] | None = None,
) -> Iterator[Span]:
    """A span made current for the block, a child of the current one; an exception leaving
    the block is recorded on it. Nothing at all when tracing is off."""
    if not _ENABLED:
        yield INVALID_SPAN
        return
    with _tracer.start_as_current_span(name, kind=kind, attributes=attributes) as current:
        yield current


@contextlib.contextmanager
def current(span_: Span) -> Iterator[None]:
    """Make ``span_`` the current span for the block (it is not ended)."""
    if not _ENABLED or span_ is INVALID_SPAN:
        yield
        return
    token = otel_context.attach(trace.set_span_in_context(span_))
    try:
        yield
    finally:
        otel_context.detach(token)


def end(span_: Span, error: BaseException | None = None) -> None:
    """End ``span_``; with ``error``, marked failed with it."""
    if span_ is INVALID_SPAN:
        return
    if error is not None:
        span_.record_exception(error)
        span_.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
    span_.end()


def link(traceparent: str) -> Link | None:
    """A link to the span a W3C traceparent names (None for an empty or malformed one)."""
    ctx = span_context(traceparent)
    return Link(ctx) if ctx is not None else None


def link_to(span_: Span) -> Link | None:
    ctx = span_.get_span_context()
    return Link(ctx) if ctx.is_valid else None


# --- W3C trace context --------------------------------------------------------------------------


def traceparent(span_: Span | None = None) -> str:
    """The W3C traceparent of ``span_`` (default: the current span); "" when there is none."""
    ctx = (span_ if span_ is not None else trace.get_current_span()).get_span_context()
    if not ctx.is_valid:
        return ""
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def span_context(traceparent_: str) -> SpanContext | None:
    """The remote span context a traceparent names; None for an empty or malformed one."""
    parts = traceparent_.split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    try:
        ctx = SpanContext(
            int(parts[1], 16),
            int(parts[2], 16),
            is_remote=True,
            trace_flags=TraceFlags(int(parts[3][:2], 16) & TraceFlags.SAMPLED),
        )
    except ValueError:
        return None
    return ctx if ctx.is_valid else None


def parent(traceparent_: str) -> Context | None:
    """A context whose current span is the one ``traceparent_`` names (None: the current)."""
    ctx = span_context(traceparent_)
    return trace.set_span_in_context(NonRecordingSpan(ctx)) if ctx is not None else None


def trace_id(traceparent_: str) -> str | None:
    """The 32-hex trace id of a traceparent (what trace back ends search for)."""
    parts = traceparent_.split("-")
    return parts[1] if len(parts) >= 4 and len(parts[1]) == 32 else None


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span, for log lines; None when there is none."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}"


class _HeaderGetter(Getter[Mapping[str, Any]]):
    """Reads AMQP header tables, whose string values may arrive as bytes."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get(key)
        if value is None:
            return None
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        return [str(value)]

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return list(carrier)


_GETTER = _HeaderGetter()


def inject(headers: MutableMapping[str, Any], span_: Span) -> None:
    """Write ``span_``'s context into message headers (W3C traceparent, per OTEL_PROPAGATORS).

    An unsampled but valid context is propagated too, so the worker keeps the decision made
    where the trace started instead of sampling the message again on its own.
    """
    if _ENABLED and span_.get_span_context().is_valid:
        propagate.inject(headers, context=trace.set_span_in_context(span_))


def extract(headers: Mapping[str, Any] | None) -> Context | None:
    """The context a message's headers carry (None: none, start a new trace)."""
    if not _ENABLED or not headers or "traceparent" not in headers:
        return None
    return propagate.extract(headers, getter=_GETTER)


# --- the API and MongoDB ---------------------------------------------------------------------


def instrument_app(app: Any) -> None:
    """Request spans from the FastAPI instrumentation, except health checks and scrapes."""
    if not _ENABLED:
        return
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=_provider,
        # the HTTP metrics are Prometheus's (wavecom.core.metrics); none twice
        meter_provider=NoOpMeterProvider(),
        excluded_urls="/api/health,/api/ready,/api/metrics",
        # one span per request, not three (the ASGI receive and send events get none)
        exclude_spans=["receive", "send"],
    )


_Event = (
    monitoring.CommandStartedEvent
    | monitoring.CommandSucceededEvent
    | monitoring.CommandFailedEvent
)


class CommandSpans(monitoring.CommandListener):
    """A CLIENT span per MongoDB command, a child of the span current where the command runs.

    PyMongo calls ``started`` in the task that awaits the command (the async API included), so
    the current span there is the caller's. Never records the command's body: it holds
    recipients and messages.
    """

    def __init__(self, tracer_: Tracer | None = None) -> None:
        self._given = tracer_
        self._spans: dict[tuple[int, object], Span] = {}

    @staticmethod
    def _key(event: _Event) -> tuple[int, object]:
        return event.request_id, event.connection_id

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        t = self._given or (_tracer if _ENABLED else None)
        if t is None:
            return
        collection = event.command.get(event.command_name)
        attributes: dict[str, str | int] = {
            "db.system.name": "mongodb",
            "db.namespace": event.database_name,
            "db.operation.name": event.command_name,
        }
        host, port = event.connection_id or ("", None)
        if host:
            attributes["server.address"] = str(host)
        if port:
            attributes["server.port"] = int(port)
        name = f"{event.command_name} {event.database_name}"
        if isinstance(collection, str) and collection:
            attributes["db.collection.name"] = collection
            name = f"{event.command_name} {collection}"
        self._spans[self._key(event)] = t.start_span(
            name, kind=SpanKind.CLIENT, attributes=attributes
        )

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        found = self._spans.pop(self._key(event), None)
        if found is not None:
            found.end()

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        found = self._spans.pop(self._key(event), None)
        if found is not None:
            code = str(event.failure.get("codeName") or event.failure.get("code") or "error")
            found.set_attribute("error.type", code)
            # the code only: errmsg may quote a document (a duplicate key's value: a recipient)
            found.set_status(Status(StatusCode.ERROR, code))
            found.end()
