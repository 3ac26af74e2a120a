"""The mock providers behave as configured, and their ledger records every send."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import orjson
import pytest

from wavecom.core.constants import Channel
from wavecom.core.errors import PermanentProviderError, TransientProviderError
from wavecom.providers.base import SendRequest
from wavecom.providers.mock import MockProvider, MockProviderConfig


def request(recipient: str = "+2348012345678", i: int = 0) -> SendRequest:
    return SendRequest(
        notification_id=f"n{i}", attempt=0, channel=Channel.SMS, recipient=recipient, message="hi"
    )


def provider(tmp_path: Path | None = None, **cfg: object) -> MockProvider:
    config = MockProviderConfig.model_validate({"name": "textwave", "latencyMs": 0, **cfg})
    return MockProvider(Channel.SMS, config, ledger_dir=str(tmp_path) if tmp_path else "")


async def test_a_send_returns_a_receipt_and_is_in_the_ledger(tmp_path: Path) -> None:
    p = provider(tmp_path)
    receipt = await p.send(request())
    assert receipt.provider == "textwave"
    assert receipt.provider_message_id.startswith("textwave_")
    p.ledger.flush()
    [ledger_file] = list(tmp_path.glob("textwave-*.jsonl"))  # noqa: ASYNC240 - a tiny local file
    [line] = ledger_file.read_bytes().splitlines()
    entry = orjson.loads(line)
    assert entry["notificationId"] == "n0"
    assert entry["idempotencyKey"] == "n0:0"
    assert entry["providerMessageId"] == receipt.provider_message_id


async def test_an_invalid_recipient_fails_permanently() -> None:
    with pytest.raises(PermanentProviderError, match="invalid recipient"):
        await provider().send(request("not-a-phone"))


async def test_failure_rates_are_seeded_and_split_transient_from_permanent() -> None:
    async def outcomes(seed: int) -> list[str]:
        p = provider(seed=seed, transientFailureRate=0.3, permanentFailureRate=0.1)
        out = []
        for i in range(400):
            try:
                await p.send(request(i=i))
                out.append("sent")
            except TransientProviderError:
                out.append("transient")
            except PermanentProviderError:
                out.append("permanent")
        return out

    first, again = await outcomes(42), await outcomes(42)
    assert first == again
    assert 0.2 < first.count("transient") / 400 < 0.4
    assert 0.04 < first.count("permanent") / 400 < 0.16


async def test_latency_has_the_configured_median() -> None:
    p = provider(latencyMs=20, latencySigma=0.3, seed=1)
    samples = []
    for _ in range(40):
        start = time.perf_counter()
        await p.send(request())
        samples.append((time.perf_counter() - start) * 1000)
    assert 15 < statistics.median(samples) < 35


async def test_the_rate_cap_answers_429_with_retry_after() -> None:
    p = provider(rateLimitPerSec=5)
    for i in range(5):
        await p.send(request(i=i))
    with pytest.raises(TransientProviderError, match="429") as caught:
        await p.send(request(i=5))
    assert caught.value.retry_after_s is not None
    assert 0 < caught.value.retry_after_s <= 0.2


async def test_recipient_rules_force_an_outcome() -> None:
    p = provider(
        rules=[{"suffix": "999", "outcome": "transient"}, {"suffix": "000", "outcome": "permanent"}]
    )
    with pytest.raises(TransientProviderError):
        await p.send(request("+2348012345999"))
    with pytest.raises(PermanentProviderError):
        await p.send(request("+2348012345000"))
    assert (await p.send(request("+2348012345123"))).provider == "textwave"


async def test_an_idempotency_key_is_honoured_across_processes(tmp_path: Path) -> None:
    first = provider(tmp_path)
    receipt = await first.send(request())
    assert (await first.send(request())).provider_message_id == receipt.provider_message_id
    # another process of the same provider account, started later, knows the send too
    later = provider(tmp_path)
    again = await later.send(request())
    assert again.provider_message_id == receipt.provider_message_id
    lines = [f.read_bytes().splitlines() for f in tmp_path.glob("textwave-*.jsonl")]  # noqa: ASYNC240
    assert sum(len(x) for x in lines) == 1
