"""TorchRL's ``TruncatedNormal``: a Normal restricted to ``[low, high]``, for JAX.

A `distrax.Distribution` subclass with its own numerics, checked against
``scipy.stats.truncnorm`` (log-density, entropy, mean, variance and samples) for symmetric and
asymmetric bounds, including bounds far out in one tail. With ``alpha = (low - loc) / scale``
and ``beta = (high - loc) / scale``:

* ``log Z = log(Phi(beta) - Phi(alpha))`` is computed on the side away from the mass: when both
  standardised bounds lie in one tail, as ``log_ndtr`` differences of that tail
  (``log Phi(b) + log1p(-exp(log Phi(a) - log Phi(b)))``, mirrored for the upper tail); otherwise
  as ``log1p(-Phi(alpha) - Phi(-beta))``. No ``1e-6`` clamps (TorchRL clamps ``Phi`` and ``Z`` to
  ``[1e-6, 1 - 1e-6]``, which breaks as soon as a bound is ~4.75 scales into a tail).
* ``log_prob(x) = -log(2 pi)/2 - log scale - log Z - z^2/2`` on ``[low, high]`` and ``-inf``
  outside (any out-of-bounds entry makes its whole event ``-inf``, as TorchRL).
* Samples by the inverse CDF, computed in the lower tail of whichever side holds the interval
  (``ndtri(Phi(a) + u Z)`` after mirroring), then clipped into the bounds with a straight-through
  gradient (TorchRL's clamp). In float32 this stays exact up to about 13 scales into a tail;
  beyond, ``Phi`` underflows and samples collapse onto the nearer bound.

Infinite bounds are allowed (``low=-inf`` gives a half-normal-like one-sided truncation).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import distrax
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy.special import log_ndtr, ndtr, ndtri
from jax.typing import ArrayLike

from jaxrl_modules.distributions._common import (
    _HALF_LOG_2PI,
    _bound_array,
    _bounds,
    _check_value,
    _compute_dtype,
    _jit_method,
    _loc_and_scale,
    _split_shapes,
)

__all__ = ["TruncatedNormal"]

_SCALE_FLOOR = 1e-6  # TorchRL's scale floor (reference, Appendix B)


def _standard_bounds(low: jax.Array, high: jax.Array, loc: jax.Array, scale: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``alpha, beta = (low - loc) / scale, (high - loc) / scale``, with infinite bounds made finite.

    ``-inf`` becomes ``2 min(beta, 0) - 40``: far enough below ``beta`` that ``Phi`` of it is 0 or
    negligible against ``Phi(beta)``, in any float (``+inf`` mirrored). The infinite bound never
    enters the arithmetic, so every formula and gradient stays NaN-free.
    """
    low_inf, high_inf = jnp.isneginf(low), jnp.isposinf(high)
    alpha = (jnp.where(low_inf, 0.0, low) - loc) / scale
    beta = (jnp.where(high_inf, 0.0, high) - loc) / scale
    alpha = jnp.where(low_inf, 2.0 * jnp.minimum(jnp.where(high_inf, 0.0, beta), 0.0) - 40.0, alpha)
    beta = jnp.where(high_inf, 2.0 * jnp.maximum(alpha, 0.0) + 40.0, beta)
    return alpha, beta


