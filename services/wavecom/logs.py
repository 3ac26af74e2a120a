"""Readable, one-line logs for every process; recipients never appear in full."""

from __future__ import annotations

import logging
import re
import sys

_EMAIL = re.compile(r"([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9.\-]+)")
_PHONE = re.compile(r"\+\d{3,}(\d{2})")


def mask(text: str) -> str:
    """Mask e-mail addresses and phone numbers: ``j***@example.com``, ``+***89``."""
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
