"""TorchRL's discrete distributions (``torchrl.modules.distributions.discrete``) for JAX.

`OneHotCategorical` is a `distrax.Distribution` subclass with its own numerics; the masked
classes, `MaskedCategorical` and `MaskedOneHotCategorical`, live in `masked` and are re-exported
here. They are jax pytrees (the parameters are the leaves), so a distribution can cross
``jax.jit`` and ``jax.vmap`` boundaries; its ``batch_shape`` and ``event_shape`` are read from
the parameters at call time, never cached, so they stay right inside ``vmap``.

Shapes: the parameters are ``[*B, n]`` (``n`` classes). Categorical (index) samples are ``int32
[*S, *B]``; one-hot samples are floating ``[*S, *B, n]`` with values exactly 0 or 1 and a
straight-through gradient (Bengio et al., 2013, "Estimating or Propagating Gradients Through
Stochastic Neurons"; with `ReparamGradientStrategy.RelaxedOneHot`, the Gumbel-softmax of Jang et
al., 2017, "Categorical Reparameterization with Gumbel-Softmax", hardened).

This module also holds what the plain and masked classes share: `ReparamGradientStrategy`, the
private array helpers (NaN-free for rows of ``-inf`` logits) and the one-hot mixin.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Sequence
from typing import Any, Protocol

import distrax
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = [
    "ReparamGradientStrategy",
    "OneHotCategorical",
    "MaskedCategorical",
    "MaskedOneHotCategorical",
]


class ReparamGradientStrategy(enum.Enum):
    """How a one-hot sample carries a gradient to the distribution's parameters.

    ``PassThrough``: the sample is the hard one-hot of a categorical draw, and its gradient is
    that of the probabilities (``hard + p - stop_gradient(p)``). ``RelaxedOneHot``: the hard
    one-hot of a Gumbel-softmax draw (temperature 1), with the soft sample's gradient.
    """

    PassThrough = 1
    RelaxedOneHot = 2


# --------------------------------------------------------------------------------------------
# Array helpers (private): all NaN-free for rows whose logits are all -inf. The jitted ones are
# compiled once per shape, so eager use (notebooks) dispatches one program, not one per op;
# inside an outer jit they are inlined.


def _float_param(value: ArrayLike, what: str, owner: str) -> jax.Array:
    x = jnp.asarray(value)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"{owner} {what} must have shape [*batch, n] with n >= 1, got shape {x.shape}.")
    return x


def _one_param(logits, probs, owner: str) -> tuple[jax.Array | None, jax.Array | None]:
    if (logits is None) == (probs is None):
        got = "both" if logits is not None else "neither"
        raise ValueError(f"{owner} needs exactly one of logits or probs, got {got}.")
    if logits is not None:
        return _float_param(logits, "logits", owner), None
    return None, _float_param(probs, "probs", owner)


@jax.jit
def _safe_log(p: jax.Array) -> jax.Array:
    """log(p) with exactly -inf at p == 0 and no NaN gradient there."""
    positive = p > 0
    return jnp.where(positive, jnp.log(jnp.where(positive, p, 1)), -jnp.inf)


@jax.jit
def _log_normalize(logits: jax.Array) -> jax.Array:
    """log-softmax over the last axis; a row of -inf entries stays -inf (no NaN)."""
    # Shift by the max before the log (as a log-softmax does), not by a rounded logsumexp: with
    # a finite neg_inf such as -1e5, float32 keeps only ~3 decimals of "-1e5 + log(n)".
    top = jnp.max(logits, axis=-1, keepdims=True)
    shifted = logits - jax.lax.stop_gradient(jnp.where(top > -jnp.inf, top, 0))
    total = jnp.sum(jnp.exp(shifted), axis=-1, keepdims=True)
    positive = total > 0
    return shifted - jnp.where(positive, jnp.log(jnp.where(positive, total, 1)), 0)


@jax.jit
def _entropy(log_p: jax.Array) -> jax.Array:
    """-sum p log p over the last axis, ignoring zero-probability (-inf) entries."""
    positive = log_p > -jnp.inf
    safe = jnp.where(positive, log_p, 0)
    return jnp.sum(jnp.where(positive, -jnp.exp(safe) * safe, 0), axis=-1)


def _broadcast_batch(value_shape: tuple[int, ...], batch_shape: tuple[int, ...], owner: str) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(tuple(value_shape), tuple(batch_shape)))
    except ValueError:
        raise ValueError(
            f"{owner}.log_prob: a value with batch shape {tuple(value_shape)} does not broadcast "
            f"against the distribution's batch shape {tuple(batch_shape)}."
        ) from None


@jax.jit
def _take_last(table: jax.Array, index: jax.Array) -> jax.Array:
    """``table[..., index]`` per row, broadcasting; NaN where the index is out of range."""
    shape = tuple(np.broadcast_shapes(index.shape, table.shape[:-1]))
    table = jnp.broadcast_to(table, shape + table.shape[-1:])
    index = jnp.broadcast_to(index, shape)
    valid = (index >= 0) & (index < table.shape[-1])
    picked = jnp.take_along_axis(table, jnp.where(valid, index, 0)[..., None], axis=-1)[..., 0]
    return jnp.where(valid, picked, jnp.nan)


@jax.jit
def _one_hot_straight_through(index: jax.Array, probs: jax.Array) -> jax.Array:
    """The one-hot of ``index`` (exact 0/1 values) with the gradient of ``probs``."""
    hard = jax.nn.one_hot(index, probs.shape[-1], dtype=probs.dtype)
    probs = jnp.broadcast_to(probs, hard.shape)
    # The parenthesis keeps the forward value exactly 0 or 1: p - p is exactly 0.
    return hard + (probs - jax.lax.stop_gradient(probs))


@functools.partial(jax.jit, static_argnums=2)
def _gumbel_straight_through(key: jax.Array, log_p: jax.Array, n: int) -> jax.Array:
    """Hardened Gumbel-softmax, temperature 1: ``one_hot(argmax(z)) + soft - stop_gradient(soft)``."""
    shape = (n, *log_p.shape)
    z = jnp.broadcast_to(log_p, shape) + jax.random.gumbel(key, shape, log_p.dtype)
    soft = jnp.exp(_log_normalize(z))  # zeros for a row that is all -inf
    hard = jax.nn.one_hot(jnp.argmax(z, axis=-1), log_p.shape[-1], dtype=log_p.dtype)
    return hard + (soft - jax.lax.stop_gradient(soft))


def _grad_method(value) -> ReparamGradientStrategy:
    try:
        return ReparamGradientStrategy(value)
    except ValueError:
        if isinstance(value, str) and value in ReparamGradientStrategy.__members__:
            return ReparamGradientStrategy[value]
        raise ValueError(f"Unknown grad_method {value!r}; accepted: {list(ReparamGradientStrategy)}.") from None


# --------------------------------------------------------------------------------------------


class _OneHotDistribution(Protocol):
    """What `_OneHotMixin` reads from the distribution it is mixed into (for type checkers)."""

    @property
    def num_samples(self) -> int: ...

    @property
    def batch_shape(self) -> tuple[int, ...]: ...

    def sample(self, *, seed: Any, sample_shape: int | Sequence[int] = ()) -> jax.Array: ...


class _OneHotMixin:
    """What the one-hot distributions share: TorchRL's ``rsample`` name and the one-hot value check."""

    def rsample(self: _OneHotDistribution, *, seed, sample_shape: int | Sequence[int] = ()) -> jax.Array:
        """TorchRL's name for a differentiable sample: the same as `sample`."""
        return self.sample(seed=seed, sample_shape=sample_shape)

    def _check_one_hot(self: _OneHotDistribution, value: ArrayLike) -> jax.Array:
        value = jnp.asarray(value)
        owner = type(self).__name__
        if value.ndim < 1 or value.shape[-1] != self.num_samples:
            raise ValueError(
                f"{owner}.log_prob expects one-hot values [..., {self.num_samples}], got shape {value.shape}."
            )
        _broadcast_batch(value.shape[:-1], self.batch_shape, owner)
        return value


