"""One real Kubernetes node (services/devstack/node.sh): containerd with runc, a kubelet,
kube-proxy, a CNI bridge and CoreDNS, with their own control plane, all inside one private PID +
mount + network namespace. The product image runs as pods with the chart's own security contexts
(non-root, read-only root file system, every capability dropped, RuntimeDefault seccomp), loaded
into the node's containerd without a registry; and after ``down`` nothing of it is left on the host.

The chart goes on it with ci/production-values.yaml (ENVIRONMENT production, KEDA, the operator,
monitoring and NetworkPolicies on), installed once and used by every check after it: the hook,
probes and security contexts, the operator's accounts; notifications created through the API's
Service and delivered by the worker pods to a fake webhook gateway the test runs in the node's
network namespace (its ledger: each exactly once); KEDA's real operator and adapter (node.sh runs
them in the namespace) scaling the SMS workers up on a backlog and down again while the removed
pods drain; `helm upgrade` under load; `helm uninstall`. docs/kubernetes-node.md says what each
shows and what it cannot (NetworkPolicies are not enforced by the bridge CNI plugin).

The tests share one node (module scope): ``up`` takes about 20 s from built binaries."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
import yaml  # type: ignore[import-untyped]
from bson import ObjectId
from pymongo import MongoClient

from tests.charts.kube import CHART
from tests.charts.kube import paths as kube_paths
from tests.image.podman import image_built, image_ref
from tests.support.notifications import email, push, sms
from tests.support.services import (
    AMQP_HOST,
    MANAGEMENT_URL,
    MONGODB_URL,
    create_vhost,
    delete_vhost,
    drop_database,
)
from tests.support.system import ROOT
from tests.support.wait import wait_for
from wavecom.core.constants import PROVIDER_ACCOUNTS

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
# RabbitMQ's management API, for KEDA's operator (a process of the node's namespace)
MANAGEMENT_PORT = urlsplit(MANAGEMENT_URL).port or 15672
NODE_IP = "10.244.0.1"
# the fake webhook gateway: on the node's IP inside its namespace, SMS answered after 1.5 s (a
# worker holding 2 a lane then sends 1.33 a second: the backlog outlasts the new pods' start)
GATEWAY_PORT = 18100
SMS_DELAY_S = 1.5
WEBHOOK_SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
CREDENTIALS_KEY = base64.b64encode(bytes(range(32, 64))).decode()
CHANNELS = ("email", "sms", "push")
# KEDA on the SMS workers: 20 messages a replica, at most 4, a 10 s scale-down window
KEDA_VALUE = 20
KEDA_MAX = 4
KEDA_WINDOW_S = 10
KEDA_BACKLOG = 160
TRICKLE_RATE = 1  # SMS a second while KEDA scales down (one worker keeps up)
# a send's timeout (the accounts' and PROVIDER_TIMEOUT_S), below SHUTDOWN_GRACE_S (20 s): the
# pods run at small CPU weight beside the rest of a shared 2-core machine, and with 5 s a send
# the gateway had received timed out in a starved worker during the upgrade's restarts, so the
# product retried it as a new attempt and the gateway received it twice (a timed-out send is
# ambiguous: the product sends exactly once per attempt, not per notification)
SEND_TIMEOUT_S = 15


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
    keda = [k for k in ("keda-operator", "keda-adapter", "share") if k in kube_paths().missing]
    if keda:
        pytest.skip(f"KEDA is not built yet: {', '.join(keda)} (make kube)")
    ref = image_ref()
    if not image_built(ref):
        pytest.skip(f"{ref} is not built: make image")
    # a node left running (make node) goes first, so that the host is seen without it
    run("/bin/bash", str(NODE_SH), "down", timeout=120)
    before = host_state(p)
    n = Node(p, ref, before)
    try:
        ports = f"{AMQP_PORT} {MONGODB_PORT} {MANAGEMENT_PORT}"
        env = {**os.environ, "NODE_IMAGE": ref, "NODE_HOST_PORTS": ports, "NODE_KEDA": "1"}
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
    """A Service whose one endpoint is the node's IP (where node.sh bridges the host's port, or
    where the test's fake gateway listens inside the node's namespace)."""
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


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, key by key (dicts recursively)."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def ns_pid(node: Node) -> str:
    return (node.paths.state / "ns.pid").read_text().strip()


# --- the fake provider: a webhook gateway inside the node's network namespace -------------------


@dataclass
class Gateway:
    """tests/node/gateway.py run inside the node's network namespace on ``NODE_IP:GATEWAY_PORT``
    (``nsenter -n``; the pods reach it through a Service without selector): its ledger."""

    ledger: Path
    process: subprocess.Popen[str]

    def received(self) -> list[dict[str, Any]]:
        text = self.ledger.read_text()
        return [json.loads(ln) for ln in text.splitlines() if ln.strip()]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@pytest.fixture(scope="module")
def gateway(node: Node) -> Iterator[Gateway]:
    where = Path(tempfile.mkdtemp(prefix="wcn-gateway-"))
    ledger = where / "ledger.jsonl"
    ledger.touch()
    nsenter = shutil.which("nsenter")
    assert nsenter, "nsenter (util-linux) is missing"
    proc = subprocess.Popen(  # noqa: S603 - fixed tools and our own module
        [
            nsenter,
            "-t",
            ns_pid(node),
            "-n",
            sys.executable,
            "-m",
            "tests.node.gateway",
            "--listen",
            f"{NODE_IP}:{GATEWAY_PORT}",
            "--ledger",
            str(ledger),
            "--secret",
            WEBHOOK_SECRET,
            "--delay",
            f"/hooks/sms={SMS_DELAY_S}",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    gw = Gateway(ledger, proc)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # its first line, or "" if it died
        assert first.startswith("listening"), first + proc.stdout.read()
        yield gw
    finally:
        gw.stop()
        shutil.rmtree(where, ignore_errors=True)


# --- the production value set, installed once for the checks below -------------------------------

RELEASE = "notify"
PROVIDER_SECRET_LABEL = {"notify.wavecom.io/provider-credentials": "true"}


@dataclass
class Production:
    """The chart installed with ci/production-values.yaml on the node."""

    node: Node
    ns: str
    vhost: str
    database: str
    values: dict[str, Any]
    before: set[str]  # the namespace's objects before the install (the test's own)
    install_s: float
    uninstalled: bool = False

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        return self.node.kubectl("-n", self.ns, *args, stdin=stdin, check=check)

    def helm(self, *args: str, stdin: str | None = None, timeout: float = 360) -> str:
        helm = str(kube_paths().tool("helm"))
        kc = str(self.node.paths.kubeconfig)
        return run(helm, "--kubeconfig", kc, "-n", self.ns, *args, input=stdin, timeout=timeout)

    def pods(self, component: str | None = None) -> list[dict[str, Any]]:
        """The release's pods (of one component), not the hook Job's."""
        selector = f"app.kubernetes.io/instance={RELEASE}"
        if component:
            selector += f",app.kubernetes.io/component={component}"
        items = json.loads(self.kubectl("get", "pods", "-l", selector, "-o", "json"))["items"]
        return [
            p
            for p in items
            if p["metadata"].get("ownerReferences", [{}])[0].get("kind") != "Job"
            and p["metadata"]["labels"].get("app.kubernetes.io/component") != "setup"
        ]

    def replicas(self) -> dict[str, int]:
        """Channel -> its worker Deployment's replicas (as KEDA's HPA sets them)."""
        items = json.loads(
            self.kubectl(
                "get", "deployments", "-l", f"app.kubernetes.io/instance={RELEASE}", "-o", "json"
            )
        )["items"]
        return {
            d["metadata"]["labels"]["wavecom.example/channel"]: d["spec"].get("replicas", 1)
            for d in items
            if "wavecom.example/channel" in d["metadata"]["labels"]
        }

    def api_service(self) -> tuple[str, str, int]:
        """The API Service: its name, ClusterIP and HTTP port."""
        svc = json.loads(
            self.kubectl("get", "svc", "-l", "app.kubernetes.io/component=api", "-o", "json")
        )["items"][0]
        port = next(p["port"] for p in svc["spec"]["ports"] if p["name"] == "http")
        return svc["metadata"]["name"], svc["spec"]["clusterIP"], port

    def api_key(self) -> str:
        """A new API key (send, read) made by `admin keys create` in an API pod."""
        name = self.api_service()[0]
        out = self.kubectl(
            "exec",
            f"deploy/{name}",
            "--",
            "/opt/venv/bin/python",
            "-m",
            "wavecom.admin",
            "keys",
            "create",
            "--tenant",
            "node",
            "--scope",
            "send,read",
            "--quiet",
        )
        return out.strip().splitlines()[-1]

    def objects(self) -> set[str]:
        """Every object in the namespace (kind/name) but events and leases."""
        kinds = [
            k
            for k in self.node.kubectl(
                "api-resources", "--verbs=list", "--namespaced", "-o", "name"
            ).split()
            if k.split(".")[0] not in ("events", "leases")
        ]
        out = self.kubectl("get", ",".join(kinds), "-o", "name", "--ignore-not-found")
        return set(out.split())


def production_values(node: Node, database: str) -> dict[str, Any]:
    """ci/production-values.yaml with only what one 2-core node, a registry-less image and the
    test's timing need changed: the loaded image (pullPolicy Never); small CPU requests and two
    API replicas (its HPA and PDB kept) so that every pod, and KEDA's extra SMS workers, fit on
    the node; the SMS workers take 2 messages at a time from each lane and KEDA targets 20 a
    replica, at most 4, polled every 2 s with a 10 s scale-down window (production: 500 a
    replica, 15 s polls, a 300 s window); no OTLP collector (there is none on the node); the
    gateway's port admitted by the workers' egress policy; sends time out after SEND_TIMEOUT_S."""
    prod = yaml.safe_load((CHART / "ci" / "production-values.yaml").read_text())
    repo, tag = node.image.rsplit(":", 1)
    small = {"requests": {"cpu": "50m", "memory": "128Mi"}}
    return merged(
        prod,
        {
            "image": {"repository": repo, "tag": tag, "pullPolicy": "Never"},
            "config": {"mongodbDatabase": database, "providerTimeoutS": SEND_TIMEOUT_S},
            "api": {
                "replicas": 2,
                "hpa": {"minReplicas": 2, "maxReplicas": 2},
                "pdb": {"minAvailable": 1},
                "resources": small,
            },
            "workers": {
                "email": {"resources": small},
                "sms": {
                    "resources": small,
                    "prefetch": 2,
                    "batchSize": 2,
                    "keda": {"value": KEDA_VALUE, "maxReplicaCount": KEDA_MAX},
                },
                "push": {"resources": small, "keda": {"minReplicaCount": 1}},
            },
            "operator": {"resources": small},
            "callbacks": {"resources": small},
            "keda": {
                "pollingInterval": 2,
                "scaleDownStabilizationSeconds": KEDA_WINDOW_S,
                "scaleDownPercentPerMinute": 100,
            },
            "tracing": {"otlpEndpoint": ""},
            # the gateway's port beside the providers' usual ones, so that the values would
            # hold under an enforcing network plugin too (this node's does not enforce)
            "networkPolicy": {"providerPorts": [25, 465, 587, 443, GATEWAY_PORT]},
        },
    )


def provider_manifests(ns: str) -> str:
    """One webhook account per channel, each a NotificationProvider and its labelled Secret,
    pointing at the fake gateway through the Service ``provider-gateway``."""
    items: list[dict[str, Any]] = []
    for channel in CHANNELS:
        items.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": f"gateway-{channel}",
                    "namespace": ns,
                    "labels": PROVIDER_SECRET_LABEL,
                },
                "stringData": {"secret": WEBHOOK_SECRET},
            }
        )
        items.append(
            {
                "apiVersion": "notify.wavecom.io/v1alpha1",
                "kind": "NotificationProvider",
                "metadata": {"name": f"gateway-{channel}", "namespace": ns},
                "spec": {
                    "channel": channel.upper(),
                    "driver": "webhook",
                    "priority": 10,
                    "sendRatePerSecond": 0,
                    "timeoutSeconds": SEND_TIMEOUT_S,
                    "settings": {
                        "url": f"http://provider-gateway.{ns}.svc:{GATEWAY_PORT}/hooks/{channel}"
                    },
                    "credentialsSecretRef": {"name": f"gateway-{channel}"},
                },
            }
        )
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


@pytest.fixture(scope="module")
def production(node: Node, gateway: Gateway) -> Iterator[Production]:
    """`helm install --wait` of ci/production-values.yaml (ENVIRONMENT production: no mock
    account; KEDA, the operator, ServiceMonitors, the PrometheusRule, the dashboards and the
    NetworkPolicies on) with the few changes `production_values` names; the Secret it names
    (`existingSecret`) made first, with the host's RabbitMQ and database reached through Services
    without selector, and one webhook NotificationProvider per channel applied before the
    install so that the workers are ready once the operator has stored them."""
    vhost = create_vhost("wavecom-node")
    database = f"wavecom_node_{uuid.uuid4().hex[:10]}"
    ns = f"wavecom-{uuid.uuid4().hex[:6]}"
    node.kubectl("create", "namespace", ns)
    for name, port in (
        ("rabbitmq", AMQP_PORT),
        ("mongodb", MONGODB_PORT),
        ("provider-gateway", GATEWAY_PORT),
    ):
        node.kubectl("apply", "-f", "-", stdin=service_without_selector(ns, name, port))
    node.kubectl(
        "apply",
        "-f",
        "-",
        stdin="apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n"
        "  name: wavecom-notify\nvalue: 100000\nglobalDefault: false\n",
    )
    v = quote(vhost, safe="")
    node.kubectl(
        "-n",
        ns,
        "create",
        "secret",
        "generic",
        "wavecom-notify-connections",
        f"--from-literal=AMQP_URL=amqp://guest:guest@rabbitmq:{AMQP_PORT}/{v}",
        f"--from-literal=MONGODB_URL=mongodb://mongodb:{MONGODB_PORT}/",
        # KEDA's operator is a process of the node's namespace, not a pod: no cluster DNS
        f"--from-literal=RABBITMQ_MANAGEMENT_URL=http://guest:guest@{NODE_IP}:{MANAGEMENT_PORT}/{v}",
        f"--from-literal=CREDENTIALS_KEY={CREDENTIALS_KEY}",
    )
    # the CRD first (helm would install it from crds/ and leaves an existing one alone), so that
    # the providers exist when the operator starts
    node.kubectl("apply", "-f", str(CHART / "crds"))
    run(
        str(node.paths.kbin / "kubectl"),
        "--kubeconfig",
        str(node.paths.kubeconfig),
        "wait",
        "--for",
        "condition=Established",
        "--timeout",
        "30s",
        "crd/notificationproviders.notify.wavecom.io",
    )
    node.kubectl("apply", "-f", "-", stdin=provider_manifests(ns))
    p = Production(node, ns, vhost, database, production_values(node, database), set(), 0.0)
    p.before = p.objects()
    start = time.monotonic()
    try:
        p.helm(
            "install",
            RELEASE,
            str(CHART),
            "-f",
            "-",
            "--wait",
            "--timeout",
            "300s",
            stdin=json.dumps(p.values),
        )
        p.install_s = time.monotonic() - start
        print(f"helm install --wait of the production set: {p.install_s:.1f} s")
        yield p
    except BaseException:
        print(p.kubectl("get", "pods,jobs,events", check=False))
        raise
    finally:
        if not p.uninstalled:
            p.kubectl("delete", "notificationproviders", "--all", "--wait=false", check=False)
            run(
                str(kube_paths().tool("helm")),
                "--kubeconfig",
                str(node.paths.kubeconfig),
                "-n",
                ns,
                "uninstall",
                RELEASE,
                "--wait",
                "--timeout",
                "120s",
                check=False,
                timeout=180,
            )
        delete_vhost(vhost)
        drop_database(database)


def mongo() -> MongoClient[dict[str, Any]]:
    return MongoClient(MONGODB_URL, serverSelectionTimeoutMS=5000)


# run in a container: uid, gid, effective capabilities, no_new_privs, seccomp mode; then a write
# to the root file system (its errno)
KERNEL_VIEW = """
import os
lines = open("/proc/self/status").read().splitlines()
st = dict(ln.split(":\\t", 1) for ln in lines if ":\\t" in ln)
keys = ("CapEff", "NoNewPrivs", "Seccomp")
print(os.getuid(), os.getgid(), *(st[k].strip() for k in keys))
try:
    open("/probe", "w")
