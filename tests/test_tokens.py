"""Signed tokens: valid ones round-trip, tampered or foreign ones are refused, keys rotate."""

from __future__ import annotations

import time
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from itsdangerous import Signer, URLSafeSerializer
from pydantic import SecretStr

from tests.conftest import TEST_SECRET, make_settings
from worker import tokens

NONCE = "AbCdEfGh12345678"
OTHER_KEY = "another-deployment-0123456789abcdefghij"


def test_unsubscribe_token_round_trip_and_tamper(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    token = tokens.unsubscribe_token(settings, 42, NONCE)
    assert tokens.read_unsubscribe_token(settings, token) == tokens.SubscriberRef(42, NONCE)
    with pytest.raises(tokens.TokenError):
        tokens.read_unsubscribe_token(
            settings, token[:-2] + ("A" if token[-1] != "A" else "B") + "x"
        )
    # another nonce in the payload: the signature no longer matches
    forged = token.replace(NONCE, "ZZZZZZZZ12345678")
    with pytest.raises(tokens.TokenError):
        tokens.read_unsubscribe_token(settings, forged)
    other = make_settings(tmp_path, secret_key=OTHER_KEY)
    with pytest.raises(tokens.TokenError):
        tokens.read_unsubscribe_token(other, token)
    url = tokens.unsubscribe_url(settings, 42, NONCE)
    assert url == f"https://daily.example.org/u/{token}"


def test_rows_from_before_the_nonce_keep_their_links(tmp_path: Path) -> None:
    """Links mailed before migration 0004 were id-only (v1): they still verify, as v1."""
    settings = make_settings(tmp_path)
    legacy = URLSafeSerializer(TEST_SECRET, salt=tokens.UNSUBSCRIBE_SALT).dumps(42)
    assert tokens.read_unsubscribe_token(settings, legacy) == tokens.SubscriberRef(42, None)
    assert tokens.unsubscribe_token(settings, 42, None) == legacy
    for bad in (0, -1, 2**63, True, "42"):
        forged = URLSafeSerializer(TEST_SECRET, salt=tokens.UNSUBSCRIBE_SALT).dumps(bad)
        with pytest.raises(tokens.TokenError):
            tokens.read_unsubscribe_token(settings, forged)


def test_key_rotation_keeps_mailed_links(tmp_path: Path) -> None:
    old = make_settings(tmp_path, secret_key=OTHER_KEY)
    mailed = tokens.unsubscribe_token(old, 7, NONCE)
    confirm = tokens.confirm_token(old, 7, NONCE)
    rotated = make_settings(tmp_path, secret_key_fallbacks=[SecretStr(OTHER_KEY)])
    assert tokens.read_unsubscribe_token(rotated, mailed).subscriber_id == 7
    assert tokens.read_confirm_token(rotated, confirm, 3600).subscriber_id == 7
    # new links are signed with the new key only
    fresh = tokens.unsubscribe_token(rotated, 7, NONCE)
    assert fresh != mailed
    with pytest.raises(tokens.TokenError):
        tokens.read_unsubscribe_token(old, fresh)
    # once the old key is dropped, its links stop working
    dropped = make_settings(tmp_path)
    with pytest.raises(tokens.TokenError):
        tokens.read_unsubscribe_token(dropped, mailed)


def test_fallbacks_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from worker.settings import Settings

    monkeypatch.setenv("DIGESTCAST_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("DIGESTCAST_SECRET_KEY_FALLBACKS", "one-key, two-key")
    assert [k.get_secret_value() for k in Settings().secret_key_fallbacks] == [
        "one-key",
        "two-key",
    ]
    monkeypatch.setenv("DIGESTCAST_SECRET_KEY_FALLBACKS", '["a,b", "c"]')
    assert [k.get_secret_value() for k in Settings().secret_key_fallbacks] == ["a,b", "c"]


def test_confirm_token_names_a_row_not_an_address(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    confirm = tokens.confirm_token(settings, 5, NONCE)
    ref = tokens.read_confirm_token(settings, confirm, 3600)
    assert (ref.subscriber_id, ref.nonce) == (5, NONCE)
    assert abs(ref.issued_at.timestamp() - time.time()) < 5
    assert "@" not in confirm
    with pytest.raises(tokens.TokenError):
        tokens.read_unsubscribe_token(settings, confirm)
    with pytest.raises(tokens.TokenError):
        tokens.read_confirm_token(settings, tokens.unsubscribe_token(settings, 5, NONCE), 3600)


def test_confirm_token_expires(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with mock.patch("time.time", return_value=time.time() - 7200):
        confirm = tokens.confirm_token(settings, 5, NONCE)
    with pytest.raises(tokens.TokenError, match="expired"):
        tokens.read_confirm_token(settings, confirm, max_age_seconds=3600)


@pytest.mark.parametrize("bad", ["", "x" * 500, "１.２.３", "1.NONCE.sig", "..", "é.é.é"])
def test_odd_tokens_are_refused(tmp_path: Path, bad: str) -> None:
    settings = make_settings(tmp_path)
    with pytest.raises(tokens.TokenError):
        tokens.read_unsubscribe_token(settings, bad)
    with pytest.raises(tokens.TokenError):
        tokens.read_confirm_token(settings, bad, 3600)


@given(
    subscriber_id=st.one_of(st.integers(0, 10**10), st.integers(0, 2**63)),
    secret=st.text(min_size=16, max_size=64),
)
@hypothesis_settings(max_examples=200, deadline=None)
def test_unsubscribe_token_is_exactly_what_itsdangerous_dumps(
    subscriber_id: int, secret: str
) -> None:
    """The fast v1 signer (key derived once) must keep every link ever sent working."""
    expected = URLSafeSerializer(secret, salt=tokens.UNSUBSCRIBE_SALT).dumps(subscriber_id)
    assert tokens._unsubscribe_signer(secret)(subscriber_id) == expected


@given(
    subscriber_id=st.integers(1, 2**63 - 1),
    nonce=st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_", min_size=8),
    secret=st.text(min_size=32, max_size=64),
)
@hypothesis_settings(max_examples=200, deadline=None)
def test_v2_token_is_exactly_what_itsdangerous_signs(
    subscriber_id: int, nonce: str, secret: str
) -> None:
    value = f"{subscriber_id}.{nonce}".encode()
    expected = Signer(secret, salt=tokens.UNSUBSCRIBE_SALT_V2).sign(value).decode()
    assert tokens._unsubscribe_signer_v2(secret)(value) == expected
