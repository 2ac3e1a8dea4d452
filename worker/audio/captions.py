"""WebVTT captions and plain-text transcripts (pure), timed by the real chunk boundaries."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def merge(cues: Sequence[Cue], max_chars: int = 90) -> list[Cue]:
    """Join short neighbouring cues (gTTS splits at every comma) into readable lines.

    Times stay exact: a merged cue runs from its first part's start to its last part's end.
    A cue that ends a sentence is not extended.
    """
    out: list[Cue] = []
    for cue in cues:
        if (
            out
            and len(out[-1].text) + 1 + len(cue.text) <= max_chars
            and not out[-1].text.rstrip().endswith((".", "!", "?", "…", ":"))
        ):
            last = out[-1]
            out[-1] = Cue(last.start, cue.end, f"{last.text} {cue.text}")
        else:
            out.append(cue)
    return out


def _stamp(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def _clean(text: str) -> str:
    # "-->" would end the timing line early, and a blank line would end the cue
    return " ".join(text.replace("-->", "→").split())


def webvtt(cues: Sequence[Cue]) -> str:
    lines = ["WEBVTT", ""]
    for number, cue in enumerate(cues, 1):
        if cue.end <= cue.start or not cue.text.strip():
            continue
        lines += [str(number), f"{_stamp(cue.start)} --> {_stamp(cue.end)}", _clean(cue.text), ""]
    return "\n".join(lines)


def plain_text(paragraphs: Sequence[str]) -> str:
    return "\n\n".join(" ".join(p.split()) for p in paragraphs) + "\n"


_TIMING = re.compile(
    r"^(\d{2,}):(\d{2}):(\d{2})\.(\d{3}) --> (\d{2,}):(\d{2}):(\d{2})\.(\d{3})(.*)$"
)


def shift_webvtt(text: str, seconds: float) -> str:
    """The same captions `seconds` later (a re-encoded file starts its audio later)."""

    def moved(h: str, m: str, s: str, ms: str) -> str:
        return _stamp(int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000 + seconds)

    out = []
    for line in text.split("\n"):
        found = _TIMING.match(line)
        if found:
            g = found.groups()
            line = f"{moved(*g[0:4])} --> {moved(*g[4:8])}{g[8]}"
        out.append(line)
    return "\n".join(out)
