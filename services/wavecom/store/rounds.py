"""Delivery rounds: a worker claims a round, delivers, and stores what it ended in.

A round is one try of one attempt of a notification (``DeliveryJob.round`` and ``attempt``).
Claiming it is one conditional update of the notification document, from the waiting state of
exactly that attempt and round to PROCESSING with the claimer's token: atomic on MongoDB and on
FerretDB v2, so of two workers holding copies of one message (a redelivery, a duplicate publish,
a cancel racing a claim) exactly one wins. The outcome is stored under the same token, so only
the claimer can finish its round.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from bson import ObjectId
from pymongo import UpdateOne
from pymongo.errors import PyMongoError

from wavecom.core.constants import Status
from wavecom.core.errors import StoreUnavailable
from wavecom.core.messages import DeliveryJob
from wavecom.store.counters import Tally
from wavecom.store.documents import (
    Doc,
    log_entry,
    processing_step,
    provider_key,
    utcnow,
    waiting_status,
)
from wavecom.store.expiries import (
    Where,
    expired_fields,
    expires_of,
    expiry_step,
    iso,
    where_job,
)
from wavecom.store.indexes import BY_PROVIDER_MESSAGE, PROVIDER_KEY_FIELDS
from wavecom.store.notifications import Notifications
from wavecom.store.settling import Settler
from wavecom.store.writes import bulk, bulk_unless_taken

log = logging.getLogger("wavecom.store.rounds")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one delivery attempt ended in, as the worker will store it."""

    job: DeliveryJob
    status: Status  # SENT, RETRYING, FAILED, or QUEUED/RETRYING again when parked
    started_at: datetime
    finished_at: datetime
    message: str
    provider: str | None = None
    provider_message_id: str | None = None
    error: str | None = None
    retry_at: datetime | None = None
    retry_count: int | None = None  # the attempt number the job waits for, when it waits
    next_round: int | None = None  # set when the job waits for a provider without an attempt
    dead_reason: str | None = None  # set when FAILED: permanent, retries_exhausted
    where: Where | None = None  # set when EXPIRED: where it was when its validity ended
    held: str | None = None  # set when parked: why it waits without an attempt (heldBy)

    @property
    def processing_ms(self) -> int:
        return int((self.finished_at - self.started_at).total_seconds() * 1000)


@dataclass(frozen=True, slots=True)
class Claimed:
    """What a claim did: the rounds it won, and the notifications it expired instead."""

    won: set[str]
    expired: dict[str, Where]  # notification id -> where it was


