"""TLS with a private CA: to RabbitMQ, to MongoDB and to the OTLP collector.

The CA, the server and the client certificates are made by the test (``tests.support.certs``), and
given to the processes the way the chart gives them: file paths in environment variables
(AMQP_CA_FILE, MONGODB_TLS_CA_FILE, OTEL_EXPORTER_OTLP_CERTIFICATE, ...).

RabbitMQ: a node of the test's own (not the shared one of the other tests) listens for AMQP
over TLS only, on a certificate signed by the test's CA, and requires client certificates.
MongoDB: FerretDB (the development database) is not built with TLS here, so a TLS listener of
the test's own stands for the server's side of the handshake; what is proven is that the
settings reach PyMongo: without the CA the certificate is refused, with it (and the client
certificate) the handshake completes and the driver's first command arrives.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from cryptography import x509
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExportResult
from pydantic import ValidationError

from tests.support.certs import PKI, make_pki
from tests.support.notifications import all_terminal, create, email, ledger
from tests.support.rabbit_cluster import INSTALLED, NOT_INSTALLED, TLS
from tests.support.system import System
from tests.support.wait import wait_for
from wavecom.core import tls
from wavecom.core.broker import connect
from wavecom.core.errors import BrokerUnavailable, StoreUnavailable
from wavecom.core.settings import Settings
from wavecom.store import Store

CERT_REFUSED = "CERTIFICATE_VERIFY_FAILED"


@pytest.fixture
def pki(tmp_path: Path) -> PKI:
    return make_pki(tmp_path / "pki")


@pytest.mark.skipif(not INSTALLED, reason=NOT_INSTALLED)
async def test_a_worker_and_the_api_reach_rabbitmq_over_tls_with_a_private_ca(
    settings: Settings, store: Store, ledger_dir: Path, pki: PKI
) -> None:
    await TLS.wipe()
    TLS.tls_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(pki.ca, TLS.tls_dir / "ca.pem")
    shutil.copy(pki.server.cert, TLS.tls_dir / "server.pem")
    shutil.copy(pki.server.key, TLS.tls_dir / "server.key")
    try:
        await TLS.start()
        url = TLS.amqps_url()

        # the system's CAs do not know the bank's: the broker's certificate is refused
        with pytest.raises(BrokerUnavailable, match=CERT_REFUSED):
            await connect(url, name="tls-test-system-cas")
        # the CA alone: the broker wants a client certificate and closes the connection
        ca_only = Settings(amqp_url=url, amqp_ca_file=str(pki.ca))
        with pytest.raises(BrokerUnavailable):
            await connect(url, name="tls-test-ca-only", ssl_context=tls.amqp_context(ca_only))

        tls_env = {
            "AMQP_URL": url,
            "AMQP_CA_FILE": str(pki.ca),
            "AMQP_CERT_FILE": str(pki.client.cert),
            "AMQP_KEY_FILE": str(pki.client.key),
        }
        async with System(settings.model_copy(update={"amqp_url": url})) as system:
            system.env.update(tls_env)
            await system.spawn_worker("email")
            await system.spawn_api()
            async with system.client(timeout=30) as http:
                ids = await create(http, [email(1), email(2)])
            final = await wait_for(
                lambda: all_terminal(store, ids), within=30, what="delivery over amqps"
            )
            assert set(final.values()) == {"SENT"}
            assert ledger(ledger_dir) == dict.fromkeys(ids, 1)

            # the broker's own view: every connection is TLS, each with the client certificate
            out = await TLS.ctl(
                "list_connections", "client_properties", "ssl", "peer_cert_subject",
                "--formatter", "json",
            )  # fmt: skip
            rows = orjson.loads(out[out.find("[") :])
            names = {_connection_name(r) for r in rows}
            assert {"api", "worker-email"} <= names, names
            assert all(r["ssl"] is True for r in rows), rows
            assert all("CN=client" in r["peer_cert_subject"] for r in rows), rows
    finally:
        await TLS.stop()
        shutil.rmtree(TLS.home, ignore_errors=True)


def _connection_name(row: dict[str, object]) -> str:
    """The connection_name client property in rabbitmqctl's JSON (a list of [key, type, value])."""
    entries = row.get("client_properties")
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, list) and entry and entry[0] == "connection_name":
            return str(entry[-1])
    return ""


