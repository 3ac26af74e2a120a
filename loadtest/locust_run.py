"""``make loadtest`` / ``python -m loadtest.locust_run``: the locust run, headless, on this machine.

Against the system that answers at ``--url`` (``make up``'s: its key from ``WAVECOM_API_KEY`` or
``.state/api-key``, its workers' metrics on :9101), or, with ``--start`` or when nothing answers, a
private one started by the benchmark's runner (``loadtest/system.py``: a fresh vhost and database,
the API and the workers as ``make up`` runs them, stopped and deleted at the end). It measures the
broker ceiling first (``--broker-seconds``), then runs ``locust -f loadtest/locustfile.py
--headless`` as a child process with the settings as environment variables, and exits with locust's
exit code: 0 when the gate passed, 1 when it failed (the reasons are printed). Arguments after
``--`` go to locust unchanged.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import subprocess
import sys
import uuid
from datetime import UTC, datetime

from loadtest.system import ROOT, LocalSystem, Management, api_answers
from wavecom.core.constants import Scope
from wavecom.core.keys import Keys
from wavecom.core.tenants import RateLimit, Tenants
from wavecom.store import Store

LOCUSTFILE = ROOT / "loadtest" / "locustfile.py"
UP_WORKER_METRICS = ("http://127.0.0.1:9101/metrics",)  # make up's one worker process


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    p = argparse.ArgumentParser(
        prog="python -m loadtest.locust_run",
        description="The locust run, gated on delivered notifications (loadtest/README.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--shape", choices=("steady", "spike", "knee"), default="steady")
    p.add_argument("--rate", type=float, default=833.0, help="notifications/s (the base rate)")
    p.add_argument("--duration", type=float, default=150.0, help="seconds (steady, spike)")
    p.add_argument("--users", type=int, default=100, help="locust users at --rate")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--drain", type=float, default=60.0, help="seconds to wait for final")
    p.add_argument("--broker-seconds", type=float, default=15.0, help="0 skips the ceiling")
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--start", action="store_true", help="a private system even if --url answers")
    p.add_argument("--workers", type=int, default=1, help="worker processes per channel")
    p.add_argument("--provider-latency-ms", type=float, default=50.0)
    p.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for locust (WAVECOM_*) and the private system (repeatable)",
    )
    p.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/")
    p.add_argument(
        "--mongodb-url", default=os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/")
    )
    p.add_argument("--label", default="", help="a note stored in the report")
    a = p.parse_args(argv)
    for kv in a.env:
        if "=" not in kv:
            p.error(f"--env wants KEY=VALUE, got {kv!r}")
    return a, extra


async def _key(system: LocalSystem, rate: float, batch: int) -> str:
    """A send+read key of the private system's tenant ``locust``, limited well above the rate
    (the run measures the pipeline, not the rate limit)."""
    store = Store.connect(system.mongodb_url, system.database)
    try:
        limit = RateLimit(max(4.0 * rate, 2000.0), max(20 * batch, 20_000))
        await Tenants(store, limit).set_limit("locust", limit)
        _, token = await Keys(store).create("locust", {Scope.SEND, Scope.READ}, "locust")
    finally:
        await store.close()
    return token


def main(argv: list[str] | None = None) -> int:
    a, extra = parse_args(argv)
    started = datetime.now(UTC)
    run_id = started.strftime("%Y%m%dt%H%M%S").lower() + "-" + uuid.uuid4().hex[:4]
    extra_env = dict(kv.split("=", 1) for kv in a.env)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "WAVECOM_SHAPE": a.shape,
        "WAVECOM_RATE": f"{a.rate:g}",
        "WAVECOM_DURATION": f"{a.duration:g}",
        "WAVECOM_USERS": str(a.users),
        "WAVECOM_BATCH_SIZE": str(a.batch_size),
        "WAVECOM_DRAIN_S": f"{a.drain:g}",
        "WAVECOM_BROKER_SECONDS": f"{a.broker_seconds:g}",
        "WAVECOM_RUN_LABEL": a.label,
        "WAVECOM_COMMAND": "python -m loadtest.locust_run " + shlex.join(argv or sys.argv[1:]),
    }
    system: LocalSystem | None = None
    try:
        if a.start or not api_answers(a.url):
            system = LocalSystem(
                run_id=run_id,
                mgmt=Management("http://127.0.0.1:15672", "guest", "guest"),
                amqp_base=a.amqp_url,
                mongodb_url=a.mongodb_url,
                workers_per_channel=a.workers,
                provider_latency_ms=a.provider_latency_ms,
                extra_env={k: v for k, v in extra_env.items() if not k.startswith("WAVECOM_")},
                log_dir=ROOT / ".state" / "locust" / run_id,
            )
            system.stack_up()
            system.create_vhost()
            key = asyncio.run(_key(system, a.rate, a.batch_size))
            system.start()
            asyncio.run(system.wait_ready())
            host = system.api_urls[0]
            env.update(
                WAVECOM_API_KEY=key,
                WAVECOM_WORKER_METRICS=",".join(system.worker_metrics),
                AMQP_URL=system.amqp_url,
                MONGODB_URL=a.mongodb_url,
                MONGODB_DATABASE=system.database,
            )
            print(f"[locust_run] private system at {host}, database {system.database}", flush=True)
        else:
            host = a.url
            if not env.get("WAVECOM_WORKER_METRICS") and all(
                api_answers(u.removesuffix("/metrics")) for u in UP_WORKER_METRICS
            ):
                env["WAVECOM_WORKER_METRICS"] = ",".join(UP_WORKER_METRICS)
            env.setdefault("AMQP_URL", a.amqp_url)
            print(f"[locust_run] the system at {host}", flush=True)
        env.update({k: v for k, v in extra_env.items() if k.startswith("WAVECOM_")})
        cmd = [
            str(ROOT / ".venv" / "bin" / "locust") if (ROOT / ".venv").exists() else "locust",
            "-f",
            str(LOCUSTFILE),
            "--headless",
            "--host",
            host,
            "--only-summary",
            *extra,
        ]
        print("[locust_run] " + shlex.join(cmd), flush=True)
        proc = subprocess.run(cmd, cwd=ROOT, env=env, check=False)  # noqa: S603
        return proc.returncode
    except KeyboardInterrupt:
        return 130
    finally:
        if system is not None:
            system.stop()
            system.cleanup()


if __name__ == "__main__":
    sys.exit(main())
