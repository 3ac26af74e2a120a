"""The package's layering, read from its imports (``ast``: nothing is imported or run).

Three contracts keep docs/architecture.md true by construction:

- the API side and the worker side never import each other, directly or through a shared
  module: the API process's import graph holds no worker-side module, the worker's no API-side
  module, and the operator's neither;
- every collection access (a PyMongo collection method, ``db[...]``, a write model) is inside
  the ``wavecom.store`` package, except in the modules of ``KNOWN_COLLECTION_ACCESS`` (none
  left). That list can only shrink: an entry whose module no longer touches a collection fails
  until it is removed;
- the table of which process imports which module in docs/architecture.md is the one the code
  gives (``.venv/bin/python -m tests.test_architecture --write`` rewrites it).
"""

from __future__ import annotations

import ast
import functools
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "services"
PACKAGE = SOURCES / "wavecom"
DOC = ROOT / "docs" / "architecture.md"

# The processes, by the module `python -m` runs. The relay (due schedules, the outbox, the
# sweeper, the stuck export) is not a process of its own: every API process runs it
# (api/app.py), so its column is a part of the API's; `make verify` runs relay/reconcile.py.
PROCESSES: dict[str, tuple[str, ...]] = {
    "API": ("wavecom.api.__main__",),
    "relay": ("wavecom.relay.due", "wavecom.relay.sweeper", "wavecom.relay.reconcile"),
    "worker": ("wavecom.worker.__main__",),
    "operator": ("wavecom.operator.__main__",),
    "admin CLI": ("wavecom.admin",),
    "`make verify`": ("wavecom.relay.reconcile",),
    "callbacks": ("wavecom.callbacks.__main__",),
}

# The folders say which process runs what (issue #26 item 3): what only the API process runs is
# api/ and relay/ (a name covers the module and, for a package, everything in it) ...
API_SIDE = ("wavecom.api", "wavecom.relay")
# ... what only the worker process runs is worker/, and the channel's live account table of
# providers/ (the adapters beside it are shared: the API validates an account by building its
# driver).
WORKER_SIDE = (
    "wavecom.worker",
    "wavecom.providers.registry",
    "wavecom.providers.routes",
    "wavecom.providers.seed",
)
# What both sides share, and nothing else: it imports neither side.
SHARED = ("wavecom.core",)

# Modules outside wavecom.store that query collections themselves. Since issue #26 (item 3)
# gave the last six (sweeper, reconcile, keys, tenants, api.quota, api.idempotency) repository
# methods in store/, there are none. Nothing may be added here: a new query goes into store/.
KNOWN_COLLECTION_ACCESS: dict[str, str] = {}

