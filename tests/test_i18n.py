"""worker/i18n.py: the gettext catalogues, Jinja's `_()`, dates in the reader's language."""

from __future__ import annotations

from datetime import date

from jinja2 import Environment

from worker.i18n import DATA_LABELS, N_, catalogue_path, format_day, gettext_for, install


def test_ukrainian_catalogue_translates_and_english_is_identity() -> None:
    assert catalogue_path("uk").is_file()
    assert gettext_for("uk").gettext("Kyiv") == "Київ"
    assert gettext_for("en").gettext("Kyiv") == "Kyiv"
    assert gettext_for(None).gettext("Top stories") == "Top stories"


def test_language_without_catalogue_falls_back_to_the_message_itself() -> None:
    assert not catalogue_path("xx").is_file()
    assert gettext_for("xx").gettext("Top stories") == "Top stories"


def test_install_gives_jinja_newstyle_gettext_with_placeholders() -> None:
    env = install(Environment(autoescape=True), "uk")
    template = env.from_string("{{ _('%(num)s min read', num=4) }}|{{ _('Top stories') }}")
    assert template.render() == "4 хв читання|Головні новини"


def test_install_twice_switches_language_without_adding_the_extension_again() -> None:
    env = install(Environment(autoescape=True), "uk")
    install(env, "en")
    assert env.from_string("{{ _('Top stories') }}").render() == "Top stories"


def test_format_day_in_english_and_ukrainian() -> None:
    day = date(2026, 11, 27)
    assert format_day(day, "en") == "Friday, 27 November 2026"
    assert format_day(day, None) == "Friday, 27 November 2026"
    assert format_day(day, "uk") == "пʼятниця, 27 листопада 2026"


def test_data_labels_are_marked_not_translated_and_are_in_the_catalogue() -> None:
    assert N_("Become a member") == "Become a member"
    uk = gettext_for("uk")
    for label in DATA_LABELS:
        assert uk.gettext(label) != label, label
