"""Signed, opaque tokens (itsdangerous) for unsubscribe links and double opt-in confirmation."""

from __future__ import annotations

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from worker.settings import Settings

UNSUBSCRIBE_SALT = "digestcast.unsubscribe.v1"
CONFIRM_SALT = "digestcast.confirm.v1"


class TokenError(ValueError):
    pass


def unsubscribe_token(settings: Settings, subscriber_id: int) -> str:
    """Never expires: an unsubscribe link in a year-old email must still work."""
    return URLSafeSerializer(settings.secret_key.get_secret_value(), salt=UNSUBSCRIBE_SALT).dumps(
        subscriber_id
    )


def read_unsubscribe_token(settings: Settings, token: str) -> int:
    try:
        value = URLSafeSerializer(
            settings.secret_key.get_secret_value(), salt=UNSUBSCRIBE_SALT
        ).loads(token)
    except BadSignature as exc:
        raise TokenError("invalid unsubscribe token") from exc
    if not isinstance(value, int):
        raise TokenError("invalid unsubscribe token")
    return value


def confirm_token(settings: Settings, email: str) -> str:
    return URLSafeTimedSerializer(settings.secret_key.get_secret_value(), salt=CONFIRM_SALT).dumps(
        email
    )


def read_confirm_token(settings: Settings, token: str, max_age_seconds: int = 3 * 86400) -> str:
    serializer = URLSafeTimedSerializer(settings.secret_key.get_secret_value(), salt=CONFIRM_SALT)
    try:
        value = serializer.loads(token, max_age=max_age_seconds)
    except SignatureExpired as exc:
        raise TokenError("confirmation link expired") from exc
    except BadSignature as exc:
        raise TokenError("invalid confirmation token") from exc
    if not isinstance(value, str):
        raise TokenError("invalid confirmation token")
    return value


def unsubscribe_url(settings: Settings, subscriber_id: int) -> str:
    return f"{settings.public_base_url.rstrip('/')}/u/{unsubscribe_token(settings, subscriber_id)}"
