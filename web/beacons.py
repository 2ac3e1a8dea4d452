"""Listen beacons from the player (`POST /beacon`) and their counts for ops (`/admin/listens`).

A beacon is `{"kind": "article"|"edition"|"briefing", "id": N, "event": "play"|"25"|...}`,
sent with navigator.sendBeacon. It sets no cookie and nothing about the sender is stored:
the answer is 204 either way for a well-formed beacon, 400 for anything else.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from web.admin import require_admin
from web.deps import SessionDep, get_settings_from
from worker import listens
from worker.db import session_scope

router = APIRouter(include_in_schema=False)
admin_router = APIRouter(prefix="/admin")


@router.post("/beacon")
async def beacon(request: Request) -> Response:
    body = await request.body()
    found = listens.parse_beacon(body)
    if found is None:
        return Response("not a beacon\n", status_code=400, media_type="text/plain")
    # the database work in a thread: a burst of beacons never blocks the event loop
    await run_in_threadpool(_count, request, found)
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


def _count(request: Request, found: listens.Beacon) -> None:
    with session_scope(get_settings_from(request)) as session:
        if listens.target_exists(session, found):  # no counters for ids that name nothing
            listens.record(session, found)


@admin_router.get("/listens", dependencies=[Depends(require_admin)])
def listen_counts(session: SessionDep) -> dict[str, Any]:
    """Plays started and quartiles reached, per article, edition and briefing."""
    return {"plays": listens.total_plays(session), "top": listens.summary(session, 100)}
