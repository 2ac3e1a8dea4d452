"""Pure decisions: the quiet-day policy and catch-up after a missed send time (injected clock)."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from scheduler import policy
from tests.scheduler.conftest import KYIV, kyiv

GRACE = timedelta(hours=3)


@pytest.mark.parametrize(
    ("pol", "articles", "feed", "send", "edition"),
    [
        ("send", 0, 3, True, "full"),
        ("send", 5, 0, True, "full"),
        ("send", 0, 0, False, "none"),
        ("news-feed-only", 1, 4, True, "news-feed-only"),
        ("news-feed-only", 1, 0, False, "none"),
        ("news-feed-only", 3, 0, True, "full"),
        ("skip", 2, 10, False, "none"),
        ("skip", 3, 0, True, "full"),
    ],
)
def test_quiet_day(
    pol: policy.QuietPolicy, articles: int, feed: int, send: bool, edition: str
) -> None:
    decision = policy.quiet_day(pol, 3, articles, feed)
    assert (decision.send, decision.edition) == (send, edition)
    assert (decision.reason is None) == send


def test_catch_up_before_the_send_time_looks_at_yesterday() -> None:
    d = policy.catch_up(kyiv("2026-11-27T06:59"), time(7), KYIV, GRACE, "sent", True)
    assert (d.action, d.day) == ("none", date(2026, 11, 26))


@pytest.mark.parametrize("state", [None, "built"])
def test_catch_up_inside_the_grace_window_sends(state: str | None) -> None:
    d = policy.catch_up(kyiv("2026-11-27T09:59"), time(7), KYIV, GRACE, state, False)
    assert (d.action, d.day) == ("send", date(2026, 11, 27))
    assert d.late == timedelta(hours=2, minutes=59)


def test_catch_up_at_the_edge_of_the_grace_window() -> None:
    at_edge = policy.catch_up(kyiv("2026-11-27T10:00"), time(7), KYIV, GRACE, None, False)
    past = policy.catch_up(kyiv("2026-11-27T10:00:01"), time(7), KYIV, GRACE, None, False)
    assert (at_edge.action, past.action) == ("send", "missed")
    assert "beyond the 3 h catch-up grace" in past.reason


@pytest.mark.parametrize(
    ("state", "claimed"), [("sent", True), ("sending", True), ("skipped", False), ("built", True)]
)
def test_catch_up_leaves_a_handled_day_alone(state: str, claimed: bool) -> None:
    d = policy.catch_up(kyiv("2026-11-27T08:00"), time(7), KYIV, GRACE, state, claimed)
    assert d.action == "none"


def test_catch_up_lateness_is_real_time_across_dst() -> None:
    # 2026-10-25 07:00 is +02:00 (05:00 UTC); at 09:30 local it is 2.5 h late, not 3.5 h
    d = policy.catch_up(kyiv("2026-10-25T09:30"), time(7), KYIV, GRACE, None, False)
    assert d.action == "send"
    assert d.late == timedelta(hours=2, minutes=30)
