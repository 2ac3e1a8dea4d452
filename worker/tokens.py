"""Signed, opaque tokens (itsdangerous) for unsubscribe links and double opt-in confirmation.

Both name a subscriber row by id together with a random nonce stored on that row, so a token
is only ever good for the row it was made for:

- unsubscribe/preferences: `<id>.<token_nonce>.<signature>`. The nonce is drawn when the row is
  created; a wiped person's row is gone, and whoever is added later under the same address (or,
  on SQLite, the same reused id) has a new nonce, so the old links address nobody. Rows created
  before migration 0004 have no nonce and keep their id-only (v1) links.
- confirmation: `<id>.<confirm_nonce>.<timestamp>.<signature>`, never the address. The nonce is
  set when a confirmation is mailed and cleared when it is used: a link confirms once.

Tokens verify against SECRET_KEY and every key in SECRET_KEY_FALLBACKS (rotation), and are
always signed with SECRET_KEY.
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from itsdangerous import (
    BadSignature,
    SignatureExpired,
    Signer,
    TimestampSigner,
    URLSafeSerializer,
)
from itsdangerous.encoding import base64_encode
from itsdangerous.signer import HMACAlgorithm

from worker.settings import Settings

UNSUBSCRIBE_SALT = "digestcast.unsubscribe.v1"  # id only: rows from before migration 0004
UNSUBSCRIBE_SALT_V2 = "digestcast.unsubscribe.v2"  # id and the row's token nonce
CONFIRM_SALT = "digestcast.confirm.v2"  # id and the row's confirmation nonce, timed
MAX_TOKEN_CHARS = 200  # ours are under 80; longer input is refused before any work
MAX_ID = 2**63 - 1  # the largest id a database column holds
_PAYLOAD = re.compile(r"([0-9]{1,19})\.([A-Za-z0-9_-]{8,64})", re.ASCII)


class TokenError(ValueError):
    pass


def secret_keys(settings: Settings) -> list[str]:
    """Oldest to newest, as itsdangerous wants them: it signs with the last one."""
    return [k.get_secret_value() for k in settings.secret_key_fallbacks] + [
        settings.secret_key.get_secret_value()
    ]


def new_nonce() -> str:
    return secrets.token_urlsafe(12)


def nonce_matches(expected: str | None, given: str | None) -> bool:
    if expected is None or given is None:
        return expected is None and given is None
    return hmac.compare_digest(expected.encode(), given.encode())


def _parse_payload(value: bytes) -> tuple[int, str]:
    found = _PAYLOAD.fullmatch(value.decode("ascii", errors="replace"))
    if found is None or int(found.group(1)) > MAX_ID:
        raise TokenError("invalid token payload")
    return int(found.group(1)), found.group(2)


# ---------------------------------------------------------------- unsubscribe / preferences
@dataclass(frozen=True)
class SubscriberRef:
    subscriber_id: int
    nonce: str | None  # None: a v1 token, good only for a row without a nonce


def _fast_signer(signer: Signer) -> Callable[[bytes], str]:
    """`signer.sign` with the key derived once (itsdangerous derives it on every call)."""
    key = signer.derive_key()
    algorithm = signer.algorithm
    if not isinstance(algorithm, HMACAlgorithm):  # pragma: no cover - itsdangerous' default
        raise TypeError(f"unexpected signing algorithm {algorithm!r}")
    digest_method = algorithm.digest_method

    def sign(value: bytes) -> str:
        # hmac.digest: the one-shot C path of what HMACAlgorithm.get_signature computes
        mac = hmac.digest(key, value, digest_method)
        return (value + signer.sep + base64_encode(mac)).decode("ascii")

    return sign


@lru_cache(maxsize=4)
def _unsubscribe_signer(secret: str) -> Callable[[int], str]:
    """v1: `URLSafeSerializer(secret, salt=UNSUBSCRIBE_SALT).dumps` for an int, byte for byte.

    One token is signed per message sent; through `dumps` that measured 29-90 us here (a new
    serializer, a JSON round, a zlib attempt and a key derivation each time), here under 10.
    An int's JSON is its decimal digits, too short to compress below nine digits (zlib's own
    overhead is eight bytes), so the payload is just those digits; longer ids go through
    `dumps`. tests/test_tokens.py checks the result equals `dumps` byte for byte.
    """
    serializer = URLSafeSerializer(secret, salt=UNSUBSCRIBE_SALT)
    sign_bytes = _fast_signer(serializer.make_signer())

    def sign(subscriber_id: int) -> str:
        digits = str(int(subscriber_id)).encode("ascii")
        if len(digits) > 9:  # itsdangerous may compress it: let it decide
            return serializer.dumps(subscriber_id)
        return sign_bytes(base64_encode(digits))

    return sign


@lru_cache(maxsize=4)
def _unsubscribe_signer_v2(secret: str) -> Callable[[bytes], str]:
    return _fast_signer(Signer(secret, salt=UNSUBSCRIBE_SALT_V2))


def unsubscribe_token(settings: Settings, subscriber_id: int, nonce: str | None) -> str:
    """Never expires: an unsubscribe link in a year-old email must still work.

    `nonce` is the row's `token_nonce`; None (rows from before migration 0004) makes a v1 token.
    """
    secret = settings.secret_key.get_secret_value()
    if nonce is None:
        return _unsubscribe_signer(secret)(subscriber_id)
    return _unsubscribe_signer_v2(secret)(f"{int(subscriber_id)}.{nonce}".encode("ascii"))


def read_unsubscribe_token(settings: Settings, token: str) -> SubscriberRef:
    if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise TokenError("invalid unsubscribe token")
    keys = secret_keys(settings)
    try:
        if token.count(".") == 2 and not token.startswith("."):  # "." leads compressed v1
            subscriber_id, nonce = _parse_payload(
                Signer(keys, salt=UNSUBSCRIBE_SALT_V2).unsign(token)
            )
            return SubscriberRef(subscriber_id, nonce)
        value = URLSafeSerializer(keys, salt=UNSUBSCRIBE_SALT).loads(token)
    except BadSignature as exc:
        raise TokenError("invalid unsubscribe token") from exc
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= MAX_ID:
        raise TokenError("invalid unsubscribe token")
    return SubscriberRef(value, None)


def unsubscribe_url(settings: Settings, subscriber_id: int, nonce: str | None) -> str:
    """Settings scoped to a newsletter (worker.newsletters.scoped) give that newsletter's own
    link, which leaves only it (web/leave.py); unscoped, the link leaves everything."""
    token = unsubscribe_token(settings, subscriber_id, nonce)
    url = f"{settings.public_base_url.rstrip('/')}/u/{token}"
    return f"{url}/{settings.newsletter_slug}" if settings.newsletter_slug else url


# ---------------------------------------------------------------- double opt-in
@dataclass(frozen=True)
class ConfirmRef:
    subscriber_id: int
    nonce: str
    issued_at: datetime


def confirm_token(settings: Settings, subscriber_id: int, nonce: str) -> str:
    signer = TimestampSigner(secret_keys(settings), salt=CONFIRM_SALT)
    return signer.sign(f"{int(subscriber_id)}.{nonce}").decode("ascii")


def read_confirm_token(settings: Settings, token: str, max_age_seconds: int) -> ConfirmRef:
    if not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
        raise TokenError("invalid confirmation token")
    signer = TimestampSigner(secret_keys(settings), salt=CONFIRM_SALT)
    try:
        value, issued_at = signer.unsign(token, max_age=max_age_seconds, return_timestamp=True)
    except SignatureExpired as exc:
        raise TokenError("confirmation link expired") from exc
    except BadSignature as exc:
        raise TokenError("invalid confirmation token") from exc
    subscriber_id, nonce = _parse_payload(value)
    return ConfirmRef(subscriber_id, nonce, issued_at)
