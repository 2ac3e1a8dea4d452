"""The player in a real browser (Debian's Chromium via Playwright): play, speed, skip, captions
under the player, click a transcript paragraph to seek, resume after a reload, Media Session
metadata, keyboard shortcuts, and the edition page moving on to the next story."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import select

from tests.web.browsing import BROWSER_MARKS
from tests.web.conftest import add_article_with_audio, add_digest, tone_mp3
from worker import db
from worker.models import Article, Digest, ListenCount
from worker.settings import Settings
from worker.storage import LocalStorage

pytestmark = BROWSER_MARKS

PARAGRAPHS = [
    "Kyiv's power grid holds through the cold snap.",
    "Engineers restored the last substation overnight. Crews stay on call.",
]
CUES = (
    "WEBVTT\n\n"
    "1\n00:00.000 --> 00:02.000\nKyiv's power grid holds through the cold snap.\n\n"
    "2\n00:02.000 --> 00:03.000\nEngineers restored the last substation overnight.\n\n"
    "3\n00:03.000 --> 00:04.000\nCrews stay on call.\n"
)


def spoken_article(
    storage: LocalStorage, session: Any, mp3: bytes, title: str, digest: Digest | None = None
) -> Article:
    """An article as the audio stage leaves it: MP3, cues, transcript and audio.json spans."""
    article = add_article_with_audio(session, storage, mp3, title=title, digest=digest, vtt=False)
    prefix = article.storage_prefix
    storage.write_bytes(f"{prefix}/audio.vtt", CUES.encode())
    storage.write_bytes(f"{prefix}/audio.txt", "\n\n".join([title, PARAGRAPHS[1]]).encode())
    meta = {"paragraph_times": [[0.0, 2.0], [2.0, 4.0]], "duration_seconds": 4.0}
    storage.write_bytes(f"{prefix}/audio.json", json.dumps(meta).encode())
    return article


def spoken_id(settings: Settings, storage: LocalStorage, seconds: float) -> int:
    with db.session_scope(settings) as session:
        return spoken_article(storage, session, tone_mp3(seconds), PARAGRAPHS[0]).id


def wait(page: Any, script: str, timeout: int = 15_000) -> None:
    page.wait_for_function(script, timeout=timeout)


def test_listen_player(live: tuple[str, Settings], browser: Any, storage: LocalStorage) -> None:
    base, settings = live
    article_id = spoken_id(settings, storage, 4.0)
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{base}/listen/{article_id}")
    wait(page, "() => document.getElementById('player').readyState >= 1")
    assert page.is_visible("#speed") and page.is_visible("#fwd30")  # the script ran

    # speed
    page.select_option("#speed", "1.5")
    assert page.evaluate("document.getElementById('player').playbackRate") == 1.5
    assert page.evaluate("localStorage.getItem('digestcast:speed')") == "1.5"

    # play: time moves, the first cue shows under the player, its sentence is highlighted
    page.click("#playpause")
    wait(page, "() => document.getElementById('player').currentTime > 0.3")
    wait(page, "() => document.getElementById('captions').textContent.includes('cold snap')")
    assert page.is_visible("#captions")
    wait(page, "() => document.querySelector('#transcript mark.sentence-current') !== null")
    assert "cold snap" in page.inner_text("#transcript mark.sentence-current")

    # Media Session: lock-screen metadata
    title = page.evaluate("navigator.mediaSession.metadata.title")
    assert title == PARAGRAPHS[0]
    assert page.evaluate("navigator.mediaSession.metadata.artwork.length") == 1

    # click the second paragraph: the audio seeks to its start and it becomes the current one
    page.evaluate("document.getElementById('player').pause()")
    page.click("#transcript p:nth-of-type(2)")
    wait(page, "() => document.getElementById('player').currentTime >= 2")
    wait(page, "() => document.querySelector('#transcript p.current') !== null")
    assert "substation" in page.inner_text("#transcript p.current")
    page.evaluate("document.getElementById('player').pause()")

    # keyboard: J goes back 15 s (to 0), L forward 30 s (to the end, clamped)
    page.locator("body").focus()
    page.keyboard.press("j")
    assert page.evaluate("document.getElementById('player').currentTime") < 0.5
    page.keyboard.press(">")
    assert page.evaluate("document.getElementById('player').playbackRate") == 1.75

    # resume: a position saved on pause comes back after a reload
    page.evaluate(
        "() => { const a = document.getElementById('player'); a.currentTime = 2.5; a.pause();"
        " a.dispatchEvent(new Event('pause')); }"
    )
    page.reload()
    wait(page, "() => document.getElementById('player').currentTime > 2")
    assert page.evaluate("document.getElementById('player').playbackRate") == 1.75
    assert not errors, errors
    page.close()


def test_lock_screen_and_headphone_controls(
    live: tuple[str, Settings], browser: Any, storage: LocalStorage
) -> None:
    """The handlers the player gives the Media Session (what a lock screen or headphones
    call) do what they say: Chromium runs them as the OS would, through the API."""
    base, settings = live
    article_id = spoken_id(settings, storage, 4.0)
    page = browser.new_page()
    # keep each handler the page registers, so the test can call it as the OS would
    page.add_init_script(
        "window.__media = {}; const own = navigator.mediaSession.setActionHandler"
        ".bind(navigator.mediaSession); navigator.mediaSession.setActionHandler = "
        "(name, handler) => { window.__media[name] = handler; own(name, handler); };"
    )
    page.goto(f"{base}/listen/{article_id}")
    wait(page, "() => document.getElementById('player').readyState >= 1")
    names = set(page.evaluate("Object.keys(window.__media)"))
    assert {"play", "pause", "seekbackward", "seekforward", "seekto"} <= names
    player = "document.getElementById('player')"
    page.evaluate("window.__media.play({action: 'play'})")
    wait(page, f"() => !{player}.paused")
    page.evaluate("window.__media.pause({action: 'pause'})")
    wait(page, f"() => {player}.paused")
    page.evaluate("window.__media.seekto({action: 'seekto', seekTime: 3})")
    assert page.evaluate(f"{player}.currentTime") == 3
    page.evaluate("window.__media.seekbackward({action: 'seekbackward', seekOffset: 2})")
    assert abs(page.evaluate(f"{player}.currentTime") - 1) < 0.01
    page.evaluate("window.__media.seekbackward({action: 'seekbackward'})")  # 15 s: to 0
    assert page.evaluate(f"{player}.currentTime") == 0
    page.evaluate("window.__media.seekforward({action: 'seekforward'})")  # 30 s: to the end
    duration = page.evaluate(f"{player}.duration")
    assert page.evaluate(f"{player}.currentTime") >= duration - 0.05
    page.close()


def test_edition_plays_story_after_story(
    live: tuple[str, Settings], browser: Any, storage: LocalStorage
) -> None:
    base, settings = live
    with db.session_scope(settings) as session:
        digest = add_digest(session, storage)
        first = spoken_article(storage, session, tone_mp3(1.5), "First story", digest)
        second = spoken_article(storage, session, tone_mp3(1.5, freq=660), "Second story", digest)
        # the edition's order is the email's: newest first
        second.published_at = first.published_at.replace(hour=6)
        ids, day = (second.id, first.id), digest.date.isoformat()
        next_prefix = first.storage_prefix
    page = browser.new_page()
    page.goto(f"{base}/edition/{day}")
    wait(page, "() => document.getElementById('player').readyState >= 1")
    assert page.evaluate("navigator.mediaSession.metadata.title") == "Second story"
    assert page.get_attribute("#playlist li.playing", "data-id") == str(ids[0])
    page.select_option("#speed", "2")
    page.click("#playpause")
    # the first story ends, the next loads and plays at the same speed, captions follow it
    wait(page, f"() => document.querySelector('#playlist li.playing').dataset.id === '{ids[1]}'")
    wait(page, "() => document.getElementById('player').currentTime > 0.2")
    src = page.evaluate("document.getElementById('player').getAttribute('src')")
    assert src == f"/media/{next_prefix}/audio.mp3"
    assert page.evaluate("navigator.mediaSession.metadata.title") == "First story"
    assert page.evaluate("document.getElementById('player').playbackRate") == 2
    assert page.evaluate("document.querySelectorAll('#player track').length") == 1
    assert page.get_attribute("#playlist li.playing", "aria-current") == "true"
    page.close()


def test_player_without_javascript(
    live: tuple[str, Settings], pw: Any, storage: LocalStorage
) -> None:
    """No script: the plain <audio> with its controls is there and plays."""
    from tests.web.browsing import CHROMIUM, CHROMIUM_ARGS

    base, settings = live
    article_id = spoken_id(settings, storage, 2.0)
    browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        context = browser.new_context(java_script_enabled=False)
        page = context.new_page()
        page.goto(f"{base}/listen/{article_id}")
        assert page.get_attribute("#player", "controls") is not None
        assert not page.is_visible("#speed")  # enhancement controls stay hidden
        src = page.get_attribute("#player", "src")
        assert src is not None and src.endswith("/audio.mp3")
        context.close()
    finally:
        browser.close()


def counts(settings: Settings, kind: str, target: int) -> dict[str, int]:
    with db.session_scope(settings) as session:
        rows = session.scalars(
            select(ListenCount).where(ListenCount.kind == kind, ListenCount.target_id == target)
        ).all()
        return {r.event: r.count for r in rows}


def settle(settings: Settings, kind: str, target: int, want: dict[str, int]) -> dict[str, int]:
    deadline = time.monotonic() + 10
    found = counts(settings, kind, target)
    while found != want and time.monotonic() < deadline:
        time.sleep(0.1)
        found = counts(settings, kind, target)
    return found


def test_beacons_count_each_quartile_once(
    live: tuple[str, Settings], browser: Any, storage: LocalStorage
) -> None:
    base, settings = live
    article_id = spoken_id(settings, storage, 4.0)
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{base}/listen/{article_id}")
    wait(page, "() => document.getElementById('player').readyState >= 1")
    page.select_option("#speed", "2")
    page.click("#playpause")
    wait(page, "() => document.getElementById('player').currentTime > 2.3")
    page.evaluate("document.getElementById('player').pause()")
    assert settle(settings, "article", article_id, {"play": 1, "25": 1, "50": 1}) == {
        "play": 1,
        "25": 1,
        "50": 1,
    }
    # back to the start and past 50 % again in the same play: nothing counted twice
    page.evaluate("document.getElementById('player').currentTime = 0.2")
    page.click("#playpause")
    wait(page, "() => document.getElementById('player').ended")
    want = {"play": 1, "25": 1, "50": 1, "75": 1, "100": 1}
    assert settle(settings, "article", article_id, want) == want
    assert context.cookies() == []  # nothing set a cookie on the listener
    context.close()
