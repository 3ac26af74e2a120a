"""What our processes' own ``/metrics`` say about a step: read before it and after its drain.

- Database commands per notification: each process counts the commands its store sends
  (``database_commands_total``, ``wavecom.store.commands``); the difference divided by the
  notifications accepted is the step's round trips per notification, by process group and
  command, and by command and collection: a figure that, unlike CPU, does not move with
  whatever else the machine is doing.
- The API's admission refusals by reason (``api_admission_refused_total``).
- The delivery latency, from acceptance to the provider's answer, of what the workers
  delivered (``notification_delivery_latency_seconds``): what a batching choice costs in time.

Each ``/metrics`` is fetched once per reading (:func:`scrape`), every family taken from it.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Callable, Mapping

import httpx
from prometheus_client.parser import text_string_to_metric_families

COMMANDS = "database_commands"  # the family's name (the sample is database_commands_total)
# the API's admission refusals (api_admission_refused_total), by reason
REFUSED = "api_admission_refused"
# the workers' histogram of acceptance to delivery, by its buckets' upper bounds
DELIVERY = "notification_delivery_latency_seconds"

# one reading: family -> process group -> key -> value
Reading = dict[str, dict[str, Counter[str]]]


def _command(labels: dict[str, str]) -> str:
    return f"{labels['command']} {labels.get('collection', '')}".strip()


def _reason(labels: dict[str, str]) -> str:
    return labels.get("reason", "")


def _bound(labels: dict[str, str]) -> str:
    return labels["le"]


# family -> (the sample suffix counted, the key of a sample)
_FAMILIES: dict[str, tuple[str, Callable[[dict[str, str]], str]]] = {
    COMMANDS: ("_total", _command),
    REFUSED: ("_total", _reason),
    DELIVERY: ("_bucket", _bound),
}


def parse(text: str) -> dict[str, Counter[str]]:
    """The families above in one ``/metrics`` answer, each summed over its other labels:
    commands by command and collection (``"update stats"``; the command alone when it names
    none), refusals by reason, the delivery histogram's cumulative counts by ``le``."""
    out: dict[str, Counter[str]] = {name: Counter() for name in _FAMILIES}
    for family in text_string_to_metric_families(text):
        if family.name not in _FAMILIES:
            continue
        suffix, key = _FAMILIES[family.name]
        for sample in family.samples:
            if sample.name.endswith(suffix):
                out[family.name][key(sample.labels)] += int(sample.value)
    return out


async def scrape(urls: Mapping[str, list[str]]) -> Reading:
    """Every family of :func:`parse`, added up per group of ``/metrics`` URLs."""

    async def one(client: httpx.AsyncClient, url: str) -> dict[str, Counter[str]]:
        r = await client.get(url)
        r.raise_for_status()
        return parse(r.text)

    reading: Reading = {name: {} for name in _FAMILIES}
    async with httpx.AsyncClient(timeout=5) as client:
        for group, group_urls in urls.items():
            for name in _FAMILIES:
                reading[name][group] = Counter()
            for families in await asyncio.gather(*(one(client, u) for u in group_urls)):
                for name, counts in families.items():
                    reading[name][group].update(counts)
    return reading


def per_notification(
    before: Mapping[str, Counter[str]],
    after: Mapping[str, Counter[str]],
    accepted: int,
    *,
    by_collection: bool = False,
) -> dict[str, dict[str, float]]:
    """Commands per accepted notification, by group and command (and the group's ``total``);
    ``by_collection``: by command and collection (``"update stats"``)."""
    out: dict[str, dict[str, float]] = {}
    for group, counts in after.items():
        diff = counts - before.get(group, Counter())
        if not by_collection:
            folded: Counter[str] = Counter()
            for key, n in diff.items():
                folded[key.split(" ")[0]] += n
            diff = folded
        if not accepted:
            continue
        row = {c: round(n / accepted, 3) for c, n in sorted(diff.items(), key=lambda x: -x[1])}
        row["total"] = round(sum(diff.values()) / accepted, 3)
        out[group] = row
    return out


def latency_ms(before: Counter[str], after: Counter[str]) -> dict[str, float | int | None]:
    """The deliveries between two readings of a latency histogram (cumulative counts by
    ``le``): how many, and the median and 99th percentile in ms, each interpolated linearly
    within its bucket (the buckets are coarse: 50, 100, 250, 500 ms, …). A quantile in the
    ``+Inf`` bucket is given as its lower bound."""
    bounds = sorted((float(le), after[le] - before.get(le, 0)) for le in after)
    count = bounds[-1][1] if bounds else 0
    out: dict[str, float | int | None] = {"count": count}
    for name, q in (("p50", 0.5), ("p99", 0.99)):
        out[name] = _quantile(bounds, q * count) if count else None
    return out


def _quantile(bounds: list[tuple[float, int]], rank: float) -> float:
    lower, below = 0.0, 0
    for upper, cumulative in bounds:
        if cumulative >= rank:
            if math.isinf(upper):
                return round(lower * 1000, 1)
            inside = cumulative - below
            share = (rank - below) / inside if inside else 1.0
            return round((lower + share * (upper - lower)) * 1000, 1)
        lower, below = upper, cumulative
    return round(lower * 1000, 1)
