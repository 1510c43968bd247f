"""The spec base class: frozen, hashable, jit-safe, shared by every leaf spec.

A spec is a frozen value: its bounds and masks are NumPy arrays (read-only copies), never JAX
arrays, and it compares and hashes by value, so a spec can be a field of a ``flax.linen.Module``
and a static argument of ``jax.jit``. The leaf specs are in :mod:`jaxrl_modules.data.box_spec`
and :mod:`jaxrl_modules.data.discrete_spec` (all exported by :mod:`jaxrl_modules.data.specs`), the
composite one in :mod:`jaxrl_modules.data.composite_spec`. The private helpers here (shapes,
dtypes, broadcasting, clipping) are shared by all of them.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any, overload

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = ["TensorSpec"]

# ------------------------------------------------------------------------------------ helpers


def _as_shape(shape: Any, owner: str = "", arg: str = "shape") -> tuple[int, ...]:
    """A shape as a tuple of ints; a negative or non-integer dim raises (int() would truncate).

    ``owner`` and ``arg`` name the spec and the argument in the error.
    """
    try:
        dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        out = tuple(operator.index(d) for d in dims)
    except TypeError:
        out = None
    if out is None or any(isinstance(d, bool) for d in dims) or any(s < 0 for s in out):
        where = f"{owner}: {arg}" if owner else arg
        raise ValueError(f"{where} must be a tuple of non-negative integers, got {shape!r}.")
    return out


def _check_count(owner: str, name: str, value: Any) -> int:
    """A number of choices (n, an entry of nvec): an integer of at least 1."""
    try:
        n = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        n = None
    if n is None or n < 1:
        raise ValueError(f"{owner}: {name} must be an integer >= 1 (the number of choices), got {value!r}.")
    return n


def _expand_shape(old: tuple[int, ...], args: tuple[Any, ...], owner: str) -> tuple[int, ...]:
    new = _as_shape(args[0] if len(args) == 1 and not isinstance(args[0], int) else args, f"{owner}.expand")
    try:
        ok = np.broadcast_shapes(old, new) == new
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{owner}.expand: the spec shape {old} does not broadcast to the new shape {new}.")
    return new


def _canonical_dtype(dtype: Any) -> np.dtype:
    return np.dtype(jax.dtypes.canonicalize_dtype(np.dtype(dtype)))


def _frozen(array: Any, dtype: Any = None) -> np.ndarray:
    # A copy that nobody else holds, made read-only, so the spec's hash can never go stale.
    out = np.array(array, dtype=dtype)
    out.flags.writeable = False
    return out


def _static_key(value: Any) -> Any:
    """A hashable stand-in for a field: arrays compare by shape, dtype and bytes."""
    if isinstance(value, np.ndarray):
        return ("ndarray", value.shape, value.dtype.str, value.tobytes())
    if isinstance(value, np.dtype):
        return value.str
    return value


def _fmt(value: Any) -> str:
    if not isinstance(value, np.ndarray):
        return str(value)
    flat = value.reshape(-1)
    if flat.size and np.all(flat == flat[0]):
        return repr(flat[0].item())
    if flat.size <= 8:
        return repr(value.tolist())
    return f"array(shape={value.shape}, dtype={value.dtype})"


def _bcast(value: Any, shape: tuple[int, ...], dtype: Any = None) -> jax.Array:
    # Explicit, because the suite runs with rank promotion set to raise.
    return jnp.broadcast_to(jnp.asarray(value, dtype), shape)


@overload
def _split_last(x: jax.Array, sizes: Sequence[int]) -> list[jax.Array]: ...
@overload
def _split_last(x: jax.Array | None, sizes: Sequence[int]) -> list[jax.Array | None]: ...
def _split_last(x: jax.Array | None, sizes: Sequence[int]) -> Sequence[jax.Array | None]:
    if x is None:
        return [None] * len(sizes)
    return jnp.split(x, np.cumsum(sizes)[:-1].tolist(), axis=-1)


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


def _check_fits(what: str, value: Any, dtype: np.dtype) -> None:
    # Casting an out-of-range bound would wrap around silently.
    info = np.iinfo(dtype)
    if np.any(np.asarray(value) < info.min) or np.any(np.asarray(value) > info.max):
        raise ValueError(f"{what}={_fmt(np.asarray(value))} does not fit in dtype {dtype}.")


# ---------------------------------------------------------------------------------- base class


class TensorSpec:
    """Base class of every spec: the shape, dtype and allowed values of one array.

    Subclasses set the constructor arguments they are rebuilt from (``_args``) and implement the
    value hooks ``_member``, ``_project`` and ``_rand``; shape and dtype checks live here.

    Attributes:
      shape: the per-sample shape (a tuple of ints); arrays are ``(*batch, *shape)``.
      dtype: a NumPy dtype.
      domain: ``"continuous"``, ``"discrete"`` or ``"composite"``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules.data import Bounded
      >>> spec = Bounded(-1.0, 1.0, shape=(2,))
      >>> bool(spec.is_in(jnp.zeros((5, 2))))
      True
      >>> spec.rand(jax.random.key(0), (5,)).shape
      (5, 2)
    """

    _args: tuple[str, ...] = ()
    # Set through `_set` (the class is frozen): declared here for type checkers only.
    shape: tuple[int, ...]
    dtype: np.dtype  # None for a Composite, which never reads it
    domain: str

    def __init__(self, shape: Any, dtype: Any, domain: str):
        dtype = None if dtype is None else _canonical_dtype(dtype)
        self._set(shape=_as_shape(shape, type(self).__name__), dtype=dtype, domain=domain)

    def _set(self, **attrs: Any) -> None:
        for name, value in attrs.items():
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            f"{type(self).__name__} is frozen; cannot set {name!r}. Build a new spec instead "
            "(e.g. `spec = spec.update_mask(mask)`)."
        )

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen; cannot delete {name!r}.")

    def __copy__(self) -> TensorSpec:
        return self

    def __deepcopy__(self, memo: Any) -> TensorSpec:
        return self

    # ---------------------------------------------------------------------------- identity
    def _identity(self) -> tuple[Any, ...]:
        kind = getattr(type(self), "_eq_as", type(self))
        return (kind, self.domain, *(_static_key(getattr(self, a)) for a in self._args))

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, TensorSpec) and self._identity() == other._identity()

    def __hash__(self) -> int:
        cached = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(self._identity())
            self._set(_hash=cached)
        return cached

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{a}={_fmt(getattr(self, a))}"
            for a in self._args
            if a not in ("dtype", "domain") and getattr(self, a) is not None
        )
        return f"{type(self).__name__}({fields}, dtype={self.dtype}, domain={self.domain})"

    def _replace(self, **changes: Any) -> TensorSpec:
        return type(self)(**{**{a: getattr(self, a) for a in self._args}, **changes})

    @property
    def ndim(self) -> int:
        return len(self.shape)

    # ---------------------------------------------------------------------------- arrays
    def _lead(self, x: jax.Array) -> tuple[int, ...] | None:
        """The batch dims of ``x``, or None when its trailing dims are not ``spec.shape``."""
        k = len(self.shape)
        if x.ndim < k or tuple(x.shape[x.ndim - k :]) != self.shape:
            return None
        return tuple(x.shape[: x.ndim - k])

    def _mask_for(self, mask: ArrayLike | None, lead: tuple[int, ...]) -> jax.Array | None:
        if mask is not None:
            raise TypeError(f"{type(self).__name__} takes no mask; got mask={mask!r}.")
        return None

    def is_in(self, x: ArrayLike, *, mask: ArrayLike | None = None) -> jax.Array:
        """Whether ``x`` is a member of the spec.

        Args:
          x: an array of shape ``(*batch, *spec.shape)``.
          mask: (masked specs only) a dynamic boolean mask, combined with the spec's own.

        Returns:
          A scalar bool array, True when the trailing dims and dtype match (checked statically, so a
          mismatch gives a constant ``False``) and every value is allowed.
        """
        x = jnp.asarray(x)
        lead = self._lead(x)
        if lead is None or x.dtype != self.dtype:
            return jnp.asarray(False)
        return jnp.all(self._member(x, self._mask_for(mask, lead)))

    contains = is_in

    def project(self, x: ArrayLike, *, mask: ArrayLike | None = None) -> jax.Array:
        """Maps ``x`` to a member of the spec, deterministically (always, not only if outside).

        Args:
          x: an array of shape ``(*batch, *spec.shape)``, any real dtype.
          mask: (masked specs only) a dynamic boolean mask, combined with the spec's own.

        Returns:
          An array of the same shape and of the spec's dtype for which ``is_in`` holds, except
          that NaN stays NaN in a float spec (NaN in, NaN out: a diverged value stays visible).
        """
        x = jnp.asarray(x)
        lead = self._lead(x)
        if lead is None:
            raise ValueError(
                f"{self!r}.project: expected an array of shape (*batch, *{self.shape}), got shape {x.shape}."
            )
        return self._project(x, self._mask_for(mask, lead))

    def rand(self, key: jax.Array, shape: Any = (), *, mask: ArrayLike | None = None) -> jax.Array:
        """A random member of the spec.

        Args:
          key: a JAX PRNG key.
          shape: leading batch shape (non-negative ints).
          mask: (masked specs only) a dynamic boolean mask broadcastable to the mask layout with
            the batch in front (``(*shape, *spec.shape)`` for OneHot, ``(*shape, *spec.shape, n)``
            for Categorical), ANDed with the spec's own; e.g. an action mask read from a
            TensorDict under jit. Each row (each block of a multi spec) should allow an entry:
            that cannot be checked on traced values, and a row or block that allows nothing
            yields index 0 (the one-hot of entry 0), the library-wide masked-row rule;
            ``jaxrl_modules.functional.any_action_allowed(mask)`` tells such rows apart.

        Returns:
          An array of shape ``(*shape, *spec.shape)`` and the spec's dtype.
        """
        lead = _as_shape(shape, f"{type(self).__name__}.rand")
        return self._rand(key, lead, self._mask_for(mask, lead))

    def zero(self, shape: Any = ()) -> jax.Array:
        """Zeros of shape ``(*shape, *spec.shape)`` in the spec's dtype (not always a member)."""
        return jnp.zeros((*_as_shape(shape, f"{type(self).__name__}.zero"), *self.shape), self.dtype)

    def one(self, shape: Any = ()) -> jax.Array:
        """Ones of shape ``(*shape, *spec.shape)`` in the spec's dtype (not always a member)."""
        return jnp.ones((*_as_shape(shape, f"{type(self).__name__}.one"), *self.shape), self.dtype)

    zeros, ones = zero, one

    def encode(self, value: Any) -> jax.Array:
        """A NumPy array, list or number as an array in the spec's dtype and layout."""
        x = jnp.asarray(np.asarray(value), self.dtype)
        if self._lead(x) is None and x.size == int(np.prod(self.shape)):
            x = x.reshape(self.shape)
        if self._lead(x) is None:
            raise ValueError(f"{self!r}.encode: cannot lay out a value of shape {x.shape} as {self.shape}.")
        return x

    def expand(self, *shape: Any) -> TensorSpec:
        """The same spec over a larger shape, to which the current one broadcasts.

        As TorchRL, new leading dims are added and dims of size 1 may grow; bounds and masks are
        broadcast to the new shape.
        """
        new = _expand_shape(self.shape, shape, repr(self))
        return self._replace(shape=new)

    def _member(self, x: jax.Array, mask: jax.Array | None) -> jax.Array:
        raise NotImplementedError

    def _project(self, x: jax.Array, mask: jax.Array | None) -> jax.Array:
        raise NotImplementedError

    def _rand(self, key: jax.Array, lead: tuple[int, ...], mask: jax.Array | None) -> jax.Array:
        raise NotImplementedError


