"""``python -m wavecom.api [--metrics-port N]``: serve the API with uvicorn, and its Prometheus
metrics on a port of their own (as the workers do), so that the Ingress, which routes only the
API's port, never exposes them and the NetworkPolicy can admit Prometheus to that port alone."""

from __future__ import annotations

import argparse
import logging
import socket
from collections.abc import Sequence
from types import FrameType

import uvicorn

from wavecom.api.app import create_app
from wavecom.api.live import EventHub
from wavecom.core import entrypoint
from wavecom.core.probes import ProbeServer
from wavecom.core.settings import get_settings

log = logging.getLogger("wavecom.api")


class Server(uvicorn.Server):
    """uvicorn, ending the live streams as soon as it is told to stop: it waits for open
    connections before it shuts down, and a stream would otherwise hold it for the grace.
    With ``metrics`` (host, port), /metrics and /healthz are served there from the same loop."""

    def __init__(
        self, config: uvicorn.Config, hub: EventHub, metrics: tuple[str, int] | None = None
    ) -> None:
        super().__init__(config)
        self.hub = hub
        self.metrics = metrics

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        probes = ProbeServer()
        if self.metrics:
            await probes.start(*self.metrics)
        try:
            await super().serve(sockets)
        finally:
            await probes.close()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.hub.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="WaveCom Notify API")
    entrypoint.metrics_arguments(parser, readiness=False)
    args = parser.parse_args(argv)
    settings = get_settings()
    entrypoint.setup(settings, "api", "wavecom-api", log)
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        timeout_keep_alive=settings.api_keep_alive_s,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
    )
    metrics = (args.metrics_host, args.metrics_port) if args.metrics_port else None
    Server(config, app.state.hub, metrics).run()


if __name__ == "__main__":
    main()
