"""A fake Twilio Messages API and the Twilio driver's helpers."""

from __future__ import annotations

import asyncio
import base64
import email.utils
import hashlib
import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.support.servers import serving_fake
from wavecom.core.constants import Channel
from wavecom.providers.base import Provider, SendRequest
from wavecom.providers.drivers import build_driver

MESSAGES = "/2010-04-01/Accounts/{sid}/Messages.json"  # the route of Twilio's Messages resource
SID = "AC" + "0123456789abcdef" * 2


TOKEN = "f00dfeed" * 4


def twilio_error(status: int, code: int, message: str) -> web.Response:
    """An error as Twilio's REST API answers it."""
    return web.json_response(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status=status,
    )


def twilio_signature(url: str, form: dict[str, str], token: str = TOKEN) -> str:
    """``X-Twilio-Signature`` as Twilio documents it: base64 HMAC-SHA1, keyed by the auth
    token, of the URL followed by each POST field sorted by name, name then value."""
    data = url + "".join(k + form[k] for k in sorted(form))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


@dataclass
class FakeTwilio:
    """``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``, checked field by field; and,
    like Twilio, status callbacks to each message's ``StatusCallback``, signed with the auth
    token: on demand (:meth:`report`) or right after each 201 (``report_after_send``)."""

    forms: list[dict[str, str]] = field(default_factory=list)
    peers: list[Any] = field(default_factory=list)
    replies: list[web.Response] = field(default_factory=list)
    hold: asyncio.Event | None = None
    sent: int = 0
    report_after_send: str | None = None  # e.g. "delivered": called back at once, unprompted
    callback_urls: dict[str, str] = field(default_factory=dict)  # sid -> its StatusCallback
    callbacks: list[tuple[str, str, int]] = field(default_factory=list)  # (sid, status, answer)
    _reporting: set[asyncio.Task[httpx.Response]] = field(default_factory=set)

    async def report(
        self,
        sid: str,
        status: str,
        *,
        error_code: int | None = None,
        token: str = TOKEN,
        url: str | None = None,
    ) -> httpx.Response:
        """POST a status callback for message ``sid`` as Twilio does (signed with ``token``)."""
        target = url or self.callback_urls[sid]
        form = {
            "ApiVersion": "2010-04-01",
            "AccountSid": SID,
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "From": "+15005550000",
            "To": "+15005550006",
        }
        if error_code is not None:
            form["ErrorCode"] = str(error_code)
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(
                target,
                data=form,
                headers={
                    "X-Twilio-Signature": twilio_signature(target, form, token),
                    "User-Agent": "TwilioProxy/1.1",
                },
            )
        self.callbacks.append((sid, status, r.status_code))
        return r

    async def drain(self) -> None:
        """Wait for the unprompted callbacks in flight."""
        if self._reporting:
            await asyncio.gather(*self._reporting)

    async def messages(self, request: web.Request) -> web.Response:
        assert request.match_info["sid"] == SID
        expected = "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return twilio_error(401, 20003, "Authenticate")
        assert request.content_type == "application/x-www-form-urlencoded"
        form = {k: str(v) for k, v in (await request.post()).items()}
        assert {"To", "Body"} <= form.keys()
        assert ("From" in form) != ("MessagingServiceSid" in form)
        assert form.keys() <= {
            "To",
            "Body",
            "From",
            "MessagingServiceSid",
            "StatusCallback",
            "ValidityPeriod",
        }
        if "ValidityPeriod" in form:  # whole seconds within Twilio's bounds
            assert 1 <= int(form["ValidityPeriod"]) <= 36_000
        self.forms.append(form)
        self.peers.append(
            request.transport.get_extra_info("peername") if request.transport else None
        )
        if self.hold is not None:
            await self.hold.wait()
        if self.replies:
            return self.replies.pop(0)
        if form["To"] == "+15005550001":  # Twilio's test number for an invalid 'To'
            return twilio_error(
                400, 21211, f"The 'To' number {form['To']} is not a valid phone number."
            )
        self.sent += 1
        sid = f"SM{self.sent:032x}"
        if "StatusCallback" in form:
            self.callback_urls[sid] = form["StatusCallback"]
            if self.report_after_send is not None:
                # Twilio's callback races the 201: it may reach the API before the worker
                # has stored the outcome that carries the sid
                task = asyncio.create_task(self.report(sid, self.report_after_send))
                self._reporting.add(task)
                task.add_done_callback(self._reporting.discard)
        return web.json_response(
            {
                "account_sid": SID,
                "api_version": "2010-04-01",
                "body": form["Body"],
                "date_created": email.utils.formatdate(usegmt=True),
                "date_sent": None,
                "date_updated": email.utils.formatdate(usegmt=True),
                "direction": "outbound-api",
                "error_code": None,
                "error_message": None,
                "from": form.get("From"),
                "messaging_service_sid": form.get("MessagingServiceSid"),
                "num_media": "0",
                "num_segments": "1",
                "price": None,
                "price_unit": "USD",
                "sid": sid,
                "status": "queued" if "From" in form else "accepted",
                "subresource_uris": {
                    "media": f"/2010-04-01/Accounts/{SID}/Messages/{sid}/Media.json"
                },
                "to": form["To"],
                "uri": f"/2010-04-01/Accounts/{SID}/Messages/{sid}.json",
            },
            status=201,
        )


@pytest.fixture
async def twilio() -> AsyncIterator[tuple[FakeTwilio, str]]:
    fake = FakeTwilio()
    async with serving_fake(fake, {MESSAGES: fake.messages}) as base_url:
        yield fake, base_url


def driver(
    made: list[Provider],
    base_url: str,
    *,
    token: str = TOKEN,
    timeout_s: float = 5.0,
    **settings: Any,
) -> Provider:
    provider = build_driver(
        "textwave",
        Channel.SMS,
        "twilio",
        {"baseUrl": base_url, **(settings or {"fromNumber": "+15005550006"})},
        {"accountSid": SID, "authToken": token},
        timeout_s=timeout_s,
    )
    made.append(provider)
    return provider


def request(recipient: str = "+2348012345678", i: int = 1) -> SendRequest:
    return SendRequest(
        notification_id=f"n{i}",
        attempt=0,
        channel=Channel.SMS,
        recipient=recipient,
        message="Your code is 123456",
    )
