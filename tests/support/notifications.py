"""Builders of notifications and provider accounts, and reading their outcomes."""

from __future__ import annotations

import base64
import os
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import orjson
from bson import ObjectId
from pydantic import SecretStr

from wavecom.core.constants import Channel
from wavecom.core.settings import Settings
from wavecom.providers import accounts
from wavecom.providers.credentials import Cipher
from wavecom.store import Store


def email(i: int = 0, domain: str = "example.com") -> dict[str, Any]:
    return {
        "type": "EMAIL",
        "recipient": f"user{i}@{domain}",
        "subject": "Your code",
        "message": f"Your one-time code is {100000 + i}",
    }


def sms(i: int = 0) -> dict[str, Any]:
    return {"type": "SMS", "recipient": f"+23480{i:08d}", "message": f"Payment {i} received"}


def push(i: int = 0) -> dict[str, Any]:
    return {"type": "PUSH", "recipient": f"device-token-{i:010d}", "message": f"Parcel {i} out"}


TWO_PROVIDERS = orjson.dumps(
    [
        {
            "name": "alpha",
            "latencyMs": 5,
            "rules": [
                {"suffix": "@bounce.example", "outcome": "permanent"},
                {"suffix": "@flaky.example", "outcome": "transient"},
                {"suffix": "@alpha-down.example", "outcome": "transient"},
            ],
        },
        {
            "name": "beta",
            "latencyMs": 5,
            "rules": [
                {"suffix": "@bounce.example", "outcome": "permanent"},
                {"suffix": "@flaky.example", "outcome": "transient"},
            ],
        },
    ]
).decode()


async def put_mock_account(
    store: Store,
    name: str,
    channel: Channel = Channel.EMAIL,
    *,
    priority: int = 10,
    enabled: bool = True,
    send_rate: float = 0.0,
    tenants: tuple[str, ...] = (),
    **mock: Any,
) -> accounts.Account:
    """Create or change a mock provider account as the admin CLI does (workers reload it)."""
    spec = accounts.AccountSpec(
        channel=channel,
        driver="mock",
        priority=priority,
        enabled=enabled,
        send_rate_per_second=send_rate,
        tenants=tenants,
        settings=mock,
    )
    return await accounts.apply(
        store, Cipher({}, None), name, spec, None, source="admin", environment="test"
    )


# a webhook account's signing secret (Standard Webhooks: "whsec_" and 32 bytes in base64)
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def in_production(settings: Settings) -> Settings:
    """``settings`` in production, with a credentials key of their own (no mock is loaded)."""
    key = base64.b64encode(os.urandom(32)).decode()
    return settings.model_copy(
        update={"environment": "production", "credentials_key": SecretStr(key)}
    )


async def put_webhook_account(
    store: Store, settings: Settings, name: str, url: str, channel: Channel = Channel.EMAIL
) -> accounts.Account:
    """Apply a real account (the signed webhook driver) as the admin CLI does, in
    ``settings``' environment; its secret is :data:`WEBHOOK_SECRET`."""
    spec = accounts.AccountSpec(channel=channel, driver="webhook", settings={"url": url})
    return await accounts.apply(
        store,
        Cipher.of(settings),
        name,
        spec,
        {"secret": WEBHOOK_SECRET},
        source="admin",
        environment=settings.environment,
    )


async def create(api: httpx.AsyncClient, items: list[dict[str, Any]]) -> list[str]:
    r = await api.post("/api/notifications/batch", json={"notifications": items})
    assert r.status_code == 201, r.text
    return [x["data"]["_id"] for x in r.json()["data"]["results"]]


async def statuses(store: Store, ids: list[str]) -> dict[str, str]:
    docs = await store.notifications.get_many([ObjectId(i) for i in ids])
    return {str(d["_id"]): d["status"] for d in docs}


def ledger(ledger_dir: Path) -> Counter[str]:
    sent: Counter[str] = Counter()
    for f in ledger_dir.glob("*.jsonl"):
        for line in f.read_bytes().splitlines():
            sent[orjson.loads(line)["notificationId"]] += 1
    return sent


async def all_terminal(store: Store, ids: list[str]) -> dict[str, str] | None:
    s = await statuses(store, ids)
    if len(s) == len(ids) and all(v in {"SENT", "FAILED", "CANCELLED"} for v in s.values()):
        return s
    return None
