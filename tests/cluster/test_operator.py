"""The operator for real: ``python -m wavecom.operator`` against the control plane
services/devstack/kube.sh starts, and the real database. kubectl applies the CRD, Secrets and
NotificationProviders; the tests read the conditions back from the API server and the
accounts from the database, and a worker in-process switches providers within 5 s of a
``kubectl patch``."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from tests.cluster.conftest import Cluster, wait_until
from tests.support.notifications import all_terminal, create, sms
from tests.support.processes import RunWorker
from tests.support.services import free_port
from tests.support.wait import wait_for
from wavecom.core.constants import Channel
from wavecom.core.settings import Settings
from wavecom.operator.handlers import FINALIZER, SECRET_LABEL, SECRET_VERSION
from wavecom.providers import accounts
from wavecom.providers.credentials import Cipher
from wavecom.store import Store

pytestmark = pytest.mark.timeout(300)
ROOT = Path(__file__).resolve().parents[2]
KEY = base64.b64encode(os.urandom(32)).decode()
CRD_NAME = "notificationproviders.notify.wavecom.io"
WITHIN = 30.0  # seconds for the operator to react, on a busy 2-core machine


def webhook_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


@pytest.fixture(scope="module")
def crd_established(cluster: Cluster) -> None:
    """The CRD applied from the chart's crds/ file, and served."""
    cluster.kubectl(
        "apply", "-f", str(ROOT / "charts/wavecom-notify/crds/notificationproviders.yaml")
    )
    # `kubectl wait` on a CRD created a moment ago errors instead of waiting: poll
    wait_until(
        lambda: (
            cluster.kubectl(
                "wait",
                "--for",
                "condition=Established",
                "--timeout",
                "5s",
                f"crd/{CRD_NAME}",
                check=False,
            ).returncode
            == 0
        ),
        within=60,
        what="the CRD to be established",
    )


@pytest.fixture
def keyed(settings: Settings) -> Settings:
    return settings.model_copy(update={"credentials_key": SecretStr(KEY)})


class Operator:
    """``python -m wavecom.operator`` as a process, serving one namespace."""

    def __init__(self, cluster: Cluster, namespace: str, settings: Settings, log: Path) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.port = free_port()
        env = {
            **os.environ,
            **cluster.env,
            "MONGODB_URL": settings.mongodb_url,
            "MONGODB_DATABASE": settings.mongodb_database,
            "CREDENTIALS_KEY": KEY,
            "ENVIRONMENT": "test",
            "LOG_LEVEL": "DEBUG",
        }
        self.log = log
        self.proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [
                sys.executable,
                "-m",
                "wavecom.operator",
                "--namespace",
                namespace,
                "--secret-retry-s",
                "1",
                "--liveness",
                f"http://127.0.0.1:{self.port}/healthz",
            ],
            env=env,
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def alive(self) -> bool:
        assert self.proc.poll() is None, f"the operator exited:\n{self.log.read_text()[-3000:]}"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def operator(
    cluster: Cluster, crd_established: None, namespace: str, keyed: Settings, tmp_path: Path
) -> Iterator[Operator]:
    op = Operator(cluster, namespace, keyed, tmp_path / "operator.log")
    wait_until(op.alive, within=60, what="the operator's liveness endpoint")
    yield op
    # delete what is left while the operator still runs, so its finalizer is removed and the
    # namespace can go
    cluster.kubectl("-n", namespace, "delete", "nprov", "--all", "--timeout=60s", check=False)
    op.stop()


def provider(name: str, **spec: Any) -> str:
    return json.dumps(
        {
            "apiVersion": "notify.wavecom.io/v1alpha1",
            "kind": "NotificationProvider",
            "metadata": {"name": name},
            "spec": spec,
        }
    )


def secret(name: str, **values: str) -> str:
    """A Secret labelled for the operator (it watches only those)."""
    metadata = {"name": name, "labels": {SECRET_LABEL: "true"}}
    return json.dumps(
        {"apiVersion": "v1", "kind": "Secret", "metadata": metadata, "stringData": values}
    )


