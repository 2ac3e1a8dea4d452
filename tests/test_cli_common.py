"""worker/cli_common.py: what every `digestcast` command shares: the --date option, the secret
guard, settings per newsletter."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
import typer
from pydantic import SecretStr

from worker.cli_common import load_settings, parse_day, require_secret
from worker.settings import DEFAULT_SECRET_KEY, Settings, get_settings


def test_parse_day_reads_iso_days(settings: Settings) -> None:
    assert parse_day(settings, "2026-11-27") == date(2026, 11, 27)


def test_parse_day_defaults_to_today_in_the_newsroom(settings: Settings) -> None:
    before = datetime.now(settings.tz).date()
    today = parse_day(settings, None)
    assert before <= today <= datetime.now(settings.tz).date()


@pytest.mark.parametrize("value", ["27.11.2026", "2026-02-30", "tomorrow", ""])
def test_parse_day_refuses_anything_else_with_exit_2(settings: Settings, value: str) -> None:
    with pytest.raises(typer.Exit) as raised:
        parse_day(settings, value)
    assert raised.value.exit_code == 2


def test_require_secret_refuses_the_default_key_on_a_public_site(settings: Settings) -> None:
    public = settings.model_copy(update={"secret_key": SecretStr(DEFAULT_SECRET_KEY)})
    with pytest.raises(typer.Exit) as raised:
        require_secret(public)
    assert raised.value.exit_code == 2
    require_secret(settings)  # the tests' strong key passes
    local = public.model_copy(update={"public_base_url": "http://127.0.0.1:8000"})
    require_secret(local)  # links that reach no one need no strong key


@pytest.fixture
def fresh_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """get_settings() read again from this test's environment (it is cached per process)."""
    monkeypatch.setenv("DIGESTCAST_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("DIGESTCAST_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_load_settings_refuses_an_unknown_newsletter(fresh_settings: None) -> None:
    with pytest.raises(typer.Exit) as raised:
        load_settings("no-such-newsletter")
    assert raised.value.exit_code == 2
