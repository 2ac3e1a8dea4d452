"""Where the templates are: templates/ in the repository, digestcast_templates/ in a wheel."""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def templates_dir() -> Path:
    repo = Path(__file__).resolve().parent.parent / "templates"
    if repo.is_dir():
        return repo
    for entry in sys.path:
        candidate = Path(entry) / "digestcast_templates"
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        "digestcast templates not found (neither templates/ nor digestcast_templates/)"
    )
