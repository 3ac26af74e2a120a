"""Prometheus metrics shared by the API and the workers (one registry per process).

Names follow Prometheus's conventions: counters end in ``_total``, durations are histograms in
seconds (``_seconds``), counts of things are named for the thing (``_messages``,
``_notifications``). The channel is the label ``type`` everywhere (the API's field name). The
dashboards and alert rules built on these are in ``dashboards/`` (``docs/observability.md``).
"""

from __future__ import annotations

from typing import TypeVar

from prometheus_client import Counter, Gauge, Histogram

_Metric = TypeVar("_Metric", Counter, Histogram)
_children: dict[tuple[Counter | Histogram, tuple[str, ...]], Counter | Histogram] = {}


def labelled(metric: _Metric, *values: str) -> _Metric:
    """``metric.labels(*values)``, looked up once per label set and kept.

    ``labels()`` checks and converts its values and takes the metric's lock on every call; the
    hot paths call it a few times per notification and per request (``make bench-steps``'s CPU
    profiles: 2 % of a worker's CPU). Counters and histograms only: a child is never removed
    from them (gauges' children are, ``BREAKER_STATE``'s, so a kept one could go stale).
    """
    key = (metric, values)
    child = _children.get(key)
    if child is None:
        child = _children[key] = metric.labels(*values)
    return child  # type: ignore[return-value]


