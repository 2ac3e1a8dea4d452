"""Preview for editors and the layout in a real browser (headless Chromium).

Skips with the reason when /usr/bin/chromium is missing; with REQUIRE_SERVICES=1 (CI, which
installs it) a missing browser fails instead.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from tests.conftest import unavailable
from tests.digest.conftest import DAY, Factory, sample_day
from worker.digest.build import build_digest
from worker.digest.preview import PreviewError, preview
from worker.edition import lifecycle
from worker.settings import Settings
from worker.storage import LocalStorage

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser


@pytest.fixture
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} not installed (apt-get install chromium); browser checks skipped")
    return CHROMIUM


def png_stats(data: bytes) -> tuple[int, int, int]:
    """(width, height, distinct byte values in the pixel data) of a PNG, without Pillow."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    return width, height, len(set(raw))


def test_preview_of_an_edition_never_built_says_so(
    session: Session, settings: Settings, storage: LocalStorage, tmp_path: Path
) -> None:
    with pytest.raises(PreviewError, match="no edition of 2026-11-27 has been built"):
        preview(session, settings, storage, DAY, tmp_path / "preview")


def test_preview_writes_files_and_screenshots(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    factory: Factory,
    tmp_path: Path,
    chromium: str,
) -> None:
    sample_day(factory)
    session.commit()
    # the CLI builds through the lifecycle first; preview shows what was built
    assert lifecycle.build(settings, DAY, builder=build_digest).ok
    out = tmp_path / "preview"
    result = preview(session, settings, storage, DAY, out)
    html = Path(result["html"]).read_text()
    assert "Inside the night shift in Kharkiv" in html and "@@" not in html
    assert "NEWS FEED" in Path(result["text"]).read_text()
    assert Path(result["eml"]).read_bytes().startswith(b"To: Editor <editor@example.org>")
    for width in (375, 680):
        png = Path(result[f"png_{width}"])
        w, h, distinct = png_stats(png.read_bytes())
        assert w == width
        assert h == result[f"height_{width}"] > 1000  # the whole email, not one screen
        assert distinct > 20, "the screenshot is blank"
        assert result[f"scroll_width_{width}"] <= width  # no horizontal overflow


def test_layout_in_the_browser(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    factory: Factory,
    chromium: str,
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")

    sample_day(factory)
    # unbreakable words must wrap, not widen the page
    from tests.digest.conftest import kyiv

    factory.item(
        "Verkhovna" + "Rada" * 30, kyiv(DAY, 5), summary="https://example.org/" + "x" * 150
    )
    factory.article("Long" * 40, kyiv(DAY, 5, 30), summary="Dek" * 60)
    build_digest(session, settings, storage, DAY)
    html = storage.read_bytes("digests/2026-11-27/digest.html").decode()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium,
            args=["--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND"],
        )
        try:
            for width in (375, 680):
                page = browser.new_page(viewport={"width": width, "height": 800})
                page.set_content(html, wait_until="load")
                scroll = page.evaluate("document.documentElement.scrollWidth")
                assert scroll <= width, f"horizontal overflow at {width}px: {scroll}"
                page.close()
            dark = browser.new_page(viewport={"width": 375, "height": 800}, color_scheme="dark")
            dark.set_content(html, wait_until="load")
            colours = dark.evaluate(
                """() => {
                  const card = document.querySelector('.dc-card td');
                  const text = document.querySelector('.dc-card div');
                  return [getComputedStyle(card).backgroundColor, getComputedStyle(text).color];
                }"""
            )
            assert colours == ["rgb(28, 31, 36)", "rgb(232, 230, 227)"]  # dark card, light text
        finally:
            browser.close()
