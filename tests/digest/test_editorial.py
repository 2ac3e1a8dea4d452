"""An editor's changes, pure: order (unnamed stories keep their place after), drops, texts."""

from __future__ import annotations

from dataclasses import dataclass

from worker.digest.editorial import Editorial


@dataclass(frozen=True)
class Item:
    id: int


def test_order_drops_and_texts() -> None:
    stories = [Item(1), Item(2), Item(3), Item(4)]
    edits = Editorial.from_json(
        {"order": [3, 1], "dropped_stories": [4], "dropped_items": [7], "subject": "A\r\nB "}
    )
    assert [s.id for s in edits.ordered(stories)] == [3, 1, 2, 4]
    assert [s.id for s in edits.stories(stories)] == [3, 1, 2]
    assert [i.id for i in edits.items([Item(6), Item(7)])] == [6]
    assert edits.subject == "A B" and edits.preheader is None  # never a CR/LF in a header


def test_garbage_is_ignored_and_round_trips() -> None:
    edits = Editorial.from_json({"order": ["x", True, 2], "subject": "", "preheader": 5})
    assert edits.order == (2,) and edits.subject is None and edits.preheader is None
    assert Editorial.from_json(edits.as_json()) == edits
    assert Editorial.from_json(None) == Editorial()
