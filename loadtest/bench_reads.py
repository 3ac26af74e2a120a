"""Reads at scale: `make bench-reads` (= ``python -m loadtest.bench_reads``).

Seeds ``--notifications`` (default 1,000,000) across ``--tenants`` (default 10) straight
through the store (not the API), each document built by the pipeline's own builders (intake's
``new_notification``, then the update documents a worker's claims and outcomes, a provider's
receipt, a cancel or an expiry write, applied in turn), then starts one real API process and a
worker per channel on that database and times every read endpoint a dashboard, an operator or a
support desk uses, one request at a time, ``--requests`` each: the list with each filter, a
deep page, a cursor page, a createdAt range, the lookups by recipient, reference and provider
message id, one notification with its timeline and its callbacks, the dead-letter list and its
filters, stats and reconcile. Meanwhile vegeta sends single creates at ``--singles-rate``
(default 50/s: half the sustained rate of the last ``make bench-steps``) to the same API,
which the workers deliver. The bar: p99 <= 200 ms each, with the singles flowing (>= 99.9 %
answered 2xx). Afterwards the singles the pipeline wrote are compared, field by field and step
by step (``shape``), with what the seed makes of the same request and path: the report says
whether the seeded documents are still the pipeline's. The report goes to
``loadtest/results/reads-<UTC timestamp>.json`` with the command that made it.

The seeded database is kept (``--database``, default ``bench_reads``) and reused by the next
run when it holds the same number of notifications; ``--reseed`` starts again.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import os
import random
import re
import shlex
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bson
import httpx
import orjson
from bson import ObjectId
from pymongo import AsyncMongoClient, monitoring

from loadtest.load import Bodies, LoadResult, build_bodies
from loadtest.report import machine_info
from loadtest.stats import summary_ms
from loadtest.system import PROVIDER_NAMES, ROOT, LocalSystem, Management
from loadtest.vegeta import VegetaGenerator, binary
from wavecom.api.views import cursor, parse_cursor
from wavecom.core.constants import Channel, Priority, Scope, Status
from wavecom.core.keys import Keys
from wavecom.core.messages import DeliveryJob
from wavecom.core.tenants import RateLimit, Tenants
from wavecom.store import (
    Doc,
    ListQuery,
    RecipientHasher,
    Store,
    job_of,
    log_entry,
    new_notification,
)
from wavecom.store.counters import Changes, Tally, facet, kind_of
from wavecom.store.documents import processing_step
from wavecom.store.expiries import expires_of, expiry_step, where_job
from wavecom.store.indexes import BY_FIELD
from wavecom.store.notifications import cancel_update
from wavecom.store.receipts import ProviderReceipt, receipt_step, receipt_update
from wavecom.store.rounds import Outcome, claim_update, outcome_update

BAR_MS = 200.0
SEED_RECORD = "benchseed"
RESULTS = ROOT / "loadtest" / "results"
# the last committed `make bench-steps` (loadtest/results/steps-20261206T114235Z.json): ours
# sustained 100 single creates/s; the reads are timed with half of that flowing
SUSTAINED_SINGLES = 100.0
# the singles "flowed" when at least this share was answered 2xx (bench-steps' bar)
SINGLES_MIN_2XX = 99.9
MAX_RETRIES = 3  # Settings.max_retries' default
TENANT = "tenant-03"  # the tenant whose reads are timed (and whose singles flow)

# what a day of production traffic leaves behind, roughly: most sends are reported delivered
# by their provider, some only sent (push, providers without receipts, receipts still to come)
STATUS_MIX = {
    Status.DELIVERED: 0.55,
    Status.SENT: 0.33,
    Status.UNDELIVERED: 0.005,
    Status.BOUNCED: 0.008,
    Status.COMPLAINED: 0.002,
    Status.FAILED: 0.04,
    Status.EXPIRED: 0.01,
    Status.QUEUED: 0.015,
    Status.RETRYING: 0.01,
    Status.CANCELLED: 0.01,
    Status.SCHEDULED: 0.015,
}
TYPE_MIX = {Channel.EMAIL: 0.5, Channel.SMS: 0.3, Channel.PUSH: 0.2}
PRIORITY_MIX = {Priority.LOW: 0.2, Priority.MEDIUM: 0.5, Priority.HIGH: 0.2, Priority.CRITICAL: 0.1}
REASONS = ("permanent", "retries_exhausted")
REFERENCE_SHARE = 0.5  # notifications created with the tenant's own reference
TTL_SHARE = {Channel.SMS: 0.4, Channel.EMAIL: 0.05, Channel.PUSH: 0.1}  # created with ttlSeconds
TTL_S = 300
RECEIPTS = (Status.DELIVERED, Status.UNDELIVERED, Status.BOUNCED, Status.COMPLAINED)
# one insert in flight while the next chunk is built: a seed with three in flight ended in a
# PostgreSQL backend's segmentation fault inside documentdb_api.insert (2026-12-06, 17:07;
# whether the concurrency caused it is not known), which restarts the database for everyone
INSERTS_IN_FLIGHT = 1
CHUNK = 2000


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m loadtest.bench_reads",
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--notifications", type=int, default=1_000_000)
    p.add_argument("--tenants", type=int, default=10)
    p.add_argument("--requests", type=int, default=200, help="timed requests per endpoint")
    p.add_argument(
        "--singles-rate",
        type=float,
        default=SUSTAINED_SINGLES / 2,
        help="single creates/s vegeta sends during the timed reads (workers deliver them); "
        "0: none, and no workers",
    )
    p.add_argument("--database", default="bench_reads")
    p.add_argument("--reseed", action="store_true", help="drop and seed again")
    p.add_argument(
        "--mongodb-url", default=os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    )
    p.add_argument(
        "--amqp-url", default=os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    )
    p.add_argument("--management-url", default="http://127.0.0.1:15672")
    p.add_argument("--seed", type=int, default=20261201)
    return p.parse_args(argv)


def _pick(rng: random.Random, mix: dict[Any, float]) -> Any:
    return rng.choices(list(mix), weights=list(mix.values()))[0]


# --- the seeded documents: the pipeline's builders, applied in turn -------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """One notification's request and what became of it: ``path`` is each status its timeline
    reached after intake, delivery attempts' PROCESSING steps left out (``(SENT, DELIVERED)``:
    sent on the first attempt, then a receipt; ``(RETRYING, SENT)``: one retry; ``()``: it
    waits still)."""

    channel: Channel
    priority: Priority
    recipient: str
    subject: str | None
    message: str
    metadata: Doc
    reference: str | None = None
    ttl_s: int | None = None
    scheduled_in: timedelta | None = None
    path: tuple[Status, ...] = ()
    dead_reason: str | None = None  # set when the path ends FAILED

    @property
    def status(self) -> Status:
        if self.path:
            return self.path[-1]
        return Status.SCHEDULED if self.scheduled_in else Status.QUEUED


def plan(rng: random.Random, seq: int) -> Plan:
    """A notification as a day of production traffic makes them (``STATUS_MIX`` and the
    others)."""
    status: Status = _pick(rng, STATUS_MIX)
    channel: Channel = _pick(rng, TYPE_MIX)
    if status in RECEIPTS and channel is Channel.PUSH:
        status = Status.SENT  # no receipts for push here
    elif status in (Status.BOUNCED, Status.COMPLAINED) and channel is Channel.SMS:
        status = Status.UNDELIVERED
    reason = rng.choice(REASONS) if status is Status.FAILED else None
    ttl = TTL_S if rng.random() < TTL_SHARE[channel] else None
    if status in (Status.QUEUED, Status.RETRYING):
        ttl = None  # a waiting one with a passed expiry would be EXPIRED by now (and swept)
    elif status is Status.EXPIRED:
        ttl = TTL_S
    path: tuple[Status, ...] = {
        Status.SCHEDULED: (),
        Status.QUEUED: (),
        Status.RETRYING: (Status.RETRYING,),
        Status.CANCELLED: (Status.CANCELLED,),
        Status.EXPIRED: (Status.EXPIRED,),
        Status.SENT: (Status.SENT,),
        Status.FAILED: (Status.FAILED,)
        if reason == "permanent"
        else (*[Status.RETRYING] * MAX_RETRIES, Status.FAILED),
    }.get(status, (Status.SENT, status))
    if channel is Channel.EMAIL:
        recipient = f"user{rng.randrange(200_000)}@example.com"
    elif channel is Channel.SMS:
        recipient = f"+23480{rng.randrange(10**8):08d}"
    else:
        recipient = f"devtoken_{rng.randrange(10**9):024x}"
    return Plan(
        channel=channel,
        priority=_pick(rng, PRIORITY_MIX),
        recipient=recipient,
        subject="Your code" if channel is Channel.EMAIL else None,
        message=f"Your one-time code is {rng.randrange(10**6):06d}",
        metadata={"orderId": f"ord-{rng.randrange(10**9)}"},
        reference=f"order-{seq}-{rng.getrandbits(32):08x}"
        if rng.random() < REFERENCE_SHARE
        else None,
        ttl_s=ttl,
        scheduled_in=timedelta(days=2) if status is Status.SCHEDULED else None,
        path=path,
        dead_reason=reason,
    )


def apply(doc: Doc, update: Doc) -> None:
    """Apply an update document's ``$set``, ``$unset`` and ``$push`` as the database does."""
    for name, value in update.get("$set", {}).items():
        assert "." not in name, name
        doc[name] = value
    for name in update.get("$unset", {}):
        doc.pop(name, None)
    for name, value in update.get("$push", {}).items():
        doc.setdefault(name, []).append(value)
    unknown = set(update) - {"$set", "$unset", "$push"}
    assert not unknown, unknown


