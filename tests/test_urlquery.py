"""The on/off switches of SMTP_URL and INBOX_IMAP_URL (worker/urlquery.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.conftest import make_settings
from worker.delivery.smtp import SmtpConfig
from worker.urlquery import flag, query_of


@pytest.mark.parametrize(
    ("query", "expected"),
    [("", True), ("verify=0", False), ("verify=OFF", False), ("verify=yes", True)],
)
def test_known_values(query: str, expected: bool) -> None:
    assert flag(query_of(query), "verify", True) is expected


def test_the_last_value_wins() -> None:
    assert flag(query_of("verify=1&verify=0"), "verify", True) is False


@pytest.mark.parametrize("value", ["ture", "", "2", "disable"])
def test_an_unknown_value_is_refused_not_read_as_off(value: str) -> None:
    with pytest.raises(ValueError, match="verify="):
        flag({"verify": value}, "verify", True)


def test_smtp_url_with_a_typo_is_refused_at_start_up(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="verify="):
        make_settings(tmp_path, smtp_url="smtps://relay.example.org?verify=ture")
    with pytest.raises(ValidationError, match=r"[Pp]ort"):
        make_settings(tmp_path, smtp_url="smtp://relay.example.org:99999")
    with pytest.raises(ValidationError, match="smtp://"):
        make_settings(tmp_path, smtp_url="http://relay.example.org")
    ok = make_settings(tmp_path, smtp_url="smtp://relay.example.org:2525?starttls=1&verify=0")
    config = SmtpConfig.from_url(str(ok.smtp_url))
    assert (config.port, config.starttls, config.verify) == (2525, True, False)
