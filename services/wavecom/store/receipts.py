"""Provider receipts: what became of a SENT notification after the provider took it.

A receipt names a provider account and the id that account gave the send. It moves the one
notification with that pair (unique per account: ``indexes.BY_PROVIDER_MESSAGE``) from a state
in :data:`ALLOWED_FROM` to DELIVERED, UNDELIVERED, BOUNCED or COMPLAINED: one conditional
update of the notification document that changes the status and pushes the timeline step
together, atomic on MongoDB and on FerretDB v2. Never backwards (nothing goes back to SENT) and
never out of FAILED, CANCELLED or EXPIRED. The step's id is derived from the notification,
the account, the message id and the new status, and the update requires that step to be
absent, so a repeated receipt changes nothing twice; a reordered one (a delivery report after
the bounce it preceded) finds a state it may not leave and changes nothing.

A receipt can come before the worker has stored the SENT outcome that carries the message id
(Twilio calls back within milliseconds of its 201; the worker writes its batch's outcomes after
the batch). Such a receipt is held in the small ``receipts`` collection and a periodic sweep
(every API process, ``RECEIPT_SWEEP_S``) applies it once the id is known, or drops it as
unknown after ``RECEIPT_HOLD_S``. The sweep, rather than a look-up when each outcome is stored,
keeps the delivery path free of any extra read or write (#25): it costs one query of a
usually empty collection per tick.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

from wavecom.core.constants import Status
from wavecom.core.errors import StoreUnavailable
from wavecom.store.counters import Tally, kind_of
from wavecom.store.documents import Doc, log_entry, provider_key, utcnow
from wavecom.store.indexes import BY_PROVIDER_MESSAGE, partial_string
from wavecom.store.notifications import Notifications

log = logging.getLogger("wavecom.store.receipts")

# the states a receipt of each status may move a notification out of. An email can be
# reported delivered (the recipient's server took it) and then bounce or be reported as spam;
# nothing else follows a final receipt.
ALLOWED_FROM: dict[Status, frozenset[Status]] = {
    Status.DELIVERED: frozenset({Status.SENT}),
    Status.UNDELIVERED: frozenset({Status.SENT}),
    Status.BOUNCED: frozenset({Status.SENT, Status.DELIVERED}),
    Status.COMPLAINED: frozenset({Status.SENT, Status.DELIVERED}),
}
# what the timeline says of each receipt
_MESSAGES = {
    Status.DELIVERED: "Delivered, as {provider} reported",
    Status.UNDELIVERED: "Not delivered: {provider} gave up",
    Status.BOUNCED: "Bounced, as {provider} reported",
    Status.COMPLAINED: "The recipient reported it as spam ({provider})",
}
_SWEEP_LIMIT = 500


class Result(StrEnum):
    """What a receipt did."""

    APPLIED = "applied"  # the notification moved on
    IGNORED = "ignored"  # a repeat, or a state it may not move the notification out of
    HELD = "held"  # no notification has that id yet: held for the sweep
    UNKNOWN = "unknown"  # held for RECEIPT_HOLD_S and still no notification has that id


@dataclass(frozen=True, slots=True)
class ProviderReceipt:
    """One receipt as a provider reported it, in its own terms mapped to a status."""

    provider: str  # the account's name
    message_id: str  # the id the account gave the send
    status: Status  # one of ALLOWED_FROM's keys
    at: datetime  # when the provider says it happened (else when it reached us)
    code: str | None = None  # the provider's code: Twilio's ErrorCode, an SMTP status
    reason: str | None = None  # the provider's words, when it gives any
    source: str = ""  # the endpoint it came through: twilio, webhook, mailgun, dsn

    def __post_init__(self) -> None:
        if self.status not in ALLOWED_FROM:
            raise ValueError(f"{self.status} is not a receipt status")

    @property
    def key(self) -> str:
        """The receipt's identity: one per account, message and status."""
        return f"{self.provider}:{self.message_id}:{self.status.value}"


@dataclass(slots=True)
class Applied:
    """A receipt's result; ``doc``: the notification as it is now when it moved on."""

    result: Result
    doc: Doc | None = None
    previous: str | None = None
    step: Doc | None = None


def receipt_step(notification_id: str, r: ProviderReceipt) -> Doc:
    """The timeline entry of a receipt: its id derived from the notification, the account,
    the provider's message id and the status, so the same receipt names the same step."""
    details: dict[str, Any] = {"provider": r.provider, "providerMessageId": r.message_id}
    if r.code is not None:
        details["code"] = r.code
    if r.reason:
        details["reason"] = r.reason[:500]
    if r.source:
        details["via"] = r.source
    return log_entry(
        f"{notification_id}:receipt:{r.key}",
        r.status,
        _MESSAGES[r.status].format(provider=r.provider),
        r.at,
        **details,
    )


def receipt_update(r: ProviderReceipt, step: Doc, now: datetime) -> Doc:
    """A receipt's update of the notification it moves (``step``: :func:`receipt_step`'s);
    the seed of ``loadtest.bench_reads`` builds its documents with it too."""
    return {
        "$set": {"status": r.status.value, "updatedAt": now, "receipt": _receipt_fields(r)},
        "$push": {"timeline": step},
    }