CREATED = Counter(
    "notifications_created_total", "Notifications accepted by the API", ["type", "priority"]
)
SENT = Counter("notifications_sent_total", "Notifications delivered", ["type", "provider"])
FAILED = Counter(
    "notifications_failed_total", "Notifications that failed for good", ["type", "reason"]
)
EXPIRED = Counter(
    "notifications_expired_total",
    "Notifications whose validity (ttlSeconds / expiresAt) ended before a provider had them, "
    "by where they were (reason: queued, retry, scheduled, breaker, no_account, rate_cap, "
    "lost_worker, failover); a rising count is an outage customers see",
    ["type", "reason"],
)
RETRIED = Counter("notifications_retried_total", "Delivery attempts scheduled again", ["type"])
PARKED = Counter(
    "notifications_parked_total",
    "Jobs delayed without using an attempt because every provider was unavailable",
    ["type"],
)
DEAD_LETTERED = Counter(
    "notifications_dead_lettered_total", "Messages sent to the dead-letter queue", ["reason"]
)
PROVIDER_CALLS = Counter(
    "provider_calls_total", "Provider send calls by result", ["provider", "result"]
)
PROCESSING = Histogram(
    "notification_processing_duration_seconds",
    "Time from claim to outcome of one delivery attempt",
    ["type"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
END_TO_END = Histogram(
    "notification_delivery_latency_seconds",
    "Time from acceptance by the API to delivery",
    ["type", "priority"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
ACCEPT_LATENCY = Histogram(
    "notification_accept_latency_seconds",
    "Time from a create request reaching intake to its notifications being stored and queued "
    "(one observation per request and channel and priority it carried)",
    ["type", "priority"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
PROVIDER_SEND = Histogram(
    "provider_send_duration_seconds",
    "Time one send call to a provider account took, whatever its result "
    "(a timed-out call counts at its timeout)",
    ["type", "provider"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BREAKER_STATE = Gauge(
    "provider_breaker_state", "Circuit breaker state (0 closed, 1 half-open, 2 open)", ["provider"]
)
BATCH_SIZE = Histogram(
    "worker_batch_messages", "Messages per worker batch", buckets=(1, 5, 10, 25, 50, 100, 200, 400)
)
POSSIBLE_DUPLICATES = Counter(
    "notifications_possible_duplicates_total",
    "Sends made in a round retaken from a lost worker that the provider did not recognise as "
    "a repeat: each may be a second copy",
    ["type", "provider"],
)
PROVIDER_RELOADS = Counter(
    "worker_provider_reloads_total", "Times a worker rebuilt its provider accounts", ["type"]
)
PROVIDER_REVISION = Gauge(
    "worker_provider_revision", "The provider configuration revision a worker runs on", ["type"]
)
PROVIDER_LOAD_ERRORS = Counter(
    "worker_provider_load_errors_total",
    "Provider accounts a worker left out because their driver could not be built",
    ["type"],
)
USABLE_ACCOUNTS = Gauge(
    "channel_usable_accounts",
    "Provider accounts a worker can deliver its channel through (enabled, built, never a mock "
    "in production); 0: the worker does not consume and the channel's notifications wait",
    ["type"],
)
QUEUE_DEPTH = Gauge("queue_depth", "Messages ready in a queue", ["queue"])
HTTP_REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"])
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request duration",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
LIVE_STREAMS = Gauge("live_streams", "Open GET /api/events streams")
LIVE_EVENTS = Counter("live_events_total", "Status changes sent on live streams (after coalescing)")
LIVE_RESYNCS = Counter("live_resyncs_total", "Live streams told to read again (changes dropped)")
RATE_LIMITED = Counter(
    "api_rate_limited_total", "Requests refused by a key's rate limit", ["tenant"]
)
AUTH_FAILURES = Counter("api_auth_failures_total", "Requests refused 401 or 403", ["status"])
SWEEPER_REQUEUED = Counter(
    "wavecom_sweeper_requeued_total",
    "Waiting notifications published again because their message was lost (by the sweeper)",
    ["type", "status"],
)
SHED = Counter(
    "api_shed_total",
    "Notifications refused with 429 by load shedding (their channel's standard lane too deep)",
    ["type", "priority"],
)
ADMISSION_IN_FLIGHT = Gauge(
    "api_admission_in_flight", "Create requests this API process is working on now"
)
ADMISSION_REFUSED = Counter(
    "api_admission_refused_total",
    "Create requests refused at once (503) by this process's admission control, by reason: "
    "in_flight (its bound of requests in progress), loop_lag (its event loop ran late), "
    "queue_deadline (it waited for a group commit past ADMISSION_QUEUE_DEADLINE_S)",
    ["reason"],
)
for _reason in ("in_flight", "loop_lag", "queue_deadline"):
    ADMISSION_REFUSED.labels(_reason)  # exported at 0 before any refusal (the panel's series)
LOOP_LAG = Gauge(
    "api_event_loop_lag_seconds",
    "How late this API process's event loop last ran a timer (admission refuses creates above "
    "ADMISSION_MAX_LAG_MS)",
)
INTAKE_GROUP = Histogram(
    "api_intake_group_notifications",
    "Notifications committed together by one group commit of the intake (one write each)",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500),
)
RECEIPTS = Counter(
    "provider_receipts_total",
    "Provider receipts by account, status, the provider's code ('' when none) and what each "
    "did: applied (the notification moved on), ignored (a repeat, or a state it may not leave), "
    "held (its notification's outcome not stored yet), unknown (held for RECEIPT_HOLD_S and "
    "never matched)",
    ["provider", "status", "code", "result"],
)
RECEIPTS_REFUSED = Counter(
    "provider_receipts_refused_total",
    "Receipts refused before reading them: 401 (unsigned or wrongly signed, or no such account) "
    "or 400 (signed but unreadable), by endpoint",
    ["endpoint", "status"],
)
DB_COMMANDS = Counter(
    "database_commands_total",
    "Database commands this process sent, by command name (insert, update, find, ...) and "
    "the collection it names (empty for a command of none, such as ping): a notification's "
    "cost is mostly its round trips",
    ["command", "collection"],
)
DB_COMMAND_FAILURES = Counter(
    "database_command_failures_total",
    "Database commands that came back with an error, by command name",
    ["command"],
)
COUNTER_REPAIRED_STEPS = Counter(
    "counter_repaired_steps_total",
    "Timeline steps the counters' repair counted for tallies their writer left unsettled (it "
    "died, or its settle failed): 0 in a healthy installation but after kills and outages",
)
