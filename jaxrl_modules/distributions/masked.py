"""TorchRL's masked categorical distributions (``MaskedCategorical``, ``MaskedOneHotCategorical``
of ``torchrl.modules.distributions.discrete``) for JAX.

`MaskedCategorical` (class-id samples ``int32 [*S, *B]``) and `MaskedOneHotCategorical`
(one-hot samples ``[*S, *B, n]``) are `distrax.Distribution` subclasses and jax pytrees, as
`OneHotCategorical` of `discrete`, whose shapes, gradient strategies and private array helpers
they share.

Masks (True = allowed, TorchRL's polarity). Semantics shared by the masked classes:

* Sampling and `mode` never return a masked class, whatever ``neg_inf`` is.
* ``log_prob`` follows TorchRL: the log-softmax of the logits with ``neg_inf`` at masked entries,
  then any non-finite value replaced by ``neg_inf``. With ``neg_inf=-inf`` a masked class has
  log-probability ``-inf``; with a finite ``neg_inf`` such as ``-1e5`` it gets the finite value
  ``neg_inf - logsumexp(...)`` (about ``-100001.1`` for four equal logits, one masked).
* ``entropy`` sums over the allowed classes only, so ``-inf`` logits never produce a NaN.
* A fully masked row is not a distribution; it gives finite, NaN-free results: samples and mode
  are class 0 (the one-hot of class 0), the rule every masked sampler of the library follows,
  ``entropy`` is 0, ``log_prob`` is ``neg_inf`` for every value (with a finite
  ``neg_inf``, TorchRL's ``-log(n)``: all entries tie at ``neg_inf``), and the sampling
  probabilities (`MaskedOneHotCategorical.mean`) are all 0.
"""

from __future__ import annotations

import math

import distrax
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxrl_modules.distributions.discrete import (
    ReparamGradientStrategy,
    _broadcast_batch,
    _entropy,
    _grad_method,
    _gumbel_straight_through,
    _log_normalize,
    _one_hot_straight_through,
    _one_param,
    _OneHotMixin,
    _safe_log,
    _take_last,
)

__all__ = ["MaskedCategorical", "MaskedOneHotCategorical"]


