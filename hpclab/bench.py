"""Timing helpers: warm up, repeat, report the median and the spread.

Used by every performance lesson (notebooks/00, 04, 05, 07, 08, 10, 12, 13).
"""

from __future__ import annotations

import statistics
import time

from hpclab import checks


def measure(fn, *, repeats: int = 5, warmup: int = 1) -> dict:
    """Call ``fn()`` ``warmup`` times untimed, then ``repeats`` times timed.

    Returns seconds: ``median``, ``min``, ``max``, ``spread`` (max - min) and ``samples``.
    The warm-up absorbs one-off costs (tracing, compilation, memory allocation).
    """
    repeats = checks.integer("repeats", repeats, example=5)
    warmup = checks.integer("warmup", warmup, minimum=0, example=1)
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
