"""services/devstack/image.sh's cache key: `make image` builds again exactly when an input of the
build changed (the Dockerfile, the pins, the lock file, a source) and not for what the build
context leaves out (node_modules, bytecode, the dashboard's own build output)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.system import ROOT

INPUTS = [
    "services/devstack/image.sh",
    "services/Dockerfile",
    "services/entrypoint.sh",
    "services/requirements.txt",
    "services/pyproject.toml",
    ".dockerignore",
]


@pytest.fixture
def ref(tmp_path: Path) -> Callable[..., str]:
    """``ref(**env)``: image.sh's reference for a copy of the build's inputs in tmp_path."""
    for rel in INPUTS:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, tmp_path / rel)
    ignore = shutil.ignore_patterns("node_modules", ".next", "out", "__pycache__")
    shutil.copytree(ROOT / "services" / "wavecom", tmp_path / "services" / "wavecom", ignore=ignore)
    shutil.copytree(ROOT / "frontend", tmp_path / "frontend", ignore=ignore)

    def run(**env: str) -> str:
        out = subprocess.run(  # noqa: S603 - our own script, fixed arguments
            [str(tmp_path / "services" / "devstack" / "image.sh"), "ref"],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **env},
        )
        return out.stdout.strip()

    return run


def test_the_key_is_stable_and_names_the_bases_and_dev(ref: Callable[..., str]) -> None:
    first = ref()
    assert first.startswith("localhost/wavecom-notify:")
    assert ref() == first
    assert ref(IMAGE_BASES="registry") != first
    assert ref(IMAGE_DEV="1") != first


def test_each_changed_input_changes_the_key(ref: Callable[..., str], tmp_path: Path) -> None:
    seen = {ref()}
    for path in [
        "services/Dockerfile",
        "services/requirements.txt",
        "services/entrypoint.sh",
        "frontend/package-lock.json",
        "services/wavecom/worker/consumer.py",
        "frontend/src/new.ts",
    ]:
        with (tmp_path / path).open("a") as f:
            f.write("\n")
        key = ref()
        assert key not in seen, f"{path} changed, the key did not"
        seen.add(key)


def test_what_the_build_leaves_out_keeps_the_key(ref: Callable[..., str], tmp_path: Path) -> None:
    before = ref()
    for path in [
        "frontend/node_modules/x/index.js",
        "frontend/out/index.html",
        "frontend/.next/cache",
        "services/wavecom/__pycache__/worker.cpython-311.pyc",
        "frontend/tsconfig.tsbuildinfo",
        "tests/test_new.py",
    ]:
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("x")
        assert ref() == before, f"{path} is outside the build, yet the key changed"
