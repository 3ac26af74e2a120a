"""The kopf handlers called directly (they are plain functions) against the real database: what
each writes to the provider accounts, and the conditions it puts in the resource's status."""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, cast

import kopf
import pytest

from tests.operator.conftest import Secrets
from wavecom.core.constants import PROVIDER_ACCOUNTS
from wavecom.operator import handlers
from wavecom.operator.conditions import CREDENTIALS_RESOLVED, READY, find
from wavecom.operator.handlers import Context
from wavecom.providers import accounts
from wavecom.providers.accounts import AccountSpec
from wavecom.store import Store

NS = "payments"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()


def mock_spec(**over: Any) -> dict[str, Any]:
    return {"channel": "SMS", "driver": "mock", "priority": 10, **over}


def webhook_spec(**over: Any) -> dict[str, Any]:
    return {
        "channel": "SMS",
        "driver": "webhook",
        "priority": 20,
        "settings": {"url": "https://gateway.example/send"},
        "credentialsSecretRef": {"name": "gateway-credentials"},
        **over,
    }


class Outcome:
    """What one handler call left: the status patch, and the kopf error it raised (if any)."""

    def __init__(self, patch: kopf.Patch, error: Exception | None) -> None:
        self.patch = patch
        self.error = error

    @property
    def status(self) -> dict[str, Any]:
        return dict(self.patch.get("status", {}))

    def condition(self, type_: str) -> Mapping[str, Any]:
        found = find(self.status.get("conditions", []), type_)
        assert found is not None, f"no {type_} condition in {self.status}"
        return found


async def apply(
    context: Context,
    name: str,
    spec: dict[str, Any],
    *,
    generation: int = 1,
    status: Mapping[str, Any] | None = None,
    namespace: str = NS,
) -> Outcome:
    patch = kopf.Patch()
    try:
        await handlers.apply_provider(
            name=name,
            namespace=namespace,
            spec=spec,
            status=status or {},
            meta={"name": name, "namespace": namespace, "generation": generation},
            patch=patch,
            memo=kopf.Memo(context=context),
        )
    except (kopf.PermanentError, kopf.TemporaryError) as exc:
        return Outcome(patch, exc)
    return Outcome(patch, None)


async def test_a_mock_provider_is_applied_and_ready(context: Context, store: Store) -> None:
    out = await apply(context, "sms-primary", mock_spec(), generation=4)
    assert out.error is None
    ready = out.condition(READY)
    assert (ready["status"], ready["reason"], ready["observedGeneration"]) == ("True", "Applied", 4)
    creds = out.condition(CREDENTIALS_RESOLVED)
    assert (creds["status"], creds["reason"]) == ("True", "NoSecretReferenced")
    assert ready["lastTransitionTime"].endswith("Z")

    (account,) = await accounts.list_accounts(store)
    assert account.name == "sms-primary"
    assert account.source == f"kubernetes:{NS}/sms-primary"
    assert account.spec == AccountSpec.model_validate(mock_spec())
    assert out.status["accountRevision"] == account.revision
    assert out.status["observedGeneration"] == 4


async def test_an_update_bumps_the_revision_and_keeps_the_transition_time(
    context: Context, store: Store
) -> None:
    first = await apply(context, "sms-primary", mock_spec())
    old = {
        "conditions": [
            {**c, "lastTransitionTime": "2020-01-01T00:00:00Z"} for c in first.status["conditions"]
        ]
    }
    second = await apply(context, "sms-primary", mock_spec(priority=5), generation=2, status=old)
    assert second.error is None
    assert second.status["accountRevision"] > first.status["accountRevision"]
    ready = second.condition(READY)
    assert ready["lastTransitionTime"] == "2020-01-01T00:00:00Z"  # still True: no transition
    assert ready["observedGeneration"] == 2
    (account,) = await accounts.list_accounts(store)
    assert account.spec.priority == 5


