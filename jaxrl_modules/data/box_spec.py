"""Box specs: `Bounded` (values in ``[low, high]``) and `Unbounded` (any value), float or integer,
as TorchRL's ``Bounded`` / ``Unbounded`` (and the old ``UnboundedDiscreteTensorSpec``).

The conventions every spec follows (frozen and hashable, shapes, dtypes, validation, NaN) are
described in :mod:`jaxrl_modules.data.specs`, which exports these classes with the others; the
base class is in :mod:`jaxrl_modules.data.tensor_spec`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxrl_modules.data.tensor_spec import (
    TensorSpec,
    _as_shape,
    _bcast,
    _canonical_dtype,
    _check_fits,
    _clip_cast,
    _fmt,
    _frozen,
)

__all__ = ["Bounded", "Unbounded", "UnboundedDiscreteTensorSpec"]

# ------------------------------------------------------------------------------ value helpers


def _check_finite_bound(name: str, bound: np.ndarray, dtype: np.dtype) -> None:
    # A bound that is not a number, or that casting to the dtype turns into +-inf (1e5 in float16),
    # would make project and rand return inf or NaN. TorchRL accepts infinite bounds; here a box
    # with an infinite side is an error, since rand cannot be uniform over it.
    bound = np.asarray(bound)
    if np.issubdtype(bound.dtype, np.inexact) and not np.all(np.isfinite(bound)):
        raise ValueError(
            f"Bounded: {name}={_fmt(bound)} is not finite. Pass finite bounds, or use Unbounded "
            "for a side with no bound (np.finfo(dtype).min / .max for a box bounded on some dims only)."
        )
    if np.issubdtype(dtype, np.floating):
        with np.errstate(over="ignore"):
            cast = bound.astype(dtype)
        if not np.all(np.isfinite(cast)):
            raise ValueError(
                f"Bounded: {name}={_fmt(bound)} is not finite in dtype {np.dtype(dtype)} (largest: "
                f"{np.finfo(dtype).max}). Pass finite bounds that the dtype can hold, or use Unbounded."
            )


def _full_range_ints(key: jax.Array, shape: tuple[int, ...], dtype: np.dtype) -> jax.Array:
    bits = jax.random.bits(key, shape, np.dtype(f"uint{np.iinfo(dtype).bits}"))
    return jax.lax.bitcast_convert_type(bits, dtype)


def _randint_inclusive(
    key: jax.Array, shape: tuple[int, ...], low: np.ndarray, high: np.ndarray, dtype: np.dtype
) -> jax.Array:
    """Uniform integers in ``[low, high]`` with both ends included, even at the dtype's limits."""
    info = np.iinfo(dtype)
    k_up, k_down, k_full = jax.random.split(key, 3)
    lo, hi = _bcast(low, shape, dtype), _bcast(high, shape, dtype)
    top = np.broadcast_to(high == info.max, shape)
    out = jax.random.randint(k_up, shape, lo, jnp.where(top, hi, hi + 1), dtype)
    if top.any():
        # randint's maxval is exclusive and cannot exceed the dtype, so a range that touches the
        # top is drawn one lower and shifted up; a range that also touches the bottom is every
        # value of the dtype, which raw bits give.
        bottom = np.broadcast_to(low == info.min, shape)
        shifted = jax.random.randint(k_down, shape, jnp.where(bottom, lo, lo - 1), hi, dtype) + 1
        full = _full_range_ints(k_full, shape, dtype)
        out = jnp.where(top, jnp.where(bottom, full, shifted.astype(dtype)), out)
    return out


# ------------------------------------------------------------------------------ continuous specs


