"""The daily job: collect -> audio -> podcast feeds -> digest -> delivery, through the Celery tasks.

Embedded (no broker): each task runs in-process, one after another. With a broker the same
signatures go to the workers and this process waits for their results. Either way the stages
are idempotent, so a second run for the same day does nothing new and says so.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from celery import Signature
from sqlalchemy import or_, select

from worker import newsletters
from worker.celery_app import TASK_MODULES, app, configure
from worker.db import session_scope
from worker.delivery import counters
from worker.models import Article, Audio, AudioState, DeliveryState, DigestState
from worker.settings import Settings

# (done, total, label) -> None; the CLI turns it into a progress bar.
Progress = Callable[[int, int, str], None]


def _no_progress(_done: int, _total: int, _label: str) -> None:
    return None


def load_tasks(settings: Settings) -> None:
    """Register every task with the app (the worker does this itself through `include`)."""
    configure(settings)
    for module in TASK_MODULES:
        importlib.import_module(module)


def _apply(sig: Signature) -> dict[str, Any]:
    result: dict[str, Any] = sig.apply(throw=True).get()
    return result


def _task_name(sig: Signature, _result: dict[str, Any]) -> str:
    return str(sig.task)


def run_tasks(
    settings: Settings,
    signatures: Iterable[Signature],
    progress: Progress = _no_progress,
    describe: Callable[[Signature, dict[str, Any]], str] = _task_name,
    parallel: int = 1,
) -> list[dict[str, Any]]:
    """Run task signatures and return their results in order.

    Embedded: in this process, one after another or, for I/O-bound tasks, `parallel` at once in
    threads. Broker: all dispatched at once, then awaited, so the workers run them in parallel.
    """
    sigs = list(signatures)
    results: list[dict[str, Any]] = []
    if settings.embedded and parallel > 1 and len(sigs) > 1:
        with ThreadPoolExecutor(max_workers=parallel) as pool:
            futures = {pool.submit(_apply, sig): sig for sig in sigs}
            done_results: dict[int, dict[str, Any]] = {}
            for done, future in enumerate(as_completed(futures), start=1):
                sig = futures[future]
                done_results[id(sig)] = future.result()
                progress(done, len(sigs), describe(sig, done_results[id(sig)]))
        return [done_results[id(sig)] for sig in sigs]
    if settings.embedded:
        for done, sig in enumerate(sigs, start=1):
            results.append(_apply(sig))
            progress(done, len(sigs), describe(sig, results[-1]))
        return results
    pending = [sig.apply_async() for sig in sigs]
    for done, (sig, async_result) in enumerate(zip(sigs, pending, strict=True), start=1):
        results.append(async_result.get(timeout=3600, propagate=True, disable_sync_subtasks=False))
        progress(done, len(sigs), describe(sig, results[-1]))
    return results


def task(name: str, *args: Any) -> Signature:
    return app.signature(name, args=list(args))


@dataclass
class CollectSummary:
    sources: int = 0
    failed: list[str] = field(default_factory=list)
    new_articles: list[int] = field(default_factory=list)
    updated_articles: list[int] = field(default_factory=list)
    new_feed_items: int = 0
    skipped_items: int = 0  # entries not stored, with reasons in `digestcast sources list`

    def line(self) -> str:
        ok = self.sources - len(self.failed)
        text = (
            f"collected {ok}/{self.sources} sources: {len(self.new_articles)} new and "
            f"{len(self.updated_articles)} updated articles, {self.new_feed_items} new news items"
        )
        if self.skipped_items:
            text += f"; {self.skipped_items} entries skipped (`digestcast sources list` says why)"
        if self.failed:
            text += f"; failed: {'; '.join(self.failed)}"
        return text


def collect(settings: Settings, progress: Progress = _no_progress) -> CollectSummary:
    from worker.collect.sources import sync_sources

    load_tasks(settings)
    with session_scope(settings) as session:
        source_ids = [s.id for s in sync_sources(session, settings) if s.paused_at is None]
    # chain_audio=False: this pipeline schedules audio itself, once, after collection
    sigs = (task("collect.source", sid, False) for sid in source_ids)

    def describe(_sig: Signature, result: dict[str, Any]) -> str:
        return f"{result.get('source')}: {'ok' if result.get('ok') else result.get('error')}"

    # fetching is I/O-bound: embedded runs fetch several sources at once, each task in its thread
    results = run_tasks(settings, sigs, progress, describe, parallel=settings.collect_concurrency)
    summary = CollectSummary(sources=len(results))
    for result in results:
        if not result.get("ok"):
            summary.failed.append(f"{result.get('source')}: {result.get('error')}")
        summary.new_articles += result.get("new_articles", [])
        summary.updated_articles += result.get("updated_articles", [])
        summary.new_feed_items += int(result.get("new_feed_items", 0))
        summary.skipped_items += int(result.get("skipped_items", 0))
    return summary


@dataclass
class AudioSummary:
    synthesized: int = 0
    unchanged: int = 0
    failed: list[str] = field(default_factory=list)
    engines: dict[str, int] = field(default_factory=dict)
    requests: int = 0

    def line(self) -> str:
        engines = ", ".join(f"{n} by {e}" for e, n in sorted(self.engines.items()))
        text = f"audio: {self.synthesized} synthesized" + (f" ({engines})" if engines else "")
        text += f", {self.unchanged} unchanged"
        if self.failed:
            text += f", {len(self.failed)} failed: {'; '.join(self.failed)}"
        return text


def articles_needing_audio(settings: Settings, extra_ids: Iterable[int] = ()) -> list[int]:
    """New or edited articles, plus any whose audio is missing, pending or failed."""
    with session_scope(settings) as session:
        stmt = (
            select(Article.id)
            .outerjoin(Audio, Audio.article_id == Article.id)
            .where(
                or_(Audio.id.is_(None), Audio.state.in_([AudioState.pending, AudioState.failed]))
            )
        )
        ids = set(session.scalars(stmt)) | set(extra_ids)
    return sorted(ids)


def synthesize(
    settings: Settings, article_ids: list[int], progress: Progress = _no_progress
) -> AudioSummary:
    load_tasks(settings)
    requests = 0

    def describe(_sig: Signature, result: dict[str, Any]) -> str:
        nonlocal requests
        requests += int(result.get("requests") or 0)
        return f"{result.get('status')} by {result.get('engine')}, {requests} TTS requests"

    sigs = (task("audio.synthesize", aid) for aid in article_ids)
    results = run_tasks(settings, sigs, progress, describe)
    summary = AudioSummary()
    for result in results:
        status = result.get("status")
        summary.requests += int(result.get("requests") or 0)
        if status == "synthesized":
            summary.synthesized += 1
            engine = str(result.get("engine"))
            summary.engines[engine] = summary.engines.get(engine, 0) + 1
        elif status == "unchanged":
            summary.unchanged += 1
        else:
            summary.failed.append(f"article {result.get('article_id')}: {result.get('error')}")
    return summary


def publish_podcasts(settings: Settings) -> dict[str, Any]:
    load_tasks(settings)
    return run_tasks(settings, [task("audio.podcasts")])[0]


def build_digest(settings: Settings, day: date) -> dict[str, Any]:
    """The `digest.build` task: the edition's content, (re)built through the lifecycle, of
    the newsletter the settings address (the first one unless scoped)."""
    load_tasks(settings)
    slug = newsletters.current(settings).slug
    return run_tasks(settings, [task("digest.build", day.isoformat(), "digest.build", slug)])[0]


def deliver(
    settings: Settings,
    day: date,
    progress: Progress = _no_progress,
    *,
    force: bool = False,
    by: str | None = None,
    reason: str = "",
) -> dict[str, Any]:
    """Start the edition's send through the lifecycle and wait until it has drained (or was
    paused or cancelled). The lifecycle decides: an empty day, a quiet day under the policy,
    a held or closed edition send nothing, and its outcome says why."""
    from worker.edition import lifecycle
    from worker.edition.lookup import find
    from worker.edition.progress import wait_for_drain

    load_tasks(settings)
    with session_scope(settings) as session:
        digest = find(session, newsletters.edition_key(settings, day))
        digest_id = digest.id if digest is not None else None
    sent_before = count_sent(settings, digest_id) if digest_id is not None else 0
    outcome = lifecycle.start(settings, day, by=by, reason=reason, force=force)
    result: dict[str, Any] = {"lifecycle": outcome.as_dict(), "sent_now": 0}
    digest_id = outcome.digest_id or digest_id
    if digest_id is None:
        return result
    with session_scope(settings) as session:
        digest = find(session, digest_id)
        sending = digest is not None and digest.state == DigestState.sending
    if sending or (outcome.ok and outcome.to_state == "sending"):
        result["drained"] = wait_for_drain(settings, digest_id, progress=progress)
    else:
        from worker.delivery.recovery import counts

        with session_scope(settings) as session:
            result["counts"] = counts(session, digest_id)
    result["sent_now"] = count_sent(settings, digest_id) - sent_before
    return result


def count_sent(settings: Settings, digest_id: int) -> int:
    """Rows of the edition in `sent` now."""
    with session_scope(settings) as session:
        return counters.count_in(session, digest_id, [DeliveryState.sent])


@dataclass
class EditionRun:
    """One newsletter's edition of the day in a run: what was built, what was delivered."""

    name: str
    digest: dict[str, Any]
    delivery: dict[str, Any] | None
    labelled: bool  # several newsletters: each line says whose edition it is

    def lines(self, day: date) -> list[str]:
        d = self.digest
        lines = [
            f"digest {day.isoformat()}: {d.get('articles', 0)} stories, "
            f"{d.get('feed_items', 0)} news items, {d.get('picks', 0)} editors' picks"
            + (f", briefing {d['briefing_minutes']} min" if d.get("briefing_minutes") else "")
        ]
        if self.delivery is None:
            lines.append("delivery: skipped (--no-send)")
        else:
            lines.extend(delivery_lines(self.delivery))
        return [f"{self.name}: {line}" for line in lines] if self.labelled else lines


