"""One settings object for the API, the workers and the tools (environment variables)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from wavecom.core.constants import Channel, QueueType, valid_tenant

# production refuses what only a development or test installation may have: DEV_TENANT, fault
# injection, and mock provider accounts (they mark notifications SENT and deliver nothing)
Environment = Literal["development", "test", "production"]


class Settings(BaseSettings):
    """Every knob of the system; read from the environment (prefix-free names, e.g. AMQP_URL)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    environment: Environment = "development"
    log_level: str = "INFO"
    # text: readable lines; json: one object a line (trace_id/span_id while a span is current)
    log_format: Literal["text", "json"] = "text"

    # connections; AMQP_URL may list a cluster's nodes, comma-separated: the processes connect
    # to the first that answers and fail over to the next when it goes away
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    mongodb_url: str = "mongodb://127.0.0.1:27017/"
    mongodb_database: str = "wavecom"
    # TLS with a private CA (files, e.g. mounted from a Secret; see wavecom.core.tls). AMQP: the CA
    # bundle that signs the broker's certificate, used with amqps:// URLs, and optionally a
    # client certificate and its key (both or neither). MongoDB: a CA file turns TLS on (as
    # tls=true&tlsCAFile= in MONGODB_URL would); the client certificate may hold its key, or the
    # key may be a file of its own. Empty: the system's CAs, no client certificate.
    amqp_ca_file: str = ""
    amqp_cert_file: str = ""
    amqp_key_file: str = ""
    mongodb_tls_ca_file: str = ""
    mongodb_tls_cert_file: str = ""
    mongodb_tls_key_file: str = ""
    # development only: a request without an API key acts as this tenant, with every scope.
    # Empty (the default) means every request needs a key; refused in production.
    dev_tenant: str = ""

    # API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    # how long the API keeps an idle client connection open: longer than the idle timeout of
    # whatever proxies to it (ingress-nginx's upstream keep-alive and AWS's ALB: 60 s), so the
    # proxy, not the API, closes it; uvicorn's own 5 s makes a proxy reuse a connection the API
    # is closing, which the client sees as a 502 or a reset (Google's load balancers keep 600 s:
    # set 620 there)
    api_keep_alive_s: int = Field(default=75, ge=1, le=3600)
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    max_batch_items: int = Field(default=1000, ge=1)
    max_metadata_bytes: int = Field(default=8 * 1024, ge=64)
    max_metadata_depth: int = Field(default=5, ge=1)
    publish_timeout_s: float = Field(default=10.0, gt=0)
    # browser origins allowed to call the API (comma-separated); the dashboard is same-origin
    cors_origins: str = ""
    # per API key token bucket, unless the tenant has its own (python -m wavecom.admin tenants)
    rate_limit_per_s: float = Field(default=1000.0, gt=0)
    rate_limit_burst: int = Field(default=2000, ge=1)
    # how long an API process trusts a tenant's limits before reading them again
    tenant_cache_s: float = Field(default=5.0, ge=0)
    # how long an API process trusts an API key's stored state: a key revoked elsewhere is
    # refused by every API process within this bound (at once by the one that revoked it)
    key_cache_s: float = Field(default=1.0, ge=0, le=60)
    # admission control: create requests one API process works on at once; one more is
    # answered 503 with Retry-After at once instead of waiting behind work it cannot finish
    admission_max_in_flight: int = Field(default=200, ge=1)
    admission_retry_after_s: int = Field(default=1, ge=1)
    # and a create that waited this long for the intake's next group commit is refused (503)
    # rather than stored: what is accepted under overload is answered within about this
    admission_queue_deadline_s: float = Field(default=0.5, gt=0, le=30)
    # and while the event loop runs this late (ms; 0: never), creates are refused the same way:
    # the count bounds the work in progress, this bounds the time before a request is counted
    admission_max_lag_ms: int = Field(default=200, ge=0, le=10_000)
    # live updates: the longest a status change waits before it is streamed (coalescing)
    events_flush_ms: int = Field(default=500, ge=20, le=10_000)
    # the dashboard's static export, served at / when it has been built
    dashboard_dir: str = str(Path(__file__).resolve().parents[3] / "frontend" / "out")

    # queues
    prefetch: int = Field(default=400, ge=1)
    queue_max_length: int = Field(default=2_000_000, ge=1000)
    # quorum queues are replicated over the cluster (they survive losing a node); classic ones
    # live on one node. RabbitMQ cannot change the type of an existing queue: see the README.
    queue_type: QueueType = QueueType.QUORUM
    # quorum only: a message handed out this many times without an ack (a worker crashing on
    # it again and again) is dead-lettered; a poison guard beside the attempt count
    queue_delivery_limit: int = Field(default=20, ge=1)

    # load shedding: standard-lane depth per channel above which LOW, then MEDIUM, get 429
    shed_low_backlog: int = Field(default=200_000, ge=1)
    shed_medium_backlog: int = Field(default=500_000, ge=1)
    shed_retry_after_s: int = Field(default=30, ge=1)

    # worker pipeline
    batch_size: int = Field(default=200, ge=1)
    batch_wait_ms: int = Field(default=50, ge=0)
    max_batches_in_flight: int = Field(default=4, ge=1)
    # a batch's outcome write waits this long for the rest of its batch's answers
    outcome_linger_ms: int = Field(default=20, ge=0, le=1000)
    # a worker's claims and outcomes, and an API process's answered commits, settle their counters
    # together, this long after the first (0: each at once); the stats lag the documents by that
    settle_linger_ms: int = Field(default=100, ge=0, le=5000)
    max_retries: int = Field(default=3, ge=0, le=20)
    retry_base_delay_ms: int = Field(default=5000, ge=100)
    retry_multiplier: float = Field(default=5.0, ge=1.0)
    retry_max_delay_ms: int = Field(default=600_000, ge=100)
    retry_jitter: float = Field(default=0.2, ge=0.0, le=0.9)
    provider_timeout_s: float = Field(default=10.0, gt=0)
    breaker_fail_max: int = Field(default=10, ge=1)
    breaker_reset_s: float = Field(default=30.0, gt=0)
    breaker_report_s: float = Field(default=2.0, gt=0)
    shutdown_grace_s: float = Field(default=20.0, gt=0)
    # a claimed round with no outcome after this long is retaken (its worker died)
    claim_ttl_s: float = Field(default=120.0, gt=0)

    # relay (due SCHEDULED notifications, and stored ones whose publish was never confirmed,
    # are published by a loop in each API process)
    scheduler_interval_s: float = Field(default=1.0, gt=0)
    outbox_grace_s: float = Field(default=30.0, gt=0)
    # sweeper (one API process at a time, by a lease in the database): QUEUED/RETRYING
    # notifications whose message should have been consumed SWEEP_AFTER_S ago and that no
    # worker claimed are published again (the broker lost their message)
    sweep_after_s: float = Field(default=120.0, gt=0)
    sweep_interval_s: float = Field(default=15.0, gt=0)
    sweep_limit: int = Field(default=1000, ge=1)
    # expiry sweep (each API process, no lease: each expiry is a conditional update): waiting
    # notifications whose expiresAt passed become EXPIRED within about this interval (a worker
    # never sends an expired one, whatever the interval: docs/expiry.md)
    expiry_sweep_interval_s: float = Field(default=1.0, gt=0, le=60)
    expiry_sweep_limit: int = Field(default=1000, ge=1)
    # fault injection for the fault tests only: exit right after storing, before publishing
    exit_before_publish: bool = False

    # provider accounts live in the database (python -m wavecom.admin providers, or the
    # operator's NotificationProvider resources); each worker looks for a new revision this often
    providers_poll_s: float = Field(default=1.0, gt=0, le=5)
    # credentials are sealed with AES-256-GCM: the key (32 bytes, base64) and its id; a previous
    # key is still accepted for reading during a rotation (admin providers rotate)
    credentials_key: SecretStr = SecretStr("")
    credentials_key_id: str = Field(default="k1", pattern=r"^[A-Za-z0-9._-]{1,32}$")
    credentials_previous_key: SecretStr = SecretStr("")
    credentials_previous_key_id: str = Field(default="k0", pattern=r"^[A-Za-z0-9._-]{1,32}$")
    # the seed of an empty development or test installation only (never in production, where
    # the mock driver is refused): a channel with no accounts yet gets these (a JSON list of
    # mock accounts per channel, see wavecom.providers.seed), or two healthy mocks
    providers_email: str = ""
    providers_sms: str = ""
    providers_push: str = ""
    ledger_dir: str = ""
    provider_seed: int | None = None

    # provider receipts (POST /api/receipts/..., docs/receipts.md). PUBLIC_BASE_URL: the
    # scheme, host and any path prefix providers reach this API at (a proxy or an ingress in
    # front of it); the Twilio driver sends <PUBLIC_BASE_URL>/api/receipts/twilio/<account> as
    # each message's StatusCallback unless the account names its own, and the endpoint checks
    # Twilio's signature against that URL. Empty: no status callback is asked for.
    public_base_url: str = Field(default="", pattern=r"^(https?://[^\s?#]+)?$")
    # a receipt that comes before the outcome naming its message id is held and the sweep (each
    # API process, every RECEIPT_SWEEP_S) applies it once that outcome is stored; one still
    # unmatched after RECEIPT_HOLD_S is dropped and counted as unknown
    receipt_sweep_s: float = Field(default=2.0, gt=0, le=60)
    receipt_hold_s: float = Field(default=900.0, gt=0)

    # status callbacks to tenants (python -m wavecom.callbacks, docs/callbacks.md): each
    # endpoint gets this many POSTs in flight at most, each cut off after CALLBACK_TIMEOUT_S; a
    # failed one is retried after CALLBACK_BACKOFF_BASE_S doubled per attempt up to
    # CALLBACK_BACKOFF_MAX_S (half of it random jitter, or the receiver's Retry-After if longer)
    # until CALLBACK_RETRY_WINDOW_S after its first attempt, then parked as a dead letter
    callback_concurrency: int = Field(default=4, ge=1, le=64)
    callback_timeout_s: float = Field(default=10.0, gt=0, le=60)
    callback_backoff_base_s: float = Field(default=5.0, gt=0)
    callback_backoff_max_s: float = Field(default=3600.0, gt=0)
    callback_retry_window_s: float = Field(default=86_400.0, gt=0)
    # how often each endpoint's lane looks for due callbacks when nothing woke it, and how
    # often the process looks for endpoint changes (the revision)
    callback_poll_s: float = Field(default=1.0, gt=0, le=10)
    # the repair scan: every CALLBACK_REPAIR_S, the notifications of tenants with endpoints
    # changed since the last scan (less CALLBACK_REPAIR_OVERLAP_S, for writes that commit late)
    # get the callbacks a lost status event left out
    # (each changed notification is read about (REPAIR_S + OVERLAP_S) / REPAIR_S times: 1.5)
    callback_repair_s: float = Field(default=60.0, gt=0)
    callback_repair_overlap_s: float = Field(default=30.0, ge=0)
    # a rotated secret still signs (beside the new one) for this long
    callback_rotation_grace_s: float = Field(default=86_400.0, ge=0)

    @field_validator("dev_tenant")
    @classmethod
    def _tenant_ok(cls, v: str) -> str:
        if v and not valid_tenant(v):
            raise ValueError("DEV_TENANT must be a tenant id (letters, digits, - and _, 1-64)")
        return v

    @field_validator(
        "amqp_ca_file",
        "amqp_cert_file",
        "amqp_key_file",
        "mongodb_tls_ca_file",
        "mongodb_tls_cert_file",
        "mongodb_tls_key_file",
    )
    @classmethod
    def _tls_file_readable(cls, v: str) -> str:
        # at start-up, naming the variable, rather than at the first connection attempt
        if v and not Path(v).is_file():
            raise ValueError(f"{v} is not a readable file (is its volume mounted?)")
        return v

    @field_validator("cors_origins")
    @classmethod
    def _origins_ok(cls, v: str) -> str:
        for origin in (o.strip() for o in v.split(",") if o.strip()):
            if origin == "*" or not re.fullmatch(r"https?://[A-Za-z0-9.\-]+(:\d{1,5})?", origin):
                raise ValueError(
                    f"CORS_ORIGINS: {origin!r} is not an origin like https://ops.example"
                )
        return v

    @model_validator(mode="after")
    def _no_faults_in_production(self) -> Settings:
        if self.exit_before_publish and self.environment == "production":
            raise ValueError("EXIT_BEFORE_PUBLISH is for fault tests, never for production")
        if self.dev_tenant and self.environment == "production":
            raise ValueError("DEV_TENANT opens the API without keys: never in production")
        if (
            self.credentials_previous_key.get_secret_value()
            and self.credentials_previous_key_id == self.credentials_key_id
        ):
            raise ValueError("CREDENTIALS_PREVIOUS_KEY_ID must differ from CREDENTIALS_KEY_ID")
        if bool(self.amqp_cert_file) != bool(self.amqp_key_file):
            raise ValueError("AMQP_CERT_FILE and AMQP_KEY_FILE go together (a client certificate)")
        if (self.amqp_ca_file or self.amqp_cert_file) and not all(
            u.startswith("amqps://") for u in self.amqp_urls
        ):
            raise ValueError(
                "AMQP_CA_FILE / AMQP_CERT_FILE are used only over TLS: AMQP_URL must list "
                "amqps:// URLs (port 5671 by default)"
            )
        if self.mongodb_tls_key_file and not self.mongodb_tls_cert_file:
            raise ValueError("MONGODB_TLS_KEY_FILE needs MONGODB_TLS_CERT_FILE")
        if self.outbox_grace_s <= self.publish_timeout_s:
            raise ValueError("OUTBOX_GRACE_S must exceed PUBLISH_TIMEOUT_S")
        return self

    @field_validator("amqp_url")
    @classmethod
    def _amqp_urls_ok(cls, v: str) -> str:
        urls = [u.strip() for u in v.split(",") if u.strip()]
        if not urls:
            raise ValueError("AMQP_URL needs at least one amqp:// or amqps:// URL")
        for url in urls:
            if not re.match(r"amqps?://", url):
                raise ValueError("AMQP_URL: each comma-separated entry must be an amqp(s):// URL")
        return v

    @property
    def amqp_urls(self) -> list[str]:
        """The broker nodes to connect to, in the order they are tried."""
        return [u.strip() for u in self.amqp_url.split(",") if u.strip()]

    @property
    def cors_allowlist(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    def providers_json(self, channel: Channel) -> str:
        """The raw provider configuration of one channel ('' means the built-in defaults)."""
        return {
            Channel.EMAIL: self.providers_email,
            Channel.SMS: self.providers_sms,
            Channel.PUSH: self.providers_push,
        }[channel]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
