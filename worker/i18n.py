"""Labels and dates in the reader's language: gettext catalogues through Babel.

The catalogues are the `.po` files under templates/locale/<lang>/LC_MESSAGES/digestcast.po,
read with Babel and compiled in memory on first use (so a fresh clone needs no build step,
and a wheel carries them with the templates). Adding a language is adding a catalogue (and
its code to worker/newsletters.py LANGUAGES). A language without one falls back to English.
"""

from __future__ import annotations

import gettext
from datetime import date
from functools import lru_cache
from io import BytesIO
from pathlib import Path

from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from jinja2 import Environment

from worker.paths import templates_dir

DOMAIN = "digestcast"


def catalogue_path(lang: str) -> Path:
    return templates_dir() / "locale" / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@lru_cache(maxsize=16)
def translations(lang: str) -> gettext.NullTranslations:
    path = catalogue_path(lang)
    if not path.is_file():
        return gettext.NullTranslations()
    with path.open("rb") as po:
        catalogue = read_po(po, locale=lang, domain=DOMAIN)
    compiled = BytesIO()
    write_mo(compiled, catalogue)
    compiled.seek(0)
    return gettext.GNUTranslations(compiled)


def gettext_for(lang: str | None) -> gettext.NullTranslations:
    return translations(lang or "en")


def install(env: Environment, lang: str | None) -> Environment:
    """Give a Jinja environment `_()`, `gettext()` and `ngettext()` in `lang`."""
    if "jinja2.ext.InternationalizationExtension" not in env.extensions:
        env.add_extension("jinja2.ext.i18n")
    env.install_gettext_translations(gettext_for(lang), newstyle=True)  # type: ignore[attr-defined]
    return env


def format_day(day: date, lang: str | None) -> str:
    """`Friday, 27 November 2026`, `пʼятниця, 27 листопада 2026` (CLDR through Babel)."""
    return format_date(day, "EEEE, d MMMM y", locale=lang or "en")


def N_(text: str) -> str:  # the gettext convention: "mark, do not translate"
    """Marks a string for the catalogues where it is translated later (at run time)."""
    return text


# labels that arrive as data (the zone's city, the shipped call to action in settings): each is
# translated when it is the shipped text, kept as the newsroom wrote it otherwise
DATA_LABELS = (
    N_("Kyiv"),
    N_(
        "Ukraine Daily is free for everyone and paid for by readers. "
        "Help keep independent reporting going."
    ),
    N_("Become a member"),
)
