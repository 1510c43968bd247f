"""Exploration noise as pure functions: annealing schedules, e-greedy, Gaussian and OU noise.

Every function takes its randomness as an explicit ``key`` and its schedule position as an
explicit step counter, so it runs under ``jit``, ``vmap`` and ``lax.scan`` and the same key gives
the same output. The key-based modules in :mod:`jaxrl_modules.tensordict_module.exploration`
call these and add TorchRL's keys, specs and exploration-type gating.

References:
  Mnih et al., 2015, "Human-level control through deep reinforcement learning" (e-greedy).
  Lillicrap et al., 2016, "Continuous control with deep reinforcement learning" (DDPG, OU noise).
  Fujimoto et al., 2018, "Addressing Function Approximation Error in Actor-Critic Methods"
  (TD3, additive Gaussian noise).
"""

from __future__ import annotations

import math
from numbers import Real

import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxrl_modules.data.specs import Binary, Categorical, MultiCategorical, MultiOneHot, OneHot
from jaxrl_modules.data.tensor_spec import TensorSpec

__all__ = [
    "additive_gaussian_noise",
    "epsilon_greedy",
    "linear_annealing",
    "ornstein_uhlenbeck_sigma",
    "ornstein_uhlenbeck_step",
]

DISCRETE_SPECS = (OneHot, Categorical, MultiOneHot, MultiCategorical, Binary)


def _normal(key: jax.Array, shape: tuple[int, ...], dtype) -> jax.Array:
    """``jax.random.normal``, drawn flat and reshaped: on XLA:CPU a draw on a short minor axis
    (``[B, 6]``) is slower than the same draw flat (4096 x 6 in a ``lax.scan``: 232 vs 246 us).

    Not `standard_normal` (the unrolled hash): it is 4x faster alone, but fused with the noise's
    consumers inside a ``lax.scan`` body it ran 1.5x slower than this (353 vs 232 us per step at
    4096 x 6), and exploration noise is drawn inside rollout scans.
    """
    return jax.random.normal(key, (math.prod(shape),), dtype).reshape(shape)


def linear_annealing(step: ArrayLike, init: float, end: float, num_steps: int) -> jax.Array:
    """TorchRL's linear annealing of eps / sigma, as a pure function of the step count.

    TorchRL's ``step(frames)`` subtracts ``(init - end) / num_steps`` once per frame and floors
    at ``end``; after ``step`` frames that is ``max(end, init - step * (init - end) / num_steps)``
    (equal to TorchRL's float32 loop up to rounding: within 1e-6 over 2000 steps).

    Args:
      step: number of frames annealed so far (int array of any shape, or a Python int).
      init: value at step 0.
      end: value from step ``num_steps`` on; at most ``init``.
      num_steps: number of frames over which the value decays; positive.

    Returns:
      float32 array of ``step``'s shape.

    Examples:
      >>> [round(float(linear_annealing(s, 0.5, 0.1, 4)), 6) for s in range(6)]
      [0.5, 0.4, 0.3, 0.2, 0.1, 0.1]
    """
    check_schedule(init, end, num_steps, "linear_annealing", ("init", "end", "num_steps"))
    delta = jnp.float32(init - end) / jnp.float32(num_steps)
    value = jnp.float32(init) - jnp.asarray(step).astype(jnp.float32) * delta
    return jnp.maximum(jnp.float32(end), value)


def check_schedule(init: float, end: float, num_steps: int, owner: str, names: tuple[str, str, str]) -> None:
    """Raises on a schedule TorchRL rejects (``end > init``) or cannot run (``num_steps <= 0``)."""
    if not (isinstance(init, Real) and isinstance(end, Real)):
        return  # traced values cannot be checked; the caller's module checks its static fields
    if end > init:
        raise ValueError(
            f"{owner}: {names[1]}={end} is larger than {names[0]}={init}; the schedule only anneals "
            f"downwards (TorchRL raises too). Pass {names[0]} >= {names[1]}."
        )
    if num_steps <= 0:
        raise ValueError(f"{owner}: {names[2]} must be positive, got {num_steps}.")


