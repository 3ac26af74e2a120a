"""services/devstack/kube.sh: the cache is keyed by every version, and a built cache builds
nothing again."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.charts.kube import KUBE_SH, paths
from tests.support.system import ROOT


def test_the_cache_lives_outside_the_repository_keyed_by_versions() -> None:
    p = paths()
    assert p.bin.parent.name.startswith("kube-v1.37.2-")
    # ${XDG_CACHE_HOME:-~/.cache}/wavecom-notify, never inside the checkout
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "wavecom-notify"
    assert p.bin.parent.parent == cache
    assert ROOT not in p.bin.parents
    script = KUBE_SH.read_text()
    for pin in (
        "K8S_VERSION=v1.37.2",
        "ETCD_VERSION=v3.6.16",
        "HELM_VERSION=v3.22.0",
        "KWOK_VERSION=v0.8.0",
        "KEDA_VERSION=v2.21.0",
    ):
        assert pin in script
    # every build runs at the lowest priority and with the fast flags
    assert 'nice -n "$NICE" go build -trimpath -ldflags "-s -w' in script
    assert "NICE=${KUBE_BUILD_NICE:-19}" in script


def test_a_second_build_builds_nothing() -> None:
    if paths().missing:
        pytest.skip(f"not built yet: {', '.join(paths().missing)} (make kube)")
    start = time.monotonic()
    res = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        ["/bin/bash", str(KUBE_SH), "build"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "building" not in res.stderr
    assert time.monotonic() - start < 10
