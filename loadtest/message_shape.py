"""What a notification costs RabbitMQ and its clients as a message of its own, and as one of
several jobs in a message: the per-message share of the pipeline's CPU (issue #25).

At a fixed rate of jobs (open model: every 10 ms publishes what fell due), each ``per`` jobs
(the product's ``DeliveryJob`` bodies; 1 is today's shape, a JSON array otherwise) are one
persistent message on a quorum queue, published with confirms awaited together as the API's
group commit does. A consumer in the same process (prefetch 400, as a worker) decodes every
message and settles each batch of what arrived with one ``multiple`` ack, as a worker does.
Machine CPU comes from ``/proc/stat`` over the window, RabbitMQ's and this process's (the
publisher and the consumer together) from ``/proc/<pid>/stat``. No database is involved.

``python -m loadtest.message_shape --rate 600 --seconds 40 --per 1,5,20`` against the running
RabbitMQ (``make stack``); the report goes to ``loadtest/results/message-shape-<time>.json``
and a markdown table to stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aio_pika
import orjson
import uvloop
from aio_pika.abc import AbstractExchange, AbstractIncomingMessage, DeliveryMode

from loadtest.bench import RESULTS
from loadtest.monitor import CpuMeter, CpuSnapshot
from wavecom.core.constants import Channel, Priority
from wavecom.core.messages import DeliveryJob

_TICK_S = 0.01
_BATCH_S = 0.02


def _job(i: int) -> bytes:
    return DeliveryJob(
        id=f"{i:024x}",
        tenant_id="bench",
        type=Channel.EMAIL,
        recipient=f"user{i}@example.com",
        message="Your one-time code is 123456. It expires in 5 minutes.",
        priority=Priority.HIGH,
        subject="Your code",
        accepted_ms=int(time.time() * 1000),
    ).encode()


def _body(jobs: list[bytes]) -> bytes:
    return jobs[0] if len(jobs) == 1 else b"[" + b",".join(jobs) + b"]"


class _Consumer:
    """Takes what arrived every ``_BATCH_S``, decodes it and settles it with one ack."""

    def __init__(self) -> None:
        self.arrived: list[AbstractIncomingMessage] = []
        self.got = asyncio.Event()
        self.consumed = 0
        self.caught_up = asyncio.Event()
        self.expected = -1

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        self.arrived.append(message)
        self.got.set()

    async def settle(self) -> None:
        while True:
            await self.got.wait()
            self.got.clear()
            await asyncio.sleep(_BATCH_S)  # a batch's moment to fill, as a worker's
            batch, self.arrived = self.arrived, []
            for m in batch:
                decoded = orjson.loads(m.body)
                self.consumed += len(decoded) if isinstance(decoded, list) else 1
            if batch:
                await batch[-1].ack(multiple=True)
            if self.consumed == self.expected:
                self.caught_up.set()


async def _publish_all(exchange: AbstractExchange, name: str, bodies: list[bytes]) -> None:
    await asyncio.gather(
        *(
            exchange.publish(
                aio_pika.Message(
                    b, delivery_mode=DeliveryMode.PERSISTENT, content_type="application/json"
                ),
                routing_key=name,
            )
            for b in bodies
        )
    )


async def _publish_at_rate(
    exchange: AbstractExchange, name: str, per: int, rate: float, seconds: float
) -> tuple[int, int, CpuSnapshot, CpuSnapshot, CpuMeter]:
    """Publish for ``seconds``: the jobs published, those in the measured window, the
    window's two snapshots and the meter that took them."""
    confirms: set[asyncio.Task[None]] = set()
    pending: list[bytes] = []
    made = 0
    meter = CpuMeter({})
    start = time.monotonic()
    first: tuple[CpuSnapshot, int] | None = None
    while (elapsed := time.monotonic() - start) < seconds:
        if first is None and elapsed >= 2.0:  # past the first seconds' warm-up
            first = (meter.snapshot(), made)
        due = int(rate * elapsed) - made
        pending += [_job(made + i) for i in range(due)]
        made += due
        bodies = []
        while len(pending) >= per:
            bodies.append(_body(pending[:per]))
            del pending[:per]
        if bodies:
            task = asyncio.create_task(_publish_all(exchange, name, bodies))
            confirms.add(task)
            task.add_done_callback(confirms.discard)
        await asyncio.sleep(_TICK_S)
    end = meter.snapshot()
    assert first is not None
    if confirms:
        await asyncio.gather(*confirms)
    return made - len(pending), made - first[1], first[0], end, meter


