"""Delivery throughput against Postfix's smtp-sink, with Postfix's smtp-source as the baseline.

One command, no arguments: `python bench/send.py`.
1. Finds smtp-sink / smtp-source (installs the `postfix` package with apt-get if missing).
2. Baseline: smtp-source, 2 sessions, connections kept (-d), 60 KB messages, into smtp-sink,
   measured before the first send and after each one; a round's baseline is the mean of the
   runs on either side of its send (the sink's speed drifts on this machine: 1,450-1,980/s
   between runs; single-run ratios of unchanged code spread by 0.1).
3. digestcast: a personalized digest of the same 60 KB on the wire (the html is sized so that
   the quoted-printable message is 61,440 bytes, like smtp-source's) to 20,000 subscribers
   through its own Redis and a `celery -A worker.celery_app worker --concurrency=2` (what
   `digestcast worker` runs), ledger on PostgreSQL, into the same sink. Rate = messages / time
   from `digest.send` to drained (the ledger polled every 0.25 s).
   Three rounds (BENCH_ROUNDS), each with its own digest.
4. The peak RSS (VmHWM) of the worker's pool processes for 20,000 and for 100,000 subscribers.
5. Signed: the same rounds (BENCH_SIGNED_ROUNDS) with DKIM_PRIVATE_KEY set to a fresh RSA-2048
   key, the html sized so the signed message is the same 61,440 bytes on the wire.
Prints every round's rates and ratio, the RSS figures, `ratio: X` (the median of the rounds'
digestcast rate / smtp-source rate) and, last, `signed ratio: Y` for the signed rounds.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sqlalchemy import create_engine, text  # noqa: E402

from tests.delivery.cluster import Cluster, peak_rss_kib  # noqa: E402
from tests.delivery.helpers import add_subscribers, digest_bodies, stage_digest  # noqa: E402
from tests.delivery.smtp_server import free_port  # noqa: E402
from worker import db  # noqa: E402
from worker.settings import Settings  # noqa: E402

if TYPE_CHECKING:
    from worker.edition.progress import Progress

PG_ADMIN_URL = os.environ.get("TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MESSAGES = int(os.environ.get("BENCH_MESSAGES", "20000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
LARGE = int(os.environ.get("BENCH_LARGE", "100000"))  # 0: no peak-RSS send
SIGNED_ROUNDS = int(os.environ.get("BENCH_SIGNED_ROUNDS", "3"))
SIZE = 60 * 1024  # bytes per message on the wire, both sides
SECRET = "bench-secret-0123456789abcdefghijklmnop"


def find_postfix_tool(name: str) -> str:
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/lib/postfix/sbin/{name}"):
        if candidate and Path(candidate).exists():
            return candidate
    print("installing postfix (smtp-sink, smtp-source) with apt-get ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "postfix"], check=True, env=env)
    found = shutil.which(name) or f"/usr/sbin/{name}"
    if not Path(found).exists():
        raise SystemExit(f"{name} not found even after installing postfix")
    return found


def start_sink(sink: str, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sink, "-u", "nobody", f"127.0.0.1:{port}", "1000"], start_new_session=True
    )
    time.sleep(0.5)
    return proc


def baseline(source: str, port: int, count: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [source, "-d", "-s", "2", "-l", str(SIZE), "-m", str(count),
         "-f", "bench@example.org", "-t", "reader@example.net", f"127.0.0.1:{port}"],
        check=True,
    )  # fmt: skip
    return count / (time.perf_counter() - started)


def sample_message(settings: Settings, template: Any) -> bytes:
    from worker.digest.message import Recipient
    from worker.tokens import unsubscribe_url

    return bytes(
        template.personalize(
            Recipient(
                subscriber_id=1,
                email="reader000001@example.net",
                name="Reader 1",
                message_id="<digest-1.sub-1@example.org>",
                unsubscribe_url=unsubscribe_url(settings, 1, "nonce00000001"),
            )
        )
    )


def html_kb_for_wire_size(settings: Settings) -> float:
    """The html size that makes a personalized message SIZE bytes long (linear in it)."""
    from worker.digest.message import MessageTemplate

    def size(kb: float) -> int:
        html, text = digest_bodies(kb)
        template = MessageTemplate(settings, subject="Ukraine Daily", html=html, text=text)
        return len(sample_message(settings, template))

    small, large = size(10), size(60)
    return 10 + (SIZE - small) * 50 / (large - small)


def create_database() -> tuple[str, str]:
    name = f"dc_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


def drop_database(name: str) -> None:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def send_once(
    cluster: Cluster, settings: Settings, day: date, subscribers: int
) -> tuple[float, int, int]:
    """Send one digest to every subscriber; returns (messages/s, peak RSS KiB of a pool
    process, bytes of a message)."""
    from worker.delivery import sender

    with db.session_scope(settings) as session:
        digest_id = stage_digest(session, settings, day=day, kb=html_kb_for_wire_size(settings))
    size = len(sample_message(settings, sender.message_template(settings, digest_id)))

    def show(done: int, total: int, label: str) -> None:
        print(f"\r  {done:>7}/{total} {label:<24}", end="", flush=True)

    elapsed, rss = timed_send(
        cluster, settings, digest_id, subscribers, "bench", timeout=900, poll=0.25, progress=show
    )
    return subscribers / elapsed, rss, size


def timed_send(
    cluster: Cluster,
    settings: Settings,
    digest_id: int,
    expected: int,
    worker: str,
    *,
    timeout: float,
    poll: float,
    progress: Progress | None = None,
) -> tuple[float, int]:
    """Edition `digest_id` sent by one `celery worker --concurrency=2` (prefork) named
    `worker`, from `digest.send` until the ledger drains: (seconds, peak RSS KiB of its pool
    processes). Stops the run unless exactly `expected` rows were sent."""
    from worker.edition.progress import wait_for_drain
    from worker.edition.tasks import send_task

    cluster.start_worker(worker, concurrency=2, pool="prefork")
    try:
        started = time.perf_counter()
        send_task.apply_async(args=(digest_id,))
        result = wait_for_drain(
            settings, digest_id, progress=progress, timeout=timeout, poll_seconds=poll
        )
        elapsed = time.perf_counter() - started
        if progress is not None:
            print()  # after the progress line
        if result["counts"].get("sent", 0) != expected:
            raise SystemExit(f"expected {expected} sent, ledger says {result['counts']}")
        pids = cluster.worker_pids(worker)
        return elapsed, max((peak_rss_kib(pid) for pid in pids[1:]), default=0)
    finally:
        cluster.kill_worker(worker)


def dkim_key(path: Path) -> Path:
    """An RSA-2048 private key in PEM, as DKIM_PRIVATE_KEY names in production."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def signed_rounds(
    cluster: Cluster,
    settings: Settings,
    workdir: Path,
    source: str,
    port: int,
    day: date,
    last_base: float,
) -> list[float]:
    """The same rounds with DKIM_PRIVATE_KEY set (RSA-2048): every message signed by the
    workers, the html sized so that the signed message is SIZE bytes on the wire."""
    key = dkim_key(workdir / "dkim.pem")
    cluster.env["DIGESTCAST_DKIM_PRIVATE_KEY"] = str(key)
    signed_settings = settings.model_copy(update={"dkim_private_key": key})
    base, ratios = [last_base], []
    for round_ in range(1, SIGNED_ROUNDS + 1):
        rate, _, size = send_once(cluster, signed_settings, day, MESSAGES)
        day += timedelta(1)
        base.append(baseline(source, port, MESSAGES))
        base_rate = (base[-2] + base[-1]) / 2
        ratios.append(rate / base_rate)
        print(f"signed round {round_}: digestcast with DKIM (RSA-2048) {rate:,.0f} messages/s "
              f"({size:,} bytes); smtp-source mean on either side {base_rate:,.0f}/s; "
              f"ratio {ratios[-1]:.2f}")  # fmt: skip
    return ratios


