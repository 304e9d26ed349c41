"""Timing helpers: warm up, repeat, report the median and the spread.

Used by every performance lesson (notebooks/00, 04, 05, 07, 08, 10, 12, 13).
"""

from __future__ import annotations

import statistics
import time


def measure(fn, *, repeats: int = 5, warmup: int = 1) -> dict:
    """Call ``fn()`` ``warmup`` times untimed, then ``repeats`` times timed.

    Returns seconds: ``median``, ``min``, ``max``, ``spread`` (max - min) and ``samples``.
    The warm-up absorbs one-off costs (tracing, compilation, memory allocation).
    """
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, e.g. repeats=5; got {repeats!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an integer >= 0, e.g. warmup=1; got {warmup!r}")
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "spread": max(samples) - min(samples),
        "samples": samples,
    }
