"""wavecom.callbacks.sender: one endpoint's lane POSTing its due callbacks from the real
database to a real receiver that verifies every signature, and what each answer leaves in the
callback's record: delivered, due again after its backoff or the receiver's Retry-After, or
parked (at once for a refusal, when the retry window ends for a failure)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest

from tests.callbacks.receiver import Receiver, receiving
from tests.support.callbacks import endpoint, reached
from tests.support.servers import closed_port
from tests.support.wait import wait_for
from wavecom.callbacks.owed import owed
from wavecom.callbacks.payload import new_secret
from wavecom.callbacks.sender import Lane
from wavecom.core.constants import Status
from wavecom.core.settings import Settings
from wavecom.store import Doc, Store, utcnow
from wavecom.store.callbacks import DELIVERED, PARKED, PENDING


@asynccontextmanager
async def lane_to(
    receiver: Receiver, store: Store, settings: Settings, *secrets: str
) -> AsyncIterator[Lane]:
    """A running lane of an endpoint at ``receiver``, signing with ``secrets``."""
    lane = Lane(endpoint("cb_lane", url=receiver.url, secrets=secrets), store, settings)
    lane.start()
    try:
        yield lane
    finally:
        await lane.stop()


async def _owe(store: Store, *statuses: Status) -> list[Doc]:
    d = reached(1, *statuses)
    records = owed([d], {"acme": [endpoint("cb_lane")]}, utcnow())
    assert await store.callbacks.add(records) == len(records)
    return records


def _record(store: Store, record_id: str, done: Callable[[Doc], bool]) -> Callable[[], Any]:
    """For ``wait_for``: the stored record once ``done`` holds for it."""

    async def check() -> Doc | None:
        [doc] = [d async for d in store.callbacks.collection.find({"_id": record_id})]
        return doc if done(doc) else None

    return check


async def test_a_due_callback_is_posted_signed_and_recorded_delivered(
    worker_settings: Settings, store: Store
) -> None:
    records = await _owe(store, Status.SENT, Status.DELIVERED)
    async with (
        receiving(new_secret()) as receiver,
        lane_to(receiver, store, worker_settings, receiver.secret),
    ):
        for record in records:
            await wait_for(
                _record(store, record["_id"], lambda d: d["state"] == DELIVERED),
                what=f"{record['_id']} delivered",
            )
    assert set(receiver.acknowledged) == {r["webhookId"] for r in records}
    assert receiver.forged == 0
    for record in records:
        [doc] = [d async for d in store.callbacks.collection.find({"_id": record["_id"]})]
        assert doc["attemptCount"] == 1
        [attempt] = doc["attempts"]
        assert (attempt["status"], attempt["outcome"], attempt["error"]) == (204, "delivered", None)
        assert doc["deliveredAt"] == attempt["at"]
        payload = receiver.payloads()[record["webhookId"]]
        assert payload["type"] == record["type"]
        assert payload["data"]["sequence"] == record["sequence"]


async def test_a_receiver_still_on_the_previous_secret_verifies_during_a_rotation(
    worker_settings: Settings, store: Store
) -> None:
    [record] = await _owe(store, Status.SENT)
    previous = new_secret()
    async with (
        receiving(previous) as receiver,
        lane_to(receiver, store, worker_settings, new_secret(), previous),
    ):
        await wait_for(
            _record(store, record["_id"], lambda d: d["state"] == DELIVERED),
            what="the callback delivered",
        )
    assert list(receiver.acknowledged) == [record["webhookId"]]
    assert receiver.last[1]["webhook-signature"].count("v1,") == 2


@pytest.mark.parametrize(
    ("mode", "window_s", "status", "reason"),
    [
        ("reject", 86_400.0, 400, "HTTP 400"),  # a refusal: at once, whatever the window
        # a failure whose backoff (at least half of CALLBACK_BACKOFF_BASE_S 0.2 s) ends past
        # its retry window
        ("down", 0.05, 503, "no success within 0.05s"),
    ],
)
async def test_a_refusal_or_a_failure_past_its_window_parks_the_callback(
    worker_settings: Settings, store: Store, mode: str, window_s: float, status: int, reason: str
) -> None:
    [record] = await _owe(store, Status.FAILED)
    window = worker_settings.model_copy(update={"callback_retry_window_s": window_s})
    async with (
        receiving(new_secret(), mode=mode) as receiver,
        lane_to(receiver, store, window, receiver.secret),
    ):
        doc = await wait_for(
            _record(store, record["_id"], lambda d: d["state"] == PARKED),
            what="the callback parked",
        )
    assert doc["parkedReason"] == reason
    assert [(a["status"], a["outcome"]) for a in doc["attempts"]] == [(status, "parked")]


async def test_a_failure_is_due_again_after_its_backoff_or_the_longer_retry_after(
    worker_settings: Settings, store: Store
) -> None:
    [record] = await _owe(store, Status.SENT)
    async with receiving(new_secret(), mode="busy") as receiver:
        receiver.retry_after = "3600"
        async with lane_to(receiver, store, worker_settings, receiver.secret):
            doc = await wait_for(
                _record(store, record["_id"], lambda d: d["attemptCount"] >= 1),
                what="a first attempt recorded",
            )
    assert doc["state"] == PENDING
    [attempt] = doc["attempts"]
    assert (attempt["status"], attempt["outcome"]) == (429, "retry")
    # the receiver asked for an hour; the backoff alone (CALLBACK_BACKOFF_MAX_S 1 s) is less
    assert doc["dueAt"] >= attempt["at"] + timedelta(seconds=3599)
    assert len(receiver.seen) == 1


async def test_no_answer_is_a_failure_recorded_with_why(
    worker_settings: Settings, store: Store
) -> None:
    [record] = await _owe(store, Status.SENT)
    # nothing listens there: the connection is refused
    gone = Lane(
        endpoint("cb_lane", url=f"http://127.0.0.1:{closed_port()}/hooks"), store, worker_settings
    )
    gone.start()
    try:
        doc = await wait_for(
            _record(store, record["_id"], lambda d: d["attemptCount"] >= 1),
            what="a first attempt recorded",
        )
    finally:
        await gone.stop()
    attempt = doc["attempts"][0]
    assert attempt["status"] is None
    assert attempt["error"]
    assert attempt["outcome"] == "retry"
    assert doc["state"] == PENDING  # tried again within its 24 h window
