"""wavecom.callbacks.endpoints on the real database: what the admin functions store and show
(never a secret), what an endpoint is owed from, a rotated secret signing beside the new one for
its grace period only, the fields refused by name, and a deleted endpoint's callbacks gone."""

from __future__ import annotations

import base64
import os
from datetime import timedelta

import pytest
from pydantic import SecretStr

from tests.support.callbacks import reached
from wavecom.callbacks.endpoints import (
    EndpointAdmin,
    EndpointRefused,
    SecretsUnsealable,
    check_events,
    check_url,
    open_endpoint,
)
from wavecom.callbacks.owed import owed
from wavecom.core.constants import Status
from wavecom.core.settings import Settings
from wavecom.providers.credentials import Cipher
from wavecom.store import Store, utcnow

URL = "http://127.0.0.1:8089/hooks"


@pytest.fixture
def keyed(settings: Settings) -> Settings:
    key = SecretStr(base64.b64encode(os.urandom(32)).decode())
    return settings.model_copy(update={"credentials_key": key})


async def test_create_stores_it_and_shows_it_without_its_secret(
    keyed: Settings, store: Store
) -> None:
    admin = EndpointAdmin(store, keyed)
    shown, secret = await admin.create("acme", URL, ["notification.sent"] * 2, "ops")
    assert secret.startswith("whsec_")
    assert secret not in str(shown)
    assert shown["id"].startswith("cb_")
    assert (shown["tenantId"], shown["url"], shown["events"]) == (
        "acme",
        URL,
        ["notification.sent"],
    )
    assert (shown["enabled"], shown["description"], shown["previousSecretUntil"]) == (
        True,
        "ops",
        None,
    )
    assert shown["createdAt"].endswith("Z")
    assert await admin.get("acme", shown["id"]) == shown
    assert await admin.list("acme") == [shown]
    # another tenant neither sees nor changes it
    assert await admin.get("globex", shown["id"]) is None
    assert await admin.list("globex") == []
    assert await admin.change("globex", shown["id"], enabled=False) is None
    assert await admin.rotate("globex", shown["id"]) is None
    assert await admin.delete("globex", shown["id"]) is None

    [doc] = await store.endpoints.all()
    opened = open_endpoint(doc, Cipher.of(keyed), utcnow(), 3)
    assert (opened.secrets, opened.revision, opened.enabled) == ((secret,), 3, True)
    assert opened.owed_from == doc["createdAt"]


async def test_without_a_key_only_development_and_test_store_the_secret_as_it_is(
    settings: Settings, store: Store
) -> None:
    _, secret = await EndpointAdmin(store, settings).create("acme", URL, ["notification.sent"])
    [doc] = await store.endpoints.all()
    assert doc["secret"] == {"plain": secret}
    assert open_endpoint(doc, Cipher.of(settings), utcnow(), 0).secrets == (secret,)

    production = settings.model_copy(update={"environment": "production"})
    with pytest.raises(SecretsUnsealable, match="never stored unencrypted"):
        await EndpointAdmin(store, production).create(
            "acme", "https://acme.example/hooks", ["notification.sent"]
        )
    assert len(await store.endpoints.all()) == 1


async def test_a_rotated_secret_signs_beside_the_new_one_until_its_grace_ends(
    keyed: Settings, store: Store
) -> None:
    admin = EndpointAdmin(store, keyed.model_copy(update={"callback_rotation_grace_s": 3600}))
    shown, old = await admin.create("acme", URL, ["notification.sent"])
    rotated = await admin.rotate("acme", shown["id"])
    assert rotated is not None
    view, new = rotated
    assert new != old
    assert new not in str(view)
    assert view["previousSecretUntil"] is not None
    [doc] = await store.endpoints.all()
    cipher = Cipher.of(keyed)
    assert open_endpoint(doc, cipher, utcnow(), 0).secrets == (new, old)
    after_grace = doc["previousUntil"] + timedelta(milliseconds=1)
    assert open_endpoint(doc, cipher, after_grace, 0).secrets == (new,)


async def test_re_enabling_owes_it_only_what_changes_from_then_on(
    settings: Settings, store: Store
) -> None:
    admin = EndpointAdmin(store, settings)
    shown, _ = await admin.create("acme", URL, ["notification.sent"])
    changed = await admin.change("acme", shown["id"], enabled=False, description="paused")
    assert changed is not None
    assert changed["enabled"] is False
    assert changed["description"] == "paused"
    [disabled] = await store.endpoints.all()
    assert "enabledAt" not in disabled
    paused_at = disabled["updatedAt"]
    sent_while_disabled = reached(1, Status.SENT, at=paused_at - timedelta(milliseconds=1))

    await admin.change("acme", shown["id"], enabled=True)
    [doc] = await store.endpoints.all()
    endpoint = open_endpoint(doc, Cipher.of(settings), utcnow(), 0)
    assert endpoint.owed_from == doc["enabledAt"] >= paused_at
    sent_since = reached(2, Status.SENT, at=doc["enabledAt"] + timedelta(milliseconds=1))
    records = owed([sent_while_disabled, sent_since], {"acme": [endpoint]}, utcnow())
    assert [r["notificationId"] for r in records] == [str(sent_since["_id"])]
    # enabling one that is enabled moves nothing
    await admin.change("acme", shown["id"], enabled=True)
    [again] = await store.endpoints.all()
    assert again["enabledAt"] == doc["enabledAt"]


async def test_a_bad_field_is_refused_by_name_and_nothing_changes(
    settings: Settings, store: Store
) -> None:
    admin = EndpointAdmin(store, settings)
    shown, _ = await admin.create("acme", URL, ["notification.sent"])
    for fields, named in [
        ({"url": "ftp://acme.example/hooks"}, "url"),
        ({"url": "https://user:pw@acme.example/hooks"}, "url"),
        ({"url": "https://acme.example/hooks#top"}, "url"),
        ({"url": "https://acme.example/" + "x" * 2000}, "url"),
        ({"events": []}, "events"),
        ({"events": ["notification.sent", "notification.read"]}, "events"),
    ]:
        with pytest.raises(EndpointRefused) as refused:
            await admin.change("acme", shown["id"], **fields)  # type: ignore[arg-type]
        assert refused.value.field == named
        assert str(refused.value).startswith(f"{named}: ")
    assert await admin.get("acme", shown["id"]) == shown
    # development and test may call back over plain HTTP to loopback; production may not
    assert check_url(URL, "test") == URL
    with pytest.raises(EndpointRefused):
        check_url(URL, "production")
    assert check_events(["notification.failed", "notification.sent", "notification.failed"]) == [
        "notification.failed",
        "notification.sent",
    ]


async def test_deleting_an_endpoint_forgets_every_callback_it_was_owed(
    settings: Settings, store: Store
) -> None:
    admin = EndpointAdmin(store, settings)
    kept, _ = await admin.create("acme", URL, ["notification.sent"])
    gone, _ = await admin.create("acme", URL, ["notification.sent"])
    cipher = Cipher.of(settings)
    endpoints = [open_endpoint(d, cipher, utcnow(), 0) for d in await store.endpoints.all()]
    d = reached(1, Status.SENT)
    assert await store.callbacks.add(owed([d], {"acme": endpoints}, utcnow())) == 2
    deleted = await admin.delete("acme", gone["id"])
    assert deleted is not None
    assert deleted["id"] == gone["id"]
    assert [e["id"] for e in await admin.list("acme")] == [kept["id"]]
    left = await store.callbacks.of_notification("acme", str(d["_id"]))
    assert [r["endpointId"] for r in left] == [kept["id"]]
