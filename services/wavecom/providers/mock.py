"""Configurable mock providers: latency, failures, a send-rate cap, and a ledger of every send.

They are product code, not test doubles: a platform team uses them to rehearse load and
outages before wiring real providers, and tests count the ledger to prove each notification
was sent exactly once. Like a real provider's sandbox, recipients matching a configured rule
always get a fixed outcome (Twilio's magic test numbers work the same way).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from wavecom.core.constants import Channel
from wavecom.core.errors import PermanentProviderError, SendDeferred, TransientProviderError
from wavecom.providers.base import Provider, Receipt, SendRequest

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_PUSH = re.compile(r"^[A-Za-z0-9_\-:.]{16,4096}$")


class RecipientRule(BaseModel):
    """Recipients ending with ``suffix`` always get ``outcome``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    suffix: str = Field(min_length=1)
    outcome: Literal["transient", "permanent", "sent"]


class MockProviderConfig(BaseModel):
    """One mock provider account (JSON in PROVIDERS_EMAIL / _SMS / _PUSH)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str = Field(min_length=1, max_length=64)
    latency_ms: float = Field(default=50.0, ge=0, alias="latencyMs")
    # lognormal spread around latency_ms (0 = fixed latency)
    latency_sigma: float = Field(default=0.25, ge=0, le=3, alias="latencySigma")
    transient_failure_rate: float = Field(default=0.0, ge=0, le=1, alias="transientFailureRate")
    permanent_failure_rate: float = Field(default=0.0, ge=0, le=1, alias="permanentFailureRate")
    rate_limit_per_s: float = Field(default=0.0, ge=0, alias="rateLimitPerSec")
    seed: int | None = None
    rules: tuple[RecipientRule, ...] = ()
    # an outage switch for drills: while this file exists every send fails with a 503
    outage_file: str | None = Field(default=None, alias="outageFile")


@dataclass
class Ledger:
    """Append-only record of accepted sends (JSON lines), one file per provider and process.

    It is the provider's own record: every line is flushed as it is written, and a provider
    reads back what its other processes recorded to honour an idempotency key.
    """

    path: Path | None
    _file: IO[bytes] | None = field(default=None, init=False)
    entries: int = field(default=0, init=False)

    def record(self, provider: str, request: SendRequest, message_id: str) -> None:
        self.entries += 1
        if self.path is None:
            return
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = self.path.open("ab")
        line = orjson.dumps(
            {
                "provider": provider,
                "notificationId": request.notification_id,
                "attempt": request.attempt,
                "idempotencyKey": request.idempotency_key,
                "providerMessageId": message_id,
                "at": time.time(),
            }
        )
        self._file.write(line + b"\n")
        self._file.flush()

    def sent_before(self, provider: str) -> dict[str, str]:
        """Idempotency key -> provider message id of every send any process recorded."""
        sent: dict[str, str] = {}
        if self.path is None:
            return sent
        for f in self.path.parent.glob(f"{provider}-*.jsonl"):
            for line in f.read_bytes().splitlines():
                with contextlib.suppress(orjson.JSONDecodeError):  # a torn last line
                    entry = orjson.loads(line)
                    sent[entry["idempotencyKey"]] = entry["providerMessageId"]
        return sent

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class MockProvider(Provider):
    """A provider account that behaves as configured."""

    def __init__(
        self, channel: Channel, config: MockProviderConfig, *, ledger_dir: str = ""
    ) -> None:
        self.name = config.name
        self.channel = channel
        self.send_rate = config.rate_limit_per_s
        self.config = config
        self._rng = random.Random(config.seed)
        self._tokens = config.rate_limit_per_s
        self._refilled = time.monotonic()
        path = Path(ledger_dir) / f"{config.name}-{os.getpid()}.jsonl" if ledger_dir else None
        self.ledger = Ledger(path)
        # honoured idempotency keys: a repeated send returns the first receipt, sends nothing
        self._sent = self.ledger.sent_before(config.name)

    async def send(self, request: SendRequest) -> Receipt:
        cfg = self.config
        await asyncio.sleep(self._latency_s())
        if request.recovering and request.idempotency_key not in self._sent:
            self._sent.update(self.ledger.sent_before(self.name))
        if (earlier := self._sent.get(request.idempotency_key)) is not None:
            return Receipt(provider=self.name, provider_message_id=earlier, repeated=True)
        self._take_token()
        if self._in_outage():
            raise TransientProviderError(f"{self.name}: 503 outage", provider=self.name)
        forced = self._rule_outcome(request.recipient)
        if forced == "permanent" or not self._valid_recipient(request.recipient):
            raise PermanentProviderError(f"{self.name}: invalid recipient", provider=self.name)
        if forced == "transient":
            raise TransientProviderError(
                f"{self.name}: 503 service unavailable", provider=self.name
            )
        if forced is None:
            roll = self._rng.random()
            if roll < cfg.permanent_failure_rate:
                raise PermanentProviderError(f"{self.name}: 400 rejected", provider=self.name)
            if roll < cfg.permanent_failure_rate + cfg.transient_failure_rate:
                raise TransientProviderError(
                    f"{self.name}: 503 service unavailable", provider=self.name
                )
        message_id = f"{self.name}_{uuid.uuid4().hex[:20]}"
        self.ledger.record(self.name, request, message_id)
        self._sent[request.idempotency_key] = message_id
        return Receipt(provider=self.name, provider_message_id=message_id)

    def flush(self) -> None:
        """Write the ledger's buffered lines to its file (the worker calls it after a batch)."""
        self.ledger.flush()

    async def close(self) -> None:
        self.ledger.close()

    def _latency_s(self) -> float:
        cfg = self.config
        if cfg.latency_ms <= 0:
            return 0.0
        if cfg.latency_sigma <= 0:
            return cfg.latency_ms / 1000
        # lognormal with median latency_ms
        return cfg.latency_ms * self._rng.lognormvariate(0.0, cfg.latency_sigma) / 1000

    def _take_token(self) -> None:
        rate = self.config.rate_limit_per_s
        if rate <= 0:
            return
        now = time.monotonic()
        self._tokens = min(rate, self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens < 1:
            raise SendDeferred(
                f"{self.name}: 429 too many requests",
                provider=self.name,
                retry_after_s=(1 - self._tokens) / rate,
            )
        self._tokens -= 1

    def _in_outage(self) -> bool:
        flag = self.config.outage_file
        return flag is not None and os.path.exists(flag)  # one stat per send

    def _rule_outcome(self, recipient: str) -> str | None:
        for rule in self.config.rules:
            if recipient.endswith(rule.suffix):
                return rule.outcome
        return None

    def _valid_recipient(self, recipient: str) -> bool:
        pattern = {Channel.EMAIL: _EMAIL, Channel.SMS: _E164, Channel.PUSH: _PUSH}[self.channel]
        return bool(pattern.match(recipient))
