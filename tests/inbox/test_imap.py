"""worker/inbox/imap.py, its pure parts: INBOX_IMAP_URL read into a config, quoting, and the
errors before any server is asked (the fetch itself runs against Dovecot in
test_imap_dovecot.py)."""

from __future__ import annotations

import pytest

from tests.conftest import free_port
from worker.inbox import imap
from worker.inbox.imap import ImapConfig, ImapError
from worker.settings import Settings


def test_imap_defaults() -> None:
    config = ImapConfig.from_url("imap://reader:secret@mail.example.org")
    assert config == ImapConfig(
        host="mail.example.org",
        port=143,
        user="reader",
        password="secret",
        mailbox="INBOX",
        implicit_tls=False,
        starttls=False,
        verify=True,
        timeout=30.0,
    )


def test_imaps_is_implicit_tls_on_993_and_never_starttls_too() -> None:
    config = ImapConfig.from_url("imaps://u:p@mail.example.org?starttls=1")
    assert (config.port, config.implicit_tls, config.starttls) == (993, True, False)


def test_mailbox_and_credentials_are_unquoted() -> None:
    config = ImapConfig.from_url("imap://u%20x:p%2Fw%3A@h/Junk%20Mail")
    assert (config.user, config.password, config.mailbox) == ("u x", "p/w:", "Junk Mail")


def test_no_password_is_an_empty_one() -> None:
    assert ImapConfig.from_url("imaps://u@h").password == ""


@pytest.mark.parametrize(
    ("query", "starttls", "verify"),
    [
        ("", False, True),
        ("?starttls=1", True, True),
        ("?starttls=TRUE&verify=no", True, False),
        ("?starttls=yes&verify=on", True, True),
        ("?starttls=0&verify=false", False, False),
        ("?verify=1&verify=0", False, False),  # a repeated key: the last one counts
    ],
)
def test_flags(query: str, starttls: bool, verify: bool) -> None:
    config = ImapConfig.from_url(f"imap://u:p@h{query}")
    assert (config.starttls, config.verify) == (starttls, verify)


def test_timeout_from_the_url_else_the_settings() -> None:
    assert ImapConfig.from_url("imap://u:p@h?timeout=2.5", timeout=9).timeout == 2.5
    assert ImapConfig.from_url("imap://u:p@h", timeout=9).timeout == 9.0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("pop3://u:p@h", "must start with imap:// or imaps://, not 'pop3'"),
        ("h/INBOX", "must start with imap:// or imaps://, not ''"),
        ("imaps://h/INBOX", "needs a user name"),
        ("imaps://:p@h/INBOX", "needs a user name"),
    ],
)
def test_a_wrong_url_is_a_clear_error(url: str, message: str) -> None:
    with pytest.raises(ImapError, match=message):
        ImapConfig.from_url(url)


@pytest.mark.parametrize(
    "url",
    ["imap://u:p@h:99999/INBOX", "imap://u:p@h:abc/INBOX", "imap://u:p@h?timeout=abc"],
)
def test_a_bad_number_in_the_url_is_a_clear_error(url: str) -> None:
    with pytest.raises(ImapError):
        ImapConfig.from_url(url)


def test_an_unknown_flag_value_is_refused_not_read_as_off() -> None:
    with pytest.raises(ImapError):
        ImapConfig.from_url("imaps://u:p@h?verify=ture")


@pytest.mark.parametrize(
    ("user", "address"),
    [
        ("bounces%40example.org", "bounces@example.org"),
        ("bounces", None),
        ("odd%20name%40example.org", None),
    ],
)
def test_the_address_is_the_user_when_it_is_one(user: str, address: str | None) -> None:
    assert ImapConfig.from_url(f"imaps://{user}:p@h").address == address


@pytest.mark.parametrize(
    ("mailbox", "quoted"),
    [
        ("INBOX", '"INBOX"'),
        ("Junk Mail", '"Junk Mail"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("back\\slash", '"back\\\\slash"'),
    ],
)
def test_mailbox_names_are_quoted_for_select(mailbox: str, quoted: str) -> None:
    assert imap._quoted(mailbox) == quoted


def test_fetch_without_a_url_is_a_clear_error(settings: Settings) -> None:
    assert settings.inbox_imap_url is None
    with pytest.raises(ImapError, match="INBOX_IMAP_URL is not set"):
        imap.fetch(settings, handle=lambda raw: pytest.fail("nothing to handle"))


def test_nothing_listening_is_an_os_error_the_cli_reports() -> None:
    config = ImapConfig(host="127.0.0.1", port=free_port(), user="u", password="p", timeout=2)
    with pytest.raises(OSError):
        imap.connect(config)


def test_a_url_without_a_host_is_refused_not_sent_to_loopback() -> None:
    with pytest.raises(ImapError, match="needs a host"):
        ImapConfig.from_url("imap://u:p@/INBOX")


@pytest.mark.parametrize(("value", "verify"), [("0", False), ("off", False), ("TRUE", True)])
def test_known_flag_values_still_read(value: str, verify: bool) -> None:
    assert ImapConfig.from_url(f"imaps://u:p@h?verify={value}").verify is verify
