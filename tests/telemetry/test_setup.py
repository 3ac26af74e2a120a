"""Configuration from the standard variables only: off without an endpoint, and a protocol this
build cannot export refused at start-up with what to set instead."""

from __future__ import annotations

import pytest
from opentelemetry.trace import INVALID_SPAN

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
