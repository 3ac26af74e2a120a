"""The chart's operator: its CRD, Deployment, ServiceAccount, least-privilege RBAC, the
credentials key every process shares, and the example resources (valid for the CRD and for the
admin CLI alike)."""

from __future__ import annotations

import base64
import copy
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml  # type: ignore[import-untyped]

from tests.charts.chart import (
    FULL,
    RELEASE,
    URLS,
    by_kind,
    ci_values,
    crd_schema,
    one,
    render_chart,
    validate,
)
from tests.charts.kube import CHART, KUBE_VERSION, helm, load_all
from wavecom.core.errors import ProviderConfigError
from wavecom.operator import crd
from wavecom.operator.handlers import SECRET_LABEL
from wavecom.providers import manifests

KEY = base64.b64encode(bytes(range(32))).decode()
EXAMPLES = CHART / "examples" / "providers.yaml"
CRD_FILE = CHART / "crds" / "notificationproviders.yaml"
OPERATOR_TEMPLATES = [
    "templates/operator/deployment.yaml",
    "templates/operator/rbac.yaml",
    "templates/operator/serviceaccount.yaml",
]


def with_(values: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(URLS)
    for k, v in values.items():
        out[k] = {**out.get(k, {}), **v} if isinstance(v, dict) else v
    return out


def env_of(doc: dict[str, Any]) -> dict[str, Any]:
    (c,) = doc["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("valueFrom", e.get("value")) for e in c["env"]}


def test_the_crd_file_is_the_generated_one_and_valid() -> None:
    assert CRD_FILE.read_text() == crd.as_yaml(), (
        "run `python -m wavecom.operator crd` (make charts)"
    )
    (doc,) = load_all(CRD_FILE.read_text())
    kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
    assert doc["metadata"]["name"] == "notificationproviders.notify.wavecom.io"
    (version,) = doc["spec"]["versions"]
    assert version["name"] == "v1alpha1"
    assert version["subresources"] == {"status": {}}
    assert doc["spec"]["scope"] == "Namespaced"
    assert "nprov" in doc["spec"]["names"]["shortNames"]
    columns = [c["name"] for c in version["additionalPrinterColumns"] if "priority" not in c]
    assert columns == ["Channel", "Driver", "Priority", "Ready", "Age"]


def test_the_operator_runs_once_standalone_with_a_liveness_probe() -> None:
    docs = render_chart(URLS)
    validate(docs)
    dep = one(docs, "Deployment", f"{FULL}-operator")
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    pod = dep["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["args"][:3] == ["operator", "--namespace", "notify"]
    assert "--liveness" in c["args"]
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "liveness"}
    assert c["ports"] == [{"name": "liveness", "containerPort": 8080, "protocol": "TCP"}]
    assert pod["serviceAccountName"] == f"{FULL}-operator"
    sa = one(docs, "ServiceAccount", f"{FULL}-operator")
    assert sa["automountServiceAccountToken"] is True
    # the other pods' ServiceAccount mounts nothing
    assert one(docs, "ServiceAccount", FULL)["automountServiceAccountToken"] is False


def test_the_operator_may_do_only_what_it_needs_in_its_namespace() -> None:
    docs = render_chart(URLS)
    assert by_kind(docs, "ClusterRole") == []
    assert by_kind(docs, "ClusterRoleBinding") == []
    role = one(docs, "Role", f"{FULL}-operator")
    assert role["metadata"]["namespace"] == "notify"
    rules = {
        (group, resource): sorted(rule["verbs"])
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert rules == {
        ("notify.wavecom.io", "notificationproviders"): ["get", "list", "patch", "watch"],
        ("notify.wavecom.io", "notificationproviders/status"): ["get", "patch"],
        ("", "secrets"): ["get", "list", "watch"],
        ("", "events"): ["create"],
    }
    binding = one(docs, "RoleBinding", f"{FULL}-operator")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": f"{FULL}-operator",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": f"{FULL}-operator", "namespace": "notify"}
    ]


@pytest.mark.parametrize("all_namespaces", [False, True])
def test_secrets_are_read_only_and_the_chart_says_what_the_operator_reads(
    all_namespaces: bool,
) -> None:
    """RBAC cannot filter by label: the rule covers every Secret of the namespace (or the cluster),
    read-only; the operator watches only labelled ones, and the chart says both."""
    docs = render_chart(with_({"operator": {"allNamespaces": all_namespaces}}))
    (role,) = by_kind(docs, "ClusterRole" if all_namespaces else "Role")
    secret_rules = [r for r in role["rules"] if "secrets" in r["resources"]]
    assert secret_rules == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "watch"]}
    ]
    assert "resourceNames" not in secret_rules[0]
    for text in ((CHART / "values.yaml").read_text(), (CHART / "README.md").read_text()):
        flat = " ".join(text.replace("#", " ").split())
        assert f'labelled `{SECRET_LABEL}: "true"`' in flat
        assert "RBAC cannot filter by label" in flat


def test_each_watched_namespace_gets_its_role_and_the_operator_its_flag() -> None:
    docs = render_chart(with_({"operator": {"watchNamespaces": ["wavecom", "bank-acme"]}}))
    validate(docs)
    roles = {d["metadata"]["namespace"] for d in by_kind(docs, "Role")}
    assert roles == {"wavecom", "bank-acme"}
    assert {d["metadata"]["namespace"] for d in by_kind(docs, "RoleBinding")} == roles
    args = one(docs, "Deployment", f"{FULL}-operator")["spec"]["template"]["spec"]["containers"][0][
        "args"
    ]
    assert args[:5] == ["operator", "--namespace", "wavecom", "--namespace", "bank-acme"]


