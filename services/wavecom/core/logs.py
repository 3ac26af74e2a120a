"""One-line logs for every process, readable (``LOG_FORMAT=text``) or one JSON object a line
(``LOG_FORMAT=json``); recipients never appear in full, keys never. A line logged while a span
is current carries its trace and span ids (``trace_id``/``span_id`` in JSON, ``trace=`` in
text), so a log line leads to its trace and a trace to its log lines."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

import orjson

from wavecom.core import telemetry

_EMAIL = re.compile(r"([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9.\-]+)")
_PHONE = re.compile(r"\+\d{3,}(\d{2})")
_API_KEY = re.compile(r"(wcn_[0-9a-f]{16})_[A-Za-z0-9_-]+")


# a private value shorter than this is not searched for: it would mangle the text around it
# ("a", "OK") and says nothing of a person
_MIN_PRIVATE = 4


def mask(text: str, *, recipient: str = "", private: Iterable[str] = ()) -> str:
    """Mask e-mail addresses, phone numbers and API keys: ``j***@example.com``, ``+***89``,
    ``wcn_<key id>_***`` (the id names the key; the secret never reaches a log).

    The one redaction of personal data: every log line passes through it, and so does every
    provider error before it reaches a log line, a span or a notification's record. There the
    send's values are known: ``recipient`` is masked wherever it appears, whatever it looks
    like (a device token: ``***`` and its last four characters; a phone number also without
    its ``+``), and each of ``private`` (the message, the subject) becomes ``[redacted]``.
    """
    for value in sorted(private, key=len, reverse=True):
        if len(value) >= _MIN_PRIVATE:
            text = text.replace(value, "[redacted]")
    if recipient:
        shown = masked(recipient)
        for form in sorted({recipient, recipient.lstrip("+")}, key=len, reverse=True):
            if len(form) >= _MIN_PRIVATE:
                text = text.replace(form, shown)
    text = _API_KEY.sub(r"\1_***", text)
    text = _EMAIL.sub(r"\1***@\2", text)
    return _PHONE.sub(r"+***\1", text)


def masked(recipient: str) -> str:
    """A recipient as logs may show it: ``j***@example.com``, ``+***78``, else ``***`` and the
    last four characters of a long one (a device token), or ``***``."""
    shown = _PHONE.sub(r"+***\1", _EMAIL.sub(r"\1***@\2", recipient))
    if shown != recipient:
        return shown
    return "***" + recipient[-4:] if len(recipient) >= 16 else "***"


class _MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ids = telemetry.current_ids()
        record.trace = f" trace={ids[0]}" if ids is not None else ""
        return mask(super().format(record))


class _JsonFormatter(logging.Formatter):
    """``{"time", "level", "process", "logger", "message", "trace_id", "span_id", "exception"}``"""

    def __init__(self, process: str) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "process": self.process,
            "logger": record.name,
            "message": mask(record.getMessage()),
        }
        ids = telemetry.current_ids()
        if ids is not None:
            line["trace_id"], line["span_id"] = ids
        if record.exc_info:
            line["exception"] = mask(self.formatException(record.exc_info))
        return orjson.dumps(line).decode()


def setup_logging(level: str, process: str, fmt: str = "text") -> None:
    """Log lines like ``12:00:01.123 INFO  api        message`` to stderr (``fmt="json"``:
    one JSON object a line)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonFormatter(process))
    else:
        handler.setFormatter(
            _MaskingFormatter(
                f"%(asctime)s.%(msecs)03d %(levelname)-5s {process:<12} %(message)s%(trace)s",
                "%H:%M:%S",
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aio_pika", "aiormq", "pymongo", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # httpx logs each provider answer's status line at INFO and httpcore its headers at DEBUG:
    # a provider's reason phrase may quote the recipient or the message, unmasked
    for library in ("httpx", "httpcore", "hpack"):
        logging.getLogger(library).setLevel(logging.WARNING)
