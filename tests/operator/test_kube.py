"""``wavecom.operator.kube``: the operator's own two API calls, without a Kubernetes API server.

A local HTTP server answers as the API server does (tests/cluster/test_operator.py runs them
against a real one): a Secret is read or is None, annotations are merged with a JSON merge
patch, a 401 logs in again once (a rotated token), any other answer or none at all is a
KubeError; names are quoted into the path; the login follows $KUBECONFIG.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kopf
import pytest
from aiohttp import web

from tests.support.servers import closed_port, serving
from wavecom.operator.kube import KubeAPI, KubeError, _q, login

SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "bank-sms-twilio"}}


@dataclass
class ApiServer:
    """What the API server was asked, and the status of its next answers (200 by default)."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    seen: list[tuple[str, str, str, str, Any]] = field(default_factory=list)
    logins: int = 0

    def connection(self) -> kopf.ConnectionInfo:
        self.logins += 1
        return kopf.ConnectionInfo(server=self.url + "/", token=f"token-{self.logins}")


@pytest.fixture
async def server() -> AsyncIterator[ApiServer]:
    state = ApiServer()

    async def answer(request: web.Request) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        state.seen.append(
            (
                request.method,
                request.raw_path,
                request.headers.get("Authorization", ""),
                request.headers.get("Content-Type", ""),
                body,
            )
        )
        status = state.statuses.pop(0) if state.statuses else 200
        if status == 200:
            return web.json_response(SECRET)
        return web.json_response({"kind": "Status", "message": f"answer {status}"}, status=status)

    app = web.Application()
    app.router.add_route("*", "/{path:.*}", answer)
    async with serving(app) as url:
        state.url = url
        yield state


@pytest.fixture
async def kube(server: ApiServer) -> AsyncIterator[KubeAPI]:
    api = KubeAPI(relogin=server.connection)
    yield api
    await api.close()


def test_names_are_quoted_into_one_path_segment() -> None:
    assert _q("bank-sms") == "bank-sms"
    assert _q("a/b c?d") == "a%2Fb%20c%3Fd"


async def test_a_secret_is_read_with_the_logins_token_or_is_none(
    server: ApiServer, kube: KubeAPI
) -> None:
    assert await kube.get_secret("payments", "bank-sms-twilio") == SECRET
    server.statuses.append(404)
    assert await kube.get_secret("pay/ments", "gone") is None
    assert [s[:3] for s in server.seen] == [
        ("GET", "/api/v1/namespaces/payments/secrets/bank-sms-twilio", "Bearer token-1"),
        ("GET", "/api/v1/namespaces/pay%2Fments/secrets/gone", "Bearer token-1"),
    ]
    assert server.logins == 1  # one session for every call


async def test_annotations_are_merged_with_a_merge_patch(server: ApiServer, kube: KubeAPI) -> None:
    done = await kube.annotate(
        "notify.wavecom.io/v1alpha1", "notificationproviders", "payments", "bank-sms", {"a": "1"}
    )
    assert done
    server.statuses.append(404)
    assert not await kube.annotate(
        "notify.wavecom.io/v1alpha1", "notificationproviders", "payments", "gone", {"a": "1"}
    )
    method, path, _, content_type, body = server.seen[0]
    assert (method, content_type) == ("PATCH", "application/merge-patch+json")
    assert (
        path
        == "/apis/notify.wavecom.io/v1alpha1/namespaces/payments/notificationproviders/bank-sms"
    )
    assert body == {"metadata": {"annotations": {"a": "1"}}}


async def test_a_401_logs_in_again_once(server: ApiServer, kube: KubeAPI) -> None:
    server.statuses.append(401)
    assert await kube.get_secret("payments", "bank-sms-twilio") == SECRET
    assert [s[2] for s in server.seen] == ["Bearer token-1", "Bearer token-2"]
    server.statuses.extend([401, 401])
    with pytest.raises(KubeError, match=r"GET /api/v1/namespaces/payments/secrets/x: 401 "):
        await kube.get_secret("payments", "x")  # a second 401 in a row: not logged in again
    assert server.logins == 3


async def test_any_other_answer_or_none_is_a_kube_error(server: ApiServer, kube: KubeAPI) -> None:
    server.statuses.append(403)
    with pytest.raises(KubeError, match=r"GET /api/v1/namespaces/p/secrets/s: 403 .*answer 403"):
        await kube.get_secret("p", "s")
    unreachable = KubeAPI(
        relogin=lambda: kopf.ConnectionInfo(server=f"http://127.0.0.1:{closed_port()}")
    )
    try:
        with pytest.raises(KubeError, match="ClientConnectorError"):
            await unreachable.get_secret("p", "s")
    finally:
        await unreachable.close()


def test_the_login_follows_kubeconfig_when_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: u, user: {token: from-kubeconfig}}]
contexts: [{name: x, context: {cluster: c, user: u, namespace: payments}}]
current-context: x
"""
    )
    monkeypatch.setenv("KUBECONFIG", str(config))
    info = login()
    assert info.server == "https://127.0.0.1:6443"
    assert info.token == "from-kubeconfig"  # noqa: S105 - a test token
    assert info.default_namespace == "payments"
