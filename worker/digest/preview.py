"""`digestcast preview`: the day's email as editors will see it, with phone and desktop screenshots.

Screenshots come from headless Chromium (Debian's `chromium`) driven from the command line, so
the preview needs no Python browser package. Each width takes two runs: `--dump-dom` with a
small measuring script injected (document height and width as the browser laid them out), then
`--screenshot` at that height, so the PNG holds the whole email. Remote images are not fetched
(host resolution is mapped to nothing): a preview is deterministic, offline and shows alt text
where pictures would be.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from datetime import date
from html import escape
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from worker import newsletters
from worker.digest.message import Recipient, template_from_storage
from worker.edition.lookup import DEFAULT_SLUG, find
from worker.settings import Settings
from worker.storage import Storage, keys

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome")
WIDTHS = (375, 680)
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
    # offline and deterministic: every host name fails to resolve at once
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
# Headless Chromium never makes a window narrower than 500 px, so the page is measured inside
# an iframe of the exact width (srcdoc: same origin, so the parent may read its layout).
_MEASURE_PAGE = (
    '<!doctype html><html><body style="margin:0">'
    '<iframe id="f" style="border:0;width:{width}px;height:800px" srcdoc="{srcdoc}"></iframe>'
    "<script>document.getElementById('f').addEventListener('load',function(){{"
    "var e=this.contentDocument.documentElement;"
    "document.body.setAttribute('data-dc-size',e.scrollWidth+'x'+e.scrollHeight);}});</script>"
    "</body></html>"
)
_SIZE = re.compile(r'data-dc-size="(\d+)x(\d+)"')
TIMEOUT_SECONDS = 60
MAX_HEIGHT = 20_000


class PreviewError(RuntimeError):
    pass


def find_chromium() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def _run(chromium: str, profile: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    command = [chromium, *FLAGS, f"--user-data-dir={profile}", *args]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=TIMEOUT_SECONDS, check=False
    )
    if result.returncode != 0:
        raise PreviewError(f"chromium failed ({result.returncode}): {result.stderr[-500:]}")
    return result


def measure(chromium: str, html: str, width: int, workdir: Path) -> tuple[int, int]:
    """(scrollWidth, scrollHeight) of the page laid out in a `width`-pixel window."""
    page = workdir / f"measure-{width}.html"
    page.write_text(
        _MEASURE_PAGE.format(width=width, srcdoc=escape(html, quote=True)), encoding="utf-8"
    )
    with tempfile.TemporaryDirectory(prefix="dc-chromium-") as profile:
        result = _run(
            chromium,
            Path(profile),
            [
                f"--window-size={width},800",
                "--virtual-time-budget=2000",
                "--dump-dom",
                page.as_uri(),
            ],
        )
    found = _SIZE.search(result.stdout)
    if not found:
        raise PreviewError("could not measure the page (no size in the dumped DOM)")
    return int(found.group(1)), int(found.group(2))


def screenshot(chromium: str, html_path: Path, width: int, height: int, png: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="dc-chromium-") as profile:
        _run(
            chromium,
            Path(profile),
            [
                f"--window-size={width},{min(max(height, 200), MAX_HEIGHT)}",
                f"--screenshot={png}",
                "--virtual-time-budget=2000",
                html_path.as_uri(),
            ],
        )
    if not png.is_file() or png.stat().st_size == 0:
        raise PreviewError(f"chromium wrote no screenshot at {png}")


def preview(
    session: Session, settings: Settings, storage: Storage, day: date, out_dir: Path
) -> dict[str, Any]:
    """Write the built edition's HTML, text, a sample .eml and PNGs (the caller builds it
    first, through the lifecycle, so a preview never bypasses the edition's rules)."""
    slug, _ = key = newsletters.edition_key(settings, day)
    digest = find(session, key)
    files = keys.edition(slug, day)
    if digest is None or not storage.exists(files.web_html):
        raise PreviewError(f"no edition of {day.isoformat()} has been built")
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = day.isoformat() if slug == DEFAULT_SLUG else f"{slug}-{day.isoformat()}"
    html = storage.read_bytes(files.web_html).decode("utf-8")
    html_path = out_dir / f"{stem}.html"
    text_path = out_dir / f"{stem}.txt"
    eml_path = out_dir / f"{stem}.eml"
    html_path.write_text(html, encoding="utf-8")
    text_path.write_bytes(storage.read_bytes(files.web_text))
    sample = Recipient(
        subscriber_id=0,
        email="editor@example.org",
        name="Editor",
        message_id=f"preview-{stem}@digestcast.invalid",
        unsubscribe_url=f"{settings.public_base_url.rstrip('/')}/u/preview-token",
    )
    eml_path.write_bytes(template_from_storage(storage, settings, digest).personalize(sample))
    result: dict[str, Any] = {
        "digest_id": digest.id,
        "state": digest.state.value,
        "subject": digest.subject,
        "html": str(html_path),
        "text": str(text_path),
        "eml": str(eml_path),
        "html_bytes": digest.html_bytes,
        "degradations": list(digest.degradations),
    }
    chromium = find_chromium()
    if chromium is None:
        result["screenshots"] = "skipped: chromium not found (apt-get install chromium)"
        return result
    with tempfile.TemporaryDirectory(prefix="dc-preview-") as tmp:
        for width in WIDTHS:
            scroll_width, height = measure(chromium, html, width, Path(tmp))
            png = out_dir / f"{stem}-{width}.png"
            screenshot(chromium, html_path, width, height, png)
            result[f"png_{width}"] = str(png)
            result[f"scroll_width_{width}"] = scroll_width
            result[f"height_{width}"] = height
    return result
