"""The lifecycle's pure core: transitions and refusals, the empty-day and quiet-day decisions,
approval deadlines and catch-up (the clock injected)."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from tests.scheduler.conftest import KYIV, kyiv
from worker.edition import core
from worker.edition.core import EMPTY_DAY, Action, Counts, State

GRACE = timedelta(hours=3)


@pytest.mark.parametrize(
    ("pol", "articles", "feed", "picks", "send", "edition"),
    [
        ("send", 0, 3, 0, True, "full"),
        ("send", 5, 0, 0, True, "full"),
        ("send", 0, 0, 0, False, "none"),
        ("send", 0, 0, 2, True, "full"),  # editors' picks alone are not an empty day
        ("news-feed-only", 1, 4, 0, True, "news-feed-only"),
        ("news-feed-only", 1, 0, 0, False, "none"),
        ("news-feed-only", 3, 0, 0, True, "full"),
        ("skip", 2, 10, 0, False, "none"),
        ("skip", 0, 0, 2, False, "none"),
        ("skip", 3, 0, 0, True, "full"),
    ],
)
def test_quiet_day(
    pol: core.QuietPolicy, articles: int, feed: int, picks: int, send: bool, edition: str
) -> None:
    decision = core.quiet_day(pol, 3, Counts(articles, feed, picks))
    assert (decision.send, decision.edition) == (send, edition)
    assert (decision.reason is None) == send


def test_force_sends_a_quiet_day_never_an_empty_one() -> None:
    quiet = core.send_decision("skip", 3, Counts(1, 0, 2), force=True)
    assert quiet.send and quiet.forced and "QUIET_DAY_POLICY=skip" in (quiet.reason or "")
    empty = core.send_decision("skip", 3, Counts(0, 0, 0), force=True)
    assert not empty.send and empty.reason == EMPTY_DAY and not empty.forced


@pytest.mark.parametrize(
    ("action", "state", "refused"),
    [
        (Action.pause, State.sending, None),
        (Action.pause, State.paused, "already paused"),
        (Action.resume, State.sent, "it is sent"),
        (Action.resume, State.paused, None),
        (Action.cancel, State.skipped, "it is skipped"),
        (Action.cancel, State.sent, "it is sent"),
        (Action.cancel, State.paused, None),
        (Action.approve, State.built, "it is built and not sent"),
        (Action.approve, State.held, None),
        (Action.resend, State.sent, None),
        (Action.resend, State.cancelled, "it is cancelled"),
        (Action.finish, State.paused, "it is paused"),
    ],
)
def test_refusals_are_one_line_reasons(action: Action, state: State, refused: str | None) -> None:
    reason = core.refusal(action, state)
    assert reason == refused
    assert reason is None or "\n" not in reason


def test_closed_days_start_only_when_forced_and_held_ones_never() -> None:
    quiet = "quiet day: 0 stories (< 3) (QUIET_DAY_POLICY=skip)"
    assert "send --force" in (core.start_refusal(State.skipped, quiet, force=False) or "")
    assert core.start_refusal(State.skipped, quiet, force=True) is None
    assert core.start_refusal(State.missed, "missed: ...", force=True) is None
    assert core.start_refusal(State.skipped, EMPTY_DAY, force=False) is None  # still open
    assert "approve" in (core.start_refusal(State.held, None, force=True) or "")
    assert core.start_refusal(State.sent, None, force=True) == "it is sent"


def test_content_changes_only_before_the_claim_and_the_approval() -> None:
    assert core.may_rebuild(State.built, None, claimed=False, approved=False)
    assert core.may_rebuild(State.skipped, EMPTY_DAY, claimed=False, approved=False)
    assert core.may_rebuild(State.held, None, claimed=False, approved=False)
    assert not core.may_rebuild(State.built, None, claimed=False, approved=True)
    assert not core.may_rebuild(State.skipped, "quiet day", claimed=False, approved=False)
    for state in (State.sending, State.paused, State.sent, State.cancelled, State.missed):
        assert not core.may_rebuild(state, None, claimed=True, approved=False)


def test_approval_deadline_is_send_time_plus_grace_in_real_time() -> None:
    deadline = core.approval_deadline(date(2026, 11, 27), time(7), KYIV, 60)
    assert deadline == kyiv("2026-11-27T08:00")
    assert core.deadline_due(kyiv("2026-11-27T08:00"), deadline, State.held)
    assert not core.deadline_due(kyiv("2026-11-27T07:59"), deadline, State.held)
    assert not core.deadline_due(kyiv("2026-11-27T09:00"), deadline, State.built)


def test_catch_up_before_the_send_time_looks_at_yesterday() -> None:
    d = core.catch_up(kyiv("2026-11-27T06:59"), time(7), KYIV, GRACE, State.sent, None)
    assert (d.action, d.day) == ("none", date(2026, 11, 26))


@pytest.mark.parametrize(("state", "reason"), [(None, None), (State.built, None)])
def test_catch_up_inside_the_grace_window_sends(state: State | None, reason: None) -> None:
    d = core.catch_up(kyiv("2026-11-27T09:59"), time(7), KYIV, GRACE, state, reason)
    assert (d.action, d.day) == ("send", date(2026, 11, 27))
    assert d.late == timedelta(hours=2, minutes=59)


def test_catch_up_at_the_edge_of_the_grace_window() -> None:
    at_edge = core.catch_up(kyiv("2026-11-27T10:00"), time(7), KYIV, GRACE, None, None)
    past = core.catch_up(kyiv("2026-11-27T10:00:01"), time(7), KYIV, GRACE, None, None)
    assert (at_edge.action, past.action) == ("send", "missed")
    assert "beyond the 3 h catch-up grace" in past.reason
    empty = core.catch_up(kyiv("2026-11-27T11:00"), time(7), KYIV, GRACE, State.skipped, EMPTY_DAY)
    assert empty.action == "missed" and empty.reason.startswith("not sent: nothing was published")


@pytest.mark.parametrize(
    "state", [State.sent, State.sending, State.paused, State.held, State.missed, State.cancelled]
)
def test_catch_up_leaves_a_handled_day_alone(state: State) -> None:
    d = core.catch_up(kyiv("2026-11-27T08:00"), time(7), KYIV, GRACE, state, None)
    assert d.action == "none"


def test_catch_up_lateness_is_real_time_across_dst() -> None:
    # 2026-10-25 07:00 is +02:00 (05:00 UTC); at 09:30 local it is 2.5 h late, not 3.5 h
    d = core.catch_up(kyiv("2026-10-25T09:30"), time(7), KYIV, GRACE, None, None)
    assert d.action == "send"
    assert d.late == timedelta(hours=2, minutes=30)
