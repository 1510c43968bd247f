"""Discrete specs over choices: `OneHot` and `Categorical` (one choice among ``n``, as a one-hot
vector or an index), `Binary` (independent 0/1 values), and their multi-block forms `MultiOneHot`
and `MultiCategorical`; all but `Binary` take an optional mask (True = allowed), and the one-hot
and index encodings convert into each other (``to_categorical_spec``, ``to_one_hot_spec``).

The conventions every spec follows (frozen and hashable, shapes, dtypes, validation, NaN, masked
rows) are described in :mod:`jaxrl_modules.data.specs`, which exports these classes with the
others; the base classes are in :mod:`jaxrl_modules.data.tensor_spec`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxrl_modules.data.tensor_spec import (
    TensorSpec,
    _as_shape,
    _check_count,
    _check_fits,
    _clip_cast,
    _MaskedSpec,
    _split_last,
)

__all__ = ["OneHot", "Categorical", "Binary", "MultiOneHot", "MultiCategorical"]

# ------------------------------------------------------------------------------ value helpers


def _check_nvec(owner: str, nvec: Sequence[int]) -> tuple[int, ...]:
    nvec = tuple(nvec)
    if not nvec:
        raise ValueError(f"{owner}: nvec must hold at least one block, got {list(nvec)}.")
    return tuple(_check_count(owner, f"nvec[{i}]", n) for i, n in enumerate(nvec))


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
    n: int  # set through `_set`

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
    n: int  # set through `_set`

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
    n: int  # set through `_set`

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
        assert n is not None  # shape[-1] == n above
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
    nvec: tuple[int, ...]  # set through `_set`

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
    nvec: tuple[int, ...]  # set through `_set`

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
