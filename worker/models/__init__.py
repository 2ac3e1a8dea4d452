"""The data model (SQLAlchemy 2), one module per table family. Times are stored in UTC; Kyiv
time is a presentation concern.

- `base`: the declarative base and the column types every table shares.
- `articles`: sources, articles, news-feed items, skipped entries, audio (collect and audio).
- `subscribers`: subscribers, subscriptions, suppressions.
- `editions`: digests, their lifecycle events, the delivery ledger and its events, resends.
- `listens`: the web player's counters.
- `partitions`: the ledger's monthly partitions on PostgreSQL (made ahead, dropped by prune).

The ops console's tables are in worker/ops/models.py and the ledger's summary tables in
worker/delivery/ledger_models.py; worker/schema.py gathers every table for the migrations.
Each stage owns its tables; a schema change needs a new migration (`make migration
MESSAGE="..."`); tests/test_db.py fails while models and migrations differ.
"""

from worker.models.articles import (
    Article,
    Audio,
    AudioState,
    FeedItem,
    SkippedItem,
    Source,
    SourceKind,
)
from worker.models.base import Base, UTCDateTime, str_enum, utcnow
from worker.models.editions import (
    Delivery,
    DeliveryEvent,
    DeliveryState,
    Digest,
    DigestState,
    EditionEvent,
    Resend,
)
from worker.models.listens import ListenCount
from worker.models.subscribers import Subscriber, SubscriberState, Subscription, Suppression

__all__ = [
    "Article",
    "Audio",
    "AudioState",
    "Base",
    "Delivery",
    "DeliveryEvent",
    "DeliveryState",
    "Digest",
    "DigestState",
    "EditionEvent",
    "FeedItem",
    "ListenCount",
    "Resend",
    "SkippedItem",
    "Source",
    "SourceKind",
    "Subscriber",
    "SubscriberState",
    "Subscription",
    "Suppression",
    "UTCDateTime",
    "str_enum",
    "utcnow",
]
