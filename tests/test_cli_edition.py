"""`digestcast pause|resume|cancel|approve --date D` as ops see them: a refusal is one line and
exit 1, and the commands that send mail (resume, approve) first refuse a weak secret."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.delivery.test_bounces import cli_env
from worker.settings import Settings

REPO = Path(__file__).resolve().parent.parent


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


@pytest.mark.parametrize("action", ["pause", "resume", "cancel", "approve"])
def test_an_edition_nobody_built_is_refused_in_one_line(
    settings: Settings, tmp_path: Path, action: str
) -> None:
    proc = run(cli_env(settings, tmp_path), action, "--date", "2026-11-27", "--reason", "test")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"digest 2026-11-27: {action} refused: it is not built yet" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(("action", "checks_secret"), [("pause", False), ("resume", True)])
def test_only_the_commands_that_send_refuse_a_weak_secret(
    settings: Settings, tmp_path: Path, action: str, checks_secret: bool
) -> None:
    env = cli_env(settings, tmp_path)
    env.update(DIGESTCAST_SECRET_KEY="short", DIGESTCAST_SMTP_URL="smtp://127.0.0.1:1")
    proc = run(env, action, "--date", "2026-11-27")
    if checks_secret:
        assert proc.returncode == 2 and "refusing to start" in proc.stderr, proc.stderr
    else:  # pausing sends nothing: it goes on to the lifecycle, which refuses the empty day
        assert proc.returncode == 1 and "pause refused: it is not built" in proc.stderr, proc.stderr
