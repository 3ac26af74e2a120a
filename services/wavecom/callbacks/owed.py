"""Which callbacks a notification's timeline owes which endpoints, as records to store.

Both sources of changes go through here: the live status events (the fast path) and the
repair scan (the backstop for an event that was lost). Records are keyed by endpoint and
webhook-id, so offering one step twice stores it once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from wavecom.callbacks.endpoints import Endpoint
from wavecom.callbacks.payload import body, steps, webhook_id
from wavecom.store import Doc
from wavecom.store.callbacks import PENDING


def records_for(doc: Doc, endpoints: Sequence[Endpoint], now: datetime) -> list[Doc]:
    """The callback records ``doc``'s timeline owes ``endpoints`` (its tenant's, enabled).

    A step older than an endpoint (or than its last enabling) is not owed to it: registering
    or enabling an endpoint does not replay the tenant's history."""
    records: list[Doc] = []
    notification_id = str(doc["_id"])
    for event, sequence, entry in steps(doc):
        wanted = [e for e in endpoints if event in e.events and entry["timestamp"] >= e.owed_from]
        if not wanted:
            continue
        msg_id = webhook_id(notification_id, entry["_id"])
        content = body(doc, event, sequence, entry)
        for endpoint in wanted:
            records.append(
                {
                    "_id": f"{endpoint.id}:{msg_id}",
                    "endpointId": endpoint.id,
                    "tenantId": doc["tenantId"],
                    "notificationId": notification_id,
                    "webhookId": msg_id,
                    "type": event,
                    "status": entry["status"],
                    "sequence": sequence,
                    "stepId": entry["_id"],
                    "stepAt": entry["timestamp"],
                    "body": content,
                    "state": PENDING,
                    "createdAt": now,
                    "windowFrom": now,
                    "dueAt": now,
                    "updatedAt": now,
                    "attempts": [],
                    "attemptCount": 0,
                }
            )
    return records


def owed(docs: Iterable[Doc], by_tenant: dict[str, list[Endpoint]], now: datetime) -> list[Doc]:
    """Every record the documents owe the enabled endpoints of their tenants."""
    records: list[Doc] = []
    for doc in docs:
        endpoints = by_tenant.get(doc["tenantId"])
        if endpoints:
            records.extend(records_for(doc, endpoints, now))
    return records
