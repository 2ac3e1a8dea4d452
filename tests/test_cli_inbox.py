"""worker/cli_inbox.py: `digestcast inbox import|fetch` as ops run them: one summary line,
exit 2 for a mailbox that is not there or an IMAP URL that is not set."""

from __future__ import annotations

import mailbox
import subprocess
import sys
from pathlib import Path

from tests.delivery.test_bounces import cli_env
from tests.inbox.test_handle import mailto_request
from tests.web.conftest import add_subscriber, get_subscriber, subscriber_token
from worker.models import SubscriberState
from worker.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def run(settings: Settings, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", "inbox", *args],
        env=cli_env(settings, tmp_path),
        capture_output=True,
        text=True,
        cwd=REPO,
    )


def test_import_acts_on_an_unsubscribe_request_once(settings: Settings, tmp_path: Path) -> None:
    sid = add_subscriber(settings, "reader@example.org")
    box = mailbox.Maildir(str(tmp_path / "inbox"), create=True)
    box.add(mailto_request(subscriber_token(settings, sid), sender="reader@example.org"))
    box.add(b"Subject: Re: Ukraine Daily\r\n\r\nGreat issue!\r\n")
    first = run(settings, tmp_path, "import", str(tmp_path / "inbox"))
    assert first.returncode == 0, first.stderr
    said = " ".join(first.stdout.split())
    assert "2 messages: 0 bounces" in said
    assert "1 unsubscribe requests (1 unsubscribed), 1 other; 1 changes" in said
    assert get_subscriber(settings, sid).state == SubscriberState.unsubscribed
    again = run(settings, tmp_path, "import", str(tmp_path / "inbox"))
    assert again.returncode == 0, again.stderr
    assert "0 changes" in " ".join(again.stdout.split())


def test_import_of_a_missing_mailbox_is_exit_2(settings: Settings, tmp_path: Path) -> None:
    r = run(settings, tmp_path, "import", str(tmp_path / "nowhere"))
    assert r.returncode == 2
    assert "no such Maildir, mbox or message file" in " ".join(r.stderr.split())
    assert "Traceback" not in r.stderr


def test_fetch_without_an_imap_url_is_exit_2(settings: Settings, tmp_path: Path) -> None:
    r = run(settings, tmp_path, "fetch")
    assert r.returncode == 2
    assert "DIGESTCAST_INBOX_IMAP_URL" in r.stderr
