"""The built image (services/Dockerfile) run with podman, as this machine allows it.

``image.sh ref`` names the image the current inputs build (``make image`` builds it); every
container runs with runc and ulimits under the machine's hard limits, on the host's network so
that it reaches only what listens on loopback (RabbitMQ, the database, a test's API), and is
removed when the test ends.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field

import orjson

from tests.support.system import ROOT

IMAGE_SH = ROOT / "services" / "devstack" / "image.sh"
# crun refuses this machine's hybrid cgroups; podman's default ulimits exceed its hard limits
RUNTIME = ["--runtime", "runc", "--ulimit", "nofile=8192:8192", "--ulimit", "nproc=4096:4096"]
UID = 10001  # the Dockerfile's USER and the chart's runAsUser


def image_ref() -> str:
    """WAVECOM_IMAGE (``make test`` passes the image it built), else the reference ``make
    image`` builds for the current inputs."""
    if ref := os.environ.get("WAVECOM_IMAGE"):
        return ref
    out = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        [str(IMAGE_SH), "ref"], check=True, capture_output=True, text=True, timeout=60
    )
    return out.stdout.strip()


def image_built(ref: str) -> bool:
    if shutil.which("podman") is None:
        return False
    exists = subprocess.run(  # noqa: S603 - podman, our own image reference
        ["podman", "image", "exists", ref],  # noqa: S607
        check=False,
        timeout=60,
    )
    return exists.returncode == 0


async def podman(*args: str, check: bool = True, within: float = 90) -> str:
    """Run ``podman args…`` (killed after ``within`` seconds); its stdout (stderr too, in the
    error when it fails)."""
    proc = await asyncio.create_subprocess_exec(
        "podman", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), within)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    if check and proc.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: exit {proc.returncode}\n{err.decode()}")
    return out.decode()


@dataclass
class Container:
    """One container of the image; ``env`` and ``volumes`` (host → container) as given."""

    image: str
    args: list[str]
    env: dict[str, str] = field(default_factory=dict)
    volumes: dict[str, str] = field(default_factory=dict)
    options: list[str] = field(default_factory=list)
    name: str = field(default_factory=lambda: f"wavecom-test-{uuid.uuid4().hex[:10]}")

    def _flags(self) -> list[str]:
        flags = [*RUNTIME, "--network", "host", "--name", self.name, *self.options]
        for k, v in self.env.items():
            flags += ["--env", f"{k}={v}"]
        for host, inside in self.volumes.items():
            flags += ["--volume", f"{host}:{inside}"]
        return flags

    async def start(self) -> None:
        await podman("run", "--detach", *self._flags(), self.image, *self.args)

    async def run(self, *, within: float = 90) -> tuple[int, str]:
        """Run to completion: the exit code and the output (stdout and stderr)."""
        await podman("create", *self._flags(), self.image, *self.args)
        await podman("start", "--attach", self.name, check=False, within=within)
        return await self.exit_code(), await self.logs()

    async def exec(self, *cmd: str) -> tuple[int, str]:
        proc = await asyncio.create_subprocess_exec(
            "podman",
            "exec",
            self.name,
            *cmd,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode is not None
        return proc.returncode, out.decode()

    async def state(self) -> dict[str, object]:
        out = await podman("inspect", "--format", "{{json .State}}", self.name)
        state: dict[str, object] = orjson.loads(out)
        return state

    async def running(self) -> bool:
        return (await self.state())["Running"] is True

    async def exit_code(self) -> int:
        code = (await self.state())["ExitCode"]
        assert isinstance(code, int)
        return code

    async def logs(self) -> str:
        return await podman("logs", self.name, check=False)

    async def signal(self, sig: str) -> None:
        await podman("kill", "--signal", sig, self.name)

    async def remove(self) -> None:
        await podman("rm", "--force", "--time", "0", self.name, check=False)


def writable_by_the_image(path: str) -> None:
    """A host directory the image's non-root user may write (a bind-mounted ledger)."""
    os.chmod(path, 0o777)  # noqa: S103 - a test's own temporary directory
