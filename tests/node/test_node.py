"""One real Kubernetes node (services/devstack/node.sh): containerd with runc, a kubelet,
kube-proxy, a CNI bridge and CoreDNS, with their own control plane, all inside one private PID +
mount + network namespace. The product image runs as pods with the chart's own security contexts
(non-root, read-only root file system, every capability dropped, RuntimeDefault seccomp), loaded
into the node's containerd without a registry; and after ``down`` nothing of it is left on the host.

The tests share one node (module scope): ``up`` takes about 20 s from built binaries."""

from __future__ import annotations

import asyncio
import glob
import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
import yaml  # type: ignore[import-untyped]
from pymongo import MongoClient

from tests.charts.kube import CHART
from tests.charts.kube import paths as kube_paths
from tests.conftest import AMQP_HOST, MONGODB_URL, wait_for
from tests.image.podman import image_built, image_ref
from tests.system import ROOT

NODE_SH = ROOT / "services" / "devstack" / "node.sh"
VALUES = ROOT / "charts" / "wavecom-notify" / "values.yaml"
# the kubelet would change the first ones without the namespace; the others are the network's
SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
    "net/ipv4/ip_forward",
    "net/ipv4/conf/all/route_localnet",
    "net/netfilter/nf_conntrack_max",
    "net/bridge/bridge-nf-call-iptables",
)
# what the node makes (inside its namespace) and must never appear in the host's
NODE_MARK = re.compile(r"KUBE-|CNI-|10\.244\.|10\.96\.|cni0")
HOST_PATHS = (
    "/var/lib/kubelet",
    "/var/lib/cni",
    "/var/lib/containerd",
    "/var/log/pods",
    "/var/log/containers",
    "/run/containerd",
    "/etc/kubernetes",
    "/etc/cni/net.d",
)

pytestmark = pytest.mark.slow
# the host's RabbitMQ and database (make stack), reached from pods at the node's IP through
# node.sh's NODE_HOST_PORTS bridges, and in the cluster through Services without selector
AMQP_PORT = int(AMQP_HOST.rsplit(":", 1)[1])
MONGODB_PORT = urlsplit(MONGODB_URL).port or 27017
NODE_IP = "10.244.0.1"


def run(*args: str, check: bool = True, timeout: float = 60, **kw: Any) -> str:
    res = subprocess.run(  # noqa: S603 - fixed tools and our own scripts
        list(args), capture_output=True, text=True, timeout=timeout, check=False, **kw
    )
    if check and res.returncode != 0:
        pytest.fail(f"{' '.join(args[:3])}… exited {res.returncode}: {res.stderr[-3000:]}")
    return str(res.stdout)


@dataclass(frozen=True)
class Paths:
    bin: Path
    kbin: Path
    kubeconfig: Path
    state: Path
    node: str
    cgroup_root: str
    missing: tuple[str, ...]


def node_paths() -> Paths:
    out = run("/bin/bash", str(NODE_SH), "paths")
    kv = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return Paths(
        bin=Path(kv["BIN"]),
        kbin=Path(kv["KBIN"]),
        kubeconfig=Path(kv["KUBECONFIG"]),
        state=Path(kv["STATE"]),
        node=kv["NODE"],
        cgroup_root=kv["CGROUP_ROOT"],
        missing=tuple(m for m in kv["MISSING"].split(",") if m),
    )


def iptables_lines() -> set[str]:
    lines: set[str] = set()
    for tool in ("iptables-save", "ip6tables-save"):
        if shutil.which(tool):
            lines |= {ln for ln in run(tool).splitlines() if NODE_MARK.search(ln)}
    return lines


def processes(marks: tuple[str, ...]) -> list[str]:
    """Command lines of the host's processes that mention one of ``marks``."""
    found = []
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            text = Path(cmdline).read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        if any(m in text for m in marks) and str(os.getpid()) != cmdline.split("/")[2]:
            found.append(text)
    return found


@dataclass(frozen=True)
class HostState:
    sysctls: dict[str, str]
    iptables: set[str]
    routes: set[str]
    links: set[str]
    netns: set[str]
    mounts: set[str]
    cgroups: set[str]
    paths: set[str]


def host_state(p: Paths) -> HostState:
    def sysctl(key: str) -> str:
        f = Path("/proc/sys") / key
        return f.read_text().strip() if f.exists() else "(absent)"

    mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    marks = (str(p.state), "kubelet", "containerd", "/run/netns", "cni")
    return HostState(
        sysctls={k: sysctl(k) for k in SYSCTLS},
        iptables=iptables_lines(),
        routes={
            ln
            for ln in run("ip", "route", "show", "table", "all").splitlines()
            if NODE_MARK.search(ln)
        },
        links={ln for ln in run("ip", "-o", "link").splitlines() if NODE_MARK.search(ln)},
        # containerd names the pods' network namespaces cni-…
        netns={n for n in os.listdir("/run/netns") if n.startswith("cni-")}
        if os.path.isdir("/run/netns")
        else set(),
        mounts={ln for ln in mounts if any(m in ln for m in marks)},
        # the kubelet's cgroups: under its own root, never a machine-wide kubepods
        cgroups={
            d
            for pattern in ("/sys/fs/cgroup/*/kubepods", "/sys/fs/cgroup/*" + p.cgroup_root)
            for d in glob.glob(pattern)
        },
        paths={f for f in HOST_PATHS if os.path.lexists(f)},
    )


