"""The web started the production way: `digestcast web --workers 2` on PostgreSQL, with Redis
as the broker, an https PUBLIC_BASE_URL and a real secret; requests over real sockets; a
`digestcast worker --queues transactional` sends the confirmations it queues.

One server for the module (two spawned workers take a while to start on this machine).
"""

from __future__ import annotations

import mailbox
import os
import re
import select
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy import select as sql_select

from tests.conftest import PG_ADMIN_URL, REDIS_URL, free_port, make_settings, require_service
from tests.web.live import digestcast, mail_worker, rss_mb, wait_mail_sent, web_process
from worker import db
from worker.models import Subscriber, SubscriberState
from worker.settings import DEFAULT_SECRET_KEY, Settings
from worker.tokens import unsubscribe_token

pytestmark = pytest.mark.integration

SECRET = "production-secret-for-tests-0123456789-abcdefghij"
OTHER_SECRET = "some-other-deployments-secret-0123456789-abcdefg"
CLIENT_LIMIT = 3
BASE = "https://daily.example.org"


@dataclass
class Live:
    url: str
    env: dict[str, str]
    settings: Settings
    workdir: Path
    pids: list[int]
    metrics_dir: Path
    redis_url: str

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, **kwargs)  # type: ignore[arg-type]

    def outbox(self) -> list[tuple[str, str]]:
        """(recipient, confirmation path) of every confirmation in the Maildir outbox, once the mail
        worker has sent what the web queued."""
        wait_mail_sent(self.redis_url)
        box = mailbox.Maildir(str(self.settings.outbox_dir), create=True)
        found = []
        for key in box.keys():  # noqa: SIM118 (a Maildir, not a dict)
            msg = message_from_bytes(box.get_bytes(key), policy=policy.default)  # type: ignore[arg-type]
            if str(msg["Subject"]).startswith("Welcome to "):
                continue  # the welcome that follows a confirmation (worker/welcome.py)
            body = msg.get_body(("plain",))
            assert body is not None
            link = re.search(r"https://daily\.example\.org(/confirm/\S+)", body.get_content())
            assert link is not None
            found.append((str(msg["To"]), link.group(1)))
        return found

    def mail_to(self, email: str) -> str:
        links = [link for to, link in self.outbox() if to == email]
        assert links, f"no confirmation mail to {email}"
        return links[-1]

    def subscriber(self, email: str) -> Subscriber | None:
        with db.session_scope(self.settings) as session:
            sub = session.scalar(sql_select(Subscriber).where(Subscriber.email == email))
            if sub is not None:
                session.expunge(sub)
            return sub

    def subscriber_state(self, subscriber_id: int) -> SubscriberState:
        with db.session_scope(self.settings) as session:
            sub = session.get(Subscriber, subscriber_id)
            assert sub is not None
            return sub.state

    def clear_throttles(self, which: str = "") -> None:
        """Forget the throttles' counts (`which`: only those whose key holds it)."""
        import redis

        client = redis.Redis.from_url(self.redis_url)
        keys = list(client.scan_iter(f"digestcast:throttle*{which}*"))
        for key in keys:
            client.delete(key)
        client.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    require_service("PostgreSQL", "127.0.0.1", 5432)
    where = urlsplit(REDIS_URL)
    require_service("Redis", where.hostname or "127.0.0.1", where.port or 6379)
    workdir = tmp_path_factory.mktemp("production")
    name = f"dc_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    pg_url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    redis_url = f"{REDIS_URL}/{1 + uuid.uuid4().int % 14}"
    metrics_dir = workdir / "metrics"
    metrics_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIGESTCAST_")}
    env.update(
        DIGESTCAST_CONFIG=str(workdir / "absent.toml"),
        DIGESTCAST_DATABASE_URL=pg_url,
        DIGESTCAST_BROKER_URL=redis_url,
        DIGESTCAST_DATA_DIR=str(workdir / "data"),
        DIGESTCAST_OUTBOX_DIR=str(workdir / "outbox"),
        DIGESTCAST_PUBLIC_BASE_URL=BASE,
        DIGESTCAST_SECRET_KEY=SECRET,
        DIGESTCAST_SUBSCRIBE_RATE_LIMIT=str(CLIENT_LIMIT),
        DIGESTCAST_ADMIN_TOKEN="production-admin-token",
        # set here so the test can read each worker's counters (serve() keeps a given one)
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    )
    settings = make_settings(
        workdir,
        database_url=pg_url,
        broker_url=redis_url,
        secret_key=SECRET,
        outbox_dir=workdir / "outbox",
        data_dir=workdir / "data",
    )
    upgraded = digestcast(env, "db", "upgrade", cwd=workdir)
    assert upgraded.returncode == 0, upgraded.stderr
    port = free_port()
    try:
        with web_process(env, port, workdir, workers=2) as (_, pids), mail_worker(env, workdir):
            url = f"http://127.0.0.1:{port}"
            yield Live(url, env, settings, workdir, pids, metrics_dir, redis_url)
    finally:
        db.get_engine.cache_clear()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _csrf(client: httpx.Client) -> str:
    page = client.get("/subscribe")
    assert page.status_code == 200
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def _subscribe(client: httpx.Client, email: str) -> httpx.Response:
    return client.post("/subscribe", data={"email": email, "csrf_token": _csrf(client)})


