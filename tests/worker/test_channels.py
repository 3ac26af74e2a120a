"""Several channels' workers in one process (``python -m wavecom.worker --channel email sms
push``, what ``make up`` runs), on the real broker and database: one connection and one
database client for all, every channel delivered, readiness by channel, a stop that finishes
them all and closes the shared links once, a failure of one that stops the others."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

import aio_pika
import httpx
import pytest

from tests.support.notifications import (
    all_terminal,
    create,
    email,
    in_production,
    ledger,
    push,
    put_webhook_account,
    sms,
)
from tests.support.wait import wait_for
from wavecom.core.constants import Channel, Lane, lane_queue
from wavecom.core.settings import Settings
from wavecom.store import Store
from wavecom.worker.channels import ChannelWorkers, main
from wavecom.worker.consumer import Worker

EVERY = (Channel.EMAIL, Channel.SMS, Channel.PUSH)


async def consumers(settings: Settings) -> dict[str, int]:
    """Each lane's consumer count, as the broker sees it."""
    connection = await aio_pika.connect(settings.amqp_url)
    try:
        channel = await connection.channel()
        counts = {}
        for c in EVERY:
            for lane in Lane:
                name = lane_queue(c, lane)
                q = await channel.declare_queue(name, passive=True)
                counts[name] = q.declaration_result.consumer_count or 0
        return counts
    finally:
        await connection.close()


async def test_one_process_delivers_every_channel_on_one_connection_and_stops_them_together(
    settings: Settings, store: Store, api: httpx.AsyncClient, ledger_dir: Path
) -> None:
    # the default seed: each channel's two mock accounts (worker_settings' share names)
    group = await ChannelWorkers.start(settings, EVERY)
    running = asyncio.create_task(group.run())
    try:
        assert [w.channel for w in group.workers] == list(EVERY)
        assert {id(w.connection) for w in group.workers} == {id(group.links.connection)}
        assert {id(w.store) for w in group.workers} == {id(group.links.store)}

        async def every_lane_consumed() -> dict[str, int] | None:
            counts = await consumers(settings)
            return counts if set(counts.values()) == {1} else None

        await wait_for(every_lane_consumed, what="one consumer on each of the six lanes")
        assert group.readiness() is None

        items = [*(email(i) for i in range(10)), *(sms(i) for i in range(10))]
        items += [push(i) for i in range(10)]
        ids = await create(api, items)
        final = await wait_for(lambda: all_terminal(store, ids), what="30 notifications sent")
        assert set(final.values()) == {"SENT"}
        assert ledger(ledger_dir) == Counter(dict.fromkeys(ids, 1))
    finally:
        group.stop()
        await asyncio.wait_for(running, 30)
    assert group.links.connection.is_closed
    assert all(w.readiness() == "stopping: finishing what it holds" for w in group.workers)
    assert set((await consumers(settings)).values()) == {0}


async def test_readiness_names_each_channel_that_is_not_consuming(
    settings: Settings, store: Store
) -> None:
    production = in_production(settings)
    group = await ChannelWorkers.start(production, (Channel.EMAIL, Channel.SMS))
    running = asyncio.create_task(group.run())
    try:
        # production seeds no mock: neither channel has an account
        both = await wait_for(
            lambda: _reason(group, "email: no usable EMAIL", "sms: no usable SMS"),
            what="both channels named as not consuming",
        )
        assert "; " in both
        # an email account (never sent to here: nothing is created)
        await put_webhook_account(store, production, "gateway", "http://127.0.0.1:9/send")
        for worker in group.workers:
            await worker.follow_accounts()  # what the next PROVIDERS_POLL_S would do
        only_sms = group.readiness()
        assert only_sms is not None
        assert only_sms.startswith("sms: no usable SMS")
        assert "email" not in only_sms
    finally:
        group.stop()
        await asyncio.wait_for(running, 30)


async def _reason(group: ChannelWorkers, *parts: str) -> str | None:
    reason = group.readiness()
    return reason if reason is not None and all(p in reason for p in parts) else None


async def test_a_failing_worker_stops_the_others_and_its_error_ends_the_process(
    settings: Settings,
) -> None:
    group = await ChannelWorkers.start(settings, (Channel.EMAIL, Channel.SMS))
    email_worker, sms_worker = group.workers

    async def sms_fails() -> None:
        await wait_for(lambda: _consuming(email_worker), what="the email worker consuming first")
        raise RuntimeError("the sms worker failed")

    sms_worker.run = sms_fails  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError, match="the sms worker failed"):
            await asyncio.wait_for(group.run(), 30)
    finally:
        await sms_worker.table.close()  # its own run, which would have, never ran
    assert email_worker.readiness() == "stopping: finishing what it holds"
    assert group.links.connection.is_closed


async def _consuming(worker: Worker) -> bool:
    return worker.readiness() is None


@pytest.mark.parametrize(
    ("argv", "error"),
    [([], "--channel"), (["--channel", "fax"], "invalid choice: 'fax'")],
)
def test_the_command_needs_known_channels(
    argv: list[str], error: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert error in capsys.readouterr().err
