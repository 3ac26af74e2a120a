"""The ``fcm`` driver: push notifications through Firebase Cloud Messaging's HTTP v1 API.

One ``POST {base_url}/v1/projects/{project_id}/messages:send`` per send, with a JSON body
``{"message": {"token", "notification": {"title", "body"}, "data"}}`` and
``Authorization: Bearer <access token>``. FCM answers ``200`` with ``{"name":
"projects/.../messages/..."}``, the receipt's message id.

The access token is minted from the account's service-account key with the OAuth 2.0 JWT bearer
grant (RFC 7523): an RS256-signed JWT is POSTed to the key's ``token_uri``, which answers with an
``access_token`` and its ``expires_in``. One token serves every send until a minute before it
expires; one refresh runs at a time.

FCM documents no idempotency key for ``messages:send``: a send repeated after a crash is a
second push.
"""

from __future__ import annotations

import asyncio
import base64
import math
import time

import httpx
import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import AnyHttpUrl, ConfigDict, Field, SecretStr, field_validator
from pydantic.alias_generators import to_camel

from wavecom.core.constants import Channel
from wavecom.core.errors import PermanentProviderError, SendDeferred, TransientProviderError
from wavecom.providers import http
from wavecom.providers.base import DriverModel, Provider, Receipt, SendRequest

SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
TOKEN_LIFETIME_S = 3600  # the longest a Google service-account assertion may ask for
REFRESH_MARGIN_S = 60.0  # mint a new token this long before the old one expires
MAX_TTL_S = 2_419_200  # FCM's longest android.ttl: four weeks

# FCM's error codes (``details[].errorCode``, else the error's ``status``). Permanent ones are
# about this message or this device token; transient ones about FCM or this account, so the
# breaker counts them and failover moves on; deferred ones (a device's, a topic's or the
# project's message rate) are retried later, and the breaker does not count them.
PERMANENT_CODES: dict[str, str] = {
    "UNREGISTERED": "the device token is no longer registered (404)",
    "INVALID_ARGUMENT": "the token or the message is invalid (400)",
    "SENDER_ID_MISMATCH": "the token belongs to another sender (403)",
}
DEFERRED_CODES: dict[str, str] = {
    "QUOTA_EXCEEDED": "sending too fast to this device, topic or project (429)",
}
TRANSIENT_CODES: dict[str, str] = {
    "UNAVAILABLE": "FCM is overloaded (503)",
    "INTERNAL": "FCM failed (500)",
    "THIRD_PARTY_AUTH_ERROR": "the APNs or web push credential was refused (401)",
    "UNAUTHENTICATED": "the access token was refused (401)",
    "PERMISSION_DENIED": "the service account may not send for this project (403)",
}
# an answer with no code listed: 429 is deferred, these statuses transient, others permanent
TRANSIENT_STATUS = frozenset({401, 403, 408, *range(500, 600)})
_FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


class FcmSettings(DriverModel):
    """``project_id`` defaults to the service account's; ``token_uri`` overrides the key's."""

    project_id: str | None = Field(default=None, min_length=1)
    base_url: AnyHttpUrl = AnyHttpUrl("https://fcm.googleapis.com")
    token_uri: AnyHttpUrl | None = None