class Rounds:
    """Claims and outcomes, on the notification documents themselves."""

    def __init__(self, notifications: Notifications) -> None:
        self.notifications = notifications
        self.collection = notifications.collection
        # a worker's claims and outcomes settle their tallies together (wavecom.store.settling)
        self.settler: Settler | None = None

    async def _settle(self, tally: Tally, done: Collection[str]) -> None:
        if self.settler is not None:
            self.settler.add(tally, done)
        else:
            await self.notifications.counters.settle(tally, done)

    async def claim(self, jobs: Sequence[DeliveryJob], token: str) -> set[str]:
        """Claim each job's round for ``token``; return the ids this call won (it expires the
        expired ones instead: :meth:`claim_rounds`)."""
        return (await self.claim_rounds(jobs, token)).won

    async def claim_rounds(
        self, jobs: Sequence[DeliveryJob], token: str, *, outcomes: Tally | None = None
    ) -> Claimed:
        """Claim each job's round for ``token``: the ids this call won, and the ones it expired
        instead (with where each was) because their ``expiresAt`` passed.

        One bulk of conditional updates, each from the round's waiting state: to PROCESSING,
        or to EXPIRED for an expired job (never claimed, so never sent late). When some did
        not match (a stale or duplicate message, a round another worker holds, a cancelled
        notification), one more read says which ones this call moved.

        ``outcomes``: the tally the batch's outcomes will be counted by (``record_outcomes``),
        recorded with the claims' own in one write: the outcomes are then stored without a
        write of their own to the counters first.
        """
        if not jobs:
            return Claimed(set(), {})
        if len({j.id for j in jobs}) != len(jobs):
            raise ValueError("claim() takes each notification once")
        now = utcnow()
        now_ms = int(now.timestamp() * 1000)
        late = {j.id: where_job(j) for j in jobs if j.expired(now_ms)}
        steps = {
            j.id: expiry_step(j.id, token, late[j.id], now, expires_of(j))
            if j.id in late
            else processing_step(j, token, now)
            for j in jobs
        }
        tally = Tally()
        for j in jobs:
            to = Status.EXPIRED if j.id in late else Status.PROCESSING
            tally.moved(
                j.tenant_id,
                j.id,
                steps[j.id]["_id"][len(j.id) :],
                waiting_status(j).value,
                to.value,
                kind=j.kind,
            )
        if outcomes is not None:
            for j in jobs:
                if j.id not in late:
                    outcomes.moving(
                        j.tenant_id, j.id, f":{token}:o", Status.PROCESSING.value, kind=j.kind
                    )
        await self.notifications.counters.intend(
            *((tally,) if outcomes is None else (tally, outcomes))
        )
        ops = [
            UpdateOne(
                {
                    "_id": ObjectId(j.id),
                    "status": waiting_status(j).value,
                    "retryCount": j.attempt,
                    "round": j.round,
                },
                claim_update(steps[j.id], token, now, late.get(j.id)),
            )
            for j in jobs
        ]
        matched = await bulk(self.collection, ops)
        if matched == len(jobs):
            moved_now = {j.id for j in jobs}
        else:
            moved_now = await self._held(jobs, token) | await self._stepped(
                [j for j in jobs if j.id in late], [steps[i]["_id"] for i in late]
            )
        won = {j.id for j in jobs if j.id in moved_now and j.id not in late}
        expired = {i: w for i, w in late.items() if i in moved_now}
        await self._settle(tally, moved_now)
        return Claimed(won, expired)

    async def examine_lost(
        self, jobs: Sequence[DeliveryJob], claim_ttl_s: float
    ) -> tuple[list[DeliveryJob], list[DeliveryJob]]:
        """Jobs whose claim failed: which to retake now (first), which to look at later.

        Nothing to do for a job whose notification moved on (delivered, failed, cancelled, or
        past this round): its message is a duplicate. A round held PROCESSING for longer than
        ``claim_ttl_s`` was claimed by a worker that died before storing an outcome: it goes
        back to waiting under the next round, which is returned to publish. A younger claim may
        belong to a worker still delivering it: look again later.
        """
        if not jobs:
            return [], []
        try:
            docs = {
                str(d["_id"]): d
                for d in await self.collection.find(
                    {"_id": {"$in": [ObjectId(j.id) for j in jobs]}},
                    {"status": 1, "retryCount": 1, "round": 1, "claim": 1, "tenantId": 1},
                ).to_list(None)
            }
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not examine lost claims: {exc}") from exc
        retake: list[DeliveryJob] = []
        later: list[DeliveryJob] = []
        now = utcnow()
        lost: list[tuple[DeliveryJob, str, float]] = []
        for j in jobs:
            doc = docs.get(j.id)
            if (
                doc is None
                or doc.get("retryCount", 0) != j.attempt
                or doc.get("round", 0) != j.round
                or doc["status"] != Status.PROCESSING.value
            ):
                continue
            claim: Doc = doc.get("claim") or {}
            age = (now - claim["at"]).total_seconds() if "at" in claim else claim_ttl_s
            if age < claim_ttl_s:
                later.append(j)
                continue
            lost.append((j, str(claim.get("token")), age))
        tally = Tally()
        for j, old, _ in lost:
            tally.moved(
                j.tenant_id,
                j.id,
                f":{old}:lost",
                Status.PROCESSING.value,
                waiting_status(j).value,
                kind=j.kind,
            )
        await self.notifications.counters.intend(tally)
        retaken: set[str] = set()
        for j, old, age in lost:
            result = await self.collection.update_one(
                {
                    "_id": ObjectId(j.id),
                    "status": Status.PROCESSING.value,
                    "claim.token": old,
                },
                {
                    "$set": {
                        "status": waiting_status(j).value,
                        "round": j.round + 1,
                        "updatedAt": now,
                        # where an expiry finds it until it is claimed again
                        "heldBy": Where.LOST_WORKER.value,
                    },
                    "$unset": {"claim": ""},
                    # the step a retake is counted by (and a reader sees)
                    "$push": {
                        "timeline": _waiting_step(
                            j, f"{j.id}:{old}:lost", "Retaken: the worker holding it was lost", now
                        )
                    },
                },
            )
            if result.matched_count:
                retaken.add(j.id)
                retake.append(j.retake())
                log.warning("retaking %s: its claim of round %d is %.0fs old", j.id, j.round, age)
        await self.notifications.counters.settle(tally, retaken)
        return retake, later

    async def release(self, jobs: Sequence[DeliveryJob], token: str) -> None:
        """Hand back the rounds ``token`` holds of ``jobs``, before anything was sent: they wait
        again under the same round, claimable at once."""
        if not jobs:
            return
        held = await self._held(jobs, token)
        if not held:
            return
        now = utcnow()
        mine = [j for j in jobs if j.id in held]
        tally = Tally()
        for j in mine:
            tally.moved(
                j.tenant_id,
                j.id,
                f":{token}:r",
                Status.PROCESSING.value,
                waiting_status(j).value,
                kind=j.kind,
            )
        await self.notifications.counters.intend(tally)
        # a step, not the claim's step pulled: what the counters are repaired from must stay
        ops = [
            UpdateOne(
                {"_id": ObjectId(j.id), "status": Status.PROCESSING.value, "claim.token": token},
                {
                    "$set": {"status": waiting_status(j).value, "updatedAt": now},
                    "$unset": {"claim": ""},
                    "$push": {
                        "timeline": _waiting_step(
                            j,
                            f"{j.id}:{token}:r",
                            "Handed back before sending: waits for a worker again",
                            now,
                        )
                    },
                },
            )
            for j in mine
        ]
        matched = await bulk(self.collection, ops)
        if matched == len(ops):
            released: set[str] = {j.id for j in mine}
        else:  # another worker retook some meanwhile (examine_lost)
            released = await self._stepped(mine, [f"{j.id}:{token}:r" for j in mine])
        await self.notifications.counters.settle(tally, released)

    async def _held(self, jobs: Sequence[DeliveryJob], token: str) -> set[str]:
        """The ids of ``jobs`` whose round ``token`` holds now."""
        try:
            docs = await self.collection.find(
                {"_id": {"$in": [ObjectId(j.id) for j in jobs]}, "claim.token": token},
                {"_id": 1},
            ).to_list(None)
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not read claims back: {exc}") from exc
        return {str(d["_id"]) for d in docs}

    async def _stepped(
        self, jobs: Sequence[DeliveryJob], step_ids: Sequence[str], *, by: str | None = None
    ) -> set[str]:
        """The ids of ``jobs`` whose timeline holds one of ``step_ids`` now (written by the
        tally ``by``, when given)."""
        if not jobs:
            return set()
        step: Doc = {"_id": {"$in": list(step_ids)}}
        if by is not None:
            step["by"] = by
        try:
            docs = await self.collection.find(
                {"_id": {"$in": [ObjectId(j.id) for j in jobs]}, "timeline": {"$elemMatch": step}},
                {"_id": 1},
            ).to_list(None)
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not read expiries back: {exc}") from exc
        return {str(d["_id"]) for d in docs}

    async def record_outcomes(
        self, outcomes: Sequence[Outcome], token: str, *, tally: Tally | None = None
    ) -> set[str]:
        """Store what each claimed round ended in: state and timeline step (one update each, in
        one bulk), then the counters; return the ids stored.

        ``tally``: the batch's outcomes' tally, recorded with its claims (``claim_rounds``):
        the counters are then neither written before nor settled after; the caller settles it
        (:meth:`settle_outcomes`) once the batch's outcomes are stored."""
        if not outcomes:
            return set()
        recorded = tally is not None
        tally = tally if tally is not None else Tally()
        ops: list[UpdateOne] = []
        for o in outcomes:
            oid = ObjectId(o.job.id)
            ops.append(
                UpdateOne(
                    {"_id": oid, "status": Status.PROCESSING.value, "claim.token": token},
                    # the step marked: a write retried after one that landed unanswered finds
                    # the step, and must not count it again (the first write's tally, left
                    # pending, is repaired instead)
                    outcome_update(o, token, by=tally.id),
                )
            )
            tally.moved(
                o.job.tenant_id,
                o.job.id,
                f":{token}:o",
                Status.PROCESSING.value,
                o.status.value,
                kind=o.job.kind,
                ms=o.processing_ms if o.status is Status.SENT else None,
                by=True,
            )
        if not recorded:
            await self.notifications.counters.intend(tally)
        matched = await bulk_unless_taken(
            self.collection, ops, PROVIDER_KEY_FIELDS, BY_PROVIDER_MESSAGE
        )
        done = {o.job.id for o in outcomes}
        if matched != len(ops):
            log.error(
                "%d of %d outcomes found their round no longer held", len(ops) - matched, len(ops)
            )
            done = await self._stepped(
                [o.job for o in outcomes], [f"{i}:{token}:o" for i in done], by=tally.id
            )
        if not recorded:
            await self._settle(tally, done)
        return done

    async def settle_outcomes(self, tally: Tally, done: Collection[str]) -> None:
        """Count the outcomes stored (``done``) of a tally recorded with its claims."""
        await self._settle(tally, done)


