"""``loadtest.steps``: the peer and ours, one low step each, on the real RabbitMQ and FerretDB."""

from __future__ import annotations

import asyncio
import shlex
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from pymongo import AsyncMongoClient

from loadtest import steps
from loadtest.load import Sent
from loadtest.profile import LIBRARIES
from tests.support.services import (
    AMQP_HOST,
    MANAGEMENT_URL,
    MONGODB_URL,
    delete_vhost,
    drop_database,
)

RATE, SECONDS = 20, 3


def _step(rate: float, percent_2xx: float, p99: float) -> dict[str, Any]:
    return {
        "offeredPerSecond": rate,
        "percent2xx": percent_2xx,
        "latencyMs": {"p99": p99},
        "cpu": {"machineMsPerAccepted": 5.0},
    }


def test_the_sustained_rate_is_the_highest_step_within_both_limits() -> None:
    result = steps.sustained(
        [
            _step(50, 100.0, 20),
            _step(100, 99.95, 240),
            _step(200, 99.8, 100),  # too many refusals
            _step(300, 100.0, 251),  # too slow
        ],
        min_2xx=99.9,
        max_p99_ms=250,
    )
    assert result["rate"] == 100
    assert result["passingRates"] == [50, 100]
    assert steps.sustained([_step(50, 90.0, 10)], min_2xx=99.9, max_p99_ms=250)["rate"] is None


def test_the_timeline_slices_a_step_by_send_time() -> None:
    def sent(at: float, status: int, latency: float) -> Sent:
        return Sent("single", at, at, at + latency, status, int(status == 201), 0)

    reqs = [sent(0.5, 201, 0.010), sent(9.9, 503, 0.900), sent(10.0, 201, 0.020)]
    reqs += [sent(25.0 + i / 100, 201, 0.005) for i in range(100)]
    assert steps.timeline(reqs) == [
        {"fromSecond": 0, "requests": 2, "not2xx": 1, "p99Ms": 891.1},
        {"fromSecond": 10, "requests": 1, "not2xx": 0, "p99Ms": 20.0},
        {"fromSecond": 20, "requests": 100, "not2xx": 0, "p99Ms": 5.0},
    ]


def test_other_is_what_the_machine_did_beyond_the_named_groups() -> None:
    pct = {
        "api": 30.0,
        "worker-email": 10.0,
        "worker-sms": 5.0,
        "postgres": 40.0,
        "ferretdb": 20.0,
        "rabbitmq": 25.0,
        "bench": 2.0,
        "vegeta": 0.0,
        "total": 150.0,
    }
    split = steps.cpu_split(pct, loadgen_children_pct=8.0)
    assert split == {
        "api": 30.0,
        "workers": 15.0,
        "postgres": 40.0,
        "ferretdb": 20.0,
        "rabbitmq": 25.0,
        "loadgen": 10.0,
        "other": 10.0,
    }


def _assert_profiled(name: str, step: dict[str, Any]) -> None:
    """Ours was sampled by py-spy during the step (``--profile-rate``), the peer not."""
    if name == "peer":
        assert "profile" not in step
        assert "databaseCommandsPerAccepted" not in step
        return
    # each process counted the database commands it sent: the step's, per notification
    per = step["databaseCommandsPerAccepted"]
    # a commit inserts its notifications (one insert_many, no outbox entry): one insert for
    # a group of one, fewer per notification as groups grow (plus what the API's periodic
    # tasks insert meanwhile, a lease now and then)
    assert 0 < per["api"]["insert"] <= 1.5
    assert per["workers"]["update"] > 0  # claims and outcomes
    assert per["workers"]["total"] == pytest.approx(
        sum(v for c, v in per["workers"].items() if c != "total"), abs=0.05
    )
    # the same commands by collection: the workers' updates are claims and outcomes (the
    # notifications) and tallies (stats), the API's inserts its notifications
    by = step["databaseCommandsPerAcceptedByCollection"]
    for group in ("api", "workers"):
        assert by[group]["total"] == per[group]["total"]
    assert by["workers"]["update notifications"] > 0
    assert by["workers"]["update stats"] > 0
    assert by["workers"]["update notifications"] + by["workers"]["update stats"] <= (
        per["workers"]["update"] + 0.01
    )
    assert 0 < by["api"]["insert notifications"] <= per["api"]["insert"]
    # the API's 503s by why it refused them (none at this rate, or a few)
    refused = step["admissionRefusedByReason"]
    assert set(refused) <= {"in_flight", "loop_lag", "queue_deadline"}
    assert sum(refused.values()) <= step["refusedByStatus"].get("503", 0)
    # acceptance to the provider's answer of each one SENT during the step and its drain
    delivered = step["deliveryLatencyMs"]
    assert 0 < delivered["count"] <= step["accepted"]
    assert 0 < delivered["p50"] <= delivered["p99"]
    profile = step["profile"]
    for group in ("api", "workers"):
        assert profile[group]["samples"] > 0, group
        shares = profile[group]["categories"].values()
        assert sum(c["percent"] for c in shares) == pytest.approx(100, abs=1)
        ms = profile[group]["msEachOfProcess"]
        assert sum(c["msEach"] for c in shares) == pytest.approx(ms, rel=0.05)
    # every sample went to a library's category or to one of our modules (a short step at a
    # low rate samples few stacks: which categories appear is left to chance)
    named = {name for name, _ in LIBRARIES} | {"other (stdlib, native)"}
    for group in ("api", "workers"):
        for category in profile[group]["categories"]:
            assert category in named or category.startswith("wavecom."), category


