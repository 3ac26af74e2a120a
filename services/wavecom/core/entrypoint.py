"""What the processes' ``main`` functions share (``python -m wavecom.api``, ``wavecom.worker``,
``wavecom.callbacks``): the ``--metrics-port``/``--metrics-host`` arguments, logging and
tracing set up with exit code 78 (``EX_CONFIG``) when tracing is misconfigured, and, for the
consuming processes, the run under uvloop with the probe server, SIGTERM/SIGINT and the exit
codes of a start that fails (2: a dependency is unavailable, so restart; 78: a configuration
error restarting cannot mend).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Callable
from typing import Protocol

import uvloop

from wavecom.core import telemetry
from wavecom.core.errors import DependencyUnavailable, TracingMisconfigured
from wavecom.core.logs import setup_logging
from wavecom.core.probes import ProbeServer
from wavecom.core.settings import Settings

EX_CONFIG = 78


def metrics_arguments(parser: argparse.ArgumentParser, *, readiness: bool = True) -> None:
    """Add ``--metrics-port`` and ``--metrics-host``; ``readiness``: /readyz is served there
    too (the consuming processes; the API's readiness is on its own port)."""
    served = (
        "/metrics, /healthz and /readyz" if readiness else "Prometheus's /metrics (and /healthz)"
    )
    reaches = "Prometheus and the kubelet reach it" if readiness else "Prometheus reaches it"
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=0,
        help=f"serve {served} on this port (0: off)",
    )
    parser.add_argument(
        "--metrics-host",
        default="127.0.0.1",
        help=f"address of that port (0.0.0.0 in a pod, so {reaches})",
    )


def setup(
    settings: Settings, process: str, service: str, log: logging.Logger, **resource: str
) -> None:
    """Logging as ``process``, tracing as ``service`` (with ``resource``'s attributes); a
    misconfigured tracer stops the process with 78 (``EX_CONFIG``)."""
    setup_logging(settings.log_level, process, settings.log_format)
    try:
        telemetry.setup(service, os.environ, **resource)
    except TracingMisconfigured as exc:
        log.error("cannot start: %s", exc)
        raise SystemExit(EX_CONFIG) from exc


class Service(Protocol):
    """A consuming process's service: started, run until stopped, ready or not."""

    def readiness(self) -> str | None: ...

    def stop(self) -> None: ...

    async def run(self) -> None: ...


def run_service(
    start: Callable[[], Awaitable[Service]],
    args: argparse.Namespace,
    log: logging.Logger,
    config_errors: tuple[type[Exception], ...] = (),
) -> None:
    """Under uvloop: serve the probes (when ``args.metrics_port``; /readyz says "connecting"
    until ``start`` returns), start the service, stop it on SIGTERM or SIGINT and run it.
    A :class:`DependencyUnavailable` exits with 2, one of ``config_errors`` with 78."""

    async def run() -> None:
        started: list[Service] = []
        probes = ProbeServer(
            lambda: started[0].readiness() if started else "connecting to the database and broker"
        )
        if args.metrics_port:
            await probes.start(args.metrics_host, args.metrics_port)
        try:
            service = await start()
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
    except config_errors as exc:
        # a configuration error: restarting cannot mend it, so say what to do and stop
        log.error("cannot start: %s", exc)
        raise SystemExit(EX_CONFIG) from exc
