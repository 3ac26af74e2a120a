"""The SMTP driver against a real SMTP server (aiosmtpd) with TLS from a CA the test makes."""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.servers import closed_port
from tests.support.smtp import PASSWORD, WRONG
from wavecom.core.constants import Channel, Priority, Status
from wavecom.core.errors import PermanentProviderError, TransientProviderError
from wavecom.core.messages import DeliveryJob
from wavecom.core.settings import Settings
from wavecom.providers.base import Provider, SendRequest
from wavecom.providers.routes import RouteTable
from wavecom.worker.pipeline import Dispatcher


def request(
    recipient: str = "ada@example.com", i: int = 1, attempt: int = 0, **kw: Any
) -> SendRequest:
    return SendRequest(
        notification_id=f"n{i}",
        attempt=attempt,
        channel=Channel.EMAIL,
        recipient=recipient,
        message=kw.pop("message", "Your code is 123456"),
        subject=kw.pop("subject", "Your one-time code"),
        **kw,
    )


async def test_starttls_and_auth_deliver_a_multipart_message(
    servers: Callable[..., Any], providers: Callable[..., Provider]
) -> None:
    server = await servers("starttls", auth=True)
    provider = providers(server.port, "starttls", password=PASSWORD)
    html = "<p>Your code is <b>123456</b></p>"
    receipt = await provider.send(request(metadata={"html": html}))

    assert receipt.provider == "mailgrid"
    assert receipt.provider_message_id == "<wavecom.n1.0@bank.example>"
    [got] = server.mailbox.received
    assert got.tls
    assert got.authenticated
    msg = got.message
    assert msg["From"] == "Bank OTP <otp@bank.example>"
    assert msg["To"] == "ada@example.com"
    assert msg["Subject"] == "Your one-time code"
    assert msg["Message-ID"] == receipt.provider_message_id
    assert msg.get_content_type() == "multipart/alternative"
    plain, rich = (part for part in msg.iter_parts())
    assert (plain.get_content_type(), rich.get_content_type()) == ("text/plain", "text/html")
    assert plain.get_content().strip() == "Your code is 123456"
    assert rich.get_content().strip() == html


async def test_implicit_tls_delivers_and_html_is_recognised(
    servers: Callable[..., Any], providers: Callable[..., Provider]
) -> None:
    server = await servers("tls", auth=True)
    provider = providers(server.port, "tls", password=PASSWORD)
    await provider.send(request(i=1))
    await provider.send(request(i=2, message="<p>Your code is <b>654321</b></p>"))

    first, second = server.mailbox.received
    assert first.authenticated
    assert first.message.get_content_type() == "text/plain"
    assert first.message.get_content().strip() == "Your code is 123456"
    assert second.message.get_content_type() == "multipart/alternative"
    plain = next(iter(second.message.iter_parts()))
    assert plain.get_content().strip() == "Your code is 654321"


async def test_a_refused_login_is_transient_so_the_breaker_counts_it(
    servers: Callable[..., Any], providers: Callable[..., Provider]
) -> None:
    server = await servers("starttls", auth=True)
    provider = providers(server.port, "starttls", password=WRONG)
    with pytest.raises(TransientProviderError, match="login refused: 535"):
        await provider.send(request())
    assert server.mailbox.received == []


async def test_an_untrusted_certificate_is_transient(
    servers: Callable[..., Any], providers: Callable[..., Provider]
) -> None:
    server = await servers("tls")
    provider = providers(server.port, "tls", trusted=False)
    with pytest.raises(TransientProviderError, match="cannot open an SMTP session"):
        await provider.send(request())
    assert server.mailbox.received == []


async def test_a_server_without_starttls_is_not_used_in_the_clear(
    servers: Callable[..., Any], providers: Callable[..., Provider]
) -> None:
    server = await servers("none")
    provider = providers(server.port, "starttls")
    with pytest.raises(TransientProviderError, match="STARTTLS"):
        await provider.send(request())
    assert server.mailbox.received == []


