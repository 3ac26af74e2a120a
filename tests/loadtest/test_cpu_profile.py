"""``loadtest.cpu_profile``: a service run under cProfile's CPU clock, its time by package."""

from __future__ import annotations

import cProfile
import json
import pstats
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtest.cpu_profile import breakdown, summarize
from loadtest.system import ROOT

DOC = {"items": [{"n": i, "name": f"item {i}", "tags": ["a", "b"]} for i in range(200)]}


def _encode_many() -> None:
    for _ in range(300):
        json.dumps(DOC, indent=1)


def test_a_builtins_time_goes_to_the_package_that_called_it() -> None:
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    _encode_many()
    profiler.disable()
    out = breakdown(pstats.Stats(profiler))
    shares = out["percentByCategory"]
    # json's encoder spends most of its time in C functions of its own: counted as json's
    assert shares["JSON (orjson, json)"] > 80, shares
    assert not any(name.startswith("~") or "built-in" in name for name in shares)
    assert sum(shares.values()) == pytest.approx(100, abs=0.5)
    assert out["topFunctionsByOwnTime"][0]["calls"] > 0


def _json_tool_under_profiler(tmp_path: Path, name: str, *flags: str) -> None:
    """``python -m json.tool`` on a document, run under loadtest.cpu_profile."""
    doc = tmp_path / "doc.json"
    doc.write_text(json.dumps(DOC))
    out = tmp_path / f"{name}.prof"
    argv = ["-m", "loadtest.cpu_profile", "--out", str(out), *flags, "--", "-m", "json.tool"]
    subprocess.run(  # noqa: S603 - fixed arguments
        [sys.executable, *argv, str(doc)], cwd=ROOT, check=True, capture_output=True, timeout=60
    )


def test_a_service_run_under_it_writes_its_stats_at_exit(tmp_path: Path) -> None:
    _json_tool_under_profiler(tmp_path, "tool")
    found = summarize(tmp_path)
    assert list(found) == ["tool"]
    assert found["tool"]["profiledCpuSeconds"] >= 0
    assert "JSON (orjson, json)" in found["tool"]["percentByCategory"]


def test_from_the_signal_nothing_is_profiled_before_it(tmp_path: Path) -> None:
    _json_tool_under_profiler(tmp_path, "quiet", "--from-signal")
    quiet = summarize(tmp_path)["quiet"]
    assert quiet["profiledCpuSeconds"] == 0
    assert quiet["percentByCategory"] == {}
