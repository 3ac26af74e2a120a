"""Generate what is derived from the chart and kept in the repository (`make charts`):

- charts/wavecom-notify/README.md, its values table made from values.yaml's `# --` comments;
- charts/wavecom-notify/values.schema.json's `description` fields, from the same comments (the
  schema's types and rules are written by hand; its descriptions are not: values.yaml is their
  one source, so the README and the schema cannot say different things);
- charts/wavecom-notify/dashboards/, copies of dashboards/grafana/*.json (the source of truth);
- charts/wavecom-notify/rules/, copies of dashboards/prometheus/rules/*.yml (the alert rules the
  PrometheusRule ships);
- keda/scaledobjects.yaml, the chart's ScaledObjects and TriggerAuthentication for users who
  deploy without Helm, rendered with keda/values.yaml;
- charts/wavecom-notify/crds/notificationproviders.yaml, the operator's CRD
  (``python -m wavecom.operator crd``, from services/wavecom/operator/crd.py).

`python -m generators.charts --check` (PYTHONPATH=services, as `make charts` sets it) changes
nothing and exits 1 when any is stale; tests/charts/test_values_docs.py does the same comparison.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from generators.kube import CHART, KUBE_VERSION, ROOT, helm
from wavecom.operator import crd

README = CHART / "README.md"
README_HEAD = CHART / "README.head.md"
VALUES = CHART / "values.yaml"
SCHEMA = CHART / "values.schema.json"
DASHBOARDS_SRC = ROOT / "dashboards" / "grafana"
DASHBOARDS_DST = CHART / "dashboards"
RULES_SRC = ROOT / "dashboards" / "prometheus" / "rules"
RULES_DST = CHART / "rules"
KEDA_DIR = ROOT / "keda"
KEDA_VALUES = KEDA_DIR / "values.yaml"
KEDA_OUT = KEDA_DIR / "scaledobjects.yaml"
CRD_OUT = CHART / "crds" / "notificationproviders.yaml"

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_]+):(?P<rest>.*)$")
_DOC = re.compile(r"^ *# -- ?(?P<text>.*)$")
_MORE = re.compile(r"^ *# ?(?P<text>.*)$")


@dataclass(frozen=True)
class ValueDoc:
    key: str  # dotted path
    description: str
    default: Any


def value_docs(path: Path = VALUES) -> tuple[list[ValueDoc], list[str]]:
    """The documented keys of a values file, and the keys with neither a `# --` comment nor
    documented children (which a test rejects). A documented key documents its whole subtree."""
    values = yaml.safe_load(path.read_text())
    docs: list[ValueDoc] = []
    stack: list[tuple[int, str]] = []  # (indent, key) of the enclosing keys
    pending: list[str] | None = None
    documented_above: int | None = None  # indent of a documented key whose subtree we are in
    seen: dict[str, bool] = {}  # key path -> documented (itself or by a child)
    for line in path.read_text().splitlines():
        if m := _DOC.match(line):
            pending = [m["text"]]
            continue
        if pending is not None and (m := _MORE.match(line)) and line.strip().startswith("#"):
            pending.append(m["text"])
            continue
        m = _KEY.match(line)
        if not m or line.lstrip().startswith("-"):
            if not line.strip() or line.strip().startswith("#"):
                pending = None if not line.strip() else pending
            continue
        indent = len(m["indent"])
        if documented_above is not None:
            if indent > documented_above:
                continue
            documented_above = None
        while stack and stack[-1][0] >= indent:
            stack.pop()
        dotted = ".".join([k for _, k in stack] + [m["key"]])
        if pending is not None:
            docs.append(ValueDoc(dotted, " ".join(pending).strip(), _lookup(values, dotted)))
            for i in range(1, len(stack) + 2):
                seen[".".join(dotted.split(".")[:i])] = True
            documented_above = indent
        else:
            seen.setdefault(dotted, False)
        pending = None
        stack.append((indent, m["key"]))
    undocumented = [k for k, ok in seen.items() if not ok]
    return docs, undocumented


def _lookup(values: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        values = values[part]
    return values


def _type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "list"
    return "object"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def readme_text() -> str:
    """The chart's README: the hand-written README.head.md, then every value in a table."""
    docs, _ = value_docs()
    rows = [
        "| Key | Type | Default | Description |",
        "| --- | --- | --- | --- |",
    ]
    for d in docs:
        default = json.dumps(d.default, separators=(",", ":"), ensure_ascii=False)
        rows.append(
            f"| `{d.key}` | {_type(d.default)} | `{_cell(default)}` | {_cell(d.description)} |"
        )
    head = README_HEAD.read_text().rstrip("\n")
    return (
        f"{head}\n\n## Values\n\n<!-- generated from values.yaml by `make charts`: "
        "edit values.yaml or README.head.md, not this table -->\n\n" + "\n".join(rows) + "\n"
    )


class SchemaDrift(Exception):
    """Raised when values.yaml's comments cannot be written into the schema: a documented key the
    schema does not have, or keys sharing one `$defs` entry with different comments."""


Schema = dict[str, Any]


def _descriptions_removed(node: Any) -> None:
    """Drop every `description` of a schema (keywords only, never a property named so)."""
    if not isinstance(node, dict):
        return
    node.pop("description", None)
    for key in ("properties", "$defs", "patternProperties"):
        for sub in node.get(key, {}).values():
            _descriptions_removed(sub)
    for key in ("items", "additionalProperties", "not", "if", "then", "else"):
        _descriptions_removed(node.get(key))
    for key in ("allOf", "anyOf", "oneOf", "prefixItems"):
        for sub in node.get(key, []):
            _descriptions_removed(sub)


