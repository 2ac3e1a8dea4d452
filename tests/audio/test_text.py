"""What gets spoken: structure, boilerplate removal, normalisation, lexicon, hash."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from worker.audio.captions import Cue, webvtt
from worker.audio.normalize import normalize
from worker.audio.text import Lexicon, body_paragraphs, load_lexicon, prepare

BODY = """
<p>Lead paragraph with <a href="https://x.org">a link inside</a> the sentence, which stays.</p>
<figure><img src="a.jpg"><figcaption>Photo caption: do not read</figcaption></figure>
<p><strong>Read also:</strong> <a href="https://x.org/2">Another story entirely</a></p>
<ul><li><a href="/1">Related one</a></li><li><a href="/2">Related two</a></li></ul>
<ul><li>A real list item without links.</li></ul>
<p>Support our journalism. Become a member of the Kyiv Independent community today.</p>
<p>Sign up for our newsletter.</p>
<script>alert(1)</script><table><tr><td>table cell</td></tr></table>
<h2>A subheading</h2>
<blockquote>A quoted statement.</blockquote>
<p>&nbsp;</p>
"""


def test_body_keeps_prose_and_drops_captions_boilerplate_and_link_lists() -> None:
    assert body_paragraphs(BODY) == [
        "Lead paragraph with a link inside the sentence, which stays.",
        "A real list item without links.",
        "A subheading",
        "A quoted statement.",
    ]


def test_english_numbers_units_money_dates_and_abbreviations() -> None:
    said = normalize(
        "The U.S. and the U.K. sent $5 million, €2 billion and UAH 300 million on 2026-11-26; "
        "prices rose 12% in 2022–2024, 1,250 homes lost power 15 km away, e.g. in Bucha, "
        "on Nov. 27 in the U.S.",
        "en",
    )
    assert said == (
        "The US and the UK sent 5 million dollars, 2 billion euros and 300 million hryvnias on "
        "26 November 2026; prices rose 12 percent in 2022 to 2024, 1250 homes lost power "
        "15 kilometres away, for example in Bucha, on November 27 in the US."
    )


def test_ukrainian_units_and_money() -> None:
    assert normalize("Відстань 15 км, ціна 200 грн, зростання 5%, 2026-11-27", "uk") == (
        "Відстань 15 кілометрів, ціна 200 гривень, зростання 5 відсотків, 27 листопада 2026 року"
    )


def test_lexicon_applies_whole_words_per_language(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.toml"
    path.write_text(
        '[en]\n"Kyiv" = "Keev"\n"Kyiv Oblast" = "Keev region"\n[uk]\n"ЗСУ" = "Збройні сили"\n'
    )
    lexicon = load_lexicon(path)
    assert (
        lexicon.apply("Kyiv Oblast and Kyiv, not Kyivan.", "en")
        == "Keev region and Keev, not Kyivan."
    )
    assert lexicon.apply("ЗСУ відбили атаку", "uk") == "Збройні сили відбили атаку"
    assert lexicon.apply("ЗСУ", "en") == "ЗСУ"
    assert Lexicon().apply("Kyiv", "en") == "Kyiv"


def test_shipped_lexicon_loads() -> None:
    lexicon = load_lexicon()
    assert "Kyiv" in lexicon.entries["en"] and lexicon.entries["uk"]


def test_prepare_builds_title_byline_body_and_a_stable_hash() -> None:
    published = datetime(2026, 11, 27, 5, 0, tzinfo=UTC)
    lexicon = Lexicon({"en": {"Kyiv": "Keev"}})
    speech = prepare(
        "Kyiv holds", BODY, "en", author="Olena K.", published=published, lexicon=lexicon
    )
    assert speech.paragraphs[:2] == ["Keev holds.", "By Olena K. Published 27 November 2026."]
    assert speech.display[0] == "Kyiv holds"  # captions show the written word
    assert len(speech.paragraphs) == len(speech.display) == 6
    same = prepare(
        "Kyiv holds",
        BODY + "<figure><figcaption>new caption</figcaption></figure>",
        "en",
        author="Olena K.",
        published=published,
        lexicon=lexicon,
    )
    assert same.text_hash == speech.text_hash  # a caption edit is not a spoken change
    edited = prepare(
        "Kyiv holds",
        BODY + "<p>One more.</p>",
        "en",
        author="Olena K.",
        published=published,
        lexicon=lexicon,
    )
    assert edited.text_hash != speech.text_hash
    other_language = prepare(
        "Kyiv holds", BODY, "uk", author="Olena K.", published=published, lexicon=lexicon
    )
    assert other_language.text_hash != speech.text_hash
    assert prepare("Kyiv holds", BODY, "en", lexicon=lexicon, max_paragraphs=1).paragraphs == [
        "Keev holds.",
        "Lead paragraph with a link inside the sentence, which stays.",
    ]


def test_webvtt_is_well_formed() -> None:
    vtt = webvtt([Cue(0, 1.5, "Title"), Cue(1.5, 3661.25, "A --> B\n\nC")])
    assert vtt.splitlines()[:4] == ["WEBVTT", "", "1", "00:00:00.000 --> 00:00:01.500"]
    assert "00:00:01.500 --> 01:01:01.250\nA → B C" in vtt


def test_pieces_keep_captions_written_and_chunks_respelled() -> None:
    from worker.audio.gtts_engine import tokenize_text
    from worker.audio.text import MAX_CHUNK_CHARS, pieces

    lexicon = Lexicon({"en": {"Kyiv": "Keev", "UNESCO": "the United Nations educational agency"}})
    written = (
        "Kyiv and UNESCO, UNESCO and Kyiv, said the officials at a meeting in Kyiv on Thursday. "
        "UNESCO and UNESCO met UNESCO and UNESCO in Kyiv with UNESCO and UNESCO and then UNESCO"
    )
    out = pieces(written, "en", lexicon, lambda t: tokenize_text(t, "en"))
    assert " ".join(p.caption for p in out) == written  # punctuation kept in captions
    assert all("Keev" not in p.caption for p in out)
    chunks = [c for p in out for c in p.chunks]
    assert all(len(c) <= MAX_CHUNK_CHARS for c in chunks)
    assert any("Keev" in c for c in chunks) and not any("Kyiv" in c for c in chunks)
    assert any(len(p.chunks) > 1 for p in out)  # a respelling pushed one piece over the limit
