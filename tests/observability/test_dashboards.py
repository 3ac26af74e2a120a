"""The committed dashboards are what services/generators/dashboards.py makes, and each one is
well formed: the current schema, the data source as a variable, a unit and a description on
every panel, and every query valid PromQL (parsed by promtool, offline)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from generators.dashboards import DASHBOARDS, OUT, SCHEMA_VERSION, render, stale
from tests.support.grafana import committed, grafana_expand, queries

PROMTOOL = shutil.which("promtool")


def test_the_committed_dashboards_are_the_generated_ones() -> None:
    assert stale() == [], "run `make dashboards`"
    for dashboard in DASHBOARDS:
        assert (OUT / dashboard.file).read_text() == render(dashboard)


def test_every_dashboard_uses_the_current_schema_and_a_datasource_variable() -> None:
    dashboards = committed()
    assert set(dashboards) == {"overview.json", "channels.json", "queues.json", "slo.json"}
    uids = [d["uid"] for d in dashboards.values()]
    assert len(set(uids)) == len(uids)
    for name, d in dashboards.items():
        assert d["schemaVersion"] >= SCHEMA_VERSION >= 39, name
        assert d["id"] is None, name  # Grafana assigns it on import
        variables = {v["name"]: v for v in d["templating"]["list"]}
        assert variables["datasource"]["type"] == "datasource", name
        assert variables["datasource"]["query"] == "prometheus", name
        assert d["description"], name


def test_every_panel_has_a_unit_a_description_and_the_datasource_variable() -> None:
    for d in committed().values():
        ids = [p["id"] for p in d["panels"]]
        assert len(set(ids)) == len(ids), d["title"]
        for p in d["panels"]:
            where = f"{d['title']} / {p['title']}"
            assert p["type"] in {"timeseries", "stat"}, where
            assert p["description"].strip(), where
            assert p["fieldConfig"]["defaults"]["unit"], where
            assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, where
            grid = p["gridPos"]
            assert grid["x"] >= 0, where
            assert grid["x"] + grid["w"] <= 24, where
            assert grid["h"] > 0, where
            assert p["targets"], where
            refs = [t["refId"] for t in p["targets"]]
            assert len(set(refs)) == len(refs), where
            for t in p["targets"]:
                assert t["datasource"] == p["datasource"], where
                assert t["expr"].strip(), where


@pytest.mark.skipif(PROMTOOL is None, reason="promtool is installed by `make test`")
def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    """Each query (Grafana's variables substituted) as a recording rule: promtool parses
    every expression offline and names the ones it refuses."""
    rules = [
        {"record": f"dashboard_query_{i}", "expr": grafana_expand(expr)}
        for i, (_, _, expr) in enumerate(queries())
    ]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    assert PROMTOOL is not None
    done = subprocess.run(  # noqa: S603 - Debian's promtool, our own file
        [PROMTOOL, "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