@dataclass
class Node:
    paths: Paths
    image: str
    before: HostState

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        return run(
            str(self.paths.kbin / "kubectl"),
            "--kubeconfig",
            str(self.paths.kubeconfig),
            "--request-timeout=20s",
            *args,
            input=stdin,
            check=check,
        )

    def down(self) -> None:
        run("/bin/bash", str(NODE_SH), "down", timeout=120)

    def job(self, name: str, container: dict[str, Any]) -> None:
        """A Job of one container of the image, with the chart's pod and container security
        contexts and its /tmp emptyDir."""
        values = yaml.safe_load(VALUES.read_text())
        spec = {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "automountServiceAccountToken": False,
                        "securityContext": values["podSecurityContext"],
                        "volumes": [
                            {"name": "tmp", "emptyDir": {"sizeLimit": values["tmpSizeLimit"]}}
                        ],
                        "containers": [
                            {
                                "name": "main",
                                "image": self.image,
                                "imagePullPolicy": "Never",
                                "securityContext": values["securityContext"],
                                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - the pod's emptyDir,
                                **container,
                            }
                        ],
                    }
                },
            },
        }
        self.kubectl("apply", "-f", "-", stdin=json.dumps(spec))

    async def finished(self, name: str, within: float = 90) -> tuple[bool, str]:
        """Wait for the Job to succeed or fail; its outcome and its pod's log."""

        async def done() -> str | None:
            job = json.loads(
                await asyncio.to_thread(self.kubectl, "get", "job", name, "-o", "json")
            )
            status = job.get("status", {})
            if status.get("succeeded"):
                return "succeeded"
            if status.get("failed"):
                return "failed"
            return None

        try:
            outcome = await wait_for(
                done, within=within, interval=0.5, what=f"Job {name} to finish"
            )
        except BaseException:
            print(self.kubectl("describe", "pods", "-l", f"job-name={name}", check=False))
            raise
        log = self.kubectl("logs", f"job/{name}", check=False)
        return outcome == "succeeded", log


@pytest.fixture(scope="module")
def node() -> Iterator[Node]:
    if os.geteuid() != 0:
        pytest.skip("the node needs root (unshare, mounts, cgroups)")
    p = node_paths()
    if p.missing:
        pytest.skip(f"not built yet: {', '.join(p.missing)} (make node-build)")
    ref = image_ref()
    if not image_built(ref):
        pytest.skip(f"{ref} is not built: make image")
    # a node left running (make node) goes first, so that the host is seen without it
    run("/bin/bash", str(NODE_SH), "down", timeout=120)
    before = host_state(p)
    n = Node(p, ref, before)
    try:
        env = {**os.environ, "NODE_IMAGE": ref, "NODE_HOST_PORTS": f"{AMQP_PORT} {MONGODB_PORT}"}
        run("/bin/bash", str(NODE_SH), "up", timeout=300, env=env)
        yield n
    finally:
        n.down()


@pytest.mark.timeout(400)
async def test_the_image_runs_as_a_pod_with_the_charts_security_context(node: Node) -> None:
    ready = node.kubectl(
        "get",
        "node",
        node.paths.node,
        "-o",
        'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
    )
    assert ready == "True"
    name = f"operator-help-{uuid.uuid4().hex[:6]}"
    node.job(name, {"args": ["operator", "--help"]})
    ok, log = await node.finished(name)
    assert ok, log
    assert log.startswith("usage: python -m wavecom.operator"), log
    assert "--all-namespaces" in log


# run in a pod: cluster DNS and a ClusterIP answer; no name outside the cluster resolves and no
# address outside the node is routable (nothing leaves: the refusal happens before any packet)
NETWORK_PROBE = """
import errno, socket
print("dns", socket.gethostbyname("kubernetes.default.svc.cluster.local"))
socket.create_connection(("kubernetes.default.svc", 443), timeout=5).close()
print("service answers")
try:
    socket.gethostbyname("outside.invalid")
    print("outside name resolved")
except OSError:
    print("outside name refused")
s = socket.socket()
try:
    s.connect(("192.0.2.1", 80))
    print("egress open")
except OSError as e:
    print("egress", errno.errorcode.get(e.errno, e.errno))
"""