async def run_shape(url: str, per: int, rate: float, seconds: float) -> dict[str, Any]:
    """Publish ``rate`` jobs a second for ``seconds``, ``per`` to a message, and consume them."""
    connection = await aio_pika.connect(url)
    name = f"bench.shape.{uuid.uuid4().hex[:8]}"
    try:
        setup = await connection.channel()
        await setup.declare_queue(name, durable=True, arguments={"x-queue-type": "quorum"})
        publisher = await connection.channel(publisher_confirms=True)
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=400)
        consumer = _Consumer()
        queue = await channel.get_queue(name)
        tag = await queue.consume(consumer.on_message, no_ack=False)
        settler = asyncio.create_task(consumer.settle())
        published, in_window, first, end, meter = await _publish_at_rate(
            publisher.default_exchange, name, per, rate, seconds
        )
        consumer.expected = published
        if consumer.consumed < published:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(consumer.caught_up.wait(), 60)
        settler.cancel()
        await queue.cancel(tag)
        pct = meter.percent(first, end)
        window_s = end.wall - first.wall

        def ms_per_job(percent: float) -> float:
            return round(percent / 100 * window_s * 1000 / in_window, 3)

        return {
            "jobsPerMessage": per,
            "jobsPerSecond": round(in_window / window_s, 1),
            "messagesPerSecond": round(in_window / per / window_s, 1),
            "windowSeconds": round(window_s, 2),
            "published": published,
            "consumed": consumer.consumed,
            "machineBusyPercent": pct["total"],
            "msPerJob": {
                "machine": ms_per_job(pct["total"]),
                "rabbitmq": ms_per_job(pct["rabbitmq"]),
                "client": ms_per_job(pct["bench"]),
                "rest": ms_per_job(pct["total"] - pct["rabbitmq"] - pct["bench"]),
            },
        }
    finally:
        cleanup = await connection.channel()
        await cleanup.queue_delete(name)
        await connection.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    p.add_argument("--rate", type=float, default=600.0, help="jobs a second")
    p.add_argument("--seconds", type=float, default=40.0, help="seconds of publishing per shape")
    p.add_argument("--per", default="1,5,20", help="jobs per message, one run each")
    p.add_argument("--results-dir", default=str(RESULTS))
    a = p.parse_args()
    shapes = [int(x) for x in a.per.split(",")]
    runs = []
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        for per in shapes:
            print(f"[shape] {per} job(s) a message, {a.rate:g} jobs/s for {a.seconds:g} s")
            runs.append(runner.run(run_shape(a.amqp_url, per, a.rate, a.seconds)))
    at = datetime.now(UTC)
    report = {
        "command": "python -m loadtest.message_shape "
        f"--rate {a.rate:g} --seconds {a.seconds:g} --per {a.per}",
        "startedAt": at.isoformat(timespec="seconds"),
        "runs": runs,
    }
    out = f"{a.results_dir}/message-shape-{at.strftime('%Y%m%dT%H%M%SZ')}.json"
    with open(out, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print(
        "\n| jobs a message | jobs/s | messages/s | machine busy | ms a job: machine | "
        "RabbitMQ | client | rest |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in runs:
        m = r["msPerJob"]
        print(
            f"| {r['jobsPerMessage']} | {r['jobsPerSecond']} | {r['messagesPerSecond']} | "
            f"{r['machineBusyPercent']} % | {m['machine']} | {m['rabbitmq']} | {m['client']} | "
            f"{m['rest']} |"
        )
    print(f"\n[shape] wrote {out}")


if __name__ == "__main__":
    main()
