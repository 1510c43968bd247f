"""Rainbow-lite (Hessel et al., 2018, "Rainbow: Combining Improvements in Deep Reinforcement
Learning") as one jittable training run, in purejaxrl's style, from the public jaxrl_modules API.

Five of Rainbow's six parts: a dueling network (`DuelingMlpDQNet`) whose value and advantage
heads are noisy (`NoisyLinear`, which replaces e-greedy exploration), a distributional (C51) output read by a
`DistributionalQValueActor`, double-DQN action selection and n-step returns. Prioritized replay
is left out ("lite"): transitions go to a uniform replay ring. The target distribution is the C51
projection (`jaxrl_modules.functional.categorical_projection_uniform`) of the target network's
next-state distribution, at the action the online network prefers, shifted by the n-step return.

Noise cadence: a fresh noise sample (the ``"noise"`` RNG stream) for each environment step when
acting, and for each gradient step in the loss, independent for the online network (the same
sample at ``s`` and ``s'``) and the target network. Evaluation is greedy on the mean weights
(``exploration_type=DETERMINISTIC``: noisy layers add no noise).

Example::

    import jax
    from jaxrl_modules.recipes.rainbow import RainbowConfig, make_train
    state, metrics = jax.jit(make_train(RainbowConfig()))(jax.random.key(0))
    metrics["return"]  # [num_chunks] mean greedy evaluation return after each chunk
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrl_modules.data.specs import Categorical
from jaxrl_modules.data.tensordict import TensorDict
from jaxrl_modules.exploration_type import ExplorationType
from jaxrl_modules.functional.categorical_projection import categorical_projection_uniform
from jaxrl_modules.models.dueling import DuelingMlpDQNet
from jaxrl_modules.models.noisy import NoisyLinear
from jaxrl_modules.recipes import _dqn_common as C
from jaxrl_modules.recipes.common import Recipe, check_config, evaluate, renamed_fields
from jaxrl_modules.recipes.common import make_train as _make_train
from jaxrl_modules.recipes.replay import ReplayBuffer, replay_sample
from jaxrl_modules.rng import NOISE
from jaxrl_modules.tensordict_module.q_value_actor import DistributionalQValueActor

__all__ = [
    "RainbowConfig",
    "RainbowState",
    "categorical_double_q_loss",
    "make_actor",
    "make_policy",
    "make_recipe",
    "make_train",
]

GREEDY = ExplorationType.DETERMINISTIC
NOISY = ExplorationType.RANDOM


@renamed_fields({"lr": "learning_rate"})
@dataclasses.dataclass(frozen=True)
class RainbowConfig:
    """Rainbow-lite's hyperparameters; numbers of steps count environment steps (all envs together).

    The defaults are tuned for CartPole-v1 (and its speed on a CPU): a small network, 21 atoms on
    ``[0, 100]``, which holds CartPole's discounted returns (at most ``1 / (1 - 0.99)``). For
    another environment set ``v_min`` / ``v_max`` to cover its discounted returns.

    Attributes:
      env_name: a gymnax environment with discrete actions and array observations.
      total_timesteps: environment steps of the run (rounded down to whole chunks).
      num_envs: environments stepped in parallel.
      buffer_size: replay capacity, in (n-step) transitions.
      batch_size: transitions per gradient step.
      learning_rate: Adam's learning rate.
      adam_eps: Adam's epsilon.
      gamma: discount.
      n_steps: n-step returns.
      num_atoms, v_min, v_max: the C51 support, ``linspace(v_min, v_max, num_atoms)``.
      noisy_std: the noisy layers' initial noise scale (``std_init``).
      learning_starts: no gradient step until this many environment steps.
      train_frequency: environment steps between gradient steps (a multiple of ``num_envs``).
      target_update_interval: environment steps between target updates.
      tau: target update weight: 1 copies (hard), less averages (soft).
      num_cells: the shared feature network's sizes (ReLU, every layer activated); a tuple (a list is
        converted).
      head_cells: hidden width of the noisy value and advantage heads.
      num_chunks: evaluation points (and progress-bar ticks) of the run.
      num_eval_envs: environments of each greedy evaluation (one episode each).
    """

    env_name: str = "CartPole-v1"
    total_timesteps: int = 500_000
    num_envs: int = 10
    buffer_size: int = 10_000
    batch_size: int = 128
    learning_rate: float = 2.5e-4
    adam_eps: float = 1e-8
    gamma: float = 0.99
    n_steps: int = 3
    num_atoms: int = 21
    v_min: float = 0.0
    v_max: float = 100.0
    noisy_std: float = 0.5
    learning_starts: int = 10_000
    train_frequency: int = 10
    target_update_interval: int = 500
    tau: float = 1.0
    num_cells: tuple = (64,)
    head_cells: int = 64
    num_chunks: int = 25
    num_eval_envs: int = 16

    def __post_init__(self) -> None:
        if isinstance(self.num_cells, list):  # e.g. the demo's --set num_cells=[64,64]; kept hashable
            object.__setattr__(self, "num_cells", tuple(self.num_cells))
        check_config(self)
        C.positive(
            self,
            "total_timesteps",
            "num_envs",
            "buffer_size",
            "batch_size",
            "learning_rate",
            "adam_eps",
            "n_steps",
            "train_frequency",
            "target_update_interval",
            "tau",
            "head_cells",
            "num_chunks",
            "num_eval_envs",
        )
        C.in_range(self, "gamma", 0.0, 1.0)
        C.in_range(self, "tau", 0.0, 1.0)
        C.in_range(self, "learning_starts", 0, float("inf"))
        C.in_range(self, "noisy_std", 0.0, float("inf"))
        if self.num_atoms < 2:
            raise ValueError(f"RainbowConfig.num_atoms must be >= 2, got {self.num_atoms}.")
        if not (np.isfinite(self.v_min) and np.isfinite(self.v_max) and self.v_min < self.v_max):
            raise ValueError(f"RainbowConfig: v_min={self.v_min} must be below v_max={self.v_max} (both finite).")
        C.check_layout(self)


class RainbowState(NamedTuple):
    """The run's whole state (a pytree): the recipe's ``init`` makes it, ``update`` advances it."""

    td: TensorDict  # the environments' root TensorDict [num_envs]
    params: Any
    target_params: Any
    opt_state: Any
    buffer: ReplayBuffer
    window: Any  # NStepWindow when n_steps > 1, else None
    key: jax.Array
    steps: jax.Array  # int32: environment steps so far


def categorical_double_q_loss(
    log_probs: jax.Array,
    action: jax.Array,
    target_log_probs_next: jax.Array,
    next_action: jax.Array,
    reward: jax.Array,
    discount: jax.Array,
    terminated: jax.Array,
    v_min: float,
    v_max: float,
) -> jax.Array:
    """C51's cross-entropy loss with a double-DQN target, averaged over the batch.

    The target is the target network's next-state distribution at ``next_action`` (chosen by the
    online network: double DQN), projected after ``z -> r + discount (1 - terminated) z`` onto the
    support ``linspace(v_min, v_max, N)``; the loss is ``-sum_j target_j log p_j(s, a)``.

    Args:
      log_probs: ``[B, N, A]`` online log-probabilities at ``s`` (differentiated).
      action: ``[B]`` integer actions taken.
      target_log_probs_next: ``[B, N, A]`` target-network log-probabilities at ``s'``.
      next_action: ``[B]`` the online network's greedy actions at ``s'``.
      reward: ``[B]`` (n-step) rewards.
      discount: ``[B]`` or scalar, ``gamma ** steps``.
      terminated: ``[B]`` booleans; no bootstrap where True.
      v_min, v_max: the support's bounds (Python numbers).

    Returns:
      The scalar loss.

    Examples:
      >>> import jax.numpy as jnp
      >>> log_p = jnp.log(jnp.full((1, 3, 2), 1 / 3))
      >>> loss = categorical_double_q_loss(log_p, jnp.array([0]), log_p, jnp.array([1]), jnp.array([0.0]),
      ...                                  0.9, jnp.array([True]), -1.0, 1.0)
      >>> round(float(loss), 4)  # all target mass on z = 0: -log(1/3)
      1.0986
    """
    pick = lambda x, a: jnp.take_along_axis(x, a[:, None, None].astype(jnp.int32), axis=-1)[..., 0]  # noqa: E731
    probs_next = jnp.exp(pick(target_log_probs_next, next_action))
    target = categorical_projection_uniform(probs_next, v_min, v_max, reward, discount, terminated)
    return -jnp.mean(jnp.sum(jax.lax.stop_gradient(target) * pick(log_probs, action), axis=-1))


def make_actor(config: RainbowConfig, spec: Categorical, obs_ndim: int = 1) -> DistributionalQValueActor:
    """Dueling noisy C51 network -> log-softmax over atoms -> greedy action on the expected values.

    Observations of ``obs_ndim > 1`` dims (MinAtar's frames) are flattened for the MLPs.
    """
    head = {
        "num_cells": config.head_cells,
        "depth": 1,
        "activation_class": "ReLU",
        "layer_class": NoisyLinear,
        "layer_kwargs": {"std_init": config.noisy_std},
    }
    cells = list(config.num_cells)
    features = {
        "num_cells": cells[:-1],
        "out_features": cells[-1],
        "activation_class": "ReLU",
        "activate_last_layer": True,
    }
    net = DuelingMlpDQNet(
        out_features=(config.num_atoms, spec.n),
        out_features_value=(config.num_atoms, 1),
        mlp_kwargs_feature=features,
        mlp_kwargs_output=head,
    )
    support = np.linspace(config.v_min, config.v_max, config.num_atoms)
    return DistributionalQValueActor(C.flat_observations(net, obs_ndim), support=support, spec=spec)


def _greedy(actor: DistributionalQValueActor, variables: Any) -> Callable[[TensorDict], TensorDict]:
    def act(td: TensorDict) -> TensorDict:  # evaluate's scan carries td: add only the action
        return td.set("action", actor.apply(variables, td, exploration_type=GREEDY)["action"])

    return act


def make_policy(config: RainbowConfig, variables: Any) -> Callable[[TensorDict], TensorDict]:
    """The greedy policy of a run: ``policy(td) -> td`` with ``"action"`` written, jittable.

    The same function the recipe evaluates with (the noisy layers' mean weights, no noise):
    ``td`` holds ``"observation"`` ``[*B, *obs]`` (any batch), and the returned TensorDict is
    ``td`` with the greedy action ``[*B]`` added (nothing else). Every recipe has a
    ``make_policy(config, variables)`` of this meaning.

    Args:
      config: the run's `RainbowConfig` (it fixes the network and the environment's specs).
      variables: the actor's variables, ``{"params": RainbowState.params}``.

    Returns:
      ``policy(td) -> td``.

    Examples:
      >>> import jax
      >>> from jaxrl_modules.envs import GymnaxEnv
      >>> config = RainbowConfig()
      >>> state = make_recipe(config).init(jax.random.key(0))  # or a trained state: make_train's
      >>> policy = jax.jit(make_policy(config, {"params": state.params}))
      >>> env = GymnaxEnv("CartPole-v1", batch_size=(3,), categorical_action_encoding=True)
      >>> policy(env.reset(jax.random.key(1)))["action"].shape
      (3,)
    """
    with jax.ensure_compile_time_eval():  # the specs are constants, even if called under a trace
        env = C.discrete_env(config, 1)
    return _greedy(make_actor(config, env.action_spec, C.observation_ndim(env)), variables)


def make_recipe(config: RainbowConfig) -> Recipe:
    """Rainbow-lite as a `Recipe`: ``num_chunks`` chunks, each ending with a greedy evaluation.

    Args:
      config: a `RainbowConfig`.

    Returns:
      A `Recipe` whose ``update`` reports ``"return"`` (mean greedy evaluation return),
      ``"loss"`` (mean over the chunk's gradient steps, 0 before learning starts) and
      ``"steps"`` (environment steps so far).
    """
    if not isinstance(config, RainbowConfig):
        raise TypeError(f"make_recipe expects a RainbowConfig, got {type(config).__name__}.")
    env, eval_env = C.discrete_envs(config)
    actor = make_actor(config, env.action_spec, C.observation_ndim(env))
    optimizer = optax.adam(config.learning_rate, eps=config.adam_eps)
    env_steps_per_update = config.train_frequency // config.num_envs
    updates_per_chunk = config.total_timesteps // (config.num_chunks * config.train_frequency)
    max_steps = int(env.params.max_steps_in_episode)
    n = config.n_steps
    v_min, v_max = float(config.v_min), float(config.v_max)

    def distribution(params: Any, obs: jax.Array, key: jax.Array) -> TensorDict:
        td = TensorDict({"observation": obs}, batch_size=obs.shape[:1])
        return actor.apply({"params": params}, td, exploration_type=NOISY, rngs={NOISE: key})

    def init(key: jax.Array) -> RainbowState:
        k_env, k_params, k_run = jax.random.split(key, 3)
        td = env.reset(k_env)
        params = actor.init(k_params, td)["params"]  # noise comes from the "noise" stream at each call
        example = C.one_step_transition(env.step(actor.apply({"params": params}, td, exploration_type=GREEDY)))
        buffer, window = C.replay_and_window_init(example, config.buffer_size, n, config.gamma)
        return RainbowState(td, params, params, optimizer.init(params), buffer, window, k_run, jnp.zeros((), jnp.int32))

    def env_step(state: RainbowState, key: jax.Array) -> RainbowState:
        td = actor.apply({"params": state.params}, state.td, exploration_type=NOISY, rngs={NOISE: key})
        td, root = env.step_and_maybe_reset(td)
        buffer, window = C.add_transition(state.buffer, state.window, C.one_step_transition(td), config.gamma)
        root = root.select(*state.td.keys())  # the actor's outputs stay out of the carry
        return state._replace(td=root, buffer=buffer, window=window, steps=state.steps + config.num_envs)

    def learn(state: RainbowState, key: jax.Array) -> tuple[RainbowState, jax.Array]:
        k_sample, k_online, k_target = jax.random.split(key, 3)
        batch = replay_sample(state.buffer, k_sample, config.batch_size)
        nxt = batch["next"]
        steps = nxt["steps_to_next_obs"][:, 0] if n > 1 else 1
        discount = jnp.asarray(config.gamma, jnp.float32) ** steps
        target_next = distribution(state.target_params, nxt["observation"], k_target)["action_value"]
        both = jnp.concatenate([batch["observation"], nxt["observation"]], axis=0)

        def loss_fn(params):
            # One pass of the online network (one noise sample) over s and s': the log-probabilities
            # at s are differentiated, the greedy actions at s' select the target's (double DQN).
            out = distribution(params, both, k_online)
            log_probs = out["action_value"][: config.batch_size]
            next_action = jax.lax.stop_gradient(out["action"][config.batch_size :])
            return categorical_double_q_loss(
                log_probs,
                batch["action"],
                target_next,
                next_action,
                nxt["reward"][:, 0],
                discount,
                nxt["terminated"][:, 0],
                v_min,
                v_max,
            )

        loss, grads = jax.value_and_grad(loss_fn)(state.params)
        updates, opt_state = optimizer.update(grads, state.opt_state, state.params)
        return state._replace(params=optax.apply_updates(state.params, updates), opt_state=opt_state), loss

    def train_step(state: RainbowState, _) -> tuple[RainbowState, tuple[jax.Array, jax.Array]]:
        key, k_learn, *k_steps = jax.random.split(state.key, 2 + env_steps_per_update)
        state = state._replace(key=key)
        before = state.steps
        for k in k_steps:  # train_frequency // num_envs steps of every env (1 by default)
            state = env_step(state, k)
        learning = state.steps > config.learning_starts
        state, loss = jax.lax.cond(learning, learn, lambda s, k: (s, jnp.zeros((), jnp.float32)), state, k_learn)
        period = config.target_update_interval
        due = state.steps // period != before // period  # crossed a multiple of the interval
        target = C.target_update(state.params, state.target_params, config.tau, due)
        return state._replace(target_params=target), (loss, learning)

    def update(state: RainbowState) -> tuple[RainbowState, dict[str, jax.Array]]:
        state, (losses, learning) = jax.lax.scan(train_step, state, None, length=updates_per_chunk)
        key, k_eval = jax.random.split(state.key)

        greedy = _greedy(actor, {"params": state.params})
        metrics = {
            "return": evaluate(eval_env, greedy, k_eval, max_steps),
            "loss": jnp.sum(losses) / jnp.maximum(jnp.sum(learning), 1),
            "steps": state.steps,
        }
        return state._replace(key=key), metrics

    return Recipe(init, update, config.num_chunks, updates_per_chunk * config.train_frequency)


def make_train(config: RainbowConfig):
    """``train(key) -> (final RainbowState, metrics [num_chunks])``: the whole run, jittable and vmappable."""
    return _make_train(make_recipe(config))
