"""wavecom.core.telemetry: configuration from the standard variables only (off without an
endpoint, a protocol this build cannot export refused at start-up with what to set instead), and
trace context carried through message headers and traceparents with the real SDK."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import INVALID_SPAN, StatusCode

from tests.support.tracing import in_memory_spans
from wavecom.core import telemetry
from wavecom.core.errors import TracingMisconfigured

ENDPOINT = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}


@pytest.mark.parametrize(
    ("env", "on"),
    [
        ({}, False),
        (ENDPOINT, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, True),
        ({**ENDPOINT, "OTEL_SDK_DISABLED": "true"}, False),
        ({**ENDPOINT, "OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_SERVICE_NAME": "api", "OTEL_TRACES_SAMPLER": "always_on"}, False),
    ],
)
def test_tracing_is_on_only_with_an_endpoint(env: dict[str, str], on: bool) -> None:
    assert telemetry.endpoint_configured(env) is on


def test_without_an_endpoint_setup_installs_nothing() -> None:
    assert telemetry.setup("wavecom-api", {}) is False
    assert not telemetry.enabled()
    assert telemetry.start_span("anything") is INVALID_SPAN
    assert telemetry.traceparent() == ""
    headers: dict[str, object] = {}
    telemetry.inject(headers, telemetry.start_span("publish"))
    assert headers == {}


@pytest.mark.parametrize(
    "env",
    [
        {**ENDPOINT, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
        {**ENDPOINT, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "http/json"},
        {**ENDPOINT, "OTEL_TRACES_EXPORTER": "zipkin"},
    ],
)
def test_an_exporter_this_build_lacks_is_refused_saying_what_to_set(env: dict[str, str]) -> None:
    with pytest.raises(TracingMisconfigured) as refused:
        telemetry.setup("wavecom-api", env)
    assert "not supported" in str(refused.value)
    assert not telemetry.enabled()


def test_traceparents_round_trip_and_malformed_ones_are_ignored() -> None:
    tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    ctx = telemetry.span_context(tp)
    assert ctx is not None
    assert ctx.trace_flags.sampled
    assert telemetry.trace_id(tp) == "0af7651916cd43dd8448eb211c80319c"
    for bad in ("", "00-xyz", "00-" + "0" * 32 + "-" + "0" * 16 + "-01", "00-zz-yy-01"):
        assert telemetry.span_context(bad) is None
        assert telemetry.link(bad) is None


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    """Tracing on with the SDK and an in-memory exporter, off again after the test."""
    with in_memory_spans() as exported:
        yield exported


def test_a_span_s_context_crosses_message_headers_and_traceparents(
    exporter: InMemorySpanExporter,
) -> None:
    assert telemetry.enabled()
    publish = telemetry.start_span("publish")
    headers: dict[str, object] = {}
    telemetry.inject(headers, publish)
    # header tables may hand the value back as bytes: still read
    carried = {k: str(v).encode() for k, v in headers.items()}
    consume = telemetry.start_span("consume", parent=telemetry.extract(carried))
    telemetry.end(consume)
    telemetry.end(publish, RuntimeError("refused"))

    tp = telemetry.traceparent(publish)
    assert headers["traceparent"] == tp
    ctx = telemetry.span_context(tp)
    assert ctx is not None
    assert (ctx.trace_id, ctx.span_id) == (
        publish.get_span_context().trace_id,
        publish.get_span_context().span_id,
    )
    spans = {s.name: s for s in exporter.get_finished_spans()}
    assert set(spans) == {"publish", "consume"}
    child = spans["consume"]
    assert child.parent is not None
    assert child.parent.span_id == ctx.span_id
    assert child.context is not None
    assert child.context.trace_id == ctx.trace_id
    assert telemetry.trace_id(telemetry.traceparent(consume)) == f"{ctx.trace_id:032x}"
    assert spans["publish"].status.status_code is StatusCode.ERROR
    assert spans["consume"].status.status_code is not StatusCode.ERROR


def test_a_root_span_is_made_only_for_a_sampled_link(exporter: InMemorySpanExporter) -> None:
    unsampled = telemetry.link("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")
    sampled = telemetry.link("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    assert unsampled is not None
    assert sampled is not None
    assert telemetry.start_root("commit", [unsampled]) is INVALID_SPAN
    root = telemetry.start_root("commit", [unsampled, sampled])
    telemetry.end(root)
    (made,) = exporter.get_finished_spans()
    assert made.parent is None
    assert made.context is not None
    assert made.context.trace_id != sampled.context.trace_id
    assert [link.context.span_id for link in made.links] == [
        unsampled.context.span_id,
        sampled.context.span_id,
    ]
