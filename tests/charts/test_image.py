"""services/Dockerfile, checked offline (tests/image/ runs the image `make image` builds): it
parses, every COPY source exists and is in the build context (and in the Tiltfile's), every
command it runs is a real entry point, the requirements it installs are the pinned ones, and the
chart runs only commands the image has."""

from __future__ import annotations

import fnmatch
import importlib.util
import re
import tomllib
from dataclasses import dataclass, field

import pytest

from tests.charts.chart import by_kind, ci_values, render_chart
from tests.charts.kube import ROOT

DOCKERFILE = ROOT / "services" / "Dockerfile"
INSTRUCTIONS = {
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
}


@dataclass
class Instruction:
    op: str
    args: str
    heredoc: str = ""


@dataclass
class Stage:
    image: str
    name: str
    steps: list[Instruction] = field(default_factory=list)


def parse(text: str) -> list[Stage]:
    """Dockerfile syntax: comments, `\\` continuations, `<<'EOF'` heredocs, stages."""
    lines = text.splitlines()
    out: list[Instruction] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        while line.endswith("\\"):
            line = line[:-1] + " " + lines[i].strip()
            i += 1
        op, _, args = line.strip().partition(" ")
        assert op.upper() in INSTRUCTIONS, f"unknown instruction {op!r}"
        heredoc = ""
        if m := re.search(r"<<-?'?(\w+)'?", args):
            end = m[1]
            body = []
            while lines[i] != end:
                body.append(lines[i])
                i += 1
            i += 1
            heredoc = "\n".join(body) + "\n"
        out.append(Instruction(op.upper(), args.strip(), heredoc))
    stages: list[Stage] = []
    for ins in out:
        if ins.op == "FROM":
            parts = ins.args.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else ""
            stages.append(Stage(parts[0], name))
        elif ins.op != "ARG" or stages:
            assert stages, f"{ins.op} before the first FROM"
            stages[-1].steps.append(ins)
    return stages


STAGES = parse(DOCKERFILE.read_text())
RUNTIME = STAGES[-1]


