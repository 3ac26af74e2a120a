"""The diagrams in docs/ are current: each committed SVG is what Graphviz renders from its
source now. Without `dot` this fails rather than skips (`docs/diagrams.sh --install` installs
Debian's graphviz; `make test` runs it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SOURCES = sorted(DOCS.glob("*.dot"))


def test_the_architecture_and_the_queueing_flow_have_sources() -> None:
    assert {p.stem for p in SOURCES} >= {"architecture", "queueing"}
    for svg in DOCS.glob("*.svg"):
        assert svg.with_suffix(".dot").exists(), f"{svg.name} has no Graphviz source"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_the_committed_svg_is_what_the_source_renders(source: Path, tmp_path: Path) -> None:
    dot = shutil.which("dot")
    assert dot, "Graphviz's dot is missing: docs/diagrams.sh --install (Debian's graphviz)"
    fresh = tmp_path / "fresh.svg"
    subprocess.run(  # noqa: S603 - Graphviz, fixed arguments
        [dot, "-Tsvg", str(source), "-o", str(fresh)], check=True, timeout=60
    )
    committed = source.with_suffix(".svg")
    assert committed.exists(), f"docs/{committed.name} is missing: run docs/diagrams.sh"
    assert committed.read_text() == fresh.read_text(), (
        f"docs/{committed.name} is not what docs/{source.name} renders: run docs/diagrams.sh"
    )