@contextlib.asynccontextmanager
async def tls_listener(pki: PKI, seen: list[tuple[str, bytes]]) -> AsyncIterator[int]:
    """A TLS server on a loopback port that requires a client certificate signed by the CA;
    for each completed handshake, the client's CN and its first bytes go into ``seen``."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server.cert, pki.server.key)
    context.load_verify_locations(pki.ca)
    context.verify_mode = ssl.CERT_REQUIRED

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            cn = x509.load_der_x509_certificate(der).subject.rfc4514_string()
            seen.append((cn, await reader.read(16)))
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_mongodb_tls_settings_reach_pymongo(pki: PKI) -> None:
    seen: list[tuple[str, bytes]] = []
    async with tls_listener(pki, seen) as port:
        url = f"mongodb://127.0.0.1:{port}/?tls=true"

        async def ping(**files: str) -> str:
            settings = Settings.model_validate({"mongodb_url": url, **files})
            store = Store.connect(url, "tls", timeout_ms=1500, tls=tls.mongodb_options(settings))
            try:
                with pytest.raises(StoreUnavailable) as failed:
                    await store.ping()  # the listener is no database: it never answers
                return str(failed.value)
            finally:
                await store.close()

        # without the CA: the server's certificate is refused by the driver
        assert CERT_REFUSED in await ping()
        assert seen == []
        # the CA but no client certificate: the server refuses the handshake
        await ping(mongodb_tls_ca_file=str(pki.ca))
        assert seen == []
        # the CA and the client certificate with its key in a file of its own (a TLS Secret)
        await ping(
            mongodb_tls_ca_file=str(pki.ca),
            mongodb_tls_cert_file=str(pki.client.cert),
            mongodb_tls_key_file=str(pki.client.key),
        )
        assert seen, "no handshake completed"
        cn, first = seen[0]
        assert "CN=client" in cn
        assert len(first) == 16  # the driver's hello, sent over the established TLS session


async def test_the_otlp_exporter_trusts_the_ca_the_chart_names(
    pki: PKI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OTEL_EXPORTER_OTLP_CERTIFICATE, as the chart sets it, is read by the SDK's exporter.

    requests (under the exporter) lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override it: this
    machine sets them, the chart's pods do not."""
    for bundle in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(bundle, raising=False)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server.cert, pki.server.key)
    posts: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            posts.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    span = TracerProvider().get_tracer("tls-test").start_span("probe")
    span.end()
    assert isinstance(span, ReadableSpan)
    try:
        endpoint = f"https://127.0.0.1:{port}/v1/traces"
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", endpoint)
        without = OTLPSpanExporter(timeout=2)
        assert await asyncio.to_thread(without.export, [span]) == SpanExportResult.FAILURE
        without.shutdown()  # type: ignore[no-untyped-call]
        assert posts == []
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(pki.ca))
        exporter = OTLPSpanExporter(timeout=2)
        assert await asyncio.to_thread(exporter.export, [span]) == SpanExportResult.SUCCESS
        exporter.shutdown()  # type: ignore[no-untyped-call]
        assert len(posts) == 1
        assert posts[0].startswith(b"POST /v1/traces ")
    finally:
        server.close()
        await server.wait_closed()


def test_tls_settings_are_refused_when_they_cannot_work(pki: PKI, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="is not a readable file"):
        Settings(amqp_url="amqps://h/", amqp_ca_file=str(tmp_path / "missing.pem"))
    with pytest.raises(ValidationError, match="must list amqps:// URLs"):
        Settings(amqp_url="amqp://h/", amqp_ca_file=str(pki.ca))
    with pytest.raises(ValidationError, match="go together"):
        Settings(amqp_url="amqps://h/", amqp_cert_file=str(pki.client.cert))
    with pytest.raises(ValidationError, match="needs MONGODB_TLS_CERT_FILE"):
        Settings(mongodb_tls_key_file=str(pki.client.key))
    assert tls.amqp_context(Settings()) is None
    assert tls.mongodb_options(Settings()) == {}
