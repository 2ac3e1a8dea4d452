"""The welcome mail: after a confirmation, one per newsletter the subscriber just joined,
with the latest edition's link and its spoken briefing, on the transactional path.

Once per confirmation: a subscription row's `welcomed_at` is set in the same transaction that
claims it (only rows still without one are welcomed), and a confirmation link works once.
The templates are `welcome.txt.j2` / `welcome.html.j2` in the newsletter's own template folder
when it has them, else templates/email/; the labels come from its language's catalogue.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from sqlalchemy import select, update

from worker import db, i18n, newsletters
from worker.edition.lookup import PUBLISHED, edition_path
from worker.models import Digest, Subscriber, Subscription, utcnow
from worker.paths import templates_dir
from worker.settings import Settings
from worker.storage import get_storage, keys

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Welcome:
    to: str
    subject: str
    text: str
    html: str


def environment(newsletter: newsletters.Newsletter) -> Environment:
    folders = [str(newsletter.templates)] if newsletter.templates else []
    env = Environment(
        loader=FileSystemLoader([*folders, str(templates_dir() / "email")]),
        autoescape=select_autoescape(
            enabled_extensions=("html.j2",), disabled_extensions=("txt.j2",), default=True
        ),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    return i18n.install(env, newsletter.language)


def _latest(settings: Settings, slug: str) -> dict[str, Any] | None:
    """The newest edition readers may see: its date label, page and briefing (if spoken)."""
    base = settings.public_base_url.rstrip("/")
    with db.session_scope(settings) as session:
        digest = session.scalar(
            select(Digest)
            .where(Digest.newsletter == slug, Digest.state.in_(PUBLISHED))
            .order_by(Digest.date.desc())
            .limit(1)
        )
        if digest is None:
            return None
        day, subject = digest.date, digest.subject
    path = edition_path(slug, day)
    has_audio = get_storage(settings).exists(keys.edition(slug, day).briefing.mp3)
    return {
        "day": day,
        "subject": subject,
        "url": f"{base}/digests/{path}",
        "audio_url": f"{base}/briefing/{path}" if has_audio else None,
    }


def compose(
    settings: Settings, newsletter: newsletters.Newsletter, to: str, name: str | None
) -> Welcome:
    scoped = newsletters.scoped(settings, newsletter)
    latest = _latest(scoped, newsletter.slug)
    env = environment(newsletter)
    context = {
        "newsletter_name": newsletter.name,
        "first_name": (name or "").split(" ", 1)[0],
        "schedule": newsletter,
        "latest": latest,
        "latest_label": i18n.format_day(latest["day"], newsletter.language) if latest else "",
        "base_url": settings.public_base_url.rstrip("/"),
    }
    gettext = i18n.gettext_for(newsletter.language).gettext
    subject = gettext("Welcome to %(name)s") % {"name": newsletter.name}
    return Welcome(
        to=to,
        subject=" ".join(subject.split()),
        text=env.get_template("welcome.txt.j2").render(context),
        html=env.get_template("welcome.html.j2").render(context),
    )


def send_welcomes(settings: Settings, subscriber_id: int, slugs: list[str]) -> int:
    """Welcome the subscriber to each newsletter of `slugs` not welcomed yet; returns how many
    were sent (or queued). A failure is logged: the subscription stands without its welcome."""
    from worker.delivery.transactional import send_soon

    sent = 0
    for slug in slugs:
        with db.session_scope(settings) as session:
            claimed = session.execute(
                update(Subscription)
                .where(
                    Subscription.subscriber_id == subscriber_id,
                    Subscription.newsletter == slug,
                    Subscription.welcomed_at.is_(None),
                    Subscription.left_at.is_(None),
                )
                .values(welcomed_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            row = session.get(Subscriber, subscriber_id)
            if getattr(claimed, "rowcount", 0) != 1 or row is None:
                continue
            to, name = row.email, row.name
        try:
            newsletter = newsletters.get(settings, slug)
            mail = compose(settings, newsletter, to, name)
            send_soon(
                newsletters.scoped(settings, newsletter), to, mail.subject, mail.text, mail.html
            )
            sent += 1
        except Exception:
            log.exception("welcome to %s for subscriber %s could not be sent", slug, subscriber_id)
    return sent