def _ms(rng: random.Random, low: int, high: int) -> timedelta:
    return timedelta(milliseconds=rng.randint(low, high))


def document(
    p: Plan, tenant: str, created: datetime, hasher: RecipientHasher, rng: random.Random
) -> tuple[Doc, int | None]:
    """``p``'s document as intake and then the workers (a receipt, a cancel) leave it, and the
    processing time its SENT outcome counted (None when it had none)."""
    scheduled_at = created + p.scheduled_in if p.scheduled_in else None
    doc = new_notification(
        tenant_id=tenant,
        channel=p.channel,
        recipient=p.recipient,
        subject=p.subject,
        message=p.message,
        priority=p.priority,
        metadata=p.metadata,
        max_retries=MAX_RETRIES,
        scheduled_at=scheduled_at,
        now=created,
        recipient_hash=hasher(p.recipient),
        reference=p.reference,
        expires_at=(scheduled_at or created) + timedelta(seconds=p.ttl_s) if p.ttl_s else None,
    )
    # born when it was created (new_notification's id is the time of the call)
    oid = ObjectId(ObjectId.from_datetime(created).binary[:4] + rng.randbytes(8))
    doc["_id"] = oid
    for step in doc["timeline"]:
        step["_id"] = str(oid) + step["_id"][24:]
    job = job_of(doc)
    at = created + _ms(rng, 5, 60)  # the first claim
    sent_ms: int | None = None
    message_id = ""
    provider = rng.choice(PROVIDER_NAMES[p.channel.value.lower()])
    for status in p.path:
        token = f"{rng.getrandbits(128):032x}"  # a worker's claim token (uuid4().hex)
        if status is Status.CANCELLED:
            step = log_entry(f"{oid}:cancel", Status.CANCELLED, "Cancelled by the client", at)
            apply(doc, cancel_update(Tally().mark(step), at))  # counted by its tally
        elif status is Status.EXPIRED:  # found expired by the claim
            at = max(at, created + timedelta(seconds=p.ttl_s or 0, milliseconds=1))
            where = where_job(job)
            apply(
                doc,
                claim_update(
                    expiry_step(job.id, token, where, at, expires_of(job)), token, at, where
                ),
            )
        elif status in RECEIPTS:
            r = ProviderReceipt(
                provider=provider,
                message_id=message_id,
                status=status,
                at=at + _ms(rng, 500, 20_000),
                code="250" if p.channel is Channel.EMAIL else None,
                source="webhook",
            )
            step = Tally().mark(receipt_step(str(oid), r))  # counted by its tally
            apply(doc, receipt_update(r, step, r.at + _ms(rng, 5, 200)))
        else:
            at, job, message_id, ms = _attempt(doc, job, token, provider, status, p, at, rng)
            if status is Status.SENT:
                sent_ms = ms
    return doc, sent_ms


