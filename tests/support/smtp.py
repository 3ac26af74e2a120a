"""A real local SMTP server (aiosmtpd) with its mailbox, and the SMTP driver's helpers."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, Literal, cast

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.servers import Tls, make_tls
from wavecom.core.constants import Channel
from wavecom.providers.base import Provider
from wavecom.providers.drivers import build_driver

USER, PASSWORD, WRONG = "wavecom", "correct horse battery staple", "revoked"


Security = Literal["tls", "starttls", "none"]


@dataclass
class Received:
    message: EmailMessage
    tls: bool
    authenticated: bool


@dataclass
class Mailbox:
    """The server's handler: keeps every accepted message; answers from scripts first."""

    received: list[Received] = field(default_factory=list)
    mail_replies: list[str] = field(default_factory=list)
    rcpt_replies: dict[str, list[str]] = field(default_factory=dict)
    data_replies: list[str] = field(default_factory=list)
    hold_data: asyncio.Event | None = None  # DATA waits for this event when set

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.mail_replies:
            return self.mail_replies.pop(0)
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if replies := self.rcpt_replies.get(address):
            return replies.pop(0)
        if address.startswith("nobody@"):
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.hold_data is not None:
            await self.hold_data.wait()
        if self.data_replies:
            return self.data_replies.pop(0)
        raw = cast(bytes, envelope.original_content)
        message = message_from_bytes(raw, policy=policy.default)
        self.received.append(
            Received(message, session.ssl is not None, bool(session.authenticated))
        )
        return "250 2.0.0 Ok: queued as 4C2F1A"

    @property
    def messages(self) -> list[EmailMessage]:
        return [r.message for r in self.received]


class SmtpServer:
    """An aiosmtpd server on an ephemeral loopback port, in the test's own event loop."""

    def __init__(self, tls: Tls, security: Security, *, auth: bool) -> None:
        self.mailbox = Mailbox()
        self.security = security
        self.auth = auth
        self.connections = 0
        self._sessions: list[SMTP] = []
        self._tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._tls.load_cert_chain(tls.cert_file, tls.key_file)
        self._server: asyncio.Server | None = None
        self.port = 0

    def _session(self) -> SMTP:
        self.connections += 1
        session = SMTP(
            self.mailbox,
            hostname="mx.test",
            tls_context=self._tls if self.security == "starttls" else None,
            require_starttls=self.security == "starttls",
            authenticator=self._authenticate if self.auth else None,
            auth_required=self.auth and self.security == "starttls",
            # over implicit TLS aiosmtpd does not know the session is encrypted
            auth_require_tls=self.security == "starttls",
        )
        self._sessions.append(session)
        return session

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
            USER.encode(),
            PASSWORD.encode(),
        )
        return AuthResult(success=ok, handled=False)

    async def start(self) -> None:
        self._server = await asyncio.get_running_loop().create_server(
            self._session, "127.0.0.1", 0, ssl=self._tls if self.security == "tls" else None
        )
        self.port = self._server.sockets[0].getsockname()[1]

    def drop_connections(self) -> None:
        """Close every client connection from the server's side, as an idle timeout does."""
        for session in self._sessions:
            if session.transport is not None:
                session.transport.close()

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self.drop_connections()
            await self._server.wait_closed()


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Tls:
    return make_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
async def servers(tls: Tls) -> AsyncIterator[Callable[..., Any]]:
    started: list[SmtpServer] = []

    async def start(security: Security = "none", *, auth: bool = False) -> SmtpServer:
        server = SmtpServer(tls, security, auth=auth)
        await server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()


@pytest.fixture
async def providers(tls: Tls) -> AsyncIterator[Callable[..., Provider]]:
    made: list[Provider] = []

    def make(
        port: int,
        security: Security = "none",
        *,
        password: str | None = None,
        trusted: bool = True,
        name: str = "mailgrid",
        timeout_s: float = 5.0,
    ) -> Provider:
        settings: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": port,
            "security": security,
            "fromAddress": "otp@bank.example",
            "fromName": "Bank OTP",
            "localHostname": "worker.test",
        }
        if trusted:
            settings["caCert"] = tls.ca_pem
        credentials = {"username": USER, "password": password} if password else {}
        provider = build_driver(
            name, Channel.EMAIL, "smtp", settings, credentials, timeout_s=timeout_s
        )
        made.append(provider)
        return provider

    yield make
    for provider in made:
        await provider.close()
