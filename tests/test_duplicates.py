"""Exactly once, honestly: a worker killed mid-send through the SMTP driver (which has no
idempotency key) sends the lost round again, and every such send is counted and said.

The SMTP server keeps each message as soon as it has its data and then holds the answer, so
the worker is killed after the relay accepted the mail and before the outcome was stored: the
window the design cannot close for a provider without idempotency keys.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from bson import ObjectId

from tests.support.notifications import all_terminal, create, email
from tests.support.servers import make_tls
from tests.support.services import free_port
from tests.support.smtp import Mailbox, SmtpServer
from tests.support.system import System
from tests.support.wait import wait_for
from wavecom.core.constants import Channel
from wavecom.core.settings import Settings
from wavecom.providers import accounts
from wavecom.providers.credentials import Cipher
from wavecom.store import Store

pytestmark = pytest.mark.e2e
TOTAL = 12


class KeepThenHold(Mailbox):
    """Keeps the message first, then holds its answer while ``holding`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.holding = True
        self.released = asyncio.Event()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if self.holding:
            await self.released.wait()
        return answer


@pytest.fixture
async def relay(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[SmtpServer]:
    server = SmtpServer(make_tls(tmp_path_factory.mktemp("tls")), "none", auth=False)
    mailbox = KeepThenHold()
    server.mailbox = mailbox
    await server.start()
    yield server
    mailbox.released.set()
    await server.stop()


async def counted(port: int) -> float:
    async with httpx.AsyncClient() as c:
        text = (await c.get(f"http://127.0.0.1:{port}/metrics")).text
    found = re.findall(
        r'^notifications_possible_duplicates_total\{provider="relay",type="EMAIL"\} (\S+)$',
        text,
        re.M,
    )
    return float(found[0]) if found else 0.0


async def test_a_worker_killed_mid_smtp_send_duplicates_exactly_what_the_metric_counts(
    settings: Settings, store: Store, relay: SmtpServer
) -> None:
    mailbox = relay.mailbox
    assert isinstance(mailbox, KeepThenHold)
    spec = accounts.AccountSpec(
        channel=Channel.EMAIL,
        driver="smtp",
        timeout_seconds=30,
        settings={
            "host": "127.0.0.1",
            "port": relay.port,
            "security": "none",
            "fromAddress": "otp@bank.example",
            "poolSize": 4,
        },
    )
    await accounts.apply(
        store, Cipher({}, None), "relay", spec, None, source="admin", environment="test"
    )
    async with System(settings) as system:
        # one batch of 4 at a time, the pool holds 4 sessions: every claimed send reaches DATA
        env = {"BATCH_SIZE": "4", "MAX_BATCHES_IN_FLIGHT": "1", "CLAIM_TTL_S": "3"}
        system.env.update(env)
        await system.spawn("email", ["-m", "wavecom.worker", "--channel", "email"], {})
        await system.spawn_api()
        async with system.client(timeout=30) as http:
            ids = await create(http, [email(i) for i in range(TOTAL)])

        async def all_claimed_sends_held() -> int:
            docs = await store.notifications.get_many([ObjectId(i) for i in ids])
            claimed = sum(1 for d in docs if d["status"] == "PROCESSING")
            return claimed if claimed and claimed == len(mailbox.received) else 0

        lost = await wait_for(all_claimed_sends_held, within=60, what="the first batch at DATA")
        system.procs["email"].kill()  # kill -9: the relay has the mail, the outcome is unstored
        await system.procs["email"].wait()
        mailbox.holding = False
        mailbox.released.set()

        metrics_port = free_port()
        await system.spawn(
            "email-2",
            ["-m", "wavecom.worker", "--channel", "email", "--metrics-port", str(metrics_port)],
            {},
        )
        final = await wait_for(
            lambda: all_terminal(store, ids), within=90, interval=0.2, what="all to be sent"
        )
        assert set(final.values()) == {"SENT"}

        by_message_id = Counter(str(m["Message-ID"]) for m in mailbox.messages)
        duplicates = sum(n - 1 for n in by_message_id.values())
        assert len(by_message_id) == TOTAL  # every notification reached the relay
        assert duplicates == lost  # each send the lost worker made went out once more
        assert await counted(metrics_port) == duplicates

        said = 0
        async for doc in store.notifications.collection.find(
            {"_id": {"$in": [ObjectId(i) for i in ids]}}, {"timeline": 1}
        ):
            said += any("possible duplicate" in e["message"] for e in doc["timeline"])
        assert said == duplicates
        assert duplicates > 0
