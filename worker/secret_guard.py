"""The start-up check on SECRET_KEY: production never runs on the documented default.

Every token we mail (unsubscribe, preferences, double opt-in) and every CSRF cookie is signed
with SECRET_KEY; whoever knows it can unsubscribe anybody or confirm an address that never
asked. A deployment that can reach people (a public `PUBLIC_BASE_URL` or an SMTP relay) must
therefore have a key of its own: `web`, `worker`, `beat`, `run` and `send` refuse to start
without one. The embedded default (loopback URL, Maildir outbox) needs none, so `make run`
works out of the box.
"""

from __future__ import annotations

import ipaddress
import secrets
from urllib.parse import urlsplit

from pydantic import SecretStr

from worker.settings import DEFAULT_SECRET_KEY, Settings

MIN_SECRET_BYTES = 32
HOW_TO = (
    "Set DIGESTCAST_SECRET_KEY to at least 32 random bytes: `digestcast secret` prints a fresh "
    "one (keep the old key in DIGESTCAST_SECRET_KEY_FALLBACKS so mailed links keep working)."
)


class WeakSecretError(RuntimeError):
    pass


def new_secret() -> str:
    """48 random bytes, URL-safe base64 (64 characters)."""
    return secrets.token_urlsafe(48)


def _loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def reaches_people(settings: Settings) -> bool:
    """True when links go out beyond this machine: a public base URL or an SMTP relay."""
    host = urlsplit(settings.public_base_url.strip()).hostname or ""
    return bool(settings.smtp_url) or not _loopback(host)


def _problem(name: str, key: SecretStr) -> str | None:
    value = key.get_secret_value()
    if not value:
        return f"{name} is unset"
    if value == DEFAULT_SECRET_KEY:
        return f"{name} is the documented default {DEFAULT_SECRET_KEY!r}"
    size = len(value.encode("utf-8"))
    if size < MIN_SECRET_BYTES:
        return f"{name} is only {size} bytes long"
    return None


def weak_secret(settings: Settings) -> str | None:
    """Why the keys are not fit for a deployment that reaches people, or None.

    A fallback key verifies tokens as well as the main key does, so it gets the same check."""
    if not reaches_people(settings):
        return None
    problems = [_problem("DIGESTCAST_SECRET_KEY", settings.secret_key)]
    problems += [
        _problem(f"DIGESTCAST_SECRET_KEY_FALLBACKS[{i}]", key)
        for i, key in enumerate(settings.secret_key_fallbacks)
    ]
    found = [p for p in problems if p]
    if not found:
        return None
    return (
        "; ".join(found)
        + f" while PUBLIC_BASE_URL is {settings.public_base_url!r}"
        + (" and SMTP_URL is set" if settings.smtp_url else "")
        + ": anyone could sign unsubscribe and confirmation links. "
        + HOW_TO
    )


def require_strong_secret(settings: Settings) -> None:
    problem = weak_secret(settings)
    if problem:
        raise WeakSecretError(problem)