def claim_update(step: Doc, token: str, now: datetime, where: Where | None = None) -> Doc:
    """A claim's update of the notification document (``step``: its timeline entry): to
    PROCESSING under ``token``, or to EXPIRED when ``where`` says where it waited when its
    validity had ended. The benchmark's seed (``loadtest.bench_reads``) builds its documents
    with it too, so that they are what a worker leaves."""
    if where is not None:
        return {
            "$set": expired_fields(where, now),
            "$unset": {"nextAttemptAt": "", "heldBy": ""},
            "$push": {"timeline": step},
        }
    return {
        "$set": {
            "status": Status.PROCESSING.value,
            "claim": {"token": token, "at": now},
            "updatedAt": now,
        },
        "$push": {"timeline": step},
    }


def outcome_update(o: Outcome, token: str, *, by: str | None = None) -> Doc:
    """An outcome's update of the notification document its ``token`` holds, its step marked
    as the tally ``by``'s when given (the seed of ``loadtest.bench_reads`` builds its documents
    with it too)."""
    step = _outcome_step(o, token)
    if by is not None:
        step["by"] = by
    return {"$set": _outcome_fields(o), "$unset": _outcome_unset(o), "$push": {"timeline": step}}


def _outcome_step(o: Outcome, token: str) -> Doc:
    extra: Doc = {"attempt": o.job.attempt}
    if o.provider:
        extra["provider"] = o.provider
    if o.error:
        extra["error"] = o.error
    if o.where is not None:
        extra["where"] = o.where.value
        if (expires_at := expires_of(o.job)) is not None:
            extra["expiresAt"] = iso(expires_at)
    return log_entry(
        f"{o.job.id}:{token}:o", o.status, o.message, o.finished_at, trace=o.job.trace, **extra
    )


