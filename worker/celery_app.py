"""The one place Celery is configured (as in warehouse's tasks.py).

With BROKER_URL unset, tasks execute in-process (eager) so the embedded default needs no server;
with BROKER_URL=redis://..., the same tasks go through Redis to `digestcast worker`.
"""

from __future__ import annotations

import gc
import warnings
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_process_init

from worker import outage
from worker.queues import BULK_QUEUE, TRANSACTIONAL_QUEUE
from worker.settings import Settings, get_settings

TASK_MODULES = [
    "worker.collect.tasks",
    "worker.audio.tasks",
    "worker.digest.tasks",
    "worker.delivery.tasks",
    "worker.inbox.tasks",
    "worker.edition.tasks",
    "scheduler.tasks",
]

app = Celery("digestcast", include=TASK_MODULES)
_settings: Settings | None = None


def _freeze_startup_objects(**_: Any) -> None:
    """Take what exists once the worker (and each pool process) has started out of the cyclic
    garbage collector's sight: its full collections kept walking Celery's and SQLAlchemy's
    objects, measured at 30-60 us per message sent (15-20 us left). Frozen before the fork,
    the pool processes also stop touching (and copying) the parent's pages."""
    gc.freeze()


worker_init.connect(_freeze_startup_objects)
worker_process_init.connect(_freeze_startup_objects)
# Redis away: one line when it goes, one when it is back (not one per reconnection attempt)
outage.quiet_broker_retries()
# a running batch is left to finish on a lost broker connection (its rows are in the ledger,
# not in the task message); Celery warns about that choice at every disconnection
warnings.filterwarnings("ignore", message=r"\s*In Celery 5\.1 we introduced an optional")


def configure(settings: Settings) -> Celery:
    """Point the app at `settings`; tasks read them back with current_settings()."""
    global _settings
    if _settings is not None and _settings.broker_url != settings.broker_url:
        # pooled connections and producers still point at the previous broker
        app._pool = None
        app.amqp._producer_pool = None
    _settings = settings
    embedded = settings.embedded
    app.conf.update(
        broker_url=settings.broker_url or "memory://",
        result_backend=settings.broker_url or "cache+memory://",
        task_always_eager=embedded,
        task_eager_propagates=embedded,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # at-least-once: a task whose worker dies is redelivered; every task is idempotent
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        result_expires=86400,
        timezone=settings.timezone,
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        # Redis down for longer than Celery's 100 attempts (~50 min) must not end the worker
        broker_connection_max_retries=None,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_transport_options={"visibility_timeout": 3600},
        worker_hijack_root_logger=False,
        task_default_queue=BULK_QUEUE,
        task_routes={"mail.transactional": {"queue": TRANSACTIONAL_QUEUE}},
    )
    return app


def current_settings() -> Settings:
    return _settings if _settings is not None else get_settings()


configure(get_settings())
