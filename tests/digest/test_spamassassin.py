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

import pytest
from sqlalchemy.orm import Session

from tests.conftest import unavailable
from tests.digest.conftest import DAY, Factory, sample_day
from worker.digest.message import Recipient, build_message_template
from worker.digest.service import build_digest
from worker.settings import Settings
from worker.storage import LocalStorage
from worker.tokens import unsubscribe_url

pytestmark = pytest.mark.usefixtures("fixed_briefing")


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
    sample_day(factory)
    digest = build_digest(session, settings, storage, DAY)
    raw = build_message_template(session, settings, storage, digest.id).personalize(
        Recipient(
            subscriber_id=3,
            email="olena.reader@example.org",
            name="Olena Kovalenko",
            message_id="<digest-1.sub-3.0123456789abcdef0123@example.org>",
            unsubscribe_url=unsubscribe_url(settings, 3),
        )
    )
    assert email.message_from_bytes(raw, policy=policy.default)["To"] is not None
    score, rules = spamassassin(raw, tmp_path / "sa-home")
    assert "HTML_FONT_LOW_CONTRAST" not in rules, rules
    print(f"spamassassin: {score} {rules}")
    assert score <= 0, (score, rules)
