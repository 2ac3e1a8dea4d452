"""The collect stage's public functions, in one place for the CLI, the pipeline and the web app.

- `sync_sources(session, settings) -> list[Source]`
- `collect_source(session, settings, storage, source_id) -> CollectResult`
- `run_collect(settings, progress_callback=None) -> list[dict]` (all sources, in-process)
- `source_health(session)`, `check_source(session, settings, name)`, `resume_source(session, name)`
- `skipped_items(session, limit)`: entries that could not be stored, with the reasons
"""

from __future__ import annotations

from worker.collect.collector import CollectResult, collect_source
from worker.collect.health import check_source, resume_source, skipped_items, source_health
from worker.collect.runner import run_collect
from worker.collect.sources import SourcesError, sync_sources

__all__ = [
    "CollectResult",
    "SourcesError",
    "check_source",
    "collect_source",
    "resume_source",
    "run_collect",
    "skipped_items",
    "source_health",
    "sync_sources",
]
