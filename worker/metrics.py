"""Prometheus metric objects shared by the stages and exposed by the web app's /metrics.

Two kinds, on purpose:
- process counters below: any stage may increment them (`MESSAGES_SENT.inc()`); they count what
  happened in the process that serves /metrics (embedded mode, or an admin-triggered collection);
- fleet-wide figures derived from the database at scrape time (`DatabaseCollector`): the ledger,
  the audio table and source health are the truth across every worker process, so a web process
  that never sends a message still reports honest numbers.

A scrape must stay cheap whatever the size of the ledger: the delivery figures are the latest
edition's counters per state (worker/delivery/counters.py, not a count of its rows), and the
figures are computed at most once per METRICS_CACHE_SECONDS per process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from worker.outage import is_redis, redis_client
from worker.queues import BULK_QUEUE, TRANSACTIONAL_QUEUE
from worker.settings import Settings

log = logging.getLogger(__name__)

MESSAGES_SENT = Counter("digestcast_messages_sent", "Messages handed to the transport")
MESSAGES_FAILED = Counter("digestcast_messages_failed", "Messages the transport refused")
TTS_REQUESTS = Counter("digestcast_tts_requests", "Requests made to a TTS engine", ["engine"])
TTS_FALLBACKS = Counter("digestcast_tts_fallbacks", "Articles spoken by the offline fallback")
SOURCE_FAILURES = Counter("digestcast_source_failures", "Failed source fetches", ["source"])
# the web process's own events
WEB_SUBSCRIBE = Counter("digestcast_web_subscribe", "Subscribe form posts by outcome", ["outcome"])
WEB_CONFIRM = Counter("digestcast_web_confirm", "Confirmation link clicks by outcome", ["outcome"])
WEB_UNSUBSCRIBE = Counter(
    "digestcast_web_unsubscribe", "Unsubscribes by kind (one-click POST or page form)", ["kind"]
)

CELERY_QUEUE = BULK_QUEUE


def queue_depth(broker_url: str, queue: str = CELERY_QUEUE) -> int:
    """Messages waiting in the Redis list Celery uses for `queue` (kombu's Redis transport)."""
    client = redis_client(broker_url)
    try:
        return int(client.llen(queue))
    finally:
        client.close()


def _labelled(
    name: str, documentation: str, label: str, samples: Iterable[tuple[str, float]]
) -> GaugeMetricFamily:
    """A gauge with one sample per value of `label`."""
    gauge = GaugeMetricFamily(name, documentation, labels=[label])
    for value, count in samples:
        gauge.add_metric([value], count)
    return gauge


class DatabaseCollector(Collector):
    """Gauges computed from the database (and the broker) each time Prometheus scrapes."""

    def __init__(self, settings: Settings, clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._cached: list[Metric] | None = None
        self._cached_at = 0.0

    def describe(self) -> Iterable[Metric]:
        # no up-front description: collect() touches the database only at scrape time
        return []

    def collect(self) -> Iterator[Metric]:
        with self._lock:  # one computation at a time; the others wait and reuse it
            now = self._clock()
            if self._cached is None or now - self._cached_at >= self.settings.metrics_cache_seconds:
                self._cached = list(self._compute())
                self._cached_at = now
            return iter(self._cached)

    def _compute(self) -> Iterator[Metric]:
        from worker.db import session_scope
        from worker.delivery import counters
        from worker.models import Audio, AudioState, Delivery, DeliveryState, Source

        up = GaugeMetricFamily("digestcast_database_up", "1 when the database answered")
        try:
            with session_scope(self.settings) as session:
                # the newest edition with a ledger: max() of the index's leading column
                latest = session.scalar(select(func.max(Delivery.digest_id)))
                deliveries = {} if latest is None else counters.counts(session, latest)
                audio = dict(
                    session.execute(select(Audio.state, func.count()).group_by(Audio.state)).all()
                )
                tts_requests = session.scalar(select(func.coalesce(func.sum(Audio.requests), 0)))
                engines = dict(
                    session.execute(
                        select(Audio.engine, func.count())
                        .where(Audio.engine.is_not(None))
                        .group_by(Audio.engine)
                    ).all()
                )
                failures = session.scalar(
                    select(func.coalesce(func.sum(Source.consecutive_failures), 0))
                )
                failing = session.scalar(
                    select(func.count()).select_from(Source).where(Source.consecutive_failures > 0)
                )
        except Exception:  # a scrape must still answer; the gauge says what failed
            log.exception("metrics: database query failed")
            up.add_metric([], 0)
            yield up
        else:
            up.add_metric([], 1)
            yield up
            yield GaugeMetricFamily(
                "digestcast_deliveries_digest_id",
                "The digest (latest edition with a ledger) the delivery figures count",
                value=int(latest or 0),
            )
            yield _labelled(
                "digestcast_deliveries",
                "Ledger rows per delivery state, latest edition",
                "state",
                ((state.value, deliveries.get(state, 0)) for state in DeliveryState),
            )
            yield GaugeMetricFamily(
                "digestcast_db_messages_sent",
                "Messages sent (ledger rows in state sent), latest edition",
                value=deliveries.get(DeliveryState.sent, 0),
            )
            yield GaugeMetricFamily(
                "digestcast_db_messages_failed",
                "Messages that failed (ledger rows in state failed or bounced), latest edition",
                value=deliveries.get(DeliveryState.failed, 0)
                + deliveries.get(DeliveryState.bounced, 0),
            )
            yield _labelled(
                "digestcast_audio",
                "Article audio per state",
                "state",
                ((state.value, audio.get(state, 0)) for state in AudioState),
            )
            yield GaugeMetricFamily(
                "digestcast_db_tts_requests",
                "TTS requests recorded for the stored audio",
                value=int(tts_requests or 0),
            )
            yield GaugeMetricFamily(
                "digestcast_db_tts_fallbacks",
                "Article audio spoken by the offline fallback, waiting for an upgrade",
                value=audio.get(AudioState.fallback, 0),
            )
            yield _labelled(
                "digestcast_audio_by_engine",
                "Stored article audio per engine",
                "engine",
                ((str(engine), count) for engine, count in sorted(engines.items())),
            )
            yield GaugeMetricFamily(
                "digestcast_db_source_failures",
                "Consecutive failures summed over all sources",
                value=int(failures or 0),
            )
            yield GaugeMetricFamily(
                "digestcast_sources_failing",
                "Sources whose last fetch failed",
                value=int(failing or 0),
            )
        if self.settings.broker_url and is_redis(self.settings.broker_url):
            q = GaugeMetricFamily(
                "digestcast_queue_depth", "Tasks waiting in the broker queue", labels=["queue"]
            )
            for queue in (BULK_QUEUE, TRANSACTIONAL_QUEUE):  # mail waiting behind a send shows
                try:
                    q.add_metric([queue], queue_depth(self.settings.broker_url, queue))
                except Exception:
                    log.exception("metrics: broker query failed")
                    q.add_metric([queue], float("nan"))
            yield q