def epsilon_greedy(
    key: jax.Array,
    action: ArrayLike,
    eps: ArrayLike,
    spec: TensorSpec,
    *,
    mask: ArrayLike | None = None,
    batch_ndim: int | None = None,
) -> jax.Array:
    """Replaces each batch element's action by a random member of ``spec`` with probability eps.

    One Bernoulli(eps) coin per batch element, as TorchRL: every component of a one-hot or
    multi-dimensional action is replaced together. The random action is drawn from the spec,
    uniform over the allowed entries of ``mask`` (True = allowed), so a masked action is never
    chosen by the random branch.

    Args:
      key: a PRNG key.
      action: the greedy action, ``[*B, *spec.shape]`` (``spec.shape`` may itself hold batch
        dims, as TorchRL's batched env specs do).
      eps: the exploration rate in ``[0, 1]``; a scalar or an array broadcastable to ``B``.
      spec: a discrete spec (`OneHot`, `Categorical`, `MultiOneHot`, `MultiCategorical`, `Binary`).
      mask: optional boolean mask in the spec's mask layout with the batch in front
        (``[*B, n]`` for OneHot and Categorical).
      batch_ndim: number of leading dims with one coin each; default all dims of ``action`` in
        front of ``spec.shape``.

    Returns:
      An array of ``action``'s shape and dtype.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import Categorical
      >>> greedy = jnp.zeros(8, jnp.int32)
      >>> mask = jnp.array([False, True, True, False])
      >>> out = epsilon_greedy(jax.random.key(0), greedy, 1.0, Categorical(4), mask=mask)
      >>> bool(jnp.isin(out, jnp.array([1, 2])).all())  # eps=1: all random, never masked
      True
      >>> bool((epsilon_greedy(jax.random.key(0), greedy, 0.0, Categorical(4)) == 0).all())
      True
    """
    if not isinstance(spec, DISCRETE_SPECS):
        raise ValueError(
            f"epsilon_greedy needs a discrete spec (OneHot, Categorical, MultiOneHot, "
            f"MultiCategorical, Binary), got {spec!r}; for continuous actions use "
            "additive_gaussian_noise or ornstein_uhlenbeck_step."
        )
    action = jnp.asarray(action)
    event = tuple(spec.shape)
    if action.shape[action.ndim - len(event) :] != event or action.ndim < len(event):
        raise ValueError(
            f"epsilon_greedy: the action's shape {action.shape} does not end with the spec's shape {event}."
        )
    lead = action.shape[: action.ndim - len(event)]
    batch_ndim = len(lead) if batch_ndim is None else batch_ndim
    if not 0 <= batch_ndim <= action.ndim:
        raise ValueError(f"epsilon_greedy: batch_ndim={batch_ndim} for an action of shape {action.shape}.")
    batch = action.shape[:batch_ndim]
    coin_key, rand_key = jax.random.split(key)
    eps = jnp.asarray(eps, jnp.float32)
    coin = jax.random.uniform(coin_key, batch) < jnp.broadcast_to(eps, batch)
    coin = jnp.broadcast_to(coin.reshape(batch + (1,) * (action.ndim - batch_ndim)), action.shape)
    random = spec.rand(rand_key, lead, mask=mask).astype(action.dtype)
    return jnp.where(coin, random, action)


def additive_gaussian_noise(
    key: jax.Array,
    action: ArrayLike,
    sigma: ArrayLike,
    *,
    mean: ArrayLike = 0.0,
    std: ArrayLike = 1.0,
    spec: TensorSpec | None = None,
) -> jax.Array:
    """``action + sigma * N(mean, std)``, projected onto ``spec`` (TorchRL's additive Gaussian).

    Args:
      key: a PRNG key.
      action: float action ``[*B, *A]``.
      sigma: noise scale (annealed by `linear_annealing` in the module); scalar.
      mean, std: the noise distribution's parameters, scalars or arrays broadcastable to ``A``.
      spec: if given, the noisy action is projected onto it (clamped for `Bounded`), as TorchRL
        always does; a NaN stays NaN (a float spec's ``project`` keeps it; TorchRL's clamp maps NaN to a bound).

    Returns:
      An array of ``action``'s shape and dtype.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import Bounded
      >>> out = additive_gaussian_noise(jax.random.key(0), jnp.zeros((3, 2)), 10.0,
      ...                               spec=Bounded(-1.0, 1.0, shape=(2,)))
      >>> bool((jnp.abs(out) <= 1.0).all()), out.shape
      (True, (3, 2))
    """
    action = jnp.asarray(action)
    if not jnp.issubdtype(action.dtype, jnp.floating):
        raise ValueError(f"additive_gaussian_noise needs a floating action, got dtype {action.dtype}.")
    shape, dtype = action.shape, action.dtype
    noise = jnp.broadcast_to(jnp.asarray(mean, dtype), shape) + jnp.broadcast_to(
        jnp.asarray(std, dtype), shape
    ) * _normal(key, shape, dtype)
    out = action + jnp.asarray(sigma, dtype) * noise
    return out if spec is None else spec.project(out).astype(dtype)