def start_cluster(workdir: Path, url: str, port: int) -> tuple[Cluster, Settings]:
    """Our own Redis (workers are started by the caller) and the settings of this process,
    both on database `url` and the sink on `port`; the schema migrated, Celery configured."""
    env = {
        "DIGESTCAST_DATABASE_URL": url,
        "DIGESTCAST_DATA_DIR": str(workdir / "data"),
        "DIGESTCAST_SECRET_KEY": SECRET,
        "DIGESTCAST_PUBLIC_BASE_URL": "https://daily.example.org",
        "DIGESTCAST_SMTP_URL": f"smtp://127.0.0.1:{port}",
    }
    cluster = Cluster(workdir, env, {})
    cluster.start_redis()
    settings = Settings(
        database_url=url,
        broker_url=cluster.broker_url,
        data_dir=workdir / "data",
        smtp_url=f"smtp://127.0.0.1:{port}",
        secret_key=SECRET,  # type: ignore[arg-type]
        public_base_url="https://daily.example.org",
    )
    db.upgrade(settings)
    from worker.celery_app import configure

    configure(settings)
    return cluster, settings


@dataclass
class Rig:
    """What a run starts: smtp-sink on `port`, database `url`, a work folder, and the cluster
    once `start_cluster` made it."""

    port: int
    url: str
    workdir: Path
    cluster: Cluster | None = None

    def start_cluster(self) -> tuple[Cluster, Settings]:
        self.cluster, settings = start_cluster(self.workdir, self.url, self.port)
        return self.cluster, settings


