"""The digest's time window (pure): which publication times belong to the digest of Kyiv day D.

The digest for day D holds what was first published after the previous digest's cut-off and up
to D's send time, both in the newsroom's time zone. Times are computed as wall-clock times in
that zone and converted to UTC, so across a DST change the window is 23 or 25 hours long
(Europe/Kyiv: 2026-03-29 and 2026-10-25).

Two refinements keep it useful in practice:
- With no previous digest, the window starts at D-1's send time and includes that instant.
- A window never reaches back more than MAX_WINDOW: after a long pause (the service was off for
  a month) the first digest holds the last week, not a month of news.

"No item in two digests" is enforced by the `digest_id` each selected item gets (see select.py);
the windows merely decide what is eligible.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_WINDOW = timedelta(days=7)


@dataclass(frozen=True)
class Window:
    start: datetime  # UTC
    end: datetime  # UTC, inclusive (the send time)
    start_inclusive: bool  # True only for a first digest (no earlier cut-off to respect)

    def contains(self, moment: datetime) -> bool:
        moment = moment.astimezone(UTC)
        after_start = moment >= self.start if self.start_inclusive else moment > self.start
        return after_start and moment <= self.end

    @property
    def hours(self) -> float:
        return (self.end - self.start).total_seconds() / 3600


def send_moment(day: date, send_time: time, tz: ZoneInfo) -> datetime:
    """D's send time as an aware UTC datetime.

    A send time that falls into a DST gap (a wall-clock time that does not exist) is taken with
    fold=0, which zoneinfo maps forward (PEP 495); a repeated time takes its first occurrence.
    """
    local = datetime.combine(day, send_time.replace(tzinfo=None), tzinfo=tz)
    return local.astimezone(UTC)


def digest_window(
    day: date, send_time: time, tz: ZoneInfo, previous_cutoff: datetime | None = None
) -> Window:
    """The window of day D; `previous_cutoff` is the previous digest's window end (UTC)."""
    end = send_moment(day, send_time, tz)
    if previous_cutoff is None or previous_cutoff >= end:
        # no earlier digest (or only a later one, when days are built out of order): one day
        start = send_moment(day - timedelta(days=1), send_time, tz)
        return Window(start=start, end=end, start_inclusive=True)
    previous_cutoff = previous_cutoff.astimezone(UTC)
    if end - previous_cutoff > MAX_WINDOW:
        return Window(start=end - MAX_WINDOW, end=end, start_inclusive=True)
    return Window(start=previous_cutoff, end=end, start_inclusive=False)
