"""A callback's id, body and signature, checked with the ``standardwebhooks`` reference package."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

import pytest
from bson import ObjectId
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from wavecom.callbacks.endpoints import EndpointRefused, check_url
from wavecom.callbacks.payload import ALL_EVENTS, body, headers, new_secret, steps, webhook_id
from wavecom.callbacks.sender import backoff_s
from wavecom.core.constants import Status
from wavecom.core.settings import Settings
from wavecom.store import log_entry

AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _doc() -> dict[str, object]:
    oid = ObjectId()
    return {
        "_id": oid,
        "tenantId": "acme",
        "type": "SMS",
        "reference": "otp-1",
        "metadata": {"customer": "c-1"},
        "timeline": [
            log_entry(f"{oid}:0:0", Status.PENDING, "Notification created", AT),
            log_entry(f"{oid}:0:1", Status.QUEUED, "Added to queue", AT),
            log_entry(f"{oid}:t1:p", Status.PROCESSING, "Worker started processing", AT),
            log_entry(f"{oid}:t1:o", Status.SENT, "Sent via textwave", AT, provider="textwave"),
            log_entry(f"{oid}:r:1", Status.DELIVERED, "Delivered", AT, code="0"),
        ],
    }


def test_each_callback_step_has_a_sequence_and_a_stable_webhook_id() -> None:
    doc = _doc()
    found = list(steps(doc))
    assert [(event, seq) for event, seq, _ in found] == [
        ("notification.sent", 1),
        ("notification.delivered", 2),
    ]
    nid = str(doc["_id"])
    ids = {webhook_id(nid, entry["_id"]) for _, _, entry in found}
    assert len(ids) == 2
    # derived, not drawn: the same notification and step give the same id, in any process
    assert webhook_id(nid, f"{nid}:t1:o") == webhook_id(nid, f"{nid}:t1:o")
    assert all(i.startswith("msg_") for i in ids)


def test_the_signature_verifies_with_the_endpoint_secret_and_not_with_another() -> None:
    secret, other = new_secret(), new_secret()
    doc = _doc()
    event, sequence, entry = next(steps(doc))
    content = body(doc, event, sequence, entry)
    msg_id = webhook_id(str(doc["_id"]), entry["_id"])
    sent = headers([secret], msg_id, int(time.time()), content)
    payload = Webhook(secret).verify(content, sent)
    assert payload["type"] == "notification.sent"
    assert payload["data"]["reference"] == "otp-1"
    assert payload["data"]["metadata"] == {"customer": "c-1"}
    assert payload["data"]["timelineEntry"]["metadata"] == {"provider": "textwave"}
    with pytest.raises(WebhookVerificationError):
        Webhook(other).verify(content, sent)
    with pytest.raises(WebhookVerificationError):  # a body changed in transit
        Webhook(secret).verify(content.replace(b"otp-1", b"otp-2"), sent)
    # during a rotation both secrets sign, and either verifies
    both = headers([secret, other], msg_id, int(time.time()), content)
    assert Webhook(other).verify(content, both) == Webhook(secret).verify(content, both)


def test_backoff_doubles_with_jitter_up_to_its_cap() -> None:
    settings = Settings(callback_backoff_base_s=5, callback_backoff_max_s=3600)
    rng = random.Random(1)
    for attempts, ceiling in ((1, 5), (2, 10), (5, 80), (20, 3600)):
        waits = [backoff_s(attempts, settings, rng) for _ in range(200)]
        assert all(ceiling / 2 <= w <= ceiling for w in waits)
        assert max(waits) - min(waits) > ceiling / 4  # jittered, not one value
    # 24 hours of retries: the waits up to the cap add up past the window in ~30 attempts
    assert sum(backoff_s(n, settings, rng) for n in range(1, 40)) > 86_400 / 2


def test_every_event_type_is_named() -> None:
    assert set(ALL_EVENTS) == {
        "notification.sent",
        "notification.delivered",
        "notification.undelivered",
        "notification.bounced",
        "notification.complained",
        "notification.failed",
        "notification.expired",
        "notification.cancelled",
    }


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hooks",
        "https://10.0.0.7/hooks",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hooks",
        "https://localhost:8443/hooks",
        "http://bank.example/hooks",  # production: https only
    ],
)
def test_production_refuses_internal_addresses_and_plain_http(url: str) -> None:
    with pytest.raises(EndpointRefused) as refused:
        check_url(url, "production")
    assert refused.value.field == "url"
    assert check_url("https://hooks.bank.example/wavecom", "production")
    assert check_url(url.replace("https://", "http://"), "development")
