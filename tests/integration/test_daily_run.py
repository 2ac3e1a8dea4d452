"""The whole daily job on the embedded default, through the real CLI, on the bundled sample day.

This is what `make run` does for a newcomer: collect the sample feeds, speak every article,
build the digest, deliver it to every sample subscriber into the Maildir outbox, publish the
podcast feed. A second run must do nothing new and say so.
"""

from __future__ import annotations

import csv
import html
import itertools
import json
import mailbox
import os
import socket
import sqlite3
import subprocess
import sys
import xml.etree.ElementTree as ET
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import feedparser
import pytest
from mutagen.id3 import ID3
from mutagen.mp3 import MP3

from tests.audio.levels import chapter_times, ebur128, ffprobe, levels, to_m4a
from worker.audio.engines import offline_engine

# the sample day is spoken and mastered twice over (offline, then upgraded to gTTS): on a
# shared 2-core machine that takes minutes, so a slow machine is not mistaken for a hang
pytestmark = pytest.mark.timeout(1200)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
SAMPLE_DATE = "2026-11-27"


def closed_port() -> int:
    """A loopback port nothing listens on: gTTS fails fast there, so `auto` falls back offline."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTCAST_")}
    env.update(
        DIGESTCAST_DATABASE_URL=f"sqlite:///{tmp_path / 'digestcast.db'}",
        DIGESTCAST_DATA_DIR=str(tmp_path / "data"),
        DIGESTCAST_OUTBOX_DIR=str(tmp_path / "outbox"),
        DIGESTCAST_TTS_ENGINE="auto",
        DIGESTCAST_GTTS_ENDPOINT=f"http://127.0.0.1:{closed_port()}/batchexecute",
        DIGESTCAST_PUBLIC_BASE_URL="https://daily.example.org",
        DIGESTCAST_SECRET_KEY="integration-secret-0123456789abcdefghijkl",
        DIGESTCAST_CONFIG=str(tmp_path / "absent.toml"),
    )
    env.update(extra)
    return env


def digestcast(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "worker", *args]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900, cwd=REPO)
    assert result.returncode == 0, f"{args} failed:\n{result.stdout}\n{result.stderr}"
    return result


def sample_entries(name: str) -> list[feedparser.FeedParserDict]:
    return list(feedparser.parse(str(EXAMPLES / "feeds" / name)).entries)


def sample_subscribers() -> list[str]:
    with (EXAMPLES / "subscribers.csv").open(encoding="utf-8") as handle:
        return [row["email"] for row in csv.DictReader(handle)]


def parts(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(("plain",))
    body = message.get_body(("html",))
    assert text is not None and body is not None, "multipart/alternative with text and HTML"
    return text.get_content(), body.get_content()


def outbox_messages(outbox: Path) -> list[EmailMessage]:
    box = mailbox.Maildir(outbox, create=False)
    parser = BytesParser(policy=policy.default)
    return [parser.parsebytes(box.get_bytes(key)) for key in box.keys()]  # noqa: SIM118


@pytest.fixture(scope="module")
def first_and_second_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp_path = tmp_path_factory.mktemp("daily")
    env = cli_env(tmp_path)
    digestcast(env, "db", "upgrade")
    digestcast(env, "subscribers", "import", str(EXAMPLES / "subscribers.csv"))
    # one reader turned audio links off on the preferences page
    with sqlite3.connect(tmp_path / "digestcast.db") as conn:
        conn.execute(
            "UPDATE subscribers SET wants_audio_links = 0 WHERE email = ?",
            (sample_subscribers()[-1].lower(),),
        )
    first = digestcast(env, "run", "--date", SAMPLE_DATE)
    messages_after_first = outbox_messages(tmp_path / "outbox")
    second = digestcast(env, "run", "--date", SAMPLE_DATE)
    # days with nothing to send, on the roads a newcomer and the systemd timer take
    empty_run = digestcast(env, "run", "--date", "2026-10-01")
    empty_send = digestcast(env, "send", "--date", "2026-10-01")
    quiet = {"DIGESTCAST_QUIET_DAY_POLICY": "skip", "DIGESTCAST_QUIET_DAY_MIN_ITEMS": "3"}
    quiet_run = digestcast({**env, **quiet}, "run", "--date", "2026-11-28")
    return {
        "empty": empty_run.stdout + empty_send.stdout,
        "quiet": quiet_run.stdout,
        "messages_after_empty_days": outbox_messages(tmp_path / "outbox"),
        "env": env,
        "tmp": tmp_path,
        "first": first.stdout,
        "second": second.stdout,
        "messages": messages_after_first,
        "messages_after_second": outbox_messages(tmp_path / "outbox"),
    }


def test_every_article_has_tagged_audio_next_to_it(first_and_second_run: dict[str, object]) -> None:
    data = Path(str(first_and_second_run["tmp"])) / "data"
    article_files = sorted(data.glob("articles/*/*/*/*/article.json"))
    expected = len(sample_entries("articles.xml")) + len(sample_entries("articles-uk.xml"))
    assert len(article_files) >= expected
    for article_json in article_files:
        folder = article_json.parent
        meta = json.loads(article_json.read_text(encoding="utf-8"))
        for key in ("title", "url", "published", "source", "summary", "body_html", "content_hash"):
            assert key in meta, f"{article_json} lacks {key}"
        audio = json.loads((folder / "audio.json").read_text(encoding="utf-8"))
        for key in ("engine", "language", "text_hash", "duration_seconds", "bytes"):
            assert key in audio, f"{folder}/audio.json lacks {key}"
        mp3 = MP3(folder / "audio.mp3")
        assert mp3.info.length > 1.0
        assert audio["bytes"] == (folder / "audio.mp3").stat().st_size
        assert abs(audio["duration_seconds"] - mp3.info.length) < 0.5
        # Google is unreachable in tests: an offline voice spoke, and that is recorded
        assert audio["engine"] == offline_engine(audio["language"])


def test_one_message_per_subscriber_naming_every_story(
    first_and_second_run: dict[str, object],
) -> None:
    messages = first_and_second_run["messages"]
    assert isinstance(messages, list)
    recipients = sorted(str(m["To"]).split("<")[-1].rstrip(">").lower() for m in messages)
    assert recipients == sorted(e.lower() for e in sample_subscribers())
    headlines = [
        e.title
        for name in ("articles.xml", "articles-uk.xml", "news-feed.xml")
        for e in sample_entries(name)
    ]
    for message in messages:
        text, body = parts(message)
        unescaped = html.unescape(body)
        for headline in headlines:
            assert headline in unescaped, f"HTML lacks {headline!r}"
            # the text part wraps long lines for terminals
            assert headline in " ".join(text.split()), f"text part lacks {headline!r}"
        unsubscribe = str(message["List-Unsubscribe"])
        assert "<https://daily.example.org/u/" in unsubscribe
        assert str(message["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
        assert message["Message-ID"]
        assert "{{" not in body and "{%" not in body


def test_audio_links_follow_each_readers_preference(
    first_and_second_run: dict[str, object],
) -> None:
    messages = first_and_second_run["messages"]
    assert isinstance(messages, list)
    no_audio = sample_subscribers()[-1].lower()
    for message in messages:
        text, body = parts(message)
        if no_audio in str(message["To"]).lower():
            assert "/listen/" not in body and "/listen/" not in text
        else:
            assert "/listen/" in body and "/listen/" in text


def test_podcast_feed_lists_every_article_audio_with_its_length(
    first_and_second_run: dict[str, object],
) -> None:
    data = Path(str(first_and_second_run["tmp"])) / "data"
    root = ET.parse(data / "podcast.xml").getroot()
    enclosures = {e.attrib["url"]: int(e.attrib["length"]) for e in root.iter("enclosure")}
    mp3s = sorted(data.glob("articles/*/*/*/*/audio.mp3"))
    assert len(enclosures) == len(mp3s)
    for mp3 in mp3s:
        key = mp3.relative_to(data).as_posix()
        matching = [url for url in enclosures if url.endswith(key)]
        assert matching, f"{key} missing from podcast.xml"
        assert enclosures[matching[0]] == mp3.stat().st_size


def test_digest_stored_for_the_web(first_and_second_run: dict[str, object]) -> None:
    day = Path(str(first_and_second_run["tmp"])) / "data" / "digests" / SAMPLE_DATE
    web_copy = (day / "digest.html").read_text(encoding="utf-8")
    assert "/u/" not in web_copy, "the web copy carries no subscriber's token"
    assert (day / "digest.txt").stat().st_size > 500


def test_every_file_is_podcast_grade_by_ffmpeg_and_pyloudnorm(
    first_and_second_run: dict[str, object],
) -> None:
    """Apple's audio requirements by ffmpeg's ebur128, against what pyloudnorm measured on the
    decoded file when it was made (recorded in audio.json / briefing.json)."""
    data = Path(str(first_and_second_run["tmp"])) / "data"
    files = sorted(data.glob("articles/*/*/*/*/audio.mp3")) + sorted(data.glob("digests/*/*.mp3"))
    assert len(files) >= 11
    for path in files:
        integrated, peak = ebur128(path)
        assert -17.0 <= integrated <= -15.0, f"{path}: {integrated} LUFS by ebur128"
        assert peak <= -1.0, f"{path}: true peak {peak} dBTP by ebur128"
        meta = path.with_suffix(".json")
        record = json.loads(meta.read_text(encoding="utf-8"))["loudness"]
        assert abs(record["integrated_lufs"] - integrated) <= 0.2, path
        assert abs(record["true_peak_dbtp"] - peak) <= 0.3, path
        stream = ffprobe(path)["streams"][0]
        assert int(stream["sample_rate"]) == 44100 and int(stream["channels"]) == 1
        assert int(stream["bit_rate"]) == 96000
    # and pyloudnorm again, from the outside, on the longest one
    longest = max(files, key=lambda p: p.stat().st_size)
    assert abs(levels(longest.read_bytes())[0] - ebur128(longest)[0]) <= 0.2


def test_briefing_chapters_are_in_order_everywhere(
    first_and_second_run: dict[str, object],
) -> None:
    day = Path(str(first_and_second_run["tmp"])) / "data" / "digests" / SAMPLE_DATE
    meta = json.loads((day / "briefing.json").read_text(encoding="utf-8"))
    expected = [(c["title"], c["start"], c["end"]) for c in meta["chapters"]]
    assert expected[0][0] == "Intro" and expected[-1][0] == "Outro" and len(expected) >= 4
    assert [c.sub_frames["TIT2"].text[0] for c in ID3(day / "briefing.mp3").getall("CHAP")] == [
        t for t, _, _ in expected
    ]
    listed = chapter_times(day / "briefing.mp3")
    assert [c[0] for c in listed] == [t for t, _, _ in expected]
    assert all(a[2] == pytest.approx(b[1], abs=0.002) for a, b in itertools.pairwise(listed))
    m4a = chapter_times(to_m4a(day / "briefing.mp3", day.parent.parent / "briefing.m4a"))
    assert [c[0] for c in m4a] == [t for t, _, _ in expected]
    for (_, start, end), (_, want_start, want_end) in zip(m4a, expected, strict=True):
        assert start == pytest.approx(want_start, abs=0.05)
        assert end - start == pytest.approx(want_end - want_start, abs=0.05)
    chapters = json.loads((day / "briefing.chapters.json").read_text(encoding="utf-8"))
    assert [c["title"] for c in chapters["chapters"]] == [t for t, _, _ in expected]
    feed = ET.parse(day.parent.parent / "briefing.xml").getroot()
    link = feed.find(".//{https://podcastindex.org/namespace/1.0}chapters")
    assert link is not None and link.get("url", "").endswith("briefing.chapters.json")


def test_renormalize_finds_nothing_to_do_after_a_run(
    first_and_second_run: dict[str, object],
) -> None:
    env = dict(first_and_second_run["env"])  # type: ignore[call-overload]
    done = digestcast(env, "audio", "--renormalize")
    assert "renormalized 0 article files and 0 briefings" in done.stdout
    assert "0 TTS requests" in done.stdout


def test_second_run_sends_and_synthesizes_nothing(first_and_second_run: dict[str, object]) -> None:
    assert len(first_and_second_run["messages_after_second"]) == len(sample_subscribers())  # type: ignore[arg-type]
    second = str(first_and_second_run["second"])
    assert "audio: 0 synthesized" in second
    assert "delivery: 0 sent now" in second
    assert "nothing new" in second
    first = str(first_and_second_run["first"])
    assert f"delivery: {len(sample_subscribers())} sent now" in first


def test_days_with_nothing_to_send_send_nothing_and_say_why(
    first_and_second_run: dict[str, object],
) -> None:
    empty = str(first_and_second_run["empty"])
    assert empty.count("digest 2026-10-01: skipped, nothing was published in the day's window") == 2
    quiet = str(first_and_second_run["quiet"])
    assert "digest 2026-11-28: skipped, " in quiet and "sent now" not in quiet
    after = first_and_second_run["messages_after_empty_days"]
    assert len(after) == len(sample_subscribers())  # type: ignore[arg-type]


def test_audio_upgrades_offline_files_once_google_answers(
    first_and_second_run: dict[str, object],
) -> None:
    """Runs last: it turns the module's espeak files into gTTS files (through the emulator)."""
    from tests.audio.gtts_emulator import Emulator

    env = dict(first_and_second_run["env"])  # type: ignore[call-overload]
    data = Path(str(first_and_second_run["tmp"])) / "data"
    offline = digestcast(env, "audio")
    assert "offline fallbacks: 0 of" in offline.stdout and "unreachable" in offline.stdout
    assert "to the neural voice" not in offline.stdout  # English was neural already, if installed
    emulator = Emulator().start()
    try:
        env["DIGESTCAST_GTTS_ENDPOINT"] = emulator.url
        online = digestcast(env, "audio")
    finally:
        emulator.stop()
    count = len(list(data.glob("articles/*/*/*/*/audio.json")))
    assert f"offline fallbacks: {count} of {count} upgraded to gTTS" in online.stdout
    for audio_json in data.glob("articles/*/*/*/*/audio.json"):
        audio = json.loads(audio_json.read_text(encoding="utf-8"))
        assert audio["engine"] == "gtts"
        assert MP3(audio_json.parent / "audio.mp3").info.length > 0