@contextmanager
def rig(prefix: str) -> Iterator[Rig]:
    """smtp-sink on a free port, a new database and a work folder named `prefix`...: at the end
    everything the run started is stopped and removed (its database and files too)."""
    port = free_port()
    sink = start_sink(find_postfix_tool("smtp-sink"), port)
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    dbname, url = create_database()
    run = Rig(port, url, workdir)
    try:
        yield run
    finally:
        if run.cluster is not None:
            run.cluster.close()
        sink.terminate()
        sink.wait(timeout=10)
        db.get_engine.cache_clear()
        drop_database(dbname)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    source = find_postfix_tool("smtp-source")
    with rig("digestcast-bench-") as run:
        port, url, workdir = run.port, run.url, run.workdir
        base = [baseline(source, port, MESSAGES)]
        print(f"smtp-source -> smtp-sink: {base[0]:,.0f} messages/s ({SIZE:,} bytes, 2 sessions)")

        cluster, settings = run.start_cluster()
        with db.session_scope(settings) as session:
            add_subscribers(session, MESSAGES)
        day = date(2026, 11, 27)
        ratios = []
        rss_small = 0
        for round_ in range(1, ROUNDS + 1):
            rate, rss, size = send_once(cluster, settings, day, MESSAGES)
            rss_small = max(rss_small, rss)
            day += timedelta(1)
            base.append(baseline(source, port, MESSAGES))
            base_rate = (base[-2] + base[-1]) / 2  # the sink's speed on either side of the send
            ratios.append(rate / base_rate)
            print(f"round {round_}: digestcast (2 worker processes, PostgreSQL ledger) "
                  f"{rate:,.0f} messages/s ({size:,} bytes); smtp-source after it "
                  f"{base[-1]:,.0f}/s, mean on either side {base_rate:,.0f}/s; "
                  f"ratio {ratios[-1]:.2f}")  # fmt: skip

        if LARGE:
            with db.session_scope(settings) as session:
                add_subscribers(session, LARGE - MESSAGES, domain="example.com")
            _, rss_large, _ = send_once(cluster, settings, day, LARGE)
            day += timedelta(1)
            growth = (rss_large - rss_small) / rss_small * 100 if rss_small else 0.0
            print(f"worker peak RSS: {rss_small / 1024:.1f} MiB for {MESSAGES:,} subscribers, "
                  f"{rss_large / 1024:.1f} MiB for {LARGE:,} ({growth:+.1f}%)")  # fmt: skip
            with db.get_engine(url).begin() as conn:  # the signed rounds go to MESSAGES again
                conn.execute(
                    text("UPDATE subscribers SET wants_daily = false WHERE domain = 'example.com'")
                )
        print(f"ratios {', '.join(f'{r:.2f}' for r in ratios)} (min {min(ratios):.2f})")
        print(f"ratio: {statistics.median(ratios):.2f}")
        if SIGNED_ROUNDS:
            signed = signed_rounds(cluster, settings, workdir, source, port, day, base[-1])
            print(f"signed ratios {', '.join(f'{r:.2f}' for r in signed)} (min {min(signed):.2f})")
            print(f"signed ratio: {statistics.median(signed):.2f} (goal >= 0.7)")


if __name__ == "__main__":
    main()
