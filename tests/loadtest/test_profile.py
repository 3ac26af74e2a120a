"""``loadtest.profile``: py-spy's folded stacks, each sample put in one category."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from loadtest.profile import Profiler, Samples, category, py_spy

ROOT_FRAMES = [
    "_run_module_as_main (<frozen runpy>:198)",
    "Runner.run (asyncio/runners.py:118)",
    "run_until_complete (asyncio/base_events.py:640)",
]


def test_a_library_called_by_our_code_takes_the_sample() -> None:
    stack = [
        *ROOT_FRAMES,
        "Intake.commit (wavecom/api/intake.py:250)",
        "insert (pymongo/bulk.py:10)",
    ]
    assert category(stack) == "database driver (pymongo, bson)"


def test_our_code_takes_the_standard_library_it_calls() -> None:
    stack = [
        *ROOT_FRAMES,
        "Tally.entries (wavecom/store/counters.py:321)",
        "__init__ (uuid.py:170)",
    ]
    assert category(stack) == "wavecom.store.counters"


def test_the_event_loop_itself_is_its_own_category() -> None:
    assert category(ROOT_FRAMES) == "event loop (asyncio, uvloop)"
    assert category(["_run_module_as_main (<frozen runpy>:198)"]) == "other (stdlib, native)"


def test_samples_are_counted_by_category_and_by_leaf(tmp_path: Path) -> None:
    raw = tmp_path / "api-1.txt"
    raw.write_text(
        'process 1:"python";'
        + ";".join(ROOT_FRAMES)
        + ";send (uvicorn/protocols/h.py:5) 30\n"
        + 'process 1:"python";'
        + ";".join(ROOT_FRAMES)
        + ";find (pymongo/cursor.py:9) 10\n"
        + "garbage line\n"
    )
    samples = Samples.read(raw)
    assert samples.total == 40
    out = samples.breakdown(ms_each=2.0)
    assert out["categories"]["HTTP server (uvicorn, h11, httptools)"] == {
        "percent": 75.0,
        "msEach": 1.5,
    }
    assert out["categories"]["database driver (pymongo, bson)"]["msEach"] == 0.5
    assert out["topLeaves"]["send (h.py)"]["percent"] == 75.0


@pytest.mark.timeout(60)
def test_a_running_process_is_sampled_where_it_spends_its_time(tmp_path: Path) -> None:
    assert py_spy() is not None, "py-spy comes with requirements-dev"
    # a process that only encodes JSON until it is stopped
    busy = subprocess.Popen(
        [sys.executable, "-c", "import json\nwhile True:\n    json.dumps({'a': list(range(200))})"]
    )
    try:
        profiler = Profiler({"busy": [busy.pid]}, seconds=2, out_dir=tmp_path)
        profiler.start()
        samples = profiler.finish()["busy"]
    finally:
        busy.kill()
        busy.wait()
    assert samples.total > 50
    top, _ = samples.by_category.most_common(1)[0]
    assert top == "JSON (orjson, json)"
