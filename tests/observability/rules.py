"""The alert rules of ``dashboards/prometheus/rules/`` as data, and the variants tests need."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
RULES_DIR = ROOT / "dashboards" / "prometheus" / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def alerts() -> dict[str, dict[str, Any]]:
    """Every alerting rule of every rule file, by name."""
    found: dict[str, dict[str, Any]] = {}
    for path in RULE_FILES:
        for group in load(path)["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    assert rule["alert"] not in found, f"{rule['alert']} is defined twice"
                    found[rule["alert"]] = rule
    return found


def rule_records() -> list[dict[str, Any]]:
    """Every recording rule of every rule file."""
    return [
        rule
        for path in RULE_FILES
        for group in load(path)["groups"]
        for rule in group["rules"]
        if "record" in rule
    ]


def write_variant(
    path: Path, out: Path, *, for_: dict[str, str] | None = None, annotations: bool = True
) -> Path:
    """A copy of the rule file ``path`` at ``out`` for a test, labelled as such: the ``for``
    of the alerts named in ``for_`` replaced, and without annotations if ``annotations`` is
    False. Expressions, labels and every other rule are the committed ones."""
    data = copy.deepcopy(load(path))
    for group in data["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            if for_ and rule["alert"] in for_:
                rule["for"] = for_[rule["alert"]]
            if not annotations:
                rule.pop("annotations", None)
    header = (
        f"# TEST ONLY: generated from {path.relative_to(ROOT)} by tests/observability/rules.py"
        f" (for overridden: {for_ or {}}; annotations kept: {annotations}). Never deploy it.\n"
    )
    out.write_text(header + yaml.safe_dump(data, sort_keys=False, width=200))
    return out
