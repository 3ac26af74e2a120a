"""``loadtest.system``: what a run's report says of the settings our processes inherit."""

from __future__ import annotations

from loadtest.system import settings_overrides


def test_the_settings_the_environment_sets_are_named_secrets_and_urls_left_out() -> None:
    environ = {
        "BATCH_WAIT_MS": "150",
        "SETTLE_LINGER_MS": "0",
        "CREDENTIALS_KEY": "not-for-a-report",  # a secret
        "AMQP_URL": "amqp://user:password@127.0.0.1/",  # a URL (and set by each run)
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",  # not a setting of ours
        "MONGODB_DATABASE": "wavecom",  # set by each run itself
        "PATH": "/usr/bin",
    }
    assert settings_overrides(environ) == {"BATCH_WAIT_MS": "150", "SETTLE_LINGER_MS": "0"}
    assert settings_overrides({"PATH": "/usr/bin"}) == {}