def _press_confirm(client: httpx.Client, link: str) -> httpx.Response:
    """Open the link and press its one button, as a person does (or only open it, when the
    page has no button)."""
    page = client.get(link)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    if found is None:
        return page
    return client.post(link, data={"csrf_token": found.group(1)})


def _one_click(client: httpx.Client, token: str) -> httpx.Response:
    return client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})


# ---------------------------------------------------------------- forged tokens
def test_tokens_forged_with_the_documented_key_or_another_fail(live: Live) -> None:
    with db.session_scope(live.settings) as session:
        row = Subscriber(email=f"target-{uuid.uuid4().hex[:6]}@example.org")
        session.add(row)
        session.flush()
        sid, nonce = row.id, row.token_nonce
    default_key = make_settings(live.workdir, secret_key=DEFAULT_SECRET_KEY)
    other_key = make_settings(live.workdir, secret_key=OTHER_SECRET)
    forged = [
        unsubscribe_token(default_key, sid, nonce),  # even knowing the row's nonce
        unsubscribe_token(default_key, sid, None),  # the id-only format of old links
        unsubscribe_token(other_key, sid, nonce),
    ]
    with live.client() as client:
        for token in forged:
            assert _one_click(client, token).status_code == 400
            assert client.get(f"/preferences/{token}").status_code == 400
        assert live.subscriber_state(sid) == SubscriberState.active
        # the genuine link works, one click, no cookie
        assert _one_click(client, unsubscribe_token(live.settings, sid, nonce)).status_code == 200
    assert live.subscriber_state(sid) == SubscriberState.unsubscribed


# ---------------------------------------------------------------- throttles across workers
def _per_worker_subscribe_posts(metrics_dir: Path) -> Counter[int]:
    """POST /subscribe outcomes counted by each worker process (its multiprocess file)."""
    import json

    from prometheus_client.mmap_dict import MmapedDict

    per_pid: Counter[int] = Counter()
    for path in metrics_dir.glob("counter_*.db"):
        pid = int(path.stem.split("_")[-1])
        for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(str(path)):
            name = json.loads(key)[1]
            if name == "digestcast_web_subscribe_total":
                per_pid[pid] += int(value)
    return per_pid


def test_two_workers_share_the_subscribe_limit_through_redis(live: Live) -> None:
    live.clear_throttles()
    before = _per_worker_subscribe_posts(live.metrics_dir)
    with live.client() as page:
        token = _csrf(page)
        cookies = dict(page.cookies)
    codes: list[int] = []

    def post(i: int) -> int:
        # a new connection each time, so the kernel hands them to either worker
        with httpx.Client(base_url=live.url, cookies=cookies, timeout=30) as client:
            email = f"share-{i}-{uuid.uuid4().hex[:6]}@example.org"
            r = client.post("/subscribe", data={"email": email, "csrf_token": token})
            return r.status_code

    served: Counter[int] = Counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for round_ in range(6):  # until both workers have answered some of them
            codes += list(pool.map(post, range(round_ * 8, round_ * 8 + 8)))
            served = _per_worker_subscribe_posts(live.metrics_dir) - before
            if len([pid for pid in served if pid in live.pids]) == 2:
                break
    assert set(served) == set(live.pids), f"one worker answered all: {served}"
    # one count for the whole deployment: exactly the limit got through, whichever worker
    assert codes.count(200) == CLIENT_LIMIT, Counter(codes)
    assert codes.count(429) == len(codes) - CLIENT_LIMIT
    live.clear_throttles()


