"""An editor's changes to an edition before it goes out, applied by every (re)build: the
story order (the first is the lead), stories and news items dropped (still claimed by the
edition, so they can be added back), the subject line and the preheader. Pure: the lifecycle
stores them (lifecycle.edit), build_digest applies them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from worker.collect.text import shorten
from worker.digest.render import line

SUBJECT_MAX = 110  # as the automatic subject (digest/build.py)
PREHEADER_MAX = 140


class HasId(Protocol):
    @property
    def id(self) -> int: ...


T = TypeVar("T", bound=HasId)


def _ids(value: Any) -> tuple[int, ...]:
    if not isinstance(value, list):
        return ()
    return tuple(v for v in value if isinstance(v, int) and not isinstance(v, bool))


def _text(value: Any, limit: int) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = shorten(line(value), limit)  # one line: it reaches a header
    return cleaned or None


@dataclass(frozen=True)
class Editorial:
    order: tuple[int, ...] = ()
    dropped_stories: frozenset[int] = field(default_factory=frozenset)
    dropped_items: frozenset[int] = field(default_factory=frozenset)
    subject: str | None = None
    preheader: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Editorial:
        data = data or {}
        return cls(
            order=_ids(data.get("order")),
            dropped_stories=frozenset(_ids(data.get("dropped_stories"))),
            dropped_items=frozenset(_ids(data.get("dropped_items"))),
            subject=_text(data.get("subject"), SUBJECT_MAX),
            preheader=_text(data.get("preheader"), PREHEADER_MAX),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "order": list(self.order),
            "dropped_stories": sorted(self.dropped_stories),
            "dropped_items": sorted(self.dropped_items),
            "subject": self.subject,
            "preheader": self.preheader,
        }

    def ordered(self, stories: Sequence[T]) -> list[T]:
        """Every story, in the editor's order (stories not named keep the built order, after)."""
        rank = {story_id: n for n, story_id in enumerate(self.order)}
        return sorted(stories, key=lambda s: rank.get(s.id, len(rank)))  # stable

    def stories(self, stories: Sequence[T]) -> list[T]:
        return [s for s in self.ordered(stories) if s.id not in self.dropped_stories]

    def items(self, items: Sequence[T]) -> list[T]:
        return [i for i in items if i.id not in self.dropped_items]
