"""``wavecom.api.errors``: every failure answered in one envelope, with its status and code.

An application with only ``errors.install`` and routes that raise each kind of error: an
:class:`ApiError` keeps its status, code, details and headers; invalid input is a 400
``VALIDATION_ERROR`` naming each field (``INVALID_JSON``, ``INVALID_ID`` for a malformed body
and id); Starlette's 404 and 405 get their code, the 405 an ``Allow`` of every method of the
path; ``Overloaded`` is a 503 with its Retry-After; a dependency's own exceptions are the 503
``SERVICE_UNAVAILABLE``; anything else a 500 that says nothing of it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiormq.exceptions import ChannelInvalidStateError, ConnectionChannelError
from fastapi import FastAPI
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
from pymongo.errors import AutoReconnect, ServerSelectionTimeoutError

from tests.support.api import assert_error
from wavecom.api import errors
from wavecom.api.errors import ApiError, field_details, validation_error
from wavecom.api.schemas import NotificationCreate
from wavecom.core.errors import BrokerUnavailable, Overloaded

NID = "0123456789abcdef01234567"


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    count: int


DEPENDENCY_FAILURES: dict[str, Exception] = {
    "broker": BrokerUnavailable("no broker"),
    "mongo-reconnect": AutoReconnect("gone"),
    "mongo-selection": ServerSelectionTimeoutError("no server"),
    "amqp-channel": ConnectionChannelError(503, "channel closed"),
    "channel-state": ChannelInvalidStateError("closed"),
    "socket": ConnectionResetError("reset"),
}


def application() -> FastAPI:
    app = FastAPI()
    errors.install(app)

    @app.get("/api/things/{notification_id}")
    async def thing(notification_id: str) -> dict[str, str]:
        raise ApiError(
            409,
            "REFERENCE_CONFLICT",
            "taken",
            [{"field": "reference", "message": "taken"}],
            headers={"X-First": notification_id},
        )

    @app.delete("/api/things/{notification_id}")
    async def drop(notification_id: str) -> None:
        return None

    @app.get("/api/ids/{notification_id}")
    async def by_id(notification_id: int) -> dict[str, int]:
        return {"id": notification_id}

    @app.post("/api/ids/batch")
    async def batch() -> dict[str, str]:
        return {}

    @app.post("/api/body")
    async def body(item: Body) -> dict[str, str]:
        return {}

    @app.get("/api/model")
    async def model() -> None:
        Body.model_validate({"name": "x"})

    @app.get("/api/overloaded")
    async def overloaded() -> None:
        raise Overloaded("too much in flight", retry_after_s=7)

    @app.get("/api/dependency/{which}")
    async def dependency(which: str) -> None:
        raise DEPENDENCY_FAILURES[which]

    @app.get("/api/bug")
    async def bug() -> None:
        raise RuntimeError("secret internals")

    return app


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=application(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


async def test_an_api_error_keeps_its_status_code_details_and_headers(
    http: httpx.AsyncClient,
) -> None:
    r = await http.get(f"/api/things/{NID}")
    assert r.status_code == 409
    assert r.json() == {
        "success": False,
        "error": {
            "code": "REFERENCE_CONFLICT",
            "message": "taken",
            "details": [{"field": "reference", "message": "taken"}],
        },
    }
    assert r.headers["x-first"] == NID


async def test_an_invalid_body_names_each_field(http: httpx.AsyncClient) -> None:
    r = await http.post("/api/body", json={"count": "many", "extra": 1})
    assert_error(r, 400, "VALIDATION_ERROR")
    details = {d["field"]: d["message"] for d in r.json()["error"]["details"]}
    assert details["name"] == "is required"
    assert details["extra"] == "is not a known field"
    assert "count" in details
    assert r.json()["error"]["message"].startswith("Invalid request: ")


async def test_a_body_that_is_not_json_is_invalid_json(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/api/body", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_error(r, 400, "INVALID_JSON")


async def test_a_malformed_id_is_invalid_id(http: httpx.AsyncClient) -> None:
    r = await http.get("/api/ids/not-a-number")
    assert_error(r, 400, "INVALID_ID", "id")


async def test_a_static_path_asked_with_another_method_is_a_405(http: httpx.AsyncClient) -> None:
    r = await http.get("/api/ids/batch")
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert r.headers["allow"] == "POST"


async def test_a_validation_error_inside_a_route_is_a_400(http: httpx.AsyncClient) -> None:
    r = await http.get("/api/model")
    assert_error(r, 400, "VALIDATION_ERROR", "count")


async def test_unknown_paths_and_methods(http: httpx.AsyncClient) -> None:
    assert_error(await http.get("/api/nothing"), 404, "NOT_FOUND")
    r = await http.post(f"/api/things/{NID}")
    assert_error(r, 405, "METHOD_NOT_ALLOWED")
    assert r.headers["allow"] == "DELETE, GET"  # every method of the path, not of one route


async def test_overloaded_is_a_503_with_its_retry_after(http: httpx.AsyncClient) -> None:
    r = await http.get("/api/overloaded")
    assert_error(r, 503, "OVERLOADED")
    assert r.headers["retry-after"] == "7"
    assert "too much in flight" in r.json()["error"]["message"]


@pytest.mark.parametrize("which", sorted(DEPENDENCY_FAILURES))
async def test_a_dependency_failure_is_a_503_never_a_500(
    http: httpx.AsyncClient, which: str
) -> None:
    r = await http.get(f"/api/dependency/{which}")
    assert_error(r, 503, "SERVICE_UNAVAILABLE")
    assert r.headers["retry-after"] == "5"


async def test_anything_else_is_a_500_that_says_nothing_of_it(http: httpx.AsyncClient) -> None:
    r = await http.get("/api/bug")
    assert_error(r, 500, "INTERNAL_ERROR")
    assert "secret" not in r.text


def errors_of(body: dict[str, Any]) -> list[Any]:
    with pytest.raises(ValidationError) as caught:
        TypeAdapter(NotificationCreate).validate_python(body)
    return list(caught.value.errors())


def test_the_channel_of_the_union_is_not_a_field() -> None:
    details = field_details(errors_of({"type": "SMS", "recipient": "0801", "message": "hi"}))
    assert details == [
        {
            "field": "recipient",
            "message": "must be an E.164 phone number (e.g. +2348012345678) for SMS",
        }
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"recipient": "+2348012345678", "message": "hi"}, "is required"),
        ({"type": "FAX", "recipient": "+2348012345678", "message": "hi"}, "must be one of"),
    ],
)
def test_a_missing_or_unknown_type_is_said_of_type(body: dict[str, Any], message: str) -> None:
    [detail] = field_details(errors_of(body))
    assert detail["field"] == "type"
    assert detail["message"].startswith(message)


def test_the_summary_names_at_most_five_fields() -> None:
    raw = [{"loc": ("body", f"f{i}"), "msg": "bad", "type": "value_error"} for i in range(7)]
    err = validation_error(raw, skip=1)
    assert (err.status, err.code) == (400, "VALIDATION_ERROR")
    assert len(err.details) == 7
    assert err.message == "Invalid request: " + "; ".join(f"f{i}: bad" for i in range(5))
