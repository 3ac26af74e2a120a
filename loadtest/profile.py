"""Where a process's CPU goes during a load step: py-spy samples, folded into categories.

``python -m loadtest.steps --profile-rate 100`` samples every Python process of ours (the API,
each worker) with py-spy (``record --format raw --nonblocking``: the process is never paused)
over the load window of the step at that rate. A sample is a stack of a thread that is running
or waiting for a CPU, so the samples of a process are its CPU time, in proportion, only while
the machine has CPU to spare: on a saturated one they lean towards the calls that wake another
process (socket writes) and the loop's own frame (loadtest/README.md). Each sample goes to one
category: the first frame from the leaf up that belongs to a library below (so time in
``orjson`` called by our code is orjson's) or, failing that, to the ``wavecom`` module nearest
the leaf. Multiplied by the process's ms of CPU per accepted notification (from ``/proc``,
loadtest.monitor), a category's share says how many of those ms it takes.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# (category, pattern on a frame's file path); the first match from the leaf up wins
LIBRARIES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("telemetry (opentelemetry)", r"(^|/)opentelemetry/"),
        ("metrics (prometheus_client)", r"(^|/)prometheus_client/"),
        ("validation (pydantic)", r"(^|/)pydantic(_core)?/"),
        ("HTTP server (uvicorn, h11, httptools)", r"(^|/)(uvicorn|h11|httptools)/"),
        ("web framework (fastapi, starlette)", r"(^|/)(fastapi|starlette|anyio)/"),
        ("database driver (pymongo, bson)", r"(^|/)(pymongo|bson|dns)/"),
        ("broker driver (aio-pika, aiormq, pamqp)", r"(^|/)(aio_pika|aiormq|pamqp)/"),
        ("JSON (orjson, json)", r"(^|/)(orjson|json)/"),
        ("logging", r"(^|/)logging/"),
        ("event loop (asyncio, uvloop)", r"(^|/)(asyncio|uvloop)/"),
    )
)
OTHER = "other (stdlib, native)"  # a frame of no library below and not ours
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
WAVECOM = re.compile(r"(^|/)(?P<module>wavecom/[\w/]+)\.py$")


def py_spy() -> Path | None:
    """The py-spy of this virtualenv (requirements-dev), or on PATH."""
    here = Path(sys.executable).with_name("py-spy")
    if here.exists():
        return here
    found = shutil.which("py-spy")
    return Path(found) if found else None


def category(stack: list[str]) -> str:
    """The category of one sample, its frames from the root to the leaf."""
    for frame in reversed(stack):
        m = FRAME.match(frame)
        path = m.group("file") if m else frame
        for name, pattern in LIBRARIES:
            if pattern.search(path):
                return name
        if w := WAVECOM.search(path):
            return w.group("module").replace("/", ".")
    return OTHER


def leaf(stack: list[str]) -> str:
    frame = stack[-1] if stack else "?"
    m = FRAME.match(frame)
    if not m:
        return frame
    return f"{m.group('func')} ({Path(m.group('file')).name})"


@dataclass
class Samples:
    """One process's folded stacks."""

    total: int = 0
    by_category: Counter[str] = field(default_factory=Counter)
    by_leaf: Counter[str] = field(default_factory=Counter)

    @classmethod
    def read(cls, path: Path) -> Samples:
        s = cls()
        for line in path.read_text(errors="replace").splitlines():
            stack_text, _, count_text = line.rpartition(" ")
            if not stack_text or not count_text.isdigit():
                continue
            n = int(count_text)
            # the first frame py-spy writes is the thread ("process 123:\"python\"" / thread id)
            stack = [f for f in stack_text.split(";") if not f.startswith(("process ", "thread "))]
            s.total += n
            s.by_category[category(stack)] += n
            s.by_leaf[leaf(stack)] += n
        return s

    def breakdown(self, ms_each: float | None, top: int = 12) -> dict[str, Any]:
        """Shares of the samples, and ms per accepted notification when ``ms_each`` is known."""

        def row(n: int) -> dict[str, float | None]:
            share = n / self.total if self.total else 0.0
            return {
                "percent": round(100 * share, 1),
                "msEach": round(share * ms_each, 3) if ms_each is not None else None,
            }

        return {
            "samples": self.total,
            "msEachOfProcess": ms_each,
            "categories": {c: row(n) for c, n in self.by_category.most_common()},
            "topLeaves": {f: row(n) for f, n in self.by_leaf.most_common(top)},
        }


@dataclass
class Profiler:
    """py-spy on each pid of each group for ``seconds``; :meth:`finish` folds the samples."""

    groups: dict[str, list[int]]
    seconds: float
    out_dir: Path
    rate_hz: int = 100
    procs: list[tuple[str, Path, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self) -> None:
        spy = py_spy()
        if spy is None:
            raise RuntimeError("py-spy is not installed (make venv installs requirements-dev)")
        self.out_dir.mkdir(parents=True, exist_ok=True)
        for group, pids in self.groups.items():
            for pid in pids:
                out = self.out_dir / f"{group}-{pid}.txt"
                cmd = [
                    str(spy), "record", "--pid", str(pid), "--format", "raw", "--nonblocking",
                    "--rate", str(self.rate_hz), "--duration", str(max(1, round(self.seconds))),
                    "--output", str(out),
                ]  # fmt: skip
                self.procs.append(
                    (
                        group,
                        out,
                        subprocess.Popen(  # noqa: S603
                            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
                        ),
                    )
                )

    def finish(self) -> dict[str, Samples]:
        """Wait for every recorder; the samples per group (a group's pids added up)."""
        out: dict[str, Samples] = {}
        for group, path, proc in self.procs:
            _, err = proc.communicate(timeout=self.seconds + 60)
            if proc.returncode != 0 or not path.exists():
                print(f"[profile] py-spy on {path.stem} failed: {err.decode()[-300:]}", flush=True)
                continue
            s = Samples.read(path)
            acc = out.setdefault(group, Samples())
            acc.total += s.total
            acc.by_category.update(s.by_category)
            acc.by_leaf.update(s.by_leaf)
        return out
