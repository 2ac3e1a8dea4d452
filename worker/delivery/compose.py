"""Building one recipient's message and knowing, cheaply, that it needs no dot-stuffing.

`transport.wire_bytes` scans the whole ~60 KB message three times to decide whether line ends
must be normalised or dots stuffed: measured 135 us a message here, the largest piece of a
worker's CPU per message. Yet all but a few hundred bytes of every message are the digest
template's literal segments, the same for every recipient, so `MessageTemplate.render` checks
those once per template and only the per-recipient values per message, and returns the flag
with the bytes (worker/digest/message.py, `clean_piece`). A template without `render` (a test
double, another builder) gets the transport's full scan.
"""

from __future__ import annotations

from typing import Any

from worker.digest.message import clean_piece

__all__ = ["Composer", "clean_piece"]


class Composer:
    """A digest template's messages, each with a flag: True when already safe for DATA."""

    def __init__(self, template: Any) -> None:
        self.template = template
        self.render = getattr(template, "render", None)

    def build(self, recipient: Any) -> tuple[bytes, bool]:
        if self.render is not None:
            data, clean = self.render(recipient)
            return bytes(data), bool(clean)
        return self.template.personalize(recipient), False
