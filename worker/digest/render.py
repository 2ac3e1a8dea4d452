"""Jinja2 -> MJML -> HTML and Jinja2 -> plain text, from one DigestView (pure but for templates).

Autoescape is on for the MJML/HTML templates (select_autoescape) and off for `.txt.j2`, whose
values pass through the `line`/`para` filters (no CR/LF or control characters survive).
StrictUndefined turns a typo in a template into an error instead of an empty string.

Size budget: Gmail clips HTML over about 102 KB. When the compiled HTML exceeds the budget the
view is degraded step by step in a fixed order (DEGRADE_STEPS) until it fits; the steps taken
are returned so the digest records them. If it still does not fit, stories move to the site
(`move_to_site`): the editors' picks, then as few top stories as needed (the most that fit,
found by bisection), then the news feed, so the email keeps the lead, the first N top stories
and the news feed and says "N more stories on the site" with a link to the day's web copy,
which is the edition in full (`Rendered.full_html`). The plain-text part is always complete.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from mjml import mjml2html

from worker import i18n
from worker.collect.text import shorten
from worker.digest.content import PLACEHOLDERS, DigestView
from worker.paths import templates_dir

MJML_TEMPLATE = "digest.mjml.j2"
TEXT_TEMPLATE = "digest.txt.j2"
TEXT_WIDTH = 72
# the real unsubscribe URL replaces a shorter placeholder: keep this much room under the budget
PERSONALIZATION_ALLOWANCE = 512
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")


def line(value: object) -> str:
    """One line: CR/LF and other control characters become spaces."""
    text = str(value).replace("\r\n", " ").replace("\n", " ")
    return _CONTROL.sub(" ", text).strip()


def para(value: object, indent: str = "", width: int = TEXT_WIDTH) -> str:
    return textwrap.fill(
        line(value),
        width=width,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,  # never split a URL
        break_on_hyphens=False,
    )


@lru_cache(maxsize=1)
def environment(lang: str | None = "en", templates: str | None = None) -> Environment:
    """The email templates with `_()`/`ngettext()` in `lang` (worker/i18n.py); a newsletter's
    own `templates` folder, when set, is searched first (its overrides)."""
    folders = [templates] if templates else []
    env = Environment(
        loader=FileSystemLoader([*folders, str(templates_dir() / "email")]),
        autoescape=select_autoescape(
            enabled_extensions=("html", "htm", "xml", "mjml", "html.j2", "mjml.j2"),
            disabled_extensions=("txt", "txt.j2"),
            default_for_string=True,
            default=True,
        ),
        undefined=StrictUndefined,
        trim_blocks=False,
        keep_trailing_newline=True,
    )
    env.filters["line"] = line
    env.filters["para"] = para
    return i18n.install(env, lang)


def render_mjml(view: DigestView) -> str:
    env = environment(view.lang, view.templates)
    return env.get_template(MJML_TEMPLATE).render(d=view)


def compile_html(view: DigestView) -> str:
    # fonts={}: web-safe stacks only, no requests to a font service from the reader's client
    return mjml2html(render_mjml(view), disable_comments=False, fonts={})


def render_text(view: DigestView) -> str:
    text = environment(view.lang, view.templates).get_template(TEXT_TEMPLATE).render(d=view)
    # no trailing spaces, at most one blank line in a row, one final newline
    lines = [ln.rstrip() for ln in text.splitlines()]
    out: list[str] = []
    for ln in lines:
        if ln or (out and out[-1]):
            out.append(ln)
    return "\n".join(out).strip("\n") + "\n"


# ---------------------------------------------------------------- size budget
def _thumbs_after_three(v: DigestView) -> DigestView:
    return v.with_(thumbs_from=min(v.thumbs_from, 4))


def _shorten_deks(v: DigestView) -> DigestView:
    top = tuple(replace(s, dek=shorten(s.dek, 110)) for s in v.top)
    picks = tuple(replace(s, dek=shorten(s.dek, 110)) for s in v.picks)
    lead = v.stories[:1]
    return v.with_(stories=lead + top, picks=picks)


def _cap_feed(limit: int) -> Callable[[DigestView], DigestView]:
    def step(v: DigestView) -> DigestView:
        if len(v.feed) <= limit:
            return v
        return v.with_(feed=v.feed[:limit], feed_more=v.feed_more + len(v.feed) - limit)

    return step


def _no_thumbs(v: DigestView) -> DigestView:
    return v.with_(thumbs_from=1)


def _drop_deks(v: DigestView) -> DigestView:
    return v.with_(stories=v.stories[:1] + tuple(replace(s, dek="") for s in v.top))


# (name recorded in Digest.degradations, transformation); applied cumulatively, in this order
DEGRADE_STEPS: tuple[tuple[str, Callable[[DigestView], DigestView]], ...] = (
    ("thumbnails dropped below the third top story", _thumbs_after_three),
    ("deks shortened to 110 characters", _shorten_deks),
    ("news feed capped at 15 items", _cap_feed(15)),
    ("all top-story thumbnails dropped", _no_thumbs),
    ("news feed capped at 5 items", _cap_feed(5)),
    ("top-story deks dropped", _drop_deks),
)


def _fits(html: str, limit: int) -> bool:
    return len(html.encode("utf-8")) <= limit


def _plural(n: int) -> str:
    return f"{n} {'story' if n == 1 else 'stories'}"


def move_to_site(view: DigestView, limit: int) -> tuple[DigestView, str, list[str]]:
    """The view (and its HTML) with stories moved to the site until it fits `limit` bytes: the
    picks, then top stories from the end, then the news feed. Always ends (each move is finite,
    and the last view holds nothing but the lead and the fixed parts)."""
    taken: list[str] = []
    current = view
    if current.picks:
        moved = len(current.picks)
        current = current.with_(picks=(), stories_more=current.stories_more + moved)
        taken.append(f"editors' picks moved to the site ({_plural(moved)})")
        html = compile_html(current)
        if _fits(html, limit):
            return current, html, taken
    lead, top = current.stories[:1], current.top

    def keeping(n: int) -> DigestView:
        return current.with_(
            stories=lead + top[:n], stories_more=current.stories_more + len(top) - n
        )

    best = keeping(0)
    html = compile_html(best)
    if _fits(html, limit) and top:
        low, high = 0, len(top) - 1  # `low` fits; all of them did not
        while low < high:
            middle = (low + high + 1) // 2
            probe = compile_html(keeping(middle))
            if _fits(probe, limit):
                low, best, html = middle, keeping(middle), probe
            else:
                high = middle - 1
    if top:
        kept = len(best.top)
        taken.append(f"top stories cut to {kept} ({_plural(len(top) - kept)} more on the site)")
    if not _fits(html, limit) and best.feed:
        moved = len(best.feed)
        best = best.with_(feed=(), feed_more=best.feed_more + moved)
        taken.append(f"news feed moved to the site ({moved} items)")
        html = compile_html(best)
    return best, html, taken


@dataclass(frozen=True)
class Rendered:
    html: str  # compiled, with the per-recipient placeholders
    full_html: str  # the same edition before any trimming: the web copy (the archive page)
    text: str  # complete, with the per-recipient placeholders
    view: DigestView  # the (possibly degraded) view the HTML was made from
    degradations: tuple[str, ...]
    over_budget: bool

    @property
    def html_bytes(self) -> int:
        return len(self.html.encode("utf-8"))


class RenderError(ValueError):
    pass


def check_placeholders(body: str, what: str) -> None:
    """Each per-recipient placeholder exactly once, where the template put it: content that
    managed to carry one would otherwise be filled with the reader's data."""
    for placeholder in PLACEHOLDERS:
        if body.count(placeholder) != 1:
            raise RenderError(f"{what}: {placeholder} occurs {body.count(placeholder)} times")


def render(view: DigestView, budget_bytes: int) -> Rendered:
    """Compile the HTML within `budget_bytes` (degrading if needed) and the full text part."""
    text = render_text(view)
    limit = budget_bytes - PERSONALIZATION_ALLOWANCE
    full_html = html = compile_html(view)
    taken: list[str] = []
    current = view
    for name, step in DEGRADE_STEPS:
        if _fits(html, limit):
            break
        current = step(current)
        taken.append(name)
        html = compile_html(current)
    if not _fits(html, limit):
        current, html, moved = move_to_site(current, limit)
        taken += moved
    check_placeholders(html, "HTML")
    check_placeholders(full_html, "HTML")
    check_placeholders(text, "text")
    over = not _fits(html, limit)
    if over:
        taken.append(f"still over the {budget_bytes}-byte budget after every step")
    return Rendered(
        html=html,
        full_html=full_html,
        text=text,
        view=current,
        degradations=tuple(taken),
        over_budget=over,
    )