async def test_credentials_come_from_the_secret_and_are_sealed(
    context: Context, store: Store, secrets: Secrets, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets.put(NS, "gateway-credentials", secret=WEBHOOK_SECRET)
    out = await apply(context, "sms-gateway", webhook_spec())
    assert out.error is None, out.error
    assert out.condition(READY)["status"] == "True"
    creds = out.condition(CREDENTIALS_RESOLVED)
    assert (creds["status"], creds["reason"]) == ("True", "Resolved")
    assert "keys: secret" in creds["message"]
    (account,) = await accounts.list_accounts(store)
    assert account.view()["hasCredentials"] is True
    # sealed at rest, and in no status or log line
    raw = await store.db[PROVIDER_ACCOUNTS].find_one({"_id": "sms-gateway"})
    assert raw is not None
    secret_part = WEBHOOK_SECRET.removeprefix("whsec_")
    assert secret_part not in repr(raw)
    assert secret_part not in repr(out.patch)
    assert secret_part not in caplog.text


async def test_a_missing_secret_is_not_ready_and_retried(context: Context, store: Store) -> None:
    out = await apply(context, "sms-gateway", webhook_spec())
    assert isinstance(out.error, kopf.TemporaryError)
    assert out.error.delay == context.secret_retry_s
    ready = out.condition(READY)
    assert (ready["status"], ready["reason"]) == ("False", "SecretNotFound")
    assert "gateway-credentials" in ready["message"]
    creds = out.condition(CREDENTIALS_RESOLVED)
    assert (creds["status"], creds["reason"]) == ("False", "SecretNotFound")
    assert await accounts.list_accounts(store) == []


async def test_a_secret_without_the_drivers_key_is_refused_without_its_values(
    context: Context, store: Store, secrets: Secrets
) -> None:
    secrets.put(NS, "gateway-credentials", token="hunter2-not-the-key")  # noqa: S106
    out = await apply(context, "sms-gateway", webhook_spec())
    assert isinstance(out.error, kopf.PermanentError)
    creds = out.condition(CREDENTIALS_RESOLVED)
    assert (creds["status"], creds["reason"]) == ("False", "SecretKeyInvalid")
    assert "credentials.secret" in creds["message"]
    ready = out.condition(READY)
    assert (ready["status"], ready["reason"]) == ("False", "SecretKeyInvalid")
    assert "hunter2" not in repr(out.patch)
    assert await accounts.list_accounts(store) == []


async def test_an_unlabelled_secret_is_refused_and_named_with_the_label(
    context: Context, store: Store, secrets: Secrets
) -> None:
    """The operator watches only labelled Secrets: one without the label would be read once and
    its changes never seen, so it is refused, saying which label to add."""
    secrets.put(NS, "gateway-credentials", labelled=False, secret=WEBHOOK_SECRET)
    out = await apply(context, "sms-gateway", webhook_spec())
    assert isinstance(out.error, kopf.PermanentError)
    for type_ in (READY, CREDENTIALS_RESOLVED):
        cond = out.condition(type_)
        assert (cond["status"], cond["reason"]) == ("False", "SecretNotLabelled")
        assert "notify.wavecom.io/provider-credentials=true" in cond["message"]
        assert "'gateway-credentials'" in cond["message"]
    assert WEBHOOK_SECRET.removeprefix("whsec_") not in repr(out.patch)
    assert await accounts.list_accounts(store) == []
    # labelled (its next change re-applies the provider): Ready
    secrets.put(NS, "gateway-credentials", secret=WEBHOOK_SECRET)
    again = await apply(context, "sms-gateway", webhook_spec())
    assert again.error is None, again.error
    assert again.condition(READY)["status"] == "True"
    assert [a.name for a in await accounts.list_accounts(store)] == ["sms-gateway"]


def test_kopf_watches_only_labelled_secrets() -> None:
    settings = kopf.OperatorSettings()
    handlers.configure(settings)
    secret = kopf.Resource("", "v1", "secrets", kind="Secret", namespaced=True)
    provider = kopf.Resource(
        "notify.wavecom.io", "v1alpha1", "notificationproviders", namespaced=True
    )
    selectors = settings.watching.label_selectors
    assert selectors.collect(secret) == ["notify.wavecom.io/provider-credentials=true"]
    assert selectors.collect(provider) == []  # every NotificationProvider is served


async def test_a_secret_that_is_not_text_is_refused(context: Context, secrets: Secrets) -> None:
    secrets.put(NS, "gateway-credentials")
    secrets.secrets[(NS, "gateway-credentials")]["data"] = {
        "secret": base64.b64encode(b"\xff\xfe").decode()
    }
    out = await apply(context, "sms-gateway", webhook_spec())
    assert isinstance(out.error, kopf.PermanentError)
    assert out.condition(CREDENTIALS_RESOLVED)["reason"] == "SecretKeyInvalid"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (mock_spec(channel="FAX"), "spec.channel"),
        (mock_spec(sendRatePerSecond=-1), "spec.sendRatePerSecond"),
        ({"driver": "mock"}, "spec.channel"),
        (mock_spec(colour="blue"), "spec.colour"),
        (webhook_spec(settings={"url": "not a url"}, credentialsSecretRef=None), "settings.url"),
    ],
)
async def test_an_invalid_spec_is_permanent_and_names_the_field(
    context: Context, store: Store, spec: dict[str, Any], field: str
) -> None:
    spec = {k: v for k, v in spec.items() if v is not None}
    out = await apply(context, "sms-bad", spec)
    assert isinstance(out.error, kopf.PermanentError)
    ready = out.condition(READY)
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert field in ready["message"]
    assert await accounts.list_accounts(store) == []


async def test_settings_refused_while_the_secret_resolves(
    context: Context, secrets: Secrets
) -> None:
    secrets.put(NS, "gateway-credentials", secret=WEBHOOK_SECRET)
    out = await apply(context, "sms-gateway", webhook_spec(settings={}))
    assert isinstance(out.error, kopf.PermanentError)
    assert out.condition(READY)["reason"] == "InvalidSpec"
    assert "settings.url" in out.condition(READY)["message"]
    assert out.condition(CREDENTIALS_RESOLVED)["status"] == "True"


async def test_an_account_another_source_manages_is_a_conflict_and_survives_delete(
    context: Context, store: Store
) -> None:
    theirs = await accounts.apply(
        store,
        context.cipher,
        "sms-primary",
        AccountSpec.model_validate(mock_spec()),
        None,
        source="kubernetes:other/sms-primary",
        environment="test",
    )
    out = await apply(context, "sms-primary", mock_spec(priority=1))
    assert isinstance(out.error, kopf.PermanentError)
    ready = out.condition(READY)
    assert (ready["status"], ready["reason"]) == ("False", "Conflict")
    await handlers.remove_provider(
        name="sms-primary", namespace=NS, memo=kopf.Memo(context=context)
    )
    (account,) = await accounts.list_accounts(store)
    assert (account.source, account.revision) == (theirs.source, theirs.revision)


async def test_delete_removes_the_account(context: Context, store: Store) -> None:
    assert (await apply(context, "sms-primary", mock_spec())).error is None
    assert (await apply(context, "sms-backup", mock_spec(priority=50))).error is None
    await handlers.remove_provider(
        name="sms-primary", namespace=NS, memo=kopf.Memo(context=context)
    )
    assert [a.name for a in await accounts.list_accounts(store)] == ["sms-backup"]
    # again (kopf may retry a delete): nothing left to remove is not an error
    await handlers.remove_provider(
        name="sms-primary", namespace=NS, memo=kopf.Memo(context=context)
    )


def test_the_index_maps_a_secret_to_the_providers_naming_it() -> None:
    assert handlers.providers_by_secret(name="gw", namespace=NS, spec=webhook_spec()) == {
        (NS, "gateway-credentials"): "gw"
    }
    assert handlers.providers_by_secret(name="m", namespace=NS, spec=mock_spec()) is None


async def test_a_secret_event_marks_the_providers_that_reference_it(
    context: Context, secrets: Secrets
) -> None:
    index = cast(kopf.Index[tuple[str, str], str], {(NS, "gateway-credentials"): ["gw-b", "gw-a"]})
    memo = kopf.Memo(context=context)
    meta = {"name": "gateway-credentials", "namespace": NS, "resourceVersion": "812"}
    common: dict[str, Any] = {
        "name": "gateway-credentials",
        "namespace": NS,
        "meta": meta,
        "memo": memo,
    }
    # the initial listing at start-up is left to the resume handlers
    await handlers.secret_changed(type=None, providers_by_secret=index, **common)
    assert secrets.annotated == []
    await handlers.secret_changed(type="MODIFIED", providers_by_secret=index, **common)
    assert secrets.annotated == [
        (NS, "gw-a", {handlers.SECRET_VERSION: "812"}),
        (NS, "gw-b", {handlers.SECRET_VERSION: "812"}),
    ]
    # a Secret nobody references costs nothing
    other = {**common, "name": "unrelated", "meta": {**meta, "name": "unrelated"}}
    await handlers.secret_changed(type="MODIFIED", providers_by_secret=index, **other)
    assert len(secrets.annotated) == 2


def test_kopf_carries_our_finalizer_and_prefix() -> None:
    settings = kopf.OperatorSettings()
    handlers.configure(settings)
    assert settings.persistence.finalizer == "notify.wavecom.io/finalizer"
    progress = settings.persistence.progress_storage
    diffbase = settings.persistence.diffbase_storage
    assert isinstance(progress, kopf.AnnotationsProgressStorage)
    assert isinstance(diffbase, kopf.AnnotationsDiffBaseStorage)
    assert progress.prefix == diffbase.prefix == "notify.wavecom.io"
    assert settings.scanning.disabled is True


async def test_production_refuses_a_mock_provider_naming_it(context: Context, store: Store) -> None:
    production = replace(context, environment="production")
    out = await apply(production, "sms-rehearsal", mock_spec())
    assert isinstance(out.error, kopf.PermanentError)
    assert "'sms-rehearsal'" in str(out.error)
    ready = out.condition(READY)
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec")
    assert "ENVIRONMENT=production" in ready["message"]
    assert await accounts.list_accounts(store) == []
