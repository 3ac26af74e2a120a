"""``wavecom.core.entrypoint``: what the processes' mains share.

The metrics arguments and their defaults; logging set up and tracing refused with exit code 78
(``EX_CONFIG``) when it is misconfigured; and ``run_service``: /readyz says "connecting" until
the service has started, then the service's own readiness, SIGTERM stops the service, and a
start that fails exits with 2 (a dependency is unavailable: restart) or 78 (a configuration
error restarting cannot mend)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
from collections.abc import Iterator

import httpx
import pytest

from tests.support.services import free_port
from wavecom.core.entrypoint import EX_CONFIG, metrics_arguments, run_service, setup
from wavecom.core.errors import BrokerUnavailable, QueueMismatch
from wavecom.core.settings import Settings

log = logging.getLogger("tests.entrypoint")


def parser(readiness: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    metrics_arguments(p, readiness=readiness)
    return p


def test_the_metrics_port_is_off_by_default_on_loopback() -> None:
    args = parser().parse_args([])
    assert (args.metrics_port, args.metrics_host) == (0, "127.0.0.1")
    args = parser().parse_args(["--metrics-port", "9100", "--metrics-host", "0.0.0.0"])
    assert (args.metrics_port, args.metrics_host) == (9100, "0.0.0.0")


def test_a_port_that_is_not_a_number_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as stopped:
        parser().parse_args(["--metrics-port", "nine"])
    assert stopped.value.code == 2


def test_the_help_says_whether_readyz_is_served_there() -> None:
    assert "/readyz" in parser(readiness=True).format_help()
    assert "/readyz" not in parser(readiness=False).format_help()


@pytest.fixture
def root_logging() -> Iterator[None]:
    """``setup`` replaces the root logger's handlers: put them back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_misconfigured_tracing_exits_with_78(
    root_logging: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    with pytest.raises(SystemExit) as stopped:
        setup(Settings(environment="test"), "worker", "wavecom-worker", log)
    assert stopped.value.code == EX_CONFIG == 78
    assert "cannot start: OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported" in (
        capsys.readouterr().err
    )


def test_without_tracing_configured_it_sets_up_logging_and_goes_on(
    root_logging: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)
    setup(Settings(environment="test", log_level="INFO"), "worker", "wavecom-worker", log)
    log.info("after setup")
    [line] = [x for x in capsys.readouterr().err.splitlines() if "after setup" in x]
    assert " INFO  worker " in line


class Service:
    """A service whose run waits until stopped."""

    def __init__(self) -> None:
        self.stopped = asyncio.Event()
        self.ready: str | None = None

    def readiness(self) -> str | None:
        return self.ready

    def stop(self) -> None:
        self.stopped.set()

    async def run(self) -> None:
        await self.stopped.wait()


async def readyz(port: int) -> tuple[int, str]:
    async with httpx.AsyncClient() as http:
        r = await http.get(f"http://127.0.0.1:{port}/readyz")
    return r.status_code, r.text


def test_readyz_follows_the_start_and_sigterm_stops_the_service() -> None:
    port = free_port()
    seen: list[tuple[int, str]] = []
    service = Service()

    async def start() -> Service:
        seen.append(await readyz(port))
        return service

    async def run() -> None:
        seen.append(await readyz(port))
        os.kill(os.getpid(), signal.SIGTERM)  # the handler run_service installed stops it
        await service.stopped.wait()

    service.run = run  # type: ignore[method-assign]
    args = argparse.Namespace(metrics_port=port, metrics_host="127.0.0.1")
    run_service(start, args, log)
    assert seen == [(503, "not ready: connecting to the database and broker\n"), (200, "ready\n")]
    assert service.stopped.is_set()


def test_an_unavailable_dependency_at_start_exits_with_2() -> None:
    async def start() -> Service:
        raise BrokerUnavailable("connection refused")

    with pytest.raises(SystemExit) as stopped:
        run_service(start, argparse.Namespace(metrics_port=0), log)
    assert stopped.value.code == 2


def test_a_configuration_error_at_start_exits_with_78() -> None:
    async def start() -> Service:
        raise QueueMismatch("wavecom.sms.standard is a classic queue")

    args = argparse.Namespace(metrics_port=0)
    with pytest.raises(SystemExit) as stopped:
        run_service(start, args, log, config_errors=(QueueMismatch,))
    assert stopped.value.code == EX_CONFIG
    with pytest.raises(QueueMismatch):  # not one of config_errors: neither 2 nor 78
        run_service(start, args, log)


def test_the_probe_port_is_closed_when_the_service_ends() -> None:
    port = free_port()
    service = Service()
    service.stop()  # runs and returns at once
    args = argparse.Namespace(metrics_port=port, metrics_host="127.0.0.1")
    run_service(lambda: _ready(service), args, log)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz")


async def _ready(service: Service) -> Service:
    return service
