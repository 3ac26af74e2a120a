"""One real Kubernetes node (services/devstack/node.sh): containerd with runc, a kubelet,
kube-proxy, a CNI bridge and CoreDNS, with their own control plane, all inside one private PID +
mount + network namespace. The product image runs as pods with the chart's own security contexts
(non-root, read-only root file system, every capability dropped, RuntimeDefault seccomp), loaded
into the node's containerd without a registry; and after ``down`` nothing of it is left on the host.

The tests share one node (module scope): ``up`` takes about 20 s from built binaries."""

from __future__ import annotations

import asyncio
import contextlib
import glob
import json
import os
import re
import shutil
import subprocess
import tempfile
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
from tests.conftest import AMQP_HOST, MONGODB_URL, email, wait_for
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


def merged(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, key by key (dicts recursively)."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


@dataclass(frozen=True)
class Release:
    node: Node
    ns: str

    def component(self, name: str) -> list[dict[str, Any]]:
        """The release's pods of one component (not the hook Job's)."""
        out = self.node.kubectl(
            "get", "pods", "-n", self.ns, "-l", f"app.kubernetes.io/component={name}", "-o", "json"
        )
        return list(json.loads(out)["items"])

    def ready_endpoints(self, service: str) -> int:
        """The Service's ready endpoints, per its EndpointSlices."""
        out = self.node.kubectl(
            "get",
            "endpointslices",
            "-n",
            self.ns,
            "-l",
            f"kubernetes.io/service-name={service}",
            "-o",
            "json",
        )
        return sum(
            1
            for es in json.loads(out)["items"]
            for e in es.get("endpoints") or []
            if e.get("conditions", {}).get("ready")
        )

    def api_key(self, deployment: str) -> str:
        """A new API key (send, read) made by `admin keys create` in an API pod."""
        out = self.node.kubectl(
            "exec",
            "-n",
            self.ns,
            f"deploy/{deployment}",
            "--",
            "/opt/venv/bin/python",
            "-m",
            "wavecom.admin",
            "keys",
            "create",
            "--tenant",
            "rollout",
            "--scope",
            "send,read",
            "--quiet",
        )
        return out.strip().splitlines()[-1]


@contextlib.asynccontextmanager
async def installed(
    node: Node, vhost: str, database: str, extra: dict[str, Any] | None = None
) -> AsyncIterator[Release]:
    """The chart installed (``helm install --wait``) in a fresh namespace with the loaded image
    (pullPolicy Never), KEDA off, ENVIRONMENT test, the host's RabbitMQ and database through
    Services without selector; ``extra`` values merged over those. Uninstalled afterwards, and
    its pods waited out (they drain on SIGTERM, their grace period); on a failure the namespace's
    pods, jobs and events are printed and the node's ``down`` cleans up."""
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
            input=json.dumps(merged(values, extra or {})),
            timeout=300,
        )
        yield Release(node, ns)
        run(*helm, "uninstall", "wavecom", "--wait", "--timeout", "120s", timeout=180)

        async def gone() -> bool:
            out = await asyncio.to_thread(node.kubectl, "get", "pods", "-n", ns, "-o", "json")
            return not json.loads(out)["items"]

        await wait_for(gone, within=150, interval=1, what="the release's pods to be gone")
    except BaseException:
        print(node.kubectl("get", "pods,jobs,events", "-n", ns, check=False))
        raise