def _attempt(
    doc: Doc,
    job: DeliveryJob,
    token: str,
    provider: str,
    status: Status,
    p: Plan,
    started: datetime,
    rng: random.Random,
) -> tuple[datetime, DeliveryJob, str, int]:
    """One claimed delivery attempt ending in ``status``, as the pipeline stores it: the claim's
    update, then the outcome's. Returns when the next one starts, its job, the provider's
    message id and the outcome's processing time."""
    apply(doc, claim_update(processing_step(job, token, started), token, started))
    done = started + _ms(rng, 30, 400)
    message_id = ""
    if status is Status.SENT:
        message_id = f"{provider}_{rng.getrandbits(80):020x}"
        o = Outcome(
            job,
            status,
            started,
            done,
            f"Successfully sent via {provider}",
            provider=provider,
            provider_message_id=message_id,
        )
    elif status is Status.RETRYING:
        rung = 2000 * 4**job.attempt
        error = "provider timed out"
        o = Outcome(
            job,
            status,
            started,
            done,
            f"Attempt {job.attempt + 1} failed ({error}); retrying in {rung / 1000:g}s",
            provider=provider,
            error=error,
            retry_at=done + timedelta(milliseconds=rung),
            retry_count=job.attempt + 1,
        )
    elif status is Status.FAILED:
        error = "recipient rejected" if p.dead_reason == "permanent" else "provider timed out"
        o = Outcome(
            job,
            status,
            started,
            done,
            f"Failed: {error}",
            provider=provider,
            error=error,
            dead_reason=p.dead_reason,
        )
    else:
        raise ValueError(f"no delivery attempt ends {status}")
    apply(doc, outcome_update(o, token, by=Tally().id))  # counted by its tally
    if status is Status.RETRYING:
        assert o.retry_at is not None
        return o.retry_at, job.next_attempt(), message_id, o.processing_ms
    return done + _ms(rng, 1, 50), job, message_id, o.processing_ms


_TOKEN = re.compile(r"[0-9a-f]{32}")


_TEST_KEY = RecipientHasher(b"bench-reads: a key of no installation")


def _document(
    rng: random.Random, tenant: str, created: datetime, hasher: RecipientHasher = _TEST_KEY
) -> Doc:
    """A notification of a day of production traffic, created at ``created`` (the store's
    tests seed with it too)."""
    return document(plan(rng, rng.randrange(10**9)), tenant, created, hasher, rng)[0]


def shape(doc: Doc) -> Doc:
    """What must not drift between a seeded document and one the pipeline wrote: each field's
    name and type (nested documents' too, the tenant's own ``metadata`` aside), and each
    timeline step's, with its id's form (the notification id, a claim token)."""
    # the values a step id repeats: the notification's, its provider's and the send's ids
    ids = {str(doc["_id"]): "<id>"}
    if doc.get("providerMessageId"):
        ids[doc["providerMessageId"]] = "<providerMessageId>"
    if doc.get("provider"):
        ids[doc["provider"]] = "<provider>"

    def of(value: Any, path: str) -> Any:
        if path == "metadata":
            return type(value).__name__
        if path == "timeline":
            return [step(e) for e in value]
        if isinstance(value, dict):
            return {k: of(v, f"{path}.{k}") for k, v in sorted(value.items())}
        return type(value).__name__

    def step(entry: Doc) -> Doc:
        out = {k: of(v, f"timeline.{k}") for k, v in sorted(entry.items())}
        parts = [ids.get(part, part) for part in entry["_id"].split(":")]
        out["_id"] = _TOKEN.sub("<token>", ":".join(parts))
        out["status"] = entry["status"]
        return out

    return {k: of(v, k) for k, v in sorted(doc.items())}


def plan_of(doc: Doc) -> Plan | None:
    """The plan that makes ``doc`` again (its request and its path), or None when its path is
    one the seed does not make (a released or retaken claim, a replay, a round in progress)."""
    path = tuple(Status(e["status"]) for e in doc["timeline"][2:])
    known = {Status.SENT, Status.RETRYING, Status.FAILED, Status.CANCELLED, Status.EXPIRED}
    steps = [e["_id"].rsplit(":", 1)[-1] for e in doc["timeline"][2:]]
    if any(
        s not in {"p", "o", "x", "cancel"} and "receipt" not in e["_id"]
        for s, e in zip(steps, doc["timeline"][2:], strict=True)
    ):
        return None
    outcomes = tuple(s for s in path if s is not Status.PROCESSING)
    if doc["status"] == Status.PROCESSING.value or any(
        s not in known and s not in RECEIPTS for s in outcomes
    ):
        return None
    expires = doc.get("expiresAt")
    due = doc.get("scheduledAt") or doc["createdAt"]
    return Plan(
        channel=Channel(doc["type"]),
        priority=Priority(doc["priority"]),
        recipient=doc["recipient"],
        subject=doc.get("subject"),
        message=doc["message"],
        metadata=doc.get("metadata") or {},
        reference=doc.get("reference"),
        ttl_s=int((expires - due).total_seconds()) if expires else None,
        scheduled_in=doc["scheduledAt"] - doc["createdAt"] if "scheduledAt" in doc else None,
        path=outcomes,
        dead_reason=(doc.get("deadLetter") or {}).get("reason"),
    )


