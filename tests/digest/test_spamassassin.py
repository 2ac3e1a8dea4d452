"""The sample digest through SpamAssassin (Debian's `spamassassin`, local tests only: -L, no
network, no DNS lists): it must score at or below 0 and trip no HTML colour rule.

Skips with the reason when spamassassin is missing; CI (.ci/run installs it) fails instead.
"""

from __future__ import annotations

import email
import re
import shutil
import subprocess
from email import policy
from pathlib import Path

from sqlalchemy.orm import Session

from tests.conftest import unavailable
from tests.digest.conftest import Factory
from tests.digest.helpers import sample_message
from worker.settings import Settings
from worker.storage import LocalStorage


def spamassassin(raw: bytes, home: Path) -> tuple[float, list[str]]:
    """(score, rule names hit) of `raw` with the local rules only."""
    binary = shutil.which("spamassassin")
    if binary is None:
        unavailable("spamassassin not installed (apt-get install spamassassin)")
    home.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [binary, "-L", "-t", "--siteconfigpath=/etc/spamassassin"],
        input=raw,
        capture_output=True,
        timeout=120,
        env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
        check=False,
    )
    # -t exits with 1 when the message is spam; the report is on stdout either way
    out = result.stdout.decode("utf-8", "replace")
    status = re.search(r"X-Spam-Status: (?:Yes|No), score=(-?[\d.]+)[^\n]*", out)
    assert status is not None, result.stderr.decode()[-2000:]
    tests = re.search(r"tests=([^\n]*(?:\n\t[^\n]*)*)", out)
    names = re.findall(r"[A-Z_0-9]{3,}", tests.group(1)) if tests else []
    return float(status.group(1)), names


def test_the_sample_digest_scores_at_most_zero(
    session: Session,
    settings: Settings,
    storage: LocalStorage,
    factory: Factory,
    tmp_path: Path,
) -> None:
    raw = sample_message(session, settings, storage, factory)
    assert email.message_from_bytes(raw, policy=policy.default)["To"] is not None
    score, rules = spamassassin(raw, tmp_path / "sa-home")
    assert "HTML_FONT_LOW_CONTRAST" not in rules, rules
    print(f"spamassassin: {score} {rules}")
    assert score <= 0, (score, rules)
