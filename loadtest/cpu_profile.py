"""Where a process's CPU time goes, by package: cProfile timing by the process's CPU clock.

``python -m loadtest.steps --cpu-profile ...`` starts our API and workers under this module
(``python -m loadtest.cpu_profile --out F --from-signal -- -m wavecom.worker --channel
email``): cProfile with ``time.process_time`` as its clock, from the first step's start (the
SIGUSR1 loadtest.steps sends) to the process's exit, its stats dumped to F when it stops.
Unlike py-spy's samples (``loadtest.profile``), a wait for events or a thread preempted on a
saturated machine takes no time here. What the profiler
inflates is code of many small calls (its own cost per call lands on them), so libraries of
many tiny functions (pamqp, enum) read high, and the profiled processes use about three times
the CPU: a profiled run's other figures are not the build's.

:func:`breakdown` puts each function's own time in the category of its file (the libraries
of ``loadtest.profile``, the ``wavecom`` module, asyncio as the event loop) and the time of a
built-in (``len``, ``isinstance``, a C method) in its caller's, so that "builtins" never
hides who called them.
"""

from __future__ import annotations

import argparse
import atexit
import cProfile
import pstats
import runpy
import signal
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from loadtest.profile import OTHER, category

_Func = tuple[str, int, str]  # cProfile's (file, line, function)


def _category(func: _Func) -> str:
    path, line, name = func
    return category([f"{name} ({path}:{line})"])


def breakdown(stats: pstats.Stats, top: int = 15) -> dict[str, Any]:
    """The process's CPU time by category (percent of its profiled time), and its ``top``
    functions by their own time."""
    raw: dict[_Func, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values())
    by: Counter[str] = Counter()
    for func, (_cc, _nc, own, _cum, callers) in raw.items():
        if func[0] != "~":
            by[_category(func)] += own
            continue
        for caller, (*_, own_from_caller, _cum_from_caller) in callers.items():
            by[_category(caller)] += own_from_caller  # a built-in calling one: OTHER
        by[OTHER] += own - sum(c[2] for c in callers.values())
    functions = sorted(raw.items(), key=lambda kv: -kv[1][2])[:top]
    return {
        "profiledCpuSeconds": round(total, 2),
        "percentByCategory": {
            name: round(100 * t / total, 1) for name, t in by.most_common() if total and t > 0
        },
        "topFunctionsByOwnTime": [
            {
                "function": f"{name} ({Path(path).name}:{line})",
                "percent": round(100 * v[2] / total, 2) if total else 0.0,
                "calls": v[1],
            }
            for (path, line, name), v in functions
        ],
    }


def summarize(directory: Path) -> dict[str, Any]:
    """Every ``<process>.prof`` in ``directory``, broken down (see :func:`breakdown`); one
    that profiled nothing (it never had the signal) as nothing."""
    out: dict[str, Any] = {}
    for prof in sorted(directory.glob("*.prof")):
        try:
            stats = pstats.Stats(str(prof))
        except TypeError:  # pstats refuses an empty profile
            out[prof.stem] = {
                "profiledCpuSeconds": 0.0,
                "percentByCategory": {},
                "topFunctionsByOwnTime": [],
            }
            continue
        out[prof.stem] = breakdown(stats)
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--out", required=True, type=Path, help="where the stats go at exit")
    p.add_argument(
        "--from-signal",
        action="store_true",
        help="profile from the first SIGUSR1 on, not from the start",
    )
    p.add_argument("module", nargs=argparse.REMAINDER, help="-- -m <module> [its arguments]")
    a = p.parse_args(argv)
    rest = a.module[1:] if a.module[:1] == ["--"] else a.module
    if len(rest) < 2 or rest[0] != "-m":
        p.error("give the service as -- -m <module> [arguments]")
    module, args = rest[1], rest[2:]
    profiler = cProfile.Profile(time.process_time)

    def dump() -> None:
        profiler.disable()
        a.out.parent.mkdir(parents=True, exist_ok=True)
        profiler.dump_stats(str(a.out))

    atexit.register(dump)
    # a normal exit on SIGTERM, so that the stats are written: uvicorn restores this handler
    # and raises the signal again once it has shut down
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.argv = [module, *args]
    if a.from_signal:
        # from the load's start: the imports and the start-up are not the steady state
        signal.signal(signal.SIGUSR1, lambda *_: profiler.enable())
    else:
        profiler.enable()
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
