"""TorchRL's ``IndependentNormal`` for JAX: a diagonal normal whose last ``event_dims``
dimensions form the event, with reparameterised sampling, log-prob, entropy and point estimates.
The shared conventions are described in ``jaxrl_modules.distributions.continuous``."""

from __future__ import annotations

from collections.abc import Callable

import distrax
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxrl_modules.distributions._common import (
    _HALF_LOG_2PI,
    _check_event_dims,
    _check_value,
    _compute_dtype,
    _jit_method,
    _loc_and_scale,
    _normal_log_prob,
    _split_shapes,
    _sum_event,
)
from jaxrl_modules.functional.random import standard_normal

__all__ = ["IndependentNormal"]


class IndependentNormal(distrax.Distribution):
    """A diagonal Normal whose last ``event_dim`` dims form the event (TorchRL's ``IndependentNormal``).

    Args:
      loc: ``[*B, *E]``.
      scale: ``loc``'s shape, a scalar, or a callable ``scale(loc)``; must be > 0.
      upscale: ``a`` in ``loc <- a * tanh(loc / a)`` (with ``tanh_loc``).
      tanh_loc: apply the location scaling above. Applied at construction (TorchRL applies it only
        in ``update()``, which an immutable pytree does not have).
      event_dim: how many trailing dims are the event (summed in ``log_prob`` and ``entropy``).
      validate_args: check ``scale > 0`` eagerly (skipped under ``jit``).

    Raises:
      ValueError: ``scale``'s shape is neither ``loc``'s nor scalar; ``event_dim`` out of range;
        ``scale <= 0`` with ``validate_args``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> d = IndependentNormal(jnp.zeros((4, 3)), 1.0)
      >>> d.batch_shape, d.event_shape
      ((4,), (3,))
      >>> x, lp = d.sample_and_log_prob(seed=jax.random.key(0))
      >>> x.shape, lp.shape
      ((4, 3), (4,))
      >>> float(d.entropy()[0])  # 3 * 0.5 * log(2 pi e)
      4.2568...
    """

    def __init__(
        self,
        loc: ArrayLike,
        scale: ArrayLike | Callable,
        upscale: float = 5.0,
        tanh_loc: bool = False,
        event_dim: int = 1,
        *,
        validate_args: bool = False,
    ):
        transform = (lambda x: upscale * jnp.tanh(x / upscale)) if tanh_loc else None
        self.loc, self.scale = _loc_and_scale(loc, scale, "IndependentNormal", transform, validate_args)
        self.upscale = upscale
        self.tanh_loc = bool(tanh_loc)
        self._event_dims = _check_event_dims(event_dim, self.loc.ndim, "event_dim", "IndependentNormal")

    @property
    def event_shape(self) -> tuple[int, ...]:
        return _split_shapes(self.loc.shape, self._event_dims)[1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return _split_shapes(self.loc.shape, self._event_dims)[0]

    def _noise(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array, jax.Array]:
        """``(eps, loc, scale)`` at the sample shape ``[n, *B, *E]``, in the compute dtype."""
        cd = _compute_dtype(self.loc.dtype)
        shape = (n, *self.loc.shape)
        eps = standard_normal(key, shape, cd)
        return eps, jnp.broadcast_to(self.loc.astype(cd), shape), jnp.broadcast_to(self.scale.astype(cd), shape)

    @_jit_method("n")
    def _sample_n(self, key: jax.Array, n: int) -> jax.Array:
        eps, loc, scale = self._noise(key, n)
        return (loc + scale * eps).astype(self.loc.dtype)

    @_jit_method("n")
    def _sample_n_and_log_prob(self, key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
        eps, loc, scale = self._noise(key, n)
        lp = _sum_event(-0.5 * eps * eps - jnp.log(scale) - _HALF_LOG_2PI, self._event_dims)
        return (loc + scale * eps).astype(self.loc.dtype), lp.astype(self.loc.dtype)

    def log_prob(self, value: ArrayLike) -> jax.Array:
        """``sum_event log N(value; loc, scale)``, shape ``value.shape[:-event_dim]``."""
        value = _check_value(value, self.loc.shape, "IndependentNormal")
        cd = _compute_dtype(self.loc.dtype)
        loc, scale = (jnp.broadcast_to(p.astype(cd), value.shape) for p in (self.loc, self.scale))
        lp = _normal_log_prob(value.astype(cd), loc, scale)
        return _sum_event(lp, self._event_dims).astype(self.loc.dtype)

    def entropy(self) -> jax.Array:
        """``sum_event (0.5 log(2 pi e) + log scale)``, shape ``batch_shape``."""
        cd = _compute_dtype(self.loc.dtype)
        h = 0.5 + _HALF_LOG_2PI + jnp.log(self.scale.astype(cd))
        return _sum_event(h, self._event_dims).astype(self.loc.dtype)

    def mode(self) -> jax.Array:
        """``loc``."""
        return self.loc

    def mean(self) -> jax.Array:
        """``loc``."""
        return self.loc

    def deterministic_sample(self) -> jax.Array:
        """``loc`` (TorchRL: the mean)."""
        return self.loc

    def variance(self) -> jax.Array:
        """``scale ** 2``."""
        return jnp.square(self.scale)

    def stddev(self) -> jax.Array:
        """``scale``."""
        return self.scale
