"""The callbacks process's Prometheus metrics (its own registry's share: only
``python -m wavecom.callbacks`` records them; dashboards in ``dashboards/``)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RESULTS = ("attempted", "succeeded", "failed", "parked")
CALLBACKS = Counter(
    "callbacks_total",
    "Status callbacks to tenants by result: attempted (each POST), succeeded, failed (an "
    "attempt that did not succeed), parked (a dead letter)",
    ["tenant", "result"],
)
CALLBACK_DURATION = Histogram(
    "callback_request_duration_seconds",
    "Time one callback POST took, whatever its answer (a timed-out one counts at its timeout)",
    ["tenant"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
CALLBACK_LATENCY = Histogram(
    "callback_delivery_latency_seconds",
    "Time from a status change to its callback's successful POST (retries included)",
    ["tenant"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400),
)
CALLBACKS_QUEUED = Counter(
    "callbacks_queued_total",
    "Callback records stored, by source: event (the live status events) or repair (the scan "
    "that finds what a lost event left out)",
    ["source"],
)
ENDPOINTS = Gauge("callback_endpoints", "Enabled callback endpoints this process delivers to")
CALLBACKS_PENDING = Gauge(
    "callbacks_pending",
    "Callbacks an endpoint is owed and has not had (due now, waiting for a retry or in "
    "flight), sampled from the database every few seconds",
    ["tenant", "endpoint"],
)
CALLBACK_OLDEST_DUE = Gauge(
    "callback_oldest_due_seconds",
    "How long the endpoint's callback due longest has waited for its POST (0: none is due); "
    "grows when the lane does not keep up or the process does not deliver",
    ["tenant", "endpoint"],
)
