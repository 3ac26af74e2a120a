"""``python -m wavecom.admin``: the operator's CLI for keys and tenant limits."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from tests.support.admin import admin
from tests.support.documents import doc
from tests.support.services import GUEST, MANAGEMENT_URL, free_port
from wavecom.core.constants import STATS, Channel, Lane, Priority, lane_queue
from wavecom.core.keys import Keys
from wavecom.core.settings import Settings
from wavecom.core.tenants import RateLimit, Tenants
from wavecom.providers.credentials import Cipher
from wavecom.relay.reconcile import reconcile
from wavecom.store import Store


async def test_keys_are_created_listed_and_revoked(settings: Settings, store: Store) -> None:
    created = admin(
        settings,
        "keys",
        "create",
        "--tenant",
        "acme",
        "--scope",
        "send,read",
        "--name",
        "ci",
        "--quiet",
    )
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    key = await Keys(store).verify(token)
    assert key is not None
    assert key.tenant == "acme"
    assert sorted(key.scopes) == ["read", "send"]

    listed = admin(settings, "keys", "list", "--tenant", "acme")
    assert key.key_id in listed.stdout
    assert token not in listed.stdout

    revoked = admin(settings, "keys", "revoke", key.key_id)
    assert revoked.returncode == 0
    assert await Keys(store).verify(token) is None
    assert admin(settings, "keys", "revoke", "0123456789abcdef").returncode == 1


def test_bad_input_is_refused_with_a_message(settings: Settings) -> None:
    r = admin(settings, "keys", "create", "--tenant", "acme", "--scope", "write")
    assert r.returncode == 2
    assert "unknown scope 'write'" in r.stderr
    r = admin(settings, "keys", "create", "--tenant", "a b", "--scope", "read")
    assert r.returncode == 2
    r = admin(settings, "tenants", "set-limit", "acme", "--per-second", "0", "--burst", "5")
    assert r.returncode == 2


async def test_tenant_limits_are_set_and_listed(settings: Settings, store: Store) -> None:
    r = admin(settings, "tenants", "set-limit", "acme", "--per-second", "50", "--burst", "500")
    assert r.returncode == 0, r.stderr
    limit = await Tenants(store, RateLimit(1, 1), cache_s=0).limit("acme")
    assert limit == RateLimit(50.0, 500)
    assert "acme: 50/s, burst 500 per key" in admin(settings, "tenants", "list").stdout


async def test_a_tenant_default_ttl_is_set_listed_and_cleared(
    settings: Settings, store: Store
) -> None:
    r = admin(settings, "tenants", "set-ttl", "acme", "SMS", "300")
    assert r.returncode == 0, r.stderr
    tenants = Tenants(store, RateLimit(1, 1), cache_s=0)
    assert await tenants.default_ttls("acme") == {Channel.SMS: 300}
    assert "acme: default TTL SMS 300 s" in admin(settings, "tenants", "list").stdout
    for bad in ("0", "604801", "soon"):
        refused = admin(settings, "tenants", "set-ttl", "acme", "SMS", bad)
        assert refused.returncode == 2
        assert "604800" in refused.stderr or "off" in refused.stderr
    assert admin(settings, "tenants", "set-ttl", "acme", "SMS", "off").returncode == 0
    assert await tenants.default_ttls("acme") == {}


async def test_a_tenant_without_shared_fallback_is_set_and_listed(
    settings: Settings, store: Store
) -> None:
    r = admin(settings, "tenants", "set-shared-fallback", "acme", "off")
    assert r.returncode == 0, r.stderr
    tenants = Tenants(store, RateLimit(1, 1))
    assert await tenants.without_shared_fallback() == {"acme"}
    assert "acme: shared fallback off" in admin(settings, "tenants", "list").stdout
    assert admin(settings, "tenants", "set-shared-fallback", "acme", "on").returncode == 0
    assert await tenants.without_shared_fallback() == frozenset()
    bad = admin(settings, "tenants", "set-shared-fallback", "no such tenant", "off")
    assert bad.returncode == 2
    assert "not a tenant id" in bad.stderr


async def test_production_refuses_a_mock_provider_naming_it(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    manifest = tmp_path / "providers.yaml"
    manifest.write_text(PROVIDERS_YAML)
    key = base64.b64encode(os.urandom(32)).decode()
    env = {"CREDENTIALS_KEY": key, "ENVIRONMENT": "production"}
    refused = admin(settings, "providers", "apply", "-f", str(manifest), env=env)
    assert refused.returncode == 2
    assert "'rehearsal'" in refused.stderr
    assert "ENVIRONMENT=production" in refused.stderr
    assert await store.accounts.all() == []  # the real account beside it is not written either


PROVIDERS_YAML = """
apiVersion: notify.wavecom.io/v1alpha1
kind: NotificationProvider
metadata: {name: bank-sms}
spec:
  channel: SMS
  driver: twilio
  priority: 5
  sendRatePerSecond: 30
  tenants: [acme]
  settings: {fromNumber: "+15005550006"}
  credentialsSecretRef: {name: bank-sms-twilio}
