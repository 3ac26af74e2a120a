"""The end-to-end tests' provider accounts, as ``kubectl apply`` would take them (each
NotificationProvider with its Secret), and applying them with the admin CLI, their credentials
sealed with a fresh key."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from tests.support.admin import admin
from tests.support.fcm import EMAIL as FCM_EMAIL
from tests.support.fcm import KEY_ID as FCM_KEY_ID
from tests.support.fcm import PROJECT as FCM_PROJECT
from tests.support.twilio import SID as TWILIO_SID
from tests.support.twilio import TOKEN as TWILIO_TOKEN
from wavecom.core.settings import Settings


def provider(
    name: str, channel: str, driver: str, settings: dict[str, Any], secret: str = ""
) -> str:
    """A NotificationProvider (``secret``: its credentials Secret's name)."""
    ref = f"\n  credentialsSecretRef: {{name: {secret}}}" if secret else ""
    return f"""apiVersion: notify.wavecom.io/v1alpha1
kind: NotificationProvider
metadata: {{name: {name}}}
spec:
  channel: {channel}
  driver: {driver}
  settings: {json.dumps(settings)}{ref}
"""


def secret(name: str, string_data: dict[str, str]) -> str:
    """A provider's credentials Secret (JSON is YAML: a PEM key's lines stay escaped)."""
    return f"""apiVersion: v1
kind: Secret
metadata: {{name: {name}, labels: {{notify.wavecom.io/provider-credentials: "true"}}}}
stringData: {json.dumps(string_data)}
"""


def bank_mail(smtp_port: int, mailgun_key: str = "") -> str:
    """The SMTP account relaying through 127.0.0.1:``smtp_port``; with ``mailgun_key`` it takes
    Mailgun's receipts signed with it."""
    settings = {
        "host": "127.0.0.1",
        "port": smtp_port,
        "security": "none",
        "fromAddress": "otp@bank.example",
    }
    if not mailgun_key:
        return provider("bank-mail", "EMAIL", "smtp", settings)
    return manifest(
        provider("bank-mail", "EMAIL", "smtp", settings, "bank-mail-receipts"),
        secret("bank-mail-receipts", {"mailgunSigningKey": mailgun_key}),
    )


def bank_sms(base_url: str) -> str:
    """The Twilio account of the fake Twilio at ``base_url``."""
    settings = {"baseUrl": base_url, "fromNumber": "+15005550000"}
    return manifest(
        provider("bank-sms", "SMS", "twilio", settings, "bank-sms-twilio"),
        secret("bank-sms-twilio", {"accountSid": TWILIO_SID, "authToken": TWILIO_TOKEN}),
    )


def bank_push(base_url: str, private_key: str) -> str:
    """The FCM account of the fake Google at ``base_url``, signing with ``private_key`` (PEM)."""
    settings = {"baseUrl": base_url, "tokenUri": f"{base_url}/token"}
    credentials = {
        "project_id": FCM_PROJECT,
        "private_key_id": FCM_KEY_ID,
        "client_email": FCM_EMAIL,
        "private_key": private_key.strip() + "\n",
    }
    return manifest(
        provider("bank-push", "PUSH", "fcm", settings, "bank-push-fcm"),
        secret("bank-push-fcm", credentials),
    )


def manifest(*documents: str) -> str:
    return "---\n".join(documents)


def apply(settings: Settings, path: Path, documents: str) -> str:
    """Write ``documents`` to ``path`` and apply them with the admin CLI, sealing credentials
    with a new key; returns that key (the processes' ``CREDENTIALS_KEY``)."""
    key = base64.b64encode(os.urandom(32)).decode()
    path.write_text(documents, encoding="utf-8")
    applied = admin(settings, "providers", "apply", "-f", str(path), env={"CREDENTIALS_KEY": key})
    assert applied.returncode == 0, applied.stderr
    return key
