"""``wavecom.providers.http``: what the HTTP drivers share, against a real local HTTP server.

A request that gets no answer (held past the account's timeout, refused) is a transient
error naming the account; a redirect is never followed (it would be a second, unsigned send);
the pooled client carries the account's base URL and credentials; a whole send is bounded by
:func:`deadline`; a non-JSON answer reads as an empty body; Retry-After is seconds or a date.
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
from aiohttp import web

from tests.support.servers import closed_port, serving
from wavecom.core.errors import SendDeferred, TransientProviderError
from wavecom.providers.http import (
    deadline,
    json_body,
    pooled_client,
    post,
    retry_after_s,
    transport_error,
)


@dataclass
class Api:
    """A provider's HTTP API: records each request, holds ``/slow`` until ``release`` is set."""

    base_url: str = ""
    seen: list[tuple[str, str, bytes]] = field(default_factory=list)  # path, Authorization, body
    release: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    state = Api()

    async def record(request: web.Request) -> None:
        state.seen.append(
            (request.path, request.headers.get("Authorization", ""), await request.read())
        )

    async def ok(request: web.Request) -> web.Response:
        await record(request)
        return web.json_response({"sid": "SM1"})

    async def slow(request: web.Request) -> web.Response:
        await record(request)
        await state.release.wait()
        return web.json_response({})

    async def moved(request: web.Request) -> web.Response:
        await record(request)
        return web.Response(status=307, headers={"Location": "/elsewhere"})

    app = web.Application()
    for path, handler in {"/ok": ok, "/slow": slow, "/moved": moved, "/elsewhere": ok}.items():
        app.router.add_post(path, handler)
    async with serving(app) as base_url:
        state.base_url = base_url
        yield state
        state.release.set()  # a held answer is let go so that the server can close


async def test_the_pooled_client_posts_to_the_accounts_base_url_with_its_credentials(
    api: Api,
) -> None:
    async with pooled_client(5.0, base_url=api.base_url, auth=("AC1", "secret")) as client:
        answer = await post(client, "bank-sms", "/ok", data={"To": "+2348012345678"})
    assert answer.status_code == 200
    assert json_body(answer) == {"sid": "SM1"}
    (path, authorization, body) = api.seen[0]
    assert path == "/ok"
    assert authorization == "Basic " + base64.b64encode(b"AC1:secret").decode()
    assert body == b"To=%2B2348012345678"


async def test_a_redirect_is_answered_not_followed(api: Api) -> None:
    async with pooled_client(5.0, base_url=api.base_url) as client:
        answer = await post(client, "hook", "/moved", content=b"{}")
    assert answer.status_code == 307
    assert [path for path, _, _ in api.seen] == ["/moved"]  # /elsewhere never got the send


async def test_an_answer_held_past_the_timeout_is_transient_and_names_the_account(
    api: Api,
) -> None:
    async with pooled_client(0.5, base_url=api.base_url) as client:
        with pytest.raises(TransientProviderError) as raised:
            await post(client, "bank-sms", "/slow", content=b"{}")
    # a read timeout, or on a very busy machine a connect one: either is the same error
    assert re.fullmatch(
        r"bank-sms: timed out \((Read|Connect|Write|Pool)Timeout\)", str(raised.value)
    )
    assert raised.value.provider == "bank-sms"
    assert not isinstance(raised.value, SendDeferred)  # the account's breaker counts it
    assert isinstance(raised.value.__cause__, httpx.TimeoutException)


async def test_a_refused_connection_is_transient_and_names_the_account() -> None:
    async with pooled_client(5.0) as client:
        with pytest.raises(TransientProviderError) as raised:
            await post(client, "bank-push", f"http://127.0.0.1:{closed_port()}/send")
    assert str(raised.value).startswith("bank-push: ConnectError")
    assert raised.value.provider == "bank-push"
    assert isinstance(raised.value.__cause__, httpx.ConnectError)


def test_an_error_without_a_message_is_named_by_its_type() -> None:
    error = transport_error("hook", httpx.RemoteProtocolError(""))
    assert str(error) == "hook: RemoteProtocolError"
    assert str(transport_error("hook", httpx.PoolTimeout("x"))) == "hook: timed out (PoolTimeout)"


async def test_the_deadline_bounds_a_whole_send_and_leaves_a_quick_one_alone() -> None:
    with pytest.raises(TransientProviderError) as raised:
        async with deadline("bank-push", 0.05):
            await asyncio.Event().wait()  # a token refresh that never answers
    assert str(raised.value) == "bank-push: timed out after 0.05s"
    assert raised.value.provider == "bank-push"
    async with deadline("bank-push", 30.0):
        done = True
    assert done


def test_a_body_that_is_not_a_json_object_reads_as_empty() -> None:
    def answer(content: bytes) -> httpx.Response:
        return httpx.Response(502, content=content)

    assert json_body(answer(b'{"code": 21211}')) == {"code": 21211}
    assert json_body(answer(b"<html>Bad Gateway</html>")) == {}
    assert json_body(answer(b"[1, 2]")) == {}
    assert json_body(answer(b"")) == {}


def test_retry_after_is_seconds_or_an_http_date() -> None:
    now = 1_800_000_000.0
    assert retry_after_s({"retry-after": "120"}, now=now) == 120.0
    assert retry_after_s({"retry-after": "-5"}, now=now) == 0.0
    assert (
        retry_after_s({"retry-after": email.utils.formatdate(now + 90, usegmt=True)}, now=now)
        == 90.0
    )
    assert (
        retry_after_s({"retry-after": email.utils.formatdate(now - 90, usegmt=True)}, now=now)
        == 0.0
    )
    assert retry_after_s({"retry-after": "soon"}, now=now) is None
    assert retry_after_s({"retry-after": "inf"}, now=now) is None
    assert retry_after_s({}, now=now) is None
