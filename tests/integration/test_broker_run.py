"""The same daily job through a real Redis broker and a real `digestcast worker`, with the ledger on
PostgreSQL and delivery over SMTP into a real aiosmtpd server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import smtp_server_for
from tests.integration.test_daily_run import (
    EXAMPLES,
    REPO,
    SAMPLE_DATE,
    cli_env,
    digestcast,
    sample_subscribers,
)

pytestmark = pytest.mark.integration


class Recorder:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], bytes]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 2.0.0 queued"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder()
    with smtp_server_for(recorder) as port:
        yield recorder, port


def test_daily_job_through_redis_worker_postgres_and_smtp(
    tmp_path: Path, redis_url: str, pg_url: str, smtp_server: tuple[Recorder, int]
) -> None:
    recorder, port = smtp_server
    env = cli_env(
        tmp_path,
        DIGESTCAST_BROKER_URL=redis_url,
        DIGESTCAST_DATABASE_URL=pg_url,
        DIGESTCAST_SMTP_URL=f"smtp://127.0.0.1:{port}",
        # the road through Redis is under test here; the daily-run test speaks the whole briefing
        DIGESTCAST_BRIEFING_STORIES="2",
    )
    digestcast(env, "db", "upgrade")
    digestcast(env, "subscribers", "import", str(EXAMPLES / "subscribers.csv"))
    worker = subprocess.Popen(
        [sys.executable, "-m", "worker", "worker", "--concurrency", "2"],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        first = digestcast(env, "run", "--date", SAMPLE_DATE)
        second = digestcast(env, "run", "--date", SAMPLE_DATE)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
        log = worker.stdout.read().decode(errors="replace") if worker.stdout else ""
    subscribers = sorted(e.lower() for e in sample_subscribers())
    received = sorted(r.lower() for rcpts, _ in recorder.messages for r in rcpts)
    assert received == subscribers, f"worker log:\n{log[-3000:]}"
    for _, raw in recorder.messages:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # the tasks really went through the worker, not in-process
    assert "collect.source" in log and "audio.synthesize" in log and "digest.send_batch" in log
    assert f"delivery: {len(subscribers)} sent now" in first.stdout
    assert "delivery: 0 sent now" in second.stdout
