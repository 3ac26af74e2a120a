"""A channel worker and its provider accounts, on the real broker and database: in production
no mock is loaded or seeded; a channel with no usable account is not ready and its
notifications wait in the queue (nothing SENT or FAILED) until an account appears; a tenant
without shared fallback never reaches a shared account.

Beside tests/worker/test_consumer.py (the pipeline's outcomes) rather than in it: these are about
what the worker consumes at all."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from aiohttp import web
from bson import ObjectId

from tests.support.admin import admin
from tests.support.notifications import (
    all_terminal,
    create,
    email,
    in_production,
    ledger,
    put_mock_account,
    put_webhook_account,
    statuses,
)
from tests.support.processes import TENANT, RunWorker, Workers, serve
from tests.support.servers import serving
from tests.support.wait import wait_for
from wavecom.core.constants import Channel, Lane, lane_queue
from wavecom.core.probes import ProbeServer
from wavecom.core.settings import Settings
from wavecom.providers import accounts
from wavecom.store import Store
from wavecom.worker.consumer import Worker

STANDARD = lane_queue(Channel.EMAIL, Lane.STANDARD)


async def probe(worker: Worker, path: str) -> httpx.Response:
    """``path`` of the worker's probe server, as the kubelet and Prometheus see it."""
    server = ProbeServer(worker.readiness)
    port = await server.start("127.0.0.1", 0)
    try:
        async with httpx.AsyncClient(timeout=5) as http:
            return await http.get(f"http://127.0.0.1:{port}{path}")
    finally:
        await server.close()


async def not_ready(worker: Worker) -> str | None:
    r = await probe(worker, "/readyz")
    return r.text if r.status_code == 503 and "no usable EMAIL" in r.text else None


async def ready(worker: Worker) -> bool:
    return (await probe(worker, "/readyz")).status_code == 200


async def waiting(
    store: Store, ids: list[str], depth: Callable[[str], Awaitable[int]]
) -> dict[str, str] | None:
    """The notifications' statuses once every one waits, QUEUED, as a ready message."""
    s = await statuses(store, ids)
    if await depth(STANDARD) == len(ids) and set(s.values()) == {"QUEUED"}:
        return s
    return None


async def test_production_loads_no_mock_waits_not_ready_and_delivers_once_an_account_appears(
    settings: Settings,
    store: Store,
    queue_depth: Callable[[str], Awaitable[int]],
    ledger_dir: Path,
) -> None:
    production = in_production(settings)
    # a mock stored before production refused them (written past the policy, as an older
    # release's seed did): the worker must leave it out
    legacy = accounts.AccountSpec(channel=Channel.EMAIL, driver="mock")
    await store.accounts.put("mailgrid", {**legacy.document(), "credentials": None}, "seed")
    received: Counter[str] = Counter()

    async def gateway(request: web.Request) -> web.Response:
        received[request.headers["webhook-id"]] += 1
        return web.json_response({"id": "gw-1"})

    app = web.Application()
    app.router.add_post("/send", gateway)
    workers = Workers(production)
    async with serve(production) as api, serving(app) as gateway_url:
        try:
            worker = await workers(Channel.EMAIL)
            why = await wait_for(lambda: not_ready(worker), what="/readyz to say why")
            assert "not consuming" in why
            assert (
                'channel_usable_accounts{type="EMAIL"} 0.0'
                in (await probe(worker, "/metrics")).text
            )
            assert [d["_id"] for d in await store.accounts.all()] == ["mailgrid"]  # no seed

            ids = await create(api, [email(i) for i in range(20)])
            await wait_for(
                lambda: waiting(store, ids, queue_depth), what="20 emails waiting in the lane"
            )
            health = (await api.get("/api/health")).json()
            assert health["channels"]["EMAIL"] == {"usableAccounts": 0, "mockOnly": False}
            assert any("mailgrid is a mock" in w for w in health["warnings"])
            assert any("EMAIL has no usable provider account" in w for w in health["warnings"])
            listed = (await api.get("/api/admin/providers")).json()["data"]["providers"]
            assert "ENVIRONMENT=production" in listed[0]["refused"]

            await put_webhook_account(store, production, "gateway", f"{gateway_url}/send")
            final = await wait_for(lambda: all_terminal(store, ids), what="20 emails delivered")
            assert set(final.values()) == {"SENT"}
            assert sum(received.values()) == 20
            assert set(received.values()) == {1}  # each once
            assert not ledger(ledger_dir)  # the mock sent nothing
            await wait_for(lambda: ready(worker), what="ready with a real account")
        finally:
            for w in list(workers.running):
                await workers.stop(w)


async def test_a_channel_whose_last_account_goes_stops_consuming_and_resumes_without_loss(
    api: httpx.AsyncClient,
    store: Store,
    run_worker: RunWorker,
    queue_depth: Callable[[str], Awaitable[int]],
    ledger_dir: Path,
) -> None:
    worker = await run_worker()
    await wait_for(lambda: ready(worker), what="the worker consuming")
    for name in ("alpha", "beta"):  # the seed's two accounts, disabled
        await put_mock_account(store, name, priority=10, enabled=False, latencyMs=2)
    await wait_for(lambda: not_ready(worker), what="not ready without an enabled account")

    ids = await create(api, [email(i) for i in range(30)])
    await wait_for(lambda: waiting(store, ids, queue_depth), what="30 emails waiting")
    assert not ledger(ledger_dir)

    await put_mock_account(store, "beta", priority=10, latencyMs=2)
    final = await wait_for(lambda: all_terminal(store, ids), what="30 emails delivered")
    assert set(final.values()) == {"SENT"}
    assert ledger(ledger_dir) == Counter(dict.fromkeys(ids, 1))
    docs = await store.notifications.get_many([ObjectId(i) for i in ids])
    assert {d["retryCount"] for d in docs} == {0}  # waiting used no attempt


async def test_a_tenant_without_shared_fallback_waits_for_its_own_account(
    worker_settings: Settings,
    store: Store,
    api: httpx.AsyncClient,
    run_worker: RunWorker,
    ledger_dir: Path,
) -> None:
    assert admin(worker_settings, "tenants", "set-shared-fallback", TENANT, "off").returncode == 0
    await run_worker()
    ids = await create(api, [email(i) for i in range(10)])
    async with serve(worker_settings, tenant="other") as other:
        theirs = await create(other, [email(i) for i in range(10, 15)])
    # the other tenant's go through the shared accounts; ours are parked, none sent
    await wait_for(lambda: all_terminal(store, theirs), what="the other tenant's emails")

    async def parked() -> bool:
        docs = await store.notifications.get_many([ObjectId(i) for i in ids])
        return len(docs) == 10 and all(
            "reserved for tenant acme" in d.get("error", "") for d in docs
        )

    await wait_for(parked, what="acme's emails parked for want of an account of its own")
    assert not set(ids) & set(ledger(ledger_dir))
    assert set((await statuses(store, ids)).values()) <= {"QUEUED", "PROCESSING"}

    await put_mock_account(store, "acme-own", priority=50, tenants=(TENANT,), latencyMs=2)
    final = await wait_for(lambda: all_terminal(store, ids), within=30, what="acme's emails")
    assert set(final.values()) == {"SENT"}
    docs = await store.notifications.get_many([ObjectId(i) for i in ids])
    assert {d["provider"] for d in docs} == {"acme-own"}
    assert ledger(ledger_dir) == Counter(dict.fromkeys([*ids, *theirs], 1))
