"""worker/pipeline.py, its decisions: which articles need audio, what the run's lines say and
whether a run did anything (the whole daily run is tested in tests/scheduler and
tests/integration)."""

from __future__ import annotations

import threading
from datetime import date
from typing import Any

import pytest
from celery import Celery
from sqlalchemy.orm import Session

from tests.digest.conftest import DAY, Factory, kyiv
from worker import db, pipeline
from worker.models import (
    Audio,
    AudioState,
    Delivery,
    DeliveryState,
    Digest,
    Subscriber,
)
from worker.pipeline import AudioSummary, CollectSummary, DailySummary, EditionRun
from worker.settings import Settings

FRIDAY = date(2026, 11, 27)


# ---------------------------------------------------------------- collect and audio lines
def test_collect_line_plain() -> None:
    summary = CollectSummary(sources=3, new_articles=[1, 2], updated_articles=[3], new_feed_items=4)
    assert summary.line() == (
        "collected 3/3 sources: 2 new and 1 updated articles, 4 new news items"
    )


def test_collect_line_with_skips_and_failures() -> None:
    summary = CollectSummary(
        sources=3, failed=["A: timeout", "B: 500"], skipped_items=2, new_feed_items=0
    )
    assert summary.line() == (
        "collected 1/3 sources: 0 new and 0 updated articles, 0 new news items; "
        "2 entries skipped (`digestcast sources list` says why); failed: A: timeout; B: 500"
    )


def test_audio_line() -> None:
    assert AudioSummary().line() == "audio: 0 synthesized, 0 unchanged"
    summary = AudioSummary(
        synthesized=3, unchanged=2, failed=["article 9: boom"], engines={"gtts": 2, "espeak": 1}
    )
    assert summary.line() == (
        "audio: 3 synthesized (1 by espeak, 2 by gtts), 2 unchanged, 1 failed: article 9: boom"
    )


# ---------------------------------------------------------------- delivery lines
def test_delivery_line_of_a_drained_send() -> None:
    result = {"sent_now": 3, "drained": {"counts": {"sent": 3, "failed": 1}, "state": "sent"}}
    assert pipeline.delivery_line(result) == "delivery: 3 sent now (ledger: failed 1, sent 3)"


def test_delivery_line_without_a_drain_reads_the_counts_beside_it() -> None:
    result = {"sent_now": 0, "counts": {"queued": 2}}
    assert pipeline.delivery_line(result) == "delivery: 0 sent now (ledger: queued 2)"
    assert pipeline.delivery_line({}) == "delivery: 0 sent now"


@pytest.mark.parametrize(
    ("state", "reason", "tail"),
    [
        ("paused", "ops checking a bounce storm", "; paused: ops checking a bounce storm"),
        ("cancelled", None, "; cancelled"),
        ("cancelled", "", "; cancelled"),
    ],
)
def test_delivery_line_says_a_stop_and_why(state: str, reason: str | None, tail: str) -> None:
    result = {"sent_now": 1, "drained": {"state": state, "reason": reason}}
    assert pipeline.delivery_line(result) == "delivery: 1 sent now" + tail


def lifecycle(ok: bool, to_state: str | None, line: str) -> dict[str, Any]:
    return {"lifecycle": {"ok": ok, "to_state": to_state, "line": line}, "sent_now": 2}


def test_a_started_send_says_only_the_delivery() -> None:
    lines = pipeline.delivery_lines(lifecycle(True, "sending", "start: built -> sending"))
    assert lines == ["delivery: 2 sent now"]


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (lifecycle(False, None, "refused: it is sent"), ["refused: it is sent"]),
        (
            lifecycle(True, "skipped", "skip: quiet day"),
            ["skip: quiet day"],  # nothing was sent: no delivery line
        ),
        (
            lifecycle(False, "paused", "refused: it is paused"),
            ["refused: it is paused", "delivery: 2 sent now"],
        ),
        (lifecycle(True, "sent", "already sent"), ["already sent", "delivery: 2 sent now"]),
    ],
)
def test_what_the_lifecycle_decided_comes_first(
    outcome: dict[str, Any], expected: list[str]
) -> None:
    assert pipeline.delivery_lines(outcome) == expected


