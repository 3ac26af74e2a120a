"""The tests' layout (issue #26): no test module imports another test module; what tests share
lives in tests/support/ (or a conftest.py for fixtures)."""

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
        "from ..test_sweeper import TakingOver\n"
        "from tests.support.fcm import FakeGoogle\n"
        "from . import conftest\n"
    )
    assert imported_test_modules(sample, ("tests", "store")) == [
        "tests.api.test_auth",
        "tests.api.routes.test_events",
        "tests.providers.test_fcm",
        "tests.store.test_admin",
        "tests.test_sweeper",
    ]
