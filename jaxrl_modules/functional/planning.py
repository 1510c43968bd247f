"""Model-predictive planning as pure functions: the CEM and MPPI inner loops.

Both planners search over open-loop action sequences of ``horizon`` steps. Each iteration draws
``num_candidates`` sequences from a diagonal Gaussian (``mean``, ``std``, both ``[H, *A]``),
rolls each out through a model, scores it, keeps the ``top_k`` best and refits the Gaussian to
them; the plan's first action is the final mean's first step (TorchRL's ``CEMPlanner`` and
``MPPIPlanner``, reference 13). Here the candidates are ``vmap``-ped, the horizon is a
``lax.scan`` and the iterations another, so one plan is one jittable function of an explicit key.

The model is pure functions of one (unbatched) state, any pytree: ``dynamics_fn(state, action)
-> next_state``, ``reward_fn(state, action, next_state) -> reward`` (a scalar), optional
``done_fn(state, action, next_state) -> bool`` and ``value_fn(state) -> value`` for the tail
(TD-MPC), or one ``step_fn(state, action) -> (next_state, reward, done)``, e.g. an
environment's own pure step. Batch over states with ``jax.vmap``.

Differences from TorchRL, on purpose: CEM's std of a single elite (``top_k=1``) is 0, not NaN
(TorchRL's unbiased std divides by ``K - 1``); MPPI's weights are a softmax of the values minus
their maximum, scaled after, so no value and no finite temperature overflows; a NaN or ``-inf``
return ranks last and is no elite (``lax.top_k`` ranks NaN first), ``+inf`` ranks first (an
overflowed return cannot be told from a huge one), and an iteration in which no candidate has a
number for a return keeps the previous mean and std; ``min_std`` can floor the std;
``init_mean`` lets a closed loop warm-start from the previous plan (`shift_plan`).

References:
  Rubinstein, 1999, "The Cross-Entropy Method for Combinatorial and Continuous Optimization".
  Chua et al., 2018, "Deep Reinforcement Learning in a Handful of Trials using Probabilistic
  Dynamics Models" (PETS: CEM planning over a learned model).
  Williams et al., 2017, "Information Theoretic MPC for Model-Based Reinforcement Learning" (MPPI).
  Hansen et al., 2022, "Temporal Difference Learning for Model Predictive Control" (TD-MPC: a
  value for the tail, warm starts).
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

__all__ = [
    "PlanResult",
    "cem_plan",
    "check_plan_options",
    "check_planning_args",
    "check_temperature",
    "colored_noise",
    "discounted_plan_return",
    "mask_post_done_reward",
    "mppi_plan",
    "plan_rollout",
    "shift_plan",
]


class PlanResult(NamedTuple):
    """What a plan returns.

    Attributes:
      action: the first action of the final mean, ``[*A]``: the action to take now.
      mean: the final mean action sequence, ``[H, *A]``; shifted (`shift_plan`), it warm-starts
        the next plan.
      std: the final standard deviations, ``[H, *A]``.
    """

    action: jax.Array
    mean: jax.Array
    std: jax.Array


def check_planning_args(owner: str, horizon: Any, optim_steps: Any, num_candidates: Any, top_k: Any) -> None:
    """Raises a ValueError naming ``owner`` for sizes no plan can use (all must be static ints).

    Examples:
      >>> check_planning_args("cem_plan", 10, 5, 100, 10)
      >>> check_planning_args("cem_plan", 10, 5, 100, 200)
      Traceback (most recent call last):
      ...
      ValueError: cem_plan: top_k=200 is larger than num_candidates=100; pass top_k <= num_candidates.
    """
    for name, value in (
        ("planning_horizon", horizon),
        ("optim_steps", optim_steps),
        ("num_candidates", num_candidates),
        ("top_k", top_k),
    ):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{owner}: {name} must be a Python int, got {value!r}.")
        if value < 1:
            raise ValueError(f"{owner}: {name} must be at least 1, got {value}.")
    if top_k > num_candidates:
        raise ValueError(
            f"{owner}: top_k={top_k} is larger than num_candidates={num_candidates}; pass top_k <= num_candidates."
        )


def _number(value: Any) -> np.ndarray | None:
    """``value`` as a NumPy array where it is a Python/NumPy number or array; None otherwise
    (a JAX array or tracer is not read: checks never sync with the device)."""
    if isinstance(value, (Real, np.ndarray, np.generic)):
        return np.asarray(value)
    return None


def check_temperature(owner: str, temperature: Any) -> None:
    """MPPI's temperature must be a positive, finite number (where it is a Python/NumPy number).

    Examples:
      >>> check_temperature("mppi_plan", float("inf"))
      Traceback (most recent call last):
      ...
      ValueError: mppi_plan: temperature must be a positive, finite number, got inf (larger is ...
    """
    t = _number(temperature)
    if t is not None:
        if t.ndim != 0 or not (np.isfinite(t) and t > 0):
            raise ValueError(
                f"{owner}: temperature must be a positive, finite number, got {temperature!r} "
                "(larger is greedier; every finite value works without overflow)."
            )


def check_plan_options(
    owner: str,
    *,
    init_std: Any = 1.0,
    min_std: Any = 0.0,
    discount: Any = 1.0,
    momentum: Any = 0.0,
    keep_elites: Any = 0,
    noise_beta: Any = 0.0,
    action_low: Any = None,
    action_high: Any = None,
) -> None:
    """Raises naming ``owner`` for planner options no plan can use (NaN, inf, out of range).

    Only Python/NumPy numbers and arrays are checked (JAX arrays are left alone: no host sync).
    ``init_std`` positive and finite; ``min_std`` and ``discount`` finite and ``>= 0``;
    ``momentum`` in ``[0, 1)``; ``noise_beta`` finite; ``keep_elites`` an int ``>= 0``;
    ``action_low`` / ``action_high`` not NaN, ``low <= high``.

    Examples:
      >>> check_plan_options("cem_plan", momentum=1.0)
      Traceback (most recent call last):
      ...
      ValueError: cem_plan: momentum must be in [0, 1), got 1.0 (the weight of the previous ...
    """
    std = _number(init_std)
    if std is not None and not (np.all(np.isfinite(std)) and np.all(std > 0)):
        raise ValueError(f"{owner}: init_std must be positive and finite, got {init_std!r}.")
    for name, value in (("min_std", min_std), ("discount", discount)):
        v = _number(value)
        if v is not None and not (np.all(np.isfinite(v)) and np.all(v >= 0)):
            raise ValueError(f"{owner}: {name} must be finite and >= 0, got {value!r}.")
    m = _number(momentum)
    if m is not None and not (m.ndim == 0 and 0 <= m < 1):
        raise ValueError(
            f"{owner}: momentum must be in [0, 1), got {momentum!r} (the weight of the previous mean "
            "and std; 1 would never move them)."
        )
    beta = _number(noise_beta)
    if beta is not None and not (beta.ndim == 0 and np.isfinite(beta)):
        raise ValueError(f"{owner}: noise_beta must be a finite number (0 is white noise), got {noise_beta!r}.")
    if isinstance(keep_elites, bool) or not isinstance(keep_elites, int) or keep_elites < 0:
        raise ValueError(f"{owner}: keep_elites must be a Python int >= 0, got {keep_elites!r}.")
    low, high = _number(action_low), _number(action_high)
    for name, v, given in (("action_low", low, action_low), ("action_high", high, action_high)):
        if v is not None and np.any(np.isnan(v)):
            raise ValueError(f"{owner}: {name} must not be NaN, got {given!r}.")
    if low is not None and high is not None and np.any(low > high):
        raise ValueError(f"{owner}: action_low={action_low!r} is above action_high={action_high!r}.")


def mask_post_done_reward(rewards: ArrayLike, dones: ArrayLike) -> jax.Array:
    """Zeroes the rewards after the first done along the last (time) axis, as TorchRL 0.14.1.

    The reward at the first done step itself is kept: it is the transition into the terminal state.

    Args:
      rewards: ``[..., H]``.
      dones: boolean, ``[..., H]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> mask_post_done_reward(jnp.ones(4), jnp.array([False, True, False, True])).tolist()
      [1.0, 1.0, 0.0, 0.0]
    """
    rewards, dones = jnp.asarray(rewards), jnp.asarray(dones, bool)
    done_before = jnp.cumsum(dones, axis=-1) - dones > 0  # TorchRL: cumsum(done) > done
    return jnp.where(done_before, jnp.zeros_like(rewards), rewards)


def discounted_plan_return(
    rewards: ArrayLike, dones: ArrayLike | None, tail_value: ArrayLike | None = None, discount: float = 1.0
) -> jax.Array:
    """``sum_t discount**t * r_t (masked after the first done) + discount**H * V(s_H)``.

    The tail value (TD-MPC) counts only when no step of the sequence was done.

    Args:
      rewards: ``[..., H]``; dones: boolean ``[..., H]``, or None for a model that never ends
        (nothing to mask); tail_value: ``[...]`` or None.
      discount: the per-step discount; 1.0 sums the rewards as TorchRL does.

    Returns:
      ``[...]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> r, d = jnp.ones(3), jnp.zeros(3, bool)
      >>> float(discounted_plan_return(r, d, jnp.float32(10.0), discount=0.5))
      3.0
    """
    rewards = jnp.asarray(rewards)
    horizon = rewards.shape[-1]
    if dones is not None:
        dones = jnp.asarray(dones, bool)
        rewards = mask_post_done_reward(rewards, dones)
    if isinstance(discount, Real) and discount == 1.0:  # a static shortcut: TorchRL's plain sum, no weights
        value = rewards.sum(axis=-1)
    else:
        value = rewards @ jnp.asarray(discount, rewards.dtype) ** jnp.arange(horizon, dtype=rewards.dtype)
    if tail_value is not None:
        tail = jnp.asarray(discount, rewards.dtype) ** horizon * jnp.asarray(tail_value, rewards.dtype)
        if dones is not None:
            tail = jnp.where(~jnp.any(dones, axis=-1), tail, jnp.zeros_like(tail))
        value = value + tail
    return value


def _model_step(dynamics_fn, reward_fn, done_fn, step_fn, owner: str) -> Callable:
    """One ``(state, action) -> (next_state, reward, done)`` from either form of the model."""
    if step_fn is not None:
        if dynamics_fn is not None or reward_fn is not None or done_fn is not None:
            raise ValueError(f"{owner}: pass either step_fn or dynamics_fn/reward_fn/done_fn, not both.")
        return step_fn
    if dynamics_fn is None or reward_fn is None:
        raise ValueError(f"{owner}: the model needs dynamics_fn and reward_fn (or one step_fn).")

    def step(state, action):
        next_state = dynamics_fn(state, action)
        reward = reward_fn(state, action, next_state)
        done = jnp.zeros((), bool) if done_fn is None else done_fn(state, action, next_state)
        return next_state, reward, done

    return step


def plan_rollout(init_state: Any, actions: ArrayLike, step: Callable) -> tuple[jax.Array, jax.Array, Any]:
    """Rolls one state out under every candidate sequence: vmapped candidates, scanned horizon.

    Args:
      init_state: one state (any pytree), shared by the candidates.
      actions: ``[C, H, *A]``.
      step: ``(state, action) -> (next_state, reward, done)``; reward and done are scalars.

    Returns:
      ``(rewards [C, H], dones [C, H] bool, next_states)``, ``next_states`` with leaves
      ``[C, H, ...]``. Unused outputs cost nothing under ``jit`` (the scan drops them).

    Examples:
      >>> import jax.numpy as jnp
      >>> step = lambda s, a: (s + a, -(s + a) ** 2, s + a > 1.5)
      >>> r, d, s = plan_rollout(jnp.float32(0.0), jnp.ones((2, 3)), step)
      >>> r.tolist(), d.tolist()
      ([[-1.0, -4.0, -9.0], [-1.0, -4.0, -9.0]], [[False, True, True], [False, True, True]])
    """

    def one(seq):
        def body(state, action):
            next_state, reward, done = step(state, action)
            return next_state, (jnp.reshape(reward, ()), jnp.reshape(done, ()).astype(bool), next_state)

        _, out = jax.lax.scan(body, init_state, seq)
        return out

    return jax.vmap(one)(jnp.asarray(actions))


def shift_plan(mean: ArrayLike, fill: str | ArrayLike = "zero") -> jax.Array:
    """Shifts a plan one step forward in time, to warm-start the next plan in a closed loop.

    Args:
      mean: one plan, ``[H, *A]`` (vmap for a batch of plans).
      fill: the new last step: ``"zero"`` (the prior mean, as TD-MPC), ``"last"`` (repeat the old
        last step) or an array of shape ``[*A]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> shift_plan(jnp.array([1.0, 2.0, 3.0])).tolist()
      [2.0, 3.0, 0.0]
      >>> shift_plan(jnp.array([1.0, 2.0, 3.0]), fill="last").tolist()
      [2.0, 3.0, 3.0]
    """
    mean = jnp.asarray(mean)
    if mean.ndim < 1:
        raise ValueError(f"shift_plan: the plan needs a time axis first, got shape {mean.shape}.")
    if isinstance(fill, str):
        if fill not in ("zero", "last"):
            raise ValueError(f"shift_plan: fill must be 'zero', 'last' or an array, got {fill!r}.")
        last = jnp.zeros_like(mean[-1]) if fill == "zero" else mean[-1]
    else:
        last = jnp.asarray(fill, mean.dtype)
        if last.shape != mean.shape[1:]:
            raise ValueError(f"shift_plan: fill has shape {last.shape}, expected one step {mean.shape[1:]}.")
    return jnp.concatenate([mean[1:], last[None]], axis=0)


def _initial(init_mean, init_std, horizon: int, action_shape, dtype, owner: str):
    if init_mean is None:
        if action_shape is None:
            raise ValueError(f"{owner}: pass action_shape, or an init_mean of shape [horizon, *action_shape].")
        mean = jnp.zeros((horizon, *action_shape), dtype)
    else:
        mean = jnp.asarray(init_mean, dtype)
        wrong_action = action_shape is not None and mean.shape[1:] != tuple(action_shape)
        if mean.ndim < 1 or mean.shape[0] != horizon or wrong_action:
            expected = "[horizon, *A]" if action_shape is None else (horizon, *action_shape)
            raise ValueError(f"{owner}: init_mean has shape {mean.shape}, expected {expected} with horizon={horizon}.")
    std = jnp.broadcast_to(jnp.asarray(init_std, dtype), mean.shape)
    return mean, std


def _projection(action_low, action_high, project_fn, owner: str) -> Callable:
    if project_fn is not None:
        if action_low is not None or action_high is not None:
            raise ValueError(f"{owner}: pass either project_fn or action_low/action_high, not both.")
        return project_fn
    if action_low is None and action_high is None:
        return lambda a: a
    low = -jnp.inf if action_low is None else action_low
    high = jnp.inf if action_high is None else action_high
    return lambda a: jnp.clip(
        a, jnp.broadcast_to(jnp.asarray(low, a.dtype), a.shape), jnp.broadcast_to(jnp.asarray(high, a.dtype), a.shape)
    )


def colored_noise(key: jax.Array, shape: tuple[int, ...], beta: float, dtype: Any = jnp.float32) -> jax.Array:
    """Gaussian noise with power spectrum ``1 / f**beta`` along axis 1 (time), unit variance.

    ``beta=0`` is white noise; larger ``beta`` gives smoother, lower-frequency sequences (iCEM,
    Pinneri et al. 2020, use ``beta`` 2-3 for swinging tasks). As the ``colorednoise`` package's
    ``powerlaw_psd_gaussian`` (Timmer & Koenig 1995), for ``shape = [C, H, *A]``.

    Examples:
      >>> import jax
      >>> colored_noise(jax.random.key(0), (4, 10, 1), 2.0).shape
      (4, 10, 1)
    """
    if beta == 0:
        return jax.random.normal(key, shape, dtype)
    horizon = shape[1]
    freqs = jnp.fft.rfftfreq(horizon)
    scale = jnp.maximum(freqs, 1.0 / horizon) ** (-beta / 2.0)
    weights = scale[1:]
    if horizon % 2 == 0:
        weights = weights.at[-1].multiply(0.5)
    sigma = 2.0 * jnp.sqrt(jnp.sum(weights**2)) / horizon
    moved = (shape[0], *shape[2:], freqs.shape[0])
    kr, ki = jax.random.split(key)
    scale = jnp.reshape(scale, (1,) * (len(moved) - 1) + scale.shape)  # explicit broadcast over [C, *A]
    real = jax.random.normal(kr, moved) * scale
    imag = jax.random.normal(ki, moved) * scale
    if horizon % 2 == 0:
        imag = imag.at[..., -1].set(0.0)
        real = real.at[..., -1].multiply(jnp.sqrt(2.0))
    imag = imag.at[..., 0].set(0.0)
    real = real.at[..., 0].multiply(jnp.sqrt(2.0))
    noise = jnp.fft.irfft(real + 1j * imag, n=horizon, axis=-1) / sigma
    return jnp.moveaxis(noise, -1, 1).astype(dtype)


def _optimise(
    key,
    init_state,
    step,
    score,
    refit,
    *,
    horizon,
    optim_steps,
    num_candidates,
    top_k,
    project,
    mean,
    std,
    min_std,
    momentum=0.0,
    keep_elites=0,
    noise_beta=0.0,
    return_best=False,
) -> PlanResult:
    """The loop both planners share: sample, project, roll out, score, keep the top k, refit.

    Opt-in (iCEM, Pinneri et al. 2020; defaults give TorchRL's loop): ``momentum`` blends the
    refit into the previous mean/std; ``keep_elites`` of the best sequences so far (at first: the
    initial mean, e.g. the shifted previous plan) replace as many samples in the next iteration;
    ``noise_beta`` colours the sampling noise along time.
    """
    keep = min(keep_elites, num_candidates)
    elites0 = jnp.broadcast_to(project(mean), (max(keep, 1), *mean.shape))

    def iteration(carry, key):
        mean, std, kept, best, best_value = carry
        noise = colored_noise(key, (num_candidates, *mean.shape), noise_beta, mean.dtype)
        actions = project(mean[None] + std[None] * noise)
        if keep:
            actions = actions.at[:keep].set(kept)
        values = score(*plan_rollout(init_state, actions, step))
        # top_k ranks NaN first: a NaN return (a model that diverged there) ranks last instead,
        # with -inf, and neither counts as an elite in the refit.
        values = jnp.where(jnp.isnan(values), -jnp.inf, values)
        top_values, index = jax.lax.top_k(values, top_k)
        elites = actions[index]
        valid = top_values > -jnp.inf
        better = top_values[0] > best_value
        best = jnp.where(better, elites[0], best)
        best_value = jnp.where(better, top_values[0], best_value)
        new_mean, new_std = refit(top_values, elites, valid)
        # No candidate with a number for a return: nothing to learn from, keep the distribution.
        new_mean, new_std = jnp.where(valid[0], new_mean, mean), jnp.where(valid[0], new_std, std)
        if momentum:
            m = jnp.asarray(momentum, mean.dtype)
            new_mean, new_std = m * mean + (1 - m) * new_mean, m * std + (1 - m) * new_std
        if min_std:
            new_std = jnp.maximum(new_std, jnp.asarray(min_std, new_std.dtype))
        kept = elites[:keep] if keep and keep <= top_k else kept
        if keep > top_k:
            kept = kept.at[:top_k].set(elites)
        return (new_mean, new_std, kept, best, best_value), None

    init = (mean, std, elites0, project(mean), jnp.asarray(-jnp.inf, jnp.float32))
    (mean, std, _, best, _), _ = jax.lax.scan(iteration, init, jax.random.split(key, optim_steps))
    if return_best:
        return PlanResult(best[0], best, std)
    return PlanResult(mean[0], mean, std)


def _default_score(value_fn, discount, can_end: bool) -> Callable:
    def score(rewards, dones, next_states):
        dones = dones if can_end else None  # no done model: nothing to mask (and nothing computed)
        tail = None
        if value_fn is not None:
            final = jax.tree.map(lambda x: x[:, -1], next_states)
            tail = jnp.reshape(jax.vmap(value_fn)(final), rewards.shape[:1])
        return discounted_plan_return(rewards, dones, tail, discount)

    return score


def cem_plan(
    key: jax.Array,
    init_state: Any,
    dynamics_fn: Callable | None = None,
    reward_fn: Callable | None = None,
    *,
    horizon: int,
    optim_steps: int,
    num_candidates: int,
    top_k: int,
    action_shape: tuple[int, ...] | None = None,
    action_low: ArrayLike | None = None,
    action_high: ArrayLike | None = None,
    project_fn: Callable | None = None,
    init_mean: ArrayLike | None = None,
    init_std: ArrayLike = 1.0,
    min_std: float = 0.0,
    momentum: float = 0.0,
    keep_elites: int = 0,
    noise_beta: float = 0.0,
    return_best: bool = False,
    done_fn: Callable | None = None,
    value_fn: Callable | None = None,
    step_fn: Callable | None = None,
    discount: float = 1.0,
    dtype: Any = jnp.float32,
) -> PlanResult:
    """Cross-entropy method planning (Rubinstein 1999; PETS, Chua et al. 2018): TorchRL's CEM loop.

    Each of ``optim_steps`` iterations draws ``num_candidates`` sequences ``mean + std * N(0, I)``,
    projects them (clip to ``[action_low, action_high]`` or ``project_fn``), scores each by its
    return (`discounted_plan_return`, rewards after the first done zeroed, plus
    ``discount**H * value_fn(s_H)`` if given), and sets ``mean``/``std`` to the mean and std of the
    ``top_k`` best. The std is TorchRL's unbiased one for ``top_k > 1``, and 0 for ``top_k = 1``
    (TorchRL: NaN); ``min_std`` floors it.

    Returns that are not a number: a NaN or ``-inf`` return (a model that diverged there) ranks
    last and is no elite, so the refit uses only the elites with a number for a return (where
    ``lax.top_k`` alone ranks NaN first); ``+inf`` ranks first. An iteration in which no candidate
    has one keeps the previous mean and std (floored by ``min_std``): a model that is NaN
    everywhere returns the initial plan.

    Args:
      key: a PRNG key; the same key gives the same plan.
      init_state: one state (any pytree); vmap for a batch.
      dynamics_fn, reward_fn, done_fn, value_fn, step_fn: the model (module docstring).
      horizon, optim_steps, num_candidates, top_k: static sizes; ``1 <= top_k <= num_candidates``.
      action_shape: ``A``; may be omitted when ``init_mean`` is given.
      action_low, action_high / project_fn: how candidates are kept valid.
      init_mean: ``[H, *A]``, default zeros (TorchRL); the shifted previous mean warm-starts.
      init_std: scalar or ``[H, *A]``, positive and finite, default 1.0 (TorchRL).
      min_std: floor of the refitted std, finite and ``>= 0``, default 0.
      momentum, keep_elites, noise_beta, return_best: iCEM's options (off by default):
        ``momentum`` in ``[0, 1)`` blends the previous mean/std into the refit; ``keep_elites``
        (an int ``>= 0``) of the best sequences are carried into the next iteration's samples;
        ``noise_beta`` (finite) colours the noise along time (`colored_noise`); ``return_best``
        returns the best sequence seen instead of the final mean.
      discount: per-step discount, finite and ``>= 0``, default 1.0 (TorchRL sums rewards).
      dtype: the actions' dtype.

    Returns:
      A `PlanResult` ``(action [*A], mean [H, *A], std [H, *A])``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> # a point that should reach 1.0: reward -(s' - 1)^2
      >>> plan = cem_plan(jax.random.key(0), jnp.float32(0.0), lambda s, a: s + a,
      ...                 lambda s, a, s2: -(s2 - 1.0) ** 2, horizon=3, optim_steps=5,
      ...                 num_candidates=200, top_k=20, action_shape=())
      >>> plan.mean.shape, abs(float(plan.action) - 1.0) < 0.2
      ((3,), True)
    """
    owner = "cem_plan"
    check_planning_args(owner, horizon, optim_steps, num_candidates, top_k)
    check_plan_options(
        owner,
        init_std=init_std,
        min_std=min_std,
        discount=discount,
        momentum=momentum,
        keep_elites=keep_elites,
        noise_beta=noise_beta,
        action_low=action_low,
        action_high=action_high,
    )
    step = _model_step(dynamics_fn, reward_fn, done_fn, step_fn, owner)
    mean, std = _initial(init_mean, init_std, horizon, action_shape, dtype, owner)
    ddof = 1 if top_k > 1 else 0  # one elite has no spread: 0, where TorchRL's N - 1 gives NaN

    def refit(_, elites, valid):
        plain = jnp.mean(elites, axis=0), jnp.std(elites, axis=0, ddof=ddof)
        # Elites whose return is NaN or -inf are left out (fewer finite returns than top_k).
        w = jnp.reshape(valid, (top_k,) + (1,) * (elites.ndim - 1)).astype(elites.dtype)
        n = jnp.sum(w, axis=0)
        m = jnp.sum(w * elites, axis=0) / jnp.maximum(n, 1)
        var = jnp.sum(w * (elites - m[None]) ** 2, axis=0) / jnp.maximum(n - 1, 1)
        masked = m, jnp.sqrt(var)
        return jax.tree.map(lambda a, b: jnp.where(jnp.all(valid), a, b), plain, masked)

    score = _default_score(value_fn, discount, done_fn is not None or step_fn is not None)
    return _optimise(
        key,
        init_state,
        step,
        score,
        refit,
        horizon=horizon,
        optim_steps=optim_steps,
        num_candidates=num_candidates,
        top_k=top_k,
        project=_projection(action_low, action_high, project_fn, owner),
        mean=mean,
        std=std,
        min_std=min_std,
        momentum=momentum,
        keep_elites=keep_elites,
        noise_beta=noise_beta,
        return_best=return_best,
    )


def mppi_plan(
    key: jax.Array,
    init_state: Any,
    dynamics_fn: Callable | None = None,
    reward_fn: Callable | None = None,
    *,
    horizon: int,
    optim_steps: int,
    num_candidates: int,
    top_k: int,
    temperature: ArrayLike = 1.0,
    advantage_fn: Callable | None = None,
    action_shape: tuple[int, ...] | None = None,
    action_low: ArrayLike | None = None,
    action_high: ArrayLike | None = None,
    project_fn: Callable | None = None,
    init_mean: ArrayLike | None = None,
    init_std: ArrayLike = 1.0,
    min_std: float = 0.0,
    momentum: float = 0.0,
    keep_elites: int = 0,
    noise_beta: float = 0.0,
    return_best: bool = False,
    done_fn: Callable | None = None,
    value_fn: Callable | None = None,
    step_fn: Callable | None = None,
    discount: float = 1.0,
    dtype: Any = jnp.float32,
) -> PlanResult:
    """Model predictive path integral planning (Williams et al., 2017): TorchRL's MPPI loop.

    As `cem_plan`, but the ``top_k`` elites are averaged with weights ``softmax(temperature *
    value)``: TorchRL's meaning of ``temperature`` (it multiplies the value, an inverse
    temperature: larger is greedier), computed with the maximum subtracted, so values of 1e4 do
    not overflow where TorchRL's ``exp`` gives inf/NaN. The std is the weighted (biased) std.
    NaN and ``-inf`` returns weigh 0 and the all-NaN iteration keeps the distribution, as in
    `cem_plan`.

    Args:
      temperature: multiplies the values before the softmax; positive and finite (inf and NaN
        raise). The values are normalised first (the best valid one is 0), so no finite
        temperature overflows: ``1e38`` is a (finite) greedy limit. NaN and ``-inf`` returns
        weigh 0; ``+inf`` ones weigh as the largest float.
      advantage_fn: ``(rewards [H], dones [H], next_states) -> value`` of one candidate (rewards
        already zeroed after the first done, as TorchRL writes them back before its advantage
        module); default the discounted return plus the ``value_fn`` tail, as `cem_plan` scores.

    The other arguments are `cem_plan`'s.

    Returns:
      A `PlanResult`.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> plan = mppi_plan(jax.random.key(0), jnp.float32(0.0), lambda s, a: s + a,
      ...                  lambda s, a, s2: -(s2 - 1.0) ** 2, horizon=3, optim_steps=5,
      ...                  num_candidates=200, top_k=20, temperature=10.0, action_shape=())
      >>> abs(float(plan.action) - 1.0) < 0.2
      True
    """
    owner = "mppi_plan"
    check_planning_args(owner, horizon, optim_steps, num_candidates, top_k)
    check_plan_options(
        owner,
        init_std=init_std,
        min_std=min_std,
        discount=discount,
        momentum=momentum,
        keep_elites=keep_elites,
        noise_beta=noise_beta,
        action_low=action_low,
        action_high=action_high,
    )
    check_temperature(owner, temperature)
    step = _model_step(dynamics_fn, reward_fn, done_fn, step_fn, owner)
    mean, std = _initial(init_mean, init_std, horizon, action_shape, dtype, owner)
    if advantage_fn is None:
        score = _default_score(value_fn, discount, done_fn is not None or step_fn is not None)
    else:

        def score(rewards, dones, next_states):
            values = jax.vmap(advantage_fn)(mask_post_done_reward(rewards, dones), dones, next_states)
            return jnp.reshape(values, rewards.shape[:1])

    def refit(values, elites, valid):
        # Normalised before scaling, so no finite temperature overflows: with +inf clipped to the
        # largest float and m the best valid value, d = v - m is <= 0, and clamped to the float
        # range where the difference itself overflows; T * d is then finite or -inf (weight 0),
        # never NaN or +inf, for every finite T > 0. NaN and -inf returns get weight 0.
        finfo = jnp.finfo(values.dtype)
        v = jnp.clip(values, finfo.min, finfo.max)
        d = jnp.maximum(v - jnp.max(jnp.where(valid, v, finfo.min)), finfo.min)
        logits = jnp.where(valid, jnp.asarray(temperature, values.dtype) * d, -jnp.inf)
        weights = jax.nn.softmax(logits)
        new_mean = jnp.tensordot(weights.astype(elites.dtype), elites, axes=1)
        var = jnp.tensordot(weights.astype(elites.dtype), (elites - new_mean[None]) ** 2, axes=1)
        return new_mean, jnp.sqrt(var)

    return _optimise(
        key,
        init_state,
        step,
        score,
        refit,
        horizon=horizon,
        optim_steps=optim_steps,
        num_candidates=num_candidates,
        top_k=top_k,
        project=_projection(action_low, action_high, project_fn, owner),
        mean=mean,
        std=std,
        min_std=min_std,
        momentum=momentum,
        keep_elites=keep_elites,
        noise_beta=noise_beta,
        return_best=return_best,
    )
