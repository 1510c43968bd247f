"""Helpers shared by the DQN and Rainbow-lite recipes: target networks, n-step returns, replay, checks.

* `target_update`: a periodic hard (``tau = 1``) or soft (Polyak) copy of the online parameters.
* `n_step_return`: the discounted sum of up to ``n`` rewards, cut at the first episode end.
* `NStepWindow` / `n_step_push`: the last ``n`` transitions of each environment, turned into one
  n-step transition per environment and step (TorchRL's ``MultiStep`` transform, as a pure pair).
* `add_transition`: one step of every environment into the replay (through the n-step window).
* `discrete_env`, `discrete_envs`, `one_step_transition`: the environments and the entries the replay keeps.
* `FlatObservation`: a network on flattened observations (MinAtar's frames, bsuite's grids).
* `positive`, `in_range`, `check_layout`: the config checks both configs share.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxrl_modules.data.specs import Categorical
from jaxrl_modules.data.tensordict import TensorDict, cat
from jaxrl_modules.recipes.replay import ReplayBuffer, replay_add, replay_init

__all__ = [
    "FlatObservation",
    "NStepWindow",
    "add_transition",
    "check_layout",
    "discrete_env",
    "discrete_envs",
    "flat_observations",
    "in_range",
    "n_step_init",
    "n_step_push",
    "n_step_return",
    "observation_ndim",
    "one_step_transition",
    "positive",
    "replay_and_window_init",
    "target_update",
]


def target_update(online: Any, target: Any, tau: float, do_update: ArrayLike = True) -> Any:
    """``tau * online + (1 - tau) * target`` where ``do_update``, else ``target``; leaf by leaf.

    ``tau = 1`` (a Python number, static) is DQN's hard copy, without the arithmetic.

    Args:
      online: the online parameters (a pytree).
      target: the target parameters (same structure).
      tau: the Polyak weight, in (0, 1].
      do_update: a boolean scalar (traced or not): whether to update now.

    Returns:
      The new target parameters.

    Examples:
      >>> import jax.numpy as jnp
      >>> target_update({"w": jnp.ones(2)}, {"w": jnp.zeros(2)}, tau=0.25)["w"].tolist()
      [0.25, 0.25]
      >>> target_update({"w": jnp.ones(2)}, {"w": jnp.zeros(2)}, 1.0, False)["w"].tolist()
      [0.0, 0.0]
    """
    if tau == 1.0:
        mix = lambda o, t: o  # noqa: E731
    else:
        mix = lambda o, t: (tau * o + (1.0 - tau) * t).astype(t.dtype)  # noqa: E731
    # A cond, not a select: most steps copy nothing (under vmap it becomes a select anyway).
    return jax.lax.cond(do_update, lambda: jax.tree.map(mix, online, target), lambda: target)


def n_step_return(
    rewards: ArrayLike, terminated: ArrayLike, done: ArrayLike, gamma: float
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """The n-step return from the first of ``n`` consecutive steps, cut at the first episode end.

    With ``m`` the number of steps up to and including the first ``done`` (``n`` if none),
    ``G = sum_{i < m} gamma^i r_i``; the target bootstraps from the next observation of step
    ``m - 1`` with weight ``gamma^m``, unless the episode terminated within those ``m`` steps (a
    truncated episode still bootstraps, from its final observation).

    Args:
      rewards: ``[n, *B]`` rewards, step 0 the oldest.
      terminated: ``[n, *B]`` booleans: the episode terminated at this step.
      done: ``[n, *B]`` booleans: terminated or truncated at this step.
      gamma: the discount.

    Returns:
      ``(G [*B], steps [*B] int32 = m, terminated [*B] bool)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> r = jnp.ones((3, 2))
      >>> done = jnp.array([[False, False], [False, True], [False, False]])
      >>> G, steps, term = n_step_return(r, done, done, 0.5)
      >>> G.tolist(), steps.tolist(), term.tolist()
      ([1.75, 1.5], [3, 2], [False, True])
    """
    rewards = jnp.asarray(rewards)
    done = jnp.asarray(done, bool)
    n = rewards.shape[0]
    # alive[i]: no episode ended before step i, so step i belongs to the return.
    alive = jnp.cumprod(jnp.concatenate([jnp.ones_like(done[:1]), ~done[:-1]], axis=0), axis=0).astype(bool)
    powers = jnp.asarray(gamma, rewards.dtype) ** jnp.arange(n, dtype=rewards.dtype)
    powers = jnp.reshape(powers, (n,) + (1,) * (rewards.ndim - 1))
    G = jnp.sum(jnp.where(alive, powers * rewards, 0.0), axis=0)
    steps = jnp.sum(alive, axis=0, dtype=jnp.int32)
    ended = jnp.any(alive & jnp.asarray(terminated, bool), axis=0)
    return G, steps, ended


class NStepWindow(NamedTuple):
    """The last ``n`` one-step transitions of each environment and how many are real."""

    transitions: TensorDict  # batch [n, E]: observation, action, ("next", observation/reward/terminated/done)
    pushes: jax.Array  # int32 scalar: how many pushes so far (saturates at n); not "count", tuple's method


def n_step_init(example: TensorDict, n: int) -> NStepWindow:
    """An empty window of ``n`` steps shaped like the one-step transitions ``example`` ``[E]``."""
    zeros = example.apply(lambda x: jnp.zeros((n, *x.shape), x.dtype))
    return NStepWindow(zeros.reshape(n, *example.batch_size), jnp.zeros((), jnp.int32))


def n_step_push(window: NStepWindow, step: TensorDict, gamma: float) -> tuple[NStepWindow, TensorDict, jax.Array]:
    """Adds one step of every environment; returns the n-step transition that starts ``n - 1`` steps ago.

    Args:
      window: the state from `n_step_init` / the last push.
      step: ``[E]`` one-step transitions: ``observation``, ``action`` and ``("next", k)`` for
        ``k`` in ``observation``, ``reward`` ``[E, 1]``, ``terminated`` and ``done`` ``[E, 1]``.
      gamma: the discount.

    Returns:
      ``(window, transition, valid)``: ``transition`` ``[E]`` holds the oldest step's
      ``observation`` and ``action``, and under ``"next"`` the n-step ``reward`` (`n_step_return`),
      ``terminated``, the ``observation`` to bootstrap from and ``steps_to_next_obs`` (TorchRL's
      ``MultiStep`` key; the bootstrap weight is ``gamma ** steps_to_next_obs``). ``valid`` is
      False for the first ``n - 1`` pushes, whose oldest step is padding.
    """
    n = window.transitions.batch_size[0]
    steps = cat([window.transitions[1:], step[None]], dim=0) if n > 1 else step[None]
    nxt = steps["next"]
    G, count, terminated = n_step_return(nxt["reward"][..., 0], nxt["terminated"][..., 0], nxt["done"][..., 0], gamma)
    last = count - 1  # [E]: the step whose next observation the target bootstraps from
    obs = nxt["observation"]
    index = jnp.reshape(last, (1, last.shape[0]) + (1,) * (obs.ndim - 2))
    next_obs = jnp.take_along_axis(obs, index, axis=0)[0]
    first = steps[0]
    out = TensorDict(
        {
            "observation": first["observation"],
            "action": first["action"],
            "next": {
                "observation": next_obs,
                "reward": G[:, None],
                "terminated": terminated[:, None],
                "steps_to_next_obs": count[:, None],
            },
        },
        batch_size=first.batch_size,
    )
    pushes = jnp.minimum(window.pushes + 1, n)
    return NStepWindow(steps, pushes), out, pushes >= n


def positive(config: Any, *names: str) -> None:
    """Raise a ValueError naming the first of ``names`` whose config value is not > 0."""
    for name in names:
        value = getattr(config, name)
        if not value > 0:
            raise ValueError(f"{type(config).__name__}.{name} must be > 0, got {value!r}.")


def in_range(config: Any, name: str, low: float, high: float) -> None:
    """Raise a ValueError if ``low <= config.name <= high`` fails."""
    value = getattr(config, name)
    if not low <= value <= high:
        raise ValueError(f"{type(config).__name__}.{name} must be in [{low}, {high}], got {value!r}.")


def check_layout(config: Any) -> None:
    """Hidden sizes, update cadence, and a budget of at least one gradient step per chunk."""
    name = type(config).__name__
    cells = config.num_cells
    if not cells or not all(isinstance(c, int) and not isinstance(c, bool) and c > 0 for c in cells):
        raise ValueError(f"{name}.num_cells must be a non-empty tuple of positive ints, got {cells!r}.")
    if config.train_frequency % config.num_envs:
        raise ValueError(
            f"{name}.train_frequency={config.train_frequency} must be a multiple of "
            f"num_envs={config.num_envs} (one gradient step per so many steps of all envs)."
        )
    chunk = config.num_chunks * config.train_frequency
    if config.total_timesteps < chunk:
        raise ValueError(
            f"{name}.total_timesteps={config.total_timesteps} is smaller than one gradient step "
            f"per chunk: num_chunks * train_frequency = {chunk}. Raise total_timesteps or "
            "lower num_chunks."
        )
    usable = config.total_timesteps // chunk * chunk
    if usable <= config.learning_starts:
        raise ValueError(
            f"{name}.total_timesteps={config.total_timesteps} (used: {usable}, whole chunks) "
            f"gives no gradient step: learning starts after learning_starts="
            f"{config.learning_starts} steps."
        )


def discrete_env(config: Any, num_envs: int) -> Any:
    """A `GymnaxEnv` of ``num_envs`` environments with integer actions; a ValueError for other actions."""
    from jaxrl_modules.envs import GymnaxEnv

    env = GymnaxEnv(config.env_name, batch_size=(num_envs,), categorical_action_encoding=True)
    if not isinstance(env.action_spec, Categorical) or env.action_spec.shape != ():
        raise ValueError(
            f"{type(config).__name__}.env_name={config.env_name!r} has actions "
            f"{env.action_spec}; this recipe needs one discrete action."
        )
    return env


def discrete_envs(config: Any) -> tuple[Any, Any]:
    """Training and evaluation `GymnaxEnv` s with integer actions; a ValueError for other actions."""
    return discrete_env(config, config.num_envs), discrete_env(config, config.num_eval_envs)


def one_step_transition(td: TensorDict) -> TensorDict:
    """The entries of ``env.step``'s output that the replay keeps (and n-step returns need)."""
    return td.select(
        "observation", "action", ("next", "observation"), ("next", "reward"), ("next", "terminated"), ("next", "done")
    )


