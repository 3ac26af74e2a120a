"""``python -m wavecom.worker --channel email [sms push]``: the workers of one channel or of
several in one process.

Each channel's :class:`~wavecom.worker.consumer.Worker` is the same either way: its lanes,
its prefetch, its batches, its provider accounts and breakers, its readiness. Several in one
process share its :class:`~wavecom.worker.links.Links` (one database client and counters'
settler, one broker connection, one publisher) and its event loop. The chart runs one
Deployment per channel, each scaled by its own lanes' depth (KEDA); ``make up`` runs the three
channels in one process (``services/devstack/run.py``), which on a small machine costs less
than three processes idling and waking apart (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Sequence

from wavecom.core import entrypoint
from wavecom.core.constants import Channel
from wavecom.core.errors import QueueMismatch
from wavecom.core.settings import Settings, get_settings
from wavecom.worker.consumer import Worker
from wavecom.worker.links import Links

log = logging.getLogger("wavecom.worker")


class ChannelWorkers:
    """Several channels' workers on one process's links: run, stopped and probed together."""

    def __init__(self, links: Links, workers: Sequence[Worker]) -> None:
        self.links = links
        self.workers = list(workers)

    @classmethod
    async def start(cls, settings: Settings, channels: Sequence[Channel]) -> ChannelWorkers:
        links = await Links.open(settings, "worker-" + "-".join(c.slug for c in channels))
        workers: list[Worker] = []
        try:
            for channel in channels:
                workers.append(await Worker.on(links, settings, channel, owns_links=False))
        except BaseException:
            for worker in workers:
                await worker.table.close()
            await links.close()
            raise
        return cls(links, workers)

    async def run(self) -> None:
        """Every worker until ``stop()``, or until one fails (then the others are stopped and
        its error raised); the links are closed once all have finished."""
        tasks = [asyncio.create_task(w.run()) for w in self.workers]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            if any(not t.cancelled() and t.exception() for t in done):
                self.stop()
            await asyncio.wait(tasks)
        finally:
            await self.links.close()
        for task in tasks:
            task.result()

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()

    def readiness(self) -> str | None:
        """Ready when every channel's worker is; else each one's reason, by channel."""
        reasons = [f"{w.channel.slug}: {reason}" for w in self.workers if (reason := w.readiness())]
        return "; ".join(reasons) or None


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="WaveCom Notify channel worker")
    parser.add_argument(
        "--channel",
        required=True,
        nargs="+",
        choices=[c.slug for c in Channel],
        help="the channel to deliver, or several: one process serves them all",
    )
    entrypoint.metrics_arguments(parser)
    args = parser.parse_args(argv)
    slugs: list[str] = list(dict.fromkeys(args.channel))  # in order, each once
    settings = get_settings()
    entrypoint.setup(
        settings,
        "worker-" + "-".join(slugs),
        "wavecom-worker",
        log,
        **{"wavecom.channel": ",".join(slugs)},
    )
    channels = [Channel(slug.upper()) for slug in slugs]

    async def start() -> entrypoint.Service:
        if len(channels) == 1:
            return await Worker.start(settings, channels[0])
        return await ChannelWorkers.start(settings, channels)

    entrypoint.run_service(start, args, log, config_errors=(QueueMismatch,))
