"""Where services/devstack/kube.sh keeps the helm it built (and the control plane), and running
that helm. The chart generator renders with it; tests/charts/kube.py adds the tests' skip."""

from __future__ import annotations

import functools
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

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


class NotBuilt(RuntimeError):
    """Raised when a binary kube.sh builds (`make kube`) is not in its cache yet."""


def helm(
    *args: str, check: bool = True, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the cached helm; its own config and cache stay under .state/kube/helm."""
    p = paths()
    if "helm" in p.missing:
        raise NotBuilt(f"helm is not built yet: `make kube` builds it into {p.bin.parent}")
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
