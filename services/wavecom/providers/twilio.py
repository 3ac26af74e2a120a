"""The ``twilio`` driver: SMS through Twilio's Programmable Messaging API.

One form-encoded ``POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`` per send,
with HTTP basic auth (AccountSid:AuthToken) and ``To``, ``Body`` and either ``From`` or
``MessagingServiceSid``. Twilio answers ``201 Created`` with the Message resource; its ``sid``
(``SM...``) is the receipt's message id. Errors carry a JSON body with Twilio's own ``code``
and ``message``, kept in the error text.

Twilio's Messages API takes no idempotency key: a send repeated after a crash is a second SMS.
"""

from __future__ import annotations

import math

from pydantic import AnyHttpUrl, Field, SecretStr, model_validator

from wavecom.core.constants import Channel
from wavecom.core.errors import PermanentProviderError, SendDeferred, TransientProviderError
from wavecom.providers import http
from wavecom.providers.base import DriverModel, Provider, Receipt, SendRequest

# HTTP statuses that are transient (retried; the breaker counts them). 401 is Twilio refusing
# the account's credentials (error 20003): every send of this account would fail the same way,
# so it must open the breaker and fail over rather than fail each notification. A 429 (20429,
# or 14107 for one number's rate) asks to slow down: retried, the breaker does not count it.
TRANSIENT_STATUS = frozenset({401, *range(500, 600)})

# Twilio error codes, answered with 400, that are about the account and not the message: the
# sender is misconfigured, so another account may well deliver. Every other 4xx is permanent.
ACCOUNT_ERROR_CODES: dict[int, str] = {
    20003: "authentication failed",
    21212: "the From number is not a valid phone number or alphanumeric sender id",
    21606: "the From number is not a message-capable number of this account",
}


class TwilioSettings(DriverModel):
    """Exactly one of ``from_number`` (E.164 or an alphanumeric sender id) and
    ``messaging_service_sid`` (``MG...``) names the sender."""

    base_url: AnyHttpUrl = AnyHttpUrl("https://api.twilio.com")
    from_number: str | None = Field(default=None, min_length=1, max_length=20)
    messaging_service_sid: str | None = Field(default=None, pattern=r"^MG[0-9a-fA-F]{32}$")
    status_callback: AnyHttpUrl | None = None

    @model_validator(mode="after")
    def _one_sender(self) -> TwilioSettings:
        if (self.from_number is None) == (self.messaging_service_sid is None):
            raise ValueError("give exactly one of fromNumber and messagingServiceSid")
        return self


def callback_url(public_base_url: str, account: str) -> str:
    """The status callback URL of ``account`` under the API's public base URL: what the driver
    sends as ``StatusCallback`` and what Twilio signs its callbacks with."""
    return f"{public_base_url.rstrip('/')}/api/receipts/twilio/{account}"


# Twilio's bounds on ValidityPeriod, in seconds: it drops a message still queued (at Twilio,
# for lack of throughput) once this much time has passed; 36000 (10 hours) is also its default
VALIDITY_MIN_S, VALIDITY_MAX_S = 1, 36_000


def validity_period(request: SendRequest) -> int | None:
    """The ``ValidityPeriod`` for what remains of the request's validity: whole seconds,
    clamped to Twilio's 1..36000 (a longer validity is sent as 36000, Twilio's default anyway;
    less than a second left is sent as 1). None when the notification never expires."""
    remaining = request.remaining_s()
    if remaining is None:
        return None
    return max(VALIDITY_MIN_S, min(VALIDITY_MAX_S, math.ceil(remaining)))


class TwilioCredentials(DriverModel):
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr = Field(min_length=1)


class TwilioProvider(Provider):
    """A Twilio account as an SMS provider account."""

    def __init__(
        self,
        name: str,
        settings: TwilioSettings,
        credentials: TwilioCredentials,
        *,
        send_rate: float = 0.0,
        timeout_s: float = 10.0,
        public_base_url: str = "",
    ) -> None:
        self.name = name
        self.channel = Channel.SMS
        self.send_rate = send_rate
        self.timeout_s = timeout_s
        self.settings = settings
        # the account's own statusCallback, else the receipt endpoint under the API's public
        # base URL (PUBLIC_BASE_URL), else none: Twilio then reports nothing after its 201
        self.status_callback = (
            str(settings.status_callback)
            if settings.status_callback is not None
            else callback_url(public_base_url, name)
            if public_base_url
            else None
        )
        sid = credentials.account_sid
        self._path = f"/2010-04-01/Accounts/{sid}/Messages.json"
        self._client = http.pooled_client(
            timeout_s,
            base_url=str(settings.base_url).rstrip("/"),
            auth=(sid, credentials.auth_token.get_secret_value()),
        )

    async def send(self, request: SendRequest) -> Receipt:
        s = self.settings
        form = {"To": request.recipient, "Body": request.message}
        if s.messaging_service_sid is not None:
            form["MessagingServiceSid"] = s.messaging_service_sid
        elif s.from_number is not None:
            form["From"] = s.from_number
        if self.status_callback is not None:
            form["StatusCallback"] = self.status_callback
        if (validity := validity_period(request)) is not None:
            form["ValidityPeriod"] = str(validity)
        async with http.deadline(self.name, self.timeout_s):
            response = await http.post(self._client, self.name, self._path, data=form)
        body = http.json_body(response)
        status = response.status_code
        if 200 <= status < 300:
            sid = body.get("sid")
            return Receipt(
                provider=self.name, provider_message_id=sid if isinstance(sid, str) else ""
            )
        code = body.get("code")
        error = f"{self.name}: HTTP {status}"
        if code is not None:
            # Twilio's message often quotes the To number: the pipeline masks it (and the body)
            # before the error reaches a log line, a span or the notification's record
            error += f", Twilio error {code}: {body.get('message', '')}"
        retry_after_s = http.retry_after_s(response.headers)
        if status == 429:
            raise SendDeferred(error, provider=self.name, retry_after_s=retry_after_s)
        if status in TRANSIENT_STATUS or code in ACCOUNT_ERROR_CODES:
            raise TransientProviderError(error, provider=self.name, retry_after_s=retry_after_s)
        raise PermanentProviderError(error, provider=self.name)

    async def close(self) -> None:
        await self._client.aclose()
