"""Readable, one-line logs for every process; recipients never appear in full, keys never."""

from __future__ import annotations

import logging
import re
import sys

_EMAIL = re.compile(r"([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9.\-]+)")
_PHONE = re.compile(r"\+\d{3,}(\d{2})")
_API_KEY = re.compile(r"(wcn_[0-9a-f]{16})_[A-Za-z0-9_-]+")


def mask(text: str) -> str:
    """Mask e-mail addresses, phone numbers and API keys: ``j***@example.com``, ``+***89``,
    ``wcn_<key id>_***`` (the id names the key; the secret never reaches a log)."""
    text = _API_KEY.sub(r"\1_***", text)
    text = _EMAIL.sub(r"\1***@\2", text)
    return _PHONE.sub(r"+***\1", text)


class _MaskingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


def setup_logging(level: str, process: str) -> None:
    """Log lines like ``12:00:01.123 INFO  api        message`` to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        _MaskingFormatter(
            f"%(asctime)s.%(msecs)03d %(levelname)-5s {process:<12} %(message)s", "%H:%M:%S"
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aio_pika", "aiormq", "pymongo", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
