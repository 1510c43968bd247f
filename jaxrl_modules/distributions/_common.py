"""Private helpers shared by the continuous distributions (`Delta`, `TanhDelta`,
`IndependentNormal`, `TanhNormal`) and by `TruncatedNormal`: parameter promotion and
validation, static bounds, event-shape bookkeeping, the ``jit`` method wrapper, the Threefry
standard-normal sampler, the normal log-density and the (safe) tanh squash."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)

# --------------------------------------------------------------------------------------------
# Parameter handling (shared with truncated_normal.py).


def _is_concrete(*xs: Any) -> bool:
    return not any(isinstance(x, jax.core.Tracer) for x in xs)


def _compute_dtype(dtype) -> Any:
    """float32 for the 16-bit floats (their log-probs are computed in float32), else ``dtype``."""
    return jnp.float32 if jnp.finfo(dtype).bits < 32 else jnp.dtype(dtype)


def _resolution(dtype) -> float:
    """TorchRL's safe-tanh margin: ``finfo(dtype).resolution`` (float32 1e-6, bfloat16 1e-2)."""
    return float(jnp.finfo(dtype).resolution)


def _float_param(value: ArrayLike) -> jax.Array:
    """``value`` as an array, integers and booleans converted to the default float."""
    x = jnp.asarray(value)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jnp.result_type(float))
    return x


def _loc_and_scale(
    loc: ArrayLike,
    scale: ArrayLike | Callable,
    owner: str,
    transform: Callable[[jax.Array], jax.Array] | None = None,
    validate_args: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """``loc`` (after ``transform``) and ``scale`` in one floating dtype, ``scale`` at ``loc``'s shape."""
    loc = _float_param(loc)
    if transform is not None:
        loc = transform(loc)
    if callable(scale) and not hasattr(scale, "shape"):
        scale = scale(loc)
    scale = jnp.asarray(scale)
    if scale.shape != loc.shape and scale.ndim != 0:
        raise ValueError(
            f"{owner}: scale has shape {scale.shape} but loc has shape {loc.shape}; scale must have "
            "loc's shape or be a scalar (no implicit broadcasting)."
        )
    dtype = jnp.result_type(loc, scale)
    if not jnp.issubdtype(dtype, jnp.floating):
        dtype = jnp.result_type(float)
    loc, scale = loc.astype(dtype), jnp.broadcast_to(scale.astype(dtype), loc.shape)
    if validate_args:
        _check_positive(scale, "scale", owner)
    return loc, scale


def _check_positive(x: jax.Array, what: str, owner: str) -> None:
    if not _is_concrete(x):
        return  # traced: its values do not exist yet (documented: validate eagerly)
    values = np.asarray(x, dtype=np.float64)
    if not np.all(values > 0):
        bad = values[~(values > 0)]
        raise ValueError(
            f"{owner}: {what} must be > 0 everywhere, got {bad.size} entries that are not (e.g. {bad.flat[0]})."
        )


def _check_event_dims(event_dims: int, ndim: int, what: str, owner: str) -> int:
    if isinstance(event_dims, bool) or not isinstance(event_dims, (int, np.integer)):
        raise ValueError(f"{owner}: {what} must be an int, got {event_dims!r}.")
    if not 0 <= int(event_dims) <= ndim:
        raise ValueError(f"{owner}: {what}={event_dims} must be between 0 and the parameter's ndim {ndim}.")
    return int(event_dims)


def _to_static(a: np.ndarray) -> float | tuple:
    """A NumPy array as nested tuples of Python floats: static metadata for the pytree."""

    def nest(x):
        return tuple(nest(e) for e in x) if isinstance(x, list) else float(x)

    return nest(a.tolist())


def _bounds(
    low: ArrayLike, high: ArrayLike, loc_shape: tuple[int, ...], owner: str, *, allow_infinite: bool = False
) -> tuple[Any, Any]:
    """Checked bounds: static (floats / nested tuples) when concrete, else arrays at ``loc_shape``."""
    loc_shape = tuple(loc_shape)
    for what, b in (("low", low), ("high", high)):
        shape = tuple(np.shape(b))
        try:
            fits = tuple(np.broadcast_shapes(shape, loc_shape)) == loc_shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(f"{owner}: {what} has shape {shape}, which does not broadcast to loc's shape {loc_shape}.")
    if _is_concrete(low, high):
        lo, hi = np.asarray(low, dtype=np.float64), np.asarray(high, dtype=np.float64)
        if not allow_infinite and not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi))):
            raise ValueError(f"{owner}: low and high must be finite, got low={lo} and high={hi}.")
        if not np.all(hi > lo):
            raise ValueError(f"{owner}: high must be strictly greater than low everywhere, got low={lo} and high={hi}.")
        return _to_static(lo), _to_static(hi)
    return jnp.broadcast_to(jnp.asarray(low), loc_shape), jnp.broadcast_to(jnp.asarray(high), loc_shape)


