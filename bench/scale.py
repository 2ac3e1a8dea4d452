"""The ledger at newsroom scale, on PostgreSQL: `python bench/scale.py`.

1. 1,000,000 subscribers (SCALE_SUBSCRIBERS) inserted by SQL, the day's digest staged and put
   in `sending`, then the lifecycle's fan-out timed on its own (its batches go to a Redis
   nobody serves yet). Goal: under 30 s.
2. The ledger's size per row (table and indexes, pg_total_relation_size / rows).
3. `digestcast status` (worker.status.gather_status, in-process: the CLI's own start-up is
   printed apart) and the ops API's delivery status (GET /admin/digests/{date}/status) on that
   ledger, the median of 5 runs each. Goal: under 100 ms each.
4. Sends to smtp-sink through one `celery worker --concurrency=2` (two pool processes), of
   SCALE_SMALL (20,000) then SCALE_SEND (200,000) subscribers (the others set to not want the
   daily): the pool processes' peak RSS. Goal: the large send's no more than 10% above.
5. A year: with BENCH_YEAR=1 (slow), 365 past editions of SCALE_YEAR_SUBSCRIBERS (100,000)
   pre-filled into the ledger by SQL, then the fan-out and a send of SCALE_SMALL timed against
   the same on the ledger of one day.
Each figure is printed with its goal. The machine is shared: figures are noisy.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from pydantic import SecretStr  # noqa: E402
from send import html_kb_for_wire_size, rig, timed_send  # noqa: E402
from sqlalchemy import text  # noqa: E402
from timing import median_ms  # noqa: E402

from tests.delivery.cluster import Cluster  # noqa: E402
from tests.delivery.helpers import stage_digest  # noqa: E402
from worker import db  # noqa: E402
from worker.models import partitions  # noqa: E402
from worker.settings import Settings  # noqa: E402

SUBSCRIBERS = int(os.environ.get("SCALE_SUBSCRIBERS", "1000000"))
SEND = int(os.environ.get("SCALE_SEND", "200000"))
SMALL = int(os.environ.get("SCALE_SMALL", "20000"))
YEAR = os.environ.get("BENCH_YEAR", "0") == "1"
YEAR_SUBSCRIBERS = int(os.environ.get("SCALE_YEAR_SUBSCRIBERS", "100000"))
YEAR_DAYS = int(os.environ.get("SCALE_YEAR_DAYS", "365"))


def figure(label: str, value: str, goal: str, ok: bool | None) -> None:
    verdict = "" if ok is None else ("  MET" if ok else "  NOT MET")
    print(f"{label}: {value}   (goal: {goal}){verdict}", flush=True)


def insert_subscribers(settings: Settings, count: int, start: int = 1) -> None:
    with db.get_engine(settings.database_url).begin() as conn:
        conn.execute(
            text(
                "INSERT INTO subscribers (email, name, domain, state, wants_daily,"
                " wants_audio_links, created_at, token_nonce)"
                " SELECT 'reader' || i || '@example.net', 'Reader ' || i, 'example.net',"
                " 'active', true, true, now(), md5(i::text)"
                " FROM generate_series(CAST(:a AS integer), CAST(:b AS integer)) AS i"
            ),
            {"a": start, "b": start + count - 1},
        )
        # each on the default newsletter, as `subscribers import` puts them (migration 0009)
        conn.execute(
            text(
                "INSERT INTO subscriptions (subscriber_id, newsletter, created_at, confirmed_at,"
                " welcomed_at) SELECT id, 'daily', now(), now(), now() FROM subscribers"
                " WHERE id NOT IN (SELECT subscriber_id FROM subscriptions)"
            )
        )
    with db.get_engine(settings.database_url).connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))


def want_daily(settings: Settings, first: int) -> None:
    """Only the first `first` subscribers want the daily (the rest stay in the table)."""
    with db.get_engine(settings.database_url).begin() as conn:
        conn.execute(text("UPDATE subscribers SET wants_daily = (id <= :n)"), {"n": first})
        conn.execute(
            text(
                "UPDATE subscriptions SET left_at = CASE WHEN subscriber_id <= :n THEN NULL"
                " ELSE now() END WHERE newsletter = 'daily'"
            ),
            {"n": first},
        )


def start_sending(settings: Settings, day: date) -> int:
    """The day's edition staged and started by the lifecycle; the fan-out task that start
    queued is dropped (no worker runs yet): timed_fan_out runs it here."""
    from worker.edition.lifecycle import start

    with db.session_scope(settings) as session:
        digest_id = stage_digest(session, settings, day=day, kb=html_kb_for_wire_size(settings))
    assert start(settings, day, by="bench").ok
    purge(settings)
    return digest_id


def timed_fan_out(settings: Settings, digest_id: int) -> float:
    """The fan-out alone: timed, then its batches dropped from the queue and the edition
    paused (else the reconciler sends its rows during the sends measured next)."""
    from worker.edition.lifecycle import fan_out, pause

    started = time.perf_counter()
    result = fan_out(settings, digest_id)
    elapsed = time.perf_counter() - started
    assert result["complete"], result
    purge(settings)
    assert pause(settings, digest_id, by="bench").ok
    return elapsed


def purge(settings: Settings) -> None:
    from worker.celery_app import app

    app.control.purge()


def ledger_bytes_per_row(settings: Settings) -> tuple[float, int]:
    with db.get_engine(settings.database_url).connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(
            text("VACUUM ANALYZE deliveries")
        )
        # a partitioned table has no storage of its own: its months' sizes add up
        size = conn.scalar(
            text(
                "SELECT pg_total_relation_size('deliveries') + coalesce(sum("
                "pg_total_relation_size(inhrelid)), 0) FROM pg_inherits"
                " WHERE inhparent = 'deliveries'::regclass"
            )
        )
        rows = conn.scalar(text("SELECT count(*) FROM deliveries"))
    return size / max(rows, 1), rows


def status_times(settings: Settings, day: date) -> tuple[float, float]:
    from fastapi.testclient import TestClient

    from web.app import create_app
    from worker.status import gather_status

    def status() -> None:
        with db.session_scope(settings) as session:
            gather_status(session, settings, day)

    app = create_app(settings)
    with TestClient(app) as client:
        token = ops_token(settings)
        headers = {"Authorization": f"Bearer {token}"}
        url = f"/admin/digests/{day.isoformat()}/status"
        assert client.get(url, headers=headers).status_code == 200, "ops API status"

        def api() -> None:
            client.get(url, headers=headers)

        return median_ms(status), median_ms(api)


def ops_token(settings: Settings) -> str:
    return settings.admin_token.get_secret_value() if settings.admin_token else ""


def send(cluster: Cluster, settings: Settings, day: date, count: int) -> tuple[float, int]:
    """Send the day's edition to the first `count` subscribers; (seconds, peak RSS KiB)."""
    want_daily(settings, count)
    with db.session_scope(settings) as session:
        digest_id = stage_digest(session, settings, day=day, kb=html_kb_for_wire_size(settings))
    return timed_send(cluster, settings, digest_id, count, "scale", timeout=3600, poll=0.5)