def _mirror(alpha: jax.Array, beta: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``(flip, a, b)`` with ``[a, b] = [alpha, beta]`` or its mirror ``[-beta, -alpha]``, ``a + b <= 0``."""
    flip = alpha + beta > 0
    return flip, jnp.where(flip, -beta, alpha), jnp.where(flip, -alpha, beta)


def _ndtri_from_log(log_p: jax.Array, direct: jax.Array) -> jax.Array:
    """``ndtri(exp(log_p))``, also where ``exp(log_p)`` underflows (an interval deep in the tail).

    ``direct`` is ``ndtri`` of the probability itself, exact wherever that probability is a normal
    float; below it, Newton steps on ``log_ndtr(z) = log_p`` from the asymptote ``-sqrt(-2 log_p)``.
    """
    tiny = jnp.log(jnp.finfo(log_p.dtype).tiny) + 10.0
    safe_log_p = jnp.minimum(log_p, tiny)  # the tail branch only; keeps its iterations finite
    z = -jnp.sqrt(-2.0 * safe_log_p)
    for _ in range(4):
        log_phi = -0.5 * z * z - 0.5 * math.log(2 * math.pi)
        z = z - (log_ndtr(z) - safe_log_p) * jnp.exp(log_ndtr(z) - log_phi)
    return jnp.where(log_p > tiny, direct, z)


def _log_mass(alpha: jax.Array, beta: jax.Array) -> jax.Array:
    """``log(Phi(beta) - Phi(alpha))`` for ``alpha < beta``, accurate in both tails, NaN-free."""
    _, a, b = _mirror(alpha, beta)  # the mass is symmetric, so work with a + b <= 0
    tail = b <= 0  # both bounds in the lower tail
    ta, tb = jnp.where(tail, a, -2.0), jnp.where(tail, b, -1.0)
    log_b = log_ndtr(tb)
    in_tail = log_b + jnp.log1p(-jnp.exp(log_ndtr(ta) - log_b))
    ca, cb = jnp.where(tail, -1.0, a), jnp.where(tail, 1.0, b)
    central = jnp.log1p(-(ndtr(ca) + ndtr(-cb)))
    return jnp.where(tail, in_tail, central)


class TruncatedNormal(distrax.Distribution):
    """``N(loc', scale^2)`` truncated to ``[low, high]``, the last dim the event (TorchRL's ``TruncatedNormal``).

    With ``tanh_loc``, ``loc' = upscale * tanh(loc / upscale)`` (applied at construction, as TorchRL).
    ``scale`` is floored at 1e-6, as TorchRL.

    Methods: ``log_prob`` (``-inf`` outside the bounds), ``entropy``, ``mean``, ``variance``,
    ``mode`` (``clip(loc', low, high)``, the exact argmax; TorchRL clips 1e-6 inside),
    ``deterministic_sample`` (the mean, as TorchRL), and sampling (see the module docstring).

    Args:
      loc: ``[*B, d]`` (at least one dim: the last is the event).
      scale: ``loc``'s shape, a scalar, or a callable ``scale(loc')``; must be > 0.
      upscale: ``a`` of the ``tanh_loc`` scaling.
      low: lower bound(s), broadcastable to ``loc``; may be ``-inf``.
      high: upper bound(s), broadcastable to ``loc``; may be ``inf``; ``high > low``.
      tanh_loc: ``loc' = upscale * tanh(loc / upscale)``.
      validate_args: check ``scale > 0`` eagerly (skipped under ``jit``).

    Raises:
      ValueError: ``loc`` is a scalar; concrete bounds with ``high <= low``; shapes that do not fit;
        ``scale <= 0`` with ``validate_args``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> d = TruncatedNormal(jnp.zeros((2, 3)), jnp.ones((2, 3)), low=-1.0, high=2.0)
      >>> d.batch_shape, d.event_shape
      ((2,), (3,))
      >>> round(float(d.mean()[0, 0]), 4)  # scipy.stats.truncnorm(-1, 2).mean()
      0.2296
      >>> d.log_prob(jnp.array([[0.0, 0.5, 1.0], [0.0, 0.5, 3.0]]))
      Array([-2.78..., -inf], dtype=float32)
    """

    def __init__(
        self,
        loc: ArrayLike,
        scale: ArrayLike | Callable,
        upscale: float = 5.0,
        low: ArrayLike = -1.0,
        high: ArrayLike = 1.0,
        tanh_loc: bool = False,
        *,
        validate_args: bool = False,
    ):
        transform = (lambda x: upscale * jnp.tanh(x / upscale)) if tanh_loc else None
        loc, scale = _loc_and_scale(loc, scale, "TruncatedNormal", transform, validate_args)
        if loc.ndim < 1:
            raise ValueError(f"TruncatedNormal: loc must have at least one dim (the event), got shape {loc.shape}.")
        self.loc = loc
        self.scale = jnp.maximum(scale, jnp.asarray(_SCALE_FLOOR, scale.dtype))
        self._low, self._high = _bounds(low, high, loc.shape, "TruncatedNormal", allow_infinite=True)
        self.upscale = upscale
        self.tanh_loc = bool(tanh_loc)

    @property
    def event_shape(self) -> tuple[int, ...]:
        return _split_shapes(self.loc.shape, 1)[1]

    @property
    def batch_shape(self) -> tuple[int, ...]:
        return _split_shapes(self.loc.shape, 1)[0]

    @property
    def low(self) -> jax.Array:
        return _bound_array(self._low, self.loc.dtype, np.shape(self._low))

    @property
    def high(self) -> jax.Array:
        return _bound_array(self._high, self.loc.dtype, np.shape(self._high))

    # Standardised quantities, in the compute dtype, at loc's shape.

    def _params(self):
        cd = _compute_dtype(self.loc.dtype)
        shape = self.loc.shape
        loc, scale = self.loc.astype(cd), self.scale.astype(cd)
        low, high = _bound_array(self._low, cd, shape), _bound_array(self._high, cd, shape)
        alpha, beta = _standard_bounds(low, high, loc, scale)
        return cd, loc, scale, low, high, alpha, beta

    @staticmethod
    def _pdf_over_mass(x: jax.Array, log_z: jax.Array) -> jax.Array:
        """``phi(x) / Z``, computed in logs."""
        return jnp.exp(-0.5 * x * x - _HALF_LOG_2PI - log_z)

    @_jit_method()
    def log_prob(self, value: ArrayLike) -> jax.Array:
        """``sum_event log p(value)``; ``-inf`` for an event with any entry outside ``[low, high]``."""
        value = _check_value(value, self.loc.shape, "TruncatedNormal")
        cd, loc, scale, low, high, alpha, beta = self._params()
        log_z = _log_mass(alpha, beta)
        x = value.astype(cd)
        loc, scale, low, high, log_z = (jnp.broadcast_to(p, x.shape) for p in (loc, scale, low, high, log_z))
        z = (x - loc) / scale
        lp = -0.5 * z * z - _HALF_LOG_2PI - jnp.log(scale) - log_z
        lp = jnp.where((x >= low) & (x <= high), lp, -jnp.inf)
        return jnp.sum(lp, axis=-1).astype(self.loc.dtype)

    @_jit_method()
    def entropy(self) -> jax.Array:
        """``sum_event [log(sqrt(2 pi e) scale Z) + (alpha phi(alpha) - beta phi(beta)) / (2 Z)]``."""
        cd, loc, scale, low, high, alpha, beta = self._params()
        log_z = _log_mass(alpha, beta)
        h = 0.5 + _HALF_LOG_2PI + jnp.log(scale) + log_z
        h = h + 0.5 * (alpha * self._pdf_over_mass(alpha, log_z) - beta * self._pdf_over_mass(beta, log_z))
        return jnp.sum(h, axis=-1).astype(self.loc.dtype)

    @_jit_method()
    def mean(self) -> jax.Array:
        """``loc + scale (phi(alpha) - phi(beta)) / Z``."""
        cd, loc, scale, low, high, alpha, beta = self._params()
        log_z = _log_mass(alpha, beta)
        m = loc + scale * (self._pdf_over_mass(alpha, log_z) - self._pdf_over_mass(beta, log_z))
        return jnp.clip(m, low, high).astype(self.loc.dtype)

    @_jit_method()
    def variance(self) -> jax.Array:
        """``scale^2 [1 + (alpha phi(alpha) - beta phi(beta)) / Z - ((phi(alpha) - phi(beta)) / Z)^2]``."""
        cd, loc, scale, low, high, alpha, beta = self._params()
        log_z = _log_mass(alpha, beta)
        pa, pb = self._pdf_over_mass(alpha, log_z), self._pdf_over_mass(beta, log_z)
        v = jnp.square(scale) * (1.0 + alpha * pa - beta * pb - jnp.square(pa - pb))
        return jnp.maximum(v, 0.0).astype(self.loc.dtype)

    @_jit_method()
    def mode(self) -> jax.Array:
        """``clip(loc', low, high)``: the argmax of the density."""
        cd, loc, scale, low, high, alpha, beta = self._params()
        return jnp.clip(loc, low, high).astype(self.loc.dtype)

    def deterministic_sample(self) -> jax.Array:
        """The mean, as TorchRL."""
        return self.mean()

    @_jit_method("n")
    def _sample_n(self, key: jax.Array, n: int) -> jax.Array:
        cd, loc, scale, low, high, alpha, beta = self._params()
        flip, a, b = _mirror(alpha, beta)
        # Phi(a) + u Z with Z = exp(log Z): the interval's lower-tail side, where Phi is precise.
        phi_a, mass = ndtr(a), jnp.exp(_log_mass(a, b))
        shape = (n, *self.loc.shape)
        size = math.prod(shape)

        def flat(x):
            return jnp.broadcast_to(x, shape).reshape(size)

        # Elementwise on flat vectors (see TanhNormal._draw): XLA:CPU compiles ndtri followed by
        # more transcendental work poorly when the loop's minor dim is a short event dim.
        u = jax.random.uniform(key, (size,), cd)
        log_p = jnp.logaddexp(flat(log_ndtr(a)), jnp.log(u) + flat(_log_mass(a, b)))
        z = jnp.clip(_ndtri_from_log(log_p, ndtri(flat(phi_a) + u * flat(mass))), flat(a), flat(b))
        x = flat(loc) + flat(scale) * jnp.where(flat(flip), -z, z)
        # Rounding can leave x a hair outside: clip the value, keep the gradient (TorchRL's clamp).
        clipped = jnp.clip(x, flat(low), flat(high))
        x = x + lax.stop_gradient(clipped - x)
        return x.reshape(shape).astype(self.loc.dtype)
