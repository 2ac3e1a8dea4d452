"""Newsletters as data: the table, the default without one, the errors, the beat entries and
complete catalogues."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from scheduler.schedule import SEND, beat_schedule, celery_next_fire
from tests.conftest import EXAMPLES, make_settings
from worker import i18n, newsletters
from worker.paths import templates_dir


def test_without_a_table_there_is_one_newsletter_made_of_the_flat_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no digestcast.toml here
    settings = make_settings(tmp_path, newsletter_name="The Brief", send_time=time(6, 30))
    (only,) = newsletters.all_newsletters(settings)
    assert (only.slug, only.name, only.send_time, only.weekday) == (
        "daily",
        "The Brief",
        time(6, 30),
        None,
    )
    scoped = newsletters.scoped(settings)
    assert scoped.newsletter_name == "The Brief" and scoped.from_address == settings.from_address
    assert list(beat_schedule(settings)).count(SEND) == 1
    assert not any(name.startswith(f"{SEND}:") for name in beat_schedule(settings))


def test_the_bundled_table_and_its_beat_entries(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, newsletters=EXAMPLES / "newsletters.toml")
    found = newsletters.all_newsletters(settings)
    assert [n.slug for n in found] == ["daily", "ukrainian", "weekly"]
    assert [n.language for n in found] == ["en", "uk", "en"]
    assert found[2].schedule_line() == "weekly on Saturday at 09:00"
    entries = beat_schedule(settings)
    assert entries[SEND]["kwargs"] == {"newsletter": "daily"}  # the first keeps its entry name
    assert entries[f"{SEND}:ukrainian"]["kwargs"] == {"newsletter": "ukrainian"}
    weekly = entries[f"{SEND}:weekly"]["schedule"]
    friday_noon = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    fires = celery_next_fire(weekly, friday_noon, settings.tz).astimezone(settings.tz)
    assert (fires.date().isoformat(), fires.strftime("%H:%M")) == ("2026-11-28", "09:00")


@pytest.mark.parametrize(
    ("entry", "complaint"),
    [
        ('slug = "x"\nname = "X"\nlanguage = "fr"', "has no catalogue"),
        ('slug = "x"\nname = "X"\nschedule = "monthly 07:00"', "neither 'daily HH:MM'"),
        ('slug = "a b"\nname = "X"', "`slug` must be"),
        ('slug = "x"\nname = "X"\nsource_kinds = ["blogs"]', "'blogs' is not one of"),
    ],
)
def test_a_bad_table_is_refused_with_its_reason(tmp_path: Path, entry: str, complaint: str) -> None:
    path = tmp_path / "newsletters.toml"
    path.write_text(f"[[newsletter]]\n{entry}\n", encoding="utf-8")
    with pytest.raises(newsletters.NewsletterError, match=complaint):
        newsletters.all_newsletters(make_settings(tmp_path, newsletters=path))


@pytest.mark.parametrize("lang", ["en", "uk"])
def test_every_label_has_a_translation(lang: str) -> None:
    with (templates_dir() / "locale" / "digestcast.pot").open("rb") as pot:
        wanted = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(pot) if m.id}
    with i18n.catalogue_path(lang).open("rb") as po:
        catalogue = read_po(po, locale=lang)
    missing = [
        m.id
        for m in catalogue
        if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))
    ]
    have = {m.id if isinstance(m.id, str) else m.id[0] for m in catalogue if m.id}
    assert missing == [] and wanted <= have
    assert i18n.format_day(datetime(2026, 11, 27).date(), "uk") == "пʼятниця, 27 листопада 2026"


def test_the_catalogue_template_has_every_label_the_code_and_templates_use() -> None:
    """A label added to a template or to the code must reach templates/locale/digestcast.pot
    (and the catalogues, checked above); `make messages` updates them."""
    from babel.messages.extract import extract_from_dir

    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "N_": None}
    sources = [
        (templates_dir().parent / "worker", "**.py", "python"),
        (templates_dir().parent / "web", "**.py", "python"),
        (templates_dir() / "email", "**.j2", "jinja2"),
        (templates_dir() / "web", "**.html", "jinja2"),
    ]
    used = {
        found[2] if isinstance(found[2], str) else found[2][0]
        for folder, pattern, method in sources
        for found in extract_from_dir(str(folder), [(pattern, method)], keywords=keywords)
    }
    with (templates_dir() / "locale" / "digestcast.pot").open("rb") as pot:
        listed = {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(pot) if m.id}
    assert used - listed == set()


def test_the_run_summary_names_each_newsletters_edition() -> None:
    """`digestcast run` with several newsletters says whose edition each line is about."""
    from worker.pipeline import AudioSummary, CollectSummary, DailySummary, EditionRun

    sent = {"lifecycle": {"ok": True, "to_state": "sending"}, "sent_now": 2}
    editions = [
        EditionRun("Ukraine Daily", {"articles": 6}, {**sent, "sent_now": 3}, labelled=True),
        EditionRun("Україна щодня", {"articles": 2}, sent, labelled=True),
    ]
    lines = DailySummary(date(2026, 11, 27), CollectSummary(), AudioSummary(), editions).lines()
    assert "Ukraine Daily: digest 2026-11-27: 6 stories, 0 news items, 0 editors' picks" in lines
    assert "Україна щодня: delivery: 2 sent now" in lines
    # one newsletter (no table): the lines read as they did before newsletters
    single = EditionRun("Ukraine Daily", {"articles": 6}, sent, labelled=False)
    lines = DailySummary(date(2026, 11, 27), CollectSummary(), AudioSummary(), [single]).lines()
    assert lines[2:] == ["digest 2026-11-27: 6 stories, 0 news items, 0 editors' picks",
                         "delivery: 2 sent now"]  # fmt: skip
