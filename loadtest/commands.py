"""Database commands per notification, read from the processes' own ``/metrics``.

Each of our processes counts the commands its store sends (``database_commands_total``,
``wavecom.store.commands``). Read before a step and after its drain, the difference divided by
the notifications accepted is the step's round trips per notification, by process group and
command, and by command and collection: a figure that, unlike CPU, does not move with whatever
else the machine is doing.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
from prometheus_client.parser import text_string_to_metric_families

METRIC = "database_commands"  # the family's name (the sample is database_commands_total)
# the API's admission refusals (api_admission_refused_total), by reason
REFUSED = "api_admission_refused"


def _command(labels: dict[str, str]) -> str:
    return f"{labels['command']} {labels.get('collection', '')}".strip()


def _reason(labels: dict[str, str]) -> str:
    return labels.get("reason", "")


async def scrape(urls: dict[str, list[str]], metric: str = METRIC) -> dict[str, Counter[str]]:
    """A counter family added up per group of ``/metrics`` URLs: ``database_commands_total``
    by command and collection (``"update stats"``; the command alone when it names none), or
    ``api_admission_refused_total`` (``metric=REFUSED``) by reason."""
    key = _reason if metric == REFUSED else _command

    async def one(client: httpx.AsyncClient, url: str) -> Counter[str]:
        r = await client.get(url)
        r.raise_for_status()
        out: Counter[str] = Counter()
        for family in text_string_to_metric_families(r.text):
            if family.name == metric:
                for sample in family.samples:
                    if sample.name.endswith("_total"):
                        out[key(sample.labels)] += int(sample.value)
        return out

    async with httpx.AsyncClient(timeout=5) as client:
        groups: dict[str, Counter[str]] = {}
        for group, group_urls in urls.items():
            total: Counter[str] = Counter()
            for counts in await asyncio.gather(*(one(client, u) for u in group_urls)):
                total.update(counts)
            groups[group] = total
        return groups


def per_notification(
    before: dict[str, Counter[str]],
    after: dict[str, Counter[str]],
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
