"""Traces across real processes: the API and a worker export OTLP/HTTP to a receiver this test
runs, and one notification's trace runs from the HTTP request through the publish, each
attempt's consume, provider sends and outcome write, the retry through a delay queue included."""

from __future__ import annotations

import orjson
import pytest

from tests.support.notifications import email
from tests.support.system import System
from tests.support.wait import wait_for
from tests.telemetry.otlp import Receiver
from tests.telemetry.spans import Span, ancestors, in_trace, named, one, tree
from wavecom.core.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


async def test_one_trace_from_the_request_to_the_outcome_across_processes(
    settings: Settings,
) -> None:
    async with Receiver() as receiver, System(settings) as system:
        system.env.update(
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
                "OTEL_TRACES_SAMPLER": "always_on",
                "OTEL_BSP_SCHEDULE_DELAY": "200",
                "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=test",
                "MAX_RETRIES": "1",  # the flaky recipient: one attempt, one retry, then FAILED
                "LOG_FORMAT": "json",
            }
        )
        await system.spawn_worker("email")
        await system.spawn_api()
        async with system.client(timeout=30) as http:
            sent = await http.post("/api/notifications", json=email(1))
            flaky = await http.post("/api/notifications", json=email(2, domain="flaky.example"))
            assert sent.status_code == flaky.status_code == 201, flaky.text
            ids = [sent.json()["data"]["_id"], flaky.json()["data"]["_id"]]

            async def final() -> list[dict[str, object]] | None:
                found = [(await http.get(f"/api/notifications/{i}")).json()["data"] for i in ids]
                done = [f["notification"]["status"] for f in found] == ["SENT", "FAILED"]
                return found if done else None

            views = await wait_for(final, within=60, what="one SENT, one FAILED")

        traces = [str(v["notification"]["traceId"]) for v in views]  # type: ignore[index]

        async def exported() -> list[Span] | None:
            spans = receiver.spans
            consumed = [
                s
                for t in traces
                for s in named(in_trace(spans, t), "process wavecom.email.standard")
            ]
            return list(spans) if len(consumed) == 3 else None  # 1 + (1 and its retry)

        spans = await wait_for(exported, within=60, what="both traces' consumer spans")

    _sent_in_one_trace(in_trace(spans, traces[0]))
    _retried_in_the_same_trace(in_trace(spans, traces[1]))
    _database_commands_under_their_groups(spans, in_trace(spans, traces[0]))
    # the timeline of each names its trace
    for view, trace_id in zip(views, traces, strict=True):
        logs = view["logs"]
        assert isinstance(logs, list)
        assert {e.get("traceId") for e in logs} == {trace_id}
    # the resource: the service names by default, OTEL_RESOURCE_ATTRIBUTES added
    worker = next(r for r in receiver.resources if r["service.name"] == "wavecom-worker")
    assert worker["wavecom.channel"] == "email"
    assert worker["deployment.environment.name"] == "test"
    # LOG_FORMAT=json: every line of the worker's log is a JSON object
    lines = (system.log_dir / "email.log").read_bytes().splitlines()
    assert lines
    assert all(orjson.loads(line)["process"] == "worker-email" for line in lines)


def _sent_in_one_trace(mine: list[Span]) -> None:
    """request → intake → publish (the API) → consume → send → outcome (the worker)"""
    outline = tree(mine)
    server = one(mine, "POST /api/notifications")
    assert (server.kind, server.service) == ("SERVER", "wavecom-api")
    publish = one(mine, "publish wavecom.work")
    assert (publish.kind, publish.service) == ("PRODUCER", "wavecom-api")
    assert ancestors(publish, mine) == ["intake.accept", "POST /api/notifications"], outline
    consumer = one(mine, "process wavecom.email.standard")
    assert (consumer.kind, consumer.service) == ("CONSUMER", "wavecom-worker")
    assert consumer.parent_id == publish.span_id, outline
    send = one(mine, "send mailgrid")
    assert send.parent_id == consumer.span_id
    assert send.attributes["wavecom.outcome"] == "sent"
    assert send.attributes["wavecom.attempt"] == 0
    assert send.attributes["wavecom.channel"] == "EMAIL"
    assert str(send.attributes["wavecom.provider.message_id"]).startswith("mailgrid_")
    assert one(mine, "outcome.write").parent_id == consumer.span_id


def _retried_in_the_same_trace(theirs: list[Span]) -> None:
    """The FAILED one: its retry went through a delay queue and stayed in the trace."""
    outline = tree(theirs)
    first, retry = named(theirs, "process wavecom.email.standard")
    delayed = one(theirs, "publish wavecom.delay")
    assert delayed.service == "wavecom-worker"
    assert delayed.parent_id == first.span_id, outline
    assert retry.parent_id == delayed.span_id, outline
    assert [s.attributes["wavecom.attempt"] for s in named(theirs, "send ")] == [0, 0, 1, 1]
    assert {s.attributes["wavecom.outcome"] for s in named(theirs, "send ")} == {"transient"}
    assert [s.attributes["wavecom.outcome"] for s in (first, retry)] == ["RETRYING", "FAILED"]


def _database_commands_under_their_groups(spans: list[Span], mine: list[Span]) -> None:
    """Each process's database commands: the API's under its group commit, the worker's under
    its batch and its outcome writes; the commit links to the request's intake span."""
    accept = one(mine, "intake.accept")
    commits = named(spans, "intake.commit")
    assert {(accept.trace_id, accept.span_id)} <= {link for c in commits for link in c.links}
    inserts = [s for s in named(spans, "insert notifications") if s.service == "wavecom-api"]
    assert inserts
    assert all(ancestors(s, spans)[:1] == ["intake.commit"] for s in inserts), tree(spans)
    updates = [s for s in named(spans, "update notifications") if s.service == "wavecom-worker"]
    parents = {ancestors(s, spans)[0] for s in updates if ancestors(s, spans)}
    assert {"process email batch", "outcomes.write"} <= parents