except OSError as e:
    print("root", e.errno)
"""


def kernel_view(p: Production, pod: str) -> list[str]:
    """What the kernel applies to the pod's running container (KERNEL_VIEW's lines)."""
    out = p.kubectl("exec", pod, "--", "/opt/venv/bin/python", "-c", KERNEL_VIEW)
    return out.splitlines()


def keda_and_monitoring_accepted(p: Production) -> None:
    """KEDA made every ScaledObject Ready with its HPA; the monitoring objects and the
    NetworkPolicies are there (accepted by the API server)."""
    scaled = json.loads(p.kubectl("get", "scaledobjects", "-o", "json"))["items"]
    assert len(scaled) == len(CHANNELS)
    for so in scaled:
        ready = next(c for c in so["status"]["conditions"] if c["type"] == "Ready")
        assert ready["status"] == "True", so["metadata"]["name"]
    hpas = json.loads(p.kubectl("get", "hpa", "-o", "json"))["items"]
    assert {h["metadata"]["name"] for h in hpas} >= {so["status"]["hpaName"] for so in scaled}
    # monitoring and policies: accepted by the API server (the policies are not enforced here:
    # Debian's bridge CNI plugin has no policy engine; docs/kubernetes-node.md)
    assert len(p.kubectl("get", "servicemonitors", "-o", "name").split()) >= 3
    assert len(p.kubectl("get", "prometheusrules", "-o", "name").split()) == 1
    assert p.kubectl("get", "configmaps", "-l", "grafana_dashboard=1", "-o", "name").split()
    assert p.kubectl("get", "networkpolicies", "-o", "name").split()


@pytest.mark.timeout(420)
async def test_the_production_set_installs_and_every_pod_passes_its_probes(
    production: Production,
) -> None:
    """The pre-install hook Job ran (`admin setup`), every pod is ready with its startup,
    readiness and liveness probes and the chart's security contexts (checked in the running
    container: uid 10001, no capability, no new privileges, seccomp on, a read-only root), the
    operator stored each NotificationProvider as an account with sealed credentials, KEDA took
    every ScaledObject, and the monitoring objects and NetworkPolicies were accepted."""
    p = production
    pods = p.pods()
    components = Counter(x["metadata"]["labels"]["app.kubernetes.io/component"] for x in pods)
    deployments = json.loads(
        p.kubectl("get", "deployments", "-l", f"app.kubernetes.io/instance={RELEASE}", "-o", "json")
    )["items"]
    # one pod per replica of every Deployment the chart rendered, the API's two among them
    assert components == Counter(
        {
            d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]: d["spec"][
                "replicas"
            ]
            for d in deployments
        }
    )
    assert components["api"] == 2
    assert {"operator", "worker-email", "worker-sms", "worker-push"} <= set(components)
    values = yaml.safe_load(VALUES.read_text())
    for pod in pods:
        name = pod["metadata"]["name"]
        (status,) = pod["status"]["containerStatuses"]
        assert status["ready"], name
        assert status["restartCount"] == 0, name
        (container,) = pod["spec"]["containers"]
        probes = {k for k in ("startupProbe", "readinessProbe", "livenessProbe") if k in container}
        component = pod["metadata"]["labels"]["app.kubernetes.io/component"]
        want = (
            {"livenessProbe"}
            if component == "operator"
            else {
                "startupProbe",
                "readinessProbe",
                "livenessProbe",
            }
        )
        assert probes == want, (name, probes)
        assert container["securityContext"] == values["securityContext"], name
        assert pod["spec"]["securityContext"] == values["podSecurityContext"], name
    # the security context as the kernel applies it, in a running worker
    (worker,) = p.pods("worker-email")
    seen = kernel_view(p, worker["metadata"]["name"])
    assert seen[0] == "10001 10001 0000000000000000 1 2", seen
    assert seen[1] == "root 30", seen  # EROFS

    # the pre-install hook Job ran to completion (then deleted, hook-succeeded), before the pods
    events = json.loads(p.kubectl("get", "events", "-o", "json"))["items"]
    hook = [
        e
        for e in events
        if e["involvedObject"]["kind"] == "Job"
        and e["involvedObject"]["name"].endswith("-setup")
        and e["reason"] == "Completed"
    ]
    assert hook, [(e["involvedObject"]["name"], e["reason"]) for e in events][:40]
    client = mongo()
    try:
        db = client[p.database]
        assert len(db["notifications"].index_information()) > 1
        # the operator stored every provider, credentials sealed
        accounts = list(db[PROVIDER_ACCOUNTS].find({"source": {"$regex": f"^kubernetes:{p.ns}/"}}))
    finally:
        client.close()
    assert sorted(a["source"] for a in accounts) == [
        f"kubernetes:{p.ns}/gateway-{c}" for c in sorted(CHANNELS)
    ]
    for a in accounts:
        assert a["driver"] == "webhook"
        assert WEBHOOK_SECRET not in json.dumps(a, default=str)
    nprovs = json.loads(p.kubectl("get", "notificationproviders", "-o", "json"))["items"]
    for n in nprovs:
        ready = next(c for c in n["status"]["conditions"] if c["type"] == "Ready")
        assert (ready["status"], ready["reason"]) == ("True", "Applied"), n["metadata"]["name"]

    keda_and_monitoring_accepted(p)
    print(f"production install: {p.install_s:.1f} s")


@contextlib.contextmanager
def service_socket(node: Node, ip: str, port: int) -> Iterator[str]:
    """A Unix socket on the host forwarded to ``ip:port`` inside the node's network namespace
    (one socat entered with ``nsenter -n``: a fresh connection to the Service per client
    connection, balanced by kube-proxy as a pod's would be); its path."""
    where = Path(tempfile.mkdtemp(prefix="wcn-svc-"))
    sock = where / "api.sock"
    nsenter = shutil.which("nsenter")
    assert nsenter, "nsenter (util-linux) is missing"
    forward = subprocess.Popen(  # noqa: S603 - fixed tools
        [
            nsenter,
            "-t",
            ns_pid(node),
            "-n",
            shutil.which("socat") or "/usr/bin/socat",
            f"UNIX-LISTEN:{sock},fork,unlink-early",
            f"TCP:{ip}:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield str(sock)
    finally:
        forward.terminate()
        try:
            forward.wait(timeout=10)
        except subprocess.TimeoutExpired:
            forward.kill()
            forward.wait(timeout=10)
        shutil.rmtree(where, ignore_errors=True)


@contextlib.asynccontextmanager
async def api_client(p: Production, deadline_s: float = 10.0) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the API's Service (through ``service_socket``), with a new key; no
    keep-alive: each request its own connection through the Service, as a client behind a load
    balancer would see a rollout."""
    _, ip, port = p.api_service()
    key = await asyncio.to_thread(p.api_key)
    with service_socket(p.node, ip, port) as sock:
        transport = httpx.AsyncHTTPTransport(
            uds=sock, limits=httpx.Limits(max_keepalive_connections=0)
        )
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://api",
            headers={"X-API-Key": key},
            timeout=deadline_s,
        ) as http:
            yield http


@dataclass
class Answer:
    status: int | None  # None: no answer (a transport error or the deadline)
    nid: str | None = None
    error: str = ""
    envelope: bool = False


async def create(
    http: httpx.AsyncClient, body: dict[str, Any], answers: list[Answer], deadline_s: float
) -> None:
    """One create with a deadline; its answer (or none) appended to ``answers``."""
    try:
        r = await asyncio.wait_for(http.post("/api/notifications", json=body), deadline_s)
    except (httpx.HTTPError, TimeoutError) as e:
        answers.append(Answer(None, error=f"{type(e).__name__}: {e}"))
        return
    parsed: Any = None
    with contextlib.suppress(ValueError):
        parsed = r.json()
    if r.status_code == 201:
        answers.append(Answer(201, nid=parsed["data"]["_id"]))
    else:
        envelope = isinstance(parsed, dict) and parsed.get("success") is False
        answers.append(Answer(r.status_code, error=r.text[:200], envelope=envelope))


async def batch(http: httpx.AsyncClient, items: list[dict[str, Any]]) -> list[str]:
    """Create ``items``; a 503 OVERLOADED (the production values' admission control on a busy
    node: nothing of the batch was stored) is sent again after its Retry-After, as a client
    should, a bounded number of times."""
    for _ in range(20):
        r = await http.post("/api/notifications/batch", json={"notifications": items})
        if r.status_code != 503 or r.json()["error"]["code"] != "OVERLOADED":
            break
        await asyncio.sleep(float(r.headers["retry-after"]))  # the API's pace, not a wait
    assert r.status_code == 201, r.text
    return [x["data"]["_id"] for x in r.json()["data"]["results"]]


async def all_sent(p: Production, ids: list[str], within: float) -> None:
    """Wait until every one of ``ids`` is SENT in the database."""
    oids = [ObjectId(i) for i in ids]

    def count() -> int:
        client = mongo()
        try:
            return int(
                client[p.database]["notifications"].count_documents(
                    {"_id": {"$in": oids}, "status": "SENT"}
                )
            )
        finally:
            client.close()

    async def done() -> bool:
        return await asyncio.to_thread(count) == len(oids)

    await wait_for(done, within=within, interval=1, what=f"{len(ids)} notifications to be SENT")


def sends(gw: Gateway) -> Counter[str]:
    """Notification id -> how many times the gateway received it."""
    return Counter(r["notificationId"] for r in gw.received())


def assert_each_once(p: Production, gw: Gateway, ids: list[str]) -> None:
    """The gateway received each of ``ids`` exactly once (a failure shows every receipt of each
    id received more than once or never: attempt, sender pod, time; and what the database
    recorded of its attempts)."""
    got = sends(gw)
    wrong = {n: got[n] for n in ids if got[n] != 1}
    if wrong:
        detail = [str(r) for r in gw.received() if r["notificationId"] in wrong]
        client = mongo()
        try:
            for doc in client[p.database]["notifications"].find(
                {"_id": {"$in": [ObjectId(n) for n in list(wrong)[:5]]}}
            ):
                doc.pop("message", None)
                doc.pop("recipient", None)
                detail.append(json.dumps(doc, default=str)[:3000])
        finally:
            client.close()
        pytest.fail(f"not received exactly once: {wrong}\n" + "\n".join(detail[:60]))


@pytest.mark.timeout(200)
async def test_notifications_through_the_api_service_are_delivered_once_by_the_worker_pods(
    production: Production, gateway: Gateway
) -> None:
    """Creates through the API's Service (kube-proxy's ClusterIP), every channel: each is SENT,
    received by the fake gateway exactly once, on its channel's path, from a pod of that
    channel's worker Deployment (the gateway sees the pod's IP)."""
    p = production
    items = [email(i) for i in range(10)] + [sms(i) for i in range(4)] + [push(i) for i in range(6)]
    async with api_client(p) as http:
        ids = await batch(http, items)
        singles: list[Answer] = []
        for i in range(3):
            await create(http, email(100 + i), singles, 10)
    assert [a.status for a in singles] == [201] * 3, singles
    ids += [a.nid for a in singles if a.nid]
    await all_sent(p, ids, within=90)
    channel_of = dict(zip(ids, [it["type"].lower() for it in items] + ["email"] * 3, strict=True))
    worker_ips = {ch: {x["status"]["podIP"] for x in p.pods(f"worker-{ch}")} for ch in CHANNELS}
    assert_each_once(p, gateway, ids)
    got = [r for r in gateway.received() if r["notificationId"] in channel_of]
    for r in got:
        ch = channel_of[r["notificationId"]]
        assert r["path"] == f"/hooks/{ch}", r
        assert r["peer"] in worker_ips[ch], (r, worker_ips)
        assert r["idempotencyKey"] == f"{r['notificationId']}:{r['attempt']}", r


class Watch:
    """Poll the worker Deployments' replicas and the SMS worker pods, remembering what was seen."""

    def __init__(self, p: Production) -> None:
        self.p = p
        self.seen: dict[str, set[int]] = {}
        self.sms_pods: dict[str, str] = {}  # pod name -> IP, every SMS worker pod seen with one

    async def now(self) -> dict[str, int]:
        r = await asyncio.to_thread(self.p.replicas)
        for ch, n in r.items():
            self.seen.setdefault(ch, set()).add(n)
        await self.sms()
        return r

    async def sms(self) -> list[dict[str, Any]]:
        """The SMS worker pods now, each one with an IP remembered."""
        pods: list[dict[str, Any]] = await asyncio.to_thread(self.p.pods, "worker-sms")
        for pod in pods:
            if pod["status"].get("podIP"):
                self.sms_pods[pod["metadata"]["name"]] = pod["status"]["podIP"]
        return pods

    async def at(self, want: dict[str, int]) -> bool:
        now = await self.now()
        return all(now.get(ch) == n for ch, n in want.items())

    def ips(self, names: set[str]) -> set[str]:
        return {self.sms_pods[n] for n in names}


def ready(pods: list[dict[str, Any]]) -> int:
    return sum(
        1
        for x in pods
        if not x["metadata"].get("deletionTimestamp")
        and x["status"].get("containerStatuses", [{}])[0].get("ready")
    )


async def all_sms_pods_ready(p: Production, watch: Watch) -> None:
    """Wait for KEDA_MAX ready SMS worker pods, remembering each one as it gets its IP (KEDA may
    take one away again as soon as the queue is empty, before the backlog's last sends are
    answered); on a failure: the pods, described."""

    async def all_ready() -> bool:
        return ready(await watch.sms()) == KEDA_MAX

    try:
        await wait_for(all_ready, within=120, interval=1, what=f"{KEDA_MAX} SMS worker pods ready")
    except BaseException:
        print(p.kubectl("get", "pods", "-o", "wide", check=False))
        print(p.kubectl("describe", "pods", "-l", "wavecom.example/channel=sms", check=False))
        raise


@pytest.mark.timeout(400)
async def test_keda_scales_the_backlogged_channel_up_and_down_and_the_removed_pods_drain(
    production: Production, gateway: Gateway
) -> None:
    """KEDA's real operator and metrics adapter on the node, the real HPA controller, real
    worker pods. A backlog of SMS (the gateway answers SMS after 1.5 s; a worker holds 2 a lane)
    scales the SMS workers 1 -> 4 (20 a replica, at most 4) while email and push stay at 1; the
    new pods deliver part of it (the gateway sees their IPs); once drained, and after the 10 s
    scale-down window, KEDA takes the SMS workers back to 1 while SMS keep coming (1/s): the
    removed pods drain on SIGTERM, so every notification of the backlog and of the trickle is
    SENT and the gateway received each exactly once (nothing lost, nothing sent again)."""
    p = production
    watch = Watch(p)
    await wait_for(
        lambda: watch.at(dict.fromkeys(CHANNELS, 1)),
        within=60,
        interval=1,
        what="every channel's workers at minReplicaCount",
    )
    first = set(watch.sms_pods)
    loop = asyncio.get_running_loop()
    async with api_client(p) as http:
        start = loop.time()
        backlog = await batch(http, [sms(1000 + i) for i in range(KEDA_BACKLOG)])
        await wait_for(
            lambda: watch.at({"sms": KEDA_MAX}),
            within=120,
            interval=1,
            what=f"KEDA to scale the SMS workers to {KEDA_MAX}",
        )
        scaled_at = loop.time() - start
        await all_sms_pods_ready(p, watch)
        await all_sent(p, backlog, within=180)
        drained_at = loop.time() - start
        await watch.now()
        assert watch.seen["email"] == {1}, watch.seen
        assert watch.seen["push"] == {1}, watch.seen
        peers = {r["peer"] for r in gateway.received() if r["notificationId"] in set(backlog)}
        new_pods = watch.ips(set(watch.sms_pods) - first)
        assert len(peers & new_pods) >= 2, (peers, watch.sms_pods, first)

        # the trickle while KEDA scales down: 1 SMS a second, until back at 1 and every removed
        # pod gone
        answers: list[Answer] = []
        tasks: set[asyncio.Task[None]] = set()
        t0 = loop.time()
        down_at: float | None = None
        i = 0
        while True:
            i += 1
            await asyncio.sleep(max(0.0, t0 + i / TRICKLE_RATE - loop.time()))  # pace
            tasks.add(asyncio.create_task(create(http, sms(5000 + i), answers, 10)))
            if i % TRICKLE_RATE == 0:
                if down_at is None and await watch.at({"sms": 1}):
                    down_at = loop.time()
                if down_at is not None and await asyncio.to_thread(
                    lambda: len(p.pods("worker-sms")) == 1
                ):
                    break
                assert loop.time() - t0 < 150, f"not back at 1 SMS worker: {watch.seen}"
        await asyncio.gather(*tasks)
    assert down_at is not None
    trickle = [a.nid for a in answers if a.status == 201 and a.nid]
    # none unanswered; a refusal only as the API's 503 (admission control on a busy machine)
    assert all(a.status == 201 or (a.status == 503 and a.envelope) for a in answers), answers
    assert len(trickle) >= 0.9 * len(answers)
    await all_sent(p, trickle, within=60)
    assert_each_once(p, gateway, backlog + trickle)
    gone = set(watch.sms_pods) - {x["metadata"]["name"] for x in p.pods("worker-sms")}
    assert len(gone) >= KEDA_MAX - 1, (gone, watch.sms_pods)
    removed = watch.ips(gone)
    # the removed pods were consuming the trickle when KEDA scaled down (so they had work when
    # SIGTERM came), and what they held was delivered once (above)
    trickle_peers = {r["peer"] for r in gateway.received() if r["notificationId"] in set(trickle)}
    assert trickle_peers & removed, (trickle_peers, removed)
    print(
        f"keda: {KEDA_BACKLOG} SMS; scaled to {KEDA_MAX} at {scaled_at:.0f} s, drained at"
        f" {drained_at:.0f} s (senders: {len(peers)} pods, {len(peers & new_pods)} new); back"
        f" at 1 {down_at - start:.0f} s after the backlog, {len(trickle)} SMS sent meanwhile"
        f" ({len(trickle_peers & removed)} of the removed pods among their senders);"
        f" replicas seen {watch.seen}"
    )


@pytest.mark.timeout(420)
async def test_a_helm_upgrade_under_load_rolls_every_pod_and_loses_no_accepted_request(
    production: Production, gateway: Gateway
) -> None:
    """`helm upgrade --wait` with one setting changed (LOG_LEVEL: the ConfigMap's checksum in
    every pod template) while creates arrive open-loop through the API's Service: the pre-upgrade
    hook runs again, every Deployment's pods are replaced (the API's with maxUnavailable 0,
    readiness and the preStop sleep; the workers drain on SIGTERM), every request is answered
    201 (or 503 in the envelope), and every accepted one is SENT and received by the gateway
    exactly once."""
    p = production
    rate, most_s, deadline_s = 15.0, 150.0, 10.0
    before = {x["metadata"]["name"] for x in p.pods()}
    values = merged(p.values, {"config": {"logLevel": "WARNING"}})
    answers: list[Answer] = []
    loop = asyncio.get_running_loop()
    async with api_client(p, deadline_s) as http:
        warm: list[Answer] = []
        await create(http, email(0), warm, deadline_s)
        assert warm[0].status == 201, warm
        answers += warm
        start = loop.time()
        upgrade: asyncio.Task[str] | None = None
        tasks: set[asyncio.Task[None]] = set()
        done_at: float | None = None
        for i in range(1, int(rate * most_s) + 1):
            await asyncio.sleep(max(0.0, start + i / rate - loop.time()))  # pace
            tasks.add(asyncio.create_task(create(http, email(i), answers, deadline_s)))
            now = loop.time() - start
            if upgrade is None and now >= 3:
                upgrade = asyncio.create_task(
                    asyncio.to_thread(
                        p.helm,
                        "upgrade",
                        RELEASE,
                        str(CHART),
                        "-f",
                        "-",
                        "--wait",
                        "--timeout",
                        "300s",
                        stdin=json.dumps(values),
                    )
                )
            if done_at is None and upgrade is not None and upgrade.done():
                upgrade.result()  # raises if helm failed
                done_at = now
            if done_at is not None and i % int(rate) == 0 and now >= done_at + 3:
                # until every old pod is gone (the last ones drain after `--wait` returns)
                left = await asyncio.to_thread(p.pods)
                if not {x["metadata"]["name"] for x in left} & before:
                    break
        elapsed = loop.time() - start
        await asyncio.wait_for(asyncio.gather(*tasks), deadline_s + 5)
    assert done_at is not None, f"helm upgrade did not finish within {most_s} s"
    p.values = values
    pods = p.pods()
    assert not {x["metadata"]["name"] for x in pods} & before
    for pod in pods:
        assert pod["status"]["containerStatuses"][0]["restartCount"] == 0, pod["metadata"]["name"]

    accepted = [a.nid for a in answers if a.status == 201 and a.nid]
    refused = [a for a in answers if a.status not in (201, None)]
    unanswered = [a for a in answers if a.status is None]
    print(
        f"upgrade: {len(answers)} creates in {elapsed:.1f} s, helm upgrade done at"
        f" {done_at:.1f} s; {len(accepted)} answered 201, {len(refused)} refused"
        f" ({Counter(a.status for a in refused)}), {len(unanswered)} unanswered"
        f" ({Counter(a.error.split(':')[0] for a in unanswered)})"
    )
    assert all(a.status == 503 and a.envelope for a in refused), refused[:5]
    assert not unanswered, unanswered[:5]
    assert len(accepted) >= 0.9 * len(answers)
    await all_sent(p, accepted, within=90)
    assert_each_once(p, gateway, accepted)
    assert max(sends(gateway).values()) == 1


@pytest.mark.timeout(300)
async def test_helm_uninstall_removes_everything_the_chart_made(production: Production) -> None:
    """The providers deleted first (the operator removes their accounts and its finalizers; it
    would not be there to do so after the uninstall), then `helm uninstall --wait`: the
    namespace holds exactly the test's own objects again (no pod, Deployment, ReplicaSet, KEDA
    HPA, ScaledObject, Service, EndpointSlice, ConfigMap, Secret, policy, monitoring object...);
    only the CRD stays, as Helm leaves every CRD."""
    p = production
    p.kubectl("delete", "notificationproviders", "--all", "--timeout=60s")

    def accounts() -> int:
        client = mongo()
        try:
            return int(
                client[p.database][PROVIDER_ACCOUNTS].count_documents(
                    {"source": {"$regex": f"^kubernetes:{p.ns}/"}}
                )
            )
        finally:
            client.close()

    assert accounts() == 0
    start = time.monotonic()
    p.helm("uninstall", RELEASE, "--wait", "--timeout", "120s", timeout=180)
    p.uninstalled = True
    # the providers (and the Secrets only they referenced) were the test's; so were the rest
    want = {o for o in p.before if not o.startswith("notificationprovider")}

    async def clean() -> set[str] | None:
        left = await asyncio.to_thread(p.objects)
        return None if left - want else left

    left = await wait_for(clean, within=120, interval=2, what="the release's objects gone")
    assert left <= want
    print(f"helm uninstall and the objects gone: {time.monotonic() - start:.1f} s")
    assert p.node.kubectl("get", "crd", "notificationproviders.notify.wavecom.io", "-o", "name")


@pytest.mark.timeout(200)
def test_down_leaves_nothing_on_the_host(node: Node, gateway: Gateway) -> None:
    gateway.stop()  # it holds the node's network namespace
    node.down()
    after = host_state(node.paths)
    assert after == node.before
    marks = (
        str(node.paths.state),
        str(node.paths.bin),
        "node.sh inner",
        "node.sh forward",
        "tests.node.gateway",
    )
    assert processes(marks) == []
