"""``metrics.labelled``: the child a label set names, kept after the first lookup."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from wavecom.core import metrics


def test_a_kept_child_is_the_metrics_own_so_what_it_counts_is_exported() -> None:
    registry = CollectorRegistry()
    sent = Counter("kept_sent_total", "test", ["type", "provider"], registry=registry)
    took = Histogram("kept_took_seconds", "test", ["type"], registry=registry)

    metrics.labelled(sent, "EMAIL", "a").inc()
    metrics.labelled(sent, "EMAIL", "a").inc(2)
    metrics.labelled(sent, "SMS", "a").inc()
    metrics.labelled(took, "EMAIL").observe(0.5)

    assert metrics.labelled(sent, "EMAIL", "a") is sent.labels("EMAIL", "a")
    assert registry.get_sample_value("kept_sent_total", {"type": "EMAIL", "provider": "a"}) == 3
    assert registry.get_sample_value("kept_sent_total", {"type": "SMS", "provider": "a"}) == 1
    assert registry.get_sample_value("kept_took_seconds_count", {"type": "EMAIL"}) == 1


def test_the_same_label_values_on_another_metric_are_another_child() -> None:
    registry = CollectorRegistry()
    one = Counter("kept_one_total", "test", ["type"], registry=registry)
    two = Counter("kept_two_total", "test", ["type"], registry=registry)
    metrics.labelled(one, "EMAIL").inc()
    assert metrics.labelled(two, "EMAIL") is not metrics.labelled(one, "EMAIL")
    assert registry.get_sample_value("kept_two_total", {"type": "EMAIL"}) == 0
