"""Why the unique indexes are on one joined field: inserts into a collection with one unique
index, compound (as before) or on the joined key (as now), timed 20,000 at a time as the
collection grows (issue #25 target 5: the million-notification seed slowed from 1,700/s to
740/s by 150,000).

``python -m loadtest.unique_indexes [--notifications 100000]`` uses the benchmark's documents
(``loadtest.bench_reads``: the pipeline's builders, 10 tenants) in a scratch database of the
development stack, and writes ``loadtest/results/unique-<timestamp>.json``. On DocumentDB a
compound unique index is checked through each field's terms, so its cost per insert grows with
the documents that share the low-cardinality field (the tenant, the provider account); the
joined field's does not.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import shlex
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from pymongo import ASCENDING, IndexModel

from loadtest.bench_reads import RESULTS, document, plan
from loadtest.report import machine_info
from wavecom.core.constants import NOTIFICATIONS
from wavecom.store import Doc, Store
from wavecom.store.indexes import COMPOSITE, INDEXES, is_documentdb

STEP = 20_000
CHUNK = 2_000
_EVERY = timedelta(seconds=0.0864)  # 1,000,000 over a day, as make bench-reads seeds them


def _unique(name: str, keys: list[str], present: str) -> IndexModel:
    return IndexModel(
        [(k, ASCENDING) for k in keys],
        name=name,
        unique=True,
        partialFilterExpression={present: {"$type": "string"}},
    )


# the variant's one index: the two the store had before the joined keys, and the two it has
VARIANTS: dict[str, IndexModel] = {
    "reference, compound (tenantId, reference)": _unique(
        "v", ["tenantId", "reference"], "reference"
    ),
    "reference, joined (referenceKey)": next(
        m for m in INDEXES[NOTIFICATIONS] if m.document["name"] == "reference_key"
    ),
    "provider message id, compound (providerMessageId, provider)": _unique(
        "v", ["providerMessageId", "provider"], "providerMessageId"
    ),
    "provider message id, joined (providerKey)": next(
        m for m in INDEXES[NOTIFICATIONS] if m.document["name"] == "provider_key"
    ),
}


async def variant(url: str, model: IndexModel, n: int, step: int = STEP) -> list[float]:
    """Seconds per ``step`` inserts, in order, into a fresh collection with ``model`` (a
    scratch database, dropped afterwards)."""
    store = Store.connect(url, "unique_indexes")
    try:
        await store.client.drop_database("unique_indexes")
        coll = store.db[NOTIFICATIONS]
        options: dict[str, Any] = {k: v for k, v in model.document.items() if k != "key"}
        if await is_documentdb(store.db):
            options |= COMPOSITE
        await coll.create_indexes([IndexModel(model.document["key"].items(), **options)])
        hasher = await store.recipient_hasher()
        rng = random.Random(1)
        start = datetime.now(UTC) - timedelta(days=1)
        steps: list[float] = []
        chunk: list[Doc] = []
        began = time.monotonic()
        for i in range(n):
            d, _ = document(plan(rng, i), f"tenant-{i % 10:02d}", start + i * _EVERY, hasher, rng)
            chunk.append(d)
            if len(chunk) == min(CHUNK, step):
                await coll.insert_many(chunk, ordered=False)
                chunk = []
            if (i + 1) % step == 0:
                steps.append(round(time.monotonic() - began, 2))
                began = time.monotonic()
        return steps
    finally:
        await store.client.drop_database("unique_indexes")
        await store.close()


async def run(args: argparse.Namespace) -> int:
    rows = []
    for label, model in VARIANTS.items():
        steps = await variant(args.mongodb_url, model, args.notifications)
        print(f"[unique] {label}: seconds per {STEP:,} inserts {steps}", flush=True)
        rows.append({"variant": label, "secondsPerStep": steps})
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report = {
        "kind": "unique-index-inserts",
        "command": "python -m loadtest.unique_indexes " + shlex.join(sys.argv[1:]),
        "startedAt": stamp,
        "database": "FerretDB v2.5.0 on PostgreSQL 15 + DocumentDB (services/devstack)",
        "notifications": args.notifications,
        "step": STEP,
        "insertChunk": CHUNK,
        "variants": rows,
        "machine": machine_info(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"unique-{stamp}.json"
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(f"[unique] report in {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--notifications", type=int, default=100_000)
    p.add_argument("--mongodb-url", default="mongodb://127.0.0.1:27017")
    return asyncio.run(run(p.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
