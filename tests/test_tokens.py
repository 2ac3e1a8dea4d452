"""Signed tokens: valid ones round-trip, tampered or foreign ones are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import make_settings
from worker import tokens


def test_unsubscribe_token_round_trip_and_tamper(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    token = tokens.unsubscribe_token(settings, 42)
    assert tokens.read_unsubscribe_token(settings, token) == 42
    with pytest.raises(tokens.TokenError):
        tokens.read_unsubscribe_token(
            settings, token[:-2] + ("A" if token[-1] != "A" else "B") + "x"
        )
    other = make_settings(tmp_path, secret_key="another-deployment")
    with pytest.raises(tokens.TokenError):
        tokens.read_unsubscribe_token(other, token)
    assert tokens.unsubscribe_url(settings, 42) == f"https://daily.example.org/u/{token}"


def test_confirm_token_is_not_an_unsubscribe_token(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    confirm = tokens.confirm_token(settings, "reader@example.org")
    assert tokens.read_confirm_token(settings, confirm) == "reader@example.org"
    with pytest.raises(tokens.TokenError):
        tokens.read_unsubscribe_token(settings, confirm)


def test_confirm_token_expires(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    confirm = tokens.confirm_token(settings, "reader@example.org")
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.read_confirm_token(settings, confirm, max_age_seconds=-1)
