"""``wavecom.api.direct``: a route whose arguments a binder gives answers every request as
FastAPI's dependency solving answers it.

One endpoint is served twice, by an ``APIRoute`` (FastAPI solves its dependencies) and by a
``DirectRoute`` (its binder gives them), in an application with the API's error envelope; each
request below, good or bad in every way the body and the headers can be, gets the same status,
body and headers from both, and both are the same operation in the OpenAPI document. The
order is FastAPI's: malformed JSON before the caller, the caller before the body's fields."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Header, Request
from pydantic import BaseModel, Field

from wavecom.api import errors
from wavecom.api.direct import DirectRoute, binds
from wavecom.api.errors import ApiError
from wavecom.api.responses import OrjsonResponse


class Item(BaseModel):
    name: str = Field(min_length=1)
    count: int = Field(ge=1)


async def who_calls(request: Request) -> str:
    caller = request.headers.get("x-caller")
    if not caller:
        raise ApiError(401, "UNAUTHORIZED", "say who you are", headers={"WWW-Authenticate": "X"})
    return caller


async def bind(request: Request) -> dict[str, Any]:
    return {"request": request, "caller": await who_calls(request)}


@binds(bind)
async def create(
    body: Item,
    request: Request,
    caller: Annotated[str, Depends(who_calls)],
    key: Annotated[str | None, Header(alias="Idempotency-Key", max_length=5)] = None,
) -> OrjsonResponse:
    answer = {"caller": caller, "body": body.model_dump(), "key": key, "state": request.method}
    return OrjsonResponse({"success": True, "data": answer}, status_code=201)


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    errors.install(app)
    app.router.add_api_route("/solved", create, methods=["POST"], status_code=201)
    app.router.add_api_route(
        "/direct", create, methods=["POST"], status_code=201, route_class_override=DirectRoute
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    ) as client:
        yield client


JSON = {"content-type": "application/json"}
ME = {"x-caller": "acme"}
REQUESTS: dict[str, tuple[dict[str, str], bytes | None]] = {
    "good": (JSON | ME, b'{"name": "a", "count": 2}'),
    "good, with a key": (JSON | ME | {"idempotency-key": "k1"}, b'{"name": "a", "count": 2}'),
    "a JSON subtype": (
        {"content-type": "application/vnd.acme+json"} | ME,
        b'{"name": "a", "count": 2}',
    ),
    "JSON with a charset": (
        {"content-type": "application/json; charset=utf-8"} | ME,
        b'{"name": "a", "count": 2}',
    ),
    "JSON in capitals": ({"content-type": "Application/JSON"} | ME, b'{"name": "a", "count": 2}'),
    "JSON's near miss": ({"content-type": "application/jsonx"} | ME, b'{"name": "a", "count": 2}'),
    "no body": (JSON | ME, None),
    "an empty object": (JSON | ME, b"{}"),
    "wrong fields": (JSON | ME, b'{"name": "", "count": 0, "extra": 1}'),
    "not an object": (JSON | ME, b"[1, 2]"),
    "null": (JSON | ME, b"null"),
    "malformed JSON": (JSON | ME, b'{"name": "a",'),
    "malformed JSON, no caller": (JSON, b'{"name": "a",'),
    "not UTF-8": (JSON | ME, b'\xff\xfe{"name": "\xe9"}'),
    "nested too deep": (JSON | ME, b"[" * 100_000 + b"]" * 100_000),
    "no caller": (JSON, b'{"name": "a", "count": 2}'),
    "no caller, wrong fields": (JSON, b'{"name": ""}'),
    "text/plain": ({"content-type": "text/plain"} | ME, b'{"name": "a", "count": 2}'),
    "no content type": (ME, b'{"name": "a", "count": 2}'),
    "a key too long": (JSON | ME | {"idempotency-key": "k" * 6}, b'{"name": "a", "count": 2}'),
    "a key too long and wrong fields": (
        JSON | ME | {"idempotency-key": "k" * 6},
        b'{"count": "x"}',
    ),
}


@pytest.mark.parametrize("case", list(REQUESTS))
async def test_each_request_gets_the_answer_dependency_solving_gives(
    http: httpx.AsyncClient, case: str
) -> None:
    headers, body = REQUESTS[case]
    solved = await http.post("/solved", headers=headers, content=body)
    direct = await http.post("/direct", headers=headers, content=body)
    assert (direct.status_code, direct.json()) == (solved.status_code, solved.json())
    for name in ("content-type", "www-authenticate"):
        assert direct.headers.get(name) == solved.headers.get(name)
    assert solved.status_code in {201, 400, 401, 422}, solved.text


async def test_the_order_is_fastapis(http: httpx.AsyncClient) -> None:
    """Malformed JSON is refused before the caller is asked; the caller before the fields."""
    headers, body = REQUESTS["malformed JSON, no caller"]
    r = await http.post("/direct", headers=headers, content=body)
    assert r.status_code != 401
    headers, body = REQUESTS["no caller, wrong fields"]
    assert (await http.post("/direct", headers=headers, content=body)).status_code == 401
    headers, body = REQUESTS["good"]
    r = await http.post("/direct", headers=headers, content=body)
    assert r.status_code == 201
    assert r.json()["data"] == {
        "caller": "acme",
        "body": {"name": "a", "count": 2},
        "key": None,
        "state": "POST",
    }


async def test_both_are_the_same_operation_in_the_openapi_document(
    http: httpx.AsyncClient,
) -> None:
    spec = (await http.get("/openapi.json")).json()
    solved, direct = spec["paths"]["/solved"]["post"], spec["paths"]["/direct"]["post"]
    for operation in (solved, direct):
        del operation["operationId"]
    assert direct == solved
    assert [p["name"] for p in direct["parameters"]] == ["Idempotency-Key"]
    assert "requestBody" in direct
