"""The on/off switches of a server URL's query (`?starttls=1&verify=0`), read one way for
SMTP_URL and INBOX_IMAP_URL.

An unknown value is refused, not read as "off": `verify=ture` must not turn certificate checks
off without a word.
"""

from __future__ import annotations

from urllib.parse import parse_qs

YES = ("1", "true", "yes", "on")
NO = ("0", "false", "no", "off")


def query_of(query: str) -> dict[str, str]:
    """The last value of each name (`a=1&a=0` reads 0, as a later setting overrides)."""
    return {name: values[-1] for name, values in parse_qs(query).items()}


def flag(query: dict[str, str], name: str, default: bool) -> bool:
    """`name`'s switch, or `default` when absent; ValueError when it is neither on nor off."""
    value = query.get(name)
    if value is None:
        return default
    if value.lower() not in YES + NO:
        raise ValueError(f"{name}={value!r} is not one of 1/0, true/false, yes/no, on/off")
    return value.lower() in YES