def test_all_namespaces_is_cluster_wide() -> None:
    docs = render_chart(with_({"operator": {"allNamespaces": True}}))
    validate(docs)
    assert by_kind(docs, "Role") == []
    (role,) = by_kind(docs, "ClusterRole")
    (binding,) = by_kind(docs, "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    args = one(docs, "Deployment", f"{FULL}-operator")["spec"]["template"]["spec"]["containers"][0][
        "args"
    ]
    assert "--all-namespaces" in args
    assert "--namespace" not in args


def test_disabled_the_operator_renders_nothing() -> None:
    off = with_({"operator": {"enabled": False}})
    for template in OPERATOR_TEMPLATES:
        assert render_chart(off, show_only=[template]) == [], template


def test_every_process_gets_the_same_credentials_key() -> None:
    docs = render_chart(with_({"secrets": {"credentialsKey": KEY}}))
    secret = one(docs, "Secret", FULL)
    assert base64.b64decode(secret["data"]["CREDENTIALS_KEY"]).decode() == KEY
    assert "CREDENTIALS_PREVIOUS_KEY" not in secret["data"]
    deployments = by_kind(docs, "Deployment")
    assert {d["metadata"]["name"] for d in deployments} >= {f"{FULL}-api", f"{FULL}-operator"}
    for d in deployments:
        ref = env_of(d)["CREDENTIALS_KEY"]["secretKeyRef"]
        assert ref == {"name": FULL, "key": "CREDENTIALS_KEY"}, d["metadata"]["name"]
        assert "CREDENTIALS_PREVIOUS_KEY" not in env_of(d)
    data = one(docs, "ConfigMap", FULL)["data"]
    assert (data["CREDENTIALS_KEY_ID"], data["CREDENTIALS_PREVIOUS_KEY_ID"]) == ("k1", "k0")
    # without a key, no variable at all (mock accounts only)
    plain = render_chart(URLS)
    assert all("CREDENTIALS_KEY" not in env_of(d) for d in by_kind(plain, "Deployment"))


def test_an_existing_secret_may_hold_the_credentials_keys() -> None:
    docs = render_chart(values_files=[ci_values("existing-secrets")])
    for d in by_kind(docs, "Deployment"):
        env = env_of(d)
        assert env["CREDENTIALS_KEY"]["secretKeyRef"] == {
            "name": "wavecom-connections",
            "key": "CREDENTIALS_KEY",
            "optional": True,
        }
        assert env["CREDENTIALS_PREVIOUS_KEY"]["secretKeyRef"]["optional"] is True


def example_docs() -> list[dict[str, Any]]:
    return load_all(EXAMPLES.read_text())


def test_the_examples_are_valid_resources_for_the_crd_and_the_api_server() -> None:
    providers = [d for d in example_docs() if d["kind"] == "NotificationProvider"]
    assert len(providers) >= 4
    for doc in example_docs():
        doc.setdefault("metadata", {}).setdefault("namespace", "wavecom")
        validate([doc])


def test_the_examples_are_what_the_admin_cli_takes() -> None:
    resources = manifests.parse([EXAMPLES.read_text()])
    by_name = {r.name: r for r in resources}
    assert by_name["sms-gateway"].credentials is not None
    assert set(by_name["sms-gateway"].credentials) == {"secret"}
    assert by_name["sms-acme-sender"].spec.tenants == ("acme",)


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"channel": "FAX"}, "channel"),
        ({"driver": "carrier-pigeon"}, "driver"),
        ({"sendRatePerSecond": -1}, "sendRatePerSecond"),
        ({"priority": 10_001}, "priority"),
        ({"timeoutSeconds": 0}, "timeoutSeconds"),
        ({"tenants": ["no spaces"]}, "tenants"),
        ({"colour": "blue"}, "colour"),
        ({"channel": None}, "channel"),
    ],
)
def test_the_crd_schema_refuses_what_the_core_refuses(change: dict[str, Any], where: str) -> None:
    doc = next(d for d in example_docs() if d["metadata"]["name"] == "sms-mock-primary")
    spec = {**doc["spec"], **change}
    doc["spec"] = {k: v for k, v in spec.items() if v is not None}
    schema = crd_schema("notify.wavecom.io", "v1alpha1", "NotificationProvider")
    with pytest.raises(jsonschema.ValidationError) as err:
        jsonschema.Draft202012Validator(schema).validate(doc)
    assert where in str(err.value.message) + str(list(err.value.absolute_path))
    # and the core says the same
    with pytest.raises(ProviderConfigError):
        manifests.spec_of("sms-mock-primary", doc["spec"])


def test_the_chart_readme_explains_the_operator() -> None:
    readme = (CHART / "README.md").read_text()
    for words in ("NotificationProvider", "examples/providers.yaml", "operator.enabled"):
        assert words in readme, words


def test_helm_ships_the_crd() -> None:
    # `helm template --include-crds` is what `helm install` creates first
    res = helm(
        "template",
        RELEASE,
        str(CHART),
        "--include-crds",
        "--kube-version",
        KUBE_VERSION,
        "--values",
        str(ci_values("minimal")),
    )
    crds = [d for d in load_all(res.stdout) if d["kind"] == "CustomResourceDefinition"]
    assert [d["metadata"]["name"] for d in crds] == ["notificationproviders.notify.wavecom.io"]
    assert yaml.safe_dump(crds[0]) == yaml.safe_dump(crd.definition())
