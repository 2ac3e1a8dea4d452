"""Non-ASCII addresses: a non-ASCII local part goes out with SMTPUTF8 (RFC 6531) and a UTF-8
To (RFC 6532) when the relay offers it; otherwise that one recipient is refused with a clear
reason, recorded, and not suppressed (the relay's limit, not the address's fault). A non-ASCII
domain goes out as A-labels and needs nothing from the relay. Real aiosmtpd servers."""

from __future__ import annotations

import email
from email import policy
from typing import Any

import pytest
from sqlalchemy import select

from tests.delivery.helpers import queue_rows, stage_digest
from tests.delivery.smtp_server import Recorder, Server
from worker import db
from worker.delivery import sender, subscribers
from worker.models import Delivery, DeliveryState, Subscriber, Suppression
from worker.settings import Settings

PEOPLE = ["олена@example.net", "reader@example.net", "ivan@приклад.укр"]


class Options(Recorder):
    """Also keeps the MAIL FROM options of each accepted message."""

    mail_options: list[list[str]]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.mail_options = [*getattr(self, "mail_options", []), list(envelope.mail_options)]
        return await super().handle_DATA(server, session, envelope)


def _send(settings: Settings) -> dict[str, tuple[DeliveryState, str | None]]:
    with db.session_scope(settings) as session:
        digest_id = stage_digest(session, settings)
        for address in PEOPLE:
            subscribers.add(session, address, name="Олена Шевчук" if "олена" in address else None)
        ids = [i for batch in queue_rows(session, settings, digest_id, 100) for i in batch]
    sender.send_batch(settings, digest_id, ids)
    with db.session_scope(settings) as session:
        rows = session.execute(
            select(Subscriber.email, Delivery.state, Delivery.last_error).join(
                Delivery, Delivery.subscriber_id == Subscriber.id
            )
        )
        return {e: (s, err) for e, s, err in rows}


@pytest.mark.parametrize("offered", [True, False])
def test_non_ascii_addresses(settings: Settings, offered: bool) -> None:
    recorder = Options()
    with Server(recorder, enable_SMTPUTF8=offered) as server:
        rows = _send(settings.model_copy(update={"smtp_url": server.url}))
    received = {rcpt: raw for rcpt, raw in recorder.messages}
    # the IDN domain as A-labels, no SMTPUTF8 needed
    assert rows["ivan@приклад.укр"][0] == DeliveryState.sent
    idn = received["ivan@xn--80aikifvh.xn--j1amh"]
    assert b"To: ivan@xn--80aikifvh.xn--j1amh\r\n" in idn
    assert rows["reader@example.net"][0] == DeliveryState.sent
    if offered:
        assert rows["олена@example.net"][0] == DeliveryState.sent
        raw = received["олена@example.net"]
        # RFC 6532: the header is UTF-8 (the email package reads it as text)
        message = email.message_from_string(raw.decode("utf-8"), policy=policy.SMTPUTF8)
        assert message["To"].addresses[0].addr_spec == "олена@example.net"
        assert message["To"].addresses[0].display_name == "Олена Шевчук"
        assert any("SMTPUTF8" in options for options in recorder.mail_options)
    else:
        state, error = rows["олена@example.net"]
        assert state == DeliveryState.failed
        assert "needs SMTPUTF8" in (error or "") and "does not offer it" in (error or "")
        assert "олена@example.net" not in received
    with db.session_scope(settings) as session:
        assert list(session.scalars(select(Suppression.email))) == []