def prefill_year(settings: Settings, first_day: date, days: int, subscribers: int) -> None:
    """`days` past editions, each sent to `subscribers`, written by SQL as fast as PostgreSQL
    takes them: triggers off for the session (no foreign-key checks; the counters written
    once per edition), the history only has to be there."""
    with db.get_engine(settings.database_url).begin() as conn:
        conn.execute(text("SET session_replication_role = replica"))
        for n in range(days):
            day = first_day + timedelta(n)
            partitions.ensure(conn, day)  # the months the beat would have made then
            digest_id = conn.scalar(
                text(
                    "INSERT INTO digests (date, subject, state, article_count, feed_item_count,"
                    " html_bytes, ledger_rows, degradations, built_at, pick_count)"
                    " VALUES (:d, 'Ukraine Daily', 'sent', 5, 3, 0, :n, '[]', now(), 0)"
                    " RETURNING id"
                ),
                {"d": day, "n": subscribers},
            )
            conn.execute(
                text(
                    "INSERT INTO deliveries (digest_id, edition_date, subscriber_id, state,"
                    " message_id, attempts, resend_count, created_at, sent_at, dispatched_at)"
                    " SELECT :g, :d, id, 'sent', '<digest-' || :g || '.sub-' || id"
                    " || '.0123456789abcdef0123@example.org>', 1, 0, now(), now(), now()"
                    " FROM subscribers WHERE id <= :n"
                ),
                {"g": digest_id, "d": day, "n": subscribers},
            )
            conn.execute(
                text("INSERT INTO delivery_counts VALUES (:g, 'sent', 0, :n)"),
                {"g": digest_id, "n": subscribers},
            )
            print(f"\r  pre-filled {n + 1}/{days} editions", end="", flush=True)
        conn.execute(text("SET session_replication_role = DEFAULT"))
    print()
    with db.get_engine(settings.database_url).connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))


