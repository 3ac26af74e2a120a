"""wavecom.core.settings: the defaults, the variables read from the environment, and bounds and
combinations refused at start-up with the variable named."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from wavecom.core.constants import Channel, QueueType
from wavecom.core.settings import Settings, get_settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No variable a setting reads: the defaults are what is checked, not this machine's."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    return monkeypatch


def test_the_defaults(clean_env: pytest.MonkeyPatch) -> None:
    s = Settings()
    assert s.environment == "development"
    assert s.amqp_urls == ["amqp://guest:guest@127.0.0.1:5672/"]
    assert s.mongodb_database == "wavecom"
    assert s.queue_type is QueueType.QUORUM
    assert (s.max_retries, s.retry_base_delay_ms, s.retry_multiplier) == (3, 5000, 5.0)
    assert (s.rate_limit_per_s, s.rate_limit_burst) == (1000.0, 2000)
    assert s.dev_tenant == ""
    assert s.cors_allowlist == []
    assert s.credentials_key.get_secret_value() == ""
    assert s.outbox_grace_s > s.publish_timeout_s
    assert s.callback_retry_window_s == 86_400.0
    assert [s.providers_json(c) for c in Channel] == ["", "", ""]


def test_variables_are_read_by_their_upper_case_names(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AMQP_URL", "amqp://a:5672/, amqp://b:5672/,")
    clean_env.setenv("MAX_RETRIES", "7")
    clean_env.setenv("RETRY_JITTER", "0.5")
    clean_env.setenv("QUEUE_TYPE", "classic")
    clean_env.setenv("EXIT_BEFORE_PUBLISH", "true")
    clean_env.setenv("CREDENTIALS_KEY", "c2VjcmV0")
    clean_env.setenv("CORS_ORIGINS", "https://ops.example, http://127.0.0.1:3000")
    clean_env.setenv("PROVIDERS_PUSH", '[{"name": "p"}]')
    clean_env.setenv("NOT_A_SETTING", "ignored")
    s = Settings()
    assert s.amqp_urls == ["amqp://a:5672/", "amqp://b:5672/"]
    assert s.max_retries == 7
    assert s.retry_jitter == 0.5
    assert s.queue_type is QueueType.CLASSIC
    assert s.exit_before_publish is True
    assert s.credentials_key.get_secret_value() == "c2VjcmV0"
    assert "c2VjcmV0" not in repr(s)  # a secret never shows in a log of the settings
    assert s.cors_allowlist == ["https://ops.example", "http://127.0.0.1:3000"]
    assert s.providers_json(Channel.PUSH) == '[{"name": "p"}]'
    assert s.providers_json(Channel.EMAIL) == ""


def test_settings_are_read_once_per_process(clean_env: pytest.MonkeyPatch) -> None:
    get_settings.cache_clear()
    try:
        clean_env.setenv("MONGODB_DATABASE", "first")
        first = get_settings()
        clean_env.setenv("MONGODB_DATABASE", "second")
        assert get_settings() is first
        assert first.mongodb_database == "first"
    finally:
        get_settings.cache_clear()
    with pytest.raises(ValidationError):
        first.max_retries = 1  # type: ignore[misc]  # frozen: nothing changes them later


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_retries", 21),
        ("max_retries", -1),
        ("retry_jitter", 0.95),
        ("retry_multiplier", 0.5),
        ("retry_base_delay_ms", 99),
        ("prefetch", 0),
        ("rate_limit_per_s", 0),
        ("rate_limit_burst", 0),
        ("key_cache_s", 61),
        ("max_body_bytes", 1023),
        ("queue_max_length", 999),
        ("outcome_linger_ms", 1001),
        ("settle_linger_ms", 5001),
        ("events_flush_ms", 19),
        ("providers_poll_s", 6),
        ("callback_concurrency", 65),
        ("callback_timeout_s", 0),
        ("publish_timeout_s", 0),
        ("queue_type", "mirrored"),
        ("environment", "staging"),
        ("log_format", "xml"),
        ("credentials_key_id", "has space"),
        ("public_base_url", "ftp://example.com"),
        ("public_base_url", "https://example.com/?q=1"),
    ],
)
def test_a_value_out_of_bounds_is_refused_naming_the_setting(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings.model_validate({field: value})
    assert [e["loc"] for e in refused.value.errors()] == [(field,)]


@pytest.mark.parametrize(
    ("named", "fields"),
    [
        ("DEV_TENANT", {"dev_tenant": "no spaces"}),
        ("AMQP_URL", {"amqp_url": "http://broker/"}),
        ("AMQP_URL", {"amqp_url": " , "}),
        ("AMQP_URL", {"amqp_url": "amqp://a/,redis://b/"}),
        ("CORS_ORIGINS", {"cors_origins": "*"}),
        ("CORS_ORIGINS", {"cors_origins": "https://ops.example/path"}),
        ("DEV_TENANT", {"environment": "production", "dev_tenant": "acme"}),
        ("EXIT_BEFORE_PUBLISH", {"environment": "production", "exit_before_publish": True}),
        (
            "CREDENTIALS_PREVIOUS_KEY_ID",
            {"credentials_previous_key": "a2V5", "credentials_previous_key_id": "k1"},
        ),
        ("OUTBOX_GRACE_S", {"outbox_grace_s": 10.0, "publish_timeout_s": 10.0}),
    ],
)
def test_a_bad_value_or_combination_is_refused_saying_which_variable(
    named: str, fields: dict[str, object]
) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings.model_validate(fields)
    assert named in str(refused.value)


def test_what_only_development_may_have_is_allowed_there() -> None:
    s = Settings(environment="development", dev_tenant="acme", exit_before_publish=True)
    assert (s.dev_tenant, s.exit_before_publish) == ("acme", True)
    rotated = Settings(credentials_previous_key="a2V5", credentials_previous_key_id="k0")
    assert rotated.credentials_previous_key.get_secret_value() == "a2V5"
