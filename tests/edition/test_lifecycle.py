"""Every road that can send an edition (run and send, the beat's task, the ops API) on an
empty day, a quiet day under each policy and a normal day: what goes out is what the
lifecycle allows, and a day that sends nothing says why."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from tests.delivery.helpers import read_maildir, stage_edition, start_edition
from tests.scheduler.conftest import SAMPLE_DAY, outbox_recipients
from web.app import create_app
from worker.edition import lifecycle
from worker.edition.core import EMPTY_DAY
from worker.edition.progress import wait_for_drain
from worker.settings import Settings

EMPTY = date(2026, 10, 1)  # nothing in the sample feeds is published near it


def _run(settings: Settings, day: date) -> dict[str, Any]:
    from worker.pipeline import build_digest, deliver

    build_digest(settings, day)  # what `digestcast run` and `digestcast send` do
    return dict(deliver(settings, day)["lifecycle"])


def _beat(settings: Settings, day: date) -> dict[str, Any]:
    from scheduler.tasks import send_digest_task

    return dict(send_digest_task.apply(args=[day.isoformat()], throw=True).get())


def _api(settings: Settings, day: date) -> dict[str, Any]:
    s = settings.model_copy(update={"admin_token": SecretStr("token")})
    with TestClient(create_app(s), base_url="https://daily.example.org") as client:
        r = client.post(
            f"/admin/digests/{day.isoformat()}/send",
            json={"reason": "ops"},
            headers={"Authorization": "Bearer token"},
        )
    assert r.status_code == 200, r.text
    return dict(r.json())


ROADS: dict[str, Callable[[Settings, date], dict[str, Any]]] = {
    "run-send": _run,
    "beat": _beat,
    "api": _api,
}
CASES = {
    # name: (day, settings, messages, reason fragment)
    "empty": (EMPTY, {}, 0, EMPTY_DAY),
    "normal": (SAMPLE_DAY, {}, 3, None),
    "quiet-send": (SAMPLE_DAY, {"quiet_day_policy": "send", "quiet_day_min_items": 1000}, 3, None),
    "quiet-news-feed-only": (
        SAMPLE_DAY,
        {"quiet_day_policy": "news-feed-only", "quiet_day_min_items": 1000},
        3,
        None,
    ),
    "quiet-skip": (
        SAMPLE_DAY,
        {"quiet_day_policy": "skip", "quiet_day_min_items": 1000},
        0,
        "(QUIET_DAY_POLICY=skip)",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("road", list(ROADS))
def test_every_road_sends_what_the_lifecycle_allows(
    day_settings: Settings, road: str, case: str
) -> None:
    from worker.celery_app import configure

    day, overrides, messages, why = CASES[case]
    settings = day_settings.model_copy(update=overrides)
    configure(settings)
    outcome = ROADS[road](settings, day)
    assert len(outbox_recipients(settings)) == messages, outcome
    if messages:
        assert outcome["to_state"] == "sending" and outcome["ok"], outcome
        if case == "quiet-news-feed-only":
            assert outcome["detail"]["edition"] == "news-feed-only"
    else:
        assert outcome["to_state"] == "skipped" and why in outcome["reason"], outcome
        assert outcome["line"] == f"digest {day.isoformat()}: skipped, {outcome['reason']}"
    # a second trigger on any road sends nothing more
    again = _beat(settings, day)
    assert len(outbox_recipients(settings)) == messages, again


def test_force_sends_a_quiet_day_against_the_policy_never_an_empty_one(
    day_settings: Settings,
) -> None:
    settings = day_settings.model_copy(
        update={"quiet_day_policy": "skip", "quiet_day_min_items": 1000}
    )
    assert _run(settings, SAMPLE_DAY)["to_state"] == "skipped"
    refused = lifecycle.start(settings, SAMPLE_DAY, by="anna")
    assert not refused.ok and "send --force" in refused.reason
    forced = lifecycle.start(settings, SAMPLE_DAY, by="anna", force=True, reason="big story")
    assert forced.ok and forced.detail["forced"] is True
    assert len(outbox_recipients(settings)) == 3
    from worker.digest.tasks import builder

    empty = lifecycle.start(settings, EMPTY, by="anna", force=True, builder=builder())
    assert empty.to_state == "skipped" and empty.reason == EMPTY_DAY
    from worker import db

    with db.session_scope(settings) as session:
        events = lifecycle.history(session, forced.digest_id or 0)
    start = next(e for e in events if e["action"] == "start")
    assert start["by"] == "anna" and start["detail"]["forced"] is True
    assert start["reason"] == "big story"


# ---------------------------------------------------------------- approval
def _kyiv(text: str) -> datetime:
    from tests.scheduler.conftest import kyiv

    return kyiv(text).astimezone(UTC)


@pytest.mark.parametrize("action", ["send", "skip"])
def test_approve_before_the_deadline_sends(day_settings: Settings, action: str) -> None:
    from worker.digest.tasks import builder

    settings = day_settings.model_copy(
        update={
            "send_approval": "required",
            "editor_emails": "editor@example.org",
            "approval_deadline_action": action,
        }
    )
    built = lifecycle.build(settings, SAMPLE_DAY, builder=builder(), by="beat")
    assert built.to_state == "held" and built.detail["editors_mailed"] == 1
    assert outbox_recipients(settings) == ["editor@example.org"]  # the preview link
    held = lifecycle.start(settings, SAMPLE_DAY, by="beat", builder=builder())
    assert not held.ok and "approve it first" in held.reason
    early = lifecycle.approve(settings, SAMPLE_DAY, by="olena", now=_kyiv("2026-11-27T06:50"))
    assert early.ok and early.to_state == "built"  # before the send time: waits for it
    assert len(outbox_recipients(settings)) == 1
    sent = lifecycle.start(settings, SAMPLE_DAY, by="beat", builder=builder())
    assert sent.ok and len(outbox_recipients(settings)) == 4


@pytest.mark.parametrize("action", ["send", "skip"])
def test_approve_after_the_deadline(day_settings: Settings, action: str) -> None:
    settings = day_settings.model_copy(
        update={"send_approval": "required", "approval_deadline_action": action}
    )
    from worker.digest.tasks import builder

    assert lifecycle.build(settings, SAMPLE_DAY, builder=builder()).to_state == "held"
    # after the send time, before the deadline (07:00 + 60 min): the approval sends at once
    late = lifecycle.approve(settings, SAMPLE_DAY, by="olena", now=_kyiv("2026-11-27T07:30"))
    assert late.ok and late.to_state == "sending" and len(outbox_recipients(settings)) == 3


@pytest.mark.parametrize("action", ["send", "skip"])
def test_the_deadline_action_applies_and_a_later_approval_is_refused(
    day_settings: Settings, action: str
) -> None:
    settings = day_settings.model_copy(
        update={"send_approval": "required", "approval_deadline_action": action}
    )
    from worker.digest.tasks import builder

    assert lifecycle.build(settings, SAMPLE_DAY, builder=builder()).to_state == "held"
    result = lifecycle.approve(settings, SAMPLE_DAY, by="olena", now=_kyiv("2026-11-27T08:01"))
    assert not result.ok and "the approval deadline 08:00 passed first" in result.reason
    expected = {"send": (3, "sending"), "skip": (0, "skipped")}[action]
    assert len(outbox_recipients(settings)) == expected[0]
    assert result.to_state == expected[1]
    if action == "skip":
        assert "not approved by 08:00 (APPROVAL_DEADLINE_ACTION=skip)" in result.reason


def test_concurrent_triggers_fan_out_once(any_db_settings: Settings) -> None:
    digest_id = stage_edition(any_db_settings, count=20)
    results: list[dict[str, object]] = []

    def trigger() -> None:
        results.append(start_edition(any_db_settings, digest_id))

    threads = [threading.Thread(target=trigger) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(bool(r["claimed"]) for r in results) == [False, False, True]
    wait_for_drain(any_db_settings, digest_id, timeout=30)
    assert len(read_maildir(any_db_settings.outbox_dir)) == 20