def compare(real: list[Doc], hasher: RecipientHasher) -> Doc:
    """Each real document's shape against the seed's document of the same plan: one of each
    (channel, path, options) is compared."""
    rng = random.Random(0)
    seen: dict[str, int] = {}
    mismatches: list[Doc] = []
    skipped = 0
    for doc in real:
        p = plan_of(doc)
        if p is None:
            skipped += 1
            continue
        kind = "/".join(
            [p.channel.value, *(s.value for s in p.path)]
            + ["reference"] * (p.reference is not None)
            + ["ttl"] * (p.ttl_s is not None)
            + ["scheduled"] * (p.scheduled_in is not None)
        )
        if kind in seen:
            seen[kind] += 1
            continue
        seen[kind] = 1
        seeded, _ = document(p, doc["tenantId"], doc["createdAt"], hasher, rng)
        want, got = shape(doc), shape(seeded)
        if want != got:
            mismatches.append({"kind": kind, "id": str(doc["_id"]), **_diff(want, got)})
    return {
        "compared": sum(seen.values()),
        "kinds": dict(sorted(seen.items())),
        "skipped": skipped,
        "mismatches": mismatches,
        "same": not mismatches and bool(seen),
    }


def _diff(pipeline: Doc, seeded: Doc) -> Doc:
    keys = set(pipeline) | set(seeded)
    return {
        "pipelineOnly": sorted(k for k in keys if k not in seeded),
        "seedOnly": sorted(k for k in keys if k not in pipeline),
        "differ": {
            k: {"pipeline": pipeline[k], "seed": seeded[k]}
            for k in sorted(keys)
            if k in pipeline and k in seeded and pipeline[k] != seeded[k]
        },
    }


# --- seeding --------------------------------------------------------------------------------------


async def seed(store: Store, args: argparse.Namespace) -> float:
    """Insert the notifications (through the store's insert, the one intake uses, the next
    chunk built while one is written), the schedule's entries and their tenants' counters;
    return the seconds it took."""
    rng = random.Random(args.seed)
    hasher = await store.recipient_hasher()
    tenants = [f"tenant-{i:02d}" for i in range(args.tenants)]
    start = datetime.now(UTC) - timedelta(days=1)
    step = timedelta(days=1) / args.notifications
    began = time.monotonic()
    chunk: list[Doc] = []
    counters: Changes = {t: Counter() for t in tenants}
    in_flight: set[asyncio.Task[None]] = set()

    async def write(docs: list[Doc]) -> None:
        taken = await store.notifications.insert(docs)
        assert not taken, f"{len(taken)} references taken"
        await store.schedule.add([d for d in docs if d["status"] == Status.SCHEDULED.value])

    for i in range(args.notifications):
        tenant = tenants[i % len(tenants)]
        d, sent_ms = document(plan(rng, i), tenant, start + i * step, hasher, rng)
        c = counters[tenant]
        c["total"] += 1
        c[f"byStatus.{d['status']}"] += 1
        c[f"byType.{d['type']}"] += 1
        c[f"byPriority.{d['priority']}"] += 1
        c[facet(d["status"], kind_of(d))] += 1
        if sent_ms is not None:
            c["processingCount"] += 1
            c["processingMsSum"] += sent_ms
        chunk.append(d)
        if len(chunk) == CHUNK:
            if len(in_flight) >= INSERTS_IN_FLIGHT:
                done, in_flight = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    t.result()
            in_flight.add(asyncio.create_task(write(chunk)))
            chunk = []
            if (i + 1) % 50_000 == 0:
                took = time.monotonic() - began
                print(
                    f"[reads] seeded {i + 1:,} of {args.notifications:,} in {took:.0f} s"
                    f" ({(i + 1) / took:,.0f}/s)",
                    flush=True,
                )
    if chunk:
        in_flight.add(asyncio.create_task(write(chunk)))
    for t in in_flight:
        await t
    await store.counters.add(counters)
    return time.monotonic() - began


# --- what is timed --------------------------------------------------------------------------------


@dataclass
class Samples:
    """Real values of the timed tenant's documents for the lookups and the cursors."""

    delivered: Doc  # a DELIVERED notification with a reference
    failed: Doc  # dead-lettered after every retry: the longest timeline
    deep_cursor: str  # a page's cursor half a day back
    first_cursor: str  # the first page's nextCursor
    day_start: datetime  # the seeded day
    extra: dict[str, str] = field(default_factory=dict)


def endpoints(s: Samples) -> list[tuple[str, str, str]]:
    """(name, scope the key needs, path) of every read that is timed."""
    nid = str(s.delivered["_id"])
    failed = str(s.failed["_id"])
    hour = s.day_start + timedelta(hours=12)
    iso = "%Y-%m-%dT%H:%M:%SZ"
    one_hour = f"createdFrom={hour:{iso}}&createdTo={hour + timedelta(hours=1):{iso}}"
    half_day = f"createdFrom={hour:{iso}}"
    recipient = s.delivered["recipient"]
    return [
        ("list", "read", "/api/notifications?limit=20"),
        ("list page 50", "read", "/api/notifications?limit=20&page=50"),
        ("list after= (page 2)", "read", f"/api/notifications?limit=20&after={s.first_cursor}"),
        ("list after= (12 h back)", "read", f"/api/notifications?limit=20&after={s.deep_cursor}"),
        (
            "list status=SENT after= (12 h back)",
            "read",
            f"/api/notifications?status=SENT&limit=20&after={s.deep_cursor}",
        ),
        *[
            (f"list status={st.value}", "read", f"/api/notifications?status={st.value}&limit=20")
            for st in Status
            if st is not Status.PENDING
        ],
        *[
            (f"list type={c.value}", "read", f"/api/notifications?type={c.value}&limit=20")
            for c in Channel
        ],
        *[
            (f"list priority={p.value}", "read", f"/api/notifications?priority={p.value}&limit=20")
            for p in Priority
        ],
        (
            "list status+type+priority",
            "read",
            "/api/notifications?status=SENT&type=SMS&priority=HIGH&limit=20",
        ),
        ("list createdAt 1 h range", "read", f"/api/notifications?{one_hour}&limit=20"),
        ("list createdAt from 12 h back", "read", f"/api/notifications?{half_day}&limit=20"),
        (
            "list createdAt 1 h + status=DELIVERED",
            "read",
            f"/api/notifications?{one_hour}&status=DELIVERED&limit=20",
        ),
        (
            "list recipient=",
            "read",
            "/api/notifications?"
            + httpx.QueryParams({"recipient": recipient, "limit": 20}).__str__(),
        ),
        (
            "list reference=",
            "read",
            f"/api/notifications?reference={s.delivered['reference']}&limit=20",
        ),
        (
            "list providerMessageId=",
            "read",
            f"/api/notifications?providerMessageId={s.delivered['providerMessageId']}&limit=20",
        ),
        ("get one (DELIVERED)", "read", f"/api/notifications/{nid}"),
        ("get one (FAILED after retries)", "read", f"/api/notifications/{failed}"),
        ("callbacks of one", "read", f"/api/notifications/{nid}/callbacks"),
        ("dlq", "admin", "/api/dlq?limit=20"),
        ("dlq type=EMAIL", "admin", "/api/dlq?type=EMAIL&limit=20"),
        ("dlq reason=permanent", "admin", "/api/dlq?reason=permanent&limit=20"),
        ("stats", "read", "/api/notifications/stats/system"),
        ("reconcile", "admin", "/api/admin/reconcile"),
        ("reconcile streamed", "admin", "/api/admin/reconcile"),
    ]


