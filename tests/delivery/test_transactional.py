"""One-off mail on its own queue: the `mail.transactional` task (retries a relay's 4xx, gives
up on a 5xx) and, on a real cluster, a confirmation that overtakes a bulk send in progress."""

from __future__ import annotations

import base64
import email
import email.policy
import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES, make_settings
from tests.delivery.faults import point_app_at, prepare, sent
from tests.delivery.helpers import DAY, read_maildir
from tests.delivery.smtp_server import Recorder, Rules, Server
from tests.delivery.test_faults import make_cluster
from web.subscribe import send_confirmation
from worker import newsletters
from worker.celery_app import app
from worker.delivery import transactional
from worker.delivery.subscribers import InvalidAddress
from worker.delivery.tasks import transactional_task
from worker.edition import lifecycle
from worker.edition.tasks import send_task
from worker.queues import TRANSACTIONAL_QUEUE
from worker.settings import Settings

__all__ = ["make_cluster"]  # the fixture, shared with the fault tests


def test_embedded_sends_at_once_and_refuses_a_bad_address(settings: Settings) -> None:
    transactional.send_soon(settings, "Reader@Example.org", "Hello\r\nBcc: x@y.z", "text")
    (message,) = read_maildir(settings.outbox_dir)
    assert message["To"] == "reader@example.org" and message["Bcc"] is None
    with pytest.raises(InvalidAddress):
        transactional.send_soon(settings, "not an address", "Hello", "text")


def test_task_retries_4xx_and_gives_up_on_5xx(tmp_path: Path) -> None:
    recorder = Recorder(Rules(tempfail=r"^later@", tempfail_times=2, reject=r"^never@"))
    with Server(recorder) as server:
        s = make_settings(tmp_path, smtp_url=server.url)
        point_app_at(s)  # eager: retries run at once, without their countdown
        app.conf.task_eager_propagates = False  # a retry is the task's answer, not an error
        try:
            done = transactional_task.apply(args=("later@example.org", "Hi", "text")).get()
            refused = transactional_task.apply(args=("never@example.org", "Hi", "text")).get()
        finally:
            point_app_at(make_settings(tmp_path))
    assert done == {"sent": True}
    assert recorder.tempfailed["later@example.org"] == 2
    assert [rcpt for rcpt, _ in recorder.messages] == ["later@example.org"]
    assert refused["sent"] is False and "550" in refused["reason"]


def test_a_queued_message_keeps_its_newsletters_from(tmp_path: Path, redis_url: str) -> None:
    """With a broker, a welcome to the Ukrainian daily goes out from that newsletter's address:
    the slug travels in the queued message (read back from Redis) and the task scopes to it."""
    import redis

    recorder = Recorder(Rules())
    with Server(recorder) as server:
        both = {"smtp_url": server.url, "newsletters": EXAMPLES / "newsletters.toml"}
        try:
            point_app_at(make_settings(tmp_path, broker_url=redis_url, **both))
            queued = newsletters.scoped(
                make_settings(tmp_path, broker_url=redis_url, **both), "ukrainian"
            )
            transactional.send_soon(queued, "reader@example.org", "Ласкаво просимо", "text")
            raw = redis.Redis.from_url(redis_url).lpop(TRANSACTIONAL_QUEUE)
            assert raw is not None, "nothing queued on the transactional queue"
            args, kwargs, _ = json.loads(base64.b64decode(json.loads(raw)["body"]))
            assert kwargs == {"newsletter": "ukrainian"}
            point_app_at(make_settings(tmp_path, **both))  # the worker's side, in-process
            assert transactional_task.apply(args=args, kwargs=kwargs).get() == {"sent": True}
        finally:
            point_app_at(make_settings(tmp_path))
    ((rcpt, data),) = recorder.messages
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert rcpt == "reader@example.org" and "shchodnia@example.org" in str(message["From"])


@pytest.mark.integration
def test_confirmation_overtakes_a_bulk_send_that_fills_the_workers(make_cluster: Any) -> None:
    # a relay that takes 50 ms a message: one batch of 400 keeps the bulk worker busy ~20 s
    cluster, settings = make_cluster(
        {"slow_data": 0.05}, workers=0, send_batch_size=400, send_lease_seconds=60
    )
    cluster.start_worker("bulk")  # both queues, as `digestcast worker` by default
    cluster.start_worker("mail", queues="transactional")  # deploy/'s worker-transactional
    digest_id = prepare(settings, 400)
    send_task.apply_async(args=(digest_id,))
    deadline = time.monotonic() + 30
    while sent(settings, digest_id) < 20:
        assert time.monotonic() < deadline, "the bulk send did not start"
        time.sleep(0.05)

    asked = time.time()
    send_confirmation(settings, "new.reader@example.org", 1, "nonce")
    deadline = time.monotonic() + 30
    while "new.reader@example.org" not in cluster.received():
        assert time.monotonic() < deadline, "the confirmation never arrived"
        time.sleep(0.05)
    lines = cluster.record.read_text().splitlines()
    arrived = next(float(x.split("\t")[2]) for x in lines if x.startswith("new.reader@"))
    assert arrived - asked < 5, f"the confirmation took {arrived - asked:.1f} s"
    assert sent(settings, digest_id) < 400, "the bulk send was over: nothing was overtaken"
    assert "Task mail.transactional[" in cluster.worker_log("mail")
    assert "Task mail.transactional[" not in cluster.worker_log("bulk")
    assert lifecycle.cancel(settings, DAY, by="test").ok  # no need to wait for the rest


def test_send_transactional_goes_through_the_transport(settings: Settings) -> None:
    transactional.send_transactional(
        settings, "New.Reader@example.org", "Confirm\r\nBcc: x@example.org", "Click", "<p>Click</p>"
    )
    (message,) = read_maildir(settings.outbox_dir)
    assert message["To"] == "new.reader@example.org"
    assert message["Subject"] == "Confirm Bcc: x@example.org"
    assert message["Bcc"] is None
