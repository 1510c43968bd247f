"""Positive mappings for scale parameters: TorchRL's ``mappings`` (``tensordict.nn.utils``).

Pure array functions ``f: R -> R+`` (or ``R -> R`` for ``"none"``) that turn a network's raw
output into a standard deviation, named by the strings TorchRL's modules accept, e.g.
``NormalParamExtractor(scale_mapping="biased_softplus_1.0")``:

* ``"softplus"``: ``log(1 + exp(x))``;
* ``"exp"``: ``exp(x)``;
* ``"relu"``: ``max(x, 0)``;
* ``"none"``: the identity;
* ``"expln"``: `expln`, ``exp(x)`` for ``x <= 0`` and ``log1p(x) + 1`` above (Rueckstiess et
  al., 2008, "State-Dependent Exploration for Policy Gradient Methods");
* ``"biased_softplus"``, ``"biased_softplus_<bias>"``, ``"biased_softplus_<bias>_<min_val>"``:
  `biased_softplus`, a softplus shifted so that ``f(0) = bias`` (default 1.0) and bounded below by
  ``min_val`` (default 0.01).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

__all__ = ["MAPPING_NAMES", "inv_softplus", "biased_softplus", "expln", "mappings"]

MAPPING_NAMES = (
    "softplus",
    "exp",
    "relu",
    "none",
    "expln",
    "biased_softplus",
    "biased_softplus_<bias>",
    "biased_softplus_<bias>_<min_val>",
)

# TorchRL clamps expm1(y) here before the log, so inv_softplus stays finite for y <= 0.
_INV_SOFTPLUS_FLOOR = 1e-6


def inv_softplus(y: float | ArrayLike) -> float | jax.Array:
    """The inverse of softplus, ``log(expm1(y))``, with ``expm1(y)`` clamped at 1e-6.

    Args:
      y: a Python number or an array.

    Returns:
      A Python float for a Python number (as TorchRL), else an array of ``y``'s shape.

    Examples:
      >>> round(inv_softplus(1.0), 6)
      0.541325
      >>> import jax
      >>> float(jax.nn.softplus(inv_softplus(2.5)))
      2.5
    """
    if isinstance(y, (int, float)):
        return math.log(max(math.expm1(y), _INV_SOFTPLUS_FLOOR))
    y = jnp.asarray(y)
    return jnp.log(jnp.maximum(jnp.expm1(y), _INV_SOFTPLUS_FLOOR))


@dataclasses.dataclass(frozen=True)
class _BiasedSoftplus:
    """``x -> softplus(x + shift) + min_val``; hashable, so it can be a static module field."""

    bias: float
    min_val: float

    @property
    def shift(self) -> float:
        return inv_softplus(self.bias - self.min_val)

    def __call__(self, x: ArrayLike) -> jax.Array:
        x = jnp.asarray(x)
        return jax.nn.softplus(x + self.shift) + self.min_val


def biased_softplus(bias: float, min_val: float = 0.01) -> Callable[[ArrayLike], jax.Array]:
    """A softplus with ``f(0) = bias`` and ``f(x) > min_val``.

    ``f(x) = softplus(x + inv_softplus(bias - min_val)) + min_val``.

    Args:
      bias: the value at 0; must exceed ``min_val``.
      min_val: the lower bound.

    Returns:
      A function from arrays to arrays of the same shape (a hashable, frozen callable).

    Raises:
      ValueError: ``bias <= min_val`` (TorchRL silently returns ``f(0) = min_val + 1e-6``).

    Examples:
      >>> import jax.numpy as jnp
      >>> f = biased_softplus(1.0)
      >>> f(jnp.array([0.0, -100.0])).round(4)
      Array([1.  , 0.01], dtype=float32)
    """
    bias, min_val = float(bias), float(min_val)
    if not bias > min_val:
        raise ValueError(
            f"biased_softplus needs bias > min_val so that f(0) = bias, got bias={bias}, min_val={min_val}."
        )
    return _BiasedSoftplus(bias, min_val)


def expln(x: ArrayLike) -> jax.Array:
    """``exp(x)`` for ``x <= 0``, ``log1p(x) + 1`` for ``x > 0``: positive, C1, and only
    logarithmic growth (Rueckstiess et al., 2008).

    Examples:
      >>> import jax.numpy as jnp
      >>> expln(jnp.array([0.0, jnp.e - 1.0]))
      Array([1., 2.], dtype=float32)
    """
    x = jnp.asarray(x)
    # Each branch sees only its own half-line, so neither overflows nor feeds a NaN gradient.
    return jnp.where(x <= 0, jnp.exp(jnp.minimum(x, 0)), jnp.log1p(jnp.maximum(x, 0)) + 1)


def _identity(x: ArrayLike) -> jax.Array:
    return jnp.asarray(x)


def _softplus(x: ArrayLike) -> jax.Array:
    return jax.nn.softplus(jnp.asarray(x))


def _exp(x: ArrayLike) -> jax.Array:
    return jnp.exp(jnp.asarray(x))


def _relu(x: ArrayLike) -> jax.Array:
    return jax.nn.relu(jnp.asarray(x))


_MAPPINGS: dict[str, Callable[[ArrayLike], jax.Array]] = {
    "softplus": _softplus,
    "exp": _exp,
    "relu": _relu,
    "none": _identity,
    "expln": expln,
}


def mappings(key: str) -> Callable[[ArrayLike], jax.Array]:
    """The mapping named ``key``; see the module docstring for the names.

    Args:
      key: one of `MAPPING_NAMES`, with ``<bias>`` and ``<min_val>`` Python float literals
        (``"biased_softplus_5.0_1e-4"``).

    Returns:
      A function from arrays to arrays of the same shape. The same name gives an equal (and
      hashable) function.

    Raises:
      ValueError: an unknown name (the message lists the accepted ones), a malformed
        ``biased_softplus_...`` or ``bias <= min_val``. (TorchRL raises ``NotImplementedError``
        for an unknown name.)

    Examples:
      >>> import jax.numpy as jnp
      >>> mappings("exp")(jnp.zeros(2))
      Array([1., 1.], dtype=float32)
      >>> mappings("biased_softplus_5.0_1e-4")(jnp.zeros(2)).round(4)
      Array([5., 5.], dtype=float32)
    """
    if not isinstance(key, str):
        raise ValueError(f"A mapping is named by a string, one of {list(MAPPING_NAMES)}; got {key!r}.")
    if key in _MAPPINGS:
        return _MAPPINGS[key]
    if key == "biased_softplus":
        return biased_softplus(1.0)
    if key.startswith("biased_softplus_"):
        parts = key[len("biased_softplus_") :].split("_")
        try:
            numbers = [float(p) for p in parts]
        except ValueError:
            numbers = []
        if len(numbers) not in (1, 2):
            raise ValueError(
                f"Malformed mapping {key!r}: expected 'biased_softplus_<bias>' or "
                "'biased_softplus_<bias>_<min_val>' with float literals."
            )
        return biased_softplus(*numbers)
    raise ValueError(f"Unknown mapping {key!r}; accepted: {list(MAPPING_NAMES)}.")