---
apiVersion: v1
kind: Secret
metadata: {name: bank-sms-twilio, labels: {notify.wavecom.io/provider-credentials: "true"}}
stringData:
  accountSid: AC00000000000000000000000000000001
  authToken: token-that-is-never-printed
---
apiVersion: notify.wavecom.io/v1alpha1
kind: NotificationProvider
metadata: {name: rehearsal}
spec: {channel: SMS, driver: mock, priority: 50, settings: {latencyMs: 5}}
"""


async def test_providers_are_applied_listed_and_deleted_from_kubectl_yaml(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    keyed = settings.model_copy(update={"credentials_key": SecretStr(key)})
    env = {"CREDENTIALS_KEY": key}
    manifest = tmp_path / "providers.yaml"
    manifest.write_text(PROVIDERS_YAML)

    applied = admin(keyed, "providers", "apply", "-f", str(manifest), env=env)
    assert applied.returncode == 0, applied.stderr
    assert "notificationprovider/bank-sms applied (revision 1)" in applied.stdout
    doc = await store.accounts.get("bank-sms")
    assert doc is not None
    assert doc["tenants"] == ["acme"]
    assert doc["sendRatePerSecond"] == 30
    assert "token-that-is-never-printed" not in str(doc)
    assert Cipher.of(keyed).open("bank-sms", doc["credentials"])["authToken"] == (
        "token-that-is-never-printed"
    )

    listed = admin(keyed, "providers", "list", "--channel", "SMS", env=env)
    assert listed.returncode == 0, listed.stderr
    assert "bank-sms" in listed.stdout
    assert "sealed" in listed.stdout
    assert "token-that-is-never-printed" not in listed.stdout + listed.stderr

    # a bad file changes nothing, and says which field of which resource
    manifest.write_text(PROVIDERS_YAML.replace("priority: 50", "priority: -1"))
    revision = await store.accounts.revision()
    refused = admin(keyed, "providers", "apply", "-f", str(manifest), env=env)
    assert refused.returncode == 2
    assert "provider 'rehearsal': spec.priority" in refused.stderr
    assert await store.accounts.revision() == revision

    # without the key, credentials are never stored in the clear
    manifest.write_text(PROVIDERS_YAML)
    keyless = admin(
        settings, "providers", "apply", "-f", str(manifest), env={"CREDENTIALS_KEY": ""}
    )
    assert keyless.returncode == 2
    assert "CREDENTIALS_KEY is not set" in keyless.stderr

    deleted = admin(keyed, "providers", "delete", "rehearsal", env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert await store.accounts.get("rehearsal") is None
    assert admin(keyed, "providers", "delete", "rehearsal", env=env).returncode == 1


async def test_setup_creates_indexes_and_the_topology_and_refuses_a_queue_type_change(
    settings: Settings, store: Store, vhost: str
) -> None:
    """The chart's pre-install/pre-upgrade hook: `admin setup`, run twice like two upgrades."""
    env = {"AMQP_URL": settings.amqp_url}
    for _ in range(2):  # idempotent
        done = admin(settings, "setup", env=env)
        assert done.returncode == 0, done.stderr
        assert "database: indexes present" in done.stdout
        assert "lane queues (quorum) and their exchanges declared" in done.stdout
    indexes = [i["name"] async for i in await store.notifications.collection.list_indexes()]
    assert len(indexes) > 1  # more than _id_
    async with httpx.AsyncClient(base_url=MANAGEMENT_URL, auth=GUEST, timeout=10) as m:
        queues = (await m.get(f"/api/queues/{quote(vhost, safe='')}")).raise_for_status().json()
    types = {q["name"]: q["type"] for q in queues}
    assert types[lane_queue(Channel.EMAIL, Lane.HIGH)] == "quorum"

    # a queue type cannot change in place: the upgrade fails here, with what to do
    changed = admin(settings, "setup", env={**env, "QUEUE_TYPE": "classic"})
    assert changed.returncode == 78
    assert "RabbitMQ cannot change a queue's type" in changed.stderr

    unreachable = admin(
        settings, "setup", env={"AMQP_URL": f"amqp://guest:guest@127.0.0.1:{free_port()}/"}
    )
    assert unreachable.returncode == 2
    assert "RabbitMQ unreachable" in unreachable.stderr


