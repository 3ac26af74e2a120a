"""``python -m wavecom.api``: serve the API with uvicorn."""

from __future__ import annotations

import uvicorn

from wavecom.logs import setup_logging
from wavecom.settings import get_settings


def main() -> None:
    settings = get_settings()
    setup_logging(settings.log_level, "api")
    uvicorn.run(
        "wavecom.api.app:create_app",
        factory=True,
        host=settings.api_host,
        port=settings.api_port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_s),
    )


if __name__ == "__main__":
    main()
