"""``wavecom.api.schemas``: what a create accepts, and what it refuses with which message.

Each channel's recipient rule, the e-mail's subject, text stored as NFC and refused with a NUL,
metadata bounded (keys, depth, size, finite numbers, 64-bit integers), a schedule in the future
within a year, an expiry given once, in the future, after the schedule and within 7 days of it,
a reference of its own alphabet; ``expiry()`` picks expiresAt, else ttlSeconds or the tenant's
default after it is due; a batch holds 1 to 1,000. The messages are as the API's 400 names them
(``field_details``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from wavecom.api.errors import field_details
from wavecom.api.schemas import BatchCreate, EmailCreate, NotificationCreate, SmsCreate
from wavecom.core.constants import Channel, Priority

CREATE: TypeAdapter[Any] = TypeAdapter(NotificationCreate)
SMS = {"type": "SMS", "recipient": "+2348012345678", "message": "hi"}
EMAIL = {"type": "EMAIL", "recipient": "ada@example.com", "subject": "Hello", "message": "hi"}
PUSH = {"type": "PUSH", "recipient": "fcm-token:abcdefghijklmnop", "message": "hi"}


def soon(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def refused(body: dict[str, Any]) -> dict[str | None, str]:
    """The API's field details for ``body``: {field: message}."""
    with pytest.raises(ValidationError) as caught:
        CREATE.validate_python(body)
    return {d["field"]: d["message"] for d in field_details(caught.value.errors())}


@pytest.mark.parametrize("body", [SMS, EMAIL, PUSH])
def test_each_channel_is_accepted_with_its_defaults(body: dict[str, Any]) -> None:
    got = CREATE.validate_python(body)
    assert got.type == Channel(body["type"])
    assert got.priority is Priority.MEDIUM
    assert got.metadata is None
    assert got.scheduledAt is None


def test_text_is_stripped_and_stored_as_nfc() -> None:
    got = CREATE.validate_python({**SMS, "message": "  Cafe\u0301  "})
    assert got.message == "Caf\u00e9"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({**SMS, "recipient": "08012345678"}, "recipient", "must be an E.164 phone number"),
        ({**EMAIL, "recipient": "ada@"}, "recipient", "must be a valid e-mail address for EMAIL"),
        ({**PUSH, "recipient": "short"}, "recipient", "must be a device token of 16-4096"),
        ({k: v for k, v in EMAIL.items() if k != "subject"}, "subject", "is required"),
        ({**SMS, "message": ""}, "message", "String should have at least 1 character"),
        ({**SMS, "message": "a\x00b"}, "message", "must not contain NUL characters"),
        ({**SMS, "priority": "URGENT"}, "priority", "Input should be"),
        ({**SMS, "colour": "red"}, "colour", "is not a known field"),
        ({**SMS, "reference": "-starts-with-dash"}, "reference", "String should match pattern"),
    ],
)
def test_a_field_that_breaks_its_rule_is_named(
    body: dict[str, Any], field: str, message: str
) -> None:
    details = refused(body)
    assert field in details, details
    assert details[field].startswith(message), details[field]


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"$where": 1}, "keys must not start with '$' or contain '.'"),
        ({"a": {"b.c": 1}}, "keys must not start with '$' or contain '.'"),
        ({"a": [{"b": {"c": {"d": {"e": 1}}}}]}, "must be at most 5 levels deep"),
        ({"big": "x" * 9000}, "must be at most 8192 bytes as JSON"),
        ({"n": float("inf")}, "numbers must be finite"),
        ({"n": 2**63}, "integers must fit in 64 bits (-2^63 to 2^63-1)"),
        ({"k": "a\x00"}, "must not contain NUL characters"),
    ],
)
def test_metadata_is_bounded(metadata: dict[str, Any], message: str) -> None:
    assert refused({**SMS, "metadata": metadata}) == {"metadata": message}


def test_metadata_at_its_bounds_is_accepted() -> None:
    deepest = {"a": {"b": {"c": {"d": {"e": 1}}}}}
    got = CREATE.validate_python({**SMS, "metadata": {**deepest, "n": 2**63 - 1, "x": None}})
    assert got.metadata == {**deepest, "n": 2**63 - 1, "x": None}


@pytest.mark.parametrize(
    ("when", "message"),
    [
        (soon(minutes=-1), "must be in the future"),
        ("2030-01-01T09:00:00", "must include a timezone"),
        (soon(days=366), "must be at most 365 days ahead"),
    ],
)
def test_a_schedule_is_in_the_future_within_a_year(when: str, message: str) -> None:
    assert refused({**SMS, "scheduledAt": when})["scheduledAt"].startswith(message)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"ttlSeconds": 60, "expiresAt": soon(hours=1)}, "expiresAt", "give either ttlSeconds"),
        ({"ttlSeconds": "60"}, "ttlSeconds", "must be a JSON number (an integer)"),
        ({"ttlSeconds": True}, "ttlSeconds", "must be a JSON number (an integer)"),
        ({"ttlSeconds": 604_801}, "ttlSeconds", "Input should be less than or equal to 604800"),
        ({"expiresAt": soon(minutes=-1)}, "expiresAt", "must be in the future"),
        (
            {"scheduledAt": soon(hours=2), "expiresAt": soon(hours=1)},
            "expiresAt",
            "must be after scheduledAt",
        ),
        ({"expiresAt": soon(days=8)}, "expiresAt", "must be at most 604800 s (7 days)"),
    ],
)
def test_an_expiry_is_given_once_and_within_its_bounds(
    fields: dict[str, Any], field: str, message: str
) -> None:
    details = refused({**SMS, **fields})
    assert details[field].startswith(message), details


def test_the_expiry_is_expires_at_else_the_ttl_after_it_is_due() -> None:
    now = datetime.now(UTC)
    at = now + timedelta(hours=1)
    assert SmsCreate.model_validate({**SMS, "expiresAt": at.isoformat()}).expiry(now, 5) == at
    later = now + timedelta(days=1)
    scheduled = SmsCreate.model_validate(
        {**SMS, "scheduledAt": later.isoformat(), "ttlSeconds": 60}
    )
    assert scheduled.expiry(now) == later + timedelta(seconds=60)
    plain = SmsCreate.model_validate(SMS)
    assert plain.expiry(now, 300) == now + timedelta(seconds=300)
    assert plain.expiry(now) is None
    assert EmailCreate.model_validate(EMAIL).expiry(now, 0) is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"notifications": []}, "List should have at least 1 item"),
        ({"notifications": [SMS] * 1001}, "List should have at most 1000 items"),
    ],
)
def test_a_batch_holds_one_to_a_thousand(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        BatchCreate.model_validate(body)
    [detail] = field_details(caught.value.errors())
    assert detail["field"] == "notifications"
    assert detail["message"].startswith(message)
    assert len(BatchCreate.model_validate({"notifications": [SMS] * 1000}).notifications) == 1000
