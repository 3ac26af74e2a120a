"""Proof, with real processes (the API and the workers as deployed, tests/support/system.py): an OTP
whose validity ends while its provider is down becomes EXPIRED and is never sent, not after the
provider recovers, and not after the worker holding it is killed -9 (docs/expiry.md).

The provider is a mock account (product code, providers/mock.py) whose ledger records every
send it accepted: the ledger is what "never sent" is checked against. Its outage switch (a file
that makes every send fail with a 503) takes it down and brings it back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import orjson
from bson import ObjectId

from tests.support.notifications import create, email, ledger, sms
from tests.support.processes import Workers, serve
from tests.support.sweeper import TakingOver, _age, _purge
from tests.support.system import System
from tests.support.wait import wait_for
from wavecom.core.broker import Publisher, QueueShape, connect
from wavecom.core.constants import Channel
from wavecom.core.settings import Settings
from wavecom.store import Store, utcnow


def _sms_account(name: str, **mock: Any) -> str:
    return orjson.dumps([{"name": name, "latencyMs": 20, "latencySigma": 0, **mock}]).decode()


def _otp(i: int, *, ttl_s: int) -> dict[str, Any]:
    return {
        **sms(i),
        "message": f"Your code is {482913 + i}",
        "priority": "CRITICAL",
        "ttlSeconds": ttl_s,
    }


async def _status(client: httpx.AsyncClient, nid: str) -> dict[str, Any]:
    r = await client.get(f"/api/notifications/{nid}")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


async def _create(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    r = await client.post("/api/notifications", json=body)
    assert r.status_code == 201, r.text
    nid: str = r.json()["data"]["_id"]
    return nid


def _in_state(client: httpx.AsyncClient, nid: str, *states: str) -> Any:
    async def check() -> dict[str, Any] | None:
        got = await _status(client, nid)
        return got if got["notification"]["status"] in states else None

    return check


async def _expired_counted(system: System) -> dict[str, float]:
    """notifications_expired_total{type="SMS"} of the API process (its sweep's), by reason."""
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{system.metrics_url}/metrics")).text
    return _parse_expired(text)


def _parse_expired(text: str) -> dict[str, float]:
    found: dict[str, float] = {}
    for line in text.splitlines():
        if not line.startswith("notifications_expired_total{"):
            continue
        labels, value = line[len("notifications_expired_total{") :].split("} ")
        pairs = dict(part.split("=", 1) for part in labels.split(","))
        if pairs.get("type") == '"SMS"' and float(value):  # every series exists, at 0
            found[pairs["reason"].strip('"')] = float(value)
    return found


async def test_an_otp_behind_an_open_breaker_expires_and_is_never_sent_even_once_it_recovers(
    settings: Settings, ledger_dir: Path, tmp_path: Path
) -> None:
    outage = tmp_path / "textwave-down"
    outage.touch()  # the provider answers every send with a 503
    system = System(settings)
    system.env.update(
        PROVIDERS_SMS=_sms_account("textwave", outageFile=str(outage)),
        BREAKER_FAIL_MAX="1",  # the first failure opens it
        # and it stays open well past the OTP's 2 s, even if a busy machine takes seconds
        # between the breaker opening and the OTP's create
        BREAKER_RESET_S="15",
        EXPIRY_SWEEP_INTERVAL_S="0.5",
    )
    async with system:
        await system.start()
        async with system.client(timeout=30) as client:
            # a first SMS fails and opens the breaker: from then on the channel parks its jobs
            first = await _create(client, sms(1))
            await wait_for(
                _in_state(client, first, "RETRYING"), within=30, what="the breaker to open"
            )
            otp = await _create(
                client,
                {
                    **sms(2),
                    "message": "Your code is 482913",
                    "priority": "CRITICAL",
                    "ttlSeconds": 2,
                },
            )
            got = await wait_for(
                _in_state(client, otp, "EXPIRED", "SENT", "FAILED"),
                within=30,
                what="the OTP to expire",
            )
            notification, logs = got["notification"], got["logs"]
            assert notification["status"] == "EXPIRED"
            assert notification["expiredWhere"] == "breaker"
            assert logs[-1]["status"] == "EXPIRED"
            assert "circuit breakers" in logs[-1]["message"]
            assert otp not in ledger(ledger_dir)

            # the provider recovers: the first SMS goes out, so does a new one; the OTP never
            outage.unlink()
            await wait_for(
                _in_state(client, first, "SENT"), within=60, what="the first SMS after recovery"
            )
            after = await _create(client, sms(3))
            await wait_for(_in_state(client, after, "SENT"), within=30, what="a new SMS")
            sent = ledger(ledger_dir)
            assert sent[first] == 1
            assert sent[after] == 1
            assert otp not in sent
            again = await _status(client, otp)
            assert again["notification"]["status"] == "EXPIRED"
            assert [e["status"] for e in again["logs"]].count("EXPIRED") == 1
            stats = (await client.get("/api/notifications/stats/system")).json()["data"]
            assert stats["byStatus"]["EXPIRED"] == 1
            assert stats["byStatus"]["SENT"] == 2
            # the API's sweep expired it (the parked job comes back only after 15 s)
            assert await _expired_counted(system) == {"breaker": 1.0}


async def test_an_otp_held_by_a_worker_killed_9_expires_when_its_round_is_retaken(
    settings: Settings, ledger_dir: Path
) -> None:
    system = System(settings)
    system.env.update(
        # the worker is inside the send (the provider takes 6 s) when it is killed
        PROVIDERS_SMS=_sms_account("textwave", latencyMs=6000),
        CLAIM_TTL_S="2",  # a claim older than this belongs to a lost worker: retaken
        EXPIRY_SWEEP_INTERVAL_S="0.5",
    )
    async with system:
        await system.start()
        async with system.client(timeout=30) as client:
            otp = await _create(
                client,
                {
                    **sms(1),
                    "message": "Your code is 193847",
                    "priority": "CRITICAL",
                    "ttlSeconds": 3,
                },
            )
            await wait_for(
                _in_state(client, otp, "PROCESSING"), within=30, what="a worker to claim it"
            )
            worker = system.procs["sms"]
            worker.kill()  # SIGKILL while it holds the round, mid-send
            await worker.wait()
            await system.spawn_worker("sms")  # its replacement
            got = await wait_for(
                _in_state(client, otp, "EXPIRED", "SENT", "FAILED"),
                within=45,
                what="the retaken round to expire",
            )
            notification = got["notification"]
            assert notification["status"] == "EXPIRED"
            assert notification["expiredWhere"] == "lost_worker"
            assert "worker holding it was lost" in got["logs"][-1]["message"]
            # the replacement delivers (slowly) what is still valid, and never the OTP
            fresh = await _create(client, sms(2))
            await wait_for(_in_state(client, fresh, "SENT"), within=45, what="a new SMS")
            sent = ledger(ledger_dir)
            assert sent[fresh] == 1
            assert otp not in sent
            stats = (await client.get("/api/notifications/stats/system")).json()["data"]
            assert stats["byStatus"]["EXPIRED"] == 1
            assert stats["byStatus"]["PROCESSING"] == 0


async def test_a_lost_message_the_sweeper_publishes_again_expires_at_its_claim_unsent(
    worker_settings: Settings, store: Store, ledger_dir: Path
) -> None:
    """The sweeper re-queues a waiting notification whose message the broker lost; past its
    expiry, that copy is expired by the claim, never sent (the expiry sweep is held off here,
    so the claim is what decides)."""
    settings = worker_settings.model_copy(update={"expiry_sweep_interval_s": 60})
    async with serve(settings) as api:
        [otp] = await create(api, [{**email(1), "ttlSeconds": 1}])
        await _purge(settings, "wavecom.email.standard")  # the broker lost its message
        await _age(store, [otp], settings.sweep_after_s + 5)
        connection = await connect(settings.amqp_url, name="expiry-test")
        try:
            publisher = await Publisher.open(connection, timeout_s=5, shape=QueueShape.of(settings))
            sweeper = TakingOver(store, publisher, await connection.channel(), settings)
            await wait_for(lambda: _past(store, otp), within=10, what="the OTP's validity to end")
            assert await sweeper.tick() == 1  # published again, as a lost message is
        finally:
            await connection.close()
        workers = Workers(settings)
        try:
            await workers(Channel.EMAIL)
            got = await wait_for(
                _in_state(api, otp, "EXPIRED", "SENT"), within=30, what="its claim"
            )
        finally:
            for worker in list(workers.running):
                await workers.stop(worker)
    assert got["notification"]["status"] == "EXPIRED"
    assert got["notification"]["expiredWhere"] == "queued"
    assert otp not in ledger(ledger_dir)


async def _past(store: Store, nid: str) -> bool:
    doc = await store.notifications.collection.find_one({"_id": ObjectId(nid)})
    return doc is not None and doc["expiresAt"] <= utcnow()
