"""worker/collect/identity.py: which entry is which (the GUIDs of one feed's entries)."""

from __future__ import annotations

import pytest

from worker.collect.identity import SHARED_LINK_ENTRIES, identify, make_guid
from worker.collect.items import MAX_ID_BYTES, ParsedItem


def item(
    title: str, *, raw: str | None = None, url: str | None = None, body: str = "<p>text</p>"
) -> ParsedItem:
    return ParsedItem(
        guid="",
        raw_guid=raw,
        url=url,
        canonical_url=url,
        title=title,
        summary="",
        body_html=body,
    ).finish()


# ---------------------------------------------------------------- make_guid
@pytest.mark.parametrize(
    ("raw", "namespace", "expected"),
    [
        ("123", "Kyiv Post", "Kyiv Post:123"),
        ("https://a.example/p/1", "Kyiv Post", "https://a.example/p/1"),
        ("urn:uuid:1234", "Kyiv Post", "urn:uuid:1234"),
        ("tag:example.org,2026:1", "Kyiv Post", "tag:example.org,2026:1"),
        ("C:\\post", "Src", "Src:C:\\post"),  # one letter before ':' is no scheme
        ("post-7", "", "post-7"),  # no namespace: left as it is
    ],
)
def test_ids_that_are_not_uris_are_scoped(raw: str, namespace: str, expected: str) -> None:
    assert make_guid(raw, "https://link.example/x", "T", "", namespace) == expected


def test_no_id_the_link_identifies() -> None:
    assert make_guid(None, "https://a.example/p", "T", "") == "https://a.example/p"
    assert make_guid("  \u0000 ", "https://a.example/p", "T", "") == "https://a.example/p"


def test_no_id_no_link_a_hash_of_source_and_text() -> None:
    a = make_guid(None, None, "Title", "<p>Body</p>", "Source A")
    assert a.startswith("sha256:")
    assert a == make_guid(None, None, "Title", "<p>Body</p>", "Source A")  # stable
    assert a != make_guid(None, None, "Title", "<p>Body</p>", "Source B")  # per source
    assert a != make_guid(None, None, "Title", "<p>Other</p>", "Source A")


def test_an_absurdly_long_id_becomes_a_hash() -> None:
    long = "https://a.example/" + "x" * MAX_ID_BYTES
    found = make_guid(long, None, "T", "")
    assert found.startswith("sha256:") and len(found.encode()) < MAX_ID_BYTES


# ---------------------------------------------------------------- identify
def test_each_entry_gets_its_id_or_link() -> None:
    found = identify([item("A", raw="1"), item("B", url="https://n.example/b"), item("C")], "Src")
    assert [i.guid for i in found][:2] == ["Src:1", "https://n.example/b"]
    assert found[2].guid.startswith("sha256:")


def test_the_feeds_own_page_identifies_no_entry_but_stays_its_url() -> None:
    home = "https://n.example/"
    (one,) = identify([item("Live updates", url=home)], "Src", feed_link=home)
    assert one.canonical_url is None
    assert one.url == home
    assert one.guid.startswith("sha256:")


def test_a_link_shared_by_three_titles_identifies_none() -> None:
    live = "https://n.example/live"
    items = [item(f"Update {n}", url=live) for n in range(SHARED_LINK_ENTRIES)]
    found = identify(items, "Src")
    assert len(found) == SHARED_LINK_ENTRIES
    assert all(i.canonical_url is None for i in found)
    assert len({i.guid for i in found}) == SHARED_LINK_ENTRIES


def test_two_entries_on_one_link_keep_it_as_their_link() -> None:
    url = "https://n.example/story"
    found = identify([item("Story", url=url), item("Story (updated)", url=url)], "Src")
    # below the threshold the link stays theirs (the store merges them on it: one story told
    # twice); their guids differ, so neither entry is lost here
    assert [i.canonical_url for i in found] == [url, url]
    assert len({i.guid for i in found}) == 2


def test_an_id_shared_by_different_entries_names_none_of_them() -> None:
    found = identify(
        [
            item("First", raw="same", url="https://n.example/1"),
            item("Second", raw="same", url="https://n.example/2"),
            item("Third", raw="same"),
        ],
        "Src",
    )
    assert [i.guid for i in found][:2] == ["https://n.example/1", "https://n.example/2"]
    assert found[2].guid.startswith("sha256:")
    assert len(found) == 3


def test_shared_id_and_shared_link_fall_back_to_distinct_hashes() -> None:
    url = "https://n.example/x"
    found = identify([item("A", raw="7", url=url), item("B", raw="7", url=url)], "Src")
    assert len(found) == 2
    assert all(i.guid.startswith("sha256:") for i in found)
    assert found[0].guid != found[1].guid


def test_an_entry_repeated_as_it_is_counts_once_in_order() -> None:
    found = identify(
        [item("A", raw="1"), item("B", raw="2"), item("A", raw="1"), item("C", raw="3")], "Src"
    )
    assert [i.title for i in found] == ["A", "B", "C"]


def test_no_entries() -> None:
    assert identify([], "Src") == []
