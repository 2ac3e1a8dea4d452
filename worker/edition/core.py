"""The edition lifecycle's pure core: states, allowed transitions, and the send decisions.

Nothing here touches the database, the clock or the network (callers pass `now` and counts),
so every rule is a function of its inputs and tested as such. lifecycle.py is the I/O edge:
it takes the edition's row lock, asks this module, writes the audit row and dispatches.

    built ──start──► sending ──(drained)──► sent ──resend──► sending
      │  ╲             │  ▲
      │   hold         pause resume
      │     ╲          ▼  │
      │      held ─approve─► built          any unsent edition ──cancel──► cancelled
      ├──skip──► skipped (empty day, quiet-day policy, approval deadline)
      └──miss──► missed  (the send time passed beyond the catch-up grace)

A day skipped only because its window was empty stays open: items may still arrive, so the
schedule builds it again (catch-up within its grace window) and `--force` never sends it empty.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from scheduler.schedule import fire_on, previous_fire
from worker.models import DigestState as State

__all__ = [
    "EMPTY_DAY",
    "TRANSITIONS",
    "Action",
    "CatchUp",
    "Counts",
    "SendDecision",
    "State",
    "approval_deadline",
    "catch_up",
    "deadline_due",
    "describe",
    "fire_on",
    "is_open",
    "may_rebuild",
    "needs_approval",
    "quiet_day",
    "refusal",
    "send_decision",
    "start_refusal",
]

EMPTY_DAY = "nothing was published in the day's window"
QuietPolicy = Literal["send", "news-feed-only", "skip"]


class Action(enum.StrEnum):
    build = "build"  # (re)build the content before sending
    hold = "hold"  # wait for an editor (SEND_APPROVAL=required)
    approve = "approve"
    start = "start"  # claim the send and fan out
    pause = "pause"
    resume = "resume"
    cancel = "cancel"
    skip = "skip"
    miss = "miss"
    finish = "finish"  # every row is settled: the edition is sent
    resend = "resend"  # ops requeue rows of a sent (or sending) edition


# action -> (states it may start from, the state it leads to); None = no edition row yet
TRANSITIONS: dict[Action, tuple[frozenset[State | None], State]] = {
    Action.build: (frozenset({None, State.built, State.held, State.skipped}), State.built),
    Action.hold: (frozenset({None, State.built, State.held, State.skipped}), State.held),
    Action.approve: (frozenset({State.held}), State.built),
    Action.start: (frozenset({None, State.built, State.skipped, State.missed}), State.sending),
    Action.pause: (frozenset({State.sending}), State.paused),
    Action.resume: (frozenset({State.paused}), State.sending),
    Action.cancel: (
        frozenset({State.built, State.held, State.sending, State.paused}),
        State.cancelled,
    ),
    Action.skip: (frozenset({None, State.built, State.held, State.skipped}), State.skipped),
    Action.miss: (frozenset({None, State.built, State.held, State.skipped}), State.missed),
    Action.finish: (frozenset({State.sending}), State.sent),
    Action.resend: (frozenset({State.sent, State.sending}), State.sending),
}

# what each state means to someone who asked for something it does not allow
_STATE_WORDS: dict[State | None, str] = {
    None: "not built yet",
    State.built: "built and not sent",
    State.held: "held for an editor's approval",
    State.sending: "sending",
    State.paused: "paused",
    State.sent: "sent",
    State.skipped: "skipped",
    State.missed: "missed",
    State.cancelled: "cancelled",
}


def describe(state: State | None, reason: str | None = None) -> str:
    words = _STATE_WORDS[state]
    return f"{words} ({reason})" if reason else words


def is_open(state: State | None, reason: str | None) -> bool:
    """Nothing decided yet for the day: no row, built, or skipped only for an empty window."""
    return state in (None, State.built) or (state == State.skipped and reason == EMPTY_DAY)


def refusal(action: Action, state: State | None, reason: str | None = None) -> str | None:
    """None when `action` is allowed from `state`, else the one-line reason it is not."""
    sources, target = TRANSITIONS[action]
    if state in sources and _closed_for(action, state, reason) is None:
        return None
    if state == target and action not in (Action.build, Action.hold, Action.approve):
        return f"already {describe(state, reason)}"
    return _closed_for(action, state, reason) or f"it is {describe(state, reason)}"


def _closed_for(action: Action, state: State | None, reason: str | None) -> str | None:
    """Finer rules than the table: a closed day is final for the schedule's actions."""
    closed = state in (State.skipped, State.missed) and not is_open(state, reason)
    if action in (Action.build, Action.hold, Action.skip, Action.miss) and closed:
        return f"it is {describe(state, reason)}"
    return None