def schema_node(schema: Schema, dotted: str) -> tuple[Schema, str]:
    """The schema node of a values key and where it lives (its JSON pointer): through a `$ref`
    into `$defs` for the keys inside a shared definition, the `$ref` node itself for the key
    that is the reference (a description beside `$ref` is JSON Schema 2020-12)."""
    node, where = schema, ""
    for part in dotted.split("."):
        while "$ref" in node:
            where = node["$ref"].removeprefix("#")
            node = schema["$defs"][where.removeprefix("/$defs/")]
        props = node.get("properties", {})
        if part not in props:
            raise SchemaDrift(f"{dotted}: documented in values.yaml, not in values.schema.json")
        node, where = props[part], f"{where}/properties/{part}"
    return node, where


def schema_with_descriptions(schema: Schema, docs: list[ValueDoc]) -> Schema:
    """The schema with each documented key's `# --` comment as its `description`, and no other."""
    out: Schema = json.loads(json.dumps(schema))
    _descriptions_removed(out)
    said: dict[str, tuple[str, str]] = {}  # JSON pointer -> (key, description)
    for d in docs:
        node, where = schema_node(out, d.key)
        if where in said:
            if said[where][1] != d.description:
                raise SchemaDrift(
                    f"{said[where][0]} and {d.key} share {where} in values.schema.json: their "
                    "`# --` comments in values.yaml must be the same"
                )
            continue
        said[where] = (d.key, d.description)
        # after `type` (or `$ref`) where the hand-written schema has it, for a readable file
        items = list(node.items())
        at = next((i + 1 for i, (k, _) in enumerate(items) if k in ("type", "$ref")), 0)
        items.insert(at, ("description", d.description))
        node.clear()
        node.update(items)
    return out


def schema_text() -> str:
    """values.schema.json with its descriptions taken from values.yaml."""
    docs, _ = value_docs()
    schema = schema_with_descriptions(json.loads(SCHEMA.read_text()), docs)
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def dashboards() -> dict[str, str]:
    """The chart's copy of each Grafana dashboard: file name -> content."""
    return {p.name: p.read_text() for p in sorted(DASHBOARDS_SRC.glob("*.json"))}


def rules() -> dict[str, str]:
    """The chart's copy of each Prometheus rule file: file name -> content."""
    return {p.name: p.read_text() for p in sorted(RULES_SRC.glob("*.yml"))}


def keda_text() -> str:
    """The ScaledObjects and TriggerAuthentication as a plain manifest (keda/values.yaml)."""
    res = helm(
        "template",
        "wavecom-notify",
        str(CHART),
        "--namespace",
        "wavecom",
        "--kube-version",
        KUBE_VERSION,
        "--values",
        str(KEDA_VALUES),
        "--show-only",
        "templates/workers/keda.yaml",
    )
    body = res.stdout.replace("\n# Source: wavecom-notify/templates/workers/keda.yaml", "")
    body = body.removeprefix("# Source: wavecom-notify/templates/workers/keda.yaml\n")
    header = (
        "# Generated by `make charts` from charts/wavecom-notify/templates/workers/keda.yaml\n"
        "# with keda/values.yaml (release wavecom-notify, namespace wavecom): do not edit, a test\n"
        "# keeps it equal to the chart. Apply it beside the Deployments it scales:\n"
        "#   kubectl -n wavecom apply -f keda/scaledobjects.yaml\n"
    )
    return header + body.lstrip("-\n").rstrip() + "\n"


def stale() -> list[str]:
    """What differs from what would be generated."""
    out = []
    if not README.exists() or README.read_text() != readme_text():
        out.append(str(README.relative_to(ROOT)))
    if SCHEMA.read_text() != schema_text():
        out.append(str(SCHEMA.relative_to(ROOT)))
    want = dashboards()
    have = {p.name: p.read_text() for p in sorted(DASHBOARDS_DST.glob("*.json"))}
    if want != have:
        out.append(str(DASHBOARDS_DST.relative_to(ROOT)) + "/")
    if rules() != {p.name: p.read_text() for p in sorted(RULES_DST.glob("*.yml"))}:
        out.append(str(RULES_DST.relative_to(ROOT)) + "/")
    if not KEDA_OUT.exists() or KEDA_OUT.read_text() != keda_text():
        out.append(str(KEDA_OUT.relative_to(ROOT)))
    if not CRD_OUT.exists() or CRD_OUT.read_text() != crd.as_yaml():
        out.append(str(CRD_OUT.relative_to(ROOT)))
    return out


def write() -> None:
    README.write_text(readme_text())
    SCHEMA.write_text(schema_text())
    DASHBOARDS_DST.mkdir(exist_ok=True)
    want = dashboards()
    for p in DASHBOARDS_DST.glob("*.json"):
        if p.name not in want:
            p.unlink()
    for name, text in want.items():
        (DASHBOARDS_DST / name).write_text(text)
    RULES_DST.mkdir(exist_ok=True)
    for p in RULES_DST.glob("*.yml"):
        if p.name not in rules():
            p.unlink()
    for name, text in rules().items():
        (RULES_DST / name).write_text(text)
    KEDA_OUT.write_text(keda_text())
    CRD_OUT.parent.mkdir(exist_ok=True)
    CRD_OUT.write_text(crd.as_yaml())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report what is stale")
    args = parser.parse_args(argv)
    if args.check:
        out = stale()
        for path in out:
            print(f"stale: {path} (run make charts)")
        return 1 if out else 0
    write()
    return 0


if __name__ == "__main__":
    sys.exit(main())