async def _statuses(database: str) -> dict[str, str]:
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGODB_URL)
    try:
        docs = await client[database]["notifications"].find({}, {"status": 1}).to_list()
    finally:
        await client.close()
    return {str(d["_id"]): str(d["status"]) for d in docs}


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_one_low_step_of_each_system_is_measured_and_loses_nothing(
    tmp_path: Path,
) -> None:
    run_id = f"test-{uuid.uuid4().hex[:8]}"
    args = steps.parse_args(
        [
            "--run-id", run_id,
            "--systems", "peer,ours",
            "--rates", str(RATE),
            "--seconds", str(SECONDS),
            "--drain", "60",
            "--idle-seconds", "1",
            "--keep",  # the test reads both databases itself, then drops them
            "--amqp-url", f"amqp://guest:guest@{AMQP_HOST}/",
            "--mongodb-url", MONGODB_URL,
            "--mgmt-url", MANAGEMENT_URL,
            "--results-dir", str(tmp_path),
            "--profile-rate", str(RATE),  # py-spy on ours during the step
            # 60 answers: the p99 is about the slowest one, which a busy machine can make
            # 250 ms; the definition is what is tested here, not this machine's latency
            "--max-p99-ms", "5000",
        ]
    )  # fmt: skip
    try:
        report = await steps.run(args)
        path = Path(report["path"])
        written = orjson.loads(await asyncio.to_thread(path.read_bytes))
        assert path.parent == tmp_path
        assert path.name.startswith("steps-")
        assert written["command"] == "python -m loadtest.steps " + shlex.join(args.argv)
        assert list(written["systems"]) == ["peer", "ours"]
        for name, system in written["systems"].items():
            (step,) = system["steps"]
            assert step["offeredPerSecond"] == RATE
            assert step["requests"] == RATE * SECONDS
            assert step["accepted"] > 0
            assert step["acceptedPerSecond"] == pytest.approx(step["accepted"] / SECONDS)
            latency = step["latencyMs"]
            assert 0 < latency["p50"] <= latency["p99"]
            cpu = step["cpu"]
            assert cpu["machineBusyPercent"] > 0
            assert cpu["machineMsPerAccepted"] > 0
            assert list(cpu["percentByGroup"]) == list(steps.SPLIT)
            # 'other' fills the machine up (each group is rounded to 0.1 %)
            assert sum(cpu["percentByGroup"].values()) >= cpu["machineBusyPercent"] - 1.0
            for group in ("api", "workers", "postgres", "rabbitmq"):  # each did work
                assert cpu["percentByGroup"][group] > 0, (name, group)
            assert cpu["drain"]["machineMsPerAcceptedWithDrain"] >= cpu["machineMsPerAccepted"]
            assert system["idle"]["machineBusyPercent"] > 0
            if name == "ours":  # what the system asks of the database while nothing happens
                assert set(system["idle"]["databaseCommandsPerSecond"]) == {"api", "workers"}
            assert list(system["idle"]["percentByGroup"]) == list(steps.SPLIT)
            assert step["drain"]["reason"] == "every accepted notification is final"
            assert step["lost"] == 0
            _assert_profiled(name, step)
            # what the report says, read again from the system's own database
            statuses = await _statuses(system["database"])
            sent = sum(1 for s in statuses.values() if s == "SENT")
            if name == "peer":
                assert step["finalStatus"] == {"SENT": step["accepted"]}
                assert sent == step["accepted"] == len(statuses)
            else:
                final = sum(1 for s in statuses.values() if s in ("SENT", "FAILED"))
                assert final >= step["accepted"]
        # a peer that answers 20/s (within the p99 above) is sustained there: the definition
        # applies
        assert written["systems"]["peer"]["sustained"]["rate"] == RATE
        table = steps.table(written)
        assert f"| {RATE} |" in table
        assert "peer: accepted/s, p99" in table
        assert "ours: accepted/s, p99" in table
    finally:
        for prefix in ("peer", "bench"):  # PeerSystem's and LocalSystem's names
            delete_vhost(f"{prefix}-{run_id}")
            drop_database(f"{prefix}_{run_id.replace('-', '_')}")
