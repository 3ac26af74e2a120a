"""``python -m wavecom.callbacks [--metrics-port 9104]``: the status callbacks process."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from wavecom.callbacks.service import CallbackService
from wavecom.core import entrypoint
from wavecom.core.settings import get_settings

log = logging.getLogger("wavecom.callbacks")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="WaveCom Notify status callbacks to tenants")
    entrypoint.metrics_arguments(parser)
    args = parser.parse_args(argv)
    settings = get_settings()
    entrypoint.setup(settings, "callbacks", "wavecom-callbacks", log)
    entrypoint.run_service(lambda: CallbackService.start(settings), args, log)


if __name__ == "__main__":
    main()
