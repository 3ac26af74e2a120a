"""Every command, make target, module, path, URL, port and link the docs show exists.

The docs are README.md, every Markdown file under docs/ (found, not listed: a new page is
checked as soon as it exists) and loadtest/results/HISTORY.md. Each is read as a user reads
it: its fenced code blocks (shell lines, with ``\\`` continuations joined) and its inline code
spans, plus its Markdown links (relative to the page, and a ``#anchor`` must be a heading of
the page it names). Each failure names the line (``docs/api.md:<n>``) and what is wrong, so an
edit that renames a target, a module, a file or a heading, or invents a port, fails here and
says where.
"""

from __future__ import annotations

import functools
import importlib.util
import re
import shlex
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
HISTORY = ROOT / "loadtest" / "results" / "HISTORY.md"
THIS = Path(__file__).resolve()
# directories whose files say which ports the project uses (not the docs that describe them)
PORT_SOURCES = (
    "Makefile",
    "Tiltfile",
    "services",
    "charts",
    "k8s",
    "keda",
    "loadtest",
    "tests",
    "dashboards",
    "frontend/src",
    "frontend/e2e",
    "frontend/next.config.mjs",
    "frontend/package.json",
)
SKIP_DIRS = {"node_modules", ".venv", "__pycache__", "results", ".state", "out", ".next"}
# paths a run creates (not committed): the state directory, build output, caches
RUNTIME_PREFIXES = (".state/", "frontend/out", "frontend/node_modules", "~", "$")
TOP_LEVEL = {
    p.name for p in ROOT.iterdir() if not p.name.startswith(".") or p.name in {".ci", ".state"}
}


LOCAL_URL = re.compile(
    r"\b(?:https?|amqp|mongodb)://(?:[^/@\s]*@)?(?:127\.0\.0\.1|localhost):(\d+)"
)
BARE_PORT = re.compile(r"(?:^|[\s(,])(?:127\.0\.0\.1|localhost)?:(\d{2,5})\b")


def documents() -> list[Path]:
    """The README, every Markdown page under docs/, and the benchmark history."""
    pages = sorted(p for p in (ROOT / "docs").rglob("*.md") if not SKIP_DIRS & set(p.parts))
    return [README, *pages, *([HISTORY] if HISTORY.exists() else [])]


@dataclass(frozen=True)
class Snippet:
    line: int  # 1-based line of the page
    text: str
    kind: str  # "block" (a shell line of a fenced block), "inline", "link" or "prose"
    page: Path = README

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}: `{self.text}`"


def snippets(page: Path = README) -> list[Snippet]:
    """Shell lines of ```bash/sh blocks (continuations joined), inline code spans, link targets
    and the lines of text that name a local URL or port."""
    out: list[Snippet] = []
    lines = page.read_text(encoding="utf-8").splitlines()
    fence: str | None = None
    pending: tuple[int, str] | None = None
    for n, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else (stripped[3:].strip() or "text")
            continue
        if fence is not None:
            if fence not in ("bash", "sh", "shell", "console"):  # not diagrams and layouts
                continue
            if pending:
                start, text = pending
                text += " " + stripped
            else:
                start, text = n, stripped
            if text.endswith("\\"):
                pending = (start, text[:-1].rstrip())
                continue
            pending = None
            if text and not text.startswith("#"):
                out.append(Snippet(start, text, "block", page))
            continue
        if LOCAL_URL.search(raw) or BARE_PORT.search(raw):
            out.append(Snippet(n, stripped, "prose", page))  # ports and URLs in the text itself
        for code in re.findall(r"`([^`]+)`", raw):
            out.append(Snippet(n, code.strip(), "inline", page))
        for target in re.findall(r"\]\(([^)\s]+)\)", raw):
            out.append(Snippet(n, target, "link", page))
    return out


def _commands(s: Snippet) -> Iterator[list[str]]:
    """The simple commands of a snippet, split like a shell (pipes, ;, && and || split)."""
    text = re.sub(r"\$\([^)]*\)", "X", s.text)  # command substitutions: not checked here
    text = text.split(" # ", 1)[0]
    for part in re.split(r"\|\||&&|[|;]", text):
        try:
            words = shlex.split(part)
        except ValueError:
            words = part.split()
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
            words = words[1:]  # VAR=value before a command
        if words:
            yield words


