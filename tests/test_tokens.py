"""Signed tokens: valid ones round-trip, tampered or foreign ones are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer

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


@given(
    subscriber_id=st.one_of(st.integers(0, 10**10), st.integers(0, 2**63)),
    secret=st.text(min_size=16, max_size=64),
)
@hypothesis_settings(max_examples=200, deadline=None)
def test_unsubscribe_token_is_exactly_what_itsdangerous_dumps(
    subscriber_id: int, secret: str
) -> None:
    """The fast signer (key derived once) must keep every link ever sent working."""
    expected = URLSafeSerializer(secret, salt=tokens.UNSUBSCRIBE_SALT).dumps(subscriber_id)
    assert tokens._unsubscribe_signer(secret)(subscriber_id) == expected