# PyMongo collection methods. Not `watch` (change streams are not used, and other objects have
# a `watch`), nor `drop`.
COLLECTION_METHODS = frozenset(
    {
        "aggregate",
        "bulk_write",
        "count_documents",
        "create_index",
        "create_indexes",
        "delete_many",
        "delete_one",
        "distinct",
        "drop_index",
        "drop_indexes",
        "estimated_document_count",
        "find",
        "find_one",
        "find_one_and_delete",
        "find_one_and_replace",
        "find_one_and_update",
        "index_information",
        "insert_many",
        "insert_one",
        "list_indexes",
        "replace_one",
        "update_many",
        "update_one",
    }
)
WRITE_MODELS = frozenset(
    {"InsertOne", "UpdateOne", "UpdateMany", "ReplaceOne", "DeleteOne", "DeleteMany"}
)
COLLECTION_MODULES = ("pymongo.collection", "pymongo.asynchronous.collection")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCES).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@functools.cache
def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _absolute(name: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = name.split(".") if is_package else name.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _known(name: str) -> str | None:
    """The package module that `name` (a module, or a name inside one) is, if any."""
    while name and name not in modules():
        name = name.rpartition(".")[0]
    return name or None


@functools.cache
def imports(name: str) -> frozenset[str]:
    """The package's modules that `name` imports, anywhere in it (a function-level import
    counts: it runs in the same process)."""
    path = modules()[name]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(name, node, path.name == "__init__.py")
            targets = [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            known = _known(target)
            if known and known != name:
                found.add(known)
    return frozenset(found)


def closure(*starts: str) -> frozenset[str]:
    """Every package module a process that runs `starts` loads (parent packages included)."""
    seen: set[str] = set()
    todo = list(starts)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo += [".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i])]
        todo += imports(name)
    return frozenset(seen & modules().keys())


def on_side(name: str, side: tuple[str, ...]) -> bool:
    return any(name == s or name.startswith(s + ".") for s in side)


def collection_access(source: str) -> list[tuple[int, str]]:
    """Where a module's source touches a collection: (line, what)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr in COLLECTION_METHODS:
                found.append((node.lineno, f".{node.func.attr}()"))
            elif node.func.attr == "get_collection":
                found.append((node.lineno, ".get_collection()"))
        elif isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute):
            if node.value.attr == "db":
                found.append((node.lineno, ".db[...]"))
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module in COLLECTION_MODULES:
                found.append((node.lineno, f"from {node.module} import"))
            elif node.module == "pymongo":
                for alias in node.names:
                    if alias.name in WRITE_MODELS:
                        found.append((node.lineno, f"pymongo.{alias.name}"))
    return sorted(found)


@functools.cache
def accesses() -> dict[str, list[tuple[int, str]]]:
    out = {}
    for name, path in modules().items():
        found = collection_access(path.read_text(encoding="utf-8"))
        if found:
            out[name] = found
    return out


# the table in docs/architecture.md


BEGIN = "<!-- imports: generated by `.venv/bin/python -m tests.test_architecture --write` -->"
END = "<!-- /imports -->"


def side_of(name: str) -> str:
    if on_side(name, API_SIDE):
        return "API"
    if on_side(name, WORKER_SIDE):
        return "worker"
    return ""


def table() -> str:
    loaded = {process: closure(*starts) for process, starts in PROCESSES.items()}
    header = ["module", "side", *PROCESSES]
    rows = [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    for name, path in modules().items():
        if name == "wavecom":
            continue
        marks = ["✓" if name in loaded[p] else "" for p in PROCESSES]
        where = f"`{path.relative_to(PACKAGE).as_posix()}`"
        rows.append("| " + " | ".join([where, side_of(name), *marks]) + " |")
    return "\n".join(rows)


def documented() -> str | None:
    text = DOC.read_text(encoding="utf-8")
    m = re.search(re.escape(BEGIN) + r"\n(.*?)\n" + re.escape(END), text, re.DOTALL)
    return m.group(1).strip() if m else None


def write() -> None:
    text = DOC.read_text(encoding="utf-8")
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(text[:start] + "\n" + table() + "\n" + text[end:], encoding="utf-8")


# the tests


def test_the_import_graph_is_read_at_all() -> None:
    """The reader finds what the package obviously has (so the checks cannot pass empty)."""
    assert "wavecom.worker.pipeline" in imports("wavecom.worker.consumer")
    assert "wavecom.api.intake" in closure("wavecom.api.__main__")
    assert "wavecom.store.rounds" in closure("wavecom.worker.__main__")
    for process, starts in PROCESSES.items():
        for start in starts:
            assert start in modules(), f"{process}: no module {start}"
    for name in API_SIDE + WORKER_SIDE + SHARED:
        assert any(on_side(m, (name,)) for m in modules()), (
            f"{name} names no module of the package any more: update API_SIDE / WORKER_SIDE"
        )


def test_no_api_side_module_imports_worker_side_code_or_the_reverse() -> None:
    errors = []
    for name in modules():
        for target in sorted(imports(name)):
            if on_side(name, API_SIDE) and on_side(target, WORKER_SIDE):
                errors.append(f"{name} (API side) imports {target} (worker side)")
            if on_side(name, WORKER_SIDE) and on_side(target, API_SIDE):
                errors.append(f"{name} (worker side) imports {target} (API side)")
    assert not errors, "\n".join(errors)


def test_each_process_loads_only_its_own_side_and_the_shared_modules() -> None:
    forbidden = {
        "API": WORKER_SIDE,
        "relay": (*WORKER_SIDE, "wavecom.api"),
        "worker": API_SIDE,
        "operator": API_SIDE + WORKER_SIDE,
        "admin CLI": (*WORKER_SIDE, "wavecom.api"),
        "`make verify`": (*WORKER_SIDE, "wavecom.api"),
        "callbacks": API_SIDE + WORKER_SIDE,
    }
    errors = []
    for process, starts in PROCESSES.items():
        for name in sorted(closure(*starts)):
            if on_side(name, forbidden[process]):
                chain = " → ".join(_path(starts, name))
                errors.append(f"the {process} process loads {name}: {chain}")
    assert not errors, "\n".join(errors)


def test_core_imports_neither_side() -> None:
    """core/ is what both sides share: a module of it that imported api/, relay/ or worker/
    would carry that side into every process."""
    errors = [
        f"{name} (core) imports {target}"
        for name in modules()
        if on_side(name, SHARED)
        for target in sorted(imports(name))
        if on_side(target, API_SIDE + WORKER_SIDE)
    ]
    assert not errors, "\n".join(errors)


def _path(starts: tuple[str, ...], goal: str) -> list[str]:
    """One import chain from a process's entry to `goal` (for the failure message)."""
    came: dict[str, str | None] = dict.fromkeys(starts)
    todo = list(starts)
    while todo:
        name = todo.pop(0)
        if name == goal:
            chain = [name]
            while (prev := came[chain[-1]]) is not None:
                chain.append(prev)
            return chain[::-1]
        for nxt in sorted(imports(name)):
            if nxt not in came:
                came[nxt] = name
                todo.append(nxt)
    return [*starts, "…", goal]


def test_collections_are_queried_only_in_the_store_package_and_the_known_exceptions() -> None:
    outside = {n: a for n, a in accesses().items() if not on_side(n, ("wavecom.store",))}
    new = {n: a for n, a in outside.items() if n not in KNOWN_COLLECTION_ACCESS}
    assert not new, "a query outside wavecom.store (add a repository method there):\n" + "\n".join(
        f"{modules()[n].relative_to(ROOT)}:{line}: {what}"
        for n, a in new.items()
        for line, what in a
    )


def test_the_list_of_known_exceptions_only_shrinks() -> None:
    stale = sorted(set(KNOWN_COLLECTION_ACCESS) - set(accesses()))
    assert not stale, f"no longer query collections: remove from KNOWN_COLLECTION_ACCESS: {stale}"


def test_the_detector_sees_each_kind_of_access() -> None:
    source = (
        "from pymongo import UpdateOne\n"
        "from pymongo.asynchronous.collection import AsyncCollection\n"
        "async def f(store):\n"
        "    await store.notifications.collection.find_one({})\n"
        "    store.db['leases']\n"
        "    'text'.upper()\n"
    )
    assert [what for _, what in collection_access(source)] == [
        "pymongo.UpdateOne",
        "from pymongo.asynchronous.collection import",
        ".find_one()",
        ".db[...]",
    ]
    assert "wavecom.store.notifications" in accesses()


def test_docs_architecture_md_says_which_process_imports_what() -> None:
    assert documented() == table(), (
        "docs/architecture.md's import table is not the code's: "
        "run `.venv/bin/python -m tests.test_architecture --write`"
    )


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        write()
    else:
        print(table())