# ---------------------------------------------------------------- edition and day lines
DIGEST = {"articles": 6, "feed_items": 10, "picks": 2}


def test_edition_lines_not_sent() -> None:
    run = EditionRun("Ukraine Daily", DIGEST, None, labelled=False)
    assert run.lines(FRIDAY) == [
        "digest 2026-11-27: 6 stories, 10 news items, 2 editors' picks",
        "delivery: skipped (--no-send)",
    ]


def test_edition_lines_labelled_with_a_briefing() -> None:
    digest = {**DIGEST, "briefing_minutes": 6}
    run = EditionRun("Weekly", digest, lifecycle(True, "sending", "start"), labelled=True)
    assert run.lines(FRIDAY) == [
        "Weekly: digest 2026-11-27: 6 stories, 10 news items, 2 editors' picks, briefing 6 min",
        "Weekly: delivery: 2 sent now",
    ]


def test_an_empty_digest_result_reads_as_zeros() -> None:
    assert EditionRun("D", {}, None, labelled=False).lines(FRIDAY)[0] == (
        "digest 2026-11-27: 0 stories, 0 news items, 0 editors' picks"
    )


def test_a_day_no_newsletter_publishes() -> None:
    day = DailySummary(FRIDAY, CollectSummary(), AudioSummary(), editions=[])
    assert day.lines()[-1] == "no newsletter publishes on Friday 2026-11-27"
    assert day.digest == {} and day.delivery is None
    assert day.nothing_new


def test_the_first_editions_digest_and_delivery_stand_for_the_day() -> None:
    first = EditionRun("Daily", DIGEST, {"sent_now": 0}, labelled=True)
    second = EditionRun("Weekly", {"articles": 1}, None, labelled=True)
    day = DailySummary(FRIDAY, CollectSummary(), AudioSummary(), editions=[first, second])
    assert day.digest is DIGEST and day.delivery == {"sent_now": 0}
    assert len(day.lines()) == 2 + 2 + 2


@pytest.mark.parametrize(
    ("collect", "audio", "sent_now", "nothing"),
    [
        (CollectSummary(), AudioSummary(), 0, True),
        (CollectSummary(new_articles=[1]), AudioSummary(), 0, False),
        (CollectSummary(updated_articles=[1]), AudioSummary(), 0, False),
        (CollectSummary(new_feed_items=5), AudioSummary(unchanged=3), 0, True),
        (CollectSummary(), AudioSummary(synthesized=1), 0, False),
        (CollectSummary(), AudioSummary(), 1, False),
    ],
)
def test_nothing_new(
    collect: CollectSummary, audio: AudioSummary, sent_now: int, nothing: bool
) -> None:
    editions = [
        EditionRun("Daily", DIGEST, None, labelled=True),  # --no-send: counts as 0
        EditionRun("Weekly", DIGEST, {"sent_now": sent_now}, labelled=True),
    ]
    assert DailySummary(FRIDAY, collect, audio, editions).nothing_new is nothing


# ---------------------------------------------------------------- the database edges
def test_articles_needing_audio(settings: Settings, session: Session) -> None:
    f = Factory(session)
    none = f.article("No audio row", kyiv(DAY, 5), audio_seconds=None)
    done = f.article("Done", kyiv(DAY, 5))
    pending = f.article("Pending", kyiv(DAY, 5), audio_seconds=None)
    failed = f.article("Failed", kyiv(DAY, 5), audio_seconds=None)
    fallback = f.article("Fallback", kyiv(DAY, 5), audio_seconds=None)
    session.add_all(
        [
            Audio(article_id=pending.id, state=AudioState.pending),
            Audio(article_id=failed.id, state=AudioState.failed),
            Audio(article_id=fallback.id, state=AudioState.fallback),
        ]
    )
    session.commit()
    assert pipeline.articles_needing_audio(settings) == sorted([none.id, pending.id, failed.id])
    # new or edited articles are spoken again even when their audio is done; once each
    assert pipeline.articles_needing_audio(settings, [done.id, none.id]) == sorted(
        [none.id, done.id, pending.id, failed.id]
    )