def test_metrics_sum_the_workers(live: Live) -> None:
    with live.client() as client:
        body = client.get("/metrics").text
    total = sum(_per_worker_subscribe_posts(live.metrics_dir).values())
    exposed = sum(
        float(line.rsplit(" ", 1)[1])
        for line in body.splitlines()
        if line.startswith("digestcast_web_subscribe_total{")
    )
    assert exposed == total


def test_recipient_limit_holds_across_workers(live: Live) -> None:
    live.clear_throttles()
    email = f"bombed-{uuid.uuid4().hex[:6]}@example.org"
    answers = []
    for _ in range(CLIENT_LIMIT):  # within the client limit, five times as many as allowed
        with live.client() as client:
            r = _subscribe(client, email)
            answers.append((r.status_code, "Check your email" in r.text))
    live.clear_throttles("subscribe-client")  # the client's count only: the address's stays
    for _ in range(CLIENT_LIMIT):
        with live.client() as client:
            r = _subscribe(client, email)
            answers.append((r.status_code, "Check your email" in r.text))
    assert answers == [(200, True)] * (2 * CLIENT_LIMIT)  # the same answer every time
    mails = [to for to, _ in live.outbox() if to == email]
    assert len(mails) == live.settings.subscribe_recipient_limit
    live.clear_throttles()