@dataclass
class DailySummary:
    day: date
    collect: CollectSummary
    audio: AudioSummary
    editions: list[EditionRun]

    @property
    def digest(self) -> dict[str, Any]:
        return self.editions[0].digest if self.editions else {}

    @property
    def delivery(self) -> dict[str, Any] | None:
        return self.editions[0].delivery if self.editions else None

    def lines(self) -> list[str]:
        lines = [self.collect.line(), self.audio.line()]
        for edition in self.editions:
            lines.extend(edition.lines(self.day))
        if not self.editions:
            lines.append(f"no newsletter publishes on {self.day:%A} {self.day.isoformat()}")
        return lines

    @property
    def nothing_new(self) -> bool:
        sent_now = sum((e.delivery or {}).get("sent_now", 0) for e in self.editions)
        return (
            not self.collect.new_articles
            and not self.collect.updated_articles
            and self.audio.synthesized == 0
            and sent_now == 0
        )


def delivery_line(result: dict[str, Any]) -> str:
    drained = result.get("drained", result)
    counts = drained.get("counts", {})
    text = f"delivery: {result.get('sent_now', 0)} sent now"
    if counts:
        text += " (ledger: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")"
    if drained.get("state") in ("paused", "cancelled"):
        text += f"; {drained['state']}: {drained.get('reason') or ''}".rstrip(": ")
    return text


