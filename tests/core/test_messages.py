"""The queue message: round trips, and what counts as poison."""

from __future__ import annotations

from dataclasses import replace

import pytest

from wavecom.core.constants import Channel, Lane, Priority
from wavecom.core.errors import PoisonMessage
from wavecom.core.messages import DeliveryJob


def job() -> DeliveryJob:
    return DeliveryJob(
        id="6b012ec4f17543ff7390895c",
        tenant_id="acme",
        type=Channel.EMAIL,
        recipient="a@example.com",
        message="hi",
        priority=Priority.CRITICAL,
        subject="s",
        metadata={"k": [1, 2]},
        accepted_ms=123,
    )


def test_round_trip_keeps_every_field() -> None:
    original = job().next_attempt().parked()
    assert DeliveryJob.decode(original.encode()) == original
    retaken = original.retake()
    assert DeliveryJob.decode(retaken.encode()) == retaken


def test_lanes_follow_priority() -> None:
    assert job().lane is Lane.HIGH
    assert DeliveryJob.decode(job().encode().replace(b"CRITICAL", b"LOW")).lane is Lane.STANDARD


def test_its_kind_is_its_channel_and_priority_as_plain_strings_after_every_change() -> None:
    assert job().kind == ("EMAIL", "CRITICAL")
    assert all(type(part) is str for part in job().kind)
    assert replace(job(), type=Channel.SMS, priority=Priority.LOW).kind == ("SMS", "LOW")
    assert job().next_attempt().parked().retake().kind == ("EMAIL", "CRITICAL")
    assert DeliveryJob.decode(job().encode().replace(b"CRITICAL", b"LOW")).kind == ("EMAIL", "LOW")


def test_rounds_are_named_by_attempt_and_parks() -> None:
    j = job()
    assert (j.attempt, j.round) == (0, 0)
    assert (j.parked().attempt, j.parked().round) == (0, 1)
    assert (j.parked().next_attempt().attempt, j.parked().next_attempt().round) == (1, 1)
    assert (j.next_attempt().replayed().attempt, j.next_attempt().replayed().round) == (0, 1)


def test_a_retaken_round_is_marked_until_the_next_attempt_or_a_replay() -> None:
    r = job().retake()
    assert (r.attempt, r.round, r.retaken) == (0, 1, True)
    assert r.parked().retaken  # still the same attempt: the lost send may have happened
    assert not r.next_attempt().retaken
    assert not r.replayed().retaken


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\x00\x01", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"{}", "malformed"),
        (
            b'{"notificationId": "x", "tenantId": "t", "type": "FAX", "recipient": "r",'
            b' "message": "m", "priority": "LOW"}',
            "malformed",
        ),
        (
            b'{"notificationId": "", "tenantId": "t", "type": "SMS", "recipient": "r",'
            b' "message": "m", "priority": "LOW"}',
            "non-empty",
        ),
        (
            b'{"notificationId": "x", "tenantId": "t", "type": "SMS", "recipient": "r",'
            b' "message": "m", "priority": "LOW", "metadata": [1]}',
            "metadata",
        ),
    ],
)
def test_malformed_bodies_are_poison_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(PoisonMessage, match=reason):
        DeliveryJob.decode(body)
