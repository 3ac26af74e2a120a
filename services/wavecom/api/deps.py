"""Dependencies the routes declare: the store, the intake, the settings (callers: auth.py).

Each is ``async def``: FastAPI runs a plain ``def`` dependency in its thread pool, a thread
hop per dependency per request that cost a third of the API's time under load (#16)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from wavecom.api.auth import Auth
from wavecom.api.intake import Intake
from wavecom.api.shedding import LoadShedder
from wavecom.core.settings import Settings
from wavecom.store import Store


async def _store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


async def _intake(request: Request) -> Intake:
    intake: Intake = request.app.state.intake
    return intake


async def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def _auth(request: Request) -> Auth:
    auth: Auth = request.app.state.auth
    return auth


async def _shedder(request: Request) -> LoadShedder:
    shedder: LoadShedder = request.app.state.shedder
    return shedder


StoreDep = Annotated[Store, Depends(_store)]
IntakeDep = Annotated[Intake, Depends(_intake)]
SettingsDep = Annotated[Settings, Depends(_settings)]
ShedderDep = Annotated[LoadShedder, Depends(_shedder)]
AuthDep = Annotated[Auth, Depends(_auth)]

# pagination of every list endpoint (seed 003: limit at most 100)
PageParam = Annotated[int, Query(ge=1, le=100_000, description="1-based page number")]
LimitParam = Annotated[int, Query(ge=1, le=100, description="items per page, at most 100")]
