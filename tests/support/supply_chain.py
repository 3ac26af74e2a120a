"""The image's supply chain from its lock files: an SBOM and a vulnerability audit.

    python -m tests.support.supply_chain sbom    # make sbom:  docs/supply-chain/sbom.cdx.json
    python -m tests.support.supply_chain audit   # make audit: docs/supply-chain/audit.json

The SBOM (CycloneDX 1.5 JSON) lists what the image is built from: the base images (the
Dockerfile's PYTHON_IMAGE/NODE_IMAGE digests), every Python package of the runtime lock
(services/requirements.txt, with the SHA-256 of each distribution file pip may install) and
every package of the dashboard's npm lock (frontend/package-lock.json, with its SHA-512
integrity; build-only dev packages are scope ``excluded``: the image keeps only the static export).
It is a pure function of those files (no timestamp, a serial number derived from the content), so
``tests/test_supply_chain.py`` checks that the committed one is current.

The audit runs pip-audit over both Python locks (hash-checked, no resolution: ``--disable-pip``).
pip-audit asks the registry for the vulnerabilities of each pinned version; where that answer is
missing (the registry a machine reaches may serve only a project's latest release), the project's
own page is read instead, which reports the vulnerabilities of its latest release: exact when the
pin is that release, and said plainly otherwise. Known vulnerabilities are fixed by bumping the
pin, or listed in ``NOT_APPLICABLE`` with the reason.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
from pip._internal.models.index import PyPI

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "supply-chain"
SBOM = OUT / "sbom.cdx.json"
AUDIT = OUT / "audit.json"
RUNTIME = ROOT / "services" / "requirements.txt"
DEV = ROOT / "services" / "requirements-dev.txt"
NPM_LOCK = ROOT / "frontend" / "package-lock.json"
DOCKERFILE = ROOT / "services" / "Dockerfile"
PYPROJECT = ROOT / "services" / "pyproject.toml"

# vulnerability id -> why it does not apply to this product (none known as of the last audit)
NOT_APPLICABLE: dict[str, str] = {}

_PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)")
_HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


def pins(requirements: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, SHA-256 hashes) of a pip-compile --generate-hashes file."""
    out: dict[str, tuple[str, list[str]]] = {}
    name = ""
    for line in requirements.read_text().splitlines():
        if m := _PIN.match(line):
            name = m.group(1).lower()
            out[name] = (m.group(2), [])
        elif name and (h := _HASH.search(line)):
            out[name][1].append(h.group(1))
        elif not line.startswith(" "):
            name = ""
    return out


def base_images() -> dict[str, str]:
    """The Dockerfile's ``ARG <NAME>_IMAGE=`` defaults (tag@digest)."""
    return dict(re.findall(r"^ARG (\w+_IMAGE)=(\S+)$", DOCKERFILE.read_text(), re.M))


def _npm_purl(name: str, version: str) -> str:
    return f"pkg:npm/{name.replace('@', '%40')}@{version}"


def _image_component(arg: str, ref: str) -> dict[str, Any]:
    name, _, digest = ref.partition("@")
    repo, _, tag = name.partition(":")
    alg, _, content = digest.partition(":")
    return {
        "type": "container",
        "bom-ref": ref,
        "name": repo,
        "version": tag,
        "purl": f"pkg:docker/library/{repo}@{digest.replace(':', '%3A')}?tag={tag}",
        "hashes": [{"alg": "SHA-256", "content": content}] if alg == "sha256" else [],
        "properties": [{"name": "wavecom:dockerfile-arg", "value": arg}],
    }


def sbom() -> dict[str, Any]:
    """The CycloneDX document of the current lock files."""
    version = re.search(r'^version = "([^"]+)"', PYPROJECT.read_text(), re.M)
    assert version, "services/pyproject.toml has no version"
    components: list[dict[str, Any]] = [
        _image_component(arg, ref) for arg, ref in sorted(base_images().items())
    ]
    for name, (pinned, hashes) in sorted(pins(RUNTIME).items()):
        components.append(
            {
                "type": "library",
                "bom-ref": f"pkg:pypi/{name}@{pinned}",
                "name": name,
                "version": pinned,
                "scope": "required",
                "purl": f"pkg:pypi/{name}@{pinned}",
                # one per distribution file (wheels, sdist): pip installs one whose hash is here
                "hashes": [{"alg": "SHA-256", "content": h} for h in sorted(hashes)],
            }
        )
    lock = json.loads(NPM_LOCK.read_text())
    seen: set[str] = set()
    for path, package in sorted(lock["packages"].items()):
        if not path.startswith("node_modules/"):
            continue
        name = path.rsplit("node_modules/", 1)[1]
        ref = _npm_purl(name, package["version"])
        if ref in seen:  # the same version nested under several packages
            continue
        seen.add(ref)
        component: dict[str, Any] = {
            "type": "library",
            "bom-ref": ref,
            "name": name,
            "version": package["version"],
            "scope": "excluded" if package.get("dev") else "required",
            "purl": ref,
        }
        if integrity := package.get("integrity", ""):
            alg, _, digest = integrity.partition("-")
            if alg == "sha512":
                content = base64.b64decode(digest).hex()
                component["hashes"] = [{"alg": "SHA-512", "content": content}]
        if lic := package.get("license"):
            component["licenses"] = [{"expression": lic}]
        components.append(component)
    body = {
        "metadata": {
            "component": {
                "type": "container",
                "bom-ref": f"wavecom-notify@{version.group(1)}",
                "name": "wavecom-notify",
                "version": version.group(1),
                "description": "services/Dockerfile: the API, the workers, the operator and the "
                "dashboard's static export",
            },
            "tools": {
                "components": [{"type": "application", "name": "tests.support.supply_chain"}]
            },
            "properties": [
                {"name": "wavecom:lock", "value": str(p.relative_to(ROOT))}
                for p in (RUNTIME, NPM_LOCK, DOCKERFILE)
            ],
        },
        "components": components,
    }
    digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    return {
        "$schema": "http://cyclonedx.org/schema/bom-1.5.schema.json",
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": f"urn:uuid:{uuid.UUID(digest[:32])}",
        "version": 1,
        **body,
    }