@pytest.mark.timeout(200)
async def test_cluster_dns_and_services_answer_and_nothing_leaves_the_node(node: Node) -> None:
    name = f"network-{uuid.uuid4().hex[:6]}"
    node.job(name, {"command": ["/opt/venv/bin/python", "-c", NETWORK_PROBE]})
    ok, log = await node.finished(name)
    assert ok, log
    assert "dns 10.96.0.1\n" in log, log
    assert "service answers" in log, log
    assert "outside name refused" in log, log
    assert "egress ENETUNREACH" in log, log


def service_without_selector(namespace: str, name: str, port: int) -> str:
    """A Service whose one endpoint is the node's IP (where node.sh bridges the host's port)."""
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                {
                    "apiVersion": "v1",
                    "kind": "Service",
                    "metadata": {"name": name, "namespace": namespace},
                    "spec": {"ports": [{"name": "tcp", "port": port}]},
                },
                {
                    "apiVersion": "discovery.k8s.io/v1",
                    "kind": "EndpointSlice",
                    "metadata": {
                        "name": f"{name}-host",
                        "namespace": namespace,
                        "labels": {"kubernetes.io/service-name": name},
                    },
                    "addressType": "IPv4",
                    "endpoints": [{"addresses": [NODE_IP]}],
                    "ports": [{"name": "tcp", "port": port, "protocol": "TCP"}],
                },
            ],
        }
    )


@pytest.mark.timeout(400)
async def test_helm_install_on_the_real_node(node: Node, vhost: str, database: str) -> None:
    """The chart's defaults with the image loaded (pullPolicy Never), KEDA off: the pre-install
    hook Job runs `admin setup` against the host's RabbitMQ and database (reached through Services
    without selector), and every pod (API, operator, the three workers) passes its startup and
    readiness probes with the chart's security contexts; uninstall removes them."""
    ns = f"wavecom-{uuid.uuid4().hex[:6]}"
    node.kubectl("create", "namespace", ns)
    node.kubectl("apply", "-f", "-", stdin=service_without_selector(ns, "rabbitmq", AMQP_PORT))
    node.kubectl("apply", "-f", "-", stdin=service_without_selector(ns, "mongodb", MONGODB_PORT))
    repo, tag = node.image.rsplit(":", 1)
    values = {
        "image": {"repository": repo, "tag": tag, "pullPolicy": "Never"},
        "secrets": {
            "amqpUrl": f"amqp://guest:guest@rabbitmq:{AMQP_PORT}/{quote(vhost, safe='')}",
            "mongodbUrl": f"mongodb://mongodb:{MONGODB_PORT}/",
        },
        "keda": {"enabled": False},
        "config": {"environment": "test", "mongodbDatabase": database},
    }
    helm = [str(kube_paths().tool("helm")), "--kubeconfig", str(node.paths.kubeconfig), "-n", ns]
    try:
        run(
            *helm,
            "install",
            "wavecom",
            str(CHART),
            "-f",
            "-",
            "--wait",
            "--timeout",
            "240s",
            input=json.dumps(values),
            timeout=300,
        )
        pods = [
            p
            for p in json.loads(node.kubectl("get", "pods", "-n", ns, "-o", "json"))["items"]
            # the hook Job's pod may linger while its Job (hook-succeeded) is deleted
            if p["metadata"].get("ownerReferences", [{}])[0].get("kind") != "Job"
        ]
        components = sorted(p["metadata"]["labels"]["app.kubernetes.io/component"] for p in pods)
        assert components == ["api", "api", "operator", "worker-email", "worker-push", "worker-sms"]
        for pod in pods:
            (status,) = pod["status"]["containerStatuses"]
            assert status["ready"], pod["metadata"]["name"]
            assert status["restartCount"] == 0, pod["metadata"]["name"]
            assert pod["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"]
        # the hook's `admin setup` made the indexes in the test's database
        client: MongoClient[dict[str, Any]] = MongoClient(
            MONGODB_URL, serverSelectionTimeoutMS=5000
        )
        try:
            assert len(client[database]["notifications"].index_information()) > 1
        finally:
            client.close()
        run(*helm, "uninstall", "wavecom", "--wait", "--timeout", "120s", timeout=180)

        # the pods drain on SIGTERM (their grace period), then go
        async def gone() -> bool:
            out = await asyncio.to_thread(node.kubectl, "get", "pods", "-n", ns, "-o", "json")
            return not json.loads(out)["items"]

        await wait_for(gone, within=150, interval=1, what="the release's pods to be gone")
    except BaseException:
        print(node.kubectl("get", "pods,jobs,events", "-n", ns, check=False))
        raise


@pytest.mark.timeout(200)
def test_down_leaves_nothing_on_the_host(node: Node) -> None:
    node.down()
    after = host_state(node.paths)
    assert after == node.before
    marks = (str(node.paths.state), str(node.paths.bin), "node.sh inner", "node.sh forward")
    assert processes(marks) == []
