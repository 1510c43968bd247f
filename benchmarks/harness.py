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

__all__ = ["Timing", "time_calls", "Row"]


@dataclasses.dataclass
class Timing:
    median_us: float
    iqr_us: float
    first_call_s: float  # for JAX: tracing + compilation + one run
    repeats: int
    number: int


def time_calls(impls: dict[str, Callable[[], object]], *, repeats: int, min_repeat_s: float) -> dict[str, Timing]:
    """Times each implementation: its first call apart, then ``repeats`` calibrated loops.

    The repeats are interleaved (one loop of each implementation in turn), so that a slow spell
    of a shared machine falls on every implementation alike and the ratios stay fair.
    """
    first, number = {}, {}
    for name, fn in impls.items():
        start = time.perf_counter()
        fn()
        first[name] = time.perf_counter() - start
        for _ in range(3):  # warm-up: caches, allocator, thread pools
            fn()
        n = 1
        while True:
            start = time.perf_counter()
            for _ in range(n):
                fn()
            if time.perf_counter() - start >= min_repeat_s or n >= 1 << 20:
                break
            n *= 2
        number[name] = n
    samples: dict[str, list[float]] = {name: [] for name in impls}
    for _ in range(repeats):
        for name, fn in impls.items():
            start = time.perf_counter()
            for _ in range(number[name]):
                fn()
            samples[name].append((time.perf_counter() - start) / number[name] * 1e6)
    out = {}
    for name, values in samples.items():
        q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
        out[name] = Timing(statistics.median(values), q[2] - q[0], first[name], repeats, number[name])
    return out


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


def keyed_call(fn: Callable, key, *args) -> Callable[[], object]:
    """A zero-argument call of ``jax.jit(fn)(key, *args) -> (next_key, *outputs)`` that threads
    its key from call to call, as a training loop does, and blocks on the outputs."""
    import jax

    jitted = jax.jit(fn)
    state = {"key": key}

    def call():
        state["key"], *outputs = jitted(state["key"], *args)
        return jax.block_until_ready(outputs)

    return call


def torch_threads(call: Callable[[], object]) -> dict[str, Callable[[], object]]:
    """``{"torchrl": call, "torchrl[1 thread]": ...}``: TorchRL with 2 torch threads and with 1.

    On a loaded 2-vCPU machine torch's second thread and XLA's pool fight, and the 2-thread time
    can swing by 10x or more; the 1-thread column is the steadier one.
    """
    import torch

    torch.set_num_threads(2)

    def one_thread():
        torch.set_num_threads(1)
        try:
            return call()
        finally:
            torch.set_num_threads(2)

    return {"torchrl": call, "torchrl[1 thread]": one_thread}
