"""``python -m wavecom.api`` as a real process: how long it keeps an idle client connection."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from tests.support.services import free_port
from tests.support.system import System
from tests.support.wait import wait_for
from wavecom.core.settings import Settings

REQUEST = b"GET /api/ready HTTP/1.1\r\nHost: api.test\r\nConnection: keep-alive\r\n\r\n"


async def _connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A kept-alive connection that has had one answer."""
    where = urlsplit(url)
    reader, writer = await asyncio.open_connection(where.hostname, where.port)
    await _ask(reader, writer)
    return reader, writer


async def _ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(REQUEST)
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    assert head.startswith(b"HTTP/1.1 200"), head
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    await asyncio.wait_for(reader.readexactly(length), 10)


async def test_an_idle_connection_is_kept_for_api_keep_alive_s(settings: Settings) -> None:
    """API_KEEP_ALIVE_S=6 closes an idle connection after about six seconds; the default (75 s,
    above a proxy's 60) still answers on one idle as long, past uvicorn's own 5 s, which would
    close a connection that a proxy in front still thinks it may reuse."""
    system = System(settings)
    try:
        short = await system.spawn_api("api-short", port=free_port(), API_KEEP_ALIVE_S="6")
        default = await system.spawn_api("api-default", port=free_port())
        short_reader, short_writer = await _connect(short)
        reader, writer = await _connect(default)

        async def closed() -> bool:
            try:
                return await asyncio.wait_for(short_reader.read(1), 0.5) == b""
            except TimeoutError:
                return False

        await wait_for(closed, within=15, what="the 6-s API to close its idle connection")
        # the default's connection was idle at least as long: it still answers
        await _ask(reader, writer)
        for w in (writer, short_writer):
            w.close()
    finally:
        await system.stop()