class Receipts:
    """Receipts applied to the notification documents, and those held until they can be."""

    def __init__(self, notifications: Notifications, held: AsyncCollection[Doc]) -> None:
        self.notifications = notifications
        self.collection = notifications.collection
        self.held = held

    async def apply(self, r: ProviderReceipt) -> Applied:
        """Apply ``r`` now, or hold it when no notification carries its message id yet."""
        applied = await self._apply(r)
        if applied.result is Result.HELD:
            try:
                await self.held.insert_one(_held_doc(r))
            except DuplicateKeyError:
                pass  # the same receipt is held already
            except PyMongoError as exc:
                raise StoreUnavailable(f"could not hold a receipt: {exc}") from exc
        return applied

    async def _apply(self, r: ProviderReceipt) -> Applied:
        """One look-up by (message id, account) through its index, then one conditional
        update by ``_id`` (FerretDB v2 takes no hint on findAndModify, and its planner does
        not pick the partial index by itself)."""
        try:
            found = await self.collection.find_one(
                {"providerKey": partial_string(provider_key(r.message_id, r.provider))},
                {"_id": 1, "status": 1, "tenantId": 1, "type": 1, "priority": 1},
                hint=BY_PROVIDER_MESSAGE,
            )
            if found is None:
                return Applied(Result.HELD)
            if found["status"] not in {s.value for s in ALLOWED_FROM[r.status]}:
                return Applied(Result.IGNORED)
            step = receipt_step(str(found["_id"]), r)
            # counted from the state it was found in, and moved only from that state
            tally = Tally()
            tally.moved(
                found["tenantId"],
                found["_id"],
                step["_id"][len(str(found["_id"])) :],
                found["status"],
                r.status.value,
                kind=kind_of(found),
                by=True,
            )
            tally.mark(step)
            await self.notifications.counters.intend(tally)
            now = utcnow()
            before = await self.collection.find_one_and_update(
                {
                    "_id": found["_id"],
                    "status": found["status"],
                    "timeline._id": {"$ne": step["_id"]},
                },
                receipt_update(r, step, now),
                projection={"timeline": 0},
                return_document=ReturnDocument.BEFORE,
            )
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not apply a receipt: {exc}") from exc
        await self.notifications.counters.settle(tally, {str(found["_id"])} if before else ())
        if before is None:  # a repeat, or it moved on since it was read
            return await self._apply(r) if await self._moved_on(found) else Applied(Result.IGNORED)
        after = {
            **before,
            "status": r.status.value,
            "updatedAt": now,
            "receipt": _receipt_fields(r),
        }
        return Applied(Result.APPLIED, after, before["status"], step)

    async def _moved_on(self, found: Doc) -> bool:
        """Whether the notification left the state it was read in (a receipt may then apply
        from its new state; the read again decides)."""
        try:
            now = await self.collection.find_one({"_id": found["_id"]}, {"status": 1})
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not apply a receipt: {exc}") from exc
        return now is not None and now["status"] != found["status"]

    async def sweep(self, hold_s: float) -> list[tuple[ProviderReceipt, Applied]]:
        """Apply the held receipts whose notification is now known; drop those held for
        longer than ``hold_s`` as unknown. Returns each one that was settled, oldest first."""
        try:
            held = (
                await self.held.find({})
                .sort([("receivedAt", ASCENDING)])
                .hint("received")
                .limit(_SWEEP_LIMIT)
                .to_list()
            )
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not read held receipts: {exc}") from exc
        settled: list[tuple[ProviderReceipt, Applied]] = []
        cutoff = utcnow() - timedelta(seconds=hold_s)
        for doc in held:
            r = _receipt_of(doc)
            applied = await self._apply(r)
            if applied.result is Result.HELD:
                if doc["receivedAt"] > cutoff:
                    continue
                applied = Applied(Result.UNKNOWN)
            try:
                await self.held.delete_one({"_id": doc["_id"]})
            except PyMongoError as exc:
                raise StoreUnavailable(f"could not drop a held receipt: {exc}") from exc
            settled.append((r, applied))
        return settled

    async def held_count(self) -> int:
        return await self.held.count_documents({})


def _receipt_fields(r: ProviderReceipt) -> Doc:
    """What the notification keeps of its latest receipt (the API's ``receipt``)."""
    fields: Doc = {"status": r.status.value, "at": r.at}
    if r.code is not None:
        fields["code"] = r.code
    return fields


def _held_doc(r: ProviderReceipt) -> Doc:
    return {
        "_id": r.key,
        "provider": r.provider,
        "messageId": r.message_id,
        "status": r.status.value,
        "at": r.at,
        "code": r.code,
        "reason": r.reason,
        "source": r.source,
        "receivedAt": utcnow(),
    }


def _receipt_of(doc: Doc) -> ProviderReceipt:
    return ProviderReceipt(
        provider=doc["provider"],
        message_id=doc["messageId"],
        status=Status(doc["status"]),
        at=doc["at"],
        code=doc.get("code"),
        reason=doc.get("reason"),
        source=doc.get("source", ""),
    )