def _is_static(b: Any) -> bool:
    return isinstance(b, (float, tuple))


def _bound_array(b: Any, dtype, shape: tuple[int, ...]) -> jax.Array:
    """A bound as an array of ``dtype``, explicitly broadcast to ``shape``."""
    if _is_static(b):
        b = jnp.asarray(np.asarray(b, dtype=np.float64), dtype)
    return jnp.broadcast_to(b.astype(dtype), shape)


def _affine(low: Any, high: Any, dtype, shape: tuple[int, ...]) -> tuple[jax.Array, jax.Array] | None:
    """``(mid, half)`` of ``[low, high]`` at ``shape``, or None for the static bounds [-1, 1]."""
    if _is_static(low) and _is_static(high) and np.all(np.asarray(low) == -1.0) and np.all(np.asarray(high) == 1.0):
        return None
    lo, hi = _bound_array(low, dtype, shape), _bound_array(high, dtype, shape)
    return (hi + lo) / 2, (hi - lo) / 2


def _check_value(value: ArrayLike, param_shape: tuple[int, ...], owner: str) -> jax.Array:
    value = jnp.asarray(value)
    n = len(param_shape)
    if value.ndim < n or value.shape[value.ndim - n :] != tuple(param_shape):
        raise ValueError(
            f"{owner}.log_prob: value has shape {value.shape}; its trailing dims must equal the "
            f"distribution's batch + event shape {tuple(param_shape)}."
        )
    if not jnp.issubdtype(value.dtype, jnp.floating):
        value = value.astype(jnp.result_type(float))
    return value


def _jit_method(*static_argnames: str):
    """Compiles a method as one XLA program (the distribution itself is a pytree argument).

    Called eagerly, a method costs one compiled call instead of dozens of op-by-op dispatches
    (``ndtri`` or the quadratures alone are hundreds of primitives); under an outer ``jit`` it is
    inlined. Shape errors are still raised at trace time.
    """

    def decorate(fn):
        jitted = jax.jit(fn, static_argnames=static_argnames)

        @functools.wraps(fn)
        def method(self, *args, **kwargs):
            return jitted(self, *args, **kwargs)

        return method

    return decorate


def _sum_event(x: jax.Array, event_dims: int) -> jax.Array:
    return jnp.sum(x, axis=tuple(range(x.ndim - event_dims, x.ndim))) if event_dims else x


def _split_shapes(shape: tuple[int, ...], event_dims: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    cut = len(shape) - event_dims
    return tuple(shape[:cut]), tuple(shape[cut:])


# --------------------------------------------------------------------------------------------
# Numerics.


def _normal_log_prob(x: jax.Array, loc: jax.Array, scale: jax.Array) -> jax.Array:
    z = (x - loc) / scale
    return -0.5 * z * z - jnp.log(scale) - _HALF_LOG_2PI


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _safe_tanh(x: jax.Array, bound: float) -> jax.Array:
    """``tanh`` clamped to ``[-bound, bound]``, with TorchRL's gradient ``1 - y^2`` of the clamped y.

    The gradient does not vanish at saturation (it is at least ``1 - bound^2``), as in TorchRL's
    ``safetanh``.
    """
    return jnp.clip(jnp.tanh(x), -bound, bound)


@_safe_tanh.defjvp
def _safe_tanh_jvp(bound, primals, tangents):
    (x,), (t,) = primals, tangents
    y = _safe_tanh(x, bound)
    return y, t * (1 - y * y)


def _squash(x: jax.Array, safe: bool, out_dtype) -> jax.Array:
    """tanh of the pre-image, clamped to ``1 - finfo(out_dtype).resolution`` when ``safe``."""
    return _safe_tanh(x, 1.0 - _resolution(out_dtype)) if safe else jnp.tanh(x)
