"""``loadtest.bench_writes`` on the real database, at a size that runs in seconds."""

from __future__ import annotations

import os

from loadtest import bench_writes
from tests.support.services import MONGODB_URL


async def test_every_phase_is_measured_and_every_notification_ends_sent() -> None:
    args = bench_writes.parse_args(
        [
            "--notifications", "60",
            "--groups", "1,20",
            "--variants", "all,bare",
            "--concurrency", "4",
            "--idle-seconds", "0.2",
            "--mongodb-url", MONGODB_URL,
        ]
    )  # fmt: skip
    report = await bench_writes.main_async(args)
    cases = report["cases"]
    assert [(c["variant"], c["groupSize"]) for c in cases] == [
        ("all", 1),
        ("all", 20),
        ("bare", 1),
        ("bare", 20),
    ]
    for case in cases:  # run_case raises unless all 60 end SENT
        assert list(case["phases"]) == list(bench_writes.PHASES)
        for phase in case["phases"].values():
            assert phase["notificationsPerSecond"] > 0
    # the database did work for them (PostgreSQL's backends are measured, not assumed)
    assert sum(c["cpuMsPerNotification"]["postgres"] for c in cases) > 0
    assert report["command"].startswith("python -m loadtest.bench_writes")
    assert os.cpu_count() == report["machine"]["nproc"]