async def samples(store: Store, tenant: str) -> Samples:
    coll = store.notifications.collection
    delivered = await coll.find_one(
        {"tenantId": tenant, "status": "DELIVERED", "reference": {"$type": "string"}},
        hint=BY_FIELD["status"],
    )
    failed = await coll.find_one(
        {"tenantId": tenant, "status": "FAILED", "deadLetter.reason": "retries_exhausted"},
        hint=BY_FIELD["status"],
    )
    assert delivered is not None, "no DELIVERED notification with a reference"
    assert failed is not None, "no FAILED notification"
    first = await coll.find_one({"tenantId": tenant}, sort=[("createdAt", 1)], hint=BY_FIELD[""])
    assert first is not None
    day_start: datetime = first["createdAt"]
    middle = day_start + timedelta(hours=12)
    older = (
        await coll.find({"tenantId": tenant, "createdAt": {"$lt": middle}}, {"createdAt": 1})
        .sort([("createdAt", -1), ("_id", -1)])
        .hint(BY_FIELD[""])
        .limit(1)
        .to_list()
    )
    newest = (
        await coll.find({"tenantId": tenant}, {"createdAt": 1})
        .sort([("createdAt", -1), ("_id", -1)])
        .hint(BY_FIELD[""])
        .limit(20)
        .to_list()
    )
    return Samples(
        delivered=delivered,
        failed=failed,
        deep_cursor=cursor(older[0]["createdAt"], older[0]["_id"]),
        first_cursor=cursor(newest[-1]["createdAt"], newest[-1]["_id"]),
        day_start=day_start,
    )


async def _timed_stream(http: httpx.AsyncClient, path: str) -> tuple[int, float, float, float, int]:
    """A streamed reconcile: (status, first line s, largest gap between lines s, total s,
    windows)."""
    t0 = time.perf_counter()
    first = gap = 0.0
    last = t0
    windows = 0
    async with http.stream("GET", path, headers={"Accept": "application/x-ndjson"}) as r:
        async for line in r.aiter_lines():
            if not line:
                continue
            now = time.perf_counter()
            if not first:
                first = now - t0
            gap = max(gap, now - last)
            last = now
            windows += "window" in orjson.loads(line)
        status = r.status_code
    return status, first, gap, time.perf_counter() - t0, windows


async def measure(url: str, token: str, paths: list[tuple[str, str, str]], n: int) -> list[Doc]:
    rows: list[Doc] = []
    async with httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as http:
        for name, _, path in paths:
            if name == "reconcile streamed":
                rows.append(await _measure_stream(http, name, path, n))
                continue
            for _ in range(3):  # warm the connection and the server's caches
                await http.get(path)
            latencies: list[float] = []
            codes: Counter[int] = Counter()
            for _ in range(n):
                t0 = time.perf_counter()
                r = await http.get(path)
                latencies.append(time.perf_counter() - t0)
                codes[r.status_code] += 1
            s = summary_ms(latencies)
            rows.append(
                {
                    "endpoint": name,
                    "path": path,
                    "requests": n,
                    "status": {str(k): v for k, v in codes.items()},
                    "ms": s,
                    "pass": s["p99"] <= BAR_MS and codes.get(200, 0) == n,
                }
            )
            if name == "reconcile":
                # #9: reconcile may take longer if it says so and streams: it says how long
                # (durationMs) and over how many windows; the streamed form is held to the bar
                rows[-1]["heldToBar"] = False
                rows[-1]["note"] = (
                    "one JSON body after every window is counted: as long as counting the "
                    "tenant's documents takes; see 'reconcile streamed'"
                )
            flag = "ok  " if rows[-1]["pass"] else "MISS"
            if not rows[-1].get("heldToBar", True):
                flag = "info"
            print(
                f"[reads] {flag} {name:<28} p50 {s['p50']:7.1f} ms  p99 {s['p99']:7.1f} ms"
                f"  max {s['max']:7.1f} ms  {dict(codes)}",
                flush=True,
            )
    return rows


async def _measure_stream(http: httpx.AsyncClient, name: str, path: str, n: int) -> Doc:
    """The bar applies to the first line and to every gap between lines (a window each):
    the whole takes as long as counting the tenant's documents takes, and says so."""
    for _ in range(3):
        await _timed_stream(http, path)
    firsts, gaps, totals = [], [], []
    codes: Counter[int] = Counter()
    windows = 0
    for _ in range(n):
        status, first, gap, total, windows = await _timed_stream(http, path)
        codes[status] += 1
        firsts.append(first)
        gaps.append(gap)
        totals.append(total)
    f, g, t = summary_ms(firsts), summary_ms(gaps), summary_ms(totals)
    row: Doc = {
        "endpoint": name,
        "path": path,
        "accept": "application/x-ndjson",
        "requests": n,
        "status": {str(k): v for k, v in codes.items()},
        "windows": windows,
        "ms": f,  # to the first line
        "largestGapMs": g,
        "totalMs": t,
        "pass": f["p99"] <= BAR_MS and g["p99"] <= BAR_MS and codes.get(200, 0) == n,
    }
    flag = "ok  " if row["pass"] else "MISS"
    print(
        f"[reads] {flag} {name:<28} first line p99 {f['p99']:7.1f} ms, largest gap p99"
        f" {g['p99']:7.1f} ms, whole p50 {t['p50']:7.1f} p99 {t['p99']:7.1f} ms"
        f" ({windows} windows)  {dict(codes)}",
        flush=True,
    )
    return row