def _outcome_unset(o: Outcome) -> Doc:
    unset: Doc = {"claim": ""}
    if not o.held:
        unset["heldBy"] = ""
    if o.status is Status.EXPIRED:
        unset["nextAttemptAt"] = ""
    return unset


def _outcome_fields(o: Outcome) -> Doc:
    fields: Doc = {
        "status": o.status.value,
        "updatedAt": o.finished_at,
        "processingTimeMs": o.processing_ms,
    }
    if o.provider:
        fields["provider"] = o.provider
    if o.error:
        fields["error"] = o.error
    if o.status is Status.SENT:
        fields["sentAt"] = o.finished_at
        fields["providerMessageId"] = o.provider_message_id
        if o.provider_message_id and o.provider:
            fields["providerKey"] = provider_key(o.provider_message_id, o.provider)
    elif o.status is Status.FAILED:
        fields["failedAt"] = o.finished_at
        fields["deadLetter"] = {
            "reason": o.dead_reason or "failed",
            "attempts": o.job.attempt + 1,
            "lastError": o.error,
            "at": o.finished_at,
        }
    elif o.status is Status.EXPIRED and o.where is not None:
        fields.update(expired_fields(o.where, o.finished_at))
    if o.held:
        fields["heldBy"] = o.held
    if o.retry_count is not None:
        fields["retryCount"] = o.retry_count
        fields["nextAttemptAt"] = o.retry_at
    if o.next_round is not None:
        fields["round"] = o.next_round
    return fields


def _waiting_step(job: DeliveryJob, step_id: str, message: str, at: datetime) -> Doc:
    """The timeline step of a job's round going back to waiting (retaken or handed back)."""
    return log_entry(
        step_id, waiting_status(job), message, at, trace=job.trace, attempt=job.attempt
    )
