"""``python -m wavecom.admin``: the operator's CLI for keys and tenant limits."""

from __future__ import annotations

import os
import subprocess
import sys

from wavecom.keys import Keys
from wavecom.settings import Settings
from wavecom.store import Store
from wavecom.tenants import RateLimit, Tenants


def admin(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MONGODB_URL": settings.mongodb_url,
        "MONGODB_DATABASE": settings.mongodb_database,
    }
    return subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "wavecom.admin", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


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
