"""worker/edition/record.py: outcomes, who asks, the state as the rules see it, audit rows."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from worker import db
from worker.edition.core import Action, State
from worker.edition.record import (
    TransitionOutcome,
    history,
    lock_for,
    move,
    operator,
    refuse,
    state_of,
)
from worker.models import Digest, DigestState
from worker.settings import Settings

DAY = date(2026, 11, 27)


def test_outcome_line_and_dict_for_success_and_refusal() -> None:
    done = TransitionOutcome("pause", True, DAY, 4, "sending", "paused", "by ops")
    assert done.line() == "digest 2026-11-27: paused, by ops"
    refused = TransitionOutcome("resume", False, None, 9, "sent", "sent", "already sent")
    assert refused.line() == "digest #9: resume refused: already sent"
    as_dict = refused.as_dict()
    assert as_dict["day"] is None and as_dict["line"] == refused.line()
    assert as_dict["detail"] == {}


def test_operator_prefers_given_then_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert operator("x" * 300) == "x" * 200
    monkeypatch.setenv("DIGESTCAST_OPERATOR", "night-editor")
    assert operator(None) == "night-editor"
    assert operator("") == "night-editor"


def test_state_of_a_row_nobody_built_is_none() -> None:
    assert state_of(None) is None
    assert state_of(Digest(date=DAY, state=DigestState.built)) is None
    built = Digest(date=DAY, state=DigestState.built, window_end=datetime(2026, 11, 27, tzinfo=UTC))
    assert state_of(built) == State.built
    assert state_of(Digest(date=DAY, state=DigestState.sent)) == State.sent


def test_refuse_names_the_day_even_without_a_row() -> None:
    outcome = refuse(Action.pause, DAY, None, "not built yet")
    assert (outcome.ok, outcome.day, outcome.digest_id, outcome.from_state) == (
        False,
        DAY,
        None,
        None,
    )


def test_move_writes_the_audit_row_and_history_lists_it(settings: Settings) -> None:
    with db.session_scope(settings) as session:
        refused = lock_for(session, settings, DAY, Action.pause)
        assert (
            isinstance(refused, TransitionOutcome)
            and not refused.ok
            and "not built" in refused.reason
        )
        digest = Digest(date=DAY, state=DigestState.sending, window_end=datetime.now(UTC))
        session.add(digest)
        session.flush()
        locked = lock_for(session, settings, DAY, Action.pause)
        assert locked is digest
        outcome = move(session, digest, Action.pause, State.paused, "ops", "", {"n": 1}, "hold on")
        assert (outcome.from_state, outcome.to_state, outcome.reason) == (
            "sending",
            "paused",
            "hold on",
        )
        digest_id = digest.id
    with db.session_scope(settings) as session:
        [event] = history(session, digest_id)
        stored = session.get(Digest, digest_id)
        assert stored is not None and stored.skip_reason == "hold on"
    assert event["from"] == "sending" and event["to"] == "paused"
    assert (event["by"], event["reason"], event["detail"]) == ("ops", "hold on", {"n": 1})


def test_history_is_oldest_first_and_limited_to_the_latest(settings: Settings) -> None:
    with db.session_scope(settings) as session:
        digest = Digest(date=DAY, state=DigestState.sending, window_end=datetime.now(UTC))
        session.add(digest)
        session.flush()
        move(session, digest, Action.pause, State.paused, "a")
        move(session, digest, Action.resume, State.sending, "b")
        move(session, digest, Action.cancel, State.cancelled, "c")
        digest_id = digest.id
    with db.session_scope(settings) as session:
        assert [e["by"] for e in history(session, digest_id)] == ["a", "b", "c"]
        assert [e["by"] for e in history(session, digest_id, limit=2)] == ["b", "c"]
