"""The sample digest in a real browser (Playwright driving Debian's Chromium) with
`prefers-color-scheme: dark` emulated: the top band and the footer turn dark like the cards
(sampled from the screenshot's pixels), and the footer text, the unsubscribe link included,
keeps a WCAG AA contrast (at least 4.5:1) in both schemes."""

from __future__ import annotations

import re
import struct
import zlib
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from tests.conftest import unavailable
from tests.digest.conftest import Factory
from tests.digest.helpers import sample_message
from worker.settings import Settings
from worker.storage import LocalStorage

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.browser
RGB = tuple[int, int, int]


def decode_png(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit RGB/RGBA PNG, filters undone."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat = 8, b""
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, chunk = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up = previous[x]
            corner = previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 0xFF
            elif kind == 2:
                line[x] = (line[x] + up) & 0xFF
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                line[x] = (line[x] + pred) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, channels, rows


def luminance(rgb: RGB) -> float:
    """WCAG 2 relative luminance."""

    def linear(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: RGB, b: RGB) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def css_rgb(value: str) -> RGB:
    r, g, b = (int(n) for n in re.findall(r"\d+", value)[:3])
    return r, g, b


# the section (mjml's outer div of 600px) around the first "View in browser" link and around
# the "Unsubscribe" link, found by what they say rather than by our class names
BANDS = """() => {
  const links = [...document.querySelectorAll('a')];
  const band = text => links.find(a => a.textContent.trim() === text)
    .closest('div[style*="max-width:600px"]');
  return [band('View in browser'), band('Unsubscribe')].map(band => {
    const r = band.getBoundingClientRect();
    const texts = [...band.querySelectorAll('div, a')].filter(e => e.textContent.trim()).map(
      e => ({tag: e.tagName, text: e.textContent.trim().slice(0, 30),
             color: getComputedStyle(e).color}));
    return {top: r.top + scrollY, left: r.left, width: r.width, height: r.height, texts};
  });
}"""


@pytest.fixture
def email_html(
    session: Session, settings: Settings, storage: LocalStorage, factory: Factory
) -> str:
    raw = sample_message(session, settings, storage, factory, name="Olena")
    message = message_from_bytes(raw, policy=policy.default)
    html = message.get_body(("html",))
    assert html is not None
    return str(html.get_content())


Image = tuple[int, int, list[bytes]]


def _bands(html: str, scheme: str) -> list[tuple[dict[str, Any], Image]]:
    """Each band's geometry and colours with a screenshot of just that band."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND"],
        )
        try:
            page = browser.new_page(
                viewport={"width": 680, "height": 900}, color_scheme=scheme, device_scale_factor=1
            )
            page.set_content(html, wait_until="load")
            found = []
            for band in page.evaluate(BANDS):
                clip = {k: band[k] for k in ("width", "height")} | {
                    "x": band["left"],
                    "y": band["top"],
                }
                png = page.screenshot(full_page=True, type="png", clip=clip)
                found.append((band, decode_png(png)))
        finally:
            browser.close()
    return found


def _background(image: Image) -> list[RGB]:
    """Pixels just inside the band's corners (its padding: no text there)."""
    width, channels, rows = image
    found = []
    for x, y in ((3, 3), (width - 4, 3), (3, len(rows) - 4), (width - 4, len(rows) - 4)):
        at = x * channels
        found.append((rows[y][at], rows[y][at + 1], rows[y][at + 2]))
    return found


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_header_and_footer_follow_the_colour_scheme(email_html: str, scheme: str) -> None:
    bands = _bands(email_html, scheme)
    assert len(bands) == 2, bands  # the top band ("View in browser") and the footer
    (header, _), (footer, _) = bands
    assert any("View in browser" in t["text"] for t in header["texts"])
    assert any(t["tag"] == "A" and t["text"] == "Unsubscribe" for t in footer["texts"])
    for band, image in bands:
        backgrounds = _background(image)
        assert len(set(backgrounds)) == 1, backgrounds  # one flat colour
        (background,) = set(backgrounds)
        if scheme == "dark":
            assert luminance(background) < 0.05, background
        else:
            assert luminance(background) > 0.8, background
        for text in band["texts"]:
            ratio = contrast(css_rgb(text["color"]), background)
            assert ratio >= 4.5, (scheme, text, background, round(ratio, 2))
