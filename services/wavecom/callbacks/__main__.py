"""``python -m wavecom.callbacks [--metrics-port 9104]``: the status callbacks process."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from collections.abc import Sequence

import uvloop

from wavecom.callbacks.service import CallbackService
from wavecom.core import telemetry
from wavecom.core.errors import DependencyUnavailable, TracingMisconfigured
from wavecom.core.logs import setup_logging
from wavecom.core.probes import ProbeServer
from wavecom.core.settings import get_settings

log = logging.getLogger("wavecom.callbacks")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="WaveCom Notify status callbacks to tenants")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help="serve /metrics, /healthz and /readyz on this port (0: off)",
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help="address of that port (0.0.0.0 in a pod, so Prometheus and the kubelet reach it)",
    )
    args = parser.parse_args(argv)
    settings = get_settings()
    setup_logging(settings.log_level, "callbacks", settings.log_format)
    try:
        telemetry.setup("wavecom-callbacks")
    except TracingMisconfigured as exc:
        log.error("cannot start: %s", exc)
        raise SystemExit(78) from exc  # EX_CONFIG

    async def run() -> None:
        started: list[CallbackService] = []
        probes = ProbeServer(
            lambda: started[0].readiness() if started else "connecting to the database and broker"
        )
        if args.metrics_port:
            await probes.start(args.metrics_host, args.metrics_port)
        try:
            service = await CallbackService.start(settings)
            started.append(service)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, service.stop)
            await service.run()
        finally:
            await probes.close()

    try:
        uvloop.run(run())
    except DependencyUnavailable as exc:
        log.error("cannot start: %s", exc)
        raise SystemExit(2) from exc


if __name__ == "__main__":
    main()