def may_rebuild(state: State | None, reason: str | None, claimed: bool, approved: bool) -> bool:
    """Content may change only before anyone can have received it and before an editor
    approved it (what the editor saw is what goes out)."""
    if claimed or approved:
        return False
    return state == State.held or is_open(state, reason)


# ---------------------------------------------------------------- the send decision
@dataclass(frozen=True)
class Counts:
    articles: int
    feed_items: int
    picks: int

    @property
    def empty(self) -> bool:
        return self.articles + self.feed_items + self.picks == 0


@dataclass(frozen=True)
class SendDecision:
    send: bool
    edition: Literal["full", "news-feed-only", "none"]
    reason: str | None = None
    forced: bool = False


def quiet_day(policy: QuietPolicy, min_items: int, counts: Counts) -> SendDecision:
    """Whether to send a day with these counts under QUIET_DAY_POLICY.

    A quiet day has fewer than `min_items` stories. `send` sends it anyway; `news-feed-only`
    sends it when the news feed has items (the day's edition is carried by the feed) and skips
    it otherwise; `skip` never sends a quiet day. A day with nothing at all is never sent.
    """
    if counts.empty:
        return SendDecision(False, "none", EMPTY_DAY)
    if counts.articles >= min_items or policy == "send":
        return SendDecision(True, "full")
    if policy == "news-feed-only":
        if counts.feed_items > 0:
            return SendDecision(True, "news-feed-only")
        return SendDecision(
            False,
            "none",
            f"quiet day: {counts.articles} stories (< {min_items}) and no news-feed items "
            "(QUIET_DAY_POLICY=news-feed-only)",
        )
    return SendDecision(
        False,
        "none",
        f"quiet day: {counts.articles} stories (< {min_items}) (QUIET_DAY_POLICY=skip)",
    )


def send_decision(
    policy: QuietPolicy, min_items: int, counts: Counts, *, force: bool = False
) -> SendDecision:
    """The quiet-day policy, which `force` (ops, `send --force`) overrides for a quiet day;
    nothing overrides an empty one."""
    decision = quiet_day(policy, min_items, counts)
    if decision.send or not force or counts.empty:
        return decision
    return SendDecision(True, "full", f"forced against the policy: {decision.reason}", True)


def start_refusal(state: State | None, reason: str | None, *, force: bool) -> str | None:
    """Why a send cannot start from this state. A closed day (quiet-day skip, missed) starts
    only when forced; a held edition needs an approval, never a force."""
    if state == State.held:
        return "held for an editor's approval: approve it first (digestcast approve)"
    if state in (State.skipped, State.missed) and not is_open(state, reason) and not force:
        return f"{describe(state, reason)}; send --force sends it anyway"
    return refusal(Action.start, state, reason)


# ---------------------------------------------------------------- approval
def needs_approval(mode: Literal["none", "required"], approved: bool) -> bool:
    return mode == "required" and not approved


def approval_deadline(day: date, send_time: time, tz: ZoneInfo, grace_minutes: int) -> datetime:
    return fire_on(day, send_time, tz) + timedelta(minutes=grace_minutes)


def deadline_due(now: datetime, deadline: datetime, state: State | None) -> bool:
    """A held edition whose approval deadline passed: the deadline action applies."""
    return state == State.held and now >= deadline


# ---------------------------------------------------------------- catch-up
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
    state: State | None,
    reason: str | None,
) -> CatchUp:
    """What to do about the most recent send time at or before `now` for a day in `state`.

    An open day (no row, built, or skipped for an empty window) is sent late within `grace`
    of the send time; beyond it, it is recorded as missed (a morning newsletter at 3 p.m. does
    more harm than good). Anything else was decided already; a held edition waits for its
    approval deadline instead.
    """
    due_at = previous_fire(now, send_time, tz)
    day = due_at.astimezone(tz).date()
    late = now - due_at
    if not is_open(state, reason):
        return CatchUp("none", day, due_at, late, f"{day}: already {describe(state)}")
    hours = late.total_seconds() / 3600
    if late <= grace:
        return CatchUp("send", day, due_at, late, f"{day}: sending {hours:.1f} h late")
    if state == State.skipped:  # empty at the send time and all through the grace window
        why = f"not sent: {EMPTY_DAY} at the send time and within the grace window"
    else:
        why = (
            f"missed: nothing was sent at {send_time:%H:%M}; found {hours:.1f} h late, "
            f"beyond the {grace.total_seconds() / 3600:g} h catch-up grace"
        )
    return CatchUp("missed", day, due_at, late, why)
