"""What the benchmarks share to time a call."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def median_ms(call: Callable[[], object], runs: int = 5) -> float:
    """The median of `runs` timed calls in milliseconds, after one untimed warm-up (imports,
    query plans, caches)."""
    call()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)
