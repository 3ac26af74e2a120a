"""``wavecom.api.idempotency``: ``Idempotency-Key`` on single and batch create.

The same key and body get the first answer again (``Idempotent-Replayed``) and create nothing,
a refusal too; another body with the key is a 409 ``IDEMPOTENCY_KEY_REUSED``; of concurrent
requests with one key exactly one goes on, the others are told to retry; a malformed key is a
400. (Moved from tests/api/routes/, issue #26 item 2.)"""

from __future__ import annotations

import asyncio

import httpx

from tests.support.api import assert_error
from tests.support.notifications import email, sms
from wavecom.store import Store


async def test_the_same_key_and_body_return_the_first_response(
    client: httpx.AsyncClient, store: Store
) -> None:
    headers = {"Idempotency-Key": "order-42-otp"}
    first = await client.post("/api/notifications", json=sms(1), headers=headers)
    again = await client.post("/api/notifications", json=sms(1), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await store.notifications.collection.count_documents({}) == 1


async def test_the_same_key_with_another_body_is_a_409(client: httpx.AsyncClient) -> None:
    headers = {"Idempotency-Key": "k-1"}
    assert (
        await client.post("/api/notifications", json=sms(1), headers=headers)
    ).status_code == 201
    r = await client.post("/api/notifications", json=sms(2), headers=headers)
    assert_error(r, 409, "IDEMPOTENCY_KEY_REUSED", "Idempotency-Key")


async def test_concurrent_requests_with_one_key_create_one_job(
    client: httpx.AsyncClient, store: Store
) -> None:
    headers = {"Idempotency-Key": "burst"}
    responses = await asyncio.gather(
        *(client.post("/api/notifications", json=email(7), headers=headers) for _ in range(10))
    )
    codes = sorted(r.status_code for r in responses)
    assert set(codes) <= {201, 409}
    assert 201 in codes
    ids = {r.json()["data"]["_id"] for r in responses if r.status_code == 201}
    assert len(ids) == 1
    for r in responses:
        if r.status_code == 409:
            assert r.json()["error"]["code"] == "IDEMPOTENCY_KEY_IN_USE"
            assert r.headers["retry-after"] == "1"
    assert await store.notifications.collection.count_documents({}) == 1


async def test_a_batch_with_a_key_is_created_once(client: httpx.AsyncClient, store: Store) -> None:
    body = {"notifications": [sms(i) for i in range(10)] + [{**sms(0), "recipient": "bad"}]}
    headers = {"Idempotency-Key": "campaign-7"}
    first = await client.post("/api/notifications/batch", json=body, headers=headers)
    again = await client.post("/api/notifications/batch", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert await store.notifications.collection.count_documents({}) == 10


async def test_keys_are_validated(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/notifications", json=sms(1), headers={"Idempotency-Key": "x" * 300})
    assert_error(r, 400, "VALIDATION_ERROR")


async def test_a_refusal_is_stored_and_replayed_too(
    client: httpx.AsyncClient, store: Store
) -> None:
    first = await client.post("/api/notifications", json={**sms(1), "reference": "order-9"})
    assert first.status_code == 201
    headers = {"Idempotency-Key": "second-try"}
    again = {**sms(2), "reference": "order-9"}
    refused = await client.post("/api/notifications", json=again, headers=headers)
    assert_error(refused, 409, "REFERENCE_CONFLICT", "reference")
    replayed = await client.post("/api/notifications", json=again, headers=headers)
    assert replayed.status_code == 409
    assert replayed.json() == refused.json()
    assert replayed.headers["idempotent-replayed"] == "true"
    assert await store.notifications.collection.count_documents({}) == 1
