"""worker/audio/normalize.py: rewriting what speech engines misread, per language."""

from __future__ import annotations

from datetime import date

import pytest

from worker.audio.normalize import normalize, spoken_date


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("The U.S. said", "The US said"),
        ("aid from the U.S.", "aid from the US."),
        ("the U.S., the U.K. and the E.U.", "the US, the UK and the EU"),
        ("e.g. drones", "for example drones"),
        ("at 90 km/h", "at 90 kilometres per hour"),
        ("1 km away", "1 kilometre away"),
        ("12km away", "12 kilometres away"),
        ("UAH 200 million", "200 million hryvnias"),
        ("$1,250", "1250 dollars"),
        ("up 5%", "up 5 percent"),
        ("2022–2024", "2022 to 2024"),
        ("Gen. Zaluzhnyi", "General Zaluzhnyi"),
        ("on Nov. 27", "on November 27"),
        ("on 2026-11-27", "on 27 November 2026"),
        ("a\u00a0b\u202fc   d", "a b c d"),
    ],
)
def test_english(written: str, spoken: str) -> None:
    assert normalize(written, "en") == spoken


@pytest.mark.parametrize(
    ("written", "spoken"),
    [
        ("10 000 грн", "10000 гривень"),
        ("5 млн.", "5 мільйонів"),
        ("зросла на 3%", "зросла на 3 відсотків"),
        ("ЗСУ і США", "Збройні сили України і Сполучені Штати"),
        ("2026-11-27", "27 листопада 2026 року"),
        ("U.S.", "U.S."),  # English rules stay out of Ukrainian text
    ],
)
def test_ukrainian(written: str, spoken: str) -> None:
    assert normalize(written, "uk") == spoken


def test_impossible_iso_date_is_left_as_written() -> None:
    assert normalize("on 2026-02-30", "en") == "on 2026-02-30"


def test_thousands_separator_only_in_whole_groups() -> None:
    assert normalize("1,250,000 people", "en") == "1250000 people"
    assert normalize("3.14,15", "en") == "3.14,15"  # not a thousands group


def test_spoken_date_per_language() -> None:
    assert spoken_date(date(2026, 1, 2), "en") == "2 January 2026"
    assert spoken_date(date(2026, 1, 2), "uk") == "2 січня 2026 року"
    assert spoken_date(date(2026, 1, 2), "de") == "2 January 2026"  # other languages: English
