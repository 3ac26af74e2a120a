"""Logs never carry a full recipient or an API key's secret."""

from __future__ import annotations

import logging
import re

import orjson
import pytest
from opentelemetry.sdk.trace import TracerProvider

from wavecom.core import telemetry
from wavecom.core.logs import mask, setup_logging

KEY = "wcn_0123456789abcdef_" + "s" * 43


def test_recipients_and_keys_are_masked() -> None:
    line = mask(f"sent to jane.doe@bank.example and +2348012345678 with {KEY}")
    assert "jane.doe" not in line
    assert "8012345678" not in line
    assert "s" * 43 not in line
    assert line == "sent to j***@bank.example and +***78 with wcn_0123456789abcdef_***"


def test_every_log_line_goes_through_the_mask(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        setup_logging("INFO", "api")
        logging.getLogger("wavecom.test").warning("refused %s for %s", KEY, "ops@bank.example")
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    err = capsys.readouterr().err
    assert "wcn_0123456789abcdef_***" in err
    assert "s" * 43 not in err
    assert "ops@bank.example" not in err


def _log_once(fmt: str, capsys: pytest.CaptureFixture[str], traced: bool) -> str:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    provider = TracerProvider()
    telemetry.use(provider if traced else None)
    try:
        setup_logging("INFO", "worker-sms", fmt)
        with telemetry.span("work"):
            logging.getLogger("wavecom.test").warning("sent to %s", "ops@bank.example")
    finally:
        telemetry.use(None)
        root.handlers[:] = handlers
        root.setLevel(level)
    return capsys.readouterr().err.strip()


def test_json_lines_carry_the_trace_and_span_of_the_current_span(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = orjson.loads(_log_once("json", capsys, traced=True))
    assert line["level"] == "WARNING"
    assert line["process"] == "worker-sms"
    assert line["logger"] == "wavecom.test"
    assert line["message"] == "sent to o***@bank.example"
    assert len(line["trace_id"]) == 32
    assert len(line["span_id"]) == 16
    assert int(line["trace_id"], 16)


def test_lines_without_a_span_carry_no_trace(capsys: pytest.CaptureFixture[str]) -> None:
    line = orjson.loads(_log_once("json", capsys, traced=False))
    assert "trace_id" not in line
    assert "span_id" not in line
    assert "trace=" not in _log_once("text", capsys, traced=False)


def test_text_lines_end_with_the_trace_id(capsys: pytest.CaptureFixture[str]) -> None:
    line = _log_once("text", capsys, traced=True)
    assert re.search(
        r"WARN\S* +worker-sms +sent to o\*\*\*@bank\.example trace=[0-9a-f]{32}$", line
    )
