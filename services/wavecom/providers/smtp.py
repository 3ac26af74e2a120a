"""The ``smtp`` driver: email through any SMTP relay (aiosmtplib), over TLS or STARTTLS.

A send is one SMTP transaction (MAIL FROM, RCPT TO, DATA) on a connection taken from a small
pool. A connection is opened (TLS, EHLO, AUTH) the first time it is needed and then reused; one
the server has closed while it sat idle is replaced without failing the send.

The ``Message-ID`` is derived from the idempotency key, so a send repeated after a timeout or a
crash carries the same ``Message-ID`` as the first: the relay's logs and the recipient's mail
program can tell it is the same message (SMTP itself takes no idempotency key; the relay does
not drop the repeat).

Classification (RFC 5321): a 4xx reply is transient and a 5xx reply to RCPT TO or DATA
permanent. Everything that goes wrong before the transaction reaches the recipient is about the
account, not the message, and is transient so the breaker counts it and failover moves on: no
connection (refused, reset, timed out), a TLS failure, a refused login (535), and a refused
sender (MAIL FROM) — a wrong password or sender address fails every send of the account alike,
and failing each notification at once would leave a healthy second account unused.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.policy
import email.utils
import hashlib
import html
import re
import ssl
from collections.abc import AsyncIterator
from datetime import UTC
from email.message import EmailMessage
from typing import Literal

import aiosmtplib
from pydantic import Field, SecretStr, field_validator, model_validator

from wavecom.core.constants import Channel
from wavecom.core.errors import (
    PermanentProviderError,
    ProviderError,
    SendDeferred,
    TransientProviderError,
)
from wavecom.providers.base import DriverModel, Provider, Receipt, SendRequest
from wavecom.providers.webhook import signing_key

_ADDRESS = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")
_SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
# a message counts as HTML when it contains one of the tags an HTML mail is made of
_LOOKS_HTML = re.compile(
    r"<(html|body|p|br|div|a|table|span|strong|em|b|i|h[1-6]|ul|li)\b[^>]*>", re.I
)
_BLOCK_END = re.compile(r"<(br|/p|/div|/h[1-6]|/li|/tr|/table)\b[^>]*>", re.I)
_TAG = re.compile(r"<[^>]+>")


class SmtpSettings(DriverModel):
    """An SMTP relay. ``security``: ``tls`` (implicit TLS, port 465), ``starttls`` (upgrade a
    plain connection, port 587; the server must offer it) or ``none`` (a relay on a trusted
    network). ``ca_cert``: a PEM bundle to trust instead of the system's, for a private CA."""

    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = "starttls"
    from_address: str = Field(pattern=_ADDRESS.pattern)
    from_name: str | None = None
    message_id_domain: str | None = Field(default=None, pattern=r"^[A-Za-z0-9.-]+$")
    ca_cert: str | None = None
    pool_size: int = Field(default=4, ge=1, le=64)
    local_hostname: str | None = None

    @field_validator("ca_cert")
    @classmethod
    def _pem_bundle(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                _tls_context(value)
            except (ssl.SSLError, ValueError) as exc:
                raise ValueError("not a PEM bundle of CA certificates") from exc
        return value

    @property
    def resolved_port(self) -> int:
        return self.port or {"tls": 465, "starttls": 587, "none": 25}[self.security]


class SmtpCredentials(DriverModel):
    """``username`` and ``password`` for AUTH (PLAIN or LOGIN, as the server offers); none: no
    AUTH. The receipt endpoints' secrets (docs/receipts.md), both optional:
    ``receipts_secret`` (``whsec_``, Standard Webhooks) signs the relay's RFC 3464 reports,
    ``mailgun_signing_key`` is Mailgun's HTTP webhook signing key for its event webhooks."""

    username: str | None = Field(default=None, min_length=1)
    password: SecretStr | None = None
    receipts_secret: SecretStr | None = None
    mailgun_signing_key: SecretStr | None = Field(default=None, min_length=8)

    @field_validator("receipts_secret")
    @classmethod
    def _standard_webhooks_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            signing_key(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _both_or_neither(self) -> SmtpCredentials:
        if (self.username is None) != (self.password is None):
            raise ValueError("give both username and password, or neither")
        return self


class SmtpProvider(Provider):
    """An SMTP relay account as an email provider account."""

    def __init__(
        self,
        name: str,
        settings: SmtpSettings,
        credentials: SmtpCredentials,
        *,
        send_rate: float = 0.0,
        timeout_s: float = 10.0,
    ) -> None:
        self.name = name
        self.channel = Channel.EMAIL
        self.send_rate = send_rate
        self.timeout_s = timeout_s
        self.settings = settings
        self._credentials = credentials
        self._tls = _tls_context(settings.ca_cert) if settings.security != "none" else None
        self._idle: list[aiosmtplib.SMTP] = []
        self._slots = asyncio.Semaphore(settings.pool_size)
        self._domain = settings.message_id_domain or settings.from_address.rsplit("@", 1)[1]

    def message_id(self, request: SendRequest) -> str:
        """The same ``Message-ID`` for every send of the same idempotency key."""
        if _SAFE_ID.match(request.notification_id):
            local = f"{request.notification_id}.{request.attempt}"
        else:
            local = hashlib.sha256(request.idempotency_key.encode()).hexdigest()[:40]
        return f"<wavecom.{local}@{self._domain}>"

    async def send(self, request: SendRequest) -> Receipt:
        message_id = self.message_id(request)
        raw = self._compose(request, message_id)
        async with self._slots, self._connection() as client:
            try:
                async with asyncio.timeout(self.timeout_s):
                    await self._transaction(client, request.recipient, raw)
            except TimeoutError as exc:
                client.close()  # the session is in an unknown state
                raise TransientProviderError(
                    f"{self.name}: timed out after {self.timeout_s:g}s", provider=self.name
                ) from exc
        return Receipt(provider=self.name, provider_message_id=message_id)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for client in idle:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                async with asyncio.timeout(self.timeout_s):
                    await client.quit()
            client.close()

    @contextlib.asynccontextmanager
    async def _connection(self) -> AsyncIterator[aiosmtplib.SMTP]:
        """A pooled client, connected or not; back to the pool afterwards if still connected."""
        client = self._idle.pop() if self._idle else self._client()
        try:
            yield client
        except BaseException as exc:
            if not isinstance(exc, ProviderError):  # cancelled mid-transaction: state unknown
                client.close()
            raise
        finally:
            if client.is_connected:
                self._idle.append(client)
            else:
                client.close()

    def _client(self) -> aiosmtplib.SMTP:
        s, c = self.settings, self._credentials
        return aiosmtplib.SMTP(
            hostname=s.host,
            port=s.resolved_port,
            use_tls=s.security == "tls",
            start_tls=s.security == "starttls",
            tls_context=self._tls,
            username=c.username,
            password=c.password.get_secret_value() if c.password is not None else None,
            local_hostname=s.local_hostname,
            timeout=self.timeout_s,
        )

    async def _transaction(self, client: aiosmtplib.SMTP, recipient: str, raw: bytes) -> None:
        sender = self.settings.from_address
        try:
            if not client.is_connected:
                await self._open(client)
                await client.mail(sender)
            else:
                try:
                    await client.mail(sender)
                except (aiosmtplib.SMTPServerDisconnected, aiosmtplib.SMTPSenderRefused) as exc:
                    # 421 or a closed socket on a connection that sat idle: the server dropped
                    # it before this message began, so a new connection sends nothing twice
                    if isinstance(exc, aiosmtplib.SMTPSenderRefused) and exc.code != 421:
                        raise
                    client.close()
                    await self._open(client)
                    await client.mail(sender)
            await client.rcpt(recipient)
            await client.data(raw)
        except aiosmtplib.SMTPResponseException as exc:
            if client.is_connected:  # answered, not dropped: reset the envelope, keep the session
                with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                    await client.rset()
            raise self._answered(exc) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            client.close()
            raise TransientProviderError(
                f"{self.name}: connection lost: {exc}", provider=self.name
            ) from exc

    async def _open(self, client: aiosmtplib.SMTP) -> None:
        """Connect, greet, upgrade to TLS and log in. Any failure here is the account's."""
        try:
            await client.connect()
        except aiosmtplib.SMTPAuthenticationError as exc:
            raise TransientProviderError(
                f"{self.name}: login refused: {exc.code} {exc.message}", provider=self.name
            ) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:  # ssl.SSLError is an OSError
            raise TransientProviderError(
                f"{self.name}: cannot open an SMTP session: {exc}", provider=self.name
            ) from exc

    def _answered(
        self, exc: aiosmtplib.SMTPResponseException
    ) -> TransientProviderError | PermanentProviderError:
        """A 5xx to RCPT TO or DATA is the message's (permanent); a 4xx other than 421 to RCPT TO
        is that mailbox's for now (deferred: the breaker does not count it); anything else
        the account's or the server's (transient)."""
        stage = {
            aiosmtplib.SMTPSenderRefused: "MAIL FROM",
            aiosmtplib.SMTPRecipientRefused: "RCPT TO",
            aiosmtplib.SMTPDataError: "DATA",
        }.get(type(exc), "the server")
        text = f"{self.name}: {stage} answered {exc.code} {exc.message}"
        if 500 <= exc.code < 600 and stage in ("RCPT TO", "DATA"):
            return PermanentProviderError(text, provider=self.name)
        if 400 <= exc.code < 500 and exc.code != 421 and stage == "RCPT TO":
            return SendDeferred(text, provider=self.name)
        return TransientProviderError(text, provider=self.name)

    def _compose(self, request: SendRequest, message_id: str) -> bytes:
        """The message as it goes over the wire: plain text, plus HTML when there is some."""
        s = self.settings
        if not _ADDRESS.match(request.recipient) or not request.recipient.isascii():
            raise PermanentProviderError(
                f"{self.name}: invalid recipient (an ASCII address is needed)", provider=self.name
            )
        plain, rich = bodies(request)
        msg = EmailMessage(policy=email.policy.SMTP)
        try:
            msg["From"] = email.utils.formataddr((s.from_name or "", s.from_address))
            msg["To"] = request.recipient
            if request.subject:
                msg["Subject"] = request.subject
            msg["Date"] = email.utils.formatdate(usegmt=True)
            msg["Message-ID"] = message_id
            if request.expires_at is not None:
                # RFC 4021 2.1.49: when the message loses its validity (mail clients may hide
                # or mark it); the RFC 5322 date of the notification's expiresAt
                msg["Expires"] = email.utils.format_datetime(
                    request.expires_at.astimezone(UTC), usegmt=True
                )
            msg.set_content(plain)
            if rich is not None:
                msg.add_alternative(rich, subtype="html")
        except ValueError as exc:  # a line break in a header: never sent
            raise PermanentProviderError(f"{self.name}: {exc}", provider=self.name) from exc
        return msg.as_bytes()


def bodies(request: SendRequest) -> tuple[str, str | None]:
    """(plain text, HTML or None). ``metadata.html`` as a string is the HTML part and the message
    the plain one; ``metadata.html: true``, or a message that looks like HTML, makes the message
    the HTML part and its text, tags stripped, the plain one."""
    flag = request.metadata.get("html")
    if isinstance(flag, str) and flag:
        return request.message, flag
    if flag is True or (flag is None and _LOOKS_HTML.search(request.message)):
        text = _TAG.sub("", _BLOCK_END.sub("\n", request.message))
        text = re.sub(r"\n{3,}", "\n\n", html.unescape(text)).strip()
        return text or request.message, request.message
    return request.message, None


def _tls_context(ca_cert: str | None) -> ssl.SSLContext:
    """Verify the server's certificate and name, against ``ca_cert`` or the system's CAs."""
    if ca_cert is None:
        return ssl.create_default_context()
    return ssl.create_default_context(cadata=ca_cert)
