"""A notification that reached callback steps, as the store keeps it, and an endpoint to owe
them to (``wavecom.callbacks.endpoints.Endpoint``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.support.documents import doc
from wavecom.callbacks.endpoints import Endpoint
from wavecom.callbacks.payload import ALL_EVENTS
from wavecom.core.constants import Status
from wavecom.store import Doc, log_entry, utcnow


def reached(i: int, *statuses: Status, tenant: str = "acme", at: datetime | None = None) -> Doc:
    """The SMS notification ``i`` of ``tenant``, its timeline gone on through ``statuses``
    (each a step ``at`` or now), its status the last of them."""
    d = doc(i)
    at = at or utcnow()
    d["tenantId"] = tenant
    for n, status in enumerate(statuses, start=1):
        d["timeline"].append(log_entry(f"{d['_id']}:t{n}:o", status, f"now {status}", at))
    d["status"] = statuses[-1].value
    d["updatedAt"] = at
    return d


def endpoint(
    name: str,
    *,
    tenant: str = "acme",
    events: tuple[str, ...] = ALL_EVENTS,
    owed_from: datetime | None = None,
    url: str = "http://127.0.0.1:9/hooks",
    secrets: tuple[str, ...] = ("whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=",),
) -> Endpoint:
    """An enabled endpoint owed every change since ``owed_from`` (default: a minute ago)."""
    return Endpoint(
        id=name,
        tenant=tenant,
        url=url,
        events=frozenset(events),
        enabled=True,
        owed_from=owed_from or utcnow() - timedelta(minutes=1),
        secrets=secrets,
        revision=0,
    )
