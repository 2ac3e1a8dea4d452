"""Settings: defaults, environment, the TOML file, and every key documented in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from worker.settings import GOOGLE_BATCHEXECUTE, Settings

README = Path(__file__).resolve().parent.parent / "README.md"


def test_defaults_are_the_embedded_mode(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in list(__import__("os").environ):
        if name.startswith("DIGESTCAST_"):
            monkeypatch.delenv(name)
    s = Settings()
    assert s.embedded
    assert s.database_url.startswith("sqlite:///var/")
    assert s.gtts_endpoint == GOOGLE_BATCHEXECUTE
    assert s.timezone == "Europe/Kyiv"
    assert s.send_time.strftime("%H:%M") == "07:00"


def test_environment_and_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "digestcast.toml"
    config.write_text('newsletter_name = "From TOML"\nsend_time = "06:30"\n', encoding="utf-8")
    monkeypatch.setenv("DIGESTCAST_CONFIG", str(config))
    monkeypatch.setenv("DIGESTCAST_SEND_TIME", "07:15")
    s = Settings()
    assert s.newsletter_name == "From TOML"
    assert s.send_time.strftime("%H:%M") == "07:15"  # environment wins over the file


def test_unknown_timezone_is_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        Settings(timezone="Europe/Atlantis")


def test_every_setting_is_in_the_readme_table() -> None:
    text = README.read_text(encoding="utf-8")
    documented = set(re.findall(r"`(DIGESTCAST_[A-Z0-9_]+)`", text))
    expected = {f"DIGESTCAST_{name.upper()}" for name in Settings.model_fields}
    assert expected - documented == set(), "settings missing from the README table"
    assert documented - expected - {"DIGESTCAST_CONFIG"} == set(), "README documents unknown keys"