def main() -> None:
    with rig("digestcast-scale-") as run:
        cluster, settings = run.start_cluster()
        settings = settings.model_copy(
            update={"admin_token": SecretStr("bench-admin-token-0123456789")}
        )
        day = date(2026, 11, 27)
        if YEAR:
            year_figures(cluster, settings, day)
            return

        started = time.perf_counter()
        insert_subscribers(settings, SUBSCRIBERS)
        print(f"{SUBSCRIBERS:,} subscribers inserted in {time.perf_counter() - started:.1f} s")
        digest_id = start_sending(settings, day)
        seconds = timed_fan_out(settings, digest_id)
        figure(
            f"fan-out of {SUBSCRIBERS:,} rows",
            f"{seconds:.1f} s ({SUBSCRIBERS / seconds:,.0f} rows/s)",
            "under 30 s",
            seconds < 30,
        )
        per_row, rows = ledger_bytes_per_row(settings)
        figure("ledger bytes per row", f"{per_row:.0f} ({rows:,} rows)", "reported", None)
        status_ms, api_ms = status_times(settings, day)
        figure("digestcast status (gather)", f"{status_ms:.1f} ms", "under 100 ms", status_ms < 100)
        figure("ops API delivery status", f"{api_ms:.1f} ms", "under 100 ms", api_ms < 100)
        cli = [str(REPO / ".venv" / "bin" / "digestcast"), "status", "--date", day.isoformat()]
        started = time.perf_counter()
        subprocess.run(cli, env={**os.environ, **cluster.env}, capture_output=True, check=True)
        print(f"  (`digestcast status` as a command, Python start-up included: "
              f"{time.perf_counter() - started:.2f} s)")  # fmt: skip

        seconds, rss_small = send(cluster, settings, day + timedelta(1), SMALL)
        print(
            f"send of {SMALL:,} to smtp-sink: {seconds:.0f} s ({SMALL / seconds:,.0f} messages/s)"
        )
        seconds, rss_large = send(cluster, settings, day + timedelta(2), SEND)
        growth = (rss_large - rss_small) / rss_small * 100
        print(f"send of {SEND:,} to smtp-sink: {seconds:.0f} s ({SEND / seconds:,.0f} messages/s)")
        figure(
            "worker peak RSS",
            f"{rss_small / 1024:.1f} MiB at {SMALL:,}, {rss_large / 1024:.1f} MiB at {SEND:,} "
            f"({growth:+.1f}%)",
            "no more than +10%",
            growth <= 10,
        )


def year_figures(cluster: Cluster, settings: Settings, day: date) -> None:
    """The day's fan-out and send on an empty ledger, then after a year of editions."""
    insert_subscribers(settings, YEAR_SUBSCRIBERS)
    want_daily(settings, YEAR_SUBSCRIBERS)
    fresh = timed_fan_out(settings, start_sending(settings, day))
    fresh_send, _ = send(cluster, settings, day + timedelta(1), SMALL)
    started = time.perf_counter()
    prefill_year(settings, day - timedelta(YEAR_DAYS + 5), YEAR_DAYS, YEAR_SUBSCRIBERS)
    print(f"{YEAR_DAYS} past editions pre-filled in {time.perf_counter() - started:.0f} s")
    want_daily(settings, YEAR_SUBSCRIBERS)
    aged = timed_fan_out(settings, start_sending(settings, day + timedelta(2)))
    aged_send, _ = send(cluster, settings, day + timedelta(3), SMALL)
    per_row, rows = ledger_bytes_per_row(settings)
    print(f"ledger after a year: {rows:,} rows, {per_row:.0f} bytes per row")
    figure(
        f"fan-out of {YEAR_SUBSCRIBERS:,}",
        f"{fresh:.1f} s on an empty ledger, {aged:.1f} s after a year",
        "no slower (within 20%)",
        aged <= fresh * 1.2,
    )
    figure(
        f"send of {SMALL:,}",
        f"{fresh_send:.1f} s on an empty ledger, {aged_send:.1f} s after a year",
        "no slower (within 20%)",
        aged_send <= fresh_send * 1.2,
    )


if __name__ == "__main__":
    main()
