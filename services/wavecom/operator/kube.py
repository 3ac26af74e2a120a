"""The two Kubernetes API calls the operator makes itself: kopf watches and patches the
resources it handles, but has no client for other reads and writes (by design: bring your own).

It uses kopf's own login (``kopf.login_with_service_account`` in a pod, else the kubeconfig), so
the operator needs no further client library; on a 401 it logs in again (a rotated token).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import aiohttp
import kopf

JSON = Mapping[str, Any]


class KubeError(Exception):
    """Raised when the API server answers neither the object nor 404 (the message says how)."""


def login(settings: kopf.OperatorSettings | None = None) -> kopf.ConnectionInfo:
    """Credentials the way kubectl finds them: $KUBECONFIG when set, else the pod's service
    account, else ~/.kube/config."""
    s = settings or kopf.OperatorSettings()
    if os.environ.get("KUBECONFIG"):
        info = kopf.login_with_kubeconfig(settings=s)
    else:
        info = kopf.login_with_service_account(settings=s) or kopf.login_with_kubeconfig(settings=s)
    if info is None:
        raise kopf.LoginError("no service account token and no kubeconfig")
    return info


class KubeAPI:
    """A small aiohttp client of the API server (open it inside the running event loop)."""

    def __init__(self, relogin: Callable[[], kopf.ConnectionInfo] = login) -> None:
        self._relogin = relogin
        self._session: aiohttp.ClientSession | None = None
        self._server = ""

    def _connect(self) -> aiohttp.ClientSession:
        info = self._relogin()
        self._server = info.server.rstrip("/")
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=info.as_ssl_context()),
            headers=info.as_http_headers(),
            timeout=aiohttp.ClientTimeout(total=30),
        )

    async def _call(
        self, method: str, path: str, *, json: JSON | None = None, content_type: str = ""
    ) -> dict[str, Any] | None:
        for attempt in (1, 2):
            if self._session is None:
                self._session = self._connect()
            headers = {"Content-Type": content_type} if content_type else {}
            try:
                async with self._session.request(
                    method, self._server + path, json=json, headers=headers
                ) as r:
                    if r.status == 401 and attempt == 1:
                        await self.close()  # the token may have been rotated: log in again
                        continue
                    if r.status == 404:
                        return None
                    if r.status >= 300:
                        # the body of an error is a Status object: its message names no values
                        raise KubeError(f"{method} {path}: {r.status} {(await r.text())[:300]}")
                    body: dict[str, Any] = await r.json()
                    return body
            except aiohttp.ClientError as exc:
                raise KubeError(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        raise KubeError(f"{method} {path}: unauthorized")

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The v1 Secret, or None when it does not exist."""
        return await self._call("GET", f"/api/v1/namespaces/{_q(namespace)}/secrets/{_q(name)}")

    async def annotate(
        self, api: str, plural: str, namespace: str, name: str, annotations: Mapping[str, str]
    ) -> bool:
        """Merge ``annotations`` into a namespaced object of ``api`` (``group/version``);
        False when it does not exist."""
        body = {"metadata": {"annotations": dict(annotations)}}
        path = f"/apis/{api}/namespaces/{_q(namespace)}/{plural}/{_q(name)}"
        done = await self._call(
            "PATCH", path, json=body, content_type="application/merge-patch+json"
        )
        return done is not None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _q(part: str) -> str:
    return quote(part, safe="")
