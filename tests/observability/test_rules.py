"""The alert rules: ``promtool check rules`` and, per alert, ``promtool test rules`` cases that
show it firing when it should and silent when it should not.

promtool compares annotations exactly, so the cases run against a copy of the rules without
them (expressions, ``for`` and labels are the committed ones); ``promtool check rules``
checks the annotation templates, and test_live.py renders them in a real Prometheus.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.observability.rules import ROOT, RULE_FILES, alerts, write_variant
from tests.support.promtool import PROMTOOL, promtool

needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is installed by `make test` (Debian's prometheus)"
)

CREATE_OK = 'http_requests_total{method="POST",route="/api/notifications",status="201"}'
CREATE_5XX = 'http_requests_total{method="POST",route="/api/notifications",status="503"}'
BATCH_5XX = 'http_requests_total{method="POST",route="/api/notifications/batch",status="500"}'
DLQ = 'rabbitmq_detailed_queue_messages{vhost="/",queue="wavecom.dlq"}'


def ready(queue: str) -> str:
    return f'rabbitmq_detailed_queue_messages_ready{{vhost="/",queue="{queue}"}}'


def case(
    name: str, series: dict[str, str], eval_time: str, alert: str, fired: list[dict[str, str]]
) -> dict[str, Any]:
    """One promtool test: ``series`` from 0 at one sample a minute, the alerts ``alert``
    expected at ``eval_time`` (their labels; an empty list: silent)."""
    return {
        "name": name,
        "interval": "1m",
        "input_series": [{"series": s, "values": v} for s, v in series.items()],
        "alert_rule_test": [
            {
                "eval_time": eval_time,
                "alertname": alert,
                "exp_alerts": [{"exp_labels": labels} for labels in fired],
            }
        ],
    }


SENT_TEXTWAVE = 'notifications_sent_total{instance="w0",type="SMS",provider="textwave"}'
PARKED_ACME = 'callbacks_total{instance="cb0",tenant="acme",result="parked"}'
OLDEST_DUE = (
    'callback_oldest_due_seconds{{instance="{instance}",tenant="acme",'
    'endpoint="cb_0123456789abcdef"}}'
)
CRITICAL = {"severity": "critical"}
WARNING = {"severity": "warning"}
SLO = {"slo": "accept-availability"}

CASES: dict[str, list[dict[str, Any]]] = {
    "WavecomAcceptErrorBudgetBurnFast": [
        # 10 creates a second, 1 a second of them 503 (9 %): 1 h and 5 min both burn > 14.4x
        case(
            "9 % errors for 70 min fire",
            {CREATE_OK: "0+600x80", CREATE_5XX: "0+60x80"},
            "70m",
            "WavecomAcceptErrorBudgetBurnFast",
            [{**CRITICAL, **SLO}],
        ),
        # the same burst for an hour, then 35 clean minutes: the long windows still see it,
        # the short ones (5 and 30 min) say it is over
        case(
            "a burst that ended 35 min ago is silent",
            {CREATE_OK: "0+600x100", CREATE_5XX: "0+60x60 3600x40"},
            "95m",
            "WavecomAcceptErrorBudgetBurnFast",
            [],
        ),
        # 0.1 % errors: inside the budget
        case(
            "errors within the budget are silent",
            {CREATE_OK: "0+600x80", CREATE_5XX: "0+0.6x80"},
            "70m",
            "WavecomAcceptErrorBudgetBurnFast",
            [],
        ),
    ],
    "WavecomAcceptErrorBudgetBurnSlow": [
        # 0.5 % for 3 h: 1 d and 2 h windows burn > 3x, below the fast alert's 6x
        case(
            "0.5 % errors for 3 h fire",
            {CREATE_OK: "0+597x200", CREATE_5XX: "0+3x200"},
            "3h",
            "WavecomAcceptErrorBudgetBurnSlow",
            [{**WARNING, **SLO}],
        ),
        case(
            "0.05 % errors are silent",
            {CREATE_OK: "0+599.7x200", CREATE_5XX: "0+0.3x200"},
            "3h",
            "WavecomAcceptErrorBudgetBurnSlow",
            [],
        ),
    ],
    "WavecomAcceptErrors": [
        case(
            "10 % of batch creates failing for 10 min fire",
            {CREATE_OK: "0+540x15", BATCH_5XX: "0+60x15"},
            "12m",
            "WavecomAcceptErrors",
            [CRITICAL],
        ),
        case(
            "1 % failing is silent",
            {CREATE_OK: "0+594x15", BATCH_5XX: "0+6x15"},
            "12m",
            "WavecomAcceptErrors",
            [],
        ),
        case(
            "no 5xx series at all is silent",
            {CREATE_OK: "0+600x15"},
            "12m",
            "WavecomAcceptErrors",
            [],
        ),
    ],
    "WavecomNotificationsStuck": [
        case(
            "stuck for 6 min fire",
            {
                'reconcile_stuck{instance="api-0"}': "0 0 3x10",
                'reconcile_stuck{instance="api-1"}': "0x12",
            },
            "8m",
            "WavecomNotificationsStuck",
            [CRITICAL],
        ),
        case(
            "stuck for 2 min, then moving again, is silent",
            {'reconcile_stuck{instance="api-0"}': "0 0 3 3 0x10"},
            "8m",
            "WavecomNotificationsStuck",
            [],
        ),
    ],
    "WavecomDeadLettersGrowing": [
        case(
            "5 new dead letters fire",
            {DLQ: "0 0 0 5x10"},
            "5m",
            "WavecomDeadLettersGrowing",
            [{**WARNING, "vhost": "/"}],
        ),
        case(
            "a DLQ that stopped growing 15 min ago is silent",
            {DLQ: "0 5x30"},
            "20m",
            "WavecomDeadLettersGrowing",
            [],
        ),
    ],
    "WavecomBacklogGrowing": [
        case(
            "a lane growing by 100 a minute for 20 min fire",
            {ready("wavecom.sms.standard"): "1000+100x30", ready("wavecom.sms.high"): "0x30"},
            "20m",
            "WavecomBacklogGrowing",
            [{**WARNING, "vhost": "/", "queue": "wavecom.sms.standard"}],
        ),
        case(
            "a deep backlog that is not growing, a small one that is, a delay queue: silent",
            {
                ready("wavecom.email.standard"): "5000x30",
                ready("wavecom.push.high"): "0+10x30",
                ready("wavecom.delay.250ms"): "1000+100x30",
            },
            "20m",
            "WavecomBacklogGrowing",
            [],
        ),
        case(
            "growing for 8 min only is silent",
            {ready("wavecom.sms.standard"): "5000x12 5000+100x8"},
            "20m",
            "WavecomBacklogGrowing",
            [],
        ),
    ],
    "WavecomProviderBreakerOpen": [
        case(
            "open in one worker for 6 min fire",
            {
                'provider_breaker_state{instance="w0",provider="textwave"}': "0 0 2x10",
                'provider_breaker_state{instance="w1",provider="textwave"}': "0x12",
                'provider_breaker_state{instance="w0",provider="smsly"}': "0x12",
            },
            "8m",
            "WavecomProviderBreakerOpen",
            [{**WARNING, "provider": "textwave"}],
        ),
        case(
            "open for 3 min, then closed, is silent",
            {'provider_breaker_state{instance="w0",provider="textwave"}': "2 2 2 0x10"},
            "8m",
            "WavecomProviderBreakerOpen",
            [],
        ),
    ],
    "WavecomChannelWithoutWorker": [
        case(
            "no push worker for 10 min fire",
            {
                'worker_provider_revision{instance="w0",type="EMAIL"}': "1x12",
                'worker_provider_revision{instance="w1",type="SMS"}': "1x12",
            },
            "10m",
            "WavecomChannelWithoutWorker",
            [{**CRITICAL, "type": "PUSH"}],
        ),
        case(
            "a worker per channel is silent",
            {
                'worker_provider_revision{instance="w0",type="EMAIL"}': "1x12",
                'worker_provider_revision{instance="w1",type="SMS"}': "1x12",
                'worker_provider_revision{instance="w2",type="PUSH"}': "3x12",
            },
            "10m",
            "WavecomChannelWithoutWorker",
            [],
        ),
    ],
    "WavecomDeliveryRatioLow": [
        # 1 send a second through textwave, 0.8 a second reported delivered, for 50 min
        case(
            "80 % delivered for 50 min fire",
            {
                SENT_TEXTWAVE: "0+60x50",
                'provider_receipts_total{instance="api0",provider="textwave",status="DELIVERED",'
                'code="",result="applied"}': "0+48x50",
            },
            "50m",
            "WavecomDeliveryRatioLow",
            [{**WARNING, "provider": "textwave"}],
        ),
        case(
            "98 % delivered is silent",
            {
                SENT_TEXTWAVE: "0+60x50",
                'provider_receipts_total{instance="api0",provider="textwave",status="DELIVERED",'
                'code="",result="applied"}': "0+59x50",
            },
            "50m",
            "WavecomDeliveryRatioLow",
            [],
        ),
        # an account that never reports receipts (FCM, a mock) is not judged by them
        case(
            "an account without receipts is silent",
            {
                SENT_TEXTWAVE: "0+60x50",
                'provider_receipts_total{instance="api0",provider="other",status="DELIVERED",'
                'code="",result="applied"}': "0+60x50",
            },
            "50m",
            "WavecomDeliveryRatioLow",
            [],
        ),
    ],
    "WavecomCallbacksParked": [
        # acme's endpoint fails for good: one callback parked after 20 min, then none
        case(
            "a parked callback fires",
            {
                PARKED_ACME: "0x20 1x20",
                'callbacks_total{instance="cb0",tenant="acme",result="failed"}': "0+5x40",
            },
            "25m",
            "WavecomCallbacksParked",
            [{**WARNING, "tenant": "acme"}],
        ),
        # an endpoint failing within its retry window, and a park over 30 min ago: silent
        case(
            "failures being retried and an old park are silent",
            {
                PARKED_ACME: "0x5 1x55",
                'callbacks_total{instance="cb0",tenant="acme",result="failed"}': "0+5x60",
            },
            "60m",
            "WavecomCallbacksParked",
            [],
        ),
    ],
    "WavecomCallbackBacklogAging": [
        # nothing delivered at acme's endpoint: its oldest due callback ages a minute a minute;
        # two replicas report it (one alert)
        case(
            "a due callback waiting 10 min past 5 min fires",
            {
                OLDEST_DUE.format(instance="cb0"): "0+60x20",
                OLDEST_DUE.format(instance="cb1"): "0+60x20",
            },
            "20m",
            "WavecomCallbackBacklogAging",
            [{**WARNING, "tenant": "acme", "endpoint": "cb_0123456789abcdef"}],
        ),
        # a lane that keeps up (due ones wait seconds) and a 7-minute stall: silent
        case(
            "a lane that keeps up or catches up is silent",
            {
                OLDEST_DUE.format(instance="cb0"): "2 30 1 0 45 3 0x14",
                OLDEST_DUE.format(instance="cb1"): "0+60x7 0x12",
            },
            "20m",
            "WavecomCallbackBacklogAging",
            [],
        ),
    ],
    "WavecomChannelWithoutAccount": [
        case(
            "SMS workers without an account for 3 min fire",
            {
                'channel_usable_accounts{instance="w0",type="EMAIL"}': "2x6",
                'channel_usable_accounts{instance="w1",type="SMS"}': "0x6",
                'channel_usable_accounts{instance="w2",type="SMS"}': "0x6",
            },
            "3m",
            "WavecomChannelWithoutAccount",
            [{**CRITICAL, "type": "SMS"}],
        ),
        case(
            "an account back within a minute is silent",
            {'channel_usable_accounts{instance="w1",type="SMS"}': "0 1x6"},
            "3m",
            "WavecomChannelWithoutAccount",
            [],
        ),
    ],
}


@needs_promtool
@pytest.mark.parametrize("path", RULE_FILES, ids=[p.name for p in RULE_FILES])
def test_promtool_accepts_the_rule_files(path: Path) -> None:
    done = promtool("check", "rules", path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_firing_and_a_silent_case() -> None:
    assert set(CASES) == set(alerts())
    for name, cases in CASES.items():
        outcomes = [bool(c["alert_rule_test"][0]["exp_alerts"]) for c in cases]
        assert True in outcomes, f"{name}: no case where it fires"
        assert False in outcomes, f"{name}: no case where it stays silent"


def test_every_alert_says_what_happened_and_where_its_runbook_is() -> None:
    runbook_anchors = _anchors()
    for name, rule in alerts().items():
        notes = rule.get("annotations", {})
        assert notes.get("summary"), name
        assert notes.get("description"), name
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        page, _, anchor = notes["runbook_url"].partition("#")
        assert anchor == name.lower(), name
        assert anchor in runbook_anchors.get(page, set()), f"no runbook for {name} in {page}"


def _anchors() -> dict[str, set[str]]:
    """GitHub's anchors of the headings of the runbooks page and of the pages of a feature
    that keep their alert's runbook beside the feature (receipts, callbacks), by page."""
    pages = ("runbooks.md", "receipts.md", "callbacks.md")
    texts = [ROOT / "docs" / page for page in pages]
    anchors: dict[str, set[str]] = {}
    for path in texts:
        if not path.exists():
            continue
        found = anchors.setdefault(str(path.relative_to(ROOT)), set())
        for line in path.read_text().splitlines():
            if line.startswith("#"):
                title = line.lstrip("#").strip().lower()
                found.add("".join(c for c in title.replace(" ", "-") if c.isalnum() or c in "-_"))
    return anchors


@needs_promtool
@pytest.mark.parametrize("alert", sorted(CASES))
def test_the_alert_fires_when_it_should_and_is_silent_otherwise(alert: str, tmp_path: Path) -> None:
    (source,) = [p for p in RULE_FILES if alert in p.read_text()]
    rules = write_variant(source, tmp_path / "rules.yml", annotations=False)
    tests = tmp_path / "tests.yml"
    tests.write_text(
        yaml.safe_dump(
            {"rule_files": [str(rules)], "evaluation_interval": "1m", "tests": CASES[alert]},
            sort_keys=False,
        )
    )
    done = promtool("test", "rules", tests)
    assert done.returncode == 0, done.stdout + done.stderr