async def test_a_refused_connection_is_transient(providers: Callable[..., Provider]) -> None:
    provider = providers(closed_port())
    with pytest.raises(TransientProviderError, match="cannot open an SMTP session"):
        await provider.send(request())


@pytest.mark.parametrize(
    "reply", ["451 4.3.0 Temporary lookup failure", "421 4.7.0 Too many connections"]
)
async def test_a_4xx_is_transient_and_the_retry_is_sent(
    servers: Callable[..., Any], providers: Callable[..., Provider], reply: str
) -> None:
    server = await servers()
    server.mailbox.rcpt_replies["ada@example.com"] = [reply]
    provider = providers(server.port)
    with pytest.raises(TransientProviderError, match=f"RCPT TO answered {reply[:3]}"):
        await provider.send(request())
    receipt = await provider.send(request())
    [msg] = server.mailbox.messages
    assert msg["Message-ID"] == receipt.provider_message_id
    # 421 means the server closes the channel: the retry needed a new connection
    assert server.connections == (2 if reply.startswith("421") else 1)


async def test_a_550_is_permanent_and_the_connection_is_kept(
    servers: Callable[..., Any], providers: Callable[..., Provider]
) -> None:
    server = await servers()
    provider = providers(server.port)
    with pytest.raises(PermanentProviderError, match="RCPT TO answered 550"):
        await provider.send(request("nobody@example.com"))
    await provider.send(request())
    assert len(server.mailbox.messages) == 1
    assert server.connections == 1


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        ("554 5.6.0 Message content rejected", PermanentProviderError),
        ("452 4.3.1 Insufficient system storage", TransientProviderError),
    ],
)
async def test_the_answer_to_data_is_classified(
    servers: Callable[..., Any],
    providers: Callable[..., Provider],
    reply: str,
    error: type[Exception],
) -> None:
    server = await servers()
    server.mailbox.data_replies.append(reply)
    provider = providers(server.port)
    with pytest.raises(error, match=f"DATA answered {reply[:3]}"):
        await provider.send(request())
    assert server.mailbox.received == []


async def test_a_refused_sender_is_the_accounts_problem_so_transient(
    servers: Callable[..., Any], providers: Callable[..., Provider]
) -> None:
    server = await servers()
    server.mailbox.mail_replies.append("553 5.7.1 Sender address rejected: not owned by user")
    with pytest.raises(TransientProviderError, match="MAIL FROM answered 553"):
        await providers(server.port).send(request())


async def test_an_invalid_recipient_is_permanent_without_a_connection(
    servers: Callable[..., Any], providers: Callable[..., Provider]
) -> None:
    server = await servers()
    provider = providers(server.port)
    for bad in ("not-an-address", "ada@example.com\r\nBcc: eve@example.com", "zoë@example.com"):
        with pytest.raises(PermanentProviderError, match="invalid recipient"):
            await provider.send(request(bad))
    with pytest.raises(PermanentProviderError, match="linefeed or carriage return"):
        await provider.send(request(subject="Hi\r\nBcc: eve@example.com"))
    assert server.connections == 0


async def test_sends_share_one_connection_and_a_dropped_one_is_replaced(
    servers: Callable[..., Any], providers: Callable[..., Provider]
) -> None:
    server = await servers("starttls", auth=True)
    provider = providers(server.port, "starttls", password=PASSWORD)
    for i in range(3):
        await provider.send(request(i=i))
    assert server.connections == 1

    server.drop_connections()  # the server's idle timeout
    await provider.send(request(i=3))
    await provider.send(request(i=4))
    assert server.connections == 2
    # a server closing an idle session may first answer the next command with 421
    server.mailbox.mail_replies.append("421 4.4.2 mx.test Error: timeout exceeded")
    await provider.send(request(i=5))
    assert server.connections == 3
    assert [m["Message-ID"] for m in server.mailbox.messages] == [
        f"<wavecom.n{i}.0@bank.example>" for i in range(6)
    ]


