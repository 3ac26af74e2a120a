"""``python -m wavecom.api``: serve the API with uvicorn."""

from __future__ import annotations

import logging
from types import FrameType

import uvicorn

from wavecom import telemetry
from wavecom.api.app import create_app
from wavecom.api.live import EventHub
from wavecom.errors import TracingMisconfigured
from wavecom.logs import setup_logging
from wavecom.settings import get_settings

log = logging.getLogger("wavecom.api")


class Server(uvicorn.Server):
    """uvicorn, ending the live streams as soon as it is told to stop: it waits for open
    connections before it shuts down, and a stream would otherwise hold it for the grace."""

    def __init__(self, config: uvicorn.Config, hub: EventHub) -> None:
        super().__init__(config)
        self.hub = hub

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self.hub.close()


def main() -> None:
    settings = get_settings()
    setup_logging(settings.log_level, "api", settings.log_format)
    try:
        telemetry.setup("wavecom-api")
    except TracingMisconfigured as exc:
        log.error("cannot start: %s", exc)
        raise SystemExit(78) from exc  # EX_CONFIG
    app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
    )
    Server(config, app.state.hub).run()


if __name__ == "__main__":
    main()