@functools.cache
def make_targets() -> frozenset[str]:
    text = (ROOT / "Makefile").read_text()
    return frozenset(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", text, re.MULTILINE))


@functools.cache
def make_variables() -> frozenset[str]:
    text = (ROOT / "Makefile").read_text()
    return frozenset(re.findall(r"\$\(([A-Z_]+)\)", text))


def check_make(words: list[str], s: Snippet) -> list[str]:
    errors = []
    for w in words[1:]:
        if w.startswith("-"):
            continue
        if "=" in w:
            var = w.split("=", 1)[0]
            if var not in make_variables():
                errors.append(f"{s.where()}: the Makefile does not read {var}")
        elif w not in make_targets():
            errors.append(f"{s.where()}: no target `{w}` in the Makefile")
    return errors


@functools.cache
def module_exists(name: str) -> bool:
    import sys  # noqa: PLC0415

    for extra in (str(ROOT), str(ROOT / "services")):
        if extra not in sys.path:
            sys.path.append(extra)
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def check_python(words: list[str], s: Snippet) -> list[str]:
    if "-m" not in words:
        return []
    i = words.index("-m")
    if i + 1 >= len(words):  # prose naming the form ("`python -m` modules"), not a command
        return [] if s.kind == "inline" else [f"{s.where()}: `-m` without a module"]
    module = words[i + 1]
    if module in ("pip", "venv", "pytest", "locust"):
        return []
    return [] if module_exists(module) else [f"{s.where()}: no module `{module}`"]


def _is_repo_path(token: str) -> bool:
    token = token.rstrip(".,:;")
    if not token or any(c in token for c in "<>{}*…$ =\"'") or token.startswith(RUNTIME_PREFIXES):
        return False
    head = token.split("/", 1)[0]
    return ("/" in token and head in TOP_LEVEL) or token in ("Makefile", "Tiltfile")


@functools.cache
def ignored(path: str) -> bool:
    """Paths git ignores are made by a run (the state directory, build output)."""
    r = subprocess.run(  # noqa: S603 - git, fixed arguments
        ["git", "check-ignore", "-q", path],  # noqa: S607
        cwd=ROOT,
        check=False,
        timeout=30,
    )
    return r.returncode == 0


def check_path(token: str, s: Snippet) -> list[str]:
    path = token.rstrip(".,:;").split("#", 1)[0].split("::", 1)[0]
    if not path or (ROOT / path).exists() or ignored(path):
        return []
    return [f"{s.where()}: `{path}` does not exist"]


@functools.cache
def port_is_used(port: str) -> bool:
    """The port is named by some file of the project other than the docs."""
    pattern = re.compile(rf"(?<![0-9]){port}(?![0-9])")
    for name in PORT_SOURCES:
        base = ROOT / name
        files = [base] if base.is_file() else base.rglob("*") if base.exists() else []
        for f in files:
            if not f.is_file() or SKIP_DIRS & set(f.relative_to(ROOT).parts) or f == THIS:
                continue
            if f.suffix in {".png", ".svg", ".ico", ".woff", ".woff2", ".md"}:
                continue
            if f.name.startswith("requirements") and f.suffix == ".txt":
                continue  # hash-pinned: hex digests hold digit runs that are no ports
            try:
                if pattern.search(f.read_text(encoding="utf-8", errors="ignore")):
                    return True
            except OSError:
                continue
    return False


def check_ports(s: Snippet) -> list[str]:
    ports = set(LOCAL_URL.findall(s.text))
    if s.kind != "block":
        ports |= set(BARE_PORT.findall(s.text))
    return [
        f"{s.where()}: port {p} is not one the project uses (no file outside the docs names it)"
        for p in sorted(ports)
        if not port_is_used(p)
    ]


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@functools.cache
def anchors(page: Path) -> frozenset[str]:
    """The anchors of a Markdown page's headings (a repeated heading gets -1, -2, ...)."""
    seen: dict[str, int] = {}
    fence = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("```"):
            fence = not fence
        elif not fence and re.match(r"#{1,6} ", line):
            base = slug(line.lstrip("#"))
            n = seen.get(base, 0)
            seen[base] = n + 1
            seen.setdefault(f"{base}-{n}" if n else base, 1)
    return frozenset(seen)


def check_link(s: Snippet) -> list[str]:
    target, _, anchor = s.text.partition("#")
    if re.match(r"[a-z]+:", target):
        return []  # another site
    path = (s.page.parent / target).resolve() if target else s.page
    if not path.exists():
        return [f"{s.where()}: the link's target does not exist"]
    if anchor and path.suffix == ".md" and anchor not in anchors(path):
        return [f"{s.where()}: no heading `#{anchor}` in {path.relative_to(ROOT)}"]
    return []


def problems(s: Snippet) -> list[str]:
    errors: list[str] = []
    if s.kind == "link":
        return check_link(s)
    errors += check_ports(s)
    if s.kind == "prose":
        return errors
    for words in _commands(s):
        cmd = words[0]
        if cmd == "make":
            errors += check_make(words, s)
        elif cmd.endswith("python") or cmd.endswith("python3") or cmd.endswith("python3.11"):
            errors += check_python(words, s)
            if cmd.startswith(".venv/") and len(words) > 1 and _is_repo_path(words[1]):
                errors += check_path(words[1], s)
        elif _is_repo_path(cmd) or cmd.startswith("./"):
            errors += check_path(cmd.removeprefix("./"), s)
        for w in words[1:]:
            if s.kind == "block" and _is_repo_path(w):
                errors += check_path(w, s)
    if s.kind == "inline" and " " not in s.text and _is_repo_path(s.text):
        errors += check_path(s.text, s)
    return errors


def test_the_readme_shows_commands_at_all() -> None:
    """The parser finds what the README obviously has (so the checks below cannot pass empty)."""
    found = snippets()
    commands = [w for s in found for w in _commands(s)]
    assert any(w[:2] == ["make", "up"] for w in commands)
    assert any(w[:2] == ["make", "test"] for w in commands)
    assert any("python" in w[0] and "-m" in w for w in commands)
    assert any(LOCAL_URL.search(s.text) for s in found)


def test_the_docs_pages_are_found() -> None:
    pages = {p.relative_to(ROOT).as_posix() for p in documents()}
    assert {"README.md", "docs/architecture.md", "docs/runbooks.md"} <= pages


@pytest.mark.parametrize("page", documents(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_make_target_module_path_url_port_and_link_in_the_docs_exists(page: Path) -> None:
    errors = [e for s in snippets(page) for e in problems(s)]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ("make no-such-target", "no target `no-such-target`"),
        ("make bench NO_SUCH_ARGS=1", "does not read NO_SUCH_ARGS"),
        ("python -m wavecom.no_such_module", "no module `wavecom.no_such_module`"),
        ("curl http://127.0.0.1:8123/api/health", "port 8123 is not one the project uses"),
        ("services/devstack/no-such.sh up", "`services/devstack/no-such.sh` does not exist"),
    ],
)
def test_a_wrong_command_is_reported_with_its_line(text: str, expect: str) -> None:
    (error,) = problems(Snippet(7, text, "block"))
    assert error.startswith(f"README.md:7: `{text}`")
    assert expect in error


@pytest.mark.parametrize(
    ("link", "expect"),
    [
        ("no-such-page.md", "the link's target does not exist"),
        ("runbooks.md#no-such-alert", "no heading `#no-such-alert` in docs/runbooks.md"),
        ("#no-such-section", "no heading `#no-such-section` in docs/architecture.md"),
    ],
)
def test_a_broken_link_or_anchor_is_reported_with_its_page(link: str, expect: str) -> None:
    page = ROOT / "docs" / "architecture.md"
    (error,) = problems(Snippet(3, link, "link", page))
    assert error.startswith(f"docs/architecture.md:3: `{link}`")
    assert expect in error


def test_a_heading_gives_the_anchor_github_gives_it() -> None:
    heading = "Capacity arithmetic: 50,000 a minute (833/s) and 10\N{MULTIPLICATION SIGN} (8,330/s)"
    assert slug(heading) == ("capacity-arithmetic-50000-a-minute-833s-and-10-8330s")
    assert slug("WavecomChannelWithoutAccount") == "wavecomchannelwithoutaccount"
