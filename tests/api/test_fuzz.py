"""Schemathesis against the OpenAPI spec, bounded: no 5xx, every answer as documented.

The API runs as a real process on the real stack (its own vhost and database), signed in with
an every-scope key whose limit is out of the way; each operation gets a fixed number of
generated requests (FUZZ_EXAMPLES, 25 by default) from a fixed seed, so the run is bounded and
repeatable. Every check of schemathesis runs except "schema-valid input is accepted": a few rules
(a recipient's format per type, a schedule in the future) are stricter than a schema can say.
The live stream is left out: it answers forever by design (tests/api/routes/test_events.py
covers it).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from pymongo import MongoClient
from schemathesis.checks import positive_data_acceptance

from tests.conftest import AMQP_HOST, GUEST, MANAGEMENT_URL, MONGODB_URL, new_key
from tests.test_e2e import ROOT, _free_port
from wavecom.api.app import create_app
from wavecom.settings import Settings
from wavecom.store import Store
from wavecom.tenants import RateLimit, Tenants

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "25"))


async def _prepare(s: Settings) -> str:
    store = Store.connect(s.mongodb_url, s.mongodb_database)
    try:
        await Tenants(store, RateLimit(1, 1)).set_limit("acme", RateLimit(100_000, 100_000))
    finally:
        await store.close()
    return await new_key(s)


@pytest.fixture(scope="module")
def fuzzed_api() -> Iterator[tuple[str, str]]:
    vhost, database = f"wavecom-fuzz-{uuid.uuid4().hex[:8]}", f"wavecom_fuzz_{uuid.uuid4().hex[:8]}"
    with httpx.Client(base_url=MANAGEMENT_URL, auth=GUEST, timeout=10) as m:
        m.put(f"/api/vhosts/{quote(vhost, safe='')}").raise_for_status()
        m.put(
            f"/api/permissions/{quote(vhost, safe='')}/guest",
            json={"configure": ".*", "write": ".*", "read": ".*"},
        ).raise_for_status()
    s = Settings(
        amqp_url=f"amqp://guest:guest@{AMQP_HOST}/{quote(vhost, safe='')}",
        mongodb_url=MONGODB_URL,
        mongodb_database=database,
    )
    token = asyncio.run(_prepare(s))
    port = _free_port()
    env = {
        **os.environ,
        "AMQP_URL": s.amqp_url,
        "MONGODB_URL": s.mongodb_url,
        "MONGODB_DATABASE": database,
        "API_PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    api = subprocess.Popen(
        [sys.executable, "-m", "wavecom.api"], env=env, cwd=ROOT, stderr=subprocess.PIPE
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        assert api.poll() is None, api.stderr.read().decode()[-2000:] if api.stderr else ""
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the API did not start"
        time.sleep(0.2)  # polling interval of the deadline-bounded start-up wait
    try:
        yield url, token
    finally:
        api.terminate()
        api.wait(30)
        with httpx.Client(base_url=MANAGEMENT_URL, auth=GUEST, timeout=10) as m:
            m.delete(f"/api/vhosts/{quote(vhost, safe='')}")
        client: MongoClient[dict[str, Any]] = MongoClient(MONGODB_URL)
        client.drop_database(database)
        client.close()


# the spec the API process serves (the same code builds it), one test per operation
schema = schemathesis.openapi.from_dict(create_app(Settings()).openapi()).exclude(
    path="/api/events"
)


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_and_every_answer_as_documented(
    case: Any, fuzzed_api: tuple[str, str]
) -> None:
    url, token = fuzzed_api
    case.call_and_validate(
        base_url=url,
        headers={"Authorization": f"Bearer {token}"},
        # rules the schema cannot state (a recipient's format depends on `type`, a schedule
        # must lie in the future) answer 400 to schema-valid input by design
        excluded_checks=[positive_data_acceptance],
    )