def ornstein_uhlenbeck_sigma(
    steps: ArrayLike, sigma: float, sigma_min: float | None, n_steps_annealing: int
) -> jax.Array:
    """The OU noise scale after ``steps`` steps of a trajectory: TorchRL's ``current_sigma``.

    ``max(sigma - (sigma - sigma_min) * steps / n_steps_annealing, sigma_min)``, or constant
    ``sigma`` when ``sigma_min`` is None.

    Examples:
      >>> ornstein_uhlenbeck_sigma(jnp.array([0, 500, 2000]), 0.2, 0.1, 1000)
      Array([0.2 , 0.15, 0.1 ], dtype=float32)
    """
    steps = jnp.asarray(steps).astype(jnp.float32)
    if sigma_min is None:
        return jnp.full(steps.shape, sigma, jnp.float32)
    slope = -(sigma - sigma_min) / n_steps_annealing
    return jnp.maximum(jnp.float32(slope) * steps + jnp.float32(sigma), jnp.float32(sigma_min))


def ornstein_uhlenbeck_step(
    key: jax.Array,
    prev_noise: ArrayLike,
    steps: ArrayLike,
    *,
    is_init: ArrayLike | None = None,
    theta: float = 0.15,
    mu: ArrayLike = 0.0,
    sigma: float = 0.2,
    dt: float = 1e-2,
    x0: ArrayLike = 0.0,
    sigma_min: float | None = None,
    n_steps_annealing: int = 1000,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One Euler-Maruyama step of an Ornstein-Uhlenbeck process, reset where ``is_init``.

    The process is ``dx = theta (mu - x) dt + sigma_t sqrt(dt) dW`` (Uhlenbeck and Ornstein,
    1930), with ``x = prev_noise + x0`` (TorchRL stores the offset from ``x0``, so zeros are a
    fresh start) and ``sigma_t`` = `ornstein_uhlenbeck_sigma` of the per-trajectory step count.
    Its stationary variance is ``sigma^2 / (2 theta - theta^2 dt)`` (``sigma^2 / (2 theta)`` as
    ``dt -> 0``).

    Args:
      key: a PRNG key.
      prev_noise: the state ``x - x0``, ``[*B, *A]``.
      steps: per-trajectory step counts ``[*B]`` (int).
      is_init: optional boolean ``[*B]`` (or ``[*B, 1]``): where True the state and count restart
        from zero before the step.
      theta, mu, sigma, dt, x0, sigma_min, n_steps_annealing: the process (TorchRL's names and
        defaults); ``mu`` and ``x0`` may be arrays broadcastable to ``A``.

    Returns:
      ``(x, next_prev_noise, next_steps)``: the process value ``x`` to add to the action (scaled
      by the module's eps), the state ``x - x0`` to carry, and ``steps + 1``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> x, state, steps = ornstein_uhlenbeck_step(
      ...     jax.random.key(0), jnp.ones((2, 1)), jnp.array([5, 5]),
      ...     is_init=jnp.array([True, False]), sigma=0.0)
      >>> x.ravel().tolist(), steps.tolist()  # the first env restarts from x0 = 0
      ([0.0, 0.9984999895095825], [1, 6])
    """
    prev_noise = jnp.asarray(prev_noise)
    steps = jnp.asarray(steps)
    batch = steps.shape
    if prev_noise.shape[: len(batch)] != batch:
        raise ValueError(
            f"ornstein_uhlenbeck_step: the state of shape {prev_noise.shape} does not start with "
            f"the step counts' shape {batch}."
        )
    dtype = prev_noise.dtype
    if is_init is not None:
        is_init = jnp.asarray(is_init, bool)
        if is_init.shape == (*batch, 1):  # TorchRL's InitTracker layout
            is_init = is_init.reshape(batch)
        if is_init.shape != batch:
            raise ValueError(
                f"ornstein_uhlenbeck_step: is_init has shape {is_init.shape}; expected the batch shape "
                f"{batch} (or {(*batch, 1)})."
            )
        steps = jnp.where(is_init, jnp.zeros_like(steps), steps)
        reset = jnp.broadcast_to(is_init.reshape(batch + (1,) * (prev_noise.ndim - len(batch))), prev_noise.shape)
        prev_noise = jnp.where(reset, jnp.zeros_like(prev_noise), prev_noise)
    shape = prev_noise.shape
    # Python numbers stay Python numbers: constants fold into the one fused update (in a rollout
    # scan at B = 16, every extra array op is a measurable share of the ~3 us step).
    x0, mu = (v if isinstance(v, Real) else jnp.broadcast_to(jnp.asarray(v, dtype), shape) for v in (x0, mu))
    if sigma_min is None:
        scale = sigma * math.sqrt(dt)
    else:
        sigma_t = ornstein_uhlenbeck_sigma(steps, sigma, sigma_min, n_steps_annealing).astype(dtype)
        lead = sigma_t.reshape(batch + (1,) * (len(shape) - len(batch)))
        scale = jnp.broadcast_to(lead, shape) * math.sqrt(dt)
    x = prev_noise + x0
    x = x + theta * dt * (mu - x) + scale * _normal(key, shape, dtype)
    return x, x - x0, steps + 1
