"""NotificationProvider resources and their Secrets read from YAML, for the admin CLI.

The admin CLI takes the very files ``kubectl apply`` takes: NotificationProvider documents
(``notify.wavecom.io/v1alpha1``) and the ``v1`` Secrets their ``credentialsSecretRef`` names,
in any order, across any number of files. Other kinds are refused, not skipped.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml  # type: ignore[import-untyped]
from pydantic import ValidationError

from wavecom.core.errors import ProviderConfigError
from wavecom.providers.accounts import AccountSpec, check_name

API_GROUP = "notify.wavecom.io"
API_VERSION = f"{API_GROUP}/v1alpha1"
KIND = "NotificationProvider"


@dataclass(frozen=True, slots=True)
class Resource:
    """One NotificationProvider: its name, spec, and the credentials its Secret holds."""

    name: str
    spec: AccountSpec
    credentials: dict[str, str] | None


def secret_values(secret: Mapping[str, Any]) -> dict[str, str]:
    """A v1 Secret's keys and values: ``data`` base64-decoded, then ``stringData`` over it."""
    values: dict[str, str] = {}
    for key, encoded in (secret.get("data") or {}).items():
        try:
            values[str(key)] = base64.b64decode(str(encoded), validate=True).decode()
        except (binascii.Error, ValueError, UnicodeDecodeError):
            raise ProviderConfigError(f"secret key {key!r} is not base64 of UTF-8 text") from None
    for key, value in (secret.get("stringData") or {}).items():
        values[str(key)] = str(value)
    return values


def spec_of(name: str, spec: Mapping[str, Any]) -> AccountSpec:
    """The resource's spec validated, or one error naming each bad field."""
    try:
        return AccountSpec.model_validate(dict(spec))
    except ValidationError as exc:
        problems = [
            f"spec.{'.'.join(str(x) for x in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_url=False, include_input=False, include_context=False)
        ]
        raise ProviderConfigError(f"provider {name!r}: {'; '.join(problems)}") from None


def parse(texts: Iterable[str]) -> list[Resource]:
    """Every NotificationProvider in the YAML texts, with its Secret resolved."""
    providers: list[tuple[str, Mapping[str, Any]]] = []
    secrets: dict[str, dict[str, str]] = {}
    for text in texts:
        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError as exc:
            raise ProviderConfigError(f"not valid YAML: {exc}") from None
        for doc in docs:
            if not isinstance(doc, dict):
                raise ProviderConfigError("each YAML document must be a mapping")
            kind, name = doc.get("kind"), (doc.get("metadata") or {}).get("name")
            if not isinstance(name, str):
                raise ProviderConfigError(f"a {kind or 'document'} without metadata.name")
            if kind == "Secret" and doc.get("apiVersion") == "v1":
                secrets[name] = secret_values(doc)
            elif kind == KIND and doc.get("apiVersion") == API_VERSION:
                check_name(name)
                providers.append((name, doc.get("spec") or {}))
            else:
                raise ProviderConfigError(
                    f"{name!r}: only {API_VERSION} {KIND} and v1 Secret documents are taken "
                    f"(this is {doc.get('apiVersion')} {kind})"
                )
    names = [n for n, _ in providers]
    if len(set(names)) != len(names):
        raise ProviderConfigError("a NotificationProvider name appears twice")
    out: list[Resource] = []
    for name, raw in providers:
        spec = spec_of(name, raw)
        credentials = None
        if spec.credentials_secret_ref is not None:
            ref = spec.credentials_secret_ref.name
            if ref not in secrets:
                raise ProviderConfigError(
                    f"provider {name!r}: Secret {ref!r} is not in the files given"
                )
            credentials = secrets[ref]
        out.append(Resource(name, spec, credentials))
    return out