class FcmCredentials(DriverModel):
    """A service-account key as Google issues it (the JSON key file); unused fields are ignored."""

    model_config = ConfigDict(
        extra="ignore", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    client_email: str = Field(min_length=3)
    private_key: SecretStr
    private_key_id: str | None = None
    token_uri: AnyHttpUrl = AnyHttpUrl("https://oauth2.googleapis.com/token")
    project_id: str | None = None

    @field_validator("private_key")
    @classmethod
    def _rsa_pem(cls, value: SecretStr) -> SecretStr:
        load_rsa_key(value.get_secret_value())
        return value


def load_rsa_key(pem: str) -> rsa.RSAPrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError("not an unencrypted PEM private key") from exc
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")  # RS256 needs one
    return key


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt_assertion(
    key: rsa.RSAPrivateKey, claims: dict[str, object], key_id: str | None = None
) -> str:
    """A compact RS256 JWT (RFC 7515/7519), signed with the service account's key."""
    header: dict[str, str] = {"alg": "RS256", "typ": "JWT"}
    if key_id:
        header["kid"] = key_id
    signing_input = f"{_b64url(orjson.dumps(header))}.{_b64url(orjson.dumps(claims))}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64url(signature)}"


class FcmProvider(Provider):
    """A Firebase project as a push provider account."""

    def __init__(
        self,
        name: str,
        settings: FcmSettings,
        credentials: FcmCredentials,
        *,
        send_rate: float = 0.0,
        timeout_s: float = 10.0,
    ) -> None:
        project_id = settings.project_id or credentials.project_id
        if not project_id:
            raise ValueError("projectId: neither the settings nor the service account name one")
        self.name = name
        self.channel = Channel.PUSH
        self.send_rate = send_rate
        self.timeout_s = timeout_s
        self._path = f"/v1/projects/{project_id}/messages:send"
        self._token_uri = str(settings.token_uri or credentials.token_uri)
        self._email = credentials.client_email
        self._key_id = credentials.private_key_id
        self._key = load_rsa_key(credentials.private_key.get_secret_value())
        self._client = http.pooled_client(timeout_s, base_url=str(settings.base_url).rstrip("/"))
        self._token: str | None = None
        self._token_fresh_until = 0.0  # time.monotonic()
        self._token_lock = asyncio.Lock()

    async def send(self, request: SendRequest) -> Receipt:
        async with http.deadline(self.name, self.timeout_s):
            token = await self._access_token()
            response = await http.post(
                self._client,
                self.name,
                self._path,
                content=orjson.dumps(message(request)),
                headers={"authorization": f"Bearer {token}", "content-type": "application/json"},
            )
        if response.status_code == 200:
            name = http.json_body(response).get("name")
            return Receipt(
                provider=self.name, provider_message_id=name if isinstance(name, str) else ""
            )
        if response.status_code == 401 and self._token == token:
            self._token = None  # revoked or expired early: the next send mints a new one
        raise self._error(response)

    async def close(self) -> None:
        await self._client.aclose()

    def _error(self, response: httpx.Response) -> TransientProviderError | PermanentProviderError:
        status = response.status_code
        error = http.json_body(response).get("error")
        code = ""
        text = f"{self.name}: HTTP {status}"
        if isinstance(error, dict):
            code = str(error.get("status") or "")
            for detail in error.get("details") or ():
                if isinstance(detail, dict) and detail.get("@type") == _FCM_ERROR_TYPE:
                    code = str(detail.get("errorCode") or code)
            text += f" {code}: {error.get('message', '')}"
        if code in PERMANENT_CODES:
            return PermanentProviderError(text, provider=self.name)
        if code in DEFERRED_CODES or (code not in TRANSIENT_CODES and status == 429):
            return SendDeferred(
                text, provider=self.name, retry_after_s=http.retry_after_s(response.headers)
            )
        if code in TRANSIENT_CODES or status in TRANSIENT_STATUS:
            return TransientProviderError(
                text, provider=self.name, retry_after_s=http.retry_after_s(response.headers)
            )
        return PermanentProviderError(text, provider=self.name)

    async def _access_token(self) -> str:
        """The cached token, or a new one when it is within a minute of expiring."""
        if self._token is not None and time.monotonic() < self._token_fresh_until:
            return self._token
        async with self._token_lock:
            # another send may have refreshed it while this one waited for the lock
            if self._token is not None and time.monotonic() < self._token_fresh_until:
                return self._token
            token, expires_in = await self._mint_token()
            self._token = token
            self._token_fresh_until = time.monotonic() + expires_in - REFRESH_MARGIN_S
            return token

    async def _mint_token(self) -> tuple[str, float]:
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": self._email,
            "scope": SCOPE,
            "aud": self._token_uri,
            "iat": now,
            "exp": now + TOKEN_LIFETIME_S,
        }
        form = {
            "grant_type": GRANT_TYPE,
            "assertion": jwt_assertion(self._key, claims, self._key_id),
        }
        response = await http.post(self._client, self.name, self._token_uri, data=form)
        body = http.json_body(response)
        token, expires_in = body.get("access_token"), body.get("expires_in")
        if response.status_code == 200 and isinstance(token, str) and token:
            lifetime = expires_in if isinstance(expires_in, int | float) else TOKEN_LIFETIME_S
            return token, float(lifetime)
        # invalid_grant and the like: a bad or revoked key fails every send of this account, so
        # the breaker must count it and fail over, as for a refused SMTP login
        text = f"{self.name}: the token request answered HTTP {response.status_code}"
        if "error" in body:
            text += f" {body['error']}: {body.get('error_description', '')}"
        raise TransientProviderError(
            text, provider=self.name, retry_after_s=http.retry_after_s(response.headers)
        )


def message(request: SendRequest) -> dict[str, object]:
    """The ``messages:send`` body; ``data`` values must be strings, so others go as JSON."""
    notification: dict[str, str] = {"body": request.message}
    if request.subject:
        notification["title"] = request.subject
    body: dict[str, object] = {"token": request.recipient, "notification": notification}
    remaining = request.remaining_s()
    if remaining is not None and request.expires_at is not None:
        # FCM keeps an undelivered message (a device offline) at most this long: Android's
        # ttl ("<seconds>s", FCM's cap four weeks) and APNs' apns-expiration (epoch seconds;
        # "0" would mean "deliver once or drop", so at least the next second)
        body["android"] = {"ttl": f"{min(math.ceil(remaining), MAX_TTL_S)}s"}
        body["apns"] = {
            "headers": {"apns-expiration": str(max(math.ceil(request.expires_at.timestamp()), 1))}
        }
    if request.metadata:
        body["data"] = {
            k: v if isinstance(v, str) else orjson.dumps(v).decode()
            for k, v in request.metadata.items()
        }
    return {"message": body}
