"""TD3 (Fujimoto et al., 2018, "Addressing Function Approximation Error in Actor-Critic Methods")
on a continuous gymnax environment, purejaxrl style: one jittable ``train(key)``, vmappable over
seeds.

The policy is TorchRL's TD3 actor: a `DdpgMlpActor` writing ``"param"``, a `TanhModule` that
squashes it onto the action spec's bounds, and an `AdditiveGaussianModule` for exploration (its
annealing count in the ``"schedule"`` collection, advanced with ``step``; evaluation and the
actor loss pass ``exploration_type=DETERMINISTIC``, which turns the noise off). Two critics are
one `DdpgMlpQNet` `ValueOperator` with two parameter sets stacked on a leading axis and applied
under ``jax.vmap``. TD3's three changes to DDPG: the smaller of the twin target values (clipped
double Q-learning), target policy smoothing (clipped Gaussian noise on the target action), and
an actor and target update after every ``policy_delay`` critic updates. Transitions go to a
uniform replay ring (`jaxrl_modules.recipes.replay`).

Schedule: ``init`` fills the buffer with ``learning_starts`` steps of uniformly random actions.
Then each iteration steps the ``num_envs`` environments and makes one critic update,
``policy_delay`` times, then one actor update and one Polyak update of both targets; so there is
one critic update per ``num_envs`` environment steps and no ``lax.cond`` (which under ``vmap``
would run both branches). The bootstrap is cut only where an episode *terminated*: Pendulum-v1's
truncation at 200 steps bootstraps from the final observation.

Example (a whole run; ``jax.vmap(train)(keys)`` runs several seeds at once)::

    import jax
    from jaxrl_modules.recipes.td3 import TD3Config, make_train

    train = jax.jit(make_train(TD3Config()))
    state, metrics = train(jax.random.key(0))
    print(metrics["return"])  # greedy evaluation returns, one per chunk

  >>> from jaxrl_modules.recipes.td3 import TD3Config, make_recipe
  >>> recipe = make_recipe(TD3Config(total_timesteps=5_000, learning_starts=1_000, num_chunks=4))
  >>> recipe.num_chunks, recipe.steps_per_chunk  # 2000 iterations of 2 env steps, 500 per chunk
  (4, 1000)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrl_modules.data.specs import Bounded
from jaxrl_modules.data.tensordict import TensorDict
from jaxrl_modules.envs import GymnaxEnv
from jaxrl_modules.exploration_type import ExplorationType
from jaxrl_modules.models import DdpgMlpActor, DdpgMlpQNet
from jaxrl_modules.recipes import common
from jaxrl_modules.recipes.replay import replay_add, replay_init, replay_sample
from jaxrl_modules.rng import EXPLORATION
from jaxrl_modules.tensordict_module import (
    Actor,
    AdditiveGaussianModule,
    TanhModule,
    TensorDictSequential,
    ValueOperator,
)

__all__ = ["TD3Config", "TD3State", "make_policy", "make_recipe", "make_train"]

_DETERMINISTIC = ExplorationType.DETERMINISTIC


@common.renamed_fields(
    {
        "actor_lr": "actor_learning_rate",
        "critic_lr": "critic_learning_rate",
        "exploration_noise": "sigma_init",
        "exploration_noise_end": "sigma_end",
        "exploration_annealing_steps": "annealing_num_steps",
        "eval_envs": "num_eval_envs",
    }
)
@dataclasses.dataclass(frozen=True)
class TD3Config:
    """TD3's hyperparameters; the defaults reach greedy returns of -130 to -180 on Pendulum-v1.

    Attributes:
      env_name: a gymnax environment with a bounded continuous (Box) action space.
      total_timesteps: environment steps of the run, ``learning_starts`` included, rounded down
        to whole chunks.
      learning_starts: steps of uniformly random actions that fill the buffer first (in ``init``).
      num_envs: environments stepped side by side.
      num_chunks: chunks of the run (each ends with an evaluation); fewer if there are fewer
        iterations.
      buffer_size: the replay ring's capacity, in transitions.
      batch_size: transitions per gradient step.
      actor_learning_rate: Adam's step size for the actor.
      critic_learning_rate: Adam's step size for the critics.
      gamma: discount.
      tau: Polyak coefficient of the target networks (``target <- tau * online + (1 - tau) * target``).
      policy_delay: critic updates per actor (and target) update.
      sigma_init: the exploration noise's standard deviation at the start, as a fraction
        of the action's half-range (0.1 in the TD3 paper).
      sigma_end: the same at the end of the annealing, at most ``sigma_init``.
      annealing_num_steps: environment steps over which the noise anneals.
      target_noise: the target policy smoothing noise's standard deviation (fraction of the
        half-range).
      target_noise_clip: the smoothing noise is clipped to this (fraction of the half-range).
      reward_scale: rewards are multiplied by it for learning (Pendulum's lie in [-16.3, 0]).
        Evaluation reports raw returns.
      hidden_size: width of the actor's two hidden layers and of the critic's two layers
        (TorchRL's DDPG nets: 400 and 300).
      num_eval_envs: environments of each evaluation (one episode each).
      eval_steps: steps of each evaluation episode (200: Pendulum's episode length).
    """

    env_name: str = "Pendulum-v1"
    total_timesteps: int = 15_000
    learning_starts: int = 1_000
    num_envs: int = 1
    num_chunks: int = 20
    buffer_size: int = 100_000
    batch_size: int = 128
    actor_learning_rate: float = 1e-3
    critic_learning_rate: float = 1e-3
    gamma: float = 0.99
    tau: float = 0.005
    policy_delay: int = 2
    sigma_init: float = 0.1
    sigma_end: float = 0.1
    annealing_num_steps: int = 10_000
    target_noise: float = 0.2
    target_noise_clip: float = 0.5
    reward_scale: float = 0.1
    hidden_size: int = 128
    num_eval_envs: int = 16
    eval_steps: int = 200

    def __post_init__(self) -> None:
        common.check_config(self)
        name = type(self).__name__
        for field in (
            "total_timesteps",
            "num_envs",
            "num_chunks",
            "buffer_size",
            "batch_size",
            "policy_delay",
            "annealing_num_steps",
            "hidden_size",
            "num_eval_envs",
            "eval_steps",
        ):
            if getattr(self, field) < 1:
                raise ValueError(f"{name}.{field} must be >= 1, got {getattr(self, field)}.")
        for field in ("actor_learning_rate", "critic_learning_rate", "reward_scale"):
            if not getattr(self, field) > 0:
                raise ValueError(f"{name}.{field} must be > 0, got {getattr(self, field)}.")
        for field in (
            "learning_starts",
            "sigma_init",
            "sigma_end",
            "target_noise",
            "target_noise_clip",
        ):
            if getattr(self, field) < 0:
                raise ValueError(f"{name}.{field} must be >= 0, got {getattr(self, field)}.")
        for field in ("gamma", "tau"):
            if not 0.0 <= getattr(self, field) <= 1.0:
                raise ValueError(f"{name}.{field} must be in [0, 1], got {getattr(self, field)}.")
        if self.sigma_end > self.sigma_init:
            raise ValueError(
                f"{name}.sigma_end={self.sigma_end} must be at most "
                f"sigma_init={self.sigma_init} (the noise anneals downwards)."
            )
        if self.learning_starts < self.num_envs:
            raise ValueError(
                f"{name}.learning_starts={self.learning_starts} must be at least num_envs="
                f"{self.num_envs}: the buffer needs transitions before the first update."
            )
        if self.total_timesteps - self.learning_starts < self.steps_per_iteration:
            raise ValueError(
                f"{name}.total_timesteps={self.total_timesteps} is smaller than one update: it must cover "
                f"learning_starts={self.learning_starts} plus one iteration of num_envs * policy_delay = "
                f"{self.steps_per_iteration} steps."
            )

    @property
    def steps_per_iteration(self) -> int:
        """Environment steps between two actor updates."""
        return self.num_envs * self.policy_delay


class TD3State(NamedTuple):
    """The run's whole state (a pytree): the recipe's ``init`` makes it, ``update`` advances it."""

    actor: Any  # the policy's variables: {"params", "schedule"}
    critic: Any  # the twin critics' variables, stacked on a leading axis of 2
    actor_target: Any  # the actor's params
    critic_target: Any
    actor_opt: Any
    critic_opt: Any
    buffer: Any  # ReplayBuffer
    env_td: TensorDict
    key: jax.Array
    steps: jax.Array  # int32: environment steps so far


def _continuous_spec(env: GymnaxEnv, name: str) -> Bounded:
    spec = env.action_spec
    if not isinstance(spec, Bounded) or not jnp.issubdtype(spec.dtype, jnp.floating):
        raise ValueError(
            f"{name}: {env.name} has action spec {spec!r}; TD3 needs a bounded continuous "
            "(Box) action space, e.g. Pendulum-v1."
        )
    return spec


def _policy(config: TD3Config, spec: Bounded) -> tuple[TensorDictSequential, AdditiveGaussianModule]:
    """``Actor(DdpgMlpActor) -> TanhModule -> AdditiveGaussianModule``, and the noise module."""
    low, high = np.asarray(spec.low, np.float32), np.asarray(spec.high, np.float32)
    act_dim = int(np.prod(spec.shape))
    h = config.hidden_size
    net = DdpgMlpActor(act_dim, mlp_net_kwargs={"num_cells": [h, h], "activation_class": "ReLU"})
    noise = AdditiveGaussianModule(
        spec,
        sigma_init=config.sigma_init,
        sigma_end=config.sigma_end,
        annealing_num_steps=config.annealing_num_steps,
        std=tuple(np.broadcast_to((high - low) / 2, spec.shape).astype(float).tolist()),
    )  # sigma: half-range units
    policy = TensorDictSequential(
        Actor(net, in_keys=["observation"], out_keys=["param"]),
        TanhModule(in_keys=["param"], out_keys=["action"], spec=spec),
        noise,
    )
    return policy, noise


def _greedy(policy: TensorDictSequential, variables: Any) -> Callable[[TensorDict], TensorDict]:
    def act(td: TensorDict) -> TensorDict:  # evaluate's scan carries td: add only the action
        return td.set("action", policy.apply(variables, td, exploration_type=_DETERMINISTIC)["action"])

    return act


def make_policy(config: TD3Config, variables: Any) -> Callable[[TensorDict], TensorDict]:
    """The greedy policy of a run: ``policy(td) -> td`` with ``"action"`` written, jittable.

    The same function the recipe evaluates with (no exploration noise): ``td`` holds
    ``"observation"`` ``[*B, *obs]`` (any batch), and the returned TensorDict is ``td`` with the
    action ``[*B, *action]`` added (nothing else). Every recipe has a
    ``make_policy(config, variables)`` of this meaning.

    Args:
      config: the run's `TD3Config` (it fixes the network and the environment's specs).
      variables: the policy's variables, ``TD3State.actor`` (``{"params", "schedule"}``).

    Returns:
      ``policy(td) -> td``.

    Examples:
      >>> import jax
      >>> from jaxrl_modules.envs import GymnaxEnv
      >>> config = TD3Config(learning_starts=10)
      >>> state = make_recipe(config).init(jax.random.key(0))  # or a trained state: make_train's
      >>> policy = jax.jit(make_policy(config, state.actor))
      >>> env = GymnaxEnv("Pendulum-v1", batch_size=(3,))
      >>> policy(env.reset(jax.random.key(1)))["action"].shape
      (3, 1)
    """
    with jax.ensure_compile_time_eval():  # the specs are constants, even if called under a trace
        env = GymnaxEnv(config.env_name, batch_size=(1,))
    policy, _ = _policy(config, _continuous_spec(env, "td3.make_policy"))
    return _greedy(policy, variables)


def make_recipe(config: TD3Config) -> common.Recipe:
    """TD3 as a `Recipe`: ``init(key) -> TD3State`` (the random warm-up included); ``update(state)``
    runs one chunk of iterations.

    Metrics per chunk: ``return`` (mean greedy evaluation return, no exploration noise),
    ``steps`` (environment steps so far), ``critic_loss``, ``actor_loss``, ``q`` (mean online Q
    of the sampled batch), all from the chunk's last iteration.
    """
    if not isinstance(config, TD3Config):
        raise TypeError(f"td3.make_recipe: config must be a TD3Config, got {type(config).__name__}.")
    env = GymnaxEnv(config.env_name, batch_size=(config.num_envs,))
    eval_env = GymnaxEnv(config.env_name, batch_size=(config.num_eval_envs,))
    spec = _continuous_spec(env, "td3.make_recipe")
    low, high = np.asarray(spec.low, np.float32), np.asarray(spec.high, np.float32)
    half = jnp.asarray((high - low) / 2)
    h = config.hidden_size
    policy, noise = _policy(config, spec)
    critic = ValueOperator(
        DdpgMlpQNet(
            mlp_net_kwargs_net1={"out_features": h, "activation_class": "ReLU"},
            mlp_net_kwargs_net2={"num_cells": [h], "activation_class": "ReLU"},
        ),
        in_keys=["observation", "action"],
    )
    actor_opt = optax.adam(config.actor_learning_rate)
    critic_opt = optax.adam(config.critic_learning_rate)

    iterations = (config.total_timesteps - config.learning_starts) // config.steps_per_iteration
    num_chunks = min(config.num_chunks, iterations)
    iterations_per_chunk = iterations // num_chunks
    warmup_steps = -(-config.learning_starts // config.num_envs)  # ceil

    def act(actor_vars, td):
        """The greedy (noise-free) action, ``[*B, A]``."""
        return policy.apply(actor_vars, td, exploration_type=_DETERMINISTIC)["action"]

    def q_values(critic_params, obs, action):
        """Both critics: ``[2, *B]``."""
        return jax.vmap(critic.apply, in_axes=(0, None, None))(critic_params, obs, action)[..., 0]

    def transition(td: TensorDict) -> TensorDict:
        return TensorDict(
            {
                "observation": td["observation"],
                "action": td["action"],
                "next_observation": td["next", "observation"],
                "reward": config.reward_scale * td["next", "reward"][..., 0],
                "terminated": td["next", "terminated"][..., 0],
            },
            batch_size=[config.num_envs],
        )

    def init(key: jax.Array) -> TD3State:
        key, k_env, k_actor, k_critic, k_warm = jax.random.split(key, 5)
        td = env.reset(k_env)
        actor_vars = policy.init({"params": k_actor, EXPLORATION: k_actor}, td)
        critic_vars = jax.vmap(critic.init, in_axes=(0, None))(
            jax.random.split(k_critic, 2), td.set("action", spec.zero((config.num_envs,)))
        )

        def warm(carry, key):
            root, buffer = carry
            td, root = env.step_and_maybe_reset(root.set("action", spec.rand(key, (config.num_envs,))))
            return (root, replay_add(buffer, transition(td))), None

        td0 = env.step(td.set("action", spec.zero((config.num_envs,))))
        buffer = replay_init(transition(td0), config.buffer_size)
        (td, buffer), _ = jax.lax.scan(warm, (td, buffer), jax.random.split(k_warm, warmup_steps))
        return TD3State(
            actor_vars,
            critic_vars,
            actor_vars["params"],
            critic_vars,
            actor_opt.init(actor_vars["params"]),
            critic_opt.init(critic_vars),
            buffer,
            td,
            key,
            jnp.asarray(warmup_steps * config.num_envs, jnp.int32),
        )

    def critic_loss(critic_vars, state: TD3State, batch: TensorDict, key):
        target_actor = {**state.actor, "params": state.actor_target}
        next_action = act(target_actor, batch.set("observation", batch["next_observation"]))
        shape = next_action.shape
        smoothing = jnp.clip(
            config.target_noise * jax.random.normal(key, shape), -config.target_noise_clip, config.target_noise_clip
        ) * jnp.broadcast_to(half, shape)
        next_action = jnp.clip(next_action + smoothing, jnp.broadcast_to(low, shape), jnp.broadcast_to(high, shape))
        next_q = q_values(state.critic_target, batch["next_observation"], next_action).min(0)
        target = batch["reward"] + config.gamma * (1.0 - batch["terminated"].astype(jnp.float32)) * next_q
        q = q_values(critic_vars, batch["observation"], batch["action"])
        return jnp.square(q - jax.lax.stop_gradient(target)[None]).mean(0).sum(), q.mean()

    def actor_loss(actor_params, state: TD3State, batch: TensorDict):
        action = act({**state.actor, "params": actor_params}, batch)
        q1 = critic.apply(jax.tree.map(lambda x: x[0], state.critic), batch["observation"], action)
        return -q1.mean()

    def env_and_critic_step(state: TD3State, _):
        key, k_act, k_batch, k_smooth = jax.random.split(state.key, 4)
        td = policy.apply(state.actor, state.env_td, rngs={EXPLORATION: k_act})
        td, root = env.step_and_maybe_reset(td)
        root = root.exclude("param")  # the policy's pre-squash output stays out of the carry
        buffer = replay_add(state.buffer, transition(td))
        actor_vars = noise.step(state.actor, frames=config.num_envs)
        batch = replay_sample(buffer, k_batch, config.batch_size)
        (loss, q), grads = jax.value_and_grad(critic_loss, has_aux=True)(state.critic, state, batch, k_smooth)
        updates, critic_opt_state = critic_opt.update(grads, state.critic_opt, state.critic)
        state = state._replace(
            actor=actor_vars,
            critic=optax.apply_updates(state.critic, updates),
            critic_opt=critic_opt_state,
            buffer=buffer,
            env_td=root,
            key=key,
            steps=state.steps + config.num_envs,
        )
        return state, (batch, loss, q)

    def iteration(state: TD3State, _):
        state, (batches, losses, qs) = jax.lax.scan(env_and_critic_step, state, None, length=config.policy_delay)
        batch = jax.tree.map(lambda x: x[-1], batches)
        loss, grads = jax.value_and_grad(actor_loss)(state.actor["params"], state, batch)
        updates, actor_opt_state = actor_opt.update(grads, state.actor_opt, state.actor["params"])
        actor_params = optax.apply_updates(state.actor["params"], updates)
        polyak = lambda online, target: optax.incremental_update(online, target, config.tau)  # noqa: E731
        state = state._replace(
            actor={**state.actor, "params": actor_params},
            actor_opt=actor_opt_state,
            actor_target=polyak(actor_params, state.actor_target),
            critic_target=polyak(state.critic, state.critic_target),
        )
        return state, {"critic_loss": losses[-1], "actor_loss": loss, "q": qs[-1]}

    def update(state: TD3State):
        state, stats = jax.lax.scan(iteration, state, None, length=iterations_per_chunk)
        key, k_eval = jax.random.split(state.key)
        greedy = _greedy(policy, state.actor)
        metrics = {
            "return": common.evaluate(eval_env, greedy, k_eval, config.eval_steps),
            "steps": state.steps,
            **jax.tree.map(lambda x: x[-1], stats),
        }
        return state._replace(key=key), metrics

    return common.Recipe(
        init=init,
        update=update,
        num_chunks=num_chunks,
        steps_per_chunk=iterations_per_chunk * config.steps_per_iteration,
    )


def make_train(config: TD3Config):
    """``train(key) -> (final TD3State, metrics [num_chunks])``: the whole run, jittable and vmappable."""
    return common.make_train(make_recipe(config))
