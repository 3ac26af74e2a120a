"""Where services/devstack/kube.sh keeps the control plane's binaries, and running them."""

from __future__ import annotations

import functools
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
KUBE_SH = ROOT / "services" / "devstack" / "kube.sh"
CHART = ROOT / "charts" / "wavecom-notify"
# the Kubernetes version the chart is rendered and validated for (the control plane's)
KUBE_VERSION = "1.37.2"


@dataclass(frozen=True)
class KubePaths:
    bin: Path
    share: Path
    kubeconfig: Path
    monitoring_crds: Path
    missing: tuple[str, ...]

    def tool(self, name: str) -> Path:
        return self.bin / name


@functools.cache
def paths() -> KubePaths:
    """The cache directories of this checkout's kube.sh (keyed by versions), and what is missing."""
    out = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        ["/bin/bash", str(KUBE_SH), "paths"], check=True, capture_output=True, text=True, timeout=60
    ).stdout
    kv = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return KubePaths(
        bin=Path(kv["BIN"]),
        share=Path(kv["SHARE"]),
        kubeconfig=Path(kv["KUBECONFIG"]),
        monitoring_crds=Path(kv["MONITORING_CRDS"]),
        missing=tuple(m for m in kv["MISSING"].split(",") if m),
    )


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
    """Run the cached helm; its own config and cache stay under .state/kube/helm."""
    p = require("helm")
    home = ROOT / ".state" / "kube" / "helm"
    full_env = {
        **os.environ,
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_DATA_HOME": str(home / "data"),
        **(env or {}),
    }
    return subprocess.run(  # noqa: S603 - the helm this checkout built
        [str(p.tool("helm")), *args],
        check=check,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )


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