def delivery_lines(result: dict[str, Any]) -> list[str]:
    """What the lifecycle decided (unless it simply started the send), then the delivery."""
    outcome = result.get("lifecycle") or {}
    lines = []
    if not (outcome.get("ok") and outcome.get("to_state") == "sending"):
        lines.append(str(outcome.get("line")))
    if outcome.get("to_state") in ("sending", "sent", "paused", "cancelled"):
        lines.append(delivery_line(result))
    return lines


def run_daily(
    settings: Settings,
    day: date,
    *,
    send: bool = True,
    progress: Callable[[str], Progress] | None = None,
) -> DailySummary:
    """The whole daily job once: collect and speak, then build and deliver the edition of
    every newsletter that publishes on `day` (or only the one the settings are scoped to).
    `progress(stage)` returns a progress callback for that stage."""

    def stage(name: str) -> Progress:
        return progress(name) if progress else _no_progress

    collected = collect(settings, stage("collect"))
    todo = articles_needing_audio(settings, collected.new_articles + collected.updated_articles)
    audio = synthesize(settings, todo, stage("audio"))
    publish_podcasts(settings)
    every = newsletters.all_newsletters(settings)
    chosen = [newsletters.current(settings)] if settings.newsletter_slug else every
    editions = []
    for newsletter in chosen:
        if not newsletter.publishes_on(day):
            continue
        scoped = newsletters.scoped(settings, newsletter)
        digest = build_digest(scoped, day)
        delivery = deliver(scoped, day, stage("send")) if send else None
        editions.append(EditionRun(newsletter.name, digest, delivery, len(every) > 1))
    return DailySummary(day=day, collect=collected, audio=audio, editions=editions)