# ---------------------------------------------------------------- body cap, memory
def _stream_post(port: int, path: str, content_type: str, megabytes: int) -> tuple[bytes, int]:
    """POST `megabytes` of chunked body (no Content-Length to trust) over a raw socket;
    stop at the first byte of the answer. Returns the answer's head and the bytes sent."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: daily.example.org\r\nContent-Type: {content_type}\r\n"
            "Transfer-Encoding: chunked\r\n\r\n".encode()
        )
        piece = b"%x\r\n" % 65536 + b"a" * 65536 + b"\r\n"
        sent = 0
        while sent < megabytes * 2**20:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                break
            try:
                sock.sendall(piece)
            except OSError:  # the server closed after answering
                break
            sent += 65536
        deadline = time.monotonic() + 30
        head = b""
        while b"\r\n\r\n" not in head and time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            head += chunk
        return head, sent


@pytest.mark.parametrize(
    ("path", "content_type"),
    [("/admin/resend", "application/json"), ("/subscribe", "application/x-www-form-urlencoded")],
)
def test_a_100_mb_streaming_post_is_cut_off_and_memory_stays_flat(
    live: Live, path: str, content_type: str
) -> None:
    port = int(live.url.rsplit(":", 1)[1])
    before = {pid: rss_mb(pid) for pid in live.pids}
    head, sent = _stream_post(port, path, content_type, 100)
    after = {pid: rss_mb(pid) for pid in live.pids}
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert b"x-content-type-options: nosniff" in head.lower()
    assert sent < 100 * 2**20  # the server stopped reading long before the end
    growth = max(after[pid] - before[pid] for pid in live.pids)
    print(f"{path}: sent {sent / 2**20:.1f} MB before the 413; RSS growth {growth:.1f} MB")
    assert growth < 20, (before, after)


# ---------------------------------------------------------------- confirmation replays
def test_confirmation_replayed_after_unsubscribe_changes_nothing(live: Live) -> None:
    live.clear_throttles()
    email = f"replay-{uuid.uuid4().hex[:6]}@example.org"
    with live.client() as client:
        assert _subscribe(client, email).status_code == 200
        link = live.mail_to(email)
        r = _press_confirm(client, link)
        assert r.status_code == 200 and "Subscription confirmed" in r.text
        sub = live.subscriber(email)
        assert sub is not None and sub.state == SubscriberState.active
        token = unsubscribe_token(live.settings, sub.id, sub.token_nonce)
        assert _one_click(client, token).status_code == 200
        r = _press_confirm(client, link)
        assert r.status_code == 410
        # pressing the button of the old page (a form kept open) does nothing either
        assert client.post(link, data={"csrf_token": _csrf(client)}).status_code == 410
    sub = live.subscriber(email)
    assert sub is not None and sub.state == SubscriberState.unsubscribed
    live.clear_throttles()


@pytest.mark.parametrize("confirmed_first", [True, False], ids=["confirmed", "pending"])
def test_confirmation_replayed_after_wipe_changes_nothing(
    live: Live, confirmed_first: bool
) -> None:
    live.clear_throttles()
    email = f"wiped-{uuid.uuid4().hex[:6]}@example.org"
    with live.client() as client:
        assert _subscribe(client, email).status_code == 200
        link = live.mail_to(email)
        if confirmed_first:
            assert _press_confirm(client, link).status_code == 200
        sub = live.subscriber(email)
        assert sub is not None
        old_unsubscribe = unsubscribe_token(live.settings, sub.id, sub.token_nonce)
        wiped = digestcast(live.env, "subscribers", "remove", "--wipe", email, cwd=live.workdir)
        assert wiped.returncode == 0, wiped.stderr
        assert live.subscriber(email) is None
        r = _press_confirm(client, link)
        assert r.status_code == 410
        assert client.post(link, data={"csrf_token": _csrf(client)}).status_code == 410
        assert live.subscriber(email) is None  # not re-created
        # the same person added again: the old unsubscribe link is not theirs
        added = digestcast(live.env, "subscribers", "add", email, cwd=live.workdir)
        assert added.returncode == 0, added.stderr
        assert _one_click(client, old_unsubscribe).status_code == 200  # says nothing
        assert client.get(f"/preferences/{old_unsubscribe}").status_code == 400
    again = live.subscriber(email)
    assert again is not None and again.state == SubscriberState.active
    live.clear_throttles()


def test_behind_the_proxy_each_visitor_has_a_bucket(live: Live) -> None:
    """The test is the proxy here (127.0.0.1 is uvicorn's default --forwarded-allow-ips):
    X-Forwarded-For names the visitor, so one visitor's limit leaves the next one alone."""
    live.clear_throttles()

    def posts(visitor: str, n: int) -> list[int]:
        codes = []
        for _ in range(n):
            with live.client(headers={"X-Forwarded-For": visitor}) as client:
                email = f"v-{uuid.uuid4().hex[:8]}@example.org"
                codes.append(_subscribe(client, email).status_code)
        return codes

    assert posts("203.0.113.1", CLIENT_LIMIT + 1) == [200] * CLIENT_LIMIT + [429]
    assert posts("203.0.113.2", 1) == [200]
    live.clear_throttles()


def test_tokens_stay_out_of_the_access_log(live: Live) -> None:
    secret_bits = [f"tok{uuid.uuid4().hex}" for _ in range(4)]
    with live.client() as client:
        client.get(f"/confirm/{secret_bits[0]}.x.y.z")
        client.post(f"/u/{secret_bits[1]}.x.y", data={"List-Unsubscribe": "One-Click"})
        client.get(f"/preferences/{secret_bits[2]}")
        client.get(f"/digests/?k={secret_bits[3]}")
    log_path = live.workdir / f"web-{live.url.rsplit(':', 1)[1]}.log"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = log_path.read_text(errors="replace")
        if log.count("/preferences/[token]") and log.count("/digests/?[query]"):
            break
        time.sleep(0.2)
    lines = [line for line in log.splitlines() if "uvicorn.access" in line]
    for expected in ("/confirm/[token]", "/u/[token]", "/preferences/[token]", "/digests/?[query]"):
        assert any(expected in line for line in lines), expected
    for bit in secret_bits:
        assert bit not in log
    for _to, link in live.outbox():  # the real confirmation links opened by earlier tests
        assert link.removeprefix("/confirm/") not in log
