"""``wavecom.providers.manifests``: the admin CLI's YAML, the very files ``kubectl apply`` takes.

NotificationProvider documents and the v1 Secrets their ``credentialsSecretRef`` names, in any
order across any number of files; anything else is refused with the document or field named
(never a value: a Secret's values may be credentials).
"""

from __future__ import annotations

import base64

import pytest

from wavecom.core.constants import Channel
from wavecom.core.errors import ProviderConfigError
from wavecom.providers.manifests import parse, secret_values, spec_of

PROVIDER = """apiVersion: notify.wavecom.io/v1alpha1
kind: NotificationProvider
metadata: {name: bank-sms}
spec:
  channel: SMS
  driver: twilio
  settings: {fromNumber: "+15005550006"}
  credentialsSecretRef: {name: bank-sms-twilio}
"""
TWILIO_CREDS = """apiVersion: v1
kind: Secret
metadata: {name: bank-sms-twilio}
stringData: {accountSid: AC00000000000000000000000000000001, authToken: tok-never-shown}
"""


def test_manifests_resolve_their_secrets_and_refuse_what_they_do_not_take() -> None:
    password = base64.b64encode(b"pw").decode()
    text = f"""
apiVersion: notify.wavecom.io/v1alpha1
kind: NotificationProvider
metadata: {{name: relay}}
spec:
  channel: EMAIL
  driver: smtp
  priority: 10
  settings: {{host: smtp.bank.example, fromAddress: otp@bank.example}}
  credentialsSecretRef: {{name: smtp-creds}}
---
apiVersion: v1
kind: Secret
metadata: {{name: smtp-creds, labels: {{notify.wavecom.io/provider-credentials: "true"}}}}
data: {{password: {password}}}
stringData: {{username: ops}}
"""
    (resource,) = parse([text])
    assert resource.name == "relay"
    assert resource.spec.priority == 10
    assert resource.credentials == {"username": "ops", "password": "pw"}
    with pytest.raises(ProviderConfigError, match="'smtp-creds' is not in the files"):
        parse([text.split("---", maxsplit=1)[0]])
    with pytest.raises(ProviderConfigError, match=r"spec\.priority"):
        parse([text.replace("priority: 10", "priority: -1")])
    with pytest.raises(ProviderConfigError, match=r"spec\.channel"):
        parse([text.replace("channel: EMAIL", "channel: FAX")])
    with pytest.raises(ProviderConfigError, match=r"only notify\.wavecom\.io/v1alpha1"):
        parse(["apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"])
    with pytest.raises(ProviderConfigError, match="appears twice"):
        parse([text.split("---", maxsplit=1)[0], text.split("---", maxsplit=1)[0]])
    with pytest.raises(ProviderConfigError, match="not base64"):
        secret_values({"data": {"password": "***"}})


def test_a_secret_may_come_first_or_in_another_file() -> None:
    for texts in (
        [TWILIO_CREDS + "---\n" + PROVIDER],
        [TWILIO_CREDS, PROVIDER],
        [PROVIDER, TWILIO_CREDS],
    ):
        (resource,) = parse(texts)
        assert resource.name == "bank-sms"
        assert resource.spec.channel is Channel.SMS
        assert resource.credentials == {
            "accountSid": "AC00000000000000000000000000000001",
            "authToken": "tok-never-shown",
        }


def test_files_with_no_provider_or_only_empty_documents_give_none() -> None:
    assert parse([]) == []
    assert parse(["---\n---\n", TWILIO_CREDS]) == []
    (resource,) = parse(
        [
            "---\n"
            + PROVIDER.replace("  credentialsSecretRef: {name: bank-sms-twilio}\n", "")
            + "---\n"
        ]
    )
    assert resource.credentials is None


def test_string_data_wins_over_data_as_kubernetes_merges_them() -> None:
    encoded = base64.b64encode(b"from-data").decode()
    assert secret_values({"data": {"a": encoded, "b": encoded}, "stringData": {"b": "plain"}}) == {
        "a": "from-data",
        "b": "plain",
    }
    assert secret_values({}) == {}
    not_text = base64.b64encode(b"\xff\xfe").decode()
    with pytest.raises(ProviderConfigError, match="secret key 'token' is not base64 of UTF-8"):
        secret_values({"data": {"token": not_text}})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("spec: [unclosed", "not valid YAML"),
        ("- a list\n- not a mapping\n", "each YAML document must be a mapping"),
        (
            PROVIDER.replace("metadata: {name: bank-sms}", "metadata: {}"),
            "a NotificationProvider without metadata.name",
        ),
        ("kind: Secret\napiVersion: v1\n", "a Secret without metadata.name"),
        (
            PROVIDER.replace("notify.wavecom.io/v1alpha1", "notify.wavecom.io/v1"),
            r"'bank-sms': only .* \(this is notify\.wavecom\.io/v1 NotificationProvider\)",
        ),
        (
            PROVIDER.replace("name: bank-sms}", "name: Bank_SMS}"),
            "provider name 'Bank_SMS': must be a DNS label",
        ),
    ],
)
def test_a_document_it_does_not_take_is_refused_and_named(text: str, message: str) -> None:
    with pytest.raises(ProviderConfigError, match=message):
        parse([text, TWILIO_CREDS])


def test_every_bad_field_is_named_and_no_value_repeated() -> None:
    with pytest.raises(ProviderConfigError) as raised:
        spec_of("bank-sms", {"channel": "FAX", "driver": "twilio", "priority": -7})
    message = str(raised.value)
    assert message.startswith("provider 'bank-sms': ")
    assert "spec.channel" in message
    assert "spec.priority" in message
    assert "FAX" not in message
    assert "-7" not in message
