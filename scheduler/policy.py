"""Decisions the scheduler takes, as pure functions of their inputs (the clock is a parameter).

- `quiet_day`: send a day with few stories, send it only when the news feed carries it, or skip.
- `catch_up`: after the send time, with nothing sent for that day, send late within the grace
  window, otherwise record the day as missed. Reported, never silent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from scheduler.schedule import previous_fire

QuietPolicy = Literal["send", "news-feed-only", "skip"]
# states after which nothing is left to do for the day (claimed sends count as "sending")
DONE_STATES = frozenset({"sending", "sent", "skipped"})


@dataclass(frozen=True)
class QuietDecision:
    send: bool
    edition: Literal["full", "news-feed-only", "none"]
    reason: str | None = None


def quiet_day(
    policy: QuietPolicy, min_items: int, article_count: int, feed_item_count: int
) -> QuietDecision:
    """Whether to send a day with `article_count` stories and `feed_item_count` news items.

    A quiet day has fewer than `min_items` stories. `send` sends it anyway; `news-feed-only`
    sends it when the news feed has items (the day's edition is carried by the feed) and skips
    it otherwise; `skip` never sends a quiet day. A day with nothing at all is never sent.
    """
    if article_count + feed_item_count == 0:
        return QuietDecision(False, "none", "nothing was published in the day's window")
    if article_count >= min_items or policy == "send":
        return QuietDecision(True, "full")
    if policy == "news-feed-only":
        if feed_item_count > 0:
            return QuietDecision(True, "news-feed-only")
        return QuietDecision(
            False,
            "none",
            f"quiet day: {article_count} stories (< {min_items}) and no news-feed items "
            "(QUIET_DAY_POLICY=news-feed-only)",
        )
    return QuietDecision(
        False, "none", f"quiet day: {article_count} stories (< {min_items}) (QUIET_DAY_POLICY=skip)"
    )


@dataclass(frozen=True)
class CatchUp:
    action: Literal["none", "send", "missed"]
    day: date
    due_at: datetime
    late: timedelta
    reason: str


def catch_up(
    now: datetime,
    send_time: time,
    tz: ZoneInfo,
    grace: timedelta,
    state: str | None,
    claimed: bool,
) -> CatchUp:
    """What to do about the most recent send time at or before `now`.

    `state` is that day's digest state (None: no digest row), `claimed` whether its send was
    claimed. Within `grace` of the send time an unsent day is sent late; beyond it, it is
    recorded as missed (a morning newsletter at 3 p.m. does more harm than good).
    """
    due_at = previous_fire(now, send_time, tz)
    day = due_at.astimezone(tz).date()
    late = now - due_at
    if claimed or state in DONE_STATES:
        return CatchUp("none", day, due_at, late, f"{day}: already {state or 'claimed'}")
    hours = late.total_seconds() / 3600
    if late <= grace:
        return CatchUp("send", day, due_at, late, f"{day}: sending {hours:.1f} h late")
    return CatchUp(
        "missed",
        day,
        due_at,
        late,
        f"missed: nothing was sent at {send_time:%H:%M}; found {hours:.1f} h late, "
        f"beyond the {grace.total_seconds() / 3600:g} h catch-up grace",
    )
