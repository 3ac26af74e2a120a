"""The broker's own ceiling on this machine, through the same client library as the product.

A publisher (persistent 300-byte messages, publisher confirms awaited concurrently in windows)
and a consumer (prefetch, manual ack of every message) run together, each in its own process,
on a temporary durable queue; no database is involved. The ceiling is the rate that passes all
the way through (published, confirmed, delivered and acked) in the steady part of the run.

Run on its own: ``python -m loadtest.broker_ceiling --amqp-url amqp://guest:guest@127.0.0.1/``
(the roles ``publish`` and ``consume`` are what the parent starts as its children).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import aio_pika
import uvloop
from aio_pika.abc import AbstractIncomingMessage, DeliveryMode

from loadtest.system import ROOT


async def publish(url: str, queue: str, seconds: float, size: int, window: int) -> dict[str, Any]:
    connection = await aio_pika.connect(url)
    channel = await connection.channel(publisher_confirms=True)
    exchange = channel.default_exchange
    body = b"x" * size
    per_second: Counter[int] = Counter()
    end = time.monotonic() + seconds
    confirmed = 0
    while time.monotonic() < end:
        await asyncio.gather(
            *(
                exchange.publish(
                    aio_pika.Message(body, delivery_mode=DeliveryMode.PERSISTENT),
                    routing_key=queue,
                )
                for _ in range(window)
            )
        )
        confirmed += window
        per_second[int(time.time())] += window
    await connection.close()
    return {"role": "publish", "count": confirmed, "perSecond": dict(per_second)}


async def consume(url: str, queue: str, seconds: float, prefetch: int) -> dict[str, Any]:
    """Consume until ``seconds`` passed and the queue stayed empty for a second."""
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=prefetch)
    q = await channel.declare_queue(queue, durable=True)
    per_second: Counter[int] = Counter()
    count = 0
    last = time.monotonic()

    async def on_message(message: AbstractIncomingMessage) -> None:
        nonlocal count, last
        await message.ack()
        count += 1
        last = time.monotonic()
        per_second[int(time.time())] += 1

    tag = await q.consume(on_message, no_ack=False)
    end = time.monotonic() + seconds
    while time.monotonic() < end or time.monotonic() - last < 1.0:
        await asyncio.sleep(0.1)
        if time.monotonic() > end + 10:
            break
    await q.cancel(tag)
    await connection.close()
    return {"role": "consume", "count": count, "perSecond": dict(per_second)}


@dataclass
class CeilingResult:
    seconds: float
    message_bytes: int
    window: int
    prefetch: int
    published: int
    consumed: int
    publish_rate: float  # confirmed publishes per second, steady part
    consume_rate: float  # acked deliveries per second, steady part
    ceiling: float  # min of the two: what passes all the way through

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "messageBytes": self.message_bytes,
            "confirmWindow": self.window,
            "prefetch": self.prefetch,
            "published": self.published,
            "consumed": self.consumed,
            "publishRate": round(self.publish_rate, 1),
            "consumeRate": round(self.consume_rate, 1),
            "ceiling": round(self.ceiling, 1),
        }


def _steady_rate(per_second: dict[int, int], lo: int, hi: int) -> float:
    if hi <= lo:
        return 0.0
    return sum(v for s, v in per_second.items() if lo <= s < hi) / (hi - lo)


async def measure(
    amqp_url: str,
    seconds: float = 15.0,
    size: int = 300,
    window: int = 500,
    prefetch: int = 500,
) -> CeilingResult:
    """Publisher and consumer in two child processes, on a temporary queue (deleted after)."""
    queue = f"bench.ceiling.{uuid.uuid4().hex[:8]}"
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    q = await channel.declare_queue(queue, durable=True)
    try:
        common = ["--amqp-url", amqp_url, "--queue", queue, "--seconds", str(seconds)]
        consumer = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "loadtest.broker_ceiling",
            "consume",
            *common,
            "--prefetch",
            str(prefetch),
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        publisher = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "loadtest.broker_ceiling",
            "publish",
            *common,
            "--size",
            str(size),
            "--window",
            str(window),
            cwd=ROOT,
            stdout=subprocess.PIPE,
        )
        try:
            pub_out, _ = await asyncio.wait_for(publisher.communicate(), seconds + 60)
            con_out, _ = await asyncio.wait_for(consumer.communicate(), 30)
        except BaseException:
            for p in (publisher, consumer):
                if p.returncode is None:
                    p.kill()
                    await p.wait()
            raise
        if publisher.returncode or consumer.returncode:
            raise RuntimeError(
                f"broker ceiling children failed (publish {publisher.returncode}, "
                f"consume {consumer.returncode})"
            )
        pub = json.loads(pub_out.decode().strip().splitlines()[-1])
        con = json.loads(con_out.decode().strip().splitlines()[-1])
    finally:
        await q.delete(if_unused=False, if_empty=False)
        await connection.close()
    pub_s = {int(k): v for k, v in pub["perSecond"].items()}
    con_s = {int(k): v for k, v in con["perSecond"].items()}
    # steady part: whole seconds after the first two and before the publisher's last one
    lo, hi = min(pub_s) + 2, max(pub_s)
    pub_rate = _steady_rate(pub_s, lo, hi)
    con_rate = _steady_rate(con_s, lo, hi)
    return CeilingResult(
        seconds,
        size,
        window,
        prefetch,
        pub["count"],
        con["count"],
        pub_rate,
        con_rate,
        min(pub_rate, con_rate),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("role", nargs="?", choices=["publish", "consume", "both"], default="both")
    parser.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    parser.add_argument("--queue", default="")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--size", type=int, default=300)
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--prefetch", type=int, default=500)
    a = parser.parse_args()
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        if a.role == "publish":
            out = runner.run(publish(a.amqp_url, a.queue, a.seconds, a.size, a.window))
            print(json.dumps(out), flush=True)
        elif a.role == "consume":
            out = runner.run(consume(a.amqp_url, a.queue, a.seconds, a.prefetch))
            print(json.dumps(out), flush=True)
        else:
            result = runner.run(measure(a.amqp_url, a.seconds, a.size, a.window, a.prefetch))
            print(json.dumps(result.as_dict(), indent=2))


if __name__ == "__main__":
    main()
