"""With a broker (real Redis): collect.source chains audio.synthesize for new and edited
articles, and collect.all fans out a group of collect.source messages."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.conftest import make_settings
from worker import db
from worker.celery_app import app, configure
from worker.collect.sources import sync_sources
from worker.collect.tasks import collect_all_task, collect_source_task
from worker.settings import Settings

pytestmark = pytest.mark.integration

FEED = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
<link>https://n.example.org/</link>
<item><title>One</title><link>https://n.example.org/1</link><guid>1</guid>
<description>First.</description></item>
<item><title>Two</title><link>https://n.example.org/2</link><guid>2</guid>
<description>Second.</description></item></channel></rss>"""


def reset_broker_pools() -> None:
    """configure() changes the broker URL; pooled connections still point at the old one."""
    app._pool = None
    app.amqp._producer_pool = None


@pytest.fixture
def broker_settings(tmp_path: Path, redis_url: str) -> Iterator[Settings]:
    (tmp_path / "feeds").mkdir()
    (tmp_path / "feeds/a.xml").write_bytes(FEED)
    (tmp_path / "sources.toml").write_text(
        '[[source]]\nname = "A"\nurl = "feeds/a.xml"\nkind = "articles"\nlocal = true\n'
    )
    s = make_settings(tmp_path, broker_url=redis_url, sources=tmp_path / "sources.toml")
    db.upgrade(s)
    configure(s)
    reset_broker_pools()
    yield s
    configure(make_settings(tmp_path))  # back to embedded for the tests that follow
    reset_broker_pools()
    db.get_engine(s.database_url).dispose()


def queued(url: str) -> list[tuple[str, list[object]]]:
    """(task name, args) of every message waiting in the default queue."""
    client = redis.Redis.from_url(url)
    out = []
    for raw in client.lrange("celery", 0, -1):
        message = json.loads(raw)
        body = json.loads(base64.b64decode(message["body"]))
        out.append((message["headers"]["task"], body[0]))
    client.close()
    return out


def test_collect_source_chains_audio_for_new_articles(
    broker_settings: Settings, redis_url: str
) -> None:
    with db.session_scope(broker_settings) as session:
        (source,) = sync_sources(session, broker_settings)
        source_id = source.id
    result = collect_source_task(source_id)  # run here; what it dispatches goes to Redis
    assert len(result["new_articles"]) == 2
    assert sorted(queued(redis_url)) == sorted(
        ("audio.synthesize", [aid]) for aid in result["new_articles"]
    )


def test_collect_all_dispatches_a_group(broker_settings: Settings, redis_url: str) -> None:
    out = collect_all_task()
    assert out["sources"] == 1 and len(out["dispatched"]) == 1
    assert [name for name, _ in queued(redis_url)] == ["collect.source"]


def test_chain_audio_can_be_turned_off(broker_settings: Settings, redis_url: str) -> None:
    with db.session_scope(broker_settings) as session:
        (source,) = sync_sources(session, broker_settings)
        source_id = source.id
    result = collect_source_task(source_id, chain_audio=False)
    assert len(result["new_articles"]) == 2 and queued(redis_url) == []
