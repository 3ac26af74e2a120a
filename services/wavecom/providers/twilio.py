"""The ``twilio`` driver: SMS through Twilio's Programmable Messaging API.

One form-encoded ``POST {base_url}/2010-04-01/Accounts/{AccountSid}/Messages.json`` per send,
with HTTP basic auth (AccountSid:AuthToken) and ``To``, ``Body`` and either ``From`` or
``MessagingServiceSid``. Twilio answers ``201 Created`` with the Message resource; its ``sid``
(``SM...``) is the receipt's message id. Errors carry a JSON body with Twilio's own ``code``
and ``message``, kept in the error text.

Twilio's Messages API takes no idempotency key: a send repeated after a crash is a second SMS.
"""

from __future__ import annotations

from pydantic import AnyHttpUrl, Field, SecretStr, model_validator

from wavecom.constants import Channel
from wavecom.errors import PermanentProviderError, SendDeferred, TransientProviderError
from wavecom.providers import http
from wavecom.providers.base import DriverModel, Receipt, SendRequest

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


class TwilioCredentials(DriverModel):
    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    auth_token: SecretStr = Field(min_length=1)


class TwilioProvider:
    """A Twilio account as an SMS provider account."""

    def __init__(
        self,
        name: str,
        settings: TwilioSettings,
        credentials: TwilioCredentials,
        *,
        send_rate: float = 0.0,
        timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.channel = Channel.SMS
        self.send_rate = send_rate
        self.timeout_s = timeout_s
        self.settings = settings
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
        if s.status_callback is not None:
            form["StatusCallback"] = str(s.status_callback)
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