class OneHotCategorical(_OneHotMixin, distrax.Distribution):
    """A categorical distribution over ``n`` classes that reads and writes one-hot vectors.

    TorchRL's ``OneHotCategorical``. Samples are floating one-hot vectors ``[*S, *B, n]`` whose
    values are exactly 0 and 1, and which carry a straight-through gradient to the parameters
    (``grad_method``), so ``sample`` is also TorchRL's ``rsample``.

    Args:
      logits: ``[*B, n]`` unnormalised log-probabilities. Exactly one of logits or probs.
      probs: ``[*B, n]`` non-negative weights, normalised over the last axis.
      grad_method: a `ReparamGradientStrategy` (or its value or name).

    Unlike TorchRL, a trailing parameter dim of size 1 is not squeezed: logits ``[B, 1]`` are
    ``B`` distributions over one class. Ties in `mode` go to the first maximum.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> dist = OneHotCategorical(logits=jnp.log(jnp.array([[0.2, 0.8], [0.5, 0.5]])))
      >>> dist.batch_shape, dist.event_shape
      ((2,), (2,))
      >>> dist.sample(seed=jax.random.key(0), sample_shape=3).shape
      (3, 2, 2)
      >>> dist.mode()
      Array([[0., 1.],
             [1., 0.]], dtype=float32)
      >>> dist.log_prob(jnp.array([[0.0, 1.0], [1.0, 0.0]]))
      Array([-0.2231..., -0.6931...], dtype=float32)
    """

    def __init__(
        self,
        logits: ArrayLike | None = None,
        probs: ArrayLike | None = None,
        grad_method: ReparamGradientStrategy = ReparamGradientStrategy.PassThrough,
    ) -> None:
        super().__init__()
        self._logits, self._probs = _one_param(logits, probs, type(self).__name__)
        self.grad_method = _grad_method(grad_method)

    # Shapes, always derived from the parameters.
    def _param(self) -> jax.Array:
        param = self._logits if self._logits is not None else self._probs
        assert param is not None  # _one_param sets exactly one of them
        return param

    @property
    def num_samples(self) -> int:
        """The number of classes ``n`` (TorchRL's name)."""
        return self._param().shape[-1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return tuple(self._param().shape[:-1])

    @property
    def event_shape(self) -> tuple[int, ...]:
        return (self.num_samples,)

    # Parameters.
    @property
    def logits(self) -> jax.Array:
        """``[*B, n]`` normalised log-probabilities (``-inf`` for a zero probability)."""
        if self._logits is not None:
            return _log_normalize(self._logits)
        return _log_normalize(_safe_log(self._probs))

    @property
    def probs(self) -> jax.Array:
        """``[*B, n]`` probabilities."""
        if self._probs is not None:
            return self._probs / jnp.sum(self._probs, axis=-1, keepdims=True)
        return jnp.exp(self.logits)

    # Sampling.
    def _draw(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        logits = self.logits
        if self.grad_method is ReparamGradientStrategy.RelaxedOneHot:
            sample = _gumbel_straight_through(key, logits, n)
            return sample, jnp.argmax(sample, axis=-1)
        index = jax.random.categorical(key, logits, axis=-1, shape=(n, *logits.shape[:-1]))
        return _one_hot_straight_through(index, self.probs), index

    def _sample_n(self, key: jax.Array, n: int) -> jax.Array:
        return self._draw(key, n)[0]

    def _sample_n_and_log_prob(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        sample, index = self._draw(key, n)
        return sample, _take_last(self.logits, index)

    # Densities.
    def log_prob(self, value: ArrayLike) -> jax.Array:
        """Log-probability of the class marked by each one-hot ``value [..., n]`` (its argmax)."""
        value = self._check_one_hot(value)
        return self._log_prob_one_hot(value)

    def _log_prob_one_hot(self, value: jax.Array) -> jax.Array:
        return _take_last(self.logits, jnp.argmax(value, axis=-1))

    def entropy(self) -> jax.Array:
        """``[*B]``: ``-sum p log p``, zero-probability classes contributing 0."""
        return _entropy(self.logits)

    # Summaries (methods, as distrax's).
    def mode(self) -> jax.Array:
        """``[*B, n]`` one-hot of the most likely class (the first one on ties)."""
        logits = self.logits
        return jax.nn.one_hot(jnp.argmax(logits, axis=-1), logits.shape[-1], dtype=logits.dtype)

    def deterministic_sample(self) -> jax.Array:
        """TorchRL's deterministic sample: the `mode`."""
        return self.mode()

    def mean(self) -> jax.Array:
        """``[*B, n]``: the expected one-hot sample, i.e. the probabilities."""
        return self.probs

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(batch_shape={self.batch_shape}, num_classes={self.num_samples}, "
            f"grad_method={self.grad_method.name})"
        )


# Re-exported so that ``jaxrl_modules.distributions.discrete`` keeps serving the masked classes. At
# the end of the module because `masked` imports the helpers above from here: whichever of the
# two modules is imported first, every name `masked` needs is already defined.
from jaxrl_modules.distributions.masked import MaskedCategorical, MaskedOneHotCategorical  # noqa: E402
