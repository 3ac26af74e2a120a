"""The Grafana dashboards of ``dashboards/grafana/``, as code: ``make dashboards`` writes them.

Plain dicts in Grafana's dashboard JSON model (schemaVersion 39, Grafana 10.4 and later), so
nothing new is installed. Every panel reads the data source chosen in the ``datasource``
variable, has a unit and a description, and each of its queries is proven against a live
Prometheus after a short load (tests/observability/test_live.py); test_dashboards.py there
keeps the committed JSON equal to what this module makes and lints it.

    make dashboards                                               # write dashboards/grafana/*.json
    PYTHONPATH=services python -m generators.dashboards --check   # exit 1 if any is stale
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "dashboards" / "grafana"
SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}

# the create routes, whose answers are the accept SLO's events
CREATES = 'method="POST",route=~"/api/notifications(/batch)?"'
LANES = 'vhost=~"$vhost",queue=~"wavecom\\\\.(email|sms|push)\\\\.(high|standard)"'
DELAYS = 'vhost=~"$vhost",queue=~"wavecom\\\\.delay\\\\..*"'
DLQ = 'vhost=~"$vhost",queue="wavecom.dlq"'
OURS = 'vhost=~"$vhost",queue=~"wavecom\\\\..*"'
SLO_TARGET = 0.999  # accept availability, 30 days
RI = "$__rate_interval"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    unit: str
    queries: tuple[Query, ...]
    kind: str = "timeseries"  # or "stat"
    width: int = 12
    height: int = 8
    thresholds: tuple[tuple[float | None, str], ...] = ((None, "green"),)
    options: dict[str, Any] = field(default_factory=dict)
    decimals: int | None = None
    max: float | None = None
    min: float | None = None


def q(expr: str, legend: str = "") -> Query:
    return Query(expr, legend)


def quantiles(metric: str, by: str, legend: str) -> tuple[Query, ...]:
    """p50, p95 and p99 of a histogram, ``by`` these labels."""
    return tuple(
        q(
            f"histogram_quantile({p}, sum by ({by}{', ' if by else ''}le) "
            f"(rate({metric}_bucket[{RI}])))",
            f"p{round(p * 100)} {legend}".strip(),
        )
        for p in (0.5, 0.95, 0.99)
    )


def error_ratio(window: str) -> str:
    """Share of create requests answered 5xx over ``window`` (0 while none failed)."""
    return (
        f'(sum(increase(http_requests_total{{{CREATES},status=~"5.."}}[{window}])) or vector(0))'
        f" / sum(increase(http_requests_total{{{CREATES}}}[{window}]))"
    )


def within_60s(by: str, window: str) -> str:
    """Share of delivered notifications delivered within 60 s of being accepted."""
    grouping = f" by ({by})" if by else ""
    return (
        f"sum{grouping} (increase(notification_delivery_latency_seconds_bucket"
        f'{{le=~"60(\\\\.0)?"}}[{window}]))'
        f" / sum{grouping} (increase(notification_delivery_latency_seconds_count[{window}]))"
    )


BREAKER_STEPS = ((None, "green"), (1.0, "orange"), (2.0, "red"))
BREAKER_MAPPINGS = [
    {
        "type": "value",
        "options": {
            "0": {"text": "closed", "color": "green", "index": 0},
            "1": {"text": "half-open", "color": "orange", "index": 1},
            "2": {"text": "open", "color": "red", "index": 2},
        },
    }
]

OVERVIEW = (
    Panel(
        "Accepted per second",
        "Notifications the API accepted (stored and confirmed by the broker, or scheduled), "
        "per channel: notifications_created_total.",
        "ops",
        (q(f"sum by (type) (rate(notifications_created_total[{RI}]))", "{{type}}"),),
        width=8,
    ),
    Panel(
        "Delivered per second",
        "Notifications a provider accepted, per channel: notifications_sent_total.",
        "ops",
        (q(f"sum by (type) (rate(notifications_sent_total[{RI}]))", "{{type}}"),),
        width=8,
    ),
    Panel(
        "Failed per second",
        "Notifications that failed for good (permanent provider error or retries exhausted), "
        "per channel and reason; each also goes to the dead-letter queue.",
        "ops",
        (
            q(
                f"sum by (type, reason) (rate(notifications_failed_total[{RI}]))",
                "{{type}} {{reason}}",
            ),
        ),
        width=8,
    ),
    Panel(
        "Accept latency",
        "From a create request reaching intake to its notifications stored and queued "
        "(group commit, the database write, the broker's confirm): "
        "notification_accept_latency_seconds. The whole HTTP request is "
        "http_request_duration_seconds.",
        "s",
        quantiles("notification_accept_latency_seconds", "", ""),
    ),
    Panel(
        "Accepted to delivered",
        "From acceptance to the provider's acceptance, of delivered notifications (retries "
        "and waits for a provider included): notification_delivery_latency_seconds.",
        "s",
        quantiles("notification_delivery_latency_seconds", "", ""),
    ),
    Panel(
        "Backlog per lane",
        "Messages ready in each lane queue, by RabbitMQ (rabbitmq_prometheus, "
        "queue_coarse_metrics): what workers have not taken yet. Load shedding refuses LOW "
        "and then MEDIUM above SHED_LOW_BACKLOG and SHED_MEDIUM_BACKLOG in a standard lane.",
        "short",
        (q(f"sum by (queue) (rabbitmq_detailed_queue_messages_ready{{{LANES}}})", "{{queue}}"),),
    ),
    Panel(
        "Dead-letter queue",
        "Messages in wavecom.dlq (notifications that FAILED for good and wait for an "
        "operator: GET /api/dlq, replay), and how fast messages enter it by reason.",
        "short",
        (
            q(f"sum(rabbitmq_detailed_queue_messages{{{DLQ}}})", "in the DLQ"),
            q(
                f"sum by (reason) (rate(notifications_dead_lettered_total[{RI}]))",
                "entering: {{reason}} /s",
            ),
        ),
        width=8,
    ),
    Panel(
        "Circuit breakers",
        "Each provider account's breaker, the worst over the workers: 0 closed, 1 half-open, "
        "2 open (skipped; failover carries its traffic).",
        "none",
        (q("max by (provider) (provider_breaker_state)", "{{provider}}"),),
        width=8,
        thresholds=BREAKER_STEPS,
        options={"mappings": BREAKER_MAPPINGS},
        min=0,
        max=2,
    ),
    Panel(
        "Refused to protect the system",
        "Notifications refused 429 by load shedding (by channel and priority: "
        "api_shed_total), and create requests refused 503 because a process had its bound "
        "in flight or could not start them in time (api_admission_refused_total).",
        "ops",
        (
            q(
                f"sum by (type, priority) (rate(api_shed_total[{RI}]))",
                "shed {{type}} {{priority}}",
            ),
            q(f"sum(rate(api_admission_refused_total[{RI}]))", "admission refused"),
        ),
        width=8,
    ),
)

CHANNELS = (
    Panel(
        "Delivered per provider account",
        "Sends a provider accepted, per channel and account: notifications_sent_total.",
        "ops",
        (
            q(
                f"sum by (type, provider) (rate(notifications_sent_total[{RI}]))",
                "{{type}} {{provider}}",
            ),
        ),
    ),
    Panel(
        "Provider calls by result",
        "Every send call per account: sent, transient (retried or failed over), permanent, "
        "timeout: provider_calls_total.",
        "ops",
        (
            q(
                f"sum by (provider, result) (rate(provider_calls_total[{RI}]))",
                "{{provider}} {{result}}",
            ),
        ),
    ),
    Panel(
        "Provider send latency (p99)",
        "The 99th percentile of one send call per account, whatever its result; a timed-out "
        "call counts at its timeout: provider_send_duration_seconds.",
        "s",
        (
            q(
                "histogram_quantile(0.99, sum by (type, provider, le) "
                f"(rate(provider_send_duration_seconds_bucket[{RI}])))",
                "{{type}} {{provider}}",
            ),
        ),
    ),
    Panel(
        "Circuit breaker per account",
        "0 closed, 1 half-open, 2 open, the worst over the workers. Open: the account failed "
        "BREAKER_FAIL_MAX times in a row and is skipped until BREAKER_RESET_S passes and a "
        "trial call succeeds.",
        "none",
        (q("max by (provider) (provider_breaker_state)", "{{provider}}"),),
        thresholds=BREAKER_STEPS,
        options={"mappings": BREAKER_MAPPINGS},
        min=0,
        max=2,
    ),
    Panel(
        "Delivery ratio per account (receipts)",
        "DELIVERED receipts applied over sends, per provider account, over 30 minutes "
        "(wavecom:delivery_ratio:rate30m): the share of what an account accepted that it "
        "reports delivered. Only accounts that send receipts (Twilio, a webhook gateway, "
        "Mailgun or a relay's reports; FCM and the mock send none). A drop is an account that "
        "accepts and silently drops, which no breaker sees: WavecomDeliveryRatioLow "
        "(docs/receipts.md).",
        "percentunit",
        (q("wavecom:delivery_ratio:rate30m", "{{provider}}"),),
        thresholds=((None, "red"), (0.9, "yellow"), (0.97, "green")),
        min=0,
        max=1,
    ),
    Panel(
        "Receipts per account and status",
        "Provider receipts a second by account, status and what each did "
        "(provider_receipts_total): applied, ignored (a repeat or a reordered one), held (came "
        "before the outcome), unknown (never matched a sent notification).",
        "ops",
        (
            q(
                f"sum by (provider, status, result) (rate(provider_receipts_total[{RI}]))",
                "{{provider}} {{status}} {{result}}",
            ),
        ),
    ),
    Panel(
        "Retries and parked jobs",
        "Attempts scheduled again through a delay queue after a transient failure "
        "(notifications_retried_total), and jobs delayed without using an attempt because "
        "every provider of the channel was open (notifications_parked_total).",
        "ops",
        (
            q(f"sum by (type) (rate(notifications_retried_total[{RI}]))", "retried {{type}}"),
            q(f"sum by (type) (rate(notifications_parked_total[{RI}]))", "parked {{type}}"),
        ),
    ),
    Panel(
        "Expired by reason",
        "Notifications whose validity (ttlSeconds / expiresAt) ended before a provider had "
        "them, per channel and where they were: queued, retry, scheduled, breaker, no_account, "
        "rate_cap, lost_worker, failover (notifications_expired_total, summed over the API "
        "processes' sweeps and the workers' claims). Never sent late; a rising count is an "
        "outage customers see (docs/expiry.md).",
        "ops",
        (
            q(
                f"sum by (type, reason) (rate(notifications_expired_total[{RI}]))",
                "{{type}} {{reason}}",
            ),
        ),
    ),
    Panel(
        "Delivery attempt duration",
        "From a worker's claim to the outcome of one attempt, per channel (failover "
        "included): notification_processing_duration_seconds.",
        "s",
        quantiles("notification_processing_duration_seconds", "type", "{{type}}"),
    ),
    Panel(
        "Accepted to delivered per channel (p99)",
        "The 99th percentile from acceptance to delivery, per channel and priority: "
        "notification_delivery_latency_seconds.",
        "s",
        (
            q(
                "histogram_quantile(0.99, sum by (type, priority, le) "
                f"(rate(notification_delivery_latency_seconds_bucket[{RI}])))",
                "{{type}} {{priority}}",
            ),
        ),
    ),
    Panel(
        "Accept latency per channel (p99)",
        "The 99th percentile of intake's accept, per channel and priority: "
        "notification_accept_latency_seconds.",
        "s",
        (
            q(
                "histogram_quantile(0.99, sum by (type, priority, le) "
                f"(rate(notification_accept_latency_seconds_bucket[{RI}])))",
                "{{type}} {{priority}}",
            ),
        ),
    ),
    Panel(
        "Workers per channel",
        "Worker processes scraped, per channel (each exports worker_provider_revision). "
        "None for a channel: WavecomChannelWithoutWorker.",
        "short",
        (q("count by (type) (worker_provider_revision)", "{{type}}"),),
        width=8,
    ),
    Panel(
        "Provider configuration revision",
        "The provider-accounts revision each channel's workers run on (they poll it every "
        "PROVIDERS_POLL_S); workers of one channel on different revisions are mid-reload.",
        "none",
        (
            q("min by (type) (worker_provider_revision)", "oldest {{type}}"),
            q("max by (type) (worker_provider_revision)", "newest {{type}}"),
        ),
        width=8,
    ),
    Panel(
        "Messages per worker batch",
        "Median and 99th percentile of the batches workers take (BATCH_SIZE, BATCH_WAIT_MS): "
        "worker_batch_messages.",
        "short",
        (
            q(
                f"histogram_quantile(0.5, sum by (le) (rate(worker_batch_messages_bucket[{RI}])))",
                "p50",
            ),
            q(
                f"histogram_quantile(0.99, sum by (le) (rate(worker_batch_messages_bucket[{RI}])))",
                "p99",
            ),
        ),
        width=8,
    ),
    Panel(
        "Status callbacks per tenant and result",
        "Status callbacks POSTed to tenants' endpoints a second, per tenant and result "
        "(callbacks_total, from the callbacks process): attempted (each POST), succeeded, "
        "failed (an attempt that did not succeed; retried with a backoff) and parked "
        "(docs/callbacks.md).",
        "ops",
        (
            q(
                f"sum by (tenant, result) (rate(callbacks_total[{RI}]))",
                "{{tenant}} {{result}}",
            ),
        ),
    ),
    Panel(
        "Callbacks parked per tenant",
        'Callbacks parked as dead letters per tenant (callbacks_total{result="parked"}): '
        "refused with a 4xx or a redirect, or still failing at the end of the 24-hour retry "
        "window. The tenant gets them only when replayed: WavecomCallbacksParked "
        "(docs/callbacks.md).",
        "short",
        (
            q(
                f'sum by (tenant) (increase(callbacks_total{{result="parked"}}[{RI}]))',
                "{{tenant}}",
            ),
        ),
        thresholds=((None, "green"), (1, "red")),
        min=0,
    ),
    Panel(
        "Pending callbacks per endpoint",
        "Callbacks each endpoint is owed and has not had: due, waiting for a retry or in "
        "flight (callbacks_pending, sampled from the database every 10 s by the callbacks "
        "process; the max over its replicas, which report the same). A receiver that is down "
        "grows it until it recovers or the callbacks are parked after 24 hours.",
        "short",
        (q("max by (tenant, endpoint) (callbacks_pending)", "{{tenant}} {{endpoint}}"),),
        min=0,
    ),
    Panel(
        "Oldest due callback per endpoint",
        "How long the callback due longest at each endpoint has waited for its POST "
        "(callback_oldest_due_seconds; 0: none due, and one waiting out its backoff is not "
        "due). Growing: the endpoint's lane does not keep up or the process does not deliver; "
        "over 5 minutes for 10: WavecomCallbackBacklogAging (docs/callbacks.md).",
        "s",
        (q("max by (tenant, endpoint) (callback_oldest_due_seconds)", "{{tenant}} {{endpoint}}"),),
        thresholds=((None, "green"), (60, "yellow"), (300, "red")),
        min=0,
    ),
    Panel(
        "Status change to callback (p99)",
        "From a status change to its callback's successful POST, retries included, per tenant "
        "(callback_delivery_latency_seconds): what a tenant's receiver waits for news.",
        "s",
        (
            q(
                "histogram_quantile(0.99, sum by (tenant, le) "
                f"(rate(callback_delivery_latency_seconds_bucket[{RI}])))",
                "{{tenant}}",
            ),
        ),
    ),
    Panel(
        "Callback POST duration (p99)",
        "One callback POST, whatever its answer, per tenant (callback_request_duration_seconds; "
        "a timed-out one counts at CALLBACK_TIMEOUT_S). Near the timeout: a receiver that "
        "hangs, which slows only its own endpoint's lane.",
        "s",
        (
            q(
                "histogram_quantile(0.99, sum by (tenant, le) "
                f"(rate(callback_request_duration_seconds_bucket[{RI}])))",
                "{{tenant}}",
            ),
        ),
    ),
)

QUEUES = (
    Panel(
        "Ready per queue",
        "Messages ready in each wavecom queue (lanes, delay rungs, DLQ), by RabbitMQ's "
        "rabbitmq_prometheus plugin (/metrics/detailed?family=queue_coarse_metrics).",
        "short",
        (q(f"sum by (queue) (rabbitmq_detailed_queue_messages_ready{{{OURS}}})", "{{queue}}"),),
    ),
    Panel(
        "Unacknowledged per queue",
        "Messages delivered to a worker and not acknowledged yet (at most PREFETCH per "
        "consumer): work in progress.",
        "short",
        (
            q(
                f"sum by (queue) (rabbitmq_detailed_queue_messages_unacked{{{OURS}}})",
                "{{queue}}",
            ),
        ),
    ),
    Panel(
        "Waiting for a retry",
        "Messages in the delay queues (one per rung of the retry ladder), all together and "
        "the five fullest rungs: attempts waiting for their backoff, and parked jobs.",
        "short",
        (
            q(f"sum(rabbitmq_detailed_queue_messages{{{DELAYS}}})", "all delay queues"),
            q(
                f"topk(5, sum by (queue) (rabbitmq_detailed_queue_messages{{{DELAYS}}}))",
                "{{queue}}",
            ),
        ),
    ),
    Panel(
        "Dead-letter queue",
        "Messages in wavecom.dlq: FAILED notifications waiting for an operator.",
        "short",
        (q(f"sum(rabbitmq_detailed_queue_messages{{{DLQ}}})", "wavecom.dlq"),),
    ),
    Panel(
        "Queue process work",
        "Erlang reductions per second of each queue's process: which queues keep the broker busy.",
        "short",
        (
            q(
                "sum by (queue) "
                f"(rate(rabbitmq_detailed_queue_process_reductions_total{{{OURS}}}[{RI}]))",
                "{{queue}}",
            ),
        ),
    ),
    Panel(
        "Broker throughput (every vhost)",
        "Messages published to, delivered by, redelivered by and expired into dead-letter "
        "routing (the delay queues' TTL: retries coming back) per second on the whole node "
        "(rabbitmq_prometheus aggregated metrics).",
        "ops",
        (
            q(f"sum(rate(rabbitmq_global_messages_received_total[{RI}]))", "published"),
            q(f"sum(rate(rabbitmq_global_messages_delivered_total[{RI}]))", "delivered"),
            q(f"sum(rate(rabbitmq_global_messages_redelivered_total[{RI}]))", "redelivered"),
            q(
                f"sum(rate(rabbitmq_global_messages_dead_lettered_expired_total[{RI}]))",
                "expired (delays)",
            ),
        ),
    ),
)

SLO = (
    Panel(
        "Accept availability",
        f"Share of create requests (POST /api/notifications and /batch) answered without a "
        f"5xx over the dashboard's range; objective {SLO_TARGET:.1%} over 30 days. 429s "
        "(shedding, rate limits) and 4xx do not count against it.",
        "percentunit",
        (q(f"1 - ({error_ratio('$__range')})", "availability"),),
        kind="stat",
        width=6,
        decimals=3,
        thresholds=((None, "red"), (SLO_TARGET, "green")),
    ),
    Panel(
        "Delivered within 60 s",
        "Share of notifications delivered over the dashboard's range that reached their "
        "provider within 60 s of being accepted (notification_delivery_latency_seconds "
        "bucket le=60).",
        "percentunit",
        (q(within_60s("", "$__range"), "within 60 s"),),
        kind="stat",
        width=6,
        decimals=2,
        thresholds=((None, "red"), (0.99, "green")),
    ),
    Panel(
        "Error budget left (30 days)",
        "Share of the accept SLO's 30-day error budget (0.1 % of create requests) not "
        "spent yet; below 0 the objective is missed.",
        "percentunit",
        (q(f"1 - ({error_ratio('30d')}) / {1 - SLO_TARGET:g}", "budget left"),),
        kind="stat",
        width=6,
        decimals=1,
        thresholds=((None, "red"), (0.25, "orange"), (0.5, "green")),
    ),
    Panel(
        "Failed for good",
        "Share of notifications that reached a final state over the dashboard's range and "
        "FAILED (they are in the dead-letter queue).",
        "percentunit",
        (
            q(
                "(sum(increase(notifications_failed_total[$__range])) or vector(0)) / "
                "(sum(increase(notifications_sent_total[$__range])) "
                "+ (sum(increase(notifications_failed_total[$__range])) or vector(0)))",
                "failed",
            ),
        ),
        kind="stat",
        width=6,
        decimals=2,
        thresholds=((None, "green"), (0.01, "orange"), (0.05, "red")),
    ),
    Panel(
        "Accept availability over time",
        "Share of create requests answered without a 5xx, in 5-minute windows.",
        "percentunit",
        (q(f"1 - ({error_ratio('5m')})", "availability (5 min)"),),
        thresholds=((None, "red"), (SLO_TARGET, "green")),
    ),
    Panel(
        "Delivered within 60 s per channel",
        "Share of delivered notifications that took at most 60 s from acceptance, per "
        "channel, in 5-minute windows.",
        "percentunit",
        (q(within_60s("type", "5m"), "{{type}}"),),
    ),
    Panel(
        "Error budget burn rate",
        "How fast the accept SLO's budget is spent: 1 spends exactly the budget in 30 days. "
        "The fast alert fires above 14.4 (1 h and 5 min) or 6 (6 h and 30 min), the slow one "
        "above 3 (1 day and 2 h) or 1 (3 days and 6 h).",
        "short",
        tuple(
            q(f"({error_ratio(w)}) / {1 - SLO_TARGET:g}", f"burn over {w}")
            for w in ("5m", "1h", "6h", "1d", "3d")
        ),
        width=24,
        thresholds=((None, "green"), (1.0, "orange"), (14.4, "red")),
    ),
)


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    panels: tuple[Panel, ...]
    file: str


DASHBOARDS = (
    Dashboard(
        "wavecom-overview",
        "WaveCom Notify / Overview",
        "Is the system accepting and delivering? Throughput, latency, backlog, dead letters, "
        "breakers and shedding at a glance.",
        OVERVIEW,
        "overview.json",
    ),
    Dashboard(
        "wavecom-channels",
        "WaveCom Notify / Channels and providers",
        "Which channel or provider account is the problem? Per-account sends, results, "
        "latency and breakers; retries, parking and the workers behind each channel; the "
        "status callbacks to tenants' endpoints.",
        CHANNELS,
        "channels.json",
    ),
    Dashboard(
        "wavecom-queues",
        "WaveCom Notify / Queues",
        "What does RabbitMQ hold? Every wavecom queue's ready and unacknowledged messages, "
        "the retry ladder, the DLQ and the broker's throughput.",
        QUEUES,
        "queues.json",
    ),
    Dashboard(
        "wavecom-slo",
        "WaveCom Notify / SLO",
        "Are we keeping our promises? Accept availability (99.9 %), delivered within 60 s, "
        "the error budget and how fast it burns.",
        SLO,
        "slo.json",
    ),
)


def _templating() -> dict[str, Any]:
    return {
        "list": [
            {
                "name": "datasource",
                "label": "Data source",
                "type": "datasource",
                "query": "prometheus",
                "current": {},
                "hide": 0,
                "includeAll": False,
                "multi": False,
                "options": [],
                "refresh": 1,
                "regex": "",
                "skipUrlSync": False,
            },
            {
                "name": "vhost",
                "label": "RabbitMQ vhost",
                "description": "The deployment's RabbitMQ virtual host (All: every vhost)",
                "type": "query",
                "datasource": DATASOURCE,
                "definition": "label_values(rabbitmq_detailed_queue_messages, vhost)",
                "query": {
                    "qryType": 1,
                    "query": "label_values(rabbitmq_detailed_queue_messages, vhost)",
                    "refId": "PrometheusVariableQueryEditor-VariableQuery",
                },
                "current": {},
                "hide": 0,
                "includeAll": True,
                "allValue": ".*",
                "multi": False,
                "options": [],
                "refresh": 2,
                "regex": "",
                "skipUrlSync": False,
                "sort": 1,
            },
        ]
    }


def _panel(panel: Panel, pid: int, x: int, y: int) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "unit": panel.unit,
        "color": {"mode": "palette-classic" if panel.kind == "timeseries" else "thresholds"},
        "thresholds": {
            "mode": "absolute",
            "steps": [{"color": c, "value": v} for v, c in panel.thresholds],
        },
        "mappings": panel.options.get("mappings", []),
    }
    if panel.decimals is not None:
        defaults["decimals"] = panel.decimals
    if panel.min is not None:
        defaults["min"] = panel.min
    if panel.max is not None:
        defaults["max"] = panel.max
    if panel.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": False,
            "axisPlacement": "auto",
            "stacking": {"mode": "none", "group": "A"},
            "thresholdsStyle": {"mode": "off"},
        }
        options: dict[str, Any] = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    else:
        options = {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "value",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "textMode": "auto",
        }
    return {
        "id": pid,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": [
            {
                "datasource": DATASOURCE,
                "editorMode": "code",
                "expr": query.expr,
                "legendFormat": query.legend or "__auto",
                "range": panel.kind == "timeseries",
                "instant": panel.kind == "stat",
                "refId": chr(ord("A") + i),
            }
            for i, query in enumerate(panel.queries)
        ],
    }


def build(dashboard: Dashboard) -> dict[str, Any]:
    """The dashboard's JSON model."""
    panels, x, y, row_height = [], 0, 0, 0
    for pid, panel in enumerate(dashboard.panels, start=1):
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        panels.append(_panel(panel, pid, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
    return {
        "annotations": {
            "list": [
                {
                    "builtIn": 1,
                    "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                    "enable": True,
                    "hide": True,
                    "iconColor": "rgba(0, 211, 255, 1)",
                    "name": "Annotations & Alerts",
                    "type": "dashboard",
                }
            ]
        },
        "description": dashboard.description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "id": None,
        "links": [
            {
                "asDropdown": True,
                "icon": "external link",
                "includeVars": True,
                "keepTime": True,
                "tags": ["wavecom-notify"],
                "title": "WaveCom Notify",
                "type": "dashboards",
            }
        ],
        "panels": panels,
        "refresh": "30s",
        "schemaVersion": SCHEMA_VERSION,
        "tags": ["wavecom-notify"],
        "templating": _templating(),
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "",
        "title": dashboard.title,
        "uid": dashboard.uid,
        "version": 1,
        "weekStart": "",
    }


def render(dashboard: Dashboard) -> str:
    return json.dumps(build(dashboard), indent=2, ensure_ascii=False) + "\n"


def stale() -> list[str]:
    """The dashboard files that differ from what this module makes (or are missing/extra)."""
    want = {d.file: render(d) for d in DASHBOARDS}
    have = {p.name: p.read_text() for p in OUT.glob("*.json")}
    return sorted(n for n in set(want) | set(have) if want.get(n) != have.get(n))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale()
        for name in bad:
            print(f"stale: dashboards/grafana/{name} (make dashboards)")
        return 1 if bad else 0
    OUT.mkdir(parents=True, exist_ok=True)
    want = {d.file for d in DASHBOARDS}
    for path in OUT.glob("*.json"):
        if path.name not in want:
            path.unlink()
    for dashboard in DASHBOARDS:
        (OUT / dashboard.file).write_text(render(dashboard))
    return 0


if __name__ == "__main__":
    sys.exit(main())