@pytest.mark.timeout(400)
async def test_helm_install_on_the_real_node(node: Node, vhost: str, database: str) -> None:
    """The chart's defaults with the image loaded (pullPolicy Never), KEDA off: the pre-install
    hook Job runs `admin setup` against the host's RabbitMQ and database (reached through Services
    without selector), and every pod (API, operator, the three workers) passes its startup and
    readiness probes with the chart's security contexts; uninstall removes them."""
    async with installed(node, vhost, database) as release:
        pods = [
            p
            for p in json.loads(node.kubectl("get", "pods", "-n", release.ns, "-o", "json"))[
                "items"
            ]
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


@contextlib.contextmanager
def service_socket(node: Node, ip: str, port: int) -> Iterator[str]:
    """A Unix socket on the host forwarded to ``ip:port`` inside the node's network namespace
    (one socat entered with ``nsenter -n``: a fresh connection to the Service per client
    connection, balanced by kube-proxy as a pod's would be); its path."""
    pid = (node.paths.state / "ns.pid").read_text().strip()
    where = Path(tempfile.mkdtemp(prefix="wcn-svc-"))
    sock = where / "api.sock"
    nsenter = shutil.which("nsenter")
    assert nsenter, "nsenter (util-linux) is missing"
    forward = subprocess.Popen(  # noqa: S603 - fixed tools
        [
            nsenter,
            "-t",
            pid,
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


@dataclass
class Answer:
    status: int | None  # None: no answer (a transport error or the deadline)
    nid: str | None = None
    error: str = ""
    envelope: bool = False


async def create(http: httpx.AsyncClient, i: int, answers: list[Answer], deadline_s: float) -> None:
    """One create with a deadline; its answer (or none) appended to ``answers``."""
    try:
        r = await asyncio.wait_for(http.post("/api/notifications", json=email(i)), deadline_s)
    except (httpx.HTTPError, TimeoutError) as e:
        answers.append(Answer(None, error=f"{type(e).__name__}: {e}"))
        return
    body: Any = None
    with contextlib.suppress(ValueError):
        body = r.json()
    if r.status_code == 201:
        answers.append(Answer(201, nid=body["data"]["_id"]))
    else:
        envelope = isinstance(body, dict) and body.get("success") is False
        answers.append(Answer(r.status_code, error=r.text[:200], envelope=envelope))


LEDGER_DUMP = (
    "import glob, sys\n"
    "for f in glob.glob('/tmp/ledger/*.jsonl'):\n"
    "    sys.stdout.write(open(f).read())\n"
)


async def delivered_once(release: Release, database: str, accepted: list[str]) -> None:
    """Every accepted notification is SENT, and the email worker's mock ledger shows it sent
    exactly once; nothing is sent twice, nor sent that was not stored (a create whose answer was
    lost may have been stored and sent: once)."""
    ns, node = release.ns, release.node
    client: MongoClient[dict[str, Any]] = MongoClient(MONGODB_URL, serverSelectionTimeoutMS=5000)
    try:
        notifications = client[database]["notifications"]
        oids = [ObjectId(n) for n in accepted]

        def all_sent() -> bool:
            return notifications.count_documents({"_id": {"$in": oids}, "status": "SENT"}) == len(
                oids
            )

        async def sent() -> bool:
            return await asyncio.to_thread(all_sent)

        await wait_for(sent, within=60, interval=1, what="every accepted create to be SENT")
        stored = {str(d["_id"]) for d in notifications.find({}, {"_id": 1})}
    finally:
        client.close()

    (worker,) = release.component("worker-email")
    lines = node.kubectl(
        "exec",
        "-n",
        ns,
        worker["metadata"]["name"],
        "--",
        "/opt/venv/bin/python",
        "-c",
        LEDGER_DUMP,
    ).splitlines()
    delivered = Counter(json.loads(ln)["notificationId"] for ln in lines if ln.strip())
    # each accepted notification sent exactly once; nothing sent twice or sent that was not
    # stored (a create whose answer was lost may have been stored and sent: once)
    assert {n: delivered[n] for n in accepted} == dict.fromkeys(accepted, 1)
    assert max(delivered.values()) == 1
    assert set(delivered) <= stored


@pytest.mark.timeout(300)
async def test_a_rolling_restart_under_load_loses_no_accepted_request(
    node: Node, vhost: str, database: str
) -> None:
    """Open-loop creates through the API's Service while `kubectl rollout restart` replaces both
    API pods (maxUnavailable 0, readiness, the preStop sleep): every request is answered 201 or
    503 in the envelope, and every one answered 201 is stored, reaches SENT, and is delivered
    exactly once by the email worker (the mock provider's ledger, read from the worker's pod)."""
    rate, least_s, most_s, deadline_s = 15.0, 30.0, 75.0, 10.0
    extra = {"config": {"ledgerDir": "/tmp/ledger"}}  # noqa: S108 - the pods' emptyDir
    async with installed(node, vhost, database, extra) as release:
        svc = json.loads(
            node.kubectl(
                "get",
                "svc",
                "-n",
                release.ns,
                "-l",
                "app.kubernetes.io/component=api",
                "-o",
                "json",
            )
        )["items"][0]
        deployment = svc["metadata"]["name"]
        port = next(p["port"] for p in svc["spec"]["ports"] if p["name"] == "http")
        key = release.api_key(deployment)
        before = {p["metadata"]["name"] for p in release.component("api")}
        assert len(before) == 2

        answers: list[Answer] = []
        ready_endpoints: list[int] = []

        async def rolled() -> bool:
            pods = await asyncio.to_thread(release.component, "api")
            ready_endpoints.append(await asyncio.to_thread(release.ready_endpoints, deployment))
            names = {p["metadata"]["name"] for p in pods}
            return (
                len(pods) == 2
                and not names & before
                and all(
                    not p["metadata"].get("deletionTimestamp")
                    and p["status"].get("containerStatuses", [{}])[0].get("ready")
                    for p in pods
                )
            )

        with service_socket(node, svc["spec"]["clusterIP"], port) as sock:
            # no keep-alive: each request its own connection through the Service, as a client
            # behind a load balancer would see it during the switch
            transport = httpx.AsyncHTTPTransport(
                uds=sock, limits=httpx.Limits(max_keepalive_connections=0)
            )
            async with httpx.AsyncClient(
                transport=transport,
                base_url="http://api",
                headers={"X-API-Key": key},
                timeout=deadline_s,
            ) as http:
                warm = await http.post("/api/notifications", json=email(0))
                assert warm.status_code == 201, warm.text
                answers.append(Answer(201, nid=warm.json()["data"]["_id"]))

                loop = asyncio.get_running_loop()
                start = loop.time()
                tasks: set[asyncio.Task[None]] = set()
                watcher: asyncio.Task[bool] | None = None
                done_at: float | None = None
                # open loop: one create every 1/rate s whatever the answers, until the rollout
                # is over (and its last old pod gone) plus a few seconds, at least least_s
                for i in range(1, int(rate * most_s) + 1):
                    await asyncio.sleep(max(0.0, start + i / rate - loop.time()))  # pace
                    tasks.add(asyncio.create_task(create(http, i, answers, deadline_s)))
                    now = loop.time() - start
                    if watcher is None and now >= 3:
                        await asyncio.to_thread(
                            node.kubectl,
                            "rollout",
                            "restart",
                            "-n",
                            release.ns,
                            f"deployment/{deployment}",
                        )
                        watcher = asyncio.create_task(
                            wait_for(rolled, within=most_s, interval=1, what="the API's rollout")
                        )
                    if done_at is None and watcher is not None and watcher.done():
                        watcher.result()  # raises if the rollout did not finish in time
                        done_at = now
                    if done_at is not None and now >= max(least_s, done_at + 3):
                        break
                elapsed = loop.time() - start
                await asyncio.wait_for(asyncio.gather(*tasks), deadline_s + 5)
        assert done_at is not None, f"the rollout did not finish within {most_s} s"

        accepted = [a.nid for a in answers if a.status == 201 and a.nid]
        refused = [a for a in answers if a.status not in (201, None)]
        unanswered = [a for a in answers if a.status is None]
        print(
            f"rollout: {len(answers)} creates in {elapsed:.1f} s, rollout done at {done_at:.1f} s;"
            f" {len(accepted)} answered 201, {len(refused)} refused"
            f" ({Counter(a.status for a in refused)}), {len(unanswered)} unanswered"
            f" ({Counter(a.error.split(':')[0] for a in unanswered)});"
            f" ready endpoints seen: {Counter(ready_endpoints)}"
        )
        assert all(a.status == 503 and a.envelope for a in refused), refused[:5]
        # the Service never lacked a ready endpoint (maxUnavailable 0, readiness, preStop), so
        # every request had a pod to answer it
        assert not unanswered, unanswered[:5]
        assert len(accepted) >= 0.9 * len(answers)
        assert len(set(accepted)) == len(accepted)

        await delivered_once(release, database, accepted)


@pytest.mark.timeout(200)
def test_down_leaves_nothing_on_the_host(node: Node) -> None:
    node.down()
    after = host_state(node.paths)
    assert after == node.before
    marks = (str(node.paths.state), str(node.paths.bin), "node.sh inner", "node.sh forward")
    assert processes(marks) == []
