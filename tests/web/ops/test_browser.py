"""The console in a real browser (Playwright, Debian's Chromium) through the real app on
PostgreSQL, with a real cluster: our own Redis, a `celery worker` process and an SMTP server
process that rejects one domain with 550. Buttons call the lifecycle; the workers send.

One long test on purpose: one sample day, one send, watched from start to end (counts move,
pause stops the worker, resume finishes), then lookup + resend, a dry run then a resend of the
failed ones, a viewer's view, the audit log; axe-core checks every page it visits.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import func, select

from tests.conftest import EXAMPLES, free_port
from tests.delivery.faults import point_app_at
from tests.delivery.helpers import DAY, add_subscribers
from tests.delivery.test_faults import make_cluster
from tests.scheduler.conftest import load_sample_day
from tests.web.browsing import BROWSER_MARKS, app_in_thread, browser, pw
from tests.web.ops.conftest import PASSWORD, add_accounts
from worker import db
from worker.digest.tasks import builder
from worker.edition import lifecycle
from worker.models import Delivery, Resend
from worker.settings import Settings

pytestmark = BROWSER_MARKS
__all__ = ["browser", "make_cluster", "pw"]  # fixtures
READERS, BROKEN, SLOW = 1200, 15, 10


@pytest.fixture
def cluster_day(make_cluster: Any) -> tuple[Any, Settings]:
    cluster, settings = make_cluster(
        # broken.example: 550 (failed and suppressed); slow.example: 451 twice, and with two
        # attempts allowed those rows fail, unsuppressed: what "resend the failed ones" is for
        rules={"reject": r"@broken\.example$", "tempfail": r"@slow\.example$", "tempfail_times": 2},
        send_max_attempts=2,
        workers=1,
        sources=str(EXAMPLES / "sources.toml"),
        briefing_stories=0,
        send_rate_per_second=120,  # a send that lasts ~10 s: long enough to watch and pause
    )
    load_sample_day(settings.model_copy(update={"broker_url": None}))  # collected in-process
    point_app_at(settings)
    with db.session_scope(settings) as session:
        add_subscribers(session, READERS)
        add_subscribers(session, BROKEN, domain="broken.example")
        add_subscribers(session, SLOW, domain="slow.example")
    add_accounts(settings)
    # built before the send time, as the schedule does (BUILD_LEAD_MINUTES)
    assert lifecycle.build(settings, DAY, builder=builder(), by="schedule").ok
    return cluster, settings


@pytest.fixture
def beat(cluster_day: tuple[Any, Settings]) -> Iterator[None]:
    """What the beat's `digest.reconcile` does every minute (finish a drained edition,
    repair rows), every second here."""
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(1.0):
            lifecycle.reconcile(cluster_day[1])

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(10)


@pytest.fixture
def live_app(cluster_day: tuple[Any, Settings], beat: None) -> Iterator[str]:
    port = free_port()
    with app_in_thread(cluster_day[1], port):
        yield f"http://127.0.0.1:{port}"


def accessible(page: Any) -> None:
    """axe-core on the page: no serious or critical violation."""
    from axe_playwright_python.sync_playwright import Axe

    violations = Axe().run(page).response["violations"]
    bad = [
        (v["id"], v["impact"], v["help"])
        for v in violations
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == [], f"{page.url}: {bad}"


def login(page: Any, base: str, email: str) -> None:
    page.goto(f"{base}/ops/")
    assert "/ops/login" in page.url
    accessible(page)
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#signin")
    page.wait_for_selector("#logout")


def act(page: Any, name: str, reason: str) -> None:
    page.click(f"#action-{name}")
    page.wait_for_selector("#confirm")
    accessible(page)
    page.fill("#reason", reason)
    page.click("#confirm")
    page.wait_for_selector("#note")


def number(page: Any, selector: str) -> int:
    return int(page.text_content(selector) or "0")


def test_run_the_day_from_the_console(
    cluster_day: tuple[Any, Settings], live_app: str, browser: Any
) -> None:
    cluster, settings = cluster_day
    base = live_app
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    # before the send, an editor makes the last story the lead; the rebuilt email follows
    editor = browser.new_context().new_page()
    login(editor, base, "editor@example.org")
    editor.click("#action-edit")
    editor.wait_for_selector("#stories")
    accessible(editor)
    last = editor.locator("#stories tbody tr").last
    chosen = last.locator("td").nth(2).inner_text().strip()
    last.locator("input[type=radio]").check()
    editor.fill("#reason", "the night shift story leads")
    editor.click("#save")
    editor.wait_for_selector("#note")
    assert "done" in (editor.text_content("#note") or "")
    assert editor.locator("#stories tbody tr").first.locator("td").nth(2).inner_text() == chosen
    editor.goto(f"{base}/ops/editions/2026-11-27/preview")
    assert editor.text_content("#subject") == chosen  # the lead's headline is the subject
    frame_text = editor.frame_locator("#frame-375").locator("body").inner_text()
    assert chosen in frame_text

    login(page, base, "operator@example.org")
    assert "Edition of 2026-11-27" in page.text_content("h1")
    accessible(page)

    # send now: the worker sends, the figures move without a reload (ops.js polls live.json)
    act(page, "start", "morning send from the console")
    page.wait_for_function(
        "() => Number(document.getElementById('count-sent').textContent) > 0", timeout=30_000
    )
    first = number(page, "#count-sent")
    page.wait_for_function(
        f"() => Number(document.getElementById('count-sent').textContent) > {first + 50}",
        timeout=30_000,
    )
    assert "Pause" in page.text_content("#action-pause")

    # pause: the worker stops; resume: it sends on to the end
    act(page, "pause", "checking a broken link")
    assert "paused" in page.text_content("h2")
    time.sleep(1.5)  # a batch stops within about a second, after the message on the wire
    stopped = sum(cluster.received().values())
    time.sleep(3)
    assert sum(cluster.received().values()) == stopped, "mail accepted while paused"
    total = READERS + BROKEN + SLOW + 3  # + the sample subscribers
    assert stopped < total
    act(page, "resume", "link fixed")
    page.wait_for_function(
        "() => document.querySelector('#live').dataset.state === 'sent'", timeout=90_000
    )  # the page reloaded itself when the state changed
    received = cluster.received()
    assert set(received.values()) == {1} and not any(
        a.endswith("@broken.example") for a in received
    )

    # the failing domain, grouped, with its reply
    cells = page.locator("#by-domain tbody tr").first.locator("td").all_inner_texts()
    assert cells[:2] == ["broken.example", str(BROKEN)] and "550" in cells[2]
    cells = page.locator("#by-code tbody tr").first.locator("td").all_inner_texts()
    assert cells[:2] == ["550", str(BROKEN)] and "Recipient address rejected" in cells[2]
    accessible(page)

    # preview in sandboxed frames, and a test send: it arrives, marked, and no count moves
    page.click("#preview")
    page.wait_for_selector("#frame-375")
    assert "Unsubscribe" in (page.frame_locator("#frame-680").locator("body").inner_text())
    accessible(page)
    with db.session_scope(settings) as session:
        rows_before = session.scalar(select(func.count()).select_from(Delivery))
    page.fill("#to", "desk@example.org")
    page.click("#test-send")
    page.wait_for_selector("#note")
    assert "done" in (page.text_content("#note") or "")
    deadline = time.monotonic() + 20
    while cluster.received()["desk@example.org"] < 1:
        assert time.monotonic() < deadline, "the test send never arrived"
        time.sleep(0.2)
    with db.session_scope(settings) as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == rows_before

    # look a reader up and resend them the edition: it arrives again
    page.goto(f"{base}/ops/subscribers")
    page.fill("#q", "reader000007@")
    page.click("#search")
    page.click("text=reader000007@example.net")
    page.wait_for_selector("#ledger")
    accessible(page)
    page.fill("#resend-reason", "reader says it never came")
    page.click("#resend")
    page.wait_for_selector("#note")
    deadline = time.monotonic() + 30
    while cluster.received()["reader000007@example.net"] < 2:
        assert time.monotonic() < deadline, "the resend never arrived"
        time.sleep(0.2)

    # the failed ones: a dry run shows the count first, then the resend with a typed reason
    page.goto(f"{base}/ops/editions/2026-11-27/resend")
    accessible(page)
    page.click("#dry-run")
    page.wait_for_selector("#dry-count")
    assert f"{SLOW} recipients" in page.text_content("#dry-count")  # suppressed ones left out
    accessible(page)
    page.fill("#reason", "slow.example's relay is back")
    page.click("#send-resend")
    page.wait_for_selector("#note")
    assert "queued again" in (page.text_content("#note") or ""), page.text_content("#note")
    deadline = time.monotonic() + 60
    while sum(n for a, n in cluster.received().items() if a.endswith("@slow.example")) < SLOW:
        assert time.monotonic() < deadline, "the failed ones were not resent"
        time.sleep(0.2)
    with db.session_scope(settings) as session:
        modes = [(r.mode, r.dry_run, r.selected) for r in session.scalars(select(Resend))]
    assert ("failed", True, SLOW) in modes and ("failed", False, SLOW) in modes

    # every action is in the audit log, with the operator's name
    page.goto(f"{base}/ops/audit?actor=operator@example.org")
    audit = page.text_content("#audit") or ""
    for action in ("edition-start", "edition-pause", "edition-resume", "resend-to",
                   "resend-dry-run", "resend-failed", "login"):  # fmt: skip
        assert action in audit, action
    accessible(page)
    page.goto(f"{base}/ops/audit")
    assert "editor@example.org" in (page.text_content("#audit") or "")  # the edit, by its author
    assert re.search(r"edition pause.*operator@example.org|operator@example.org\s*edition pause",
                     page.text_content("#audit") or "", re.S)  # fmt: skip

    for path in ("/ops/sources", "/ops/editions/", "/ops/subscribers?q=%40slow.example"):
        page.goto(base + path)
        accessible(page)

    # a viewer sees everything and no button; posting one by hand is refused
    viewer = browser.new_context().new_page()
    login(viewer, base, "viewer@example.org")
    assert viewer.query_selector("[id^=action-]") is None
    token = viewer.get_attribute("input[name=csrf_token]", "value")
    answer = viewer.request.post(
        f"{base}/ops/editions/2026-11-27/pause", form={"csrf_token": token, "reason": "x"}
    )
    assert answer.status == 403
    answer = viewer.request.post(
        f"{base}/ops/editions/2026-11-27/resend",
        form={"csrf_token": token, "mode": "all", "step": "send", "reason": "x"},
    )
    assert answer.status == 403
    # and without the CSRF token even the operator is refused
    answer = page.request.post(f"{base}/ops/editions/2026-11-27/pause", form={"reason": "x"})
    assert answer.status == 403
    with db.session_scope(settings) as session:
        assert session.scalar(select(Delivery).where(Delivery.resend_count > 2)) is None
    admin = browser.new_context().new_page()
    login(admin, base, "admin@example.org")
    admin.goto(f"{base}/ops/users")
    accessible(admin)
    admin.goto(f"{base}/ops/subscribers/999999")  # a refusal, as a page
    assert admin.text_content("#error")
    accessible(admin)

    # last (it locks this address too): five wrong passwords lock the account
    stranger = browser.new_context().new_page()
    for n in range(5):
        stranger.goto(f"{base}/ops/login")
        stranger.fill("#email", "admin@example.org")
        stranger.fill("#password", f"wrong guess {n}")
        stranger.click("#signin")
        stranger.wait_for_selector("#error")
    assert "Too many wrong passwords" in (stranger.text_content("#error") or "")
    stranger.fill("#email", "admin@example.org")
    stranger.fill("#password", PASSWORD)
    stranger.click("#signin")
    stranger.wait_for_selector("#error")  # the right password is refused as well, for now
    assert stranger.query_selector("#logout") is None

    # the email's remote images do not resolve offline; anything else (a CSP refusal, a script
    # error) is a failure
    assert [e for e in errors if "ERR_NAME_NOT_RESOLVED" not in e] == []
