"""Dependencies the routes declare: the store, the intake, the settings (callers: auth.py).

Each is ``async def``: FastAPI runs a plain ``def`` dependency in its thread pool, a thread
hop per dependency per request that cost a third of the API's time under load (#16)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Query, Request

from wavecom.api.auth import Auth
from wavecom.api.intake import Intake
from wavecom.api.shedding import LoadShedder
from wavecom.core.settings import Settings
from wavecom.store import Store


def app_state(name: str) -> Callable[[Request], Awaitable[Any]]:
    """A dependency answering the application's ``app.state.<name>`` (set up by app.py)."""

    async def dependency(request: Request) -> Any:
        return getattr(request.app.state, name)

    return dependency


StoreDep = Annotated[Store, Depends(app_state("store"))]
IntakeDep = Annotated[Intake, Depends(app_state("intake"))]
SettingsDep = Annotated[Settings, Depends(app_state("settings"))]
ShedderDep = Annotated[LoadShedder, Depends(app_state("shedder"))]
AuthDep = Annotated[Auth, Depends(app_state("auth"))]

# pagination of every list endpoint (seed 003: limit at most 100)
PageParam = Annotated[int, Query(ge=1, le=100_000, description="1-based page number")]
LimitParam = Annotated[int, Query(ge=1, le=100, description="items per page, at most 100")]
