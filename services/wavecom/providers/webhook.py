"""The ``webhook`` driver: a signed JSON POST to an in-house gateway, per Standard Webhooks.

Each send is one POST with the headers the Standard Webhooks specification defines:
``webhook-id`` (the notification's idempotency key, so the receiver can drop a repeat),
``webhook-timestamp`` (Unix seconds) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, keyed by the secret's bytes).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from datetime import UTC, datetime

import orjson
from pydantic import AnyHttpUrl, Field, SecretStr, field_validator

from wavecom.core.constants import Channel
from wavecom.core.errors import PermanentProviderError, SendDeferred, TransientProviderError
from wavecom.providers import http
from wavecom.providers.base import DriverModel, Provider, Receipt, SendRequest

_SECRET_PREFIX = "whsec_"  # noqa: S105 - the spec's prefix, not a secret
MIN_KEY_BYTES, MAX_KEY_BYTES = 24, 64  # the spec's bounds on the signing key

# Anything 2xx is sent. These answers are transient (retried; the breaker counts them), a 429
# is deferred (retried after its Retry-After; the breaker does not count it), every other one
# is permanent. 401 is the gateway refusing the signature: a wrong secret fails every send of
# the account, so it must open the breaker and fail over, not fail each notification.
TRANSIENT_STATUS = frozenset({401, 408, *range(500, 600)})
# when the notification stops being valid (ISO 8601, UTC), on a send of one that expires
EXPIRES_HEADER = "X-Wavecom-Expires-At"


class WebhookSettings(DriverModel):
    """Where to POST. ``url`` is the gateway's endpoint, http or https."""

    url: AnyHttpUrl


class WebhookCredentials(DriverModel):
    """``secret``: ``whsec_`` followed by base64 of 24 to 64 random bytes (as the spec says)."""

    secret: SecretStr = Field(min_length=len(_SECRET_PREFIX) + 4)

    @field_validator("secret")
    @classmethod
    def _base64_key(cls, value: SecretStr) -> SecretStr:
        signing_key(value.get_secret_value())
        return value


def signing_key(secret: str) -> bytes:
    """The HMAC key: the base64-decoded secret after its ``whsec_`` prefix."""
    raw = secret.removeprefix(_SECRET_PREFIX)
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the secret is not base64 after its whsec_ prefix") from exc
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(
            f"the secret decodes to {len(key)} bytes; Standard Webhooks asks for "
            f"{MIN_KEY_BYTES} to {MAX_KEY_BYTES}"
        )
    return key


def sign(key: bytes, webhook_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value for one message."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


class WebhookProvider(Provider):
    """A webhook endpoint as a provider account, for any channel."""

    def __init__(
        self,
        name: str,
        channel: Channel,
        settings: WebhookSettings,
        credentials: WebhookCredentials,
        *,
        send_rate: float = 0.0,
        timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.channel = channel
        self.send_rate = send_rate
        self.timeout_s = timeout_s
        self._url = str(settings.url)
        self._key = signing_key(credentials.secret.get_secret_value())
        self._client = http.pooled_client(timeout_s)

    async def send(self, request: SendRequest) -> Receipt:
        webhook_id = request.idempotency_key
        timestamp = int(time.time())
        body = orjson.dumps(payload(request, timestamp))
        headers = {
            "content-type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self._key, webhook_id, timestamp, body),
        }
        if request.expires_at is not None:
            # for a gateway that routes on headers; the signed copy is data.expiresAt (Standard
            # Webhooks signs the id, the timestamp and the body, no other header)
            headers[EXPIRES_HEADER] = _iso(request.expires_at)
        async with http.deadline(self.name, self.timeout_s):
            response = await http.post(
                self._client, self.name, self._url, content=body, headers=headers
            )
        status = response.status_code
        if 200 <= status < 300:
            message_id = http.json_body(response).get("id")
            if isinstance(message_id, str | int) and not isinstance(message_id, bool):
                return Receipt(provider=self.name, provider_message_id=str(message_id))
            return Receipt(provider=self.name, provider_message_id=webhook_id)
        error = f"{self.name}: HTTP {status} {response.reason_phrase}".rstrip()
        if status == 429:
            raise SendDeferred(
                error, provider=self.name, retry_after_s=http.retry_after_s(response.headers)
            )
        if status in TRANSIENT_STATUS:
            raise TransientProviderError(
                error, provider=self.name, retry_after_s=http.retry_after_s(response.headers)
            )
        # 1xx/3xx (redirects are not followed) and other 4xx: the gateway will not take it
        raise PermanentProviderError(error, provider=self.name)

    async def close(self) -> None:
        await self._client.aclose()


def payload(request: SendRequest, timestamp: int) -> dict[str, object]:
    """The body, shaped as the spec recommends: ``type``, ``timestamp``, ``data``."""
    body: dict[str, object] = {
        "type": f"notification.{request.channel.slug}",
        "timestamp": datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z"),
        "data": {
            "notificationId": request.notification_id,
            "attempt": request.attempt,
            "idempotencyKey": request.idempotency_key,
            "channel": request.channel.value,
            "recipient": request.recipient,
            "subject": request.subject,
            "message": request.message,
            "metadata": request.metadata,
        },
    }
    if request.expires_at is not None:  # not to be delivered after this; signed with the body
        data = body["data"]
        assert isinstance(data, dict)
        data["expiresAt"] = _iso(request.expires_at)
    return body


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
