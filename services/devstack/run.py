"""``make up``: run the API, the workers of the three channels (one process) and the callbacks
process in the foreground, logs interleaved.

Ctrl-C (or ``make down``, or SIGTERM) stops them all: each gets SIGTERM and its shutdown grace
period, then SIGKILL. If one process dies, the others are stopped too and the exit code says so.

Every API call needs a key, so the first ``make up`` creates one for the tenant ``demo`` with
every scope and keeps it in ``.state/api-key`` (readable by you only); later runs reuse it while
it is valid. Sign in to the dashboard with it, or send it as ``Authorization: Bearer``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from wavecom.core.constants import Scope
from wavecom.core.keys import Keys
from wavecom.core.settings import get_settings
from wavecom.store import Store

ROOT = Path(__file__).resolve().parents[2]
PIDFILE = ROOT / ".state" / "run.pid"
KEYFILE = ROOT / ".state" / "api-key"
DEMO_TENANT = "demo"
COLOURS = {"api": "36", "work": "33", "cb": "31", "prom": "34"}
GRACE_S = 30.0
CHANNELS = ("email", "sms", "push")


def commands() -> dict[str, list[str]]:
    py = sys.executable
    cmds = {"api": [py, "-m", "wavecom.api", "--metrics-port", "9100"]}
    # one process for every channel's worker: on one small machine it costs less than three
    # (docs/benchmarks.md); the chart runs a Deployment per channel
    cmds["work"] = [py, "-m", "wavecom.worker", "--channel", *CHANNELS, "--metrics-port", "9101"]
    # the status callbacks to tenants' endpoints (docs/callbacks.md)
    cmds["cb"] = [py, "-m", "wavecom.callbacks", "--metrics-port", "9104"]
    if os.environ.get("PROMETHEUS"):  # make up PROMETHEUS=1: scrapes the above and RabbitMQ
        cmds["prom"] = [py, "-m", "tests.observability.prometheus", "serve"]
    return cmds


async def pipe(name: str, stream: asyncio.StreamReader) -> None:
    tag = f"\033[{COLOURS[name]}m{name:>5} |\033[0m " if sys.stdout.isatty() else f"{name:>5} | "
    while line := await stream.readline():
        sys.stdout.write(tag + line.decode(errors="replace"))
        sys.stdout.flush()


async def demo_key() -> str:
    """The local key of the demo tenant: the one in .state/api-key while valid, else a new one."""
    settings = get_settings()
    store = Store.connect(settings.mongodb_url, settings.mongodb_database)
    try:
        keys = Keys(store)
        if KEYFILE.exists():
            token = KEYFILE.read_text().strip()
            if await keys.verify(token) is not None:
                return token
        _, token = await keys.create(DEMO_TENANT, frozenset(Scope), "make up (local demo)")
    finally:
        await store.close()
    KEYFILE.parent.mkdir(exist_ok=True)
    KEYFILE.touch(mode=0o600)
    KEYFILE.write_text(token + "\n")
    return token


async def main() -> int:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    await demo_key()
    procs: dict[str, asyncio.subprocess.Process] = {}
    for name, cmd in commands().items():
        procs[name] = await asyncio.create_subprocess_exec(
            *cmd,
            env=env,
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    PIDFILE.parent.mkdir(exist_ok=True)
    PIDFILE.write_text(str(os.getpid()))
    pipes = [asyncio.create_task(pipe(n, p.stdout)) for n, p in procs.items() if p.stdout]
    print(
        f"API on http://127.0.0.1:{env.get('API_PORT', '8000')} (docs at /docs, "
        "dashboard at /); API metrics on :9100, the workers' on :9101, callbacks' on "
        ":9104. "
        "Ctrl-C stops everything.\n"
        f"API key of the tenant '{DEMO_TENANT}' (every scope): {KEYFILE.relative_to(ROOT)} "
        '(curl -H "Authorization: Bearer $(cat .state/api-key)" ...)',
        flush=True,
    )
    if "prom" in procs:
        port = env.get("PROMETHEUS_PORT", "9095")
        print(f"Prometheus on http://127.0.0.1:{port} (alerts at /alerts)", flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    waits = {asyncio.create_task(p.wait()): n for n, p in procs.items()}
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*waits, stopper], return_when=asyncio.FIRST_COMPLETED)
    failed = [waits[t] for t in done if t in waits]
    if failed:
        print(f"{', '.join(failed)} exited; stopping the rest", flush=True)
    for p in procs.values():
        if p.returncode is None:
            p.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs.values())), GRACE_S)
    except TimeoutError:
        for p in procs.values():
            if p.returncode is None:
                p.kill()
    await asyncio.gather(*pipes, return_exceptions=True)
    PIDFILE.unlink(missing_ok=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
