"""Routes whose arguments are bound by one function instead of FastAPI's dependency solving.

FastAPI solves a route's dependency graph for every request. For the single create (issue
#25: the route a burst of single requests runs through) that was eight dependency calls, the
headers' and the body's parameters and their bookkeeping: in py-spy's samples of the API at
250 creates/s, ``solve_dependencies`` and the request handler around it took about a fifth of
the process's CPU, more than the route's own work. A :class:`DirectRoute` keeps what FastAPI
builds from the endpoint's signature, the OpenAPI operation and the validation of the body and
the headers (with FastAPI's own functions, so a bad request gets the same errors in the same
envelope), and gets the other arguments from the endpoint's binder (:func:`binds`): one
coroutine that reads the application's state and authenticates the caller. The order is
FastAPI's: the body is read (malformed JSON is refused first), then the caller is
authenticated and charged, then the headers and the body are validated.
"""

from __future__ import annotations

import email.message
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from fastapi import HTTPException, Request, Response
from fastapi.dependencies.utils import request_body_to_args, request_params_to_args
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic_core import PydanticUndefined

Binder = Callable[[Request], Awaitable[dict[str, Any]]]
F = TypeVar("F", bound=Callable[..., Awaitable[Response]])

_BINDERS: dict[Callable[..., Any], Binder] = {}


def binds(binder: Binder) -> Callable[[F], F]:
    """Decorate an endpoint served by a :class:`DirectRoute`: ``binder(request)`` returns
    every argument of it but the body and the header parameters."""

    def register(endpoint: F) -> F:
        _BINDERS[endpoint] = binder
        return endpoint

    return register


class DirectRoute(APIRoute):
    """An ``APIRoute`` whose request handler calls the endpoint's binder instead of solving
    its dependencies (see the module). Its endpoint returns a ``Response``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        endpoint = self.endpoint
        bind = _BINDERS[endpoint]
        body_field = self.body_field
        headers = self.dependant.header_params

        async def handler(request: Request) -> Response:
            body = await _json_body(request) if body_field is not None else PydanticUndefined
            values = await bind(request)
            errors: list[Any] = []
            if headers:
                found, wrong = request_params_to_args(headers, request.headers)
                values.update(found)
                errors += wrong
            if body_field is not None:
                found, wrong = await request_body_to_args([body_field], body, False)
                values.update(found)
                errors += wrong
            if errors:
                raise RequestValidationError(errors, body=body)
            response: Response = await endpoint(**values)
            return response

        return handler


async def _json_body(request: Request) -> Any:
    """The body as FastAPI reads it for a JSON body parameter: missing when empty, parsed
    when its content type is JSON (``application/json``, ``application/*+json``), else its
    bytes (which fail validation); malformed JSON is a validation error of its own, and a body
    that could not be read (the client went, or ``api.app.BodyLimit`` answered 413 and ended
    it) or decoded (not UTF-8) a 400 as FastAPI answers it."""
    try:
        raw = await request.body()
    except Exception as exc:
        raise HTTPException(400, "There was an error parsing the body") from exc
    if not raw:
        return PydanticUndefined
    content_type = request.headers.get("content-type")
    if not content_type:
        return raw
    if content_type != "application/json" and not _json_type(content_type):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", exc.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": exc.msg},
                }
            ],
            body=exc.doc,
        ) from exc
    except Exception as exc:  # not UTF-8, nested too deep: FastAPI's 400
        raise HTTPException(400, "There was an error parsing the body") from exc


def _json_type(content_type: str) -> bool:
    """Whether FastAPI reads a body of ``content_type`` as JSON (``application/json`` with
    parameters, ``application/*+json``), parsed as it parses it. The plain
    ``application/json`` of nearly every request skips this (the email package's parser is a
    per cent of the API's CPU)."""
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )
