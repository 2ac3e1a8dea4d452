"""worker/cli_ops.py: `digestcast ops-user add|list|reset|remove`, the console's accounts as
ops manage them from a shell: readable lines, audited changes, exit 1 for what cannot be done."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import select

from tests.delivery.test_bounces import cli_env
from worker import db
from worker.ops.models import OpsAudit, OpsUser
from worker.settings import Settings

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "correct horse battery staple"


def run(
    settings: Settings, tmp_path: Path, *args: str, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "worker", "ops-user", *args],
        env=cli_env(settings, tmp_path),
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
    )


def test_add_list_reset_and_remove(settings: Settings, tmp_path: Path) -> None:
    added = run(
        settings, tmp_path, "add", "Ed@Example.org", "--role", "editor", "--password-stdin",
        stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "ed@example.org: editor account created"
    listed = run(settings, tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    (row,) = [line for line in listed.stdout.splitlines() if "ed@example.org" in line]
    assert "editor" in row and "set" in row and "never" in row
    assert "1 accounts" in listed.stdout
    reset = run(settings, tmp_path, "reset", "ed@example.org", "--role", "operator", "--link")
    assert reset.returncode == 0, reset.stderr
    said = " ".join(reset.stdout.split())
    assert "ed@example.org: operator, password reset, sessions ended, unlocked" in said
    assert "set-password link (once," in said and "/ops/set-password/" in said
    removed = run(settings, tmp_path, "remove", "ed@example.org")
    assert removed.returncode == 0, removed.stderr
    assert "removed, its sessions ended" in removed.stdout
    with db.session_scope(settings) as session:
        assert session.scalars(select(OpsUser)).all() == []
        actions = [a.action for a in session.scalars(select(OpsAudit).order_by(OpsAudit.id))]
        actors = {a.actor for a in session.scalars(select(OpsAudit))}
    assert actions == ["ops-user-add", "ops-user-reset", "ops-user-remove"]
    assert all(actor.startswith("cli:") for actor in actors)


def test_what_cannot_be_done_is_exit_1_without_a_traceback(
    settings: Settings, tmp_path: Path
) -> None:
    for args, stdin in (
        (("remove", "nobody@example.org"), ""),
        (("add", "x@example.org", "--role", "overlord", "--password-stdin"), PASSWORD + "\n"),
        (("add", "x@example.org", "--password-stdin"), "short\n"),
    ):
        r = run(settings, tmp_path, *args, stdin=stdin)
        assert r.returncode == 1, (args, r.stdout, r.stderr)
        assert "Traceback" not in r.stderr
    with db.session_scope(settings) as session:
        assert session.scalars(select(OpsUser)).all() == []
