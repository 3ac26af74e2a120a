"""The chart tests' shared render helper, in the Airflow chart tests' manner: render the chart
with helm into Python objects (`render_chart(values, show_only=[...])`), validate them against the
Kubernetes and CRD schemas, then read fields with small path queries. Each test_<component>.py
beside it renders and reads one part of the chart."""

from __future__ import annotations

import functools
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import yaml  # type: ignore[import-untyped]

from tests.charts.kube import CHART, KUBE_VERSION, crd_schemas, helm, load_all, require, strict

CI_SETS = sorted(p.stem.removesuffix("-values") for p in (CHART / "ci").glob("*-values.yaml"))
RELEASE = "wcn"
NAMESPACE = "notify"
# the API groups of the custom resources the chart renders (and its examples/), validated
# against their CRDs; notify.wavecom.io is the chart's own (crds/)
CRD_GROUPS = ("keda.sh", "monitoring.coreos.com", "notify.wavecom.io")
OWN_CRDS = CHART / "crds"
# what a cluster with KEDA and the prometheus-operator serves, for `.Capabilities.APIVersions`
API_VERSIONS = (
    "keda.sh/v1alpha1",
    "monitoring.coreos.com/v1",
    "monitoring.coreos.com/v1/ServiceMonitor",
    "monitoring.coreos.com/v1/PrometheusRule",
)


# the objects' name prefix under RELEASE, and the smallest values every render needs
FULL = f"{RELEASE}-wavecom-notify"
URLS: dict[str, Any] = {
    "secrets": {
        "amqpUrl": "amqp://u:p@rabbit-0:5672/vh,amqp://u:p@rabbit-1:5672/vh",
        "mongodbUrl": "mongodb://mongo:27017/",
        "rabbitmqManagementUrl": "http://u:p@rabbit:15672/vh",
    }
}
DEPLOYMENTS = {f"{FULL}-api", f"{FULL}-worker-email", f"{FULL}-worker-sms", f"{FULL}-worker-push"}


def ci_values(name: str) -> Path:
    return CHART / "ci" / f"{name}-values.yaml"


def merged(*parts: dict[str, Any]) -> dict[str, Any]:
    """Values dicts merged as helm merges values files: later parts win, maps merge deeply."""
    out: dict[str, Any] = {}
    for part in parts:
        for k, v in part.items():
            out[k] = merged(out.get(k, {}), v) if isinstance(v, dict) and v else v
    return out


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """A workload's init containers and containers."""
    spec = doc["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def template_args(
    values: dict[str, Any] | None = None,
    values_files: Iterable[Path] = (),
    show_only: Iterable[str] = (),
    api_versions: Iterable[str] = API_VERSIONS,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
    workdir: Path | None = None,
) -> list[str]:
    args = [
        "template",
        release,
        str(CHART),
        "--namespace",
        namespace,
        "--kube-version",
        KUBE_VERSION,
    ]
    for f in values_files:
        args += ["--values", str(f)]
    if values is not None:
        assert workdir is not None
        f = workdir / "values.yaml"
        f.write_text(yaml.safe_dump(values))
        args += ["--values", str(f)]
    for v in api_versions:
        args += ["--api-versions", v]
    for s in show_only:
        args += ["--show-only", s]
    return args


def render_chart(
    values: dict[str, Any] | None = None,
    values_files: Iterable[Path] = (),
    show_only: Iterable[str] = (),
    api_versions: Iterable[str] = API_VERSIONS,
    release: str = RELEASE,
) -> list[dict[str, Any]]:
    """`helm template` into objects; raises RenderError with helm's message when it fails."""
    with tempfile.TemporaryDirectory() as tmp:
        args = template_args(
            values, values_files, show_only, api_versions, release, workdir=Path(tmp)
        )
        res = helm(*args, check=False)
    if res.returncode != 0:
        # --show-only of a template that renders nothing is not an error of the chart
        if "could not find template" in res.stderr and show_only:
            return []
        raise RenderError(res.stderr.strip())
    return load_all(res.stdout)


class RenderError(Exception):
    """Raised when helm refuses the values (schema, a `fail` in a template) or the chart."""


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def jmespath(obj: Any, path: str) -> Any:
    """A small path query: `spec.triggers[0].metadata.queueName`."""
    for name, index in _STEP.findall(path):
        obj = obj[int(index)] if index else obj[name]
    return obj


def json_schema(node: Any) -> Any:
    """An OpenAPI v3.0 schema (a CRD's) in JSON Schema 2020-12 terms: v3.0's boolean
    ``exclusiveMinimum``/``exclusiveMaximum`` become the bounds themselves."""
    if isinstance(node, list):
        return [json_schema(v) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: json_schema(v) for k, v in node.items()}
    for bound, exclusive in (("minimum", "exclusiveMinimum"), ("maximum", "exclusiveMaximum")):
        if out.get(exclusive) is True:
            out[exclusive] = out.pop(bound)
        elif out.get(exclusive) is False:
            del out[exclusive]
    return out


@functools.cache
def _crds() -> dict[tuple[str, str, str], dict[str, Any]]:
    p = require("share")
    files = [p.share / "keda-crds.yaml", p.monitoring_crds, *sorted(OWN_CRDS.glob("*.yaml"))]
    out = {}
    for k, v in crd_schemas(*files).items():
        schema = json_schema(strict(v))
        # the API server checks ObjectMeta itself; a CRD may only narrow name/generateName
        if isinstance(schema.get("properties", {}).get("metadata"), dict):
            schema["properties"]["metadata"].pop("additionalProperties", None)
        out[k] = schema
    return out


def crd_schema(group: str, version: str, kind: str) -> dict[str, Any]:
    """The JSON Schema that the API server applies to one custom resource kind."""
    return _crds()[(group, version, kind)]


def validate(docs: list[dict[str, Any]]) -> None:
    """Every object against the Kubernetes 1.37 schemas (strict: unknown fields fail), custom
    resources against their CRD's schema."""
    for doc in docs:
        api_version = doc["apiVersion"]
        group, _, version = api_version.rpartition("/")
        what = f"{doc['kind']}/{doc['metadata']['name']}"
        if group in CRD_GROUPS:
            schema = _crds().get((group, version, doc["kind"]))
            assert schema is not None, f"{what}: no CRD schema for {api_version} {doc['kind']}"
            # the CRDs' patterns are Go regexps (RE2): no check of the schema itself, which
            # compiles every pattern in Python's dialect; the fields we set have none of those
            try:
                jsonschema.Draft202012Validator(schema).validate(doc)
            except jsonschema.ValidationError as exc:
                raise AssertionError(f"{what}: {exc.message} at {list(exc.absolute_path)}") from exc
        else:
            try:
                kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                raise AssertionError(f"{what}: {exc.message} at {list(exc.path)}") from exc
