"""The whole in-process send over SMTP into a real aiosmtpd server that refuses some recipients."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from sqlalchemy import select

from tests.delivery.helpers import DAY, add_subscribers, stage_digest
from tests.delivery.smtp_server import Recorder, Rules, Server
from worker import db
from worker.delivery.resend import delivery_status
from worker.edition import lifecycle
from worker.edition.progress import wait_for_drain
from worker.models import Delivery, DeliveryEvent, DeliveryState, Suppression
from worker.settings import Settings


def test_smtp_send_retries_4xx_suppresses_5xx_and_delivers_once(settings: Settings) -> None:
    rules = Rules(tempfail=r"^reader000002@", tempfail_times=2, reject=r"^reader000001@")
    recorder = Recorder(rules)
    with Server(recorder) as server:
        s = settings.model_copy(
            update={
                "smtp_url": server.url,
                "send_retry_base_seconds": 0.05,
                "send_batch_size": 4,
                "unsubscribe_mailto": "unsubscribe@example.org",
            }
        )
        with db.session_scope(s) as session:
            digest_id = stage_digest(session, s, kb=60)
            add_subscribers(session, 6)
        started = lifecycle.start(s, DAY, by="test")
        drained = wait_for_drain(s, digest_id, timeout=60)
        refused = lifecycle.resend(s, DAY, failed=True)
    assert started.ok and started.to_state == "sending"
    assert drained["drained"] is True
    assert drained["counts"] == {"sent": 5, "failed": 1}
    received = sorted(rcpt for rcpt, _ in recorder.messages)
    assert received == [f"reader00000{i}@example.net" for i in (0, 2, 3, 4, 5)]
    assert recorder.tempfailed["reader000002@example.net"] == 2
    assert recorder.rejected["reader000001@example.net"] == 1  # 5xx is never retried
    for _, raw in recorder.messages:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        assert message["List-Unsubscribe"].startswith("<https://daily.example.org/u/")
        assert "mailto:unsubscribe@example.org?subject=unsubscribe-" in message["List-Unsubscribe"]
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert len(raw) > 60_000
    assert recorder.connections == 1  # one connection reused across batches and retries
    with db.session_scope(s) as session:
        failed = session.scalar(select(Delivery).where(Delivery.state == DeliveryState.failed))
        assert failed is not None and failed.smtp_code == 550
        assert "no such user" in (failed.last_error or "")
        suppressed = list(session.scalars(select(Suppression.email)))
        assert suppressed == ["reader000001@example.net"]
        kinds = sorted(session.scalars(select(DeliveryEvent.kind)))
        assert kinds == ["deferred", "deferred", "failed"]
        status = delivery_status(session, DAY)
    assert status["failing_domains"] == [{"domain": "example.net", "failed": 1}]
    assert status["slowest_domains"][0]["retried"] == 1
    # the suppressed address is not picked by --failed
    assert refused["selected"] == 0


def test_signed_send_verifies_at_the_receiving_server(settings: Settings, tmp_path: Path) -> None:
    """Signing runs on the worker's signing thread, ahead of the SMTP dialogue (compose.py):
    every message as the server received it carries a signature dkimpy verifies, for its own
    recipient, in the ledger's order of rows."""
    import base64

    import dkim
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_path = tmp_path / "dkim.pem"
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    record = b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)

    def dns(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == b"dc._domainkey.example.org." else None

    recorder = Recorder(Rules(reject=r"^reader000003@"))
    with Server(recorder) as server:
        s = settings.model_copy(
            update={
                "smtp_url": server.url,
                "send_batch_size": 7,
                "dkim_private_key": key_path,
                "dkim_selector": "dc",
                "dkim_domain": "example.org",
            }
        )
        with db.session_scope(s) as session:
            digest_id = stage_digest(session, s, kb=60)
            add_subscribers(session, 12)
        assert lifecycle.start(s, DAY, by="test").ok
        drained = wait_for_drain(s, digest_id, timeout=60)
    assert drained["counts"] == {"sent": 11, "failed": 1}
    assert len(recorder.messages) == 11
    for rcpt, raw in recorder.messages:
        assert dkim.verify(raw, dnsfunc=dns), rcpt
        assert f"<{rcpt}>".encode() in raw.split(b"\r\n\r\n", 1)[0]
