"""Tensor specs: the shape, dtype and allowed values of an array, as TorchRL's ``torchrl.data`` specs.

A spec is a frozen, hashable value: its bounds and masks are NumPy arrays (read-only copies),
never JAX arrays, so a spec can be a field of a ``flax.linen.Module`` and a static argument of
``jax.jit``. Every method that takes an array (``is_in``, ``project``, ``rand``, ``zero``, the
encoding conversions) is jit-safe: shapes and dtypes are checked statically, values only with
array operations.

Shapes: ``spec.shape`` is the per-sample shape. An array ``x`` is laid out as
``(*batch, *spec.shape)``; the leading batch dims are free.

Dtypes: JAX defaults to 32 bits, so ``Categorical``, ``MultiCategorical`` and
``UnboundedDiscreteTensorSpec`` default to ``int32`` where TorchRL uses ``int64``, and any dtype is
canonicalized the way JAX does (``int64`` becomes ``int32`` unless ``jax_enable_x64`` is set), so
that a spec's dtype is the dtype of the arrays JAX actually produces.

Validation: every spec checks its sizes at construction (``n`` and every entry of ``nvec`` an
integer >= 1, every dim of a shape a non-negative integer, a ``Bounded`` spec's bounds finite,
representable in its dtype and ``low <= high``), and ``rand``, ``zero``, ``one`` and ``expand``
check their shape argument; errors name the spec and the argument.

NaN: ``project`` of a float spec keeps NaN (NaN in, NaN out; ``+-inf`` still clip to the bounds),
so a diverged actor's NaN is never laundered into a valid-looking value; ``is_in`` is False for
NaN in a ``Bounded`` spec. A discrete spec cannot hold NaN: there NaN ranks lowest, so it maps to
the lowest member (``low`` of an integer ``Bounded``, 0 for ``Binary``, index 0 for
``Categorical`` or the first allowed index under a mask, the first allowed entry of a
``OneHot`` row made of NaN; a NaN entry never wins a ``OneHot`` row that has a number).

Masked rows: a mask (True = allowed) must allow at least one entry per row (per block for the
multi specs). A spec's own mask is checked at construction; a dynamic mask passed to ``rand``,
``is_in`` or ``project`` cannot be checked under jit, and a row (or block) that allows nothing
gives index 0 of that row or block (the one-hot of entry 0), the library-wide rule; use
``jaxrl_modules.functional.any_action_allowed`` to tell such rows apart.

The base class is in :mod:`jaxrl_modules.data.tensor_spec`, composite specs in
:mod:`jaxrl_modules.data.composite_spec`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxrl_modules.data.composite_spec import Composite, CompositeSpec
from jaxrl_modules.data.tensor_spec import (
    TensorSpec,
    _as_shape,
    _bcast,
    _canonical_dtype,
    _check_count,
    _fmt,
    _frozen,
    _MaskedSpec,
    _split_last,
)

__all__ = [
    "TensorSpec",
    "Bounded",
    "Unbounded",
    "OneHot",
    "Categorical",
    "Binary",
    "MultiOneHot",
    "MultiCategorical",
    "Composite",
    "BoundedTensorSpec",
    "UnboundedContinuousTensorSpec",
    "UnboundedDiscreteTensorSpec",
    "OneHotDiscreteTensorSpec",
    "DiscreteTensorSpec",
    "BinaryDiscreteTensorSpec",
    "MultiOneHotDiscreteTensorSpec",
    "MultiDiscreteTensorSpec",
    "CompositeSpec",
]

# ------------------------------------------------------------------------------ value helpers


def _clip_cast(x: jax.Array, low: Any, high: Any, dtype: np.dtype) -> jax.Array:
    """``x`` clipped to ``[low, high]`` and cast to ``dtype``; floats are rounded for int dtypes.

    The bounds are compared with ``x`` before the cast, so out-of-range integers never wrap.
    NaN stays NaN for a float dtype (a diverged actor's action must stay visible, not become a
    valid-looking bound); an integer dtype cannot hold NaN, and there it maps to ``low``.
    """
    lo, hi = _bcast(low, x.shape, dtype), _bcast(high, x.shape, dtype)
    if jnp.issubdtype(dtype, jnp.floating):
        return jnp.clip(x.astype(dtype), lo, hi)  # clip keeps NaN
    below = x < lo
    if jnp.issubdtype(x.dtype, jnp.inexact):
        x = jnp.round(x)
        below = (x < lo) | jnp.isnan(x)
    return jnp.where(below, lo, jnp.where(x > hi, hi, x.astype(dtype)))


def _check_nvec(owner: str, nvec: Sequence[int]) -> tuple[int, ...]:
    nvec = tuple(nvec)
    if not nvec:
        raise ValueError(f"{owner}: nvec must hold at least one block, got {list(nvec)}.")
    return tuple(_check_count(owner, f"nvec[{i}]", n) for i, n in enumerate(nvec))


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


def _check_fits(what: str, value: Any, dtype: np.dtype) -> None:
    # Casting an out-of-range bound would wrap around silently.
    info = np.iinfo(dtype)
    if np.any(np.asarray(value) < info.min) or np.any(np.asarray(value) > info.max):
        raise ValueError(f"{what}={_fmt(np.asarray(value))} does not fit in dtype {dtype}.")


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


def _first_max_one_hot(x: jax.Array, mask: jax.Array | None, n: int, dtype: np.dtype) -> jax.Array:
    """One-hot of the first maximum along the last axis, among allowed entries only.

    NaN ranks as -inf (never above a number), so a row of NaN gives its first allowed entry.
    """
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.float32)
    x = jnp.where(jnp.isnan(x), -jnp.inf, x)  # argmax would pick the first NaN
    if mask is not None:
        # An allowed -inf must still beat the masked entries, which become -inf themselves.
        x = jnp.where(jnp.isneginf(x), jnp.finfo(x.dtype).min, x)
        x = jnp.where(mask, x, -jnp.inf)
    return jax.nn.one_hot(jnp.argmax(x, axis=-1), n, dtype=dtype)


def _masked_draw(key: jax.Array, mask: jax.Array) -> jax.Array:
    """A uniform index among the allowed entries of each row; index 0 where a row allows none.

    Index 0 for an empty row is the library-wide masked-row rule, made explicit here rather than
    left to how ``jax.random.categorical`` treats a row of ``-inf``.
    """
    index = jax.random.categorical(key, jnp.where(mask, 0.0, -jnp.inf), axis=-1)
    return jnp.where(jnp.any(mask, axis=-1), index, 0)


def _all(parts: Sequence[jax.Array]) -> jax.Array:
    return functools.reduce(jnp.logical_and, parts)


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


# -------------------------------------------------------------------------------- discrete specs


class OneHot(_MaskedSpec):
    """One-hot vectors over ``n`` choices: each row along the last axis has exactly one 1/True.

    Args:
      n: the number of choices.
      shape: the per-sample shape, ending with ``n``; default ``(n,)``.
      dtype: default bool, as TorchRL.
      mask: optional boolean mask broadcastable to ``shape`` (True = allowed).

    ``project`` is the one-hot of the first maximum of each row, among allowed entries (NaN ranks
    lowest); ``rand`` is uniform over allowed entries. A row whose mask (the spec's and a dynamic
    one, ANDed) allows nothing gives the one-hot of entry 0 in both, as every masked sampler of
    the library.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules.data import OneHot
      >>> spec = OneHot(4, mask=jnp.array([True, False, True, True]))
      >>> spec.project(jnp.array([0.1, 9.0, 0.3, 0.2])).tolist()
      [False, False, True, False]
      >>> spec.to_categorical_spec()
      Categorical(n=4, shape=(), mask=[True, False, True, True], dtype=int32, domain=discrete)
      >>> spec.encode(3).tolist()
      [False, False, False, True]
    """

    _args = ("n", "shape", "dtype", "mask")
    _kind_of_mask = "(the spec shape)"

    def __init__(self, n: int, shape: Any = None, dtype: Any = np.bool_, mask: ArrayLike | None = None):
        n = _check_count("OneHot", "n", n)
        shape = (n,) if shape is None else _as_shape(shape, "OneHot")
        if not shape or shape[-1] != n:
            raise ValueError(f"OneHot(n={n}): the last dim of shape must equal n, got shape={shape}.")
        super().__init__(shape, dtype, "discrete")
        self._set(n=n)
        self._set(mask=self._check_mask(mask))

    _mask_shape = property(lambda self: self.shape)
    _blocks = property(lambda self: (self.n,))

    def _member(self, x, mask):
        is_one = x != 0
        ok = jnp.all((x == 0) | (x == 1), axis=-1) & (jnp.sum(is_one, axis=-1) == 1)
        return ok if mask is None else ok & jnp.any(is_one & mask, axis=-1)

    def _project(self, x, mask):
        return _first_max_one_hot(x, mask, self.n, self.dtype)

    def _rand(self, key, lead, mask):
        shape = (*lead, *self.shape)
        index = _masked_draw(key, jnp.ones(shape, bool) if mask is None else mask)
        return jax.nn.one_hot(index, self.n, dtype=self.dtype)

    def encode(self, value: Any) -> jax.Array:
        """Indices (an int or an int array of shape ``batch``) as one-hots of shape ``(*batch, n)``."""
        return jax.nn.one_hot(jnp.asarray(np.asarray(value)), self.n, dtype=self.dtype)

    def to_categorical(self, x: ArrayLike) -> jax.Array:
        """One-hots ``(*batch, n)`` as int32 indices ``(*batch,)`` (the first set entry)."""
        return jnp.argmax(jnp.asarray(x), axis=-1).astype(jnp.int32)

    def to_categorical_spec(self) -> Categorical:
        """The index encoding of this spec: ``Categorical(n, shape[:-1])``, with the same mask."""
        return Categorical(self.n, shape=self.shape[:-1], mask=self.mask)


class Categorical(_MaskedSpec):
    """Integer indices in ``{0, ..., n-1}``.

    Args:
      n: the number of choices.
      shape: the per-sample shape; default ``()`` (one index per sample).
      dtype: default int32 (TorchRL uses int64; JAX defaults to 32 bits).
      mask: optional boolean mask broadcastable to ``(*shape, n)`` (True = allowed).

    ``project`` rounds floats and clips to ``[0, n-1]`` (NaN becomes 0); a disallowed index becomes
    the first allowed one. ``rand`` is uniform over allowed indices. A row whose mask allows
    nothing gives index 0 in both, as every masked sampler of the library.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules.data import Categorical
      >>> spec = Categorical(4, mask=jnp.array([False, True, True, False]))
      >>> spec.project(jnp.array([-2.0, 2.4, 3.0])).tolist()
      [1, 2, 1]
      >>> spec.to_one_hot(jnp.array(2)).tolist()
      [False, False, True, False]
    """

    _args = ("n", "shape", "dtype", "mask")
    _kind_of_mask = "(*shape, n)"

    def __init__(self, n: int, shape: Any = None, dtype: Any = np.int32, mask: ArrayLike | None = None):
        super().__init__(() if shape is None else shape, dtype, "discrete")
        if not np.issubdtype(self.dtype, np.integer):
            raise ValueError(f"Categorical takes an integer dtype, got {self.dtype}.")
        n = _check_count("Categorical", "n", n)
        _check_fits("Categorical: n - 1", n - 1, self.dtype)
        self._set(n=int(n))
        self._set(mask=self._check_mask(mask))

    _mask_shape = property(lambda self: (*self.shape, self.n))
    _blocks = property(lambda self: (self.n,))

    def _allowed(self, x, mask):
        index = jnp.clip(x, 0, self.n - 1).astype(jnp.int32)[..., None]
        return jnp.take_along_axis(mask, index, axis=-1)[..., 0]

    def _member(self, x, mask):
        ok = (x >= 0) & (x < self.n)
        return ok if mask is None else ok & self._allowed(x, mask)

    def _project(self, x, mask):
        y = _clip_cast(x, 0, self.n - 1, self.dtype)
        if mask is None:
            return y
        return jnp.where(self._allowed(y, mask), y, jnp.argmax(mask, axis=-1).astype(self.dtype))

    def _rand(self, key, lead, mask):
        shape = (*lead, *self.shape)
        if mask is None:
            return jax.random.randint(key, shape, 0, self.n, self.dtype)
        return _masked_draw(key, mask).astype(self.dtype)

    def to_one_hot(self, x: ArrayLike) -> jax.Array:
        """Indices ``(*batch, *shape)`` as bool one-hots ``(*batch, *shape, n)``."""
        return jax.nn.one_hot(jnp.asarray(x), self.n, dtype=jnp.bool_)

    def to_one_hot_spec(self) -> OneHot:
        """The one-hot encoding of this spec: ``OneHot(n, (*shape, n))``, with the same mask."""
        return OneHot(self.n, shape=(*self.shape, self.n), mask=self.mask)


class Binary(TensorSpec):
    """Independent 0/1 values (several ones per row allowed).

    Args:
      n: the size of the last dim; may be omitted when ``shape`` is given.
      shape: the per-sample shape, ending with ``n``; default ``(n,)``.
      dtype: default int8, as TorchRL.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxrl_modules.data import Binary
      >>> spec = Binary(3)
      >>> spec.project(jnp.array([-0.7, 0.6, 5.0])).tolist()
      [0, 1, 1]
      >>> bool(spec.is_in(jnp.array([1, 0, 2], jnp.int8)))
      False
    """

    _args = ("n", "shape", "dtype")

    def __init__(self, n: int | None = None, shape: Any = None, dtype: Any = np.int8):
        if n is None and shape is None:
            raise ValueError("Binary needs n or shape, got neither.")
        if n is not None:
            n = _check_count("Binary", "n", n)
        shape = (n,) if shape is None else _as_shape(shape, "Binary")
        if n is None and shape:
            n = _check_count("Binary", "n (the last dim of shape)", shape[-1])
        if not shape or shape[-1] != n:
            raise ValueError(f"Binary(n={n}): the last dim of shape must equal n, got shape={shape}.")
        super().__init__(shape, dtype, "discrete")
        self._set(n=int(n))

    def _member(self, x, mask):
        return (x == 0) | (x == 1)

    def _project(self, x, mask):
        return _clip_cast(x, 0, 1, self.dtype)

    def _rand(self, key, lead, mask):
        return jax.random.bernoulli(key, 0.5, (*lead, *self.shape)).astype(self.dtype)


# ------------------------------------------------------------------------------- multi specs


class MultiOneHot(_MaskedSpec):
    """Concatenated one-hot blocks of sizes ``nvec`` along the last axis.

    Args:
      nvec: the block sizes (a sequence of ints).
      shape: the per-sample shape, ending with ``sum(nvec)``; default ``(sum(nvec),)``.
      dtype: default bool.
      mask: optional boolean mask broadcastable to ``shape``.

    Every method applies the ``OneHot`` rule to each block: a block whose mask allows nothing
    gives the one-hot of its entry 0.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxrl_modules.data import MultiOneHot
      >>> spec = MultiOneHot([2, 3])
      >>> x = spec.project(jnp.array([0.0, 1.0, 5.0, 0.0, 0.0]))
      >>> x.tolist(), spec.to_categorical(x).tolist()
      ([False, True, True, False, False], [1, 0])
    """

    _args = ("nvec", "shape", "dtype", "mask")
    _kind_of_mask = "(the spec shape)"

    def __init__(self, nvec: Sequence[int], shape: Any = None, dtype: Any = np.bool_, mask: ArrayLike | None = None):
        nvec = _check_nvec("MultiOneHot", nvec)
        shape = (sum(nvec),) if shape is None else _as_shape(shape, "MultiOneHot")
        if not shape or shape[-1] != sum(nvec):
            raise ValueError(
                f"MultiOneHot(nvec={list(nvec)}): the last dim of shape must equal sum(nvec)={sum(nvec)}, "
                f"got shape={shape}."
            )
        super().__init__(shape, dtype, "discrete")
        self._set(nvec=nvec)
        self._set(mask=self._check_mask(mask))

    _mask_shape = property(lambda self: self.shape)
    _blocks = property(lambda self: self.nvec)

    def _block_specs(self) -> list[OneHot]:
        return [OneHot(n, shape=(*self.shape[:-1], n), dtype=self.dtype) for n in self.nvec]

    def _member(self, x, mask):
        parts = zip(self._block_specs(), _split_last(x, self.nvec), _split_last(mask, self.nvec))
        return _all([b._member(xb, mb) for b, xb, mb in parts])

    def _project(self, x, mask):
        parts = zip(self._block_specs(), _split_last(x, self.nvec), _split_last(mask, self.nvec))
        return jnp.concatenate([b._project(xb, mb) for b, xb, mb in parts], axis=-1)

    def _rand(self, key, lead, mask):
        keys = jax.random.split(key, len(self.nvec))
        parts = zip(self._block_specs(), keys, _split_last(mask, self.nvec))
        return jnp.concatenate([b._rand(k, lead, mb) for b, k, mb in parts], axis=-1)

    def to_categorical(self, x: ArrayLike) -> jax.Array:
        """Blocks ``(*batch, *shape)`` as int32 indices ``(*batch, *shape[:-1], len(nvec))``."""
        parts = _split_last(jnp.asarray(x), self.nvec)
        return jnp.stack([jnp.argmax(p, axis=-1) for p in parts], axis=-1).astype(jnp.int32)

    def to_categorical_spec(self) -> MultiCategorical:
        """The index encoding: ``MultiCategorical(nvec)``, with the same mask."""
        return MultiCategorical(self.nvec, shape=(*self.shape[:-1], len(self.nvec)), mask=self.mask)


class MultiCategorical(_MaskedSpec):
    """A vector of indices, entry ``i`` in ``{0, ..., nvec[i]-1}``.

    Args:
      nvec: the cardinalities (a 1-D sequence of ints; TorchRL also takes an array of them).
      shape: the per-sample shape, ending with ``len(nvec)``; default ``(len(nvec),)``.
      dtype: default int32 (TorchRL uses int64; JAX defaults to 32 bits).
      mask: optional boolean mask broadcastable to ``(*shape[:-1], sum(nvec))``, the blocks of
        allowed values side by side (the same layout as ``MultiOneHot``'s, as TorchRL).

    Every method applies the ``Categorical`` rule to each entry: an entry whose block of the mask
    allows nothing gives index 0.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxrl_modules.data import MultiCategorical
      >>> spec = MultiCategorical([2, 3])
      >>> spec.project(jnp.array([7.0, -1.0])).tolist()
      [1, 0]
      >>> spec.to_one_hot(jnp.array([1, 2])).astype(int).tolist()
      [0, 1, 0, 0, 1]
    """

    _args = ("nvec", "shape", "dtype", "mask")
    _kind_of_mask = "(*shape[:-1], sum(nvec))"

    def __init__(self, nvec: Sequence[int], shape: Any = None, dtype: Any = np.int32, mask: ArrayLike | None = None):
        nvec = _check_nvec("MultiCategorical", np.asarray(nvec).reshape(-1).tolist())
        shape = (len(nvec),) if shape is None else _as_shape(shape, "MultiCategorical")
        if not shape or shape[-1] != len(nvec):
            raise ValueError(
                f"MultiCategorical(nvec={list(nvec)}): the last dim of shape must equal "
                f"len(nvec)={len(nvec)}, got shape={shape}."
            )
        super().__init__(shape, dtype, "discrete")
        self._set(nvec=nvec)
        self._block_specs()  # validates the dtype against every cardinality
        self._set(mask=self._check_mask(mask))

    _mask_shape = property(lambda self: (*self.shape[:-1], sum(self.nvec)))
    _blocks = property(lambda self: self.nvec)

    def _block_specs(self) -> list[Categorical]:
        return [Categorical(n, shape=self.shape[:-1], dtype=self.dtype) for n in self.nvec]

    def _columns(self, x):
        return [x[..., i] for i in range(len(self.nvec))]

    def _member(self, x, mask):
        parts = zip(self._block_specs(), self._columns(x), _split_last(mask, self.nvec))
        return _all([b._member(xb, mb) for b, xb, mb in parts])

    def _project(self, x, mask):
        parts = zip(self._block_specs(), self._columns(x), _split_last(mask, self.nvec))
        return jnp.stack([b._project(xb, mb) for b, xb, mb in parts], axis=-1)

    def _rand(self, key, lead, mask):
        keys = jax.random.split(key, len(self.nvec))
        parts = zip(self._block_specs(), keys, _split_last(mask, self.nvec))
        return jnp.stack([b._rand(k, lead, mb) for b, k, mb in parts], axis=-1)

    def to_one_hot(self, x: ArrayLike) -> jax.Array:
        """Indices ``(*batch, *shape)`` as bool blocks ``(*batch, *shape[:-1], sum(nvec))``."""
        cols = self._columns(jnp.asarray(x))
        return jnp.concatenate([jax.nn.one_hot(c, n, dtype=jnp.bool_) for c, n in zip(cols, self.nvec)], -1)

    def to_one_hot_spec(self) -> MultiOneHot:
        """The one-hot encoding: ``MultiOneHot(nvec)``, with the same mask."""
        return MultiOneHot(self.nvec, shape=(*self.shape[:-1], sum(self.nvec)), mask=self.mask)


# ----------------------------------------------------------------------- TorchRL's old names

BoundedTensorSpec = Bounded
UnboundedContinuousTensorSpec = Unbounded
OneHotDiscreteTensorSpec = OneHot
DiscreteTensorSpec = Categorical
BinaryDiscreteTensorSpec = Binary
MultiOneHotDiscreteTensorSpec = MultiOneHot
MultiDiscreteTensorSpec = MultiCategorical
