"""``wavecom.api.deps``: what each dependency the routes declare resolves to, or refuses.

Each ``*Dep`` resolves to the very object the running application's lifespan put on
``app.state`` (the real store, intake, shedder, auth and settings of this test's stack); the
page and limit parameters take 1..100,000 and 1..100 and refuse anything else with a 400 naming
the parameter; a state the application never set is a 500, not a silent None."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from tests.support.api import assert_error
from wavecom.api import deps, errors

NAMES = ("store", "intake", "settings", "shedder", "auth")


@pytest.fixture
async def probe(client: httpx.AsyncClient) -> AsyncIterator[tuple[httpx.AsyncClient, FastAPI]]:
    """An application whose state is the running API's, with routes that show what the
    dependencies resolve to."""
    api: FastAPI = client.app  # type: ignore[attr-defined]
    app = FastAPI()
    errors.install(app)
    for name in NAMES:
        setattr(app.state, name, getattr(api.state, name))

    @app.get("/resolved")
    async def resolved(
        store: deps.StoreDep,
        intake: deps.IntakeDep,
        settings: deps.SettingsDep,
        shedder: deps.ShedderDep,
        auth: deps.AuthDep,
    ) -> dict[str, bool]:
        got = {"store": store, "intake": intake, "settings": settings}
        got |= {"shedder": shedder, "auth": auth}
        return {name: got[name] is getattr(api.state, name) for name in NAMES}

    @app.get("/page")
    async def page(page: deps.PageParam = 1, limit: deps.LimitParam = 20) -> dict[str, int]:
        return {"page": page, "limit": limit}

    @app.get("/unset")
    async def unset(value: Annotated[object, Depends(deps.app_state("never_set"))]) -> None:
        return None

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    ) as http:
        yield http, api


async def test_each_dependency_is_the_running_applications_object(
    probe: tuple[httpx.AsyncClient, FastAPI],
) -> None:
    http, _ = probe
    r = await http.get("/resolved")
    assert r.status_code == 200, r.text
    assert r.json() == dict.fromkeys(NAMES, True)


async def test_the_page_and_limit_within_bounds_are_taken(
    probe: tuple[httpx.AsyncClient, FastAPI],
) -> None:
    http, _ = probe
    assert (await http.get("/page")).json() == {"page": 1, "limit": 20}
    r = await http.get("/page", params={"page": 100_000, "limit": 100})
    assert r.json() == {"page": 100_000, "limit": 100}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"page": 0}, "page"),
        ({"page": 100_001}, "page"),
        ({"page": "two"}, "page"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
    ],
)
async def test_a_page_or_limit_out_of_bounds_is_refused(
    probe: tuple[httpx.AsyncClient, FastAPI], params: dict[str, int | str], field: str
) -> None:
    http, _ = probe
    assert_error(await http.get("/page", params=params), 400, "VALIDATION_ERROR", field)


async def test_a_state_never_set_is_an_error_not_none(
    probe: tuple[httpx.AsyncClient, FastAPI],
) -> None:
    http, _ = probe
    assert_error(await http.get("/unset"), 500, "INTERNAL_ERROR")