def apply(cluster: Cluster, namespace: str, *manifests: str) -> None:
    for manifest in manifests:
        cluster.kubectl("-n", namespace, "apply", "-f", "-", stdin=manifest)


def resource(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    res = cluster.kubectl("-n", namespace, "get", "nprov", name, "-o", "json", check=False)
    return json.loads(res.stdout) if res.returncode == 0 else None


def condition(cluster: Cluster, namespace: str, name: str, type_: str) -> dict[str, Any]:
    body = resource(cluster, namespace, name) or {}
    for c in body.get("status", {}).get("conditions", []):
        if c["type"] == type_:
            return dict(c)
    return {}


def until_condition(
    cluster: Cluster, namespace: str, name: str, status: str, reason: str, type_: str = "Ready"
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        c = condition(cluster, namespace, name, type_)
        return c if (c.get("status"), c.get("reason")) == (status, reason) else None

    return wait_until(check, within=WITHIN, what=f"{name}: {type_}={status} ({reason})")


async def account(store: Store, name: str) -> accounts.Account | None:
    return next((a for a in await accounts.list_accounts(store) if a.name == name), None)


def apply_gateway(cluster: Cluster, namespace: str, value: str) -> None:
    apply(
        cluster,
        namespace,
        secret("gw-credentials", secret=value),
        provider(
            "gw",
            channel="SMS",
            driver="webhook",
            priority=10,
            settings={"url": "https://gateway.example/send"},
            credentialsSecretRef={"name": "gw-credentials"},
        ),
    )


async def test_a_provider_is_applied_patched_and_deleted_with_kubectl(
    cluster: Cluster, namespace: str, operator: Operator, store: Store, keyed: Settings
) -> None:
    ns = namespace
    value = webhook_secret()
    apply_gateway(cluster, ns, value)
    ready = until_condition(cluster, ns, "gw", "True", "Applied")
    assert ready["observedGeneration"] == 1
    creds = condition(cluster, ns, "gw", "CredentialsResolved")
    assert (creds["status"], creds["reason"]) == ("True", "Resolved")

    # the account in the database, written by this resource, its credentials sealed
    acc = await account(store, "gw")
    assert acc is not None
    assert acc.source == f"kubernetes:{ns}/gw"
    assert (acc.spec.channel, acc.spec.driver, acc.spec.priority) == (Channel.SMS, "webhook", 10)
    assert acc.sealed is not None
    assert Cipher.of(keyed).open("gw", acc.sealed) == {"secret": value}
    body = resource(cluster, ns, "gw")
    assert body is not None
    assert body["status"]["accountRevision"] == acc.revision
    # kopf's finalizer and annotations carry our prefix, not kopf's
    assert body["metadata"]["finalizers"] == [FINALIZER]
    annotations = body["metadata"].get("annotations", {})
    assert any(k.startswith("notify.wavecom.io/") for k in annotations), annotations
    assert not any("kopf.zalando.org" in k for k in annotations), annotations
    # the printer columns
    table = cluster.kubectl("-n", ns, "get", "nprov").stdout.splitlines()
    assert table[0].split() == ["NAME", "CHANNEL", "DRIVER", "PRIORITY", "READY", "AGE"]
    assert table[1].split()[:5] == ["gw", "SMS", "webhook", "10", "True"]

    # the spec changes: a new revision, for generation 2; Ready stayed True throughout
    cluster.kubectl(
        "-n", ns, "patch", "nprov", "gw", "--type=merge", "-p", '{"spec":{"priority":5}}'
    )
    wait_until(
        lambda: condition(cluster, ns, "gw", "Ready").get("observedGeneration") == 2,
        within=WITHIN,
        what="generation 2 handled",
    )
    patched = await account(store, "gw")
    assert patched is not None
    assert (patched.spec.priority, patched.revision > acc.revision) == (5, True)
    assert (
        condition(cluster, ns, "gw", "Ready")["lastTransitionTime"] == ready["lastTransitionTime"]
    )

    # deleted: the account goes, then the resource (our finalizer removed)
    cluster.kubectl("-n", ns, "delete", "nprov", "gw", "--timeout=60s")
    assert resource(cluster, ns, "gw") is None
    assert await account(store, "gw") is None


async def test_changes_of_the_secret_reapply_or_say_what_is_wrong(
    cluster: Cluster, namespace: str, operator: Operator, store: Store, keyed: Settings
) -> None:
    ns = namespace
    cipher = Cipher.of(keyed)
    first, second, third = webhook_secret(), webhook_secret(), webhook_secret()
    apply_gateway(cluster, ns, first)
    until_condition(cluster, ns, "gw", "True", "Applied")
    applied = await account(store, "gw")
    assert applied is not None

    # 1. the Secret changes: the account is re-applied with the new value
    apply(cluster, ns, secret("gw-credentials", secret=second))

    async def holds(value: str) -> accounts.Account | None:
        a = await account(store, "gw")
        return a if a and a.sealed and cipher.open("gw", a.sealed) == {"secret": value} else None

    rotated = await wait_for(lambda: holds(second), within=WITHIN, interval=0.2, what="re-applied")
    assert rotated.revision > applied.revision
    body = resource(cluster, ns, "gw")
    assert body is not None
    assert SECRET_VERSION in body["metadata"]["annotations"]

    # 2. the Secret loses the driver's key: not Ready, and says which key (never a value);
    # the last good account keeps working meanwhile
    cluster.kubectl("-n", ns, "delete", "secret", "gw-credentials")
    apply(cluster, ns, secret("gw-credentials", token="not-the-drivers-key"))  # noqa: S106
    until_condition(cluster, ns, "gw", "False", "SecretKeyInvalid", "CredentialsResolved")
    bad = until_condition(cluster, ns, "gw", "False", "SecretKeyInvalid")
    assert "credentials.secret" in bad["message"]
    assert "not-the-drivers-key" not in json.dumps(resource(cluster, ns, "gw"))
    still = await account(store, "gw")
    assert still is not None
    assert still.revision == rotated.revision

    # 3. a Secret that does not exist: not Ready, retried, and Ready once it is created
    cluster.kubectl(
        "-n",
        ns,
        "patch",
        "nprov",
        "gw",
        "--type=merge",
        "-p",
        '{"spec":{"credentialsSecretRef":{"name":"gw-credentials-v2"}}}',
    )
    missing = until_condition(cluster, ns, "gw", "False", "SecretNotFound")
    assert "gw-credentials-v2" in missing["message"]
    assert condition(cluster, ns, "gw", "CredentialsResolved")["reason"] == "SecretNotFound"
    apply(cluster, ns, secret("gw-credentials-v2", secret=third))
    until_condition(cluster, ns, "gw", "True", "Applied")
    assert await holds(third) is not None

    # nothing the operator logged holds a credential
    log = operator.log.read_text()
    for value in (first, second, third):
        assert value.removeprefix("whsec_") not in log


async def test_an_invalid_spec_past_the_schema_is_not_ready_and_not_retried(
    cluster: Cluster, namespace: str, operator: Operator, store: Store
) -> None:
    # the CRD's schema cannot judge a driver's settings: the operator does, once
    apply(
        cluster,
        namespace,
        provider("gw", channel="SMS", driver="webhook", settings={"url": "not a url"}),
    )
    bad = until_condition(cluster, namespace, "gw", "False", "InvalidSpec")
    assert "settings.url" in bad["message"]
    assert await account(store, "gw") is None

    # and kubectl describe shows why, as an event of the resource (kopf's type: Error)
    def warned() -> list[dict[str, Any]]:
        events = cluster.get(
            "-n", namespace, "events", "--field-selector", "involvedObject.name=gw"
        )
        return [
            e for e in events["items"] if e["type"] != "Normal" and "settings.url" in e["message"]
        ]

    wait_until(warned, within=WITHIN, what="a Warning event naming the field")
    # fixed: applied
    cluster.kubectl(
        "-n",
        namespace,
        "patch",
        "nprov",
        "gw",
        "--type=merge",
        "-p",
        '{"spec":{"driver":"mock","settings":null}}',
    )
    until_condition(cluster, namespace, "gw", "True", "Applied")
    assert await account(store, "gw") is not None


@pytest.mark.usefixtures("crd_established")
@pytest.mark.parametrize(
    ("spec", "refused"),
    [
        ({"channel": "FAX", "driver": "mock"}, "spec.channel"),
        ({"channel": "SMS", "driver": "mock", "sendRatePerSecond": -1}, "spec.sendRatePerSecond"),
        ({"driver": "mock"}, "spec.channel"),
        ({"channel": "SMS", "driver": "carrier-pigeon"}, "spec.driver"),
        ({"channel": "SMS", "driver": "mock", "colour": "blue"}, "colour"),
    ],
)
def test_the_api_server_refuses_bad_specs(
    cluster: Cluster, namespace: str, spec: dict[str, Any], refused: str
) -> None:
    res = cluster.kubectl(
        "-n", namespace, "apply", "-f", "-", stdin=provider("bad", **spec), check=False
    )
    assert res.returncode != 0
    assert refused in res.stderr, res.stderr
    assert resource(cluster, namespace, "bad") is None


@pytest.fixture
def worker_settings(keyed: Settings) -> Settings:
    return keyed.model_copy(update={"rate_limit_burst": 10_000, "providers_poll_s": 1.0})


async def test_a_kubectl_patch_reaches_a_running_worker_within_5_s(
    cluster: Cluster,
    namespace: str,
    operator: Operator,
    store: Store,
    api: httpx.AsyncClient,
    run_worker: RunWorker,
    ledger_dir: Path,
) -> None:
    fast = {"latencyMs": 2, "latencySigma": 0}
    for name, priority in (("sms-primary", 10), ("sms-backup", 20)):
        apply(
            cluster,
            namespace,
            provider(
                name,
                channel="SMS",
                driver="mock",
                priority=priority,
                sendRatePerSecond=100,
                settings=fast,
            ),
        )
        until_condition(cluster, namespace, name, "True", "Applied")
    await run_worker(Channel.SMS)
    ids = await create(api, [sms(i) for i in range(1000)])

    def sends() -> list[tuple[float, str, str]]:
        out = []
        for f in ledger_dir.glob("*.jsonl"):
            for line in f.read_bytes().splitlines():
                e = json.loads(line)
                out.append((float(e["at"]), str(e["provider"]), str(e["notificationId"])))
        return sorted(out)

    async def sent_by(provider_name: str, since: float, n: int) -> bool:
        return sum(1 for at, p, _ in sends() if p == provider_name and at > since) >= n

    await wait_for(lambda: sent_by("sms-primary", 0, 100), within=60, interval=0.2, what="primary")
    patched = time.time()
    cluster.kubectl(
        "-n",
        namespace,
        "patch",
        "nprov",
        "sms-primary",
        "--type=merge",
        "-p",
        '{"spec":{"enabled":false}}',
    )
    await wait_for(
        lambda: sent_by("sms-backup", patched, 50), within=60, interval=0.2, what="backup"
    )
    log = sends()
    # from the kubectl patch (the operator's reaction included) to the worker's switch
    assert max(at for at, p, _ in log if p == "sms-primary") <= patched + 5.0
    assert min(at for at, p, _ in log if p == "sms-backup" and at > patched) <= patched + 5.0

    await wait_for(lambda: all_terminal(store, ids), within=120, interval=0.5, what="all sent")
    per_id: dict[str, int] = {}
    for _, _, nid in sends():
        per_id[nid] = per_id.get(nid, 0) + 1
    assert sorted(per_id) == sorted(ids)
    assert set(per_id.values()) == {1}
