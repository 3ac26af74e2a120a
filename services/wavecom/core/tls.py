"""TLS to the broker and the database with a private CA: settings made into what clients take.

Banks run RabbitMQ and MongoDB behind their own CA. The CA bundle (and, for mutual TLS, a
client certificate and key) are files, mounted from a Secret or ConfigMap by the chart
(``tls.*`` values) and named by ``AMQP_CA_FILE`` / ``AMQP_CERT_FILE`` / ``AMQP_KEY_FILE`` and
``MONGODB_TLS_CA_FILE`` / ``MONGODB_TLS_CERT_FILE`` / ``MONGODB_TLS_KEY_FILE``.

- AMQP: :func:`amqp_context` is the ``ssl.SSLContext`` given to :func:`wavecom.core.broker.connect`
  (aio-pika uses it for ``amqps://`` URLs; the host name is verified). The API's queue-depth
  sampler reads depths over that same AMQP connection, not the management API.
- MongoDB: :func:`mongodb_options` are PyMongo's ``tls*`` options for ``Store.connect``. They
  add to the URL's own options (``tls=true&tlsCAFile=...`` in ``MONGODB_URL`` works as well).
- OTLP: the OpenTelemetry SDK reads ``OTEL_EXPORTER_OTLP_CERTIFICATE`` (and
  ``..._CLIENT_CERTIFICATE`` / ``..._CLIENT_KEY``) itself; the chart sets them.
"""

from __future__ import annotations

import os
import ssl
import tempfile
from functools import lru_cache
from pathlib import Path

from wavecom.core.settings import Settings


def amqp_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of the broker connections, or None to let aio-pika use the system's CAs
    (no AMQP_CA_FILE and no client certificate)."""
    if not (settings.amqp_ca_file or settings.amqp_cert_file):
        return None
    context = ssl.create_default_context(cafile=settings.amqp_ca_file or None)
    if settings.amqp_cert_file:
        context.load_cert_chain(settings.amqp_cert_file, settings.amqp_key_file)
    return context


def mongodb_options(settings: Settings) -> dict[str, object]:
    """PyMongo's TLS options for MONGODB_TLS_* (empty when none is set)."""
    options: dict[str, object] = {}
    if settings.mongodb_tls_ca_file:
        options.update(tls=True, tlsCAFile=settings.mongodb_tls_ca_file)
    if settings.mongodb_tls_cert_file:
        options.update(
            tls=True,
            tlsCertificateKeyFile=_cert_and_key(
                settings.mongodb_tls_cert_file, settings.mongodb_tls_key_file
            ),
        )
    return options


@lru_cache(maxsize=4)
def _cert_and_key(cert: str, key: str) -> str:
    """PyMongo takes the client certificate and its key in one PEM file; a Kubernetes TLS
    Secret holds them apart (tls.crt, tls.key). Given a key file, both are joined in a file of
    this process only, once (0600, under the temporary directory: /tmp, the pods' writable
    path)."""
    if not key:
        return cert
    pem = Path(cert).read_bytes().rstrip(b"\n") + b"\n" + Path(key).read_bytes()
    fd, path = tempfile.mkstemp(prefix="wavecom-mongodb-client-", suffix=".pem")
    with os.fdopen(fd, "wb") as out:  # mkstemp made it 0600
        out.write(pem)
    return path
