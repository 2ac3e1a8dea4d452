"""Structural: nothing but the lifecycle reaches the fan-out, and nothing but the lifecycle
(and the fan-out it owns) changes an edition's state."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PRODUCT = [p for top in ("worker", "scheduler", "web", "bench") for p in (REPO / top).rglob("*.py")]
EDITION = REPO / "worker" / "edition"


def _outside_edition() -> list[Path]:
    return [p for p in PRODUCT if EDITION not in p.parents and "migrations" not in p.parts]


def test_only_the_lifecycle_imports_the_fan_out() -> None:
    users = [
        p.relative_to(REPO).as_posix()
        for p in PRODUCT
        if re.search(r"\b_fanout\b|\bcreate_rows\b", p.read_text(encoding="utf-8"))
        and p != EDITION / "_fanout.py"
    ]
    assert users == ["worker/edition/sending.py"]


def test_no_other_module_sets_an_edition_state() -> None:
    pattern = re.compile(r"\.state\s*=\s*DigestState\.|values\([^)]*\bstate=DigestState\.")
    offenders = [
        p.relative_to(REPO).as_posix()
        for p in _outside_edition()
        if pattern.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []
