"""The tests' layout (issue #26): no test module imports another test module; what tests share
lives in tests/support/ (or a conftest.py for fixtures), none of it at the top of tests/; and the
tests mirror the package: services/wavecom/<folder>/<module>.py is tested by
tests/<folder>/test_<module>.py (but the exempt modules)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _is_test_module(dotted: str) -> bool:
    return dotted.rsplit(".", 1)[-1].startswith("test_")


def imported_test_modules(source: str, package: tuple[str, ...]) -> list[str]:
    """The test modules a module of ``package`` imports (absolute or relative imports,
    ``from pkg import test_x`` too)."""
    found: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if _is_test_module(a.name)]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, module] if module else base)
            if module and _is_test_module(module):
                found.append(module)
            else:
                found += [f"{module}.{a.name}" for a in node.names if a.name.startswith("test_")]
    return found


def test_no_test_module_imports_another_test_module() -> None:
    offenders = {
        str(p.relative_to(TESTS.parent)): imported
        for p in sorted(TESTS.rglob("*.py"))
        if (
            imported := imported_test_modules(
                p.read_text(), p.relative_to(TESTS.parent).parent.parts
            )
        )
    }
    assert offenders == {}, f"import shared helpers from tests/support/ instead: {offenders}"


def test_the_check_sees_every_form_of_import() -> None:
    sample = (
        "import tests.api.test_auth\n"
        "from tests.api.routes.test_events import Stream\n"
        "from tests.providers import test_fcm\n"
        "from .test_admin import admin\n"
        "from ..test_e2e import run\n"
        "from tests.support.fcm import FakeGoogle\n"
        "from . import conftest\n"
    )
    assert imported_test_modules(sample, ("tests", "store")) == [
        "tests.api.test_auth",
        "tests.api.routes.test_events",
        "tests.providers.test_fcm",
        "tests.store.test_admin",
        "tests.test_e2e",
    ]


# Tests mirror the package (issue #26, item 3): the test of services/wavecom/<folder>/<module>.py
# is tests/<folder>/test_<module>.py.

PACKAGE = TESTS.parent / "services" / "wavecom"


# Package markers and entry points: an `__init__.py` holds a docstring (or, for store/, the
# facade every store test goes through), a `__main__.py` starts a process, and the tests that run
# the processes (test_e2e, tests/image, tests/telemetry/test_processes, ...) run every one.
EXEMPT_NAMES = frozenset({"__init__", "__main__"})
# Modules of pure data, no logic of their own to test (path under services/wavecom/: why).
EXEMPT: dict[str, str] = {
    "core/metrics.py": "metric definitions only; tests/observability checks every name",
    "callbacks/metrics.py": "metric definitions only; tests/observability checks every name",
    "api/responses.py": "JSONResponse rendered by orjson: one call, no logic",
}


def mirrored(module: Path) -> Path:
    rel = module.relative_to(PACKAGE)
    return TESTS / rel.parent / f"test_{rel.stem}.py"


def untested() -> set[str]:
    """The package's modules with no test at their mirrored path, but the exempt ones."""
    return {
        p.relative_to(PACKAGE).as_posix()
        for p in PACKAGE.rglob("*.py")
        if p.stem not in EXEMPT_NAMES and not mirrored(p).exists()
    } - set(EXEMPT)


def test_every_module_has_a_test_at_its_mirrored_path() -> None:
    new = sorted(untested())
    assert not new, (
        "no tests/<folder>/test_<module>.py for these modules of services/wavecom/ "
        f"(write it; a module of pure data goes to EXEMPT, with why): {new}"
    )


def test_no_helper_module_at_the_top_of_tests() -> None:
    """What tests share lives in tests/support/ (system, certs, rabbit_cluster, supply_chain
    were at the top of tests/ before issue #26 item 3)."""
    stray = sorted(
        p.name
        for p in TESTS.glob("*.py")
        if not p.name.startswith("test_") and p.name not in ("__init__.py", "conftest.py")
    )
    assert not stray, f"move these into tests/support/: {stray}"
