"""The collector over feedparser's own test fixtures (../shared/corpora/feedparser): no feed that
feedparser reads may fail its source.

Every fixture feedparser reads an entry from is collected (the ones with a titled entry both as
an articles and as a news-feed source); then: 0 sources failed, every stored title is one of
feedparser's for that fixture (decoded alike) or one made for an untitled entry, and nothing in
a stored file or a rendered page (the email of everything collected, the day's digest and web
copy, the archive, every listen page) carries `<script`, `javascript:` or an `on*=` attribute.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.collect.corpus_check import run_corpus
from tests.collect.corpus_run import load
from tests.conftest import REPO, unavailable

FEEDPARSER_CORPUS = REPO.parent / "shared" / "corpora" / "feedparser"


def test_every_feed_feedparser_reads_is_collected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not FEEDPARSER_CORPUS.is_dir():
        unavailable(f"the feedparser corpus is not at {FEEDPARSER_CORPUS}")
    fixtures = load([FEEDPARSER_CORPUS])
    counts, unsafe = run_corpus(fixtures, tmp_path)
    with capsys.disabled():
        print("\nfeedparser corpus:\n  " + "\n  ".join(counts.lines()))
        print(f"  unsafe findings: {len(unsafe)}")
    assert counts.eligible > 150 and counts.readable > 1000  # the corpus was really read
    assert counts.failed == {}
    assert counts.titles_compared > 300 and counts.title_mismatches == []
    assert unsafe == []
