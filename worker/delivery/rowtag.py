"""The signed tag that names one ledger row in every message we send (pure).

    digest-<D>.sub-<S>[.r<N>].<mac>

D is the digest id, S the subscriber id, N the resend number (absent for the first copy), and
mac 80 bits of HMAC-SHA256 over "D.S.N" with a key derived from SECRET_KEY, in hex (20
characters; base32 would be 4 shorter and double the time a tag takes to make). The Message-ID
is `<tag@domain>` (ledger.message_id); with VERP the envelope sender is `local+tag@domain`
(ledger.Senders), so a bounce that quotes neither our headers nor a standard report still
names its row by the address it was delivered to.

Why signed: a report from outside (a bounce, a complaint) changes the ledger only for the row
it proves it is about. Sequential ids can be guessed and another instance's ids (another
secret) look the same; a tag whose mac does not verify names nothing.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from functools import lru_cache

MAC_BYTES = 10  # 80 bits
_KEY_INFO = b"digestcast.row-tag.v1"
# a tag anywhere in a text (a Message-ID, an address, a bounce's body); case-insensitive
# because some relays lower-case local parts
TAG = re.compile(r"digest-(\d{1,12})\.sub-(\d{1,12})(?:\.r(\d{1,6}))?\.([0-9a-f]{20})", re.I)


@dataclass(frozen=True)
class RowRef:
    """A ledger row named by a verified tag."""

    digest_id: int
    subscriber_id: int
    resend: int = 0


@lru_cache(maxsize=8)
def _key(secret: str) -> bytes:
    # derived, so the tag key is never the secret that signs unsubscribe tokens itself
    return hmac.digest(secret.encode("utf-8"), _KEY_INFO, "sha256")


def _mac(secret: str, digest_id: int, subscriber_id: int, resend: int) -> str:
    mac = hmac.digest(_key(secret), f"{digest_id}.{subscriber_id}.{resend}".encode(), "sha256")
    return mac[:MAC_BYTES].hex()


def tag(secret: str, digest_id: int, subscriber_id: int, resend: int = 0) -> str:
    """The tag of row (digest, subscriber) for its `resend`-th copy (0: the first send)."""
    suffix = f".r{resend}" if resend else ""
    mac = _mac(secret, digest_id, subscriber_id, resend)
    return f"digest-{digest_id}.sub-{subscriber_id}{suffix}.{mac}"


def find(secret: str, text: str | None) -> list[RowRef]:
    """Every verified tag in `text`, in order, without repeats; forged or foreign ones (a
    wrong mac, another instance's secret) are not returned."""
    found: list[RowRef] = []
    for match in TAG.finditer(text or ""):
        digest_id, subscriber_id = int(match.group(1)), int(match.group(2))
        resend = int(match.group(3) or 0)
        if match.group(3) is not None and resend == 0:
            continue  # ".r0" is never written: not one of ours
        expected = _mac(secret, digest_id, subscriber_id, resend)
        if hmac.compare_digest(expected, match.group(4).lower()):
            ref = RowRef(digest_id, subscriber_id, resend)
            if ref not in found:
                found.append(ref)
    return found


def message_id(
    secret: str, domain: str, digest_id: int, subscriber_id: int, resend: int = 0
) -> str:
    return f"<{tag(secret, digest_id, subscriber_id, resend)}@{domain}>"


def tag_of(message_id_value: str) -> str:
    """The tag a `message_id` carries, unverified (`find` verifies)."""
    return message_id_value.strip("<>").partition("@")[0]


def verp_address(bounce_address: str, row_tag: str) -> str:
    """`bounces@example.org` -> `bounces+<tag>@example.org` (the relay's recipient delimiter
    must be `+`, Postfix's `recipient_delimiter = +`)."""
    local, at, domain = bounce_address.rpartition("@")
    if not at or not local:
        raise ValueError(f"not an address: {bounce_address!r}")
    return f"{local}+{row_tag}@{domain}"
