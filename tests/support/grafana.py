"""The dashboards' queries and Grafana's variable expansion."""

from __future__ import annotations

import json
import re
from typing import Any

from generators.dashboards import OUT

# what Grafana puts in place of its variables before it sends a query (test_live.py too)
GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "10m",
    "$vhost": ".*",
}


def grafana_expand(expr: str, values: dict[str, str] = GRAFANA_VARIABLES) -> str:
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace(name, values[name])
    leftover = re.findall(r"\$\{?\w+", expr)
    assert not leftover, f"unknown variables {leftover} in {expr}"
    return expr


def committed() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(OUT.glob("*.json"))}


def queries() -> list[tuple[str, str, str]]:
    """(dashboard title, panel title, expression) of every query of every dashboard."""
    return [
        (d["title"], p["title"], t["expr"])
        for d in committed().values()
        for p in d["panels"]
        for t in p["targets"]
    ]