# -------------------------------------------------------------------------------- masked specs


class _MaskedSpec(TensorSpec):
    """Shared mask handling: a boolean mask (True = allowed) in the layout ``_mask_shape``."""

    _kind_of_mask = ""
    mask: np.ndarray | None  # set through `_set`

    @property
    def _mask_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    @property
    def _blocks(self) -> tuple[int, ...]:
        """Sizes of the blocks along the mask's last axis that each need an allowed entry."""
        raise NotImplementedError

    def _check_mask(self, mask: Any) -> np.ndarray | None:
        if mask is None:
            return None
        mask = np.asarray(mask)
        name = type(self).__name__
        if mask.dtype != np.bool_:
            raise TypeError(f"{name}: a mask is boolean (True = allowed), got dtype {mask.dtype}.")
        expected = self._mask_shape
        try:
            mask = np.broadcast_to(mask, expected)
        except ValueError:
            raise ValueError(
                f"{name}: the mask must be broadcastable to the expected shape {expected} "
                f"{self._kind_of_mask}, got a mask of shape {mask.shape}."
            ) from None
        for block in _split_np(mask, self._blocks):
            if not block.any(axis=-1).all():
                raise ValueError(f"{name}: every row of the mask needs at least one allowed (True) entry.")
        return _frozen(mask)

    def update_mask(self, mask: ArrayLike | None) -> TensorSpec:
        """A new spec with ``mask`` (True = allowed); ``None`` removes the mask.

        Raises:
          ValueError: the mask is not broadcastable to the spec's mask layout, or a row allows
            nothing.
        """
        return self._replace(mask=mask)

    def _mask_for(self, mask, lead):
        full = (*lead, *self._mask_shape)
        out = None if self.mask is None else _bcast(self.mask, full)
        if mask is None:
            return out
        mask = jnp.asarray(mask)
        if mask.dtype != jnp.bool_:
            raise TypeError(f"{type(self).__name__}: a mask is boolean, got dtype {mask.dtype}.")
        try:
            ok = np.broadcast_shapes(mask.shape, full) == full
        except ValueError:
            ok = False
        if not ok:
            raise ValueError(
                f"{type(self).__name__}: the mask must be broadcastable to the expected shape {full} "
                f"{self._kind_of_mask}, got a mask of shape {mask.shape}."
            )
        mask = _bcast(mask, full)
        return mask if out is None else out & mask


def _split_np(mask: np.ndarray, sizes: Sequence[int]) -> list[np.ndarray]:
    return np.split(mask, np.cumsum(sizes)[:-1].tolist(), axis=-1)
