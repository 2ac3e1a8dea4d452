"""Per-recipient headers: To folded into short encoded words, addresses on the wire, and the
List-Unsubscribe mailto only when a mailbox is read for it."""

from __future__ import annotations

import base64
import email
import re
from email import policy
from email.header import decode_header, make_header

import pytest
from pydantic import SecretStr
from sqlalchemy.orm import Session

from tests.digest.conftest import DAY, Factory, sample_day
from worker.digest.build import build_digest
from worker.digest.headers import (
    MessageError,
    address_for_header,
    encoded_words,
    to_header,
    unsubscribe_mailto,
)
from worker.digest.message import Recipient, build_message_template
from worker.settings import Settings
from worker.storage import LocalStorage
from worker.tokens import unsubscribe_url

LONG_NAME = (
    "Олександра-Вікторія Костянтинівна Щербаківська з Дніпропетровщини, Придніпровська громада"
)


def test_a_long_cyrillic_name_becomes_short_encoded_words_one_per_line() -> None:
    words = encoded_words(LONG_NAME)
    assert len(words) > 3 and all(len(w) <= 75 for w in words)
    value = to_header(LONG_NAME, "olena@example.org")
    lines = f"To: {value}".split("\r\n")
    assert all(len(line) <= 76 for line in lines), [len(line) for line in lines]
    assert all(line.startswith(" ") for line in lines[1:])  # folded, never a bare line
    # an RFC 2047 decoder (the folding whitespace between encoded words is not text)
    phrase, address = value.rsplit("\r\n ", 1)
    assert str(make_header(decode_header(phrase))) == LONG_NAME
    assert address == "<olena@example.org>"
    # words break at spaces, so a decoder that shows the folding (Python's address parser
    # does) still never splits a word
    assert all(base64.b64decode(w[10:-2]).decode().endswith(" ") for w in words[:-1])
    parsed = email.message_from_string(f"To: {value}\r\n\r\n", policy=policy.default)
    (shown,) = parsed["To"].addresses
    assert " ".join(shown.display_name.split()) == LONG_NAME
    assert shown.addr_spec == "olena@example.org"
    # a name with no spaces at all still never splits a character
    unbroken = "Щ" * 100
    assert str(make_header(decode_header(" ".join(encoded_words(unbroken))))) == unbroken


def test_ascii_names_are_quoted_when_they_need_it() -> None:
    assert to_header("Olena", "o@example.org") == "Olena <o@example.org>"
    assert to_header('Kovalenko, Olena "Lena"', "o@example.org") == (
        '"Kovalenko, Olena \\"Lena\\"" <o@example.org>'
    )
    assert to_header("", "o@example.org") == "o@example.org"


def test_addresses_in_headers() -> None:
    assert address_for_header(" ivan@приклад.укр ") == "ivan@xn--80aikifvh.xn--j1amh"
    assert address_for_header("олена@example.net") == "олена@example.net"  # RFC 6532
    for bad in ("no-at-sign", "a b@example.org", "a@exa mple.org", "<a@example.org>"):
        with pytest.raises(MessageError):
            address_for_header(bad)


def test_the_mailto_is_advertised_only_when_a_mailbox_is_read(settings: Settings) -> None:
    assert unsubscribe_mailto(settings) is None
    explicit = settings.model_copy(update={"unsubscribe_mailto": "leave@example.org"})
    assert unsubscribe_mailto(explicit) == "leave@example.org"
    imap = SecretStr("imaps://unsubscribe%40lists.example.org:pw@imap.example.org/INBOX")
    assert (
        unsubscribe_mailto(settings.model_copy(update={"inbox_imap_url": imap}))
        == "unsubscribe@lists.example.org"
    )
    plain_user = SecretStr("imaps://digestcast:pw@imap.example.org/INBOX")
    assert (
        unsubscribe_mailto(settings.model_copy(update={"inbox_imap_url": plain_user}))
        == "unsubscribe@example.org"
    )


def test_the_message_carries_the_folded_to_and_the_configured_mailto(
    session: Session, settings: Settings, storage: LocalStorage, factory: Factory
) -> None:
    sample_day(factory)
    digest = build_digest(session, settings, storage, DAY)
    s = settings.model_copy(update={"unsubscribe_mailto": "unsubscribe@example.org"})
    raw = build_message_template(session, s, storage, digest.id).personalize(
        Recipient(
            subscriber_id=5,
            email="olena@example.org",
            name=LONG_NAME,
            message_id="<digest-1.sub-5.0123456789abcdef0123@example.org>",
            unsubscribe_url=unsubscribe_url(s, 5, None),
        )
    )
    head = raw.split(b"\r\n\r\n", 1)[0].decode("ascii")
    to = re.search(r"^To: .*?(?=\r\n\S)", head, re.S | re.M)
    assert to is not None and all(len(line) <= 76 for line in to.group(0).split("\r\n"))
    message = email.message_from_bytes(raw, policy=policy.default)
    shown = " ".join(message["To"].addresses[0].display_name.split())
    assert shown == LONG_NAME[:80]  # names are cut at 80 characters
    https, mailto = re.findall(r"<([^>]+)>", str(message["List-Unsubscribe"]))
    token = https.rsplit("/", 1)[1]
    assert mailto == f"mailto:unsubscribe@example.org?subject=unsubscribe-{token}"
    # one newsletter's message: its mailto leaves that newsletter, as its URL does
    scoped = s.model_copy(update={"newsletter_slug": "ukrainian"})
    one = build_message_template(session, scoped, storage, digest.id).personalize(
        Recipient(
            subscriber_id=5,
            email="olena@example.org",
            name="Olena",
            message_id="<digest-1.sub-5.0123456789abcdef0123@example.org>",
            unsubscribe_url=unsubscribe_url(scoped, 5, None),
        )
    )
    leave = email.message_from_bytes(one, policy=policy.default)["List-Unsubscribe"]
    https, mailto = re.findall(r"<([^>]+)>", str(leave))
    assert https.endswith(f"/u/{token}/ukrainian")
    assert mailto == f"mailto:unsubscribe@example.org?subject=unsubscribe-{token}/ukrainian"
