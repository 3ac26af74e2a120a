"""Personal data stays out of logs and traces: every way each driver can fail, through the
pipeline, with every log record and every span captured.

Each failure is a real answer from the local fake of the provider (Twilio, Google's token and
FCM endpoints, an SMTP server, a webhook gateway) or a refused connection, a timeout, the mock's
own failures; many of the answers quote the recipient or the message, as real providers do
(Twilio's "The 'To' number +234... is not a valid phone number", an SMTP server's
"<jane@...>: mailbox unavailable"). The notification's record (the outcome's error and timeline
message) must not carry them either: it is shown in the API, and it is what a log line would
quote.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.support import fcm as fcm_kit
from tests.support import smtp as smtp_kit
from tests.support import twilio as twilio_kit
from tests.support import webhook as webhook_kit
from tests.support.fcm import FakeGoogle, fcm_error
from tests.support.servers import closed_port, serving
from tests.support.smtp import PASSWORD, SmtpServer
from tests.support.tracing import in_memory_spans
from tests.support.twilio import FakeTwilio, twilio_error
from wavecom.core.constants import Channel, Priority, Status
from wavecom.core.logs import setup_logging
from wavecom.core.messages import DeliveryJob
from wavecom.core.settings import Settings
from wavecom.providers.base import Provider
from wavecom.providers.mock import MockProvider, MockProviderConfig
from wavecom.providers.routes import RouteTable
from wavecom.worker.pipeline import Dispatcher

PHONE = "+2348031234678"
EMAIL = "jane.okafor@bank.example"
DEVICE = "eVq3b1Rk0T2m:APA91bHxQ7c8aJjane-okafor-device-token-0042"
BODY = "Jane, your sign-in code is 418302"
SUBJECT = "Sign-in code for Jane Okafor"
# the drivers' timeout: the held cases wait it out; the others are answered well within it
# even by a busy machine's in-process servers (TLS and AUTH round trips included)
TIMEOUT_S = 2.0
# what must never appear: the recipients (a phone number also without its +), the body, the
# subject
PRIVATE = (PHONE, PHONE.lstrip("+"), EMAIL, DEVICE, BODY, SUBJECT, "418302")
# the local fakes log on their own side of the wire (aiosmtpd, aiohttp's server): not ours
THEIRS = ("mail.log", "aiohttp.access", "aiohttp.server", "aiohttp.web")


@dataclass
class Failure:
    name: str
    provider: Provider
    recipient: str
    expect: Status = Status.RETRYING


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with in_memory_spans() as exporter:
        yield exporter


@dataclass
class Gateway:
    """A webhook gateway answering from a script; its reason phrases quote what it got."""

    replies: list[web.Response]
    url: str = ""
    hold: asyncio.Event | None = None

    async def receive(self, request: web.Request) -> web.Response:
        await request.read()
        if self.hold is not None:
            await self.hold.wait()
        return self.replies.pop(0) if self.replies else web.Response(status=204)


@pytest.fixture
async def gateway() -> AsyncIterator[Gateway]:
    gw = Gateway([])
    app = web.Application()
    app.router.add_post("/hook", gw.receive)
    async with serving(app) as base_url:
        gw.url = f"{base_url}/hook"
        yield gw


def job(channel: Channel, recipient: str, i: int) -> DeliveryJob:
    return DeliveryJob(
        id=f"{i:024x}",
        tenant_id="t",
        type=channel,
        recipient=recipient,
        message=BODY,
        subject=SUBJECT,
        priority=Priority.HIGH,
        max_retries=3,
    )


async def failures(
    twilio_: tuple[FakeTwilio, str],
    google_: tuple[FakeGoogle, str],
    key: rsa.RSAPrivateKey,
    wrong_key: rsa.RSAPrivateKey,
    smtp: SmtpServer,
    smtp_driver: Callable[..., Provider],
    gw: Gateway,
) -> list[tuple[Failure, Callable[[], None]]]:
    """(the failing send, what makes the provider fail it) for each way a driver fails."""
    fake_twilio, twilio_url = twilio_
    fake_google, fcm_url = google_
    made: list[Provider] = []
    out: list[tuple[Failure, Callable[[], None]]] = []

    def add(
        name: str,
        provider: Provider,
        recipient: str,
        arm: Callable[[], None],
        *,
        expect: Status = Status.RETRYING,
    ) -> None:
        out.append((Failure(name, provider, recipient, expect), arm))

    def nothing() -> None:
        pass

    def twilio_says(status: int, code: int, message: str) -> Callable[[], None]:
        return lambda: fake_twilio.replies.append(twilio_error(status, code, message))

    tw = twilio_kit.driver(made, twilio_url, timeout_s=TIMEOUT_S)
    add(
        "twilio 21211",
        tw,
        PHONE,
        twilio_says(400, 21211, f"The 'To' number {PHONE} is not a valid phone number."),
        expect=Status.FAILED,
    )
    add(
        "twilio 21610",
        tw,
        PHONE,
        twilio_says(400, 21610, f"Attempt to send to unsubscribed recipient {PHONE.lstrip('+')}"),
        expect=Status.FAILED,
    )
    add(
        "twilio 30007",
        tw,
        PHONE,
        twilio_says(400, 30007, f"Message filtered: '{BODY}' to {PHONE}"),
        expect=Status.FAILED,
    )
    add("twilio 429", tw, PHONE, twilio_says(429, 14107, f"Rate limit exceeded for {PHONE}"))
    add("twilio 401", twilio_kit.driver(made, twilio_url, token="0" * 32), PHONE, nothing)
    add(
        "twilio 21212",
        tw,
        PHONE,
        twilio_says(400, 21212, f"The 'From' number is not valid for sending to {PHONE}"),
    )
    add(
        "twilio 503",
        tw,
        PHONE,
        lambda: fake_twilio.replies.append(
            web.Response(status=503, text=f"<html>upstream failed for To={PHONE}</html>")
        ),
    )
    add(
        "twilio refused",
        twilio_kit.driver(made, f"http://127.0.0.1:{closed_port()}"),
        PHONE,
        nothing,
    )

    def fcm_says(
        status: int, code: str, message: str, fcm_code: str | None = None
    ) -> Callable[[], None]:
        return lambda: fake_google.replies.append(fcm_error(status, code, message, fcm_code))

    fcm = fcm_kit.driver(made, fcm_url, key, timeout_s=TIMEOUT_S)
    add(
        "fcm UNREGISTERED",
        fcm,
        DEVICE,
        fcm_says(404, "NOT_FOUND", f"Requested entity was not found: {DEVICE}", "UNREGISTERED"),
        expect=Status.FAILED,
    )
    add(
        "fcm INVALID_ARGUMENT",
        fcm,
        DEVICE,
        fcm_says(
            400,
            "INVALID_ARGUMENT",
            f"Invalid value at 'message.notification' ({SUBJECT}: {BODY})",
            "INVALID_ARGUMENT",
        ),
        expect=Status.FAILED,
    )
    add(
        "fcm QUOTA_EXCEEDED",
        fcm,
        DEVICE,
        fcm_says(
            429,
            "RESOURCE_EXHAUSTED",
            f"Device message rate exceeded for {DEVICE}",
            "QUOTA_EXCEEDED",
        ),
    )
    add("fcm UNAVAILABLE", fcm, DEVICE, fcm_says(503, "UNAVAILABLE", "The service is unavailable"))
    add("fcm token refused", fcm_kit.driver(made, fcm_url, wrong_key), DEVICE, nothing)
    add("fcm timeout", fcm, DEVICE, lambda: setattr(fake_google, "hold", asyncio.Event()))

    add("smtp refused connection", smtp_driver(closed_port()), EMAIL, nothing)
    add("smtp login refused", smtp_driver(smtp.port, password=smtp_kit.WRONG), EMAIL, nothing)
    sd = smtp_driver(smtp.port, timeout_s=TIMEOUT_S)
    add(
        "smtp 550 RCPT",
        sd,
        EMAIL,
        lambda: smtp.mailbox.rcpt_replies.__setitem__(
            EMAIL, [f"550 5.1.1 <{EMAIL}>: Recipient address rejected: User unknown"]
        ),
        expect=Status.FAILED,
    )
    add(
        "smtp 450 RCPT",
        sd,
        EMAIL,
        lambda: smtp.mailbox.rcpt_replies.__setitem__(
            EMAIL, [f"450 4.2.1 <{EMAIL}>: mailbox busy"]
        ),
    )
    add(
        "smtp 554 DATA",
        sd,
        EMAIL,
        lambda: smtp.mailbox.data_replies.append(f"554 5.7.1 rejected: '{SUBJECT}' to {EMAIL}"),
        expect=Status.FAILED,
    )
    add(
        "smtp 553 MAIL FROM",
        sd,
        EMAIL,
        lambda: smtp.mailbox.mail_replies.append(f"553 5.7.1 sender not allowed to mail {EMAIL}"),
    )
    add("smtp invalid recipient", sd, f"{EMAIL}\r\nBcc: {EMAIL}", nothing, expect=Status.FAILED)
    add("smtp timeout", sd, EMAIL, lambda: setattr(smtp.mailbox, "hold_data", asyncio.Event()))

    wh = webhook_kit.driver(made, gw.url, timeout_s=TIMEOUT_S)
    for status, expect in (
        (400, Status.FAILED),
        (401, Status.RETRYING),
        (429, Status.RETRYING),
        (503, Status.RETRYING),
    ):
        add(
            f"webhook {status}",
            wh,
            PHONE,
            functools.partial(
                gw.replies.append,
                web.Response(status=status, reason=f"refused {PHONE}: {BODY}", text=BODY),
            ),
            expect=expect,
        )
    add("webhook timeout", wh, PHONE, lambda: setattr(gw, "hold", asyncio.Event()))
    add(
        "webhook refused",
        webhook_kit.driver(made, f"http://127.0.0.1:{closed_port()}/hook"),
        PHONE,
        nothing,
    )

    def mock(rules: list[dict[str, Any]], **cfg: Any) -> Provider:
        return MockProvider(
            Channel.SMS,
            MockProviderConfig.model_validate(
                {"name": "mocksms", "latencyMs": 0, "rules": rules, **cfg}
            ),
        )

    add(
        "mock invalid recipient",
        mock([{"suffix": "678", "outcome": "permanent"}]),
        PHONE,
        nothing,
        expect=Status.FAILED,
    )
    add("mock transient", mock([{"suffix": "678", "outcome": "transient"}]), PHONE, nothing)
    return out


async def test_no_recipient_or_body_reaches_a_log_line_a_span_or_the_record(
    twilio: tuple[FakeTwilio, str],
    google: tuple[FakeGoogle, str],
    keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey],
    servers: Callable[..., Any],
    providers: Callable[..., Provider],
    gateway: Gateway,
    spans: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # the processes' own logging set-up, at its most verbose, and every record captured
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    setup_logging("DEBUG", "worker")
    root.addHandler(caplog.handler)
    try:
        await _fail_every_way(twilio, google, keys, servers, providers, gateway, spans, caplog)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


async def _fail_every_way(
    twilio: tuple[FakeTwilio, str],
    google: tuple[FakeGoogle, str],
    keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey],
    servers: Callable[..., Any],
    providers: Callable[..., Provider],
    gateway: Gateway,
    spans: InMemorySpanExporter,
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp = await servers(auth=True)
    cases = await failures(
        twilio,
        google,
        keys[0],
        keys[1],
        smtp,
        lambda port, **kw: providers(port, **{"password": PASSWORD, **kw}),
        gateway,
    )
    assert len(cases) >= 30
    records: list[str] = []
    for i, (failure, arm) in enumerate(cases):
        arm()
        d = Dispatcher(
            RouteTable([failure.provider], Settings(retry_jitter=0.0, breaker_fail_max=1000))
        )
        channel = failure.provider.channel
        attempted = await d.deliver(job(channel, failure.recipient, i))
        outcome = attempted.outcome
        assert outcome.status is failure.expect, (failure.name, outcome.error)
        assert outcome.error, failure.name
        records += [f"{failure.name} record: {outcome.error}", f"{failure.name}: {outcome.message}"]
        for holder, attr in ((google[0], "hold"), (smtp.mailbox, "hold_data"), (gateway, "hold")):
            held = getattr(holder, attr)
            if held is not None:  # the send timed out: let the fake answer, late
                held.set()
                setattr(holder, attr, None)
    for p in {id(f.provider): f.provider for f, _ in cases}.values():
        await p.close()

    logged = [caplog.handler.format(r) for r in caplog.records if not r.name.startswith(THEIRS)]
    assert any("Twilio error 21211" in line for line in logged)  # the failures were logged
    traced: list[str] = []
    for s in spans.get_finished_spans():
        traced += [s.name, str(s.status.description or "")]
        traced += [f"{k}={v!s}" for k, v in (s.attributes or {}).items()]
        for event in s.events:
            traced += [f"{event.name} {k}={v!s}" for k, v in (event.attributes or {}).items()]
    assert any(s.name.startswith("send ") for s in spans.get_finished_spans())
    for where, lines in (("log", logged), ("span", traced), ("record", records)):
        for line in lines:
            for value in PRIVATE:
                assert value not in line, f"{where}: {line!r} carries {value!r}"
    # what is left is still useful: the provider's code and a masked recipient
    assert any("Twilio error 21211: The 'To' number +***78 is not a valid" in r for r in records)
    assert any("<j***@bank.example>" in r for r in records)
