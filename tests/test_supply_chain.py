"""The supply chain as committed: base images by digest, hash-pinned locks that name no index,
an SBOM that is current with the locks, and an audit report of the current pins."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path

import pytest

from tests.support.supply_chain import (
    AUDIT,
    DEV,
    NOT_APPLICABLE,
    NPM_LOCK,
    PYPROJECT,
    ROOT,
    RUNTIME,
    SBOM,
    base_images,
    pins,
    render_sbom,
)

LOCKS = [RUNTIME, DEV, NPM_LOCK, ROOT / "loadtest" / "peer" / "package-lock.json"]
# a registry's or an index's address in a committed lock would pin where packages come from
_INDEX = re.compile(r"(--(extra-)?index-url|--find-links|https?://)", re.I)


def test_base_images_are_pinned_by_digest_beside_their_tags() -> None:
    images = base_images()
    assert set(images) == {"PYTHON_IMAGE", "NODE_IMAGE"}
    for arg, ref in images.items():
        assert re.fullmatch(r"[a-z0-9./-]+:[\w.-]+@sha256:[0-9a-f]{64}", ref), f"{arg}={ref}"


@pytest.mark.parametrize("lock", [RUNTIME, DEV], ids=lambda p: p.name)
def test_every_python_pin_carries_hashes_and_no_index(lock: Path) -> None:
    pinned = pins(lock)
    assert len(pinned) > 50
    for name, (_, hashes) in pinned.items():
        assert hashes, f"{lock.name}: {name} has no --hash (pip --require-hashes refuses it)"
    text = lock.read_text()
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert not _INDEX.search(line), f"{lock.name}: {line}"
    # every dependency of the project is pinned (the runtime lock: what the image installs)
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    wanted = list(project["dependencies"]) + project["optional-dependencies"]["operator"]
    if lock == DEV:
        wanted += project["optional-dependencies"]["dev"]
    for requirement in wanted:
        name = re.split(r"[\[<>=!~ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pinned, f"{name} is a dependency but not pinned in {lock.name}"


@pytest.mark.parametrize("lock", LOCKS[2:], ids=["frontend", "peer"])
def test_npm_locks_carry_integrity_and_name_no_registry(lock: Path) -> None:
    packages = json.loads(lock.read_text())["packages"]
    for path, package in packages.items():
        if path.startswith("node_modules/") and not package.get("link"):
            assert package.get("integrity", "").startswith("sha512-"), path
            assert "resolved" not in package, f"{path}: a resolved URL names the registry"


def test_the_committed_sbom_is_current_with_the_locks() -> None:
    """`make sbom` after every change of a lock or a base image (the SBOM is a pure function
    of them)."""
    assert SBOM.read_text() == render_sbom(), "docs/supply-chain/sbom.cdx.json is stale: make sbom"
    bom = json.loads(SBOM.read_text())
    assert (bom["bomFormat"], bom["specVersion"]) == ("CycloneDX", "1.5")
    refs = {c["bom-ref"] for c in bom["components"]}
    for name, (version, _) in pins(RUNTIME).items():
        assert f"pkg:pypi/{name}@{version}" in refs
    assert (
        "pkg:npm/next@"
        + json.loads(NPM_LOCK.read_text())["packages"]["node_modules/next"]["version"]
        in refs
    )
    assert set(base_images().values()) <= refs


def test_the_audit_report_is_of_the_current_pins_and_explains_every_finding() -> None:
    """`make audit` after every change of a Python lock; a finding is either fixed (the pin
    bumped past it) or in NOT_APPLICABLE with the reason."""
    report = json.loads(AUDIT.read_text())
    for lock in (RUNTIME, DEV):
        part = report[str(lock.relative_to(ROOT))]
        digest = hashlib.sha256(lock.read_bytes()).hexdigest()
        assert part["sha256"] == digest, f"{lock.name} changed since the audit: make audit"
        assert {r["name"]: r["version"] for r in part["dependencies"]} == {
            name: version for name, (version, _) in pins(lock).items()
        }
        for row in part["dependencies"]:
            for v in row.get("vulnerabilities", []):
                why = NOT_APPLICABLE.get(v["id"])
                assert why, (
                    f"{row['name']} {row['version']}: {v['id']} is neither fixed nor explained"
                )
                assert v["notApplicable"] == why
