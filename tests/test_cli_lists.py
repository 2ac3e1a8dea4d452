"""`digestcast subscribers add|list|remove` as ops see them: readable lines, and states that say
truthfully who is not mailed and why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.delivery.test_bounces import cli_env
from worker import db
from worker.delivery import subscribers
from worker.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def run(settings: Settings, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env=cli_env(settings, tmp_path),
        capture_output=True,
        text=True,
        cwd=REPO,
    )


def test_add_list_and_remove(settings: Settings, tmp_path: Path) -> None:
    with db.session_scope(settings) as session:
        subscribers.add(session, "bounced@example.org")
        subscribers.suppress(session, "bounced@example.org", "bounce 5.1.1 unknown user")
        subscribers.add(session, "complained@example.org")
        subscribers.suppress(session, "complained@example.org", "complaint abuse (Yahoo)")
    added = run(settings, tmp_path, "subscribers", "add", "Olena@Example.org", "--name", "Olena")
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "olena@example.org (Olena): added, active"
    again = run(settings, tmp_path, "subscribers", "add", "bounced@example.org")
    assert again.stdout.strip() == (
        "bounced@example.org: already on the list (was active), suppressed (bounced)"
    )
    assert "not mailed: bounce 5.1.1 unknown user" in again.stderr
    bad = run(settings, tmp_path, "subscribers", "add", "not-an-address")
    assert bad.returncode == 1 and "not-an-address" in bad.stderr and "Traceback" not in bad.stderr
    removed = run(settings, tmp_path, "subscribers", "remove", "olena@example.org")
    assert removed.returncode == 0
    listed = run(settings, tmp_path, "subscribers", "list")
    assert listed.returncode == 0, listed.stderr
    lines = {line.split("│")[1].strip(): line for line in listed.stdout.splitlines() if "@" in line}
    assert "suppressed (bounced)" in lines["bounced@example.org"]
    assert "suppressed (complaint)" in lines["complained@example.org"]
    assert "unsubscribed" in lines["olena@example.org"]
    assert "removed by ops" in lines["olena@example.org"]
    assert "<worker.models" not in added.stdout + listed.stdout
