"""DATA_DIR fills up while `digestcast audio` writes (a small tmpfs mounted for the test): the
article whose audio does not fit keeps its old audio, byte for byte, with no half-written file
beside it; its error is recorded; the other articles still get theirs; once there is room
again the next run gives it its new audio."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from tests.audio.conftest import ARTICLE_HTML
from tests.conftest import unavailable
from worker.models import Article, Audio, AudioState
from worker.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]
REPO = Path(__file__).resolve().parents[2]
DAY = "2026-11-27"  # make_article's day
AUDIO_FILES = ("audio.mp3", "audio.vtt", "audio.txt", "audio.json")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs of the test's own."""
    mount = tmp_path / "data"
    mount.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        unavailable("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m,mode=0755", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        unavailable(f"cannot mount a tmpfs: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill_leaving(mount: Path, free_bytes: int) -> None:
    stat = os.statvfs(mount)
    available = stat.f_bavail * stat.f_frsize
    with (mount / "filler").open("wb") as handle:
        handle.truncate(0)
        remaining = max(0, available - free_bytes)
        block = b"\0" * (1 << 16)
        while remaining > 0:
            remaining -= handle.write(block[: min(len(block), remaining)])


def _files(mount: Path, article: Article) -> dict[str, bytes]:
    folder = mount / article.storage_prefix
    return {name: (folder / name).read_bytes() for name in AUDIO_FILES}


@pytest.mark.slow
def test_disk_full_during_audio_keeps_old_audio_and_serves_the_rest(
    session: Session,
    settings: Settings,
    make_article: Callable[..., Article],
    small_disk: Path,
) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DIGESTCAST_")},
        "DIGESTCAST_CONFIG": str(small_disk.parent / "absent.toml"),
        "DIGESTCAST_DATABASE_URL": settings.database_url,
        "DIGESTCAST_DATA_DIR": str(small_disk),
        "DIGESTCAST_TTS_ENGINE": "espeak",
        "DIGESTCAST_SECRET_KEY": settings.secret_key.get_secret_value(),
        "DIGESTCAST_PUBLIC_BASE_URL": "https://daily.example.org",
    }

    def audio(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "worker", "audio", *args],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=180,
        )

    edited = make_article(title="Edited later")
    first = audio()
    assert first.returncode == 0, first.stdout + first.stderr
    old = _files(small_disk, edited)
    one_set = sum(len(b) for b in old.values())

    # the edited article now speaks ten times as much; two new articles arrive
    session.execute(
        update(Article).where(Article.id == edited.id).values(body_html=ARTICLE_HTML * 10)
    )
    session.commit()
    fresh = [make_article(title=f"New story {n}") for n in (1, 2)]
    # room for the two new short sets (and the run's podcast feeds), not for the long one
    _fill_leaving(small_disk, 4 * one_set)

    second = audio("--date", DAY)  # the day's articles: the edited one is spoken again
    assert _files(small_disk, edited) == old, "the old audio was touched"
    leftovers = [p for p in small_disk.rglob("*") if p.name.startswith(".") or ".tmp" in p.name]
    assert leftovers == [], "a half-written file was left behind"
    session.expire_all()
    rows = {r.article_id: r for r in session.scalars(select(Audio))}
    assert rows[edited.id].state == AudioState.failed
    assert "No space left on device" in (rows[edited.id].error or ""), second.stdout
    assert "failed" in second.stdout and "No space left" in second.stdout + second.stderr
    for article in fresh:
        assert rows[article.id].state == AudioState.done, rows[article.id].error
        assert all(_files(small_disk, article).values())

    (small_disk / "filler").unlink()
    third = audio("--date", DAY)
    assert third.returncode == 0, third.stdout + third.stderr
    session.expire_all()
    assert session.get(Audio, rows[edited.id].id).state == AudioState.done  # type: ignore[union-attr]
    assert len(_files(small_disk, edited)["audio.mp3"]) > 3 * len(old["audio.mp3"])
