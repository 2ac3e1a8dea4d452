"""The ops console under /ops/: server-rendered pages for the person on call.

`install(app)` mounts it: the routers, its stylesheet and script, and the redirect of a page
asked for without a session to the login page.
"""

from __future__ import annotations

import inspect

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from web.ops import audit, editing, login, people, preview, sources, today, users
from web.ops.pages import LoginRequired, page
from worker.paths import templates_dir

STATIC = {"ops.css": "text/css", "ops.js": "text/javascript"}


def install(app: FastAPI) -> None:
    router = APIRouter(prefix="/ops", include_in_schema=False)
    files = {name: (templates_dir() / "web" / "ops" / name).read_bytes() for name in STATIC}

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in files:
            return Response(status_code=404)
        headers = {"Cache-Control": "public, max-age=300"}
        return Response(files[name], media_type=STATIC[name], headers=headers)

    # people first: its /editions/{day}/resend must win over today's /editions/{day}/{action}
    for module in (login, people, preview, editing, today, audit, sources, users):
        router.include_router(module.router)
    app.include_router(router)

    async def to_login(request: Request, exc: Exception) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/ops/login?next={login.quote(target)}", status_code=303)

    app.add_exception_handler(LoginRequired, to_login)

    # a person (a browser asking for HTML) gets the refusal as a console page; scripts and the
    # live poll keep the JSON answer of the handler before
    before = app.exception_handlers.get(StarletteHTTPException)

    async def as_page(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        wants_html = "text/html" in request.headers.get("accept", "")
        if request.url.path.startswith("/ops/") and wants_html and exc.status_code < 500:
            context = {"status": exc.status_code, "detail": str(exc.detail)}
            return page(request, "ops/error.html", context, None, status_code=exc.status_code)
        if before is None:
            raise exc
        answer = before(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(StarletteHTTPException, as_page)
