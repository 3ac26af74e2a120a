"""Every error the API returns, in one envelope: ``{"success": false, "error": {...}}``."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from aiormq.exceptions import AMQPError, ChannelInvalidStateError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from pymongo.errors import ConnectionFailure
from starlette.exceptions import HTTPException as StarletteHTTPException

from wavecom.api.responses import OrjsonResponse
from wavecom.core.constants import Channel
from wavecom.core.errors import DependencyUnavailable, Overloaded

log = logging.getLogger("wavecom.api")

# a dependency's own exceptions that reached no route's handling (a channel closed while the
# broker restarts, a database that stopped answering): the same 503 as DependencyUnavailable,
# never a bare 500
DEPENDENCY_ERRORS: tuple[type[Exception], ...] = (
    DependencyUnavailable,
    ConnectionFailure,  # PyMongo: AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError
    AMQPError,  # aiormq/aio-pika: a closed connection or channel, a refused operation
    ChannelInvalidStateError,
    ConnectionError,
)

_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    409: "CONFLICT",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
    429: "TOO_MANY_REQUESTS",
    503: "SERVICE_UNAVAILABLE",
}


class ApiError(Exception):
    """Raised by routes for an error answer with a code, a message and field details."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Sequence[dict[str, Any]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details)
        self.headers = headers


def error_body(code: str, message: str, details: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    return {"code": code, "message": message, "details": list(details)}


def envelope(
    status: int,
    code: str,
    message: str,
    details: Sequence[dict[str, Any]] = (),
    headers: Mapping[str, str] | None = None,
) -> OrjsonResponse:
    return OrjsonResponse(
        {"success": False, "error": error_body(code, message, details)},
        status_code=status,
        headers=headers,
    )


_CHANNELS = frozenset(c.value for c in Channel)
_ONE_OF_CHANNELS = "must be one of " + ", ".join(c.value for c in Channel)


def field_details(errors: Sequence[Any], *, skip: int = 0) -> list[dict[str, Any]]:
    """Pydantic errors as ``[{"field": "recipient", "message": "..."}]``.

    ``skip`` drops leading location parts (``body``, a batch index).
    """
    details = []
    for e in errors:
        loc = [str(p) for p in e.get("loc", ())][skip:]
        if loc and loc[0] in _CHANNELS:
            loc = loc[1:]  # the create body is a union told apart by `type`: not a field
        msg = str(e.get("msg", "invalid"))
        msg = msg.removeprefix("Value error, ")
        kind = e.get("type")
        if kind == "extra_forbidden":
            msg = "is not a known field"
        elif kind == "missing":
            msg = "is required"
        elif kind in ("union_tag_invalid", "union_tag_not_found"):
            loc = [*loc, "type"]
            msg = "is required" if kind == "union_tag_not_found" else _ONE_OF_CHANNELS
        details.append({"field": ".".join(loc) or None, "message": msg})
    return details


def validation_error(errors: Sequence[Any], *, skip: int = 0) -> ApiError:
    details = field_details(errors, skip=skip)
    summary = "; ".join(
        f"{d['field']}: {d['message']}" if d["field"] else d["message"] for d in details[:5]
    )
    return ApiError(400, "VALIDATION_ERROR", f"Invalid request: {summary}", details)


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the envelope."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> OrjsonResponse:
        return envelope(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(request: Request, exc: RequestValidationError) -> OrjsonResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return envelope(400, "INVALID_JSON", "Request body is not valid JSON")
        if [tuple(e.get("loc", ())) for e in errors] == [("path", "notification_id")]:
            static = _methods(app, request.url.path, static_only=True)
            if static:  # e.g. GET /api/notifications/batch: that path is POST only
                return envelope(
                    405, "METHOD_NOT_ALLOWED", "Method Not Allowed", headers={"Allow": static}
                )
            return envelope(
                400,
                "INVALID_ID",
                "Notification id must be 24 hexadecimal characters",
                [{"field": "id", "message": "must be 24 hexadecimal characters"}],
            )
        err = validation_error(errors, skip=1)
        return envelope(err.status, err.code, err.message, err.details)

    @app.exception_handler(ValidationError)
    async def _model_invalid(_: Request, exc: ValidationError) -> OrjsonResponse:
        err = validation_error(exc.errors())
        return envelope(err.status, err.code, err.message, err.details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> OrjsonResponse:
        code = _HTTP_CODES.get(exc.status_code, "HTTP_ERROR")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ").title()
        headers = exc.headers
        if exc.status_code == 405:  # Allow: every method of the path, not of one route
            headers = {**(headers or {}), "Allow": _methods(app, request.url.path)}
        return envelope(exc.status_code, code, message, headers=headers)

    @app.exception_handler(Overloaded)
    async def _overloaded(_: Request, exc: Overloaded) -> OrjsonResponse:
        return envelope(
            503,
            "OVERLOADED",
            f"{exc}; nothing of this request was stored. Retry after {exc.retry_after_s}s.",
            headers={"Retry-After": str(exc.retry_after_s)},
        )

    async def _unavailable(_: Request, exc: Exception) -> OrjsonResponse:
        log.warning("dependency unavailable: %s: %s", type(exc).__name__, exc)
        return envelope(
            503,
            "SERVICE_UNAVAILABLE",
            "A dependency (database or message broker) is unavailable; "
            "nothing was accepted. Retry later.",
            headers={"Retry-After": "5"},
        )

    for dependency_error in DEPENDENCY_ERRORS:
        app.add_exception_handler(dependency_error, _unavailable)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> OrjsonResponse:
        log.exception("unhandled error")
        return envelope(500, "INTERNAL_ERROR", "An unexpected error occurred")


def _methods(app: FastAPI, path: str, *, static_only: bool = False) -> str:
    """The methods the OpenAPI spec lists for ``path``, as an Allow header value: those of the
    path itself when it has no parameters (``/api/notifications/batch``), else those of every
    template it fits (``/api/notifications/{notification_id}``), unless ``static_only``."""
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    if path in paths:
        return ", ".join(sorted(m.upper() for m in paths[path]))
    if static_only:
        return ""
    methods: set[str] = set()
    for template, item in paths.items():
        if re.fullmatch(re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)), path):
            methods |= {m.upper() for m in item}
    return ", ".join(sorted(methods))