def render_sbom() -> str:
    return json.dumps(sbom(), indent=2, ensure_ascii=False) + "\n"


def _pip_audit(requirements: Path) -> dict[str, Any]:
    done = subprocess.run(  # noqa: S603 - the venv's pip-audit with our own arguments
        [
            str(Path(sys.executable).parent / "pip-audit"),
            "--requirement",
            str(requirements),
            "--require-hashes",
            "--disable-pip",
            "--vulnerability-service",
            "pypi",
            "--format",
            "json",
            "--progress-spinner",
            "off",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode not in (0, 1):  # 1: vulnerabilities found
        raise SystemExit(f"pip-audit failed: {done.stderr.strip()}")
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _latest(http: httpx.Client, name: str) -> tuple[str, list[dict[str, Any]]]:
    """The project's latest release and that release's known vulnerabilities."""
    r = http.get(f"{PyPI.pypi_url}/{name}/json")
    r.raise_for_status()
    data = r.json()
    return str(data["info"]["version"]), list(data.get("vulnerabilities") or [])


def _vuln(v: dict[str, Any]) -> dict[str, Any]:
    vid = str(v["id"])
    return {
        "id": vid,
        "aliases": sorted(v.get("aliases") or []),
        "fixedIn": sorted(v.get("fix_versions") or v.get("fixed_in") or []),
        "notApplicable": NOT_APPLICABLE.get(vid),
    }


def audit() -> dict[str, Any]:
    """Each Python lock's pins, how each was audited, and what was found."""
    report: dict[str, Any] = {}
    with httpx.Client(timeout=30) as http:
        for requirements in (RUNTIME, DEV):
            pinned = pins(requirements)
            found = {d["name"].lower(): d for d in _pip_audit(requirements)["dependencies"]}
            rows = []
            for name, (version, _) in sorted(pinned.items()):
                d = found.get(name, {})
                row: dict[str, Any] = {"name": name, "version": version}
                if "skip_reason" not in d and name in found:
                    row["audited"] = "pip-audit"
                    row["vulnerabilities"] = [_vuln(v) for v in d.get("vulns", [])]
                else:
                    latest, vulns = _latest(http, name)
                    if latest == version:
                        row["audited"] = "latest release (project page)"
                        row["vulnerabilities"] = [_vuln(v) for v in vulns]
                    else:
                        row["audited"] = f"no: the latest release is {latest}"
                        row["latestVulnerabilities"] = [_vuln(v) for v in vulns]
                rows.append(row)
            report[str(requirements.relative_to(ROOT))] = {
                "sha256": hashlib.sha256(requirements.read_bytes()).hexdigest(),
                "dependencies": rows,
            }
    report["npm"] = (
        "not audited: the npm registry reachable from the project's machines refuses the bulk "
        "advisory query (npm audit: 405); the lock's packages are in the SBOM"
    )
    return report


def main(argv: list[str]) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    if argv == ["sbom"]:
        SBOM.write_text(render_sbom())
        print(f"wrote {SBOM.relative_to(ROOT)}")
    elif argv == ["audit"]:
        report = audit()
        AUDIT.write_text(json.dumps(report, indent=2) + "\n")
        for lock, part in report.items():
            if isinstance(part, dict):
                rows = part["dependencies"]
                vulns = [v for r in rows for v in r.get("vulnerabilities", [])]
                unaudited = [r["name"] for r in rows if r["audited"].startswith("no")]
                print(
                    f"{lock}: {len(rows)} pins, {len(vulns)} known vulnerabilities, "
                    f"{len(unaudited)} not auditable here: {', '.join(unaudited) or '-'}"
                )
        print(f"wrote {AUDIT.relative_to(ROOT)}")
    else:
        raise SystemExit("usage: python -m tests.support.supply_chain sbom|audit")


if __name__ == "__main__":
    main(sys.argv[1:])