class MaskedCategorical(distrax.Distribution):
    """A categorical distribution over ``n`` classes restricted to the allowed ones.

    TorchRL's ``MaskedCategorical``. Samples and `mode` are class ids ``int32 [*S, *B]``.

    Args:
      logits: ``[*B, n]`` unnormalised log-probabilities. Exactly one of logits or probs.
      probs: ``[*B, n]`` non-negative weights; masked entries are dropped and the rest
        renormalised.
      mask: dense boolean mask of exactly the parameters' shape, True = allowed. Exactly one of
        mask or indices.
      indices: sparse mask: integer ``[*B, K]``, the allowed class ids of each row, which should
        be distinct; entries equal to ``padding_value``, or outside ``[0, n)``, are padding.
      neg_inf: the log-probability reported for a masked class (a Python number); see the module
        docstring. Sampling ignores it: a masked class is never drawn.
      padding_value: the padding entry of ``indices`` (None: no padding). Padding is never drawn.
      use_cross_entropy: accepted for TorchRL compatibility; the result does not depend on it.
      padding_side: ``"left"`` or ``"right"``; stored, as in TorchRL, without effect.

    ``logits`` and ``probs`` are TorchRL's: over the classes for a dense mask (with ``neg_inf`` at
    masked entries), over the ``K`` entries of ``indices`` for a sparse one. `mask` is always the
    dense ``[*B, n]`` boolean mask. ``mean()`` raises: the mean of a class id is meaningless.

    A row that allows no class (all False, or only padding) is not a distribution: its samples
    and `mode` are class 0, the library-wide masked-row rule (as `Categorical.rand` with a mask,
    `RandomPolicy` and `EGreedyModule`); its ``log_prob`` is ``neg_inf`` (see the module
    docstring). ``jaxrl_modules.functional.any_action_allowed(dist.mask)`` tells such rows apart.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> logits = jnp.zeros(4)
      >>> dist = MaskedCategorical(logits=logits, mask=jnp.array([True, False, True, True]))
      >>> dist.sample(seed=jax.random.key(0), sample_shape=8)
      Array([...], dtype=int32)
      >>> dist.log_prob(jnp.array([0, 1]))
      Array([-1.0986123,       -inf], dtype=float32)
      >>> sparse = MaskedCategorical(logits=logits, indices=jnp.array([3, 2, -1]), padding_value=-1)
      >>> sparse.mode()
      Array(3, dtype=int32)
      >>> MaskedCategorical(logits=logits, mask=jnp.array([True, False, True, True]), neg_inf=-1e5).log_prob(1)
      Array(-100001.1, dtype=float32)
    """

    def __init__(
        self,
        logits: ArrayLike | None = None,
        probs: ArrayLike | None = None,
        *,
        mask: ArrayLike | None = None,
        indices: ArrayLike | None = None,
        neg_inf: float = float("-inf"),
        padding_value: int | None = None,
        use_cross_entropy: bool = True,
        padding_side: str = "left",
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self._logits, self._probs = _one_param(logits, probs, owner)
        param = self._param()
        if (mask is None) == (indices is None):
            raise ValueError(
                f"{owner} needs exactly one of mask (dense boolean) or indices (sparse class ids), "
                f"got {'both' if mask is not None else 'neither'}."
            )
        self._mask = None
        self._indices = None
        if mask is not None:
            mask = jnp.asarray(mask)
            if mask.dtype != jnp.bool_:
                raise ValueError(f"{owner} mask must be boolean (True = allowed), got dtype {mask.dtype}.")
            if mask.shape != param.shape:
                raise ValueError(
                    f"{owner} mask has shape {mask.shape} but the {self._param_name()} have shape "
                    f"{param.shape}; they must be equal (no broadcasting)."
                )
            self._mask = mask
        else:
            indices = jnp.asarray(indices)
            if not jnp.issubdtype(indices.dtype, jnp.integer):
                raise ValueError(f"{owner} indices must be integer class ids, got dtype {indices.dtype}.")
            if indices.ndim != param.ndim or indices.shape[:-1] != param.shape[:-1] or indices.shape[-1] < 1:
                raise ValueError(
                    f"{owner} indices must have shape [*batch, K] with the {self._param_name()}' batch "
                    f"dims: indices have shape {indices.shape}, the {self._param_name()} {param.shape}."
                )
            self._indices = indices
        try:
            self.neg_inf = float(neg_inf)
        except TypeError:
            raise ValueError(f"{owner} neg_inf must be a Python number, got {neg_inf!r}.") from None
        if math.isnan(self.neg_inf):
            raise ValueError(f"{owner} neg_inf must not be NaN.")
        self._padding_value = None if padding_value is None else int(padding_value)
        if padding_side not in ("left", "right"):
            raise ValueError(f"{owner} padding_side must be 'left' or 'right', got {padding_side!r}.")
        self._padding_side = padding_side
        self.use_cross_entropy = bool(use_cross_entropy)

    def _param(self) -> jax.Array:
        param = self._logits if self._logits is not None else self._probs
        assert param is not None  # _one_param sets exactly one of them
        return param

    def _param_name(self) -> str:
        return "logits" if self._logits is not None else "probs"

    # Shapes and mask.
    @property
    def num_samples(self) -> int:
        """The number of classes ``n`` (TorchRL's name), also for a sparse mask."""
        return self._param().shape[-1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self._param().shape[:-1])

    @property
    def event_shape(self) -> tuple[int, ...]:
        return ()

    @property
    def sparse(self) -> bool:
        """Whether the mask was given as ``indices``."""
        return self._indices is not None

    @property
    def padding_value(self) -> int:
        """The padding entry of ``indices`` (0 when none was given, as TorchRL reports it)."""
        return 0 if self._padding_value is None else self._padding_value

    @property
    def padding_side(self) -> str:
        return self._padding_side

    def _allowed(self) -> jax.Array:
        """Boolean over the support: ``[*B, n]`` (dense) or ``[*B, K]`` (sparse: not padding)."""
        if self._mask is not None:
            return self._mask
        assert self._indices is not None  # exactly one of mask and indices is set
        # Ids outside [0, n) can't be gathered (TorchRL's gather raises); they count as padding.
        allowed = (self._indices >= 0) & (self._indices < self.num_samples)
        if self._padding_value is None:
            return allowed
        return allowed & (self._indices != self._padding_value)

    def _class_ids(self) -> jax.Array:
        """``[*B, K]`` sparse class ids with padding replaced by 0 (safe to gather)."""
        assert self._indices is not None  # only called for a sparse mask
        return jnp.where(self._allowed(), self._indices, 0).astype(jnp.int32)

    @property
    def mask(self) -> jax.Array:
        """``[*B, n]`` boolean, True = allowed (computed from ``indices`` for a sparse mask)."""
        if self._mask is not None:
            return self._mask
        hits = jax.nn.one_hot(self._class_ids(), self.num_samples, dtype=jnp.bool_)
        return jnp.any(hits & self._allowed()[..., None], axis=-2)

    # Parameters.
    def _support_logits(self) -> jax.Array:
        """Unnormalised logits over the support, before masking."""
        raw = self._logits if self._logits is not None else _safe_log(self._probs)
        if self._indices is None:
            return raw
        return jnp.take_along_axis(raw, self._class_ids(), axis=-1)

    def _sampling_logits(self) -> jax.Array:
        """Normalised log-probabilities over the support, exactly -inf where not allowed."""
        return _log_normalize(jnp.where(self._allowed(), self._support_logits(), -jnp.inf))

    @property
    def logits(self) -> jax.Array:
        """TorchRL's normalised logits over the support, ``neg_inf`` at masked entries."""
        return _log_normalize(jnp.where(self._allowed(), self._support_logits(), self.neg_inf))

    @property
    def probs(self) -> jax.Array:
        """``exp(logits)``: over the classes (dense) or the entries of ``indices`` (sparse)."""
        return jnp.exp(self.logits)

    def _dense_sampling_probs(self) -> jax.Array:
        """``[*B, n]``: the probability of drawing each class (0 where masked)."""
        p = jnp.exp(self._sampling_logits())
        if self._indices is None:
            return p
        rows = math.prod(self.batch_shape)
        k = p.shape[-1]
        flat = jnp.zeros((rows, self.num_samples), p.dtype)
        row_ids = jnp.broadcast_to(jnp.arange(rows)[:, None], (rows, k))
        flat = flat.at[row_ids, self._class_ids().reshape(rows, k)].add(p.reshape(rows, k))
        return flat.reshape(*self.batch_shape, self.num_samples)

    def _position_to_class(self, logits: jax.Array, position: jax.Array) -> jax.Array:
        """Class ids of support positions; class 0 for a row where nothing can be drawn."""
        if self._indices is None:
            return position.astype(jnp.int32)
        possible = _take_last(logits, position) > -jnp.inf
        return jnp.where(possible, _take_last(self._class_ids(), position), 0).astype(jnp.int32)

    # Sampling.
    def _draw_ids(self, key: jax.Array, n: int) -> jax.Array:
        logits = self._sampling_logits()
        position = jax.random.categorical(key, logits, axis=-1, shape=(n, *logits.shape[:-1]))
        # The masked-row rule made explicit, not left to how categorical treats a row of -inf.
        position = jnp.where(jnp.any(logits > -jnp.inf, axis=-1), position, 0)
        return self._position_to_class(logits, position)

    def _sample_n(self, key: jax.Array, n: int) -> jax.Array:
        return self._draw_ids(key, n)

    def _sample_n_and_log_prob(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        ids = self._draw_ids(key, n)
        return ids, self._log_prob_ids(ids)

    # Densities.
    def _log_prob_ids(self, value: jax.Array) -> jax.Array:
        logits = self.logits
        if self._indices is None:
            result = _take_last(logits, value)
        else:
            shape = tuple(np.broadcast_shapes(value.shape, self.batch_shape))
            k = logits.shape[-1]
            match = (jnp.broadcast_to(self._indices, shape + (k,)) == jnp.broadcast_to(value, shape)[..., None]) & (
                jnp.broadcast_to(self._allowed(), shape + (k,))
            )
            # A class listed twice gets the sum of its entries' probabilities.
            result = jax.nn.logsumexp(jnp.where(match, jnp.broadcast_to(logits, shape + (k,)), -jnp.inf), axis=-1)
        return jnp.where(jnp.isfinite(result), result, jnp.asarray(self.neg_inf, result.dtype))

    def log_prob(self, value: ArrayLike) -> jax.Array:
        """Log-probability of class ids ``value [..., *B]``; masked or unknown classes get ``neg_inf``."""
        value = jnp.asarray(value)
        owner = type(self).__name__
        if not jnp.issubdtype(value.dtype, jnp.integer):
            raise ValueError(
                f"{owner}.log_prob expects integer class ids, got dtype {value.dtype} (shape {value.shape})."
            )
        _broadcast_batch(value.shape, self.batch_shape, owner)
        return self._log_prob_ids(value)

    def entropy(self) -> jax.Array:
        """``[*B]``: entropy over the allowed classes only (0 for a fully masked row)."""
        return _entropy(self._sampling_logits())

    # Summaries.
    def mode(self) -> jax.Array:
        """``int32 [*B]``: the most likely allowed class (first maximum; class 0 if none is allowed)."""
        logits = self._sampling_logits()
        return self._position_to_class(logits, jnp.argmax(logits, axis=-1))

    def deterministic_sample(self) -> jax.Array:
        """TorchRL's deterministic sample: the `mode`."""
        return self.mode()

    def mean(self) -> jax.Array:
        raise NotImplementedError(
            f"{type(self).__name__} has no mean: the average of class ids is meaningless. Use mode(), "
            "probs, or MaskedOneHotCategorical, whose mean is the vector of probabilities."
        )

    def __repr__(self) -> str:
        if self._indices is not None:
            kind = f"indices={self._indices.shape}"
        else:
            assert self._mask is not None  # exactly one of mask and indices is set
            kind = f"mask={self._mask.shape}"
        return (
            f"{type(self).__name__}(batch_shape={self.batch_shape}, num_classes={self.num_samples}, "
            f"{kind}, neg_inf={self.neg_inf})"
        )


class MaskedOneHotCategorical(_OneHotMixin, MaskedCategorical):
    """`MaskedCategorical` that reads and writes one-hot vectors ``[*S, *B, n]``.

    TorchRL's ``MaskedOneHotCategorical``. Samples are floating one-hot vectors (exact 0/1
    values, never a masked class) with a straight-through gradient as `OneHotCategorical`'s;
    ``log_prob`` scores the argmax of its input; `mode` is the one-hot of the first most likely
    allowed class; `mean` is the vector of sampling probabilities (0 at masked classes). A row
    that allows no class samples and has `mode` the one-hot of class 0 (the library-wide
    masked-row rule, as `MaskedCategorical`), and `mean` all zeros.

    Args:
      logits, probs, mask, indices, neg_inf, padding_value: as `MaskedCategorical` (here, as in
        TorchRL, mask and indices are not keyword-only).
      grad_method: a `ReparamGradientStrategy`.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> dist = MaskedOneHotCategorical(jnp.array([1.0, 3.0, 2.0]), mask=jnp.array([True, False, True]))
      >>> dist.mode()
      Array([0., 0., 1.], dtype=float32)
      >>> dist.sample(seed=jax.random.key(1), sample_shape=2).shape
      (2, 3)
      >>> dist.log_prob(jnp.array([0.0, 1.0, 0.0]))
      Array(-inf, dtype=float32)
    """

    def __init__(
        self,
        logits: ArrayLike | None = None,
        probs: ArrayLike | None = None,
        mask: ArrayLike | None = None,
        indices: ArrayLike | None = None,
        neg_inf: float = float("-inf"),
        padding_value: int | None = None,
        grad_method: ReparamGradientStrategy = ReparamGradientStrategy.PassThrough,
    ) -> None:
        super().__init__(logits, probs, mask=mask, indices=indices, neg_inf=neg_inf, padding_value=padding_value)
        self.grad_method = _grad_method(grad_method)

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (self.num_samples,)

    def _draw(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        if self.grad_method is ReparamGradientStrategy.RelaxedOneHot:
            log_p = self._sampling_logits() if self._indices is None else _safe_log(self._dense_sampling_probs())
            sample = _gumbel_straight_through(key, log_p, n)
            return sample, jnp.argmax(sample, axis=-1).astype(jnp.int32)
        ids = self._draw_ids(key, n)
        return _one_hot_straight_through(ids, self._dense_sampling_probs()), ids

    def _sample_n(self, key: jax.Array, n: int) -> jax.Array:
        return self._draw(key, n)[0]

    def _sample_n_and_log_prob(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        sample, ids = self._draw(key, n)
        return sample, self._log_prob_ids(ids)

    def log_prob(self, value: ArrayLike) -> jax.Array:
        """Log-probability of the class marked by each one-hot ``value [..., n]`` (its argmax)."""
        value = self._check_one_hot(value)
        return self._log_prob_ids(jnp.argmax(value, axis=-1).astype(jnp.int32))

    def mode(self) -> jax.Array:
        """``[*B, n]`` one-hot of `MaskedCategorical.mode` (first maximum among allowed classes)."""
        dtype = self._param().dtype
        return jax.nn.one_hot(super().mode(), self.num_samples, dtype=dtype)

    def mean(self) -> jax.Array:
        """``[*B, n]``: the expected one-hot sample, i.e. the sampling probabilities."""
        return self._dense_sampling_probs()