async def test_a_server_that_does_not_answer_times_out_as_transient(
    servers: Callable[..., Any], providers: Callable[..., Provider]
) -> None:
    server = await servers()
    server.mailbox.hold_data = asyncio.Event()
    provider = providers(server.port, timeout_s=0.3)
    with pytest.raises(TransientProviderError, match=r"timed out after 0\.3s"):
        await provider.send(request())
    server.mailbox.hold_data.set()
    server.mailbox.hold_data = None
    await provider.send(request(i=2))  # a fresh connection: the stalled one was abandoned
    assert server.connections == 2


async def test_a_repeated_send_carries_the_same_message_id(
    servers: Callable[..., Any], providers: Callable[..., Provider]
) -> None:
    server = await servers()
    provider = providers(server.port)
    await provider.send(request())
    await provider.send(request(recovering=True))
    await provider.send(request(attempt=1))
    ids = [m["Message-ID"] for m in server.mailbox.messages]
    assert ids == ["<wavecom.n1.0@bank.example>"] * 2 + ["<wavecom.n1.1@bank.example>"]


def otp_job(i: int) -> DeliveryJob:
    return DeliveryJob(
        id=f"n{i}",
        tenant_id="acme",
        type=Channel.EMAIL,
        recipient="ada@example.com",
        message="Your code is 123456",
        priority=Priority.CRITICAL,
    )


async def test_a_refused_login_fails_over_to_the_next_account(
    servers: Callable[..., Any], providers: Callable[..., Provider]
) -> None:
    server = await servers("starttls", auth=True)
    primary = providers(server.port, "starttls", password=WRONG, name="primary")
    secondary = providers(server.port, "starttls", password=PASSWORD, name="secondary")
    dispatcher = Dispatcher(RouteTable([primary, secondary], Settings(breaker_fail_max=2)))
    for i in range(3):
        attempted = await dispatcher.deliver(otp_job(i))
        assert attempted.outcome.status == Status.SENT
        assert attempted.outcome.provider == "secondary"
    assert dispatcher.table.breaker_states() == {"primary": "open", "secondary": "closed"}
    assert len(server.mailbox.messages) == 3


async def test_a_relay_going_away_mid_run_opens_its_breaker_and_fails_over_losing_nothing(
    servers: Callable[..., Any], providers: Callable[..., Provider]
) -> None:
    first, second = await servers("none"), await servers("none")
    primary = providers(first.port, name="primary", timeout_s=2.0)
    secondary = providers(second.port, name="secondary", timeout_s=2.0)
    dispatcher = Dispatcher(RouteTable([primary, secondary], Settings(breaker_fail_max=2)))
    outcomes = []
    for i in range(12):
        if i == 4:
            await first.stop()  # the primary relay goes away mid-run
        outcomes.append((await dispatcher.deliver(otp_job(i))).outcome)
    assert [o.status for o in outcomes] == [Status.SENT] * 12  # nothing lost, no retry needed
    assert [o.provider for o in outcomes] == ["primary"] * 4 + ["secondary"] * 8
    assert dispatcher.table.breaker_states() == {"primary": "open", "secondary": "closed"}
    assert len(first.mailbox.messages) == 4
    assert len(second.mailbox.messages) == 8


async def test_the_expiry_goes_as_an_rfc_4021_expires_header(
    servers: Callable[..., Any], providers: Callable[..., Provider]
) -> None:
    server = await servers()
    provider = providers(server.port)
    expires = datetime(2031, 1, 1, 9, 5, 30, tzinfo=UTC)
    await provider.send(request(i=1, expires_at=expires))
    await provider.send(request(i=2))
    dated, endless = (r.message for r in server.mailbox.received)
    assert dated["Expires"] == "Wed, 01 Jan 2031 09:05:30 GMT"
    assert email.utils.parsedate_to_datetime(dated["Expires"]) == expires
    assert "Expires" not in endless
