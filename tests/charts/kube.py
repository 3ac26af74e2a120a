"""The control plane services/devstack/kube.sh builds, for the tests: its paths and helm (from
services/generators/kube.py, which the chart generator uses too), skipping a test while a binary
is not built yet; reading manifests and CRD schemas."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from generators import kube
from generators.kube import CHART, KUBE_SH, KUBE_VERSION, ROOT, KubePaths, paths

__all__ = [
    "CHART",
    "KUBE_SH",
    "KUBE_VERSION",
    "ROOT",
    "KubePaths",
    "crd_schemas",
    "dump",
    "helm",
    "load_all",
    "paths",
    "require",
    "strict",
]


def require(*names: str) -> KubePaths:
    """The paths, or skip the test when one of the named binaries has not been built yet."""
    p = paths()
    missing = [n for n in names if n in p.missing]
    if missing:
        pytest.skip(
            f"not built yet: {', '.join(missing)} (make kube builds them once into "
            f"{p.bin.parent}, about an hour on 2 cores)"
        )
    return p


def helm(
    *args: str, check: bool = True, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the cached helm (skipping the test while it is not built)."""
    require("helm")
    return kube.helm(*args, check=check, env=env, timeout=timeout)


def load_all(text: str) -> list[dict[str, Any]]:
    """Every non-empty YAML document of a multi-document stream."""
    return [d for d in yaml.safe_load_all(text) if d]


def crd_schemas(*files: Path) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(group, version, kind) -> the served version's openAPIV3Schema, from CRD manifests."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for f in files:
        for crd in load_all(f.read_text()):
            if crd.get("kind") != "CustomResourceDefinition":
                continue
            spec = crd["spec"]
            for v in spec["versions"]:
                if v.get("served", True):
                    schema = v["schema"]["openAPIV3Schema"]
                    out[(spec["group"], v["name"], spec["names"]["kind"])] = schema
    return out


def strict(schema: Any) -> Any:
    """A CRD schema as the apiserver's strict field validation applies it: objects with
    `properties` reject fields they do not list (unless they preserve unknown fields)."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, sort_keys=True)
