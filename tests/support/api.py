"""Helpers the API tests share: the error envelope's check."""

from __future__ import annotations

import httpx


def assert_error(r: httpx.Response, status: int, code: str, field: str | None = None) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    if field is not None:
        fields = [d["field"] for d in body["error"]["details"]]
        assert field in fields, fields
