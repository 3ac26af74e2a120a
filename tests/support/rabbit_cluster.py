"""RabbitMQ nodes of the tests' own, on loopback: a three-node cluster, or a single node.

Debian's ``rabbitmq-server`` runs several nodes side by side
(``../shared/docs/rabbitmq-cluster.md``): each has its node name, AMQP, management and
Erlang distribution ports, and its data, logs, pid file and configuration under
``.state/rabbit-cluster/<node>/``. They share the rabbitmq user's Erlang cookie, so they can
talk and join. The dev node of ``stack.sh`` (wavecom@localhost, 5672) is never touched.

A Python module rather than a shell script beside ``stack.sh``: the tests need more than
up and down (kill -9 one node, start it again, wipe one, ask which node leads which queue),
each bounded in time and awaited without blocking the event loop; the same code serves by hand::

    .venv/bin/python -m tests.support.rabbit_cluster up|down|status

Every call is idempotent: ``up`` reuses nodes that answer and joins only nodes not yet in the
cluster; ``down`` stops what runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import orjson

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / ".state" / "rabbit-cluster"
INSTALLED = shutil.which("rabbitmq-server") is not None and shutil.which("rabbitmqctl") is not None
NOT_INSTALLED = "needs Debian's rabbitmq-server (apt-get install rabbitmq-server)"


class NodeError(RuntimeError):
    """Raised when a node does not start, stop or answer in time; the message says where its
    log is."""


@dataclass(frozen=True)
class Node:
    """One RabbitMQ node of the tests: ``wcn1@localhost`` on AMQP 5701, and so on."""

    short: str
    amqp_port: int
    management_port: int
    dist_port: int
    # > 0: AMQP over TLS only, on this port (no plain listener), with the certificates the
    # caller put in ``tls_dir`` (ca.pem, server.pem, server.key); clients must present a
    # certificate signed by that CA
    amqps_port: int = 0

    @property
    def name(self) -> str:
        return f"{self.short}@localhost"

    @property
    def home(self) -> Path:
        return BASE / self.short

    @property
    def data(self) -> Path:
        return self.home / "mnesia"

    @property
    def pid_file(self) -> Path:
        return self.home / "rabbit.pid"

    @property
    def tls_dir(self) -> Path:
        return self.home / "tls"

    def url(self, vhost: str = "/") -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/{quote(vhost, safe='')}"

    def amqps_url(self, vhost: str = "/") -> str:
        return f"amqps://guest:guest@127.0.0.1:{self.amqps_port}/{quote(vhost, safe='')}"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.data),
            "RABBITMQ_LOG_BASE": str(self.home / "log"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.home / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(self.home / "rabbitmq.conf"),
        }

    async def ctl(self, *args: str, within: float = 60) -> str:
        """``rabbitmqctl -n <node> args...``; its output, or NodeError."""
        code, out = await _run(["rabbitmqctl", "-n", self.name, *args], within=within)
        if code != 0:
            raise NodeError(f"rabbitmqctl {' '.join(args)} on {self.name}: {out[-1500:]}")
        return out

    async def answers(self) -> bool:
        code, _ = await _run(
            ["rabbitmqctl", "-n", self.name, "await_startup", "--timeout", "5"], within=15
        )
        return code == 0

    async def start(self, *, within: float = 90) -> None:
        """Start the node unless it answers already; return once it has booted."""
        if await self.answers():
            return
        (self.home / "log").mkdir(parents=True, exist_ok=True)
        self.data.mkdir(parents=True, exist_ok=True)
        # the TLS node serves AMQP only: without the management plugin it boots sooner
        plugins = "[]" if self.amqps_port else "[rabbitmq_management]"
        (self.home / "enabled_plugins").write_text(f"{plugins}.\n")
        listeners = f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}\n"
        if self.amqps_port:
            listeners = (
                "listeners.tcp = none\n"
                f"listeners.ssl.default = 127.0.0.1:{self.amqps_port}\n"
                f"ssl_options.cacertfile = {self.tls_dir / 'ca.pem'}\n"
                f"ssl_options.certfile = {self.tls_dir / 'server.pem'}\n"
                f"ssl_options.keyfile = {self.tls_dir / 'server.key'}\n"
                "ssl_options.verify = verify_peer\n"
                "ssl_options.fail_if_no_peer_cert = true\n"
            )
        (self.home / "rabbitmq.conf").write_text(
            listeners + "management.tcp.ip = 127.0.0.1\n"
            f"management.tcp.port = {self.management_port}\n"
            "loopback_users.guest = true\n"
            "vm_memory_high_watermark.relative = 0.2\n"
            "disk_free_limit.absolute = 200MB\n"
        )
        _chown_to_rabbitmq(self.home)
        log = self.home / "start.log"
        with log.open("ab") as out:
            proc = await asyncio.create_subprocess_exec(
                "rabbitmq-server",
                "-detached",
                env=self.env(),
                stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
            await asyncio.wait_for(proc.wait(), 30)
        # await_startup fails at once until the node has registered with epmd: ask again
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if await self.answers():
                return
            await asyncio.sleep(0.5)  # polling pace of a deadline-bounded wait
        raise NodeError(f"{self.name} did not start within {within:.0f}s: see {self.home}/log")

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    async def kill(self) -> None:
        """``kill -9`` the node's Erlang VM and wait until it is gone."""
        pid = self.pid()
        if pid is None:
            raise NodeError(f"{self.name} has no pid file")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        await _gone(pid, within=10)

    async def stop(self) -> None:
        """Stop the node (gracefully, else kill -9); nothing to do when it is not running."""
        pid = self.pid()
        if pid is None or not _alive(pid):
            return
        with contextlib.suppress(NodeError, TimeoutError):
            await self.ctl("stop", within=60)
        if _alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        await _gone(pid, within=10)

    async def wipe(self) -> None:
        """Stop the node and delete its data: it boots as a brand-new, empty node."""
        await self.stop()
        shutil.rmtree(self.data, ignore_errors=True)

    async def add_vhost(self, vhost: str) -> None:
        await self.ctl("add_vhost", vhost)
        await self.ctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")

    async def delete_vhost(self, vhost: str) -> None:
        with contextlib.suppress(NodeError):
            await self.ctl("delete_vhost", vhost, within=60)

    async def leaders(self, vhost: str) -> dict[str, str]:
        """Each quorum queue of ``vhost`` and the node that leads it."""
        out = await self.ctl("list_queues", "-p", vhost, "name", "leader", "--formatter", "json")
        start = out.find("[")
        rows = orjson.loads(out[start:]) if start >= 0 else []
        return {r["name"]: r["leader"] for r in rows if r.get("leader")}


CLUSTER = tuple(
    Node(f"wcn{i}", amqp_port=5700 + i, management_port=15700 + i, dist_port=25700 + 10 * i)
    for i in (1, 2, 3)
)
SOLO = Node("wcsolo", amqp_port=5709, management_port=15709, dist_port=25790)
TLS = Node("wctls", amqp_port=5710, management_port=15710, dist_port=25800, amqps_port=5711)


class Cluster:
    """Three nodes joined into one cluster, every feature flag enabled."""

    def __init__(self, nodes: tuple[Node, ...] = CLUSTER) -> None:
        self.nodes = nodes

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    def urls(self, vhost: str = "/") -> str:
        """AMQP_URL for the product: every node, comma-separated."""
        return ",".join(n.url(vhost) for n in self.nodes)

    async def up(self) -> None:
        """Start the nodes (at once: three boots take ~30 s on 2 cores), join nodes 2 and 3
        to node 1 unless they are in its cluster already, enable every feature flag."""
        started = await asyncio.gather(*(n.start() for n in self.nodes), return_exceptions=True)
        for node, result in zip(self.nodes, started, strict=True):
            if isinstance(result, NodeError):
                # booting together after a stop, a node can give up syncing feature flags with
                # a peer still booting (3.10.8: incompatible_feature_flags, badmap) and exit;
                # once its peers run, it boots
                await node.start()
            elif isinstance(result, BaseException):
                raise result
        first, *others = self.nodes
        running = await self.running()
        for node in others:
            if node.name in running:
                continue
            await node.ctl("stop_app")
            try:
                await node.ctl("join_cluster", first.name)
            except NodeError:
                # it remembers another cluster (node 1 was wiped since): start it afresh
                await node.ctl("reset")
                await node.ctl("join_cluster", first.name)
            await node.ctl("start_app")
            await node.ctl("await_startup", "--timeout", "60", within=90)
        await first.ctl("enable_feature_flag", "all")
        running = await self.running()
        missing = {n.name for n in self.nodes} - running
        if missing:
            raise NodeError(f"not in the cluster after joining: {sorted(missing)}")

    async def running(self) -> set[str]:
        out = await self.nodes[0].ctl("cluster_status", "--formatter", "json")
        status = orjson.loads(out[out.find("{") :])
        return set(status.get("running_nodes", []))

    async def down(self) -> None:
        # the joined nodes first, the node the others joined last
        for node in reversed(self.nodes):
            await node.stop()


async def _run(args: list[str], *, within: float) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), within)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return 124, f"timed out after {within:.0f}s"
    return proc.returncode or 0, out.decode(errors="replace")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie is gone for our purposes
    with contextlib.suppress(OSError):
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    return True


async def _gone(pid: int, *, within: float) -> None:
    deadline = time.monotonic() + within
    while _alive(pid):
        if time.monotonic() > deadline:
            raise NodeError(f"process {pid} still alive after {within:.0f}s")
        await asyncio.sleep(0.1)  # polling pace of a deadline-bounded wait


def _chown_to_rabbitmq(path: Path) -> None:
    """Debian's wrappers run the node and rabbitmqctl as the rabbitmq user."""
    if os.geteuid() != 0:
        return
    with contextlib.suppress(KeyError, OSError):
        shutil.chown(path, "rabbitmq", "rabbitmq")
        for p in path.rglob("*"):
            shutil.chown(p, "rabbitmq", "rabbitmq")


def main(argv: list[str]) -> None:
    command = argv[0] if argv else "status"
    cluster = Cluster()
    if command == "up":
        asyncio.run(cluster.up())
        print(f"AMQP_URL={cluster.urls()}")
    elif command == "down":
        asyncio.run(cluster.down())
    elif command == "status":
        print(sorted(asyncio.run(cluster.running())))
    else:
        raise SystemExit("usage: python -m tests.support.rabbit_cluster up|down|status")


if __name__ == "__main__":
    main(sys.argv[1:])
