"""Listen beacons from the player (`POST /beacon`) and their counts for ops (`/admin/listens`).

A beacon is `{"kind": "article"|"edition"|"briefing", "id": N, "event": "play"|"25"|...}`,
sent with navigator.sendBeacon. It sets no cookie and nothing about the sender is stored:
the answer is 204 either way for a well-formed beacon, 400 for anything else, 403 when a
browser says another site's page sent it (Origin), 429 past BEACON_RATE_LIMIT a minute from one
client address (held in the throttle only as a keyed hash, for the minute).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from web.admin import AUTH_RESPONSES, require_admin
from web.deps import SessionDep, get_settings_from
from web.throttle import Throttle, client_key, hashed_key
from worker import listens
from worker.db import session_scope

router = APIRouter(include_in_schema=False)
admin_router = APIRouter(prefix="/admin", tags=["admin"], responses=AUTH_RESPONSES)


class ListenRowOut(BaseModel):
    kind: str
    id: int
    title: str  # the article's title, or the edition's day
    plays: int
    reached_25: int
    reached_50: int
    reached_75: int
    reached_100: int


class ListensOut(BaseModel):
    plays: int
    top: list[ListenRowOut]


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@router.post("/beacon")
async def beacon(request: Request) -> Response:
    # browsers name the page's origin on a beacon: another site's pages cannot inflate counts
    origin = request.headers.get("origin")
    if origin is not None and origin.lower() != _origin(get_settings_from(request).public_base_url):
        return Response("not from this site\n", status_code=403, media_type="text/plain")
    body = await request.body()
    found = listens.parse_beacon(body)
    if found is None:
        return Response("not a beacon\n", status_code=400, media_type="text/plain")
    throttle: Throttle = request.app.state.beacon_throttle
    client = hashed_key(
        get_settings_from(request), client_key(request.client and request.client.host)
    )
    wait = await run_in_threadpool(throttle.hit, client)
    if wait:  # a script, not a listener: nothing counted
        return Response(
            "too many beacons\n",
            status_code=429,
            headers={"Retry-After": str(int(wait))},
            media_type="text/plain",
        )
    # the database work in a thread: a burst of beacons never blocks the event loop
    await run_in_threadpool(_count, request, found)
    return Response(status_code=204, headers={"Cache-Control": "no-store"})


def _count(request: Request, found: listens.Beacon) -> None:
    with session_scope(get_settings_from(request)) as session:
        if listens.target_exists(session, found):  # no counters for ids that name nothing
            listens.record(session, found)


@admin_router.get("/listens", response_model=ListensOut, dependencies=[Depends(require_admin)])
def listen_counts(session: SessionDep) -> ListensOut:
    """Plays started and quartiles reached, per article, edition and briefing (the 100 most
    played); counters only, nothing about listeners."""
    rows = [
        ListenRowOut(
            kind=r["kind"],
            id=r["id"],
            title=r["title"],
            plays=r["plays"],
            reached_25=r["25%"],
            reached_50=r["50%"],
            reached_75=r["75%"],
            reached_100=r["100%"],
        )
        for r in listens.summary(session, 100)
    ]
    return ListensOut(plays=listens.total_plays(session), top=rows)
