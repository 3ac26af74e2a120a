"""``loadtest.commands``: one ``/metrics`` answer read into the step's figures (its scrape over
HTTP runs in ``test_steps.py``'s step of each system)."""

from __future__ import annotations

from collections import Counter

import pytest
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client import Counter as PromCounter
from prometheus_client.exposition import generate_latest

from loadtest import commands


def _exposition(deliveries_s: list[float], refusals: int) -> str:
    """What a process's /metrics says after these deliveries and refusals (the real client's
    exposition, with the product's names and buckets)."""
    registry = CollectorRegistry()
    sent = PromCounter("database_commands", "", ["command", "collection"], registry=registry)
    sent.labels("update", "stats").inc(3)
    sent.labels("insert", "notifications").inc(2)
    sent.labels("getMore", "").inc()
    refused = PromCounter("api_admission_refused", "", ["reason"], registry=registry)
    refused.labels("loop_lag").inc(refusals)
    latency = Histogram(
        "notification_delivery_latency_seconds",
        "",
        ["type", "priority"],
        buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
        registry=registry,
    )
    for i, s in enumerate(deliveries_s):
        latency.labels("SMS" if i % 2 else "EMAIL", "HIGH").observe(s)
    return generate_latest(registry).decode()


def test_one_answer_gives_every_family_summed_over_its_other_labels() -> None:
    parsed = commands.parse(_exposition([0.02, 0.07, 0.3], refusals=4))
    assert parsed[commands.COMMANDS] == Counter(
        {"update stats": 3, "insert notifications": 2, "getMore": 1}
    )
    assert parsed[commands.REFUSED] == Counter({"loop_lag": 4})
    delivery = parsed[commands.DELIVERY]
    assert delivery["0.05"] == 1  # cumulative, both channels' series added
    assert delivery["0.1"] == 2
    assert delivery["0.25"] == 2
    assert delivery["+Inf"] == 3


def test_the_delivery_quantiles_are_those_of_the_deliveries_between_two_readings() -> None:
    before = commands.parse(_exposition([5.0] * 10, refusals=0))[commands.DELIVERY]
    # 100 more: 60 within 50 ms, 39 within 100 ms, one at 400 ms
    later = [5.0] * 10 + [0.01] * 60 + [0.08] * 39 + [0.4]
    after = commands.parse(_exposition(later, refusals=0))[commands.DELIVERY]
    got = commands.latency_ms(before, after)
    assert got["count"] == 100
    # the median is in the first bucket (0-50 ms), 50/60 of the way up
    assert got["p50"] == pytest.approx(50 / 60 * 50, abs=0.1)
    # the 99th is the last of the 50-100 ms bucket
    assert got["p99"] == pytest.approx(100.0)
    # the earlier ten at 5 s are not the step's
    assert commands.latency_ms(after, after) == {"count": 0, "p50": None, "p99": None}


def test_a_quantile_beyond_the_last_bound_is_that_bound() -> None:
    after = commands.parse(_exposition([400.0, 500.0], refusals=0))[commands.DELIVERY]
    assert commands.latency_ms(Counter(), after)["p99"] == 300_000.0


def test_commands_per_notification_by_command_and_by_collection() -> None:
    before = {"api": Counter({"update stats": 1})}
    after = {"api": Counter({"update stats": 5, "insert notifications": 2})}
    assert commands.per_notification(before, after, 4) == {
        "api": {"update": 1.0, "insert": 0.5, "total": 1.5}
    }
    by = commands.per_notification(before, after, 4, by_collection=True)
    assert by == {"api": {"update stats": 1.0, "insert notifications": 0.5, "total": 1.5}}
