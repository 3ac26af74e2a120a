"""``status.conditions`` of a NotificationProvider, the Kubernetes way (kopf has none built in).

Each condition has ``type``, ``status`` (``True``/``False``/``Unknown``), a CamelCase ``reason``,
a human ``message``, the ``observedGeneration`` it was computed for and ``lastTransitionTime``,
which moves only when ``status`` changes (a new reason or message alone does not move it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

READY = "Ready"
CREDENTIALS_RESOLVED = "CredentialsResolved"
TYPES = (READY, CREDENTIALS_RESOLVED)
MAX_MESSAGE = 1024  # a status is read by people; the full error is in the operator's log

Status = Literal["True", "False", "Unknown"]


class Reason(StrEnum):
    """Why a condition has its status (see docs: "Provider accounts on Kubernetes")."""

    APPLIED = "Applied"  # Ready: the account is written; workers pick it up within seconds
    RESOLVED = "Resolved"  # CredentialsResolved: the Secret was read
    # CredentialsResolved: no credentialsSecretRef
    NO_SECRET = "NoSecretReferenced"  # noqa: S105 - a reason, not a password
    # the Secret does not exist (retried)
    SECRET_NOT_FOUND = "SecretNotFound"  # noqa: S105
    # the Secret lacks the label the operator watches (notify.wavecom.io/provider-credentials)
    SECRET_NOT_LABELLED = "SecretNotLabelled"  # noqa: S105
    # the Secret's keys do not fit the driver (or are not UTF-8 text)
    SECRET_KEY_INVALID = "SecretKeyInvalid"  # noqa: S105
    INVALID_SPEC = "InvalidSpec"  # a field of the spec is refused by the driver
    CONFLICT = "Conflict"  # an account of that name is managed by another source
    STORE_UNAVAILABLE = "StoreUnavailable"  # the database did not answer (retried)
    KUBERNETES_UNAVAILABLE = "KubernetesUnavailable"  # reading the Secret failed (retried)


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: Status
    reason: Reason
    message: str


def now() -> str:
    """The current time as Kubernetes writes it (RFC 3339, seconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def find(conditions: Iterable[Mapping[str, Any]], type_: str) -> Mapping[str, Any] | None:
    """The condition of that type, or None."""
    return next((c for c in conditions if c.get("type") == type_), None)


def merge(
    existing: Sequence[Mapping[str, Any]] | None,
    updates: Iterable[Condition],
    *,
    generation: int,
    at: str | None = None,
) -> list[dict[str, Any]]:
    """The conditions after ``updates``: each update replaces the condition of its type (the
    others are kept), with ``lastTransitionTime`` carried over unless the status changed."""
    stamp = at or now()
    out = {str(c.get("type")): dict(c) for c in existing or () if c.get("type")}
    for u in updates:
        before = out.get(u.type)
        moved = before is None or before.get("status") != u.status
        out[u.type] = {
            "type": u.type,
            "status": u.status,
            "reason": str(u.reason),
            "message": u.message[:MAX_MESSAGE],
            "observedGeneration": generation,
            "lastTransitionTime": stamp
            if moved or before is None
            else before.get("lastTransitionTime", stamp),
        }
    order = {t: i for i, t in enumerate(TYPES)}
    return sorted(out.values(), key=lambda c: (order.get(c["type"], len(order)), c["type"]))
