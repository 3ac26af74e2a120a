"""``python -m wavecom.admin callbacks ...``: the CLI face of a tenant's endpoints."""

from __future__ import annotations

import base64
import os
import re

from pydantic import SecretStr

from tests.support.admin import admin
from wavecom.callbacks.endpoints import open_endpoint
from wavecom.core.settings import Settings
from wavecom.providers.credentials import Cipher
from wavecom.store import Store, utcnow

URL = "https://acme.example/hooks"


async def test_add_list_disable_rotate_and_delete(settings: Settings, store: Store) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    env = {"CREDENTIALS_KEY": key}
    added = admin(
        settings, "callbacks", "add", "--tenant", "acme", "--url", URL,
        "--events", "notification.delivered,notification.failed", env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    endpoint_id = re.search(r"cb_[0-9a-f]{16}", added.stdout)
    secret = re.search(r"whsec_\S+", added.stdout)
    assert endpoint_id is not None
    assert secret is not None
    # sealed at rest: the document holds no secret in the clear, and the key opens it
    [doc] = await store.endpoints.of_tenant("acme")
    assert secret.group() not in str(doc)
    assert set(doc["secret"]) == {"keyId", "nonce", "ciphertext"}
    keyed = settings.model_copy(update={"credentials_key": SecretStr(key)})
    opened = open_endpoint(doc, Cipher.of(keyed), utcnow(), 0)
    assert opened.secrets == (secret.group(),)

    listed = admin(settings, "callbacks", "list", "--tenant", "acme", env=env)
    assert endpoint_id.group() in listed.stdout
    assert "whsec_" not in listed.stdout
    assert "notification.delivered,notification.failed" in listed.stdout
    assert admin(settings, "callbacks", "list", "--tenant", "globex").stdout == ""

    off = admin(settings, "callbacks", "disable", "--tenant", "acme", endpoint_id.group())
    assert off.returncode == 0, off.stderr
    assert "disabled" in admin(settings, "callbacks", "list", "--tenant", "acme").stdout
    rotated = admin(
        settings, "callbacks", "rotate", "--tenant", "acme", endpoint_id.group(), env=env
    )
    assert rotated.returncode == 0, rotated.stderr
    assert secret.group() not in rotated.stdout
    assert "whsec_" in rotated.stdout

    wrong = admin(settings, "callbacks", "delete", "--tenant", "globex", endpoint_id.group())
    assert wrong.returncode == 1
    assert "no endpoint" in wrong.stderr
    gone = admin(settings, "callbacks", "delete", "--tenant", "acme", endpoint_id.group())
    assert gone.returncode == 0, gone.stderr
    assert await store.endpoints.of_tenant("acme") == []


def test_bad_input_and_production_without_a_key_are_refused(settings: Settings) -> None:
    bad = admin(settings, "callbacks", "add", "--tenant", "acme", "--url", "ftp://x.example/")
    assert bad.returncode == 2
    assert "url" in bad.stderr
    unknown = admin(
        settings, "callbacks", "add", "--tenant", "acme", "--url", URL, "--events", "sent"
    )
    assert unknown.returncode == 2
    assert "events" in unknown.stderr
    keyless = admin(
        settings, "callbacks", "add", "--tenant", "acme", "--url", URL,
        env={"ENVIRONMENT": "production", "CREDENTIALS_KEY": ""},
    )  # fmt: skip
    assert keyless.returncode == 2
    assert "never stored unencrypted" in keyless.stderr
