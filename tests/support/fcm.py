"""A fake Google (OAuth token endpoint and FCM v1 send) and the FCM driver's helpers."""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support.servers import serving_fake
from wavecom.core.constants import Channel
from wavecom.providers.base import Provider, SendRequest
from wavecom.providers.drivers import build_driver

PROJECT = "wavecom-test"


EMAIL = f"notify@{PROJECT}.iam.gserviceaccount.com"


KEY_ID = "4f1b2c3d4e5f60718293a4b5c6d7e8f901234567"


SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"


def pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def keys() -> tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey]:
    """The service account's key, and a key Google never issued."""
    return (
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )


def fcm_error(status: int, code: str, message: str, fcm_code: str | None = None) -> web.Response:
    """An error as FCM's HTTP v1 API answers it (google.rpc.Status with FcmError details)."""
    error: dict[str, Any] = {"code": status, "message": message, "status": code}
    if fcm_code:
        error["details"] = [{"@type": FCM_ERROR, "errorCode": fcm_code}]
    return web.json_response({"error": error}, status=status)


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


@dataclass
class FakeGoogle:
    """The OAuth2 token endpoint and ``messages:send``, both checked as Google documents them."""

    public_key: rsa.RSAPublicKey
    token_url: str = ""
    expires_in: int = 3599
    issued: list[str] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    messages: list[dict[str, Any]] = field(default_factory=list)
    replies: list[web.Response] = field(default_factory=list)
    hold: asyncio.Event | None = None

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        header_b64, claims_b64, signature_b64 = str(form["assertion"]).split(".")
        header = orjson.loads(_unb64(header_b64))
        assert header == {"alg": "RS256", "typ": "JWT", "kid": KEY_ID}
        try:
            self.public_key.verify(
                _unb64(signature_b64),
                f"{header_b64}.{claims_b64}".encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature:
            return web.json_response(
                {"error": "invalid_grant", "error_description": "Invalid JWT Signature."},
                status=400,
            )
        claims = orjson.loads(_unb64(claims_b64))
        assert claims.keys() == {"iss", "scope", "aud", "iat", "exp"}
        assert (claims["iss"], claims["scope"], claims["aud"]) == (EMAIL, SCOPE, self.token_url)
        assert abs(claims["iat"] - time.time()) < 60
        assert claims["exp"] == claims["iat"] + 3600
        token = f"ya29.test-token-{len(self.issued) + 1}"
        self.issued.append(token)
        return web.json_response(
            {"access_token": token, "expires_in": self.expires_in, "token_type": "Bearer"}
        )

    async def send(self, request: web.Request) -> web.Response:
        assert request.match_info["project"] == PROJECT
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self.issued or bearer in self.revoked:
            return fcm_error(
                401,
                "UNAUTHENTICATED",
                "Request had invalid authentication credentials. Expected OAuth 2 access token",
            )
        assert request.content_type == "application/json"
        body = orjson.loads(await request.read())
        assert body.keys() == {"message"}
        message = body["message"]
        assert message.keys() <= {"token", "notification", "data", "android", "apns"}
        if "android" in message:  # a google.protobuf.Duration in seconds, at most 4 weeks
            ttl = message["android"]["ttl"]
            assert re.fullmatch(r"\d+s", ttl)
            assert 0 <= int(ttl[:-1]) <= 2_419_200
        if "apns" in message:  # epoch seconds, as APNs reads the header
            assert re.fullmatch(r"[1-9]\d*", message["apns"]["headers"]["apns-expiration"])
        assert message["notification"].keys() <= {"title", "body"}
        assert all(isinstance(v, str) for v in message.get("data", {}).values())
        self.messages.append(message)
        if self.hold is not None:
            await self.hold.wait()
        if self.replies:
            return self.replies.pop(0)
        return web.json_response(
            {"name": f"projects/{PROJECT}/messages/0:{len(self.messages)}%31bd1c9631bd1c96"}
        )


@pytest.fixture
async def google(
    keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey],
) -> AsyncIterator[tuple[FakeGoogle, str]]:
    fake = FakeGoogle(keys[0].public_key())
    routes = {"/token": fake.token, "/v1/projects/{project}/messages:send": fake.send}
    async with serving_fake(fake, routes) as base_url:
        fake.token_url = f"{base_url}/token"
        yield fake, base_url


@pytest.fixture
def google_driver(
    google: tuple[FakeGoogle, str],
    made: list[Provider],
    keys: tuple[rsa.RSAPrivateKey, rsa.RSAPrivateKey],
) -> tuple[FakeGoogle, Provider]:
    """The fake Google, and a driver of its account signing with the key it knows (``made``:
    the providers' fixture that closes it, in tests/providers/conftest.py)."""
    fake, base_url = google
    return fake, driver(made, base_url, keys[0])


def driver(
    made: list[Provider],
    base_url: str,
    key: rsa.RSAPrivateKey,
    *,
    timeout_s: float = 5.0,
) -> Provider:
    service_account = {  # a key file as the Google Cloud console hands it out
        "type": "service_account",
        "project_id": PROJECT,
        "private_key_id": KEY_ID,
        "private_key": pem(key),
        "client_email": EMAIL,
        "client_id": "109876543210987654321",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": "https://oauth2.googleapis.com/token",  # overridden: never contacted
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": "https://www.googleapis.com/robot/v1/metadata/x509/notify",
        "universe_domain": "googleapis.com",
    }
    provider = build_driver(
        "pushfire",
        Channel.PUSH,
        "fcm",
        {"baseUrl": base_url, "tokenUri": f"{base_url}/token"},
        service_account,
        timeout_s=timeout_s,
    )
    made.append(provider)
    return provider


DEVICE = "fcm-device-token-0001"


def request(device: str = DEVICE, i: int = 1) -> SendRequest:
    return SendRequest(
        notification_id=f"n{i}",
        attempt=0,
        channel=Channel.PUSH,
        recipient=device,
        message="Your code is 123456",
        subject="Sign-in code",
        metadata={"userId": "12345", "count": 3},
    )