class Bounded(TensorSpec):
    """Values in the box ``[low, high]`` (both ends included).

    Args:
      low, high: scalars or arrays broadcastable to ``shape``; ``low <= high`` everywhere. For an
        int dtype, float bounds are rounded inwards and must fit in the dtype.
      shape: the per-sample shape; may be omitted when a bound is an array (its shape is used).
      dtype: float (``domain="continuous"``) or int (``domain="discrete"``); default float32.
      domain: overrides the domain read off the dtype.

    ``rand`` is uniform: over ``[low, high]`` for floats, over the integers ``{low, ..., high}``
    for ints (as TorchRL 0.14.1). ``project`` clips, rounding floats for an int dtype; ``+-inf``
    clip to the bounds. NaN stays NaN for a float dtype (NaN in, NaN out, so a diverged value is
    never laundered into a valid-looking bound); an int dtype cannot hold NaN and maps it to
    ``low``.

    Raises:
      ValueError: a bound is NaN or infinite, or does not fit in the dtype (``1e5`` in float16),
        ``low > high`` somewhere, or a dim of ``shape`` is negative. TorchRL accepts infinite
        bounds; use `Unbounded` for a value with no bound.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxrl_modules.data import Bounded
      >>> spec = Bounded(low=-1.0, high=1.0, shape=(2,))
      >>> spec
      Bounded(low=-1.0, high=1.0, shape=(2,), dtype=float32, domain=continuous)
      >>> spec.project(jnp.array([[-3.0, 0.5]])).tolist()
      [[-1.0, 0.5]]
      >>> bool(spec.is_in(jnp.array([2.0, 0.0])))
      False
    """

    _args = ("low", "high", "shape", "dtype", "domain")
    # Set through `_set`: read-only NumPy arrays of the spec's shape and dtype.
    low: np.ndarray
    high: np.ndarray

    def __init__(
        self, low: ArrayLike, high: ArrayLike, shape: Any = None, dtype: Any = np.float32, *, domain: str | None = None
    ):
        dtype = _canonical_dtype(dtype)
        low, high = np.asarray(low), np.asarray(high)
        if dtype == np.bool_:
            raise ValueError("Bounded does not take dtype bool; use Binary for 0/1 values.")
        if shape is None:
            shapes = [b.shape for b in (low, high) if b.ndim]
            if not shapes:
                raise ValueError(
                    f"Bounded needs a shape: pass shape=... or array bounds; got scalar low={low} "
                    f"and high={high} and shape=None."
                )
            try:
                shape = np.broadcast_shapes(*shapes)
            except ValueError:
                raise ValueError(
                    f"Bounded: low of shape {low.shape} and high of shape {high.shape} do not broadcast "
                    "together; pass bounds of one shape, or scalars and shape=..."
                ) from None
        shape = _as_shape(shape, "Bounded")
        bounds = []
        for name, bound in (("low", low), ("high", high)):
            try:
                bound = np.broadcast_to(bound, shape)
            except ValueError:
                raise ValueError(
                    f"Bounded: {name} of shape {bound.shape} cannot be broadcast to shape {shape}."
                ) from None
            if not np.issubdtype(bound.dtype, np.number) and bound.dtype != np.bool_:
                raise ValueError(f"Bounded: {name} must be numbers, got {bound!r}.")
            _check_finite_bound(name, bound, dtype)
            if np.issubdtype(dtype, np.integer):
                if np.issubdtype(bound.dtype, np.floating):
                    bound = np.ceil(bound) if name == "low" else np.floor(bound)
                _check_fits(f"Bounded: {name}", bound, dtype)
            bounds.append(_frozen(bound, dtype))
        if not np.all(bounds[0] <= bounds[1]):
            raise ValueError(
                f"Bounded: low must be <= high everywhere, got low={_fmt(bounds[0])} and "
                f"high={_fmt(bounds[1])} (shape {shape})."
            )
        if domain is None:
            domain = "continuous" if np.issubdtype(dtype, np.floating) else "discrete"
        super().__init__(shape, dtype, domain)
        self._set(low=bounds[0], high=bounds[1])

    def _member(self, x, mask):
        return (x >= _bcast(self.low, x.shape)) & (x <= _bcast(self.high, x.shape))

    def _project(self, x, mask):
        return _clip_cast(x, self.low, self.high, self.dtype)

    def _rand(self, key, lead, mask):
        shape = (*lead, *self.shape)
        if not np.issubdtype(self.dtype, np.floating):
            return _randint_inclusive(key, shape, self.low, self.high, self.dtype)
        lo, hi = _bcast(self.low, shape), _bcast(self.high, shape)
        u = jax.random.uniform(key, shape, self.dtype)
        # A convex combination, not low + (high - low) * u, which overflows for huge boxes.
        return jnp.clip(lo * (1 - u) + hi * u, lo, hi)


class Unbounded(TensorSpec):
    """Any value of the given shape and dtype.

    Args:
      shape: the per-sample shape; default ``(1,)`` as TorchRL; an int ``n`` means ``(n,)``.
      dtype: default float32. ``rand`` draws a standard normal for floats, full-range integers for
        ints, fair coins for bool; ``project`` only casts: NaN and +-inf stay for a float dtype;
        for an int dtype floats are rounded and clipped to the dtype's range (NaN becomes its
        minimum); for bool, NaN becomes False.

    Examples:
      >>> import jax
      >>> from jaxrl_modules.data import Unbounded
      >>> Unbounded().shape, Unbounded(3).shape
      ((1,), (3,))
      >>> Unbounded(3).rand(jax.random.key(0), (4,)).dtype
      dtype('float32')
    """

    _args = ("shape", "dtype")

    def __init__(self, shape: Any = (1,), dtype: Any = np.float32):
        dtype = _canonical_dtype(dtype)
        floating = np.issubdtype(dtype, np.inexact)
        super().__init__(shape, dtype, "continuous" if floating else "discrete")

    def _member(self, x, mask):
        return jnp.asarray(True)

    def _project(self, x, mask):
        if np.issubdtype(self.dtype, np.integer):
            # Clipped to the dtype's range first, so a large value saturates instead of wrapping.
            info = np.iinfo(self.dtype)
            return _clip_cast(x, info.min, info.max, self.dtype)
        if self.dtype == np.bool_ and jnp.issubdtype(x.dtype, jnp.inexact):
            return jnp.where(jnp.isnan(x), False, x.astype(jnp.bool_))  # NaN would cast to True
        return x.astype(self.dtype)

    def _rand(self, key, lead, mask):
        shape = (*lead, *self.shape)
        if np.issubdtype(self.dtype, np.inexact):
            return jax.random.normal(key, shape, self.dtype)
        if self.dtype == np.bool_:
            return jax.random.bernoulli(key, 0.5, shape)
        return _full_range_ints(key, shape, self.dtype)


class UnboundedDiscreteTensorSpec(Unbounded):
    """TorchRL's old name for an integer ``Unbounded``: the same class, default dtype int32.

    Examples:
      >>> from jaxrl_modules.data import Unbounded, UnboundedDiscreteTensorSpec
      >>> spec = UnboundedDiscreteTensorSpec()
      >>> spec.dtype, isinstance(spec, Unbounded), spec == Unbounded(dtype="int32")
      (dtype('int32'), True, True)
    """

    _eq_as = Unbounded

    def __init__(self, shape: Any = (1,), dtype: Any = np.int32):
        super().__init__(shape, dtype)