# --- singles flowing meanwhile -------------------------------------------------------------------


class Singles(VegetaGenerator):
    """vegeta sending single creates at ``rate`` until :meth:`stop` (SIGINT: it stops
    attacking and writes every answer it got), parsed as ``VegetaGenerator`` parses them."""

    def __init__(self, urls: list[str], bodies: Bodies, *, rate: float, api_key: str) -> None:
        super().__init__(urls, bodies, rate=rate, duration=0, api_key=api_key)
        self._tmp = tempfile.TemporaryDirectory(prefix="wavecom-reads-vegeta-")
        self._results = Path(self._tmp.name) / "results.bin"
        self._proc: asyncio.subprocess.Process | None = None
        self.refusals: Counter[str] = Counter()

    async def start(self) -> None:
        targets = Path(self._tmp.name) / "targets.jsonl"
        targets.write_bytes(self._targets())
        self._t0 = time.monotonic()
        self._wall0 = time.time()
        self._proc = await asyncio.create_subprocess_exec(
            str(binary()),
            "attack",
            "-format=json",
            f"-targets={targets}",
            f"-rate={self.rate:g}/1s",
            "-duration=0",  # until stopped
            f"-timeout={self.timeout_s:g}s",
            "-keepalive=true",
            "-max-body=4096",
            f"-output={self._results}",
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "GOMAXPROCS": "1"},
        )

    async def stop(self) -> LoadResult:
        assert self._proc is not None, "start() first"
        self.duration = time.monotonic() - self._t0
        if self._proc.returncode is None:
            self._proc.send_signal(signal.SIGINT)
        assert self._proc.stderr is not None
        err = await self._proc.stderr.read()
        code = await self._proc.wait()
        if code not in (0, -signal.SIGINT):
            raise RuntimeError(f"vegeta attack failed ({code}): {err.decode(errors='replace')}")
        encode = await asyncio.create_subprocess_exec(
            str(binary()),
            "encode",
            "--to",
            "json",
            str(self._results),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await encode.communicate()
        if encode.returncode != 0:
            raise RuntimeError(f"vegeta encode failed: {err.decode(errors='replace')}")
        for line in out.splitlines():
            if line.strip():
                self._record(orjson.loads(line))
        self.result.planned = int(self.rate * self.duration)
        self.result.finished = time.monotonic() - self._t0
        self._tmp.cleanup()
        return self.result

    def _record(self, r: dict[str, object]) -> None:
        super()._record(r)
        status = int(r["code"])  # type: ignore[call-overload]
        if status and status != 201:  # what the refusal said: OVERLOADED, RATE_LIMITED, ...
            try:
                body = orjson.loads(base64.b64decode(str(r.get("body") or "")))
                code = str(body["error"]["code"])
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                code = "?"
            self.refusals[f"{status} {code}"] += 1

    def kill(self) -> None:
        """At an error: end vegeta (by its pid) without reading it."""
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
        self._tmp.cleanup()


def otp_singles(bodies: Bodies) -> Bodies:
    """The benchmark's single bodies, the SMS ones valid for ``TTL_S`` (an OTP's
    ``ttlSeconds``, as the seed gives them): the shape check then covers an expiry too. No
    ``reference``: vegeta sends each body many times, and a repeated reference is refused."""
    singles = []
    for body in bodies.singles:
        item = orjson.loads(body)
        if item["type"] == Channel.SMS.value:
            item["ttlSeconds"] = TTL_S
        singles.append(orjson.dumps(item))
    return Bodies(batches=bodies.batches, singles=singles, batch_size=bodies.batch_size)


def singles_report(load: LoadResult, rate: float, seconds: float) -> Doc:
    reqs = load.requests
    sent = len(reqs)
    ok = sum(1 for r in reqs if 200 <= r.status < 300)
    percent = round(100 * ok / sent, 3) if sent else 0.0
    return {
        "offeredPerSecond": rate,
        "seconds": round(seconds, 1),
        "requests": sent,
        "answered2xx": ok,
        "percent2xx": percent,
        "accepted": load.accepted,
        "acceptedPerSecond": round(load.accepted / seconds, 1) if seconds else 0.0,
        "refusedByStatus": dict(
            sorted(Counter(str(r.status) for r in reqs if not 200 <= r.status < 300).items())
        ),
        "errors": dict(Counter(r.error for r in reqs if r.error and r.status == 0)),
        "latencyMs": summary_ms([r.latency for r in reqs]),
        "acceptedLatencyMs": summary_ms([r.latency for r in reqs if 200 <= r.status < 300]),
        "flowed": sent > 0 and percent >= SINGLES_MIN_2XX,
    }


async def delivered(store: Store, ids: list[str], wait_s: float = 60.0) -> tuple[list[Doc], Doc]:
    """The singles' documents once the workers are done with them (up to ``wait_s``), and
    how many ended in each status."""
    oids = [ObjectId(i) for i in ids]
    deadline = time.monotonic() + wait_s
    docs: list[Doc] = []
    while True:
        docs = []
        for i in range(0, len(oids), 1000):
            docs += await store.notifications.get_many(oids[i : i + 1000])
        waiting = [
            d for d in docs if d["status"] in ("QUEUED", "PROCESSING", "RETRYING", "PENDING")
        ]
        if not waiting or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    return docs, dict(Counter(d["status"] for d in docs))


# --- why an endpoint missed: its queries and PostgreSQL's plans -----------------------------------


class _Recorder(monitoring.CommandListener):
    """The reads a client sent, each with how long it took."""

    def __init__(self) -> None:
        self.reads: list[tuple[Doc, float]] = []
        self._started: dict[int, tuple[float, Doc]] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if event.command_name in ("find", "aggregate", "count"):
            command = {
                k: v for k, v in event.command.items() if not k.startswith("$") and k != "lsid"
            }
            self._started[event.request_id] = (time.perf_counter(), command)

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        if (began := self._started.pop(event.request_id, None)) is not None:
            self.reads.append((began[1], 1000 * (time.perf_counter() - began[0])))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._started.pop(event.request_id, None)


def list_query(path: str, hasher: RecipientHasher) -> tuple[ListQuery, int, int] | None:
    """The store's query for a list or dead-letter path, as its route builds it (None for
    the other endpoints)."""
    url = httpx.URL(path)
    q = url.params
    if url.path == "/api/dlq":
        filters = {"status": Status.FAILED.value}
        if "type" in q:
            filters["type"] = q["type"]
        if "reason" in q:
            filters["deadLetter.reason"] = q["reason"]
    elif url.path == "/api/notifications":
        filters = {k: q[k] for k in ("status", "type", "priority") if k in q}
    else:
        return None

    def instant(name: str) -> datetime | None:
        return datetime.fromisoformat(q[name]).astimezone(UTC) if name in q else None

    query = ListQuery(
        filters=filters,
        recipient_hash=hasher(q["recipient"]) if "recipient" in q else None,
        reference=q.get("reference"),
        provider_message_id=q.get("providerMessageId"),
        created_from=instant("createdFrom"),
        created_to=instant("createdTo"),
        after=parse_cursor(q["after"]) if "after" in q else None,
    )
    return query, int(q.get("page", 1)), int(q.get("limit", 20))


_BSON = re.compile(r"'BSONHEX([0-9a-f]+)'::documentdb_core\.bson")
_OPERATOR = re.compile(r"OPERATOR\(documentdb_api_catalog\.([^)]+)\)")


def _readable(text: str) -> str:
    """DocumentDB's conditions with their BSON literals decoded."""

    def literal(m: re.Match[str]) -> str:
        try:
            value = bson.decode(bytes.fromhex(m.group(1)))
        except Exception:  # not a whole document: leave it as it is
            return m.group(0)
        return orjson.dumps(value, default=str).decode()

    text = _BSON.sub(literal, text)
    text = _OPERATOR.sub(r"\1", text)
    return text.replace("documentdb_api_catalog.", "")


def plan_lines(node: Doc, depth: int = 0) -> list[str]:
    """A PostgreSQL plan (FerretDB's ``explain``) as one line per node."""
    parts = [str(node.get("Node Type"))]
    if "Index Name" in node:
        parts.append(f"using {node['Index Name']}")
    parts.append(f"(est. rows {node.get('Plan Rows')}, cost {node.get('Total Cost')})")
    for key in ("Index Cond", "Recheck Cond", "Filter", "Sort Key", "Group Key"):
        if key in node:
            value = node[key]
            shown = ", ".join(value) if isinstance(value, list) else str(value)
            parts.append(f"{key}: {_readable(shown)}")
    lines = ["  " * depth + " ".join(parts)]
    for child in node.get("Plans", []):
        lines += plan_lines(child, depth + 1)
    return lines


async def explain_misses(
    args: argparse.Namespace, rows: list[Doc], hasher: RecipientHasher
) -> None:
    """For each list that missed the bar: the queries the store sends for it (each timed once
    more, now) and PostgreSQL's plan of each, in its row."""
    missed = [r for r in rows if not r["pass"] and r.get("heldToBar", True)]
    if not missed:
        return
    recorder = _Recorder()
    client: AsyncMongoClient[Doc] = AsyncMongoClient(
        args.mongodb_url, tz_aware=True, event_listeners=[recorder]
    )
    store = Store(client, args.database)
    try:
        for row in missed:
            built = list_query(row["path"], hasher)
            if built is None:
                row["plan"] = "not a list: no plan taken"
                continue
            query, page, limit = built
            recorder.reads.clear()
            await store.notifications.page(TENANT, query, page, limit)
            queries = []
            for command, ms in list(recorder.reads):
                plan = await store.db.command({"explain": command, "verbosity": "queryPlanner"})
                queries.append(
                    {
                        "ms": round(ms, 1),
                        "command": orjson.loads(orjson.dumps(command, default=str)),
                        "plan": plan_lines(plan["queryPlanner"]["Plan"]),
                    }
                )
            row["queries"] = queries
            print(f"[reads] {row['endpoint']}: {len(queries)} queries", flush=True)
            for q in queries:
                shown = {k: v for k, v in q["command"].items() if k not in ("projection",)}
                print(f"    {q['ms']:7.1f} ms  {orjson.dumps(shown).decode()[:300]}")
                for line in q["plan"]:
                    print(f"        {line[:300]}")
    finally:
        await client.close()


# --- the run --------------------------------------------------------------------------------------


@dataclass
class Prepared:
    token: str  # read + admin: the timed reads
    sender: str  # send: the singles
    sample: Samples
    hasher: RecipientHasher
    seeded_s: float | None


async def prepare(args: argparse.Namespace) -> Prepared:
    """Seed unless the database holds this seed already; the keys and the samples."""
    store = Store.connect(args.mongodb_url, args.database)
    seeded_s: float | None = None
    try:
        # what an earlier run seeded, recorded once it finished (estimated counts are
        # PostgreSQL's statistics on FerretDB v2, not the number of documents)
        seeded = await store.db[SEED_RECORD].find_one({"_id": "seed"})
        wanted = {
            "notifications": args.notifications,
            "tenants": args.tenants,
            "seed": args.seed,
            "shape": 4,  # the joined unique keys, the counters' facets (issue #25)
        }
        if args.reseed or seeded is None or {k: seeded.get(k) for k in wanted} != wanted:
            print(f"[reads] seeding {args.notifications:,} notifications into {args.database}")
            await store.client.drop_database(args.database)
            await store.close()
            store = Store.connect(args.mongodb_url, args.database)  # a fresh recipient key
            await store.ensure_indexes()
            seeded_s = await seed(store, args)
            await store.db[SEED_RECORD].insert_one({"_id": "seed", **wanted})
            print(f"[reads] seeded in {seeded_s:.0f} s", flush=True)
        await store.ensure_indexes()
        await Tenants(store, RateLimit(1000, 2000)).set_limit(TENANT, RateLimit(100_000, 100_000))
        _, token = await Keys(store).create(TENANT, {Scope.READ, Scope.ADMIN}, "bench-reads")
        _, sender = await Keys(store).create(TENANT, {Scope.SEND}, "bench-reads singles")
        return Prepared(
            token, sender, await samples(store, TENANT), await store.recipient_hasher(), seeded_s
        )
    finally:
        await store.close()


@dataclass
class Timed:
    rows: list[Doc]
    singles: Doc | None = None
    shape: Doc | None = None
    load_average: list[float] = field(default_factory=list)


async def timed(args: argparse.Namespace, ready: Prepared) -> Timed:
    """The API (and, with singles, a worker per channel) on the seeded database; the reads
    timed while vegeta sends singles; then the singles' documents against the seed's."""
    singles_on = args.singles_rate > 0
    system = LocalSystem(
        run_id=f"reads-{uuid.uuid4().hex[:6]}",
        mgmt=Management(args.management_url, "guest", "guest"),
        amqp_base=args.amqp_url,
        mongodb_url=args.mongodb_url,
        workers_per_channel=1 if singles_on else 0,
        log_dir=ROOT / ".state" / "bench-reads",
    )
    # the API process and the workers use the seeded database, not a fresh one of their own
    system.extra_env["MONGODB_DATABASE"] = args.database
    # the seeded QUEUED and RETRYING notifications never had a message: the sweeper would
    # (rightly) publish them all again and write their timelines while the reads are timed
    system.extra_env["SWEEP_AFTER_S"] = str(10 * 365 * 86400)
    system.create_vhost()
    singles: Singles | None = None
    try:
        system.start()
        await system.wait_ready()
        if singles_on:
            bodies = build_bodies(
                0,
                {c.value: w for c, w in TYPE_MIX.items()},
                {p.value: w for p, w in PRIORITY_MIX.items()},
                args.seed,
            )
            bodies = otp_singles(bodies)
            singles = Singles(system.api_urls, bodies, rate=args.singles_rate, api_key=ready.sender)
            await singles.start()
            print(f"[reads] vegeta: {args.singles_rate:g} single creates/s", flush=True)
            await asyncio.sleep(5)  # flowing before the first timed read
        out = Timed(
            await measure(system.api_urls[0], ready.token, endpoints(ready.sample), args.requests)
        )
        out.load_average = [round(x, 2) for x in os.getloadavg()]
        await explain_misses(args, out.rows, ready.hasher)
        if singles is not None:
            gen, singles = singles, None
            load = await gen.stop()
            out.singles = singles_report(load, args.singles_rate, gen.duration)
            out.singles["refusedByCode"] = dict(sorted(gen.refusals.items()))
            await _check_singles(args, load, ready.hasher, out)
        return out
    finally:
        if singles is not None:
            singles.kill()
        system.stop()
        system.keep = False
        system.mgmt.delete_vhost(system.vhost)


async def _check_singles(
    args: argparse.Namespace, load: LoadResult, hasher: RecipientHasher, out: Timed
) -> None:
    row = out.singles
    assert row is not None
    print(
        f"[reads] singles: {row['acceptedPerSecond']}/s accepted of "
        f"{args.singles_rate:g}/s offered, {row['percent2xx']} % 2xx, refused "
        f"{row['refusedByStatus']}, p99 {row['latencyMs'].get('p99')} ms",
        flush=True,
    )
    store = Store.connect(args.mongodb_url, args.database)
    try:
        docs, statuses = await delivered(store, load.ids)
    finally:
        await store.close()
    row["statusesAfter"] = statuses
    out.shape = compare(docs, hasher)
    print(
        f"[reads] shape: {out.shape['compared']} pipeline documents in "
        f"{len(out.shape['kinds'])} kinds against the seed's: "
        f"{'same' if out.shape['same'] else out.shape['mismatches']}",
        flush=True,
    )


async def run(args: argparse.Namespace) -> int:
    ready = await prepare(args)
    t = await timed(args, ready)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    reads_pass = all(r["pass"] for r in t.rows if r.get("heldToBar", True))
    singles_pass = t.singles is None or bool(t.singles["flowed"])
    shape_pass = t.shape is None or bool(t.shape["same"])
    report = {
        "kind": "reads-at-scale",
        "command": "python -m loadtest.bench_reads " + shlex.join(sys.argv[1:]),
        "startedAt": stamp,
        "database": "FerretDB v2.5.0 on PostgreSQL 15 + DocumentDB (services/devstack)",
        "notifications": args.notifications,
        "tenants": args.tenants,
        "perTenant": args.notifications // args.tenants,
        "timedTenant": TENANT,
        "seed": "the pipeline's builders: new_notification, then claim_update, outcome_update, "
        "receipt_update, cancel_update applied in turn (loadtest/bench_reads.py)",
        "statusMix": {s.value: w for s, w in STATUS_MIX.items()},
        "seedSeconds": ready.seeded_s,
        "barP99Ms": BAR_MS,
        "verdict": "PASS" if reads_pass and singles_pass and shape_pass else "FAIL",
        "readsPass": reads_pass,
        "singles": t.singles,
        "shapeCheck": t.shape,
        "loadAverageAfterReads": t.load_average,
        "endpoints": t.rows,
        "machine": machine_info(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"reads-{stamp}.json"
    path.write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    print(f"[reads] {report['verdict']}: report in {path.relative_to(ROOT)}")
    return 0 if report["verdict"] == "PASS" else 1


def main(argv: list[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
