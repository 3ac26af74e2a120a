"""Logs never carry a full recipient or an API key's secret."""

from __future__ import annotations

import logging

import pytest

from wavecom.logs import mask, setup_logging

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
