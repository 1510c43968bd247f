"""Construction-time checks of network sizes and rates, shared by every network in `models`.

Each check raises a ValueError that names the class (``owner``), the argument, what was expected
and what was given, so a degenerate size (a zero-width layer, a negative depth) fails when the
network is built, never as a constant output or a shape error deep inside flax.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from numbers import Integral, Real
from typing import Any, TypeVar

__all__ = ["check_int", "check_sizes", "check_rate", "check_real", "checked_build"]

T = TypeVar("T")


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def check_int(owner: str, arg: str, value: Any, *, minimum: int = 1, optional: bool = False) -> int | None:
    """``value`` as an int ``>= minimum`` (None passes through when ``optional``).

    Examples:
      >>> check_int("MLP", "depth", 2, minimum=0)
      2
      >>> check_int("MLP", "depth", -1, minimum=0)
      Traceback (most recent call last):
      ...
      ValueError: MLP: depth must be an int >= 0, got -1.
    """
    if value is None and optional:
        return None
    if not _is_int(value) or value < minimum:
        want = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        if optional:
            want += " or None"
        raise ValueError(f"{owner}: {arg} must be {want}, got {value!r}.")
    return int(value)


def check_sizes(
    owner: str, arg: str, value: Any, *, minimum: int = 1, length: int | None = None, allow_empty: bool = True
) -> tuple[int, ...]:
    """An int or a sequence of ints, each ``>= minimum``, as a tuple (an int gives a 1-tuple).

    Args:
      owner: the class name, for the message.
      arg: the argument name, for the message.
      value: an int or a sequence of ints.
      minimum: the smallest allowed entry.
      length: if given, the number of entries a sequence must have.
      allow_empty: whether an empty sequence is accepted.

    Returns:
      The entries as a tuple of Python ints.

    Examples:
      >>> check_sizes("MLP", "num_cells", [32, 16])
      (32, 16)
      >>> check_sizes("MLP", "num_cells", [32, 0])
      Traceback (most recent call last):
      ...
      ValueError: MLP: num_cells must hold positive ints, got [32, 0] (entry 1 is 0).
    """
    if _is_int(value):
        entries: Sequence[Any] = (value,)
    elif isinstance(value, Sequence) and not isinstance(value, str):
        entries = value
    else:
        raise ValueError(f"{owner}: {arg} must be an int or a sequence of ints, got {value!r}.")
    if not entries and not allow_empty:
        raise ValueError(f"{owner}: {arg} must not be empty, got {value!r}.")
    if length is not None and not _is_int(value) and len(entries) != length:
        raise ValueError(f"{owner}: {arg} must have {length} entries, got {value!r} ({len(entries)} entries).")
    if _is_int(value):
        check_int(owner, arg, value, minimum=minimum)
        return (int(value),)
    want = "positive ints" if minimum == 1 else f"ints >= {minimum}"
    for i, entry in enumerate(entries):
        if not _is_int(entry) or entry < minimum:
            raise ValueError(f"{owner}: {arg} must hold {want}, got {value!r} (entry {i} is {entry!r}).")
    return tuple(int(e) for e in entries)


def check_rate(owner: str, arg: str, value: Any, *, optional: bool = False) -> float | None:
    """A probability in ``[0, 1)`` (a dropout rate: 1 would drop everything).

    Examples:
      >>> check_rate("LSTM", "dropout", 1.0)
      Traceback (most recent call last):
      ...
      ValueError: LSTM: dropout must be a number in [0, 1), got 1.0.
    """
    if value is None and optional:
        return None
    if not isinstance(value, Real) or isinstance(value, bool) or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{owner}: {arg} must be a number in [0, 1){' or None' if optional else ''}, got {value!r}.")
    return float(value)


def check_real(owner: str, arg: str, value: Any, *, minimum: float | None = None, strict: bool = False) -> float:
    """A finite real number, ``>= minimum`` (``> minimum`` when ``strict``).

    Examples:
      >>> check_real("NoisyLinear", "std_init", float("inf"), minimum=0.0)
      Traceback (most recent call last):
      ...
      ValueError: NoisyLinear: std_init must be a finite number >= 0.0, got inf.
    """
    bound = "" if minimum is None else f" {'>' if strict else '>='} {minimum}"
    ok = isinstance(value, Real) and not isinstance(value, bool) and math.isfinite(float(value))
    if ok and minimum is not None:
        ok = float(value) > minimum if strict else float(value) >= minimum
    if not ok:
        raise ValueError(f"{owner}: {arg} must be a finite number{bound}, got {value!r}.")
    return float(value)


def checked_build(owner: str, what: str, build: Callable[[], T]) -> T:
    """``build()``, with a ValueError or TypeError prefixed by the owner and the argument it came from.

    A container (a dueling or DDPG net, `LSTMNet`, a multi-agent net) builds its sub-networks at
    construction with this, so ``DdpgMlpActor(mlp_net_kwargs={"num_cells": 0, ...})`` fails at
    once, saying ``DdpgMlpActor mlp_net_kwargs: MLP: num_cells must be ...``.

    Examples:
      >>> checked_build("DdpgMlpActor", "action_dim", lambda: check_int("MLP", "out_features", 0))
      Traceback (most recent call last):
      ...
      ValueError: DdpgMlpActor action_dim: MLP: out_features must be a positive int, got 0.
    """
    try:
        return build()
    except (ValueError, TypeError) as err:
        raise type(err)(f"{owner} {what}: {err}") from None
