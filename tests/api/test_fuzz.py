"""Schemathesis against the OpenAPI spec, bounded: no 5xx, every answer as documented.

The API runs as a real process on the real stack (its own vhost and database), signed in with
an every-scope key whose limit is out of the way; each operation gets a fixed number of
generated requests (FUZZ_EXAMPLES, 25 by default) from a fixed seed, so the run is bounded and
repeatable. Every check of schemathesis runs, "schema-valid input is accepted" too: the create
body is a union told apart by `type`, so each channel's recipient format and subject rule are in
the spec. The one rule JSON Schema cannot state, a `scheduledAt` in the future and at most a
year ahead, is kept out by moving each generated `scheduledAt` that breaks it an hour ahead
(``_future_schedules``); the rule itself is tested in tests/api/routes/test_notifications.py.
So is `expiresAt`'s (in the future, after `scheduledAt`, within 7 days of being due), moved an
hour after it is due (tests/api/routes/test_expiry.py tests it).
The live stream is left out: it answers forever by design (tests/api/routes/test_events.py
covers it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pydantic import TypeAdapter, ValidationError

from tests.support.processes import TENANT
from tests.support.services import MONGODB_URL, amqp_url, create_vhost, delete_vhost, drop_database
from tests.support.system import System
from wavecom.api.app import create_app
from wavecom.api.schemas import NotificationCreate, normalised
from wavecom.core.settings import Settings
from wavecom.core.tenants import RateLimit, Tenants
from wavecom.store import Store

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))


async def _lift_limit(s: Settings) -> None:
    store = Store.connect(s.mongodb_url, s.mongodb_database)
    try:
        await Tenants(store, RateLimit(1, 1)).set_limit(TENANT, RateLimit(100_000, 100_000))
    finally:
        await store.close()


@pytest.fixture(scope="module")
def fuzzed_api() -> Iterator[tuple[str, str]]:
    """One API process for the whole module (its own vhost and database), and its key."""
    vhost, database = create_vhost("wavecom-fuzz"), f"wavecom_fuzz_{uuid.uuid4().hex[:8]}"
    settings = Settings(
        amqp_url=amqp_url(vhost),
        mongodb_url=MONGODB_URL,
        mongodb_database=database,
        # a busy machine stalls the process for hundreds of ms: shedding is tested on its own
        # (tests/api/test_admission.py), here a 503 OVERLOADED would fail "no 5xx"
        admission_max_lag_ms=0,
        admission_queue_deadline_s=30,
    )
    system = System(settings)
    system.env["LOG_LEVEL"] = "WARNING"
    with asyncio.Runner() as runner:  # the process belongs to this loop until the module ends
        try:
            runner.run(_lift_limit(settings))
            url = runner.run(system.spawn_api())
            yield url, system.key
        finally:
            runner.run(system.stop())
            delete_vhost(vhost)
            drop_database(database)


@schemathesis.serializer("message/rfc822")
def _rfc822(_: Any, value: Any) -> bytes:
    """A delivery status notification's body (POST /api/receipts/dsn): the message as text."""
    return value if isinstance(value, bytes) else str(value).encode("utf-8", "surrogatepass")


# the spec the API process serves (the same code builds it), one test per operation
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi()).exclude(
    path="/api/events"
)


def _stateable(item: Any) -> None:
    """Keep a generated notification clear of the rules JSON Schema cannot state (each tested
    on its own in tests/api/routes/test_notifications.py): a ``scheduledAt`` that is a time
    but not within the coming year moves an hour ahead; metadata breaking the unstatable
    metadata rules (8 KiB, 64-bit integers, NUL or a lone surrogate) is left out; text with
    NUL or a lone surrogate loses them. Anything else, a wrong type for one, is sent as it is."""
    if not isinstance(item, dict):
        return
    if isinstance(item.get("scheduledAt"), str):
        try:
            at: datetime | None = datetime.fromisoformat(item["scheduledAt"])
        except ValueError:
            at = None
        now = datetime.now(UTC)
        if at is not None and at.tzinfo is not None and not now < at <= now + timedelta(days=364):
            item["scheduledAt"] = (now + timedelta(hours=1)).isoformat()
    if isinstance(item.get("expiresAt"), str):
        _valid_until(item)
    if isinstance(item.get("metadata"), dict) and not _metadata_accepted(item["metadata"]):
        item["metadata"] = None
    for name in ("message", "subject"):
        if isinstance(item.get(name), str):
            try:
                normalised(item[name])
            except ValueError:
                kept = item[name].replace("\x00", "").encode("utf-16", "surrogatepass")
                item[name] = kept.decode("utf-16", "replace") or "x"
        if isinstance(item.get(name), str) and not item[name].strip():
            # surrounding whitespace is stripped before the length is checked: a rule the
            # schema's minLength cannot state (a message of only a vertical tab is empty)
            item[name] = "x"


def _valid_until(item: dict[str, Any]) -> None:
    """An ``expiresAt`` that is a time but breaks the rules JSON Schema cannot state (in the
    future, after ``scheduledAt``, within 7 days of being due) moves to an hour after it is
    due (tests/api/routes/test_expiry.py tests the rules)."""
    try:
        until: datetime | None = datetime.fromisoformat(item["expiresAt"])
    except ValueError:
        until = None
    if until is None or until.tzinfo is None:
        return  # not a time with a timezone: sent as it is, the server must refuse it
    due = datetime.now(UTC)
    if isinstance(item.get("scheduledAt"), str):
        with contextlib.suppress(ValueError):
            due = max(due, datetime.fromisoformat(item["scheduledAt"]))
    if not due < until <= due + timedelta(days=6):
        item["expiresAt"] = (due + timedelta(hours=1)).isoformat()


def _future_schedules(body: Any) -> Any:
    """Applied to every case before it is sent (a ``map_body`` hook misses the cases of
    schemathesis's coverage phase)."""
    _stateable(body)
    if isinstance(body, dict) and isinstance(body.get("notifications"), list):
        for item in body["notifications"]:
            _stateable(item)
    return body


_CREATE = TypeAdapter(NotificationCreate)


def _metadata_accepted(metadata: dict[str, Any]) -> bool:
    """Whether the server's own validator takes this metadata (on an otherwise valid SMS)."""
    try:
        _CREATE.validate_python(
            {"type": "SMS", "recipient": "+2348012345678", "message": "m", "metadata": metadata}
        )
    except ValidationError:
        return False
    return True


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_every_answer_as_documented(
    case: Any, fuzzed_api: tuple[str, str]
) -> None:
    url, token = fuzzed_api
    case.body = _future_schedules(case.body)
    case.call_and_validate(
        base_url=url,
        headers={"Authorization": f"Bearer {token}"},
    )