def replay_and_window_init(example: TensorDict, capacity: int, n: int, gamma: float) -> tuple[ReplayBuffer, Any]:
    """An empty replay ring for ``example``'s transitions ``[E]`` and, if ``n > 1``, an n-step window."""
    if n == 1:
        return replay_init(example.exclude(("next", "done")), capacity), None
    window = n_step_init(example, n)
    return replay_init(n_step_push(window, example, gamma)[1], capacity), window


def add_transition(buffer: ReplayBuffer, window: Any, step: TensorDict, gamma: float) -> tuple[ReplayBuffer, Any]:
    """Adds one step ``[E]`` of every environment: as is, or through the n-step window.

    Returns:
      ``(buffer, window)``. With a window, the first ``n - 1`` calls write padding past the
      stored rows without counting it (so it is never sampled and is overwritten next).
    """
    if window is None:
        return replay_add(buffer, step.exclude(("next", "done"))), None
    window, step, valid = n_step_push(window, step, gamma)
    added = replay_add(buffer, step)
    keep = lambda new, old: jnp.where(valid, new, old)  # noqa: E731
    return ReplayBuffer(added.storage, keep(added.position, buffer.position), keep(added.size, buffer.size)), window


class FlatObservation(nn.Module):
    """``net`` on observations ``[*B, *obs_shape]`` flattened to ``[*B, prod(obs_shape)]``.

    purejaxrl's ``FlattenObservationWrapper``, as a network wrapper: the recipes' MLPs then take
    any array observation (MinAtar's ``[10, 10, C]`` frames, bsuite's grids).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules.models import MLP
      >>> net = FlatObservation(MLP(out_features=3), obs_ndim=3)
      >>> x = jnp.ones((2, 10, 10, 4))
      >>> net.apply(net.init(jax.random.key(0), x), x).shape
      (2, 3)
    """

    net: nn.Module
    obs_ndim: int

    def __call__(self, x: jax.Array, exploration_type: Any = None) -> jax.Array:
        x = jnp.reshape(x, (*x.shape[: x.ndim - self.obs_ndim], -1))
        return self.net(x, exploration_type=exploration_type)


def flat_observations(net: nn.Module, obs_ndim: int) -> nn.Module:
    """``net`` itself for vector observations (``obs_ndim == 1``), else wrapped in `FlatObservation`."""
    return net if obs_ndim == 1 else FlatObservation(net, obs_ndim)


def observation_ndim(env: Any) -> int:
    """The number of dims of one observation of ``env`` (a `GymnaxEnv`)."""
    return len(env.observation_spec["observation"].shape)
