"""Benchmark: the ops console at newsroom scale. 1,000,000 subscribers and 1,000,000 ledger
rows of one edition that is sending, on PostgreSQL; the real app (TestClient) with a signed-in
operator. Times the Today page, its live figures (polled every 3 s), the recipient lookup (by
the start of an address and by @domain) and a subscriber page: median of 7 after a warm-up.

Baseline, in the same run: the query the page avoids, a full-table
`SELECT state, count(*) FROM deliveries GROUP BY state`.
Goal (issue 19): every page under 300 ms. Last line: `ops_page_ms: <slowest median> (goal < 300)`.

Run: .venv/bin/python bench/ops.py   (BENCH_OPS_ROWS=100000 for a quick run)
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient
from sqlalchemy import text

from bench.send import create_database, drop_database
from bench.timing import median_ms
from web.app import create_app
from worker import db
from worker.celery_app import configure
from worker.ops import accounts
from worker.settings import Settings

ROWS = int(os.environ.get("BENCH_OPS_ROWS", "1000000"))
DOMAINS = 500
DAY = date(2026, 11, 27)
GOAL_MS = 300.0
PASSWORD = "bench password 0123456789"

SUBSCRIBERS = """
INSERT INTO subscribers (email, name, domain, state, wants_daily, wants_audio_links, created_at,
                         token_nonce)
SELECT 'reader' || lpad(i::text, 7, '0') || '@dom' || (i % :domains) || '.example', NULL,
       'dom' || (i % :domains) || '.example', 'active', true, true, now(), md5(i::text)
FROM generate_series(1, :rows) AS i
"""
# each on the default newsletter, as `subscribers import` puts them (migration 0009)
SUBSCRIPTIONS = """
INSERT INTO subscriptions (subscriber_id, newsletter, created_at, confirmed_at, welcomed_at)
SELECT id, 'daily', now(), now(), now() FROM subscribers
"""
# the mix of a send in progress: most sent (over the last ten minutes), some queued and in
# flight, a few failed (550 / 451 out of attempts) and bounced
DELIVERIES = """
INSERT INTO deliveries (digest_id, edition_date, subscriber_id, state, message_id, attempts,
                        sent_at, last_error, resend_count, created_at, smtp_code)
SELECT :digest, (SELECT date FROM digests WHERE id = :digest), s.id,
       CASE WHEN s.id % 100 < 70 THEN 'sent' WHEN s.id % 100 < 90 THEN 'queued'
            WHEN s.id % 100 < 95 THEN 'sending' WHEN s.id % 100 < 98 THEN 'failed'
            ELSE 'bounced' END,
       '<' || s.id || '.bench@daily.example.org>', 1,
       CASE WHEN s.id % 100 < 70 THEN now() - (s.id % 600) * interval '1 second' END,
       CASE WHEN s.id % 100 >= 95 THEN '5.1.1 mailbox unavailable (' || s.id || ')' END,
       0, now(),
       CASE WHEN s.id % 100 < 70 THEN 250 WHEN s.id % 100 >= 95 THEN
            CASE WHEN s.id % 7 = 0 THEN 451 ELSE 550 END END
FROM subscribers s
"""


def fill(settings: Settings) -> None:
    engine = db.get_engine(settings.database_url)
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text(SUBSCRIBERS), {"rows": ROWS, "domains": DOMAINS})
        conn.execute(text(SUBSCRIPTIONS))
        digest = conn.execute(
            text(
                "INSERT INTO digests (date, state, subject, article_count, feed_item_count, "
                "html_bytes, degradations, built_at, pick_count, ledger_rows, window_start, "
                "window_end, send_claimed_at, fanned_out_at) VALUES (:day, 'sending', "
                "'Ukraine Daily', 8, 5, 60000, '[]', now(), 0, :rows, now(), now(), now(), "
                "now()) RETURNING id"
            ),
            {"day": DAY, "rows": ROWS},
        ).scalar_one()
        conn.execute(text(DELIVERIES), {"digest": digest})
    # what autovacuum does soon after a bulk load: statistics and the visibility map
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE subscribers"))
        conn.execute(text("VACUUM ANALYZE deliveries"))
    print(f"loaded {ROWS:,} subscribers and {ROWS:,} ledger rows in "
          f"{time.perf_counter() - started:.0f} s")  # fmt: skip


def main() -> None:
    name, url = create_database()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ops-"))
    try:
        settings = Settings(
            database_url=url,
            data_dir=workdir / "data",
            outbox_dir=workdir / "outbox",
            broker_url=None,
            smtp_url=None,
            secret_key="bench-secret-0123456789abcdefghijklmnopqrstuv",
            public_base_url="https://daily.example.org",
        )
        db.upgrade(settings)
        configure(settings)
        fill(settings)
        with db.session_scope(settings) as session:
            accounts.add(session, "ops@example.org", "operator", PASSWORD)

        engine = db.get_engine(settings.database_url)

        def full_count() -> None:
            with engine.connect() as conn:
                conn.execute(text("SELECT state, count(*) FROM deliveries GROUP BY state")).all()

        baseline = median_ms(full_count, runs=7)
        print(f"baseline, a full-table count by state: {baseline:.0f} ms")

        with TestClient(create_app(settings), base_url="https://daily.example.org") as client:
            token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/ops/login").text)
            assert token is not None
            r = client.post(
                "/ops/login",
                data={"email": "ops@example.org", "password": PASSWORD, "csrf_token": token[1]},
                follow_redirects=False,
            )
            assert r.status_code == 303, r.text
            middle = f"reader{ROWS // 2:07d}"
            with db.session_scope(settings) as session:
                sid = session.execute(
                    text("SELECT id FROM subscribers WHERE email LIKE :p LIMIT 1"),
                    {"p": middle + "%"},
                ).scalar_one()
            pages = {
                "Today (/ops/)": "/ops/",
                "live figures (live.json)": f"/ops/editions/{DAY.isoformat()}/live.json",
                "lookup by address start": f"/ops/subscribers?q={middle}",
                "lookup by @domain": "/ops/subscribers?q=%40dom7.example",
                "subscriber page": f"/ops/subscribers/{sid}",
            }
            results = {}
            for label, path in pages.items():

                def get(path: str = path) -> None:
                    answer = client.get(path)
                    assert answer.status_code == 200, (path, answer.status_code)

                results[label] = median_ms(get, runs=7)
                print(f"{label}: {results[label]:.0f} ms (goal < {GOAL_MS:.0f})")
        slowest = max(results.values())
        print(f"slowest page / full-table count: {slowest / baseline:.2f}")
        print(f"ops_page_ms: {slowest:.0f} (goal < {GOAL_MS:.0f})")
    finally:
        db.get_engine.cache_clear()
        drop_database(name)


if __name__ == "__main__":
    main()
