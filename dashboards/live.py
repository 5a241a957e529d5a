"""Server-sent events: a stream that says 'update' whenever a home's (or a caseload's) data moves.

The page then fetches its server-rendered panel again; the stream itself stays small.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Hashable
from typing import Any

import anyio
from fastapi import Request
from fastapi.responses import StreamingResponse
from sqlalchemy import Connection

from dashboards.context import AppContext
from hub.persistence.web_live import fingerprint

__all__ = ["fingerprint", "sse_response"]


def _look(
    ctx: AppContext,
    home_ids: list[str],
    payload: Callable[[Connection], dict[str, Any]],
    last: tuple[Any, ...] | None,
    also: Callable[[Connection], Hashable] | None = None,
) -> tuple[tuple[Any, ...], dict[str, Any] | None]:
    """The current fingerprint, and the payload when it differs from the last one sent."""
    conn = ctx.db.connect()
    try:
        now = fingerprint(conn, home_ids)
        if also is not None:
            now = (*now, also(conn))
        return now, (payload(conn) if now != last else None)
    finally:
        conn.close()


def sse_response(
    request: Request,
    ctx: AppContext,
    home_ids: list[str],
    payload: Callable[[Connection], dict[str, Any]],
    also: Callable[[Connection], Hashable] | None = None,
) -> StreamingResponse:
    """Stream 'update' events (with `payload`) on every change, for at most live_max_s.

    `also` adds what a page shows beyond the homes' data (a kit's test mode, which also ends by
    itself when the clock passes its end) to what counts as a change.
    """
    polls = max(1, int(ctx.settings.live_max_s / ctx.settings.live_poll_s))

    async def events() -> AsyncIterator[bytes]:
        last: tuple[Any, ...] | None = None
        yield b"retry: 3000\n\n"
        for _ in range(polls):
            if await request.is_disconnected():
                return

            current, body = await anyio.to_thread.run_sync(
                _look, ctx, home_ids, payload, last, also
            )
            if body is not None:
                last = current
                yield f"event: update\ndata: {json.dumps(body, default=str)}\n\n".encode()
            else:
                yield b": keep-alive\n\n"
            # A pacing pause between polls of the database, not a wait for a condition.
            await anyio.sleep(ctx.settings.live_poll_s)

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