async def test_providers_rotate_reseals_every_account_with_the_new_key(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    """A key rotation as docs/providers.md tells it: the new key becomes CREDENTIALS_KEY, the old
    one CREDENTIALS_PREVIOUS_KEY; `providers rotate` re-seals every account, after which the old
    key is no longer needed to open any of them."""
    old = base64.b64encode(os.urandom(32)).decode()
    new = base64.b64encode(os.urandom(32)).decode()
    manifest = tmp_path / "providers.yaml"
    manifest.write_text(PROVIDERS_YAML)
    applied = admin(
        settings, "providers", "apply", "-f", str(manifest), env={"CREDENTIALS_KEY": old}
    )
    assert applied.returncode == 0, applied.stderr
    before = await store.accounts.get("bank-sms")
    assert before is not None
    assert before["credentials"]["keyId"] == "k1"

    rotating = {
        "CREDENTIALS_KEY": new,
        "CREDENTIALS_KEY_ID": "k2",
        "CREDENTIALS_PREVIOUS_KEY": old,
        "CREDENTIALS_PREVIOUS_KEY_ID": "k1",
    }
    rotated = admin(settings, "providers", "rotate", env=rotating)
    assert rotated.returncode == 0, rotated.stderr
    # the mock account has no credentials: only the Twilio one is re-sealed
    assert rotated.stdout.strip() == "re-sealed 1 account(s) with key id k2"
    assert "token-that-is-never-printed" not in rotated.stdout + rotated.stderr
    after = await store.accounts.get("bank-sms")
    assert after is not None
    assert after["credentials"]["keyId"] == "k2"
    assert after["credentials"]["ciphertext"] != before["credentials"]["ciphertext"]
    # the new key alone opens it: the previous one can be dropped
    alone = Cipher.of(
        settings.model_copy(update={"credentials_key": SecretStr(new), "credentials_key_id": "k2"})
    )
    assert (
        alone.open("bank-sms", after["credentials"])["authToken"] == "token-that-is-never-printed"
    )
    # a second run has nothing left to do
    again = admin(settings, "providers", "rotate", env=rotating)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "re-sealed 0 account(s) with key id k2"


async def test_count_facets_counts_a_tenant_whose_stats_predate_them(
    settings: Settings, store: Store
) -> None:
    """A stats document from before the facets is not trusted for combined filters until
    its facets are counted from the documents."""
    docs = [doc(i, priority=Priority.LOW if i % 2 else Priority.HIGH) for i in range(5)]
    await store.notifications.insert(docs)
    await store.db[STATS].insert_one({"_id": "acme", "total": 5, "byStatus": {"QUEUED": 5}})
    assert (await store.counters.of("acme")).by_facet is None
    assert await store.counters.without_facets() == ["acme"]
    r = admin(settings, "tenants", "count-facets")
    assert r.returncode == 0, r.stderr
    assert "acme: facets counted from 5 notifications" in r.stdout
    stats = await store.counters.of("acme")
    assert stats.matching({"status": "QUEUED", "priority": "LOW"}) == 2
    assert stats.matching({"type": "SMS", "priority": "HIGH"}) == 3
    assert await store.counters.without_facets() == []
    assert (await reconcile(store)).drift == {}
    assert admin(settings, "tenants", "count-facets", "a b").returncode == 2
