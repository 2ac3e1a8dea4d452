"""The batch loop (sender.py) end to end in-process (Maildir), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading

from tests.delivery.helpers import (
    queue_rows,
    read_maildir,
    stage_edition,
    start_edition,
)
from worker import db
from worker.delivery import sender, subscribers
from worker.edition.progress import wait_for_drain
from worker.models import (
    Digest,
    DigestState,
)
from worker.settings import Settings


def test_send_once_to_each_active_subscriber(any_db_settings: Settings) -> None:
    settings = any_db_settings.model_copy(update={"send_batch_size": 2, "send_claim_chunk": 1})
    digest_id = stage_edition(settings)
    first = start_edition(settings, digest_id)
    assert first["claimed"] is True and first["batches"] == 3
    drained = wait_for_drain(settings, digest_id, timeout=30)
    assert drained["drained"] is True
    assert drained["counts"] == {"sent": 5, "suppressed": 1}
    messages = read_maildir(settings.outbox_dir)
    assert len(messages) == 5
    recipients = sorted(str(m["To"]) for m in messages)
    assert recipients[0] == "Reader 0 <reader000000@example.net>"
    for message in messages:
        assert message["List-Unsubscribe"].startswith("<https://daily.example.org/u/")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["Message-ID"].startswith(f"<digest-{digest_id}.sub-")
        assert message.get_content_type() == "multipart/alternative"
        kinds = [part.get_content_type() for part in message.iter_parts()]
        assert kinds == ["text/plain", "text/html"]
    # a second trigger sends nothing
    second = start_edition(settings, digest_id)
    assert second["claimed"] is False
    wait_for_drain(settings, digest_id, timeout=30)
    assert len(read_maildir(settings.outbox_dir)) == 5
    with db.session_scope(settings) as session:
        digest = session.get(Digest, digest_id)
        assert digest is not None and digest.state == DigestState.sent


def test_unsubscribed_after_fan_out_is_not_mailed(settings: Settings) -> None:
    digest_id = stage_edition(settings, count=3)
    with db.session_scope(settings) as session:
        batches = list(queue_rows(session, settings, digest_id, 10))
        subscribers.remove(session, "reader000000@example.net")  # clicks unsubscribe now
    result = sender.send_batch(settings, digest_id, batches[0])
    assert (result["sent"], result["skipped"]) == (2, 1)
    assert sender.send_batch(settings, digest_id, batches[0])["not_claimed"] == 3  # idempotent
    assert len(read_maildir(settings.outbox_dir)) == 2
    status = wait_for_drain(settings, digest_id, timeout=10)
    assert status["counts"] == {"sent": 2, "suppressed": 2}


def test_duplicate_batch_tasks_running_at_once_send_each_row_once(
    any_db_settings: Settings,
) -> None:
    settings = any_db_settings.model_copy(update={"send_claim_chunk": 5})
    digest_id = stage_edition(settings, count=40)
    with db.session_scope(settings) as session:
        ids = [i for batch in queue_rows(session, settings, digest_id, 100) for i in batch]
    results: list[dict[str, object]] = []

    def worker() -> None:  # the same task delivered to three workers
        results.append(sender.send_batch(settings, digest_id, ids))

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(int(r.get("sent", 0)) for r in results) == 40  # type: ignore[call-overload]
    messages = read_maildir(settings.outbox_dir)
    assert sorted(str(m["Message-ID"]) for m in messages) == sorted(
        {str(m["Message-ID"]) for m in messages}
    )
    assert len(messages) == 40
