"""worker/inbox/sort.py: what a message that reached our mailbox is."""

from __future__ import annotations

from email.message import EmailMessage, Message
from email.mime.multipart import MIMEMultipart

from worker.inbox.sort import kind, subject, unsubscribe_request, unsubscribe_token

TOKEN = "12.abcDEF_-.sig_nature-1"


def _plain(subject_line: str | None, body: str = "hello") -> EmailMessage:
    message = EmailMessage()
    message["From"] = "reader@example.org"
    message["To"] = "news@example.com"
    if subject_line is not None:
        message["Subject"] = subject_line
    message.set_content(body)
    return message


def test_subject_decodes_encoded_words_and_tolerates_absence() -> None:
    message = Message()
    message["Subject"] = "=?utf-8?b?0J/RgNC40LLRltGC?="
    assert subject(message) == "Привіт"
    assert subject(Message()) == ""


def test_subject_with_a_broken_encoded_word_is_read_as_it_is() -> None:
    message = Message()
    message["Subject"] = "=?x-unknown-charset?q?abc?="
    assert subject(message) == "=?x-unknown-charset?q?abc?="


def test_unsubscribe_request_with_and_without_newsletter() -> None:
    assert unsubscribe_request(_plain(f"unsubscribe-{TOKEN}")) == (TOKEN, None)
    assert unsubscribe_request(_plain(f"Re: unsubscribe-{TOKEN}/ukraine-daily")) == (
        TOKEN,
        "ukraine-daily",
    )
    assert unsubscribe_token(_plain(f"unsubscribe-{TOKEN}/x")) == TOKEN


def test_not_an_unsubscribe_request() -> None:
    assert unsubscribe_request(_plain("please unsubscribe me")) is None
    assert unsubscribe_request(_plain("unsubscribe-nodots")) is None  # a token has signed parts
    assert unsubscribe_request(_plain(None)) is None
    # only the Subject counts: a quoted List-Unsubscribe in the body does not
    assert unsubscribe_token(_plain("hi", body=f"mailto:x?subject=unsubscribe-{TOKEN}")) is None


def test_kind_of_a_reply_and_of_an_unsubscribe_request() -> None:
    assert kind(_plain("Re: today's digest", body="Thanks for the news!")) == "other"
    assert kind(_plain(f"unsubscribe-{TOKEN}")) == "unsubscribe"


def test_multipart_report_without_a_delivery_status_is_not_a_bounce() -> None:
    report = MIMEMultipart("report", report_type="delivery-status")
    report["Subject"] = f"unsubscribe-{TOKEN}"  # a report is never read as an unsubscribe
    assert kind(report) == "other"
