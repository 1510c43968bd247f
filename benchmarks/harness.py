"""Timing one case three ways in one process: jaxrl_modules, hand-written JAX, TorchRL.

Each implementation is a zero-argument callable that runs one call to completion (JAX results are
blocked on, so dispatch and compute are both counted). Compilation is timed apart, on the first
call. Per-call times are medians over repeats, each repeat long enough to swamp timer noise.
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable

__all__ = ["Timing", "time_call", "Row"]


@dataclasses.dataclass
class Timing:
    median_us: float
    iqr_us: float
    first_call_s: float  # for JAX: tracing + compilation + one run
    repeats: int
    number: int


def time_call(fn: Callable[[], object], *, repeats: int, min_repeat_s: float) -> Timing:
    """Times ``fn``: the first call apart, then ``repeats`` medians of calibrated loops."""
    start = time.perf_counter()
    fn()
    first = time.perf_counter() - start
    for _ in range(3):  # warm-up: caches, allocator, thread pools
        fn()
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= min_repeat_s or number >= 1 << 20:
            break
        number *= 2
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        samples.append((time.perf_counter() - start) / number * 1e6)
    q = statistics.quantiles(samples, n=4) if len(samples) > 1 else [samples[0]] * 3
    return Timing(statistics.median(samples), q[2] - q[0], first, repeats, number)


@dataclasses.dataclass
class Row:
    """One case at one size: the timings of each implementation that ran."""

    case: str
    size: str
    timings: dict[str, Timing]

    def ratio(self, num: str, den: str) -> float | None:
        if num in self.timings and den in self.timings:
            return self.timings[num].median_us / self.timings[den].median_us
        return None