def test_articles_needing_audio_of_an_empty_database(settings: Settings) -> None:
    assert pipeline.articles_needing_audio(settings) == []


def test_count_sent_counts_the_editions_sent_rows(settings: Settings) -> None:
    with db.session_scope(settings) as session:
        digest = Digest(date=FRIDAY, subject="Daily")
        other = Digest(date=FRIDAY, newsletter="weekly", subject="Weekly")
        session.add_all([digest, other])
        session.flush()
        states = [DeliveryState.sent, DeliveryState.sent, DeliveryState.failed]
        for n, state in enumerate(states):
            sub = Subscriber(email=f"r{n}@example.net", domain="example.net")
            session.add(sub)
            session.flush()
            session.add_all(
                [
                    Delivery(digest_id=digest.id, subscriber_id=sub.id, state=state,
                             message_id=f"<a{n}>"),
                    Delivery(digest_id=other.id, subscriber_id=sub.id, state=DeliveryState.sent,
                             message_id=f"<b{n}>"),
                ]
            )  # fmt: skip
        digest_id = digest.id
    assert pipeline.count_sent(settings, digest_id) == 2
    assert pipeline.count_sent(settings, digest_id + 100) == 0


# ---------------------------------------------------------------- run_tasks (embedded)
def test_run_tasks_in_order_with_progress(settings: Settings) -> None:
    app = Celery("run-tasks-test")

    @app.task(name="double")  # type: ignore[untyped-decorator]
    def double(n: int) -> dict[str, Any]:
        return {"n": n * 2}

    seen: list[tuple[int, int, str]] = []
    sigs = [double.s(n) for n in (1, 2, 3)]
    results = pipeline.run_tasks(
        settings, sigs, lambda d, t, label: seen.append((d, t, label)), lambda s, r: str(r["n"])
    )
    assert results == [{"n": 2}, {"n": 4}, {"n": 6}]
    assert seen == [(1, 3, "2"), (2, 3, "4"), (3, 3, "6")]
    assert pipeline.run_tasks(settings, []) == []


def test_run_tasks_in_parallel_keep_the_signatures_order(settings: Settings) -> None:
    """The first task cannot finish before the other two ran (it waits for them, so a serial
    run would time out): the results still come back in the order asked, and progress counts
    every one (in the order they finished, which the threads decide)."""
    app = Celery("run-tasks-test")
    others_done = {1: threading.Event(), 2: threading.Event()}

    @app.task(name="step")  # type: ignore[untyped-decorator]
    def step(n: int) -> dict[str, Any]:
        if n == 0:
            for event in others_done.values():
                assert event.wait(timeout=30), "the tasks did not run at once"
        else:
            others_done[n].set()
        return {"n": n}

    order: list[str] = []
    results = pipeline.run_tasks(
        settings,
        [step.s(n) for n in range(3)],
        lambda d, t, label: order.append(label),
        lambda s, r: str(r["n"]),
        parallel=3,
    )
    assert results == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert sorted(order) == ["0", "1", "2"]


def test_a_failing_task_raises_in_the_caller(settings: Settings) -> None:
    app = Celery("run-tasks-test")

    @app.task(name="boom")  # type: ignore[untyped-decorator]
    def boom() -> dict[str, Any]:
        raise RuntimeError("source exploded")

    with pytest.raises(RuntimeError, match="source exploded"):
        pipeline.run_tasks(settings, [boom.s()])
