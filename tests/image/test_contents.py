"""What is in the built image: exactly the pinned Python dependencies, production as its
default ENVIRONMENT, and its size and layer count (reported at the end of the run, and
docs/kubernetes.md's figure kept within 15 % of them)."""

from __future__ import annotations

import re

import orjson

from tests.image.conftest import REPORT, Containers
from tests.image.podman import podman
from tests.support.system import ROOT

DOC = ROOT / "docs" / "kubernetes.md"
# the sentence of docs/kubernetes.md, e.g. "`make image` builds it here in …: 351 MB in 6 layers"
FIGURE = re.compile(r"`make image` builds it here.{0,300}?: (\d+) MB in (\d+) layers", re.S)


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, str]:
    """services/requirements.txt (pip-compile's output): name -> version."""
    out = {}
    for line in (ROOT / "services" / "requirements.txt").read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            name, _, version = line.split(";")[0].partition("==")
            out[_name(name.split("[")[0])] = version.split()[0]  # before " \" and its hashes
    return out


async def test_the_python_dependencies_are_exactly_the_pinned_ones(
    containers: Containers,
) -> None:
    code, out = await containers("python", "-m", "pip", "freeze", "--all").run()
    assert code == 0, out
    installed = {}
    for line in out.splitlines():
        name, sep, version = line.partition("==")
        if sep:
            installed[_name(name)] = version
        else:  # the project itself, installed from its directory
            assert line.startswith("wavecom-notify @ file:///src/services"), line
    # pip and setuptools come with the venv (python -m venv), not from the requirements
    for tool in ("pip", "setuptools", "wheel"):
        installed.pop(tool, None)
    assert installed == pins()


async def test_the_image_size_and_layers_are_reported(image: str) -> None:
    (info,) = orjson.loads(await podman("image", "inspect", image))
    size_mb = round(info["Size"] / 1e6)
    layers = len(info["RootFS"]["Layers"])
    REPORT.append(f"image {image}: {size_mb} MB in {layers} layers")
    m = FIGURE.search(DOC.read_text())
    assert m, "docs/kubernetes.md gives no `make image` size (`: N MB in N layers`)"
    documented_mb, documented_layers = int(m[1]), int(m[2])
    assert layers == documented_layers, f"the image has {layers} layers: update docs/kubernetes.md"
    assert abs(size_mb - documented_mb) <= 0.15 * documented_mb, (
        f"the image is {size_mb} MB, docs/kubernetes.md says {documented_mb}: update it"
    )


async def test_a_container_started_without_an_environment_is_production(
    containers: Containers,
) -> None:
    """Run as it is, without the chart's ConfigMap (docker run, someone's own manifests), a
    process of the image is in production: it refuses mock provider accounts and seeds none."""
    code, out = await containers(
        "python", "-c", "from wavecom.core.settings import Settings; print(Settings().environment)"
    ).run()
    assert code == 0, out
    assert out.strip().splitlines()[-1] == "production"
