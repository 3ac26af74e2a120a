"""Fixtures of the operator's direct tests: settings with a credentials key, and the handlers'
context on the real database."""

from __future__ import annotations

import base64
import os
from collections.abc import Mapping
from typing import Any

import pytest
from pydantic import SecretStr

from wavecom.core.settings import Settings
from wavecom.operator.handlers import SECRET_LABEL, Context
from wavecom.providers.credentials import Cipher
from wavecom.store import Store


class Secrets:
    """Secrets as the API server would answer them, from manifests held here: the direct tests
    exercise the handlers and the database; tests/cluster/test_operator.py reads real Secrets."""

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.annotated: list[tuple[str, str, dict[str, str]]] = []

    def put(self, namespace: str, name: str, *, labelled: bool = True, **string_data: str) -> None:
        """A Secret with these keys, labelled for the operator (SECRET_LABEL) unless not."""
        data = {k: base64.b64encode(v.encode()).decode() for k, v in string_data.items()}
        metadata: dict[str, Any] = {"name": name, "namespace": namespace}
        if labelled:
            metadata["labels"] = {SECRET_LABEL: "true"}
        self.secrets[(namespace, name)] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": metadata,
            "data": data,
        }

    async def get_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self.secrets.get((namespace, name))

    async def annotate(
        self, api: str, plural: str, namespace: str, name: str, annotations: Mapping[str, str]
    ) -> bool:
        self.annotated.append((namespace, name, dict(annotations)))
        return True


@pytest.fixture
def keyed_settings(settings: Settings) -> Settings:
    """The test's settings with a fresh AES-256 credentials key."""
    key = base64.b64encode(os.urandom(32)).decode()
    return settings.model_copy(update={"credentials_key": SecretStr(key)})


@pytest.fixture
def secrets() -> Secrets:
    return Secrets()


@pytest.fixture
def context(keyed_settings: Settings, store: Store, secrets: Secrets) -> Context:
    return Context(
        store,
        Cipher.of(keyed_settings),
        secrets,
        secret_retry_s=1.0,
        environment=keyed_settings.environment,
    )
