"""ExplorationType: how a module acts, passed explicitly (never a hidden global).

TorchRL reads the exploration type from a global context (``set_exploration_type``). Under
``jax.jit`` a global read at trace time would be baked into the compiled function and silently
reused under another type, so here the type is a module field or a keyword of ``__call__``, static
under jit: a jitted function closes over it, and a different type is a different trace.

The type is tri-state, as in TorchRL: one of the enum values, or ``None`` (unset). Modules treat
``None`` as TorchRL does (reference section 1.4): e-greedy, Gaussian and OU exploration explore
when the type is ``RANDOM`` or ``None``; noisy layers add noise only when ``RANDOM``; probabilistic
modules fall back to their ``default_interaction_type``.
"""

from __future__ import annotations

import enum

__all__ = ["ExplorationType", "InteractionType", "resolve_exploration_type"]


class ExplorationType(str, enum.Enum):  # noqa: UP042 (StrEnum would change str() of a member)
    """How a module acts: sample (``RANDOM``) or take a point estimate.

    Lookup by value is case-insensitive, as TorchRL's: ``ExplorationType("Random")``.

    Examples:
      >>> ExplorationType("random") is ExplorationType.RANDOM
      True
      >>> resolve_exploration_type(None, ExplorationType.MODE)
      <ExplorationType.MODE: 'mode'>
    """

    MODE = "mode"
    MEDIAN = "median"
    MEAN = "mean"
    RANDOM = "random"
    DETERMINISTIC = "deterministic"

    @classmethod
    def _missing_(cls, value: object):
        if isinstance(value, str):
            for member in cls:
                if member.value == value.lower():
                    return member
        return None


InteractionType = ExplorationType


def resolve_exploration_type(
    call: ExplorationType | str | None, field: ExplorationType | str | None = None, owner: str = "exploration_type"
) -> ExplorationType | None:
    """The effective type: the call's keyword if given, else the module field (``None`` = unset).

    Raises:
      ValueError: an unknown value; the message names ``owner`` and lists the valid values.

    Examples:
      >>> resolve_exploration_type("randum")
      Traceback (most recent call last):
      ...
      ValueError: exploration_type: unknown exploration type 'randum'; valid: ExplorationType.MODE / MEDIAN / MEAN /
      RANDOM / DETERMINISTIC, their values 'mode', 'median', 'mean', 'random', 'deterministic' (any case), or None
      (unset).
    """
    value = call if call is not None else field
    if value is None:
        return None
    try:
        return ExplorationType(value)
    except ValueError:
        names = " / ".join(m.name for m in ExplorationType)
        values = ", ".join(repr(m.value) for m in ExplorationType)
        raise ValueError(
            f"{owner}: unknown exploration type {value!r}; valid: ExplorationType.{names}, their values "
            f"{values} (any case), or None (unset)."
        ) from None
