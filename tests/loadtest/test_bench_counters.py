"""``loadtest.bench_counters`` on the real database, at a size that runs in seconds."""

from __future__ import annotations

import pytest

from loadtest import bench_counters
from tests.support.services import MONGODB_URL


async def test_each_case_counts_every_settled_tally_and_measures_the_database() -> None:
    args = bench_counters.parse_args(
        [
            "--pairs", "40",
            "--steps", "3",
            "--pending", "0,12",
            "--concurrency", "4",
            "--idle-seconds", "0.2",
            "--mongodb-url", MONGODB_URL,
        ]
    )  # fmt: skip
    report = await bench_counters.main_async(args)
    cases = report["cases"]  # run_case raises unless the counters hold all 41 tallies' steps
    assert [c["pendingTallies"] for c in cases] == [0, 12]
    # the pending tallies are in the document: it is larger with them
    assert cases[1]["documentBytes"] > cases[0]["documentBytes"] + 12 * 100
    for case in cases:
        assert case["updatesPerSecond"] > 0
    assert sum(c["cpuMsPerUpdate"]["postgres"] for c in cases) > 0
    assert report["command"].startswith("python -m loadtest.bench_counters")


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(SystemExit):
        bench_counters.parse_args(["--pending", "-1"])
