"""DQN (Mnih et al., 2015, "Human-level control through deep reinforcement learning") as one
jittable training run, in purejaxrl's style, from the public jaxrl_modules API.

The policy is TorchRL's: ``TensorDictSequential(QValueActor(MLP), EGreedyModule)``; the greedy
policy for evaluation is the same module called with ``exploration_type=DETERMINISTIC``. The
e-greedy schedule's step count lives in the variables' ``"schedule"`` collection, advanced by
``EGreedyModule.step``. Environments are `GymnaxEnv` with integer actions; transitions go to a
uniform replay ring (`jaxrl_modules.recipes.replay`); a target network is copied every
``target_update_interval`` environment steps (Polyak-averaged if ``tau < 1``).

The defaults are purejaxrl's CartPole DQN (itself CleanRL's): 10 environments, 500k steps, buffer
10k, batch 128, Adam 2.5e-4, epsilon 1 -> 0.05 over 250k steps, one update every 10 environment
steps after 10k, a hard target copy every 500 steps, gamma 0.99, a (120, 84) ReLU MLP. Two
departures: the target bootstraps through truncation (it uses ``terminated``, not ``done``, and
the episode's real final observation), and ``n_steps > 1`` gives n-step targets.

Example::

    import jax
    from jaxrl_modules.recipes.dqn import DQNConfig, make_train
    state, metrics = jax.jit(make_train(DQNConfig()))(jax.random.key(0))
    metrics["return"]  # [num_chunks] mean greedy evaluation return after each chunk
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxrl_modules.data.specs import Categorical
from jaxrl_modules.data.tensordict import TensorDict
from jaxrl_modules.exploration_type import ExplorationType
from jaxrl_modules.functional.exploration import linear_annealing
from jaxrl_modules.models.mlp import MLP
from jaxrl_modules.recipes import _dqn_common as C
from jaxrl_modules.recipes.common import Recipe, check_config, evaluate, renamed_fields
from jaxrl_modules.recipes.common import make_train as _make_train
from jaxrl_modules.recipes.replay import ReplayBuffer, replay_sample
from jaxrl_modules.rng import EXPLORATION
from jaxrl_modules.tensordict_module.exploration import EGreedyModule
from jaxrl_modules.tensordict_module.q_value_actor import QValueActor
from jaxrl_modules.tensordict_module.sequence import TensorDictSequential

__all__ = ["DQNConfig", "DQNState", "make_policy", "make_recipe", "make_train", "q_learning_loss"]

GREEDY = ExplorationType.DETERMINISTIC


@renamed_fields({"lr": "learning_rate", "eps_anneal_steps": "annealing_num_steps"})
@dataclasses.dataclass(frozen=True)
class DQNConfig:
    """DQN's hyperparameters; numbers of steps count environment steps (all environments together).

    Attributes:
      env_name: a gymnax environment with discrete actions and array observations.
      total_timesteps: environment steps of the run (rounded down to whole chunks).
      num_envs: environments stepped in parallel.
      buffer_size: replay capacity, in transitions.
      batch_size: transitions per gradient step.
      learning_rate: Adam's learning rate.
      gamma: discount.
      eps_init, eps_end, annealing_num_steps: the linear e-greedy schedule (over ``annealing_num_steps``).
      learning_starts: no gradient step until this many environment steps.
      train_frequency: environment steps between gradient steps (a multiple of ``num_envs``).
      target_update_interval: environment steps between target updates.
      tau: target update weight: 1 copies (hard), less averages (soft).
      n_steps: n-step targets (1: DQN's one-step target).
      num_cells: hidden sizes of the Q-network (ReLU); a tuple (a list is converted).
      num_chunks: evaluation points (and progress-bar ticks) of the run.
      num_eval_envs: environments of each greedy evaluation (one episode each).
    """

    env_name: str = "CartPole-v1"
    total_timesteps: int = 500_000
    num_envs: int = 10
    buffer_size: int = 10_000
    batch_size: int = 128
    learning_rate: float = 2.5e-4
    gamma: float = 0.99
    eps_init: float = 1.0
    eps_end: float = 0.05
    annealing_num_steps: int = 250_000
    learning_starts: int = 10_000
    train_frequency: int = 10
    target_update_interval: int = 500
    tau: float = 1.0
    n_steps: int = 1
    num_cells: tuple = (120, 84)
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
            "annealing_num_steps",
            "train_frequency",
            "target_update_interval",
            "tau",
            "n_steps",
            "num_chunks",
            "num_eval_envs",
        )
        C.in_range(self, "gamma", 0.0, 1.0)
        C.in_range(self, "tau", 0.0, 1.0)
        C.in_range(self, "eps_init", 0.0, 1.0)
        C.in_range(self, "eps_end", 0.0, self.eps_init)
        C.in_range(self, "learning_starts", 0, float("inf"))
        C.check_layout(self)


class DQNState(NamedTuple):
    """The run's whole state (a pytree): the recipe's ``init`` makes it, ``update`` advances it."""

    td: TensorDict  # the environments' root TensorDict [num_envs]
    variables: Any  # the policy's {"params", "schedule"}
    target_params: Any
    opt_state: Any
    buffer: ReplayBuffer
    window: Any  # NStepWindow when n_steps > 1, else None
    key: jax.Array
    steps: jax.Array  # int32: environment steps so far


def q_learning_loss(
    q: jax.Array,
    action: jax.Array,
    reward: jax.Array,
    discount: jax.Array,
    terminated: jax.Array,
    q_next: jax.Array,
) -> jax.Array:
    """Mean squared TD error of DQN: ``(Q(s, a) - [r + discount (1 - terminated) max_a' Q'(s', a')])^2``.

    Args:
      q: ``[B, A]`` online action values at ``s`` (differentiated).
      action: ``[B]`` integer actions taken.
      reward: ``[B]`` rewards (n-step returns).
      discount: ``[B]`` or scalar, ``gamma ** steps``.
      terminated: ``[B]`` booleans; no bootstrap where True.
      q_next: ``[B, A]`` target-network action values at ``s'`` (not differentiated).

    Returns:
      The scalar loss.

    Examples:
      >>> import jax.numpy as jnp
      >>> q = jnp.array([[1.0, 2.0]])
      >>> float(q_learning_loss(q, jnp.array([0]), jnp.array([1.0]), 0.5, jnp.array([False]),
      ...                       jnp.array([[0.0, 4.0]])))  # target 1 + 0.5 * 4 = 3
      4.0
    """
    bootstrap = jnp.where(terminated, 0.0, discount * jnp.max(q_next, axis=-1))
    target = jax.lax.stop_gradient(reward + bootstrap)
    chosen = jnp.take_along_axis(q, action[:, None].astype(jnp.int32), axis=-1)[:, 0]
    return jnp.mean(jnp.square(chosen - target))


def _modules(config: DQNConfig, spec: Categorical, obs_ndim: int = 1) -> tuple[TensorDictSequential, EGreedyModule]:
    """``QValueActor(MLP) -> EGreedyModule``, and the e-greedy module (to advance its schedule).

    Observations of ``obs_ndim > 1`` dims (MinAtar's frames) are flattened for the MLP.
    """
    net = C.flat_observations(
        MLP(out_features=spec.n, num_cells=list(config.num_cells), activation_class="ReLU"), obs_ndim
    )
    egreedy = EGreedyModule(
        spec, eps_init=config.eps_init, eps_end=config.eps_end, annealing_num_steps=config.annealing_num_steps
    )
    return TensorDictSequential(QValueActor(net, spec=spec), egreedy), egreedy


def _greedy(policy: TensorDictSequential, variables: Any) -> Callable[[TensorDict], TensorDict]:
    def act(td: TensorDict) -> TensorDict:  # evaluate's scan carries td: add only the action
        return td.set("action", policy.apply(variables, td, exploration_type=GREEDY)["action"])

    return act


def make_policy(config: DQNConfig, variables: Any) -> Callable[[TensorDict], TensorDict]:
    """The greedy policy of a run: ``policy(td) -> td`` with ``"action"`` written, jittable.

    The same function the recipe evaluates with: ``td`` holds ``"observation"`` ``[*B, *obs]``
    (any batch), and the returned TensorDict is ``td`` with the greedy action ``[*B]`` added
    (nothing else). Every recipe has a ``make_policy(config, variables)`` of this meaning.

    Args:
      config: the run's `DQNConfig` (it fixes the network and the environment's specs).
      variables: the policy's variables, ``DQNState.variables`` (``{"params", "schedule"}``).

    Returns:
      ``policy(td) -> td``.

    Examples:
      >>> import jax
      >>> from jaxrl_modules.envs import GymnaxEnv
      >>> config = DQNConfig()
      >>> state = make_recipe(config).init(jax.random.key(0))  # or a trained state: make_train's
      >>> policy = jax.jit(make_policy(config, state.variables))
      >>> env = GymnaxEnv("CartPole-v1", batch_size=(3,), categorical_action_encoding=True)
      >>> policy(env.reset(jax.random.key(1)))["action"].shape
      (3,)
    """
    with jax.ensure_compile_time_eval():  # the specs are constants, even if called under a trace
        env = C.discrete_env(config, 1)
    policy, _ = _modules(config, env.action_spec, C.observation_ndim(env))
    return _greedy(policy, variables)


def make_recipe(config: DQNConfig) -> Recipe:
    """DQN as a `Recipe`: ``num_chunks`` chunks, each ending with a greedy evaluation.

    Args:
      config: a `DQNConfig`.

    Returns:
      A `Recipe` whose ``update`` reports ``"return"`` (mean greedy evaluation return),
      ``"loss"`` (mean over the chunk's gradient steps, 0 before learning starts), ``"epsilon"``
      and ``"steps"`` (environment steps so far).
    """
    if not isinstance(config, DQNConfig):
        raise TypeError(f"make_recipe expects a DQNConfig, got {type(config).__name__}.")
    env, eval_env = C.discrete_envs(config)
    policy, egreedy = _modules(config, env.action_spec, C.observation_ndim(env))
    optimizer = optax.adam(config.learning_rate)
    env_steps_per_update = config.train_frequency // config.num_envs
    updates_per_chunk = config.total_timesteps // (config.num_chunks * config.train_frequency)
    max_steps = int(env.params.max_steps_in_episode)
    n = config.n_steps

    def q_values(variables: Any, obs: jax.Array) -> jax.Array:
        td = TensorDict({"observation": obs}, batch_size=obs.shape[:1])
        return policy.apply(variables, td, exploration_type=GREEDY)["action_value"]

    def init(key: jax.Array) -> DQNState:
        k_env, k_params, k_run = jax.random.split(key, 3)
        td = env.reset(k_env)
        variables = policy.init(k_params, td, exploration_type=GREEDY)  # params and the e-greedy count
        example = C.one_step_transition(env.step(policy.apply(variables, td, exploration_type=GREEDY)))
        buffer, window = C.replay_and_window_init(example, config.buffer_size, n, config.gamma)
        return DQNState(
            td,
            variables,
            variables["params"],
            optimizer.init(variables["params"]),
            buffer,
            window,
            k_run,
            jnp.zeros((), jnp.int32),
        )

    def env_step(state: DQNState, key: jax.Array) -> DQNState:
        td = policy.apply(state.variables, state.td, rngs={EXPLORATION: key})
        td, root = env.step_and_maybe_reset(td)
        buffer, window = C.add_transition(state.buffer, state.window, C.one_step_transition(td), config.gamma)
        variables = egreedy.step(state.variables, config.num_envs)
        root = root.select(*state.td.keys())  # the policy's outputs stay out of the carry
        return state._replace(
            td=root, variables=variables, buffer=buffer, window=window, steps=state.steps + config.num_envs
        )

    def learn(state: DQNState, key: jax.Array) -> tuple[DQNState, jax.Array]:
        batch = replay_sample(state.buffer, key, config.batch_size)
        nxt = batch["next"]
        steps = nxt["steps_to_next_obs"][:, 0] if n > 1 else 1
        discount = jnp.asarray(config.gamma, jnp.float32) ** steps
        schedule = {k: v for k, v in state.variables.items() if k != "params"}
        q_next = q_values({"params": state.target_params, **schedule}, nxt["observation"])

        def loss_fn(params):
            q = q_values({"params": params, **schedule}, batch["observation"])
            return q_learning_loss(q, batch["action"], nxt["reward"][:, 0], discount, nxt["terminated"][:, 0], q_next)

        params = state.variables["params"]
        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = optimizer.update(grads, state.opt_state, params)
        variables = {**state.variables, "params": optax.apply_updates(params, updates)}
        return state._replace(variables=variables, opt_state=opt_state), loss

    def train_step(state: DQNState, _) -> tuple[DQNState, tuple[jax.Array, jax.Array]]:
        key, k_learn, *k_steps = jax.random.split(state.key, 2 + env_steps_per_update)
        state = state._replace(key=key)
        before = state.steps
        for k in k_steps:  # train_frequency // num_envs steps of every env (1 by default)
            state = env_step(state, k)
        learning = state.steps > config.learning_starts
        state, loss = jax.lax.cond(learning, learn, lambda s, k: (s, jnp.zeros((), jnp.float32)), state, k_learn)
        period = config.target_update_interval
        due = state.steps // period != before // period  # crossed a multiple of the interval
        target = C.target_update(state.variables["params"], state.target_params, config.tau, due)
        return state._replace(target_params=target), (loss, learning)

    def update(state: DQNState) -> tuple[DQNState, dict[str, jax.Array]]:
        state, (losses, learning) = jax.lax.scan(train_step, state, None, length=updates_per_chunk)
        key, k_eval = jax.random.split(state.key)
        greedy = _greedy(policy, state.variables)
        metrics = {
            "return": evaluate(eval_env, greedy, k_eval, max_steps),
            "loss": jnp.sum(losses) / jnp.maximum(jnp.sum(learning), 1),
            "epsilon": linear_annealing(
                jax.tree.leaves(state.variables["schedule"])[0],
                config.eps_init,
                config.eps_end,
                config.annealing_num_steps,
            ),
            "steps": state.steps,
        }
        return state._replace(key=key), metrics

    return Recipe(init, update, config.num_chunks, updates_per_chunk * config.train_frequency)


def make_train(config: DQNConfig):
    """``train(key) -> (final DQNState, metrics [num_chunks])``: the whole run, jittable and vmappable."""
    return _make_train(make_recipe(config))
