"""Small statistics helpers (percentiles, trends, rolling windows) without numpy."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, linearly interpolated."""
    if not sorted_values:
        return math.nan
    if len(sorted_values) == 1:
        return float(sorted_values[0])
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    frac = pos - lo
    return float(sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac)


def summary_ms(values_s: Sequence[float]) -> dict[str, float | int]:
    """count, mean, p50, p95, p99 and max of durations given in seconds, reported in ms."""
    values = sorted(values_s)
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "mean": round(1000 * sum(values) / len(values), 1),
        "p50": round(1000 * percentile(values, 50), 1),
        "p95": round(1000 * percentile(values, 95), 1),
        "p99": round(1000 * percentile(values, 99), 1),
        "max": round(1000 * values[-1], 1),
    }


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of ys over xs (0 when it is undefined)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


def rolling_mean(values: Sequence[float], window: int) -> list[float]:
    """Trailing mean over up to ``window`` values (shorter at the start)."""
    out: list[float] = []
    acc = 0.0
    for i, v in enumerate(values):
        acc += v
        if i >= window:
            acc -= values[i - window]
        out.append(acc / min(i + 1, window))
    return out


def longest_run(flags: Sequence[bool]) -> tuple[int, int]:
    """Length and start index of the longest run of True values."""
    best, best_start, run, start = 0, 0, 0, 0
    for i, f in enumerate(flags):
        if f:
            if run == 0:
                start = i
            run += 1
            if run > best:
                best, best_start = run, start
        else:
            run = 0
    return best, best_start
