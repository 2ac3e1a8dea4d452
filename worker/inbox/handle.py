"""Acting on one message of the mailbox, each in its own transaction, and what ops read after.

- complaint (ARF): the complainer is unsubscribed and suppressed (complaints.py);
- bounce: the row becomes `bounced` and its subscriber is suppressed, a delay is noted
  (bounces.py);
- unsubscribe request: the token's subscriber is unsubscribed, as the one-click URL does;
- other: nothing (a reply or an auto-reply, left for a person to read).

Nothing is trusted that our records do not confirm (a verified row tag and the row's own
address, a signed token); a message that fails those checks changes nothing and is reported
with the reason. Handling the same message twice changes nothing the second time.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from worker import db, newsletters, subscriptions
from worker.delivery import bounces, complaints, returned
from worker.inbox.sort import Kind, kind, unsubscribe_request
from worker.models import Subscriber, SubscriberState, utcnow
from worker.settings import Settings
from worker.tokens import TokenError, nonce_matches, read_unsubscribe_token

log = logging.getLogger(__name__)
# outcomes that mean "this message was about us and is dealt with" (flagged \Seen over IMAP)
DONE = ("bounced", "delayed", "complained", "unsubscribed", "already", "ignored")
_WHY = {
    "not_ours": "names no row of ours (no verified tag: forged, another instance's, or not ours)",
    "wrong_recipient": "its recipient is not the address the row was sent to",
    "unreadable": "could not be read as a report",
    "invalid_token": "the unsubscribe token does not verify",
    "unknown_subscriber": "the unsubscribe token names no subscriber",
}


@dataclass(frozen=True)
class Handled:
    kind: Kind
    outcomes: tuple[str, ...]

    @property
    def done(self) -> bool:
        """About one of our messages or readers, and dealt with (now or before)."""
        return any(o in DONE for o in self.outcomes)

    @property
    def problem(self) -> str | None:
        """Why a report changed nothing, for ops; None when it was fine."""
        reasons = [_WHY[o] for o in self.outcomes if o in _WHY]
        return "; ".join(dict.fromkeys(reasons)) or None


def unsubscribe(session: Session, settings: Settings, token: str, slug: str | None = None) -> str:
    """What the one-click URL does (web/unsubscribe.py; web/leave.py with a newsletter's slug),
    for the same signed token: the row it was made for (its nonce matches) leaves that
    newsletter, or everything, once; its confirmation link dies with it. A slug no longer
    configured leaves everything: the reader asked to hear no more."""
    try:
        ref = read_unsubscribe_token(settings, token)
    except TokenError:
        return "invalid_token"
    subscriber = session.get(Subscriber, ref.subscriber_id)
    if subscriber is None or not nonce_matches(subscriber.token_nonce, ref.nonce):
        return "unknown_subscriber"  # wiped, or a later row for the address
    if slug is not None and slug in {n.slug for n in newsletters.all_newsletters(settings)}:
        return "left_newsletter" if subscriptions.leave(session, subscriber.id, slug) else "already"
    subscriber.confirm_nonce = None
    if subscriber.state == SubscriberState.unsubscribed:
        return "already"
    subscriber.state = SubscriberState.unsubscribed
    subscriber.unsubscribed_at = utcnow()
    return "unsubscribed"


def handle(settings: Settings, raw: bytes) -> Handled:
    """Sort one message and act on it, committed on its own (a failure rolls back only it)."""
    try:
        message = returned.parse(raw)
        what = kind(message)
    except Exception:  # a message the parser chokes on is "other", not a crash
        log.warning("unreadable message in the inbox", exc_info=True)
        return Handled("other", ("unreadable",))
    if what == "other":
        return Handled("other", ())
    try:
        with db.session_scope(settings) as session:
            outcomes: tuple[str, ...]
            if what == "complaint":
                outcomes = (complaints.record(session, settings, message),)
            elif what == "bounce":
                outcomes = tuple(bounces.record(session, settings, message))
            else:
                token, slug = unsubscribe_request(message) or ("", None)
                outcomes = (unsubscribe(session, settings, token, slug),)
    except Exception:
        log.exception("handling a %s from the inbox failed", what)
        return Handled(what, ("unreadable",))
    return Handled(what, outcomes)


@dataclass
class Summary:
    """What a run of `inbox import` or `inbox fetch` did."""

    source: str
    kinds: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)  # "<message key>: <kind>: <why>"

    def add(self, key: str, handled: Handled) -> None:
        self.kinds[handled.kind] += 1
        self.outcomes.update(handled.outcomes)
        if handled.problem:
            self.problems.append(f"{key}: {handled.kind}: {handled.problem}")

    def line(self) -> str:
        k, o = self.kinds, self.outcomes
        changed = o["bounced"] + o["complained"] + o["unsubscribed"]
        return (
            f"inbox {self.source}: {sum(k.values())} messages: {k['bounce']} bounces "
            f"({o['bounced']} bounced and suppressed, {o['delayed']} delayed), "
            f"{k['complaint']} complaints ({o['complained']} unsubscribed and suppressed), "
            f"{k['unsubscribe']} unsubscribe requests ({o['unsubscribed']} unsubscribed), "
            f"{k['other']} other; {changed} changes, {o['already']} already recorded, "
            f"{len(self.problems)} refused"
        )

    def as_dict(self) -> dict[str, object]:
        return {
            "source": self.source,
            "kinds": dict(self.kinds),
            "outcomes": dict(self.outcomes),
            "problems": self.problems[:100],
        }