def _dockerignore_includes(path: str) -> bool:
    """Whether .dockerignore lets `path` (relative to the root) into the build context."""
    included = True
    for raw in (ROOT / ".dockerignore").read_text().splitlines():
        pat = raw.strip()
        if not pat or pat.startswith("#"):
            continue
        negate = pat.startswith("!")
        pat = pat.removeprefix("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: k + 1]) for k in range(len(parts))]
        if pat == "**" or any(fnmatch.fnmatchcase(p, pat) for p in prefixes):
            included = negate
    return included


def _copies() -> list[tuple[list[str], str]]:
    out = []
    for stage in STAGES:
        for ins in stage.steps:
            if ins.op != "COPY" or ins.heredoc:
                continue
            words = [w for w in ins.args.split() if not w.startswith("--")]
            if "--from=" in ins.args:
                continue
            out.append((words[:-1], words[-1]))
    return out


def _dispatcher() -> str:
    """The entry point's script (a file: buildah 1.28 cannot build COPY heredocs)."""
    (copy,) = [
        s for s in RUNTIME.steps if s.op == "COPY" and s.args.endswith(" /usr/local/bin/wavecom")
    ]
    assert not copy.heredoc
    (source,) = [w for w in copy.args.split()[:-1] if not w.startswith("--")]
    return (ROOT / source).read_text()


def test_three_stages_node_20_python_311() -> None:
    assert [s.name for s in STAGES] == ["dashboard", "python-deps", "runtime"]
    args = {
        a.split("=", 1)[0].split()[-1]: a.split("=", 1)[1]
        for a in re.findall(r"^ARG (\S+=\S+)", DOCKERFILE.read_text(), re.M)
    }
    assert args["NODE_IMAGE"].startswith("node:20")
    assert args["PYTHON_IMAGE"].startswith("python:3.11")


def test_every_copy_source_exists_and_is_in_the_context() -> None:
    copies = _copies()
    assert copies
    for sources, _dest in copies:
        for src in sources:
            assert (ROOT / src).exists(), src
            assert _dockerignore_includes(src.rstrip("/")), f"{src} is excluded by .dockerignore"


def test_the_tiltfile_builds_the_same_target_from_the_same_sources() -> None:
    tiltfile = (ROOT / "Tiltfile").read_text()
    assert 'target="runtime"' in tiltfile
    assert "--target runtime" in (ROOT / "services" / "devstack" / "image.sh").read_text()
    assert RUNTIME.name == "runtime"
    only = re.search(r"only=\[(.*?)\]", tiltfile, re.S)
    assert only
    allowed = re.findall(r'"([^"]+)"', only[1])
    for sources, _dest in _copies():
        for src in sources:
            assert any(src.startswith(a.rstrip("/")) for a in allowed), f"Tilt leaves out {src}"


def test_the_context_leaves_out_what_the_image_does_not_need() -> None:
    for path in ("frontend/node_modules", ".venv", ".state", "tests", "services/devstack", ".git"):
        assert not _dockerignore_includes(path), path


def test_runtime_is_non_root_with_an_exec_form_entrypoint() -> None:
    ops = {s.op: s.args for s in RUNTIME.steps}
    user = ops["USER"].replace("${UID}", "10001")
    assert user == "10001:10001"
    assert ops["ENTRYPOINT"] == '["/usr/local/bin/wavecom"]'  # exec form: no shell in between
    assert "DASHBOARD_DIR=/app/frontend/out" in ops["ENV"]
    # the chart's security context runs the same uid
    docs = render_chart(values_files=[ci_values("minimal")])
    for d in by_kind(docs, "Deployment"):
        assert d["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == 10001


def test_the_dispatcher_execs_python() -> None:
    script = _dispatcher()
    assert script.startswith("#!/bin/sh\n")
    for line in script.splitlines():
        if "python" in line:
            assert "exec python -m" in line, line


@pytest.mark.parametrize("command", ["api", "worker", "admin", "operator"])
def test_every_command_is_a_real_entry_point(command: str) -> None:
    m = re.search(rf"^\s*{command}\) exec python -m (\S+) ", _dispatcher(), re.M)
    assert m, f"the dispatcher has no {command!r}"
    module = m[1]
    spec = importlib.util.find_spec(module)
    assert spec is not None, module
    main_spec = (
        importlib.util.find_spec(f"{module}.__main__") if spec.submodule_search_locations else spec
    )
    assert main_spec is not None
    source = main_spec.loader.get_source(main_spec.name) if main_spec.loader else ""  # type: ignore[attr-defined]
    assert source
    assert 'if __name__ == "__main__":' in source


def test_the_chart_runs_only_commands_the_image_has() -> None:
    known = set(re.findall(r"^\s*(\w+)\) exec", _dispatcher(), re.M))
    docs = render_chart(values_files=[ci_values("production")])
    for d in by_kind(docs, "Deployment") + by_kind(docs, "Job"):
        for c in d["spec"]["template"]["spec"]["containers"]:
            first = c["args"][0]
            assert first in known or first == "python", first


def test_the_image_installs_the_pinned_requirements() -> None:
    copied = [src for sources, _ in _copies() for src in sources if "requirements" in src]
    assert copied == ["services/requirements.txt"]
    reqs = (ROOT / "services" / "requirements.txt").read_text()
    assert "pip-compile" in reqs
    pinned = {}
    for line in reqs.splitlines():
        if line and not line.startswith((" ", "#")):
            name, sep, version = line.partition("==")
            assert sep, f"not pinned: {line}"
            pinned[name.lower().replace("_", "-")] = version
    project = tomllib.loads((ROOT / "services" / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + project["optional-dependencies"]["operator"]
    for dep in wanted:
        name = re.split(r"[<>=!\[; ]", dep, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pinned, f"{name} is a dependency but not pinned in requirements.txt"
    # the venv stage installs the pins first, then the package without resolving anything
    runs = [s.args for s in STAGES[1].steps if s.op == "RUN"]
    assert any("--no-deps --require-hashes -r /tmp/requirements.txt" in r for r in runs)
    assert any("pip check" in r for r in runs)
    assert any("--no-deps /src/services" in r for r in runs)
