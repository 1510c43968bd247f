"""Point-mass distributions (TorchRL's ``Delta`` and ``TanhDelta``) for JAX: `Delta` is a point
mass at ``param``; `TanhDelta` is a point mass at the tanh-squashed (and optionally rescaled
to ``[low, high]``) parameter. The shared conventions are described in
``jaxrl_modules.distributions.continuous``."""

from __future__ import annotations

from collections.abc import Sequence

import distrax
import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from jaxrl_modules.distributions._common import (
    _affine,
    _bound_array,
    _bounds,
    _check_event_dims,
    _check_value,
    _compute_dtype,
    _float_param,
    _split_shapes,
    _squash,
)

__all__ = ["Delta", "TanhDelta"]


class Delta(distrax.Distribution):
    """A point mass at ``param`` (TorchRL's ``Delta``).

    ``log_prob(x)`` is ``+inf`` where ``|x - param| < atol + rtol |param|`` holds over the whole
    event and ``-inf`` elsewhere (TorchRL's convention). Samples are ``param`` broadcast to
    ``[*S, *param.shape]``, with gradients flowing to ``param``.

    Args:
      param: ``[*B, *E]``, any dtype.
      atol: absolute tolerance of the equality test.
      rtol: relative tolerance of the equality test.
      batch_shape: optional; ``param.shape`` must start with it.
      event_shape: optional; ``param.shape`` must end with it. With neither, the last dim of
        ``param`` is the event (none for a scalar), as in TorchRL. With ``batch_shape`` only, the
        remaining dims are the event.

    Raises:
      ValueError: ``batch_shape``/``event_shape`` that do not fit ``param.shape``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> d = Delta(jnp.array([[0.5, -1.0]]))
      >>> d.batch_shape, d.event_shape
      ((1,), (2,))
      >>> d.sample(seed=jax.random.key(0), sample_shape=3).shape
      (3, 1, 2)
      >>> d.log_prob(jnp.array([[0.5, -1.0]])), d.log_prob(jnp.array([[0.5, 0.0]]))
      (Array([inf], dtype=float32), Array([-inf], dtype=float32))
    """

    def __init__(
        self,
        param: ArrayLike,
        atol: float = 1e-6,
        rtol: float = 1e-6,
        batch_shape: Sequence[int] | None = None,
        event_shape: Sequence[int] | None = None,
    ):
        param = jnp.asarray(param)
        shape = tuple(param.shape)
        if event_shape is not None:
            event_shape = tuple(int(d) for d in event_shape)
            n_event = len(event_shape)
            if shape[len(shape) - n_event :] != event_shape or n_event > len(shape):
                raise ValueError(f"Delta: param has shape {shape}, which does not end with event_shape {event_shape}.")
            if batch_shape is not None and tuple(batch_shape) != shape[: len(shape) - n_event]:
                raise ValueError(
                    f"Delta: batch_shape {tuple(batch_shape)} + event_shape {event_shape} must equal "
                    f"param's shape {shape}."
                )
        elif batch_shape is not None:
            batch_shape = tuple(int(d) for d in batch_shape)
            if shape[: len(batch_shape)] != batch_shape:
                raise ValueError(
                    f"Delta: param has shape {shape}, which does not start with batch_shape {batch_shape}."
                )
            n_event = len(shape) - len(batch_shape)
        else:
            n_event = min(1, len(shape))
        self.param = param
        self.atol = float(atol)
        self.rtol = float(rtol)
        self._event_dims = n_event

    @property
    def event_shape(self) -> tuple[int, ...]:
        return _split_shapes(self.param.shape, self._event_dims)[1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return _split_shapes(self.param.shape, self._event_dims)[0]

    def _sample_n(self, key: jax.Array, n: int) -> jax.Array:
        del key
        return jnp.broadcast_to(self.param, (n, *self.param.shape))

    def log_prob(self, value: ArrayLike) -> jax.Array:
        """``+inf`` where ``value`` equals ``param`` (within tolerance) over the event, else ``-inf``."""
        value = _check_value(value, self.param.shape, "Delta")
        param = jnp.broadcast_to(self.param, value.shape).astype(value.dtype)
        close = jnp.abs(value - param) < self.atol + self.rtol * jnp.abs(param)
        if self._event_dims:
            close = jnp.all(close, axis=tuple(range(close.ndim - self._event_dims, close.ndim)))
        return jnp.where(close, jnp.inf, -jnp.inf).astype(value.dtype)

    def entropy(self) -> jax.Array:
        raise NotImplementedError(
            "Delta has no entropy: a point mass has no differential entropy (TorchRL's HAS_ENTROPY is False)."
        )

    def mode(self) -> jax.Array:
        """``param``."""
        return self.param

    def mean(self) -> jax.Array:
        """``param``."""
        return self.param

    def deterministic_sample(self) -> jax.Array:
        """``param``."""
        return self.param


class TanhDelta(distrax.Distribution):
    """A point mass at ``mid + half * tanh(param)`` on ``[low, high]`` (TorchRL's ``TanhDelta``).

    ``mode()``, ``mean()``, ``deterministic_sample()`` and every sample are
    ``mid + half * tanh(param)``. TorchRL always shifts ``param`` by the midpoint first (an
    ``is_compiling`` truthiness bug: ``mid + half * tanh(param + mid)``); this does not.
    ``log_prob(y)`` is ``+inf`` where ``|y - mode| < atol + rtol |mode|`` over the event, else
    ``-inf``: the test is made on the values themselves, so the mode always scores ``+inf`` even
    when ``tanh`` saturates (TorchRL tests the ``atanh`` pre-image, which a saturated mode misses).

    Args:
      param: ``[*B, *E]`` pre-tanh parameter.
      low: lower bound(s), broadcastable to ``param``.
      high: upper bound(s), broadcastable to ``param``; ``high > low``.
      event_dims: trailing event dims (default 1).
      atol: absolute tolerance of the equality test.
      rtol: relative tolerance of the equality test.
      safe: clamp ``tanh`` to ``+-(1 - finfo(dtype).resolution)`` (TorchRL's safe tanh).

    Raises:
      ValueError: concrete bounds with ``high <= low``; shapes that do not fit; ``event_dims`` out
        of range.

    Examples:
      >>> import jax.numpy as jnp
      >>> d = TanhDelta(jnp.zeros((1, 2)), low=0.0, high=2.0)
      >>> d.mode()
      Array([[1., 1.]], dtype=float32)
      >>> d.log_prob(d.mode())
      Array([inf], dtype=float32)
    """

    def __init__(
        self,
        param: ArrayLike,
        low: ArrayLike = -1.0,
        high: ArrayLike = 1.0,
        event_dims: int = 1,
        atol: float = 1e-6,
        rtol: float = 1e-6,
        safe: bool = True,
    ):
        self.param = _float_param(param)
        self._event_dims = _check_event_dims(event_dims, self.param.ndim, "event_dims", "TanhDelta")
        self._low, self._high = _bounds(low, high, self.param.shape, "TanhDelta")
        self.atol = float(atol)
        self.rtol = float(rtol)
        self.safe = bool(safe)

    @property
    def event_shape(self) -> tuple[int, ...]:
        return _split_shapes(self.param.shape, self._event_dims)[1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return _split_shapes(self.param.shape, self._event_dims)[0]

    @property
    def low(self) -> jax.Array:
        return _bound_array(self._low, self.param.dtype, np.shape(self._low))

    @property
    def high(self) -> jax.Array:
        return _bound_array(self._high, self.param.dtype, np.shape(self._high))

    def _sample_n(self, key: jax.Array, n: int) -> jax.Array:
        del key
        return jnp.broadcast_to(self.mode(), (n, *self.param.shape))

    def log_prob(self, value: ArrayLike) -> jax.Array:
        """``+inf`` where ``value`` equals the mode (within tolerance) over the event, else ``-inf``."""
        value = _check_value(value, self.param.shape, "TanhDelta")
        mode = jnp.broadcast_to(self.mode(), value.shape).astype(value.dtype)
        close = jnp.abs(value - mode) < self.atol + self.rtol * jnp.abs(mode)
        if self._event_dims:
            close = jnp.all(close, axis=tuple(range(close.ndim - self._event_dims, close.ndim)))
        return jnp.where(close, jnp.inf, -jnp.inf).astype(value.dtype)

    def entropy(self) -> jax.Array:
        raise NotImplementedError(
            "TanhDelta has no entropy: a point mass has no differential entropy (TorchRL's HAS_ENTROPY is False)."
        )

    def mode(self) -> jax.Array:
        """``mid + half * tanh(param)``."""
        cd = _compute_dtype(self.param.dtype)
        t = _squash(self.param.astype(cd), self.safe, self.param.dtype)
        aff = _affine(self._low, self._high, cd, t.shape)
        if aff is not None:
            t = aff[0] + aff[1] * t
        return t.astype(self.param.dtype)

    def mean(self) -> jax.Array:
        """The mode: the mean of a point mass is its point (TorchRL raises ``AttributeError``)."""
        return self.mode()

    def deterministic_sample(self) -> jax.Array:
        """The mode."""
        return self.mode()
