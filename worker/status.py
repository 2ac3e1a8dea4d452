"""`digestcast status`: the one-glance view ops read at 7 a.m."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from scheduler.daily import scheduler_status
from worker import listens, newsletters
from worker.audio.synthesis import audio_status
from worker.collect import skipped
from worker.delivery import counters
from worker.delivery.complaints import rate as complaint_rate
from worker.delivery.resend import delivery_status
from worker.edition.lifecycle import history
from worker.edition.lookup import find
from worker.models import Source
from worker.settings import Settings


def newsletter_rows(
    session: Session, settings: Settings, day: date, every: list[newsletters.Newsletter]
) -> list[dict[str, Any]]:
    """Every newsletter at a glance: its schedule and its edition of `day`, with that edition's
    recipients (its ledger rows: read from the edition, not counted over the subscribers,
    which takes more than half a second at a million)."""
    rows = []
    for n in every:
        digest = find(session, (n.slug, day))
        state = str(digest.state) if digest is not None else "not built"
        if digest is None and not n.publishes_on(day):
            state = "no edition that day"
        rows.append(
            {
                "slug": n.slug,
                "name": n.name,
                "language": n.language or "as the stories",
                "schedule": n.schedule_line(),
                f"edition {day.isoformat()}": state,
                "recipients": digest.ledger_rows if digest is not None else "-",
            }
        )
    return rows


def gather_status(
    session: Session, settings: Settings, day: date
) -> dict[str, list[dict[str, Any]]]:
    slug = newsletters.current(settings).slug
    digest = find(session, (slug, day))
    digest_rows: list[dict[str, Any]] = []
    history_rows: list[dict[str, Any]] = []
    delivery_rows: list[dict[str, Any]] = []
    failing: list[dict[str, Any]] = []
    resends: list[dict[str, Any]] = []
    complaint_rows: list[dict[str, Any]] = []
    if digest is None:
        digest_rows.append({"date": day.isoformat(), "state": "not built"})
    else:
        digest_rows.append(
            {
                "date": day.isoformat(),
                "state": str(digest.state),
                "why": digest.skip_reason or "",
                "stories": digest.article_count,
                "news items": digest.feed_item_count,
                "html KB": round(digest.html_bytes / 1024, 1),
                "degraded": ", ".join(digest.degradations) or "no",
                "sent at": digest.sent_at.astimezone(settings.tz).strftime("%H:%M")
                if digest.sent_at
                else "",
            }
        )
        counts = sorted(counters.counts(session, digest.id).items())
        delivery_rows = [{"state": state, "deliveries": n} for state, n in counts]
        history_rows = [
            {
                "at": datetime.fromisoformat(e["at"])
                .astimezone(settings.tz)
                .strftime("%m-%d %H:%M:%S"),
                "action": e["action"],
                "from -> to": f"{e['from'] or '-'} -> {e['to']}",
                "by": e["by"],
                "why": e["reason"],
            }
            for e in history(session, digest.id)
        ]
        details = delivery_status(session, day, slug)
        found = complaint_rate(session, settings, digest.id)
        complaint_rows = [
            {
                "complaints": found["complaints"],
                "delivered": found["delivered"],
                "rate": f"{found['complaint_rate']:.2%}",
                "warning": f"WARNING: {found['complaint_warning']}"
                if found["complaint_warning"]
                else "",
            }
        ]
        failing = [
            {"domain": r["domain"], "failed": r["failed"]} for r in details["failing_domains"]
        ]
        resends = [
            {
                **{k: r[k] for k in ("at", "by", "mode", "target", "selected", "dry_run")},
                "outcome": ", ".join(f"{k} {v}" for k, v in sorted(r["outcome"].items())),
            }
            for r in details["resends"]
        ]
    audio_rows = [{"state": state, "articles": n} for state, n in audio_status(session).items()]
    skip_counts = skipped.counts(session)
    source_rows = [
        {
            "source": s.name,
            "kind": str(s.kind),
            "last success": s.last_success_at.astimezone(settings.tz).strftime("%Y-%m-%d %H:%M")
            if s.last_success_at
            else "never",
            "failures": s.consecutive_failures,
            "paused": "PAUSED" if s.paused_at else "",
            "skipped": skip_counts.get(s.id, 0),
            "last error": s.last_error or "",
        }
        for s in session.scalars(select(Source).order_by(Source.name))
    ]
    # entries a feed had but that could not be stored (the rest of the feed was), and why
    skipped_rows = [
        {k: r[k] for k in ("source", "title", "reason", "times")}
        | {
            "last seen": datetime.fromisoformat(r["last_seen_at"])
            .astimezone(settings.tz)
            .strftime("%Y-%m-%d %H:%M")
        }
        for r in skipped.recent(session, 20)
    ]
    every = newsletters.all_newsletters(settings)
    title = f"Digest {day.isoformat()}"
    if len(every) > 1:
        title += f" of {newsletters.current(settings).name} (--newsletter {slug})"
    report = {
        "Newsletters": newsletter_rows(session, settings, day, every),
        title: digest_rows,
        "History": history_rows,
        "Deliveries": delivery_rows,
        "Failing domains": failing,
        "Resends": resends,
        "Complaints": complaint_rows,
        "Audio": audio_rows,
        "Sources": source_rows,
        "Skipped entries": skipped_rows,
        # from the web player's beacons: plays started, and how far (counters only)
        "Listening": listens.summary(session, 10),
    }
    report.update(scheduler_status(session, settings))
    return report
