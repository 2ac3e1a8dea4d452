"""web/deps.py: what every route needs: settings, the page renderer, redirects that never
trust the Host header, the ops API's `?newsletter=`."""

from __future__ import annotations

import pytest
from fastapi import HTTPException
from starlette.applications import Starlette
from starlette.requests import Request

from tests.conftest import EXAMPLES
from web.deps import (
    get_settings_from,
    newsletter_settings,
    public_redirect,
    render,
    zone_label,
)
from web.page_language import make_environment
from worker.settings import Settings


def request_for(settings: Settings, accept_language: str = "") -> Request:
    app = Starlette()
    app.state.settings = settings
    app.state.jinja = make_environment()
    headers = [(b"accept-language", accept_language.encode())] if accept_language else []
    scope = {"type": "http", "method": "GET", "path": "/", "headers": headers, "app": app}
    return Request(scope)


@pytest.mark.parametrize(
    ("name", "label"),
    [("Europe/Kyiv", "Kyiv"), ("America/Argentina/Buenos_Aires", "Buenos Aires"), ("UTC", "UTC")],
)
def test_zone_label(name: str, label: str) -> None:
    assert zone_label(name) == label


def test_get_settings_from_is_the_apps(settings: Settings) -> None:
    assert get_settings_from(request_for(settings)) is settings


def test_render_by_the_readers_language_varies_on_the_header(settings: Settings) -> None:
    response = render(
        request_for(settings), "message.html", {"title": "Hello", "message": "<b>x</b>"}
    )
    assert response.status_code == 200
    assert response.headers["vary"] == "Accept-Language"
    body = bytes(response.body).decode()
    assert "Hello" in body and "&lt;b&gt;x&lt;/b&gt;" in body  # context values are escaped


def test_render_in_a_newsletters_language_does_not_vary(settings: Settings) -> None:
    response = render(
        request_for(settings), "message.html", {"title": "T", "message": "M"}, lang="en",
        status_code=404, headers={"Cache-Control": "no-store"},
    )  # fmt: skip
    assert response.status_code == 404
    assert "vary" not in response.headers
    assert response.headers["cache-control"] == "no-store"


def test_public_redirect_uses_the_public_base_url(settings: Settings) -> None:
    response = public_redirect(request_for(settings), "/digests/?x=1")
    assert response.status_code == 308
    assert response.headers["location"] == "https://daily.example.org/digests/?x=1"
    assert public_redirect(request_for(settings), "/", status_code=303).status_code == 303


def test_newsletter_settings_scopes_or_404s(settings: Settings) -> None:
    s = settings.model_copy(update={"newsletters": EXAMPLES / "newsletters.toml"})
    request = request_for(s)
    assert newsletter_settings(request, None).newsletter_slug == "daily"
    assert newsletter_settings(request, "ukrainian").newsletter_slug == "ukrainian"
    with pytest.raises(HTTPException) as raised:
        newsletter_settings(request, "no-such-newsletter")
    assert raised.value.status_code == 404
