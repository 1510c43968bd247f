"""PPO (Schulman et al., 2017, "Proximal Policy Optimization Algorithms") on a continuous gymnax
environment, purejaxrl style: one jittable ``train(key)``, vmappable over seeds.

The policy is TorchRL's usual continuous actor: an `MLP` whose output `NormalParamExtractor`
splits into ``loc`` and ``scale``, read by a `ProbabilisticActor` with a `TanhNormal` on the
action spec's bounds; the critic a `ValueOperator`. Each update collects ``num_steps`` steps of
``num_envs`` environments (`GymnaxEnv.step_and_maybe_reset`), computes advantages with `gae`,
then runs ``update_epochs`` epochs of ``num_minibatches`` minibatches of the clipped objective.

Log-probabilities near the bounds. A TanhNormal sample close to ``low`` or ``high`` cannot be
scored exactly from the action alone (``atanh`` of a rounded value); `TanhNormal.log_prob` clamps
the action to ``1 - 1e-6`` of the half-range, which is finite but shifts the pre-image. The
module's ``return_log_prob`` log-probability is the exact one of the pre-tanh draw, so using it
as the old log-probability and ``log_prob(action)`` as the new one would give ratios away from 1
at unchanged parameters (measured for ``loc = 7, scale = 0.2``, a saturated policy: the two
differ by 0.11 nats on average and up to 6.9). Here both come from the same function: right
after each rollout the old log-probability is ``actor.log_prob`` of the stored actions under the
collecting parameters, so ratios start at 1 (up to float rounding) and only the density's value
at clamped actions is approximate.

Truncation. `gae` bootstraps every step from the value of its own next observation
(``("next", "observation")``, the final observation where an episode ended), cut only where
the episode *terminated*; the lambda-trace stops at every episode end. Pendulum-v1 never
terminates, it is truncated at 200 steps, so its returns are always bootstrapped.

Example (a whole run; ``jax.vmap(train)(keys)`` runs several seeds at once)::

    import jax
    from jaxrl_modules.recipes.ppo import PPOConfig, make_train

    train = jax.jit(make_train(PPOConfig()))
    state, metrics = train(jax.random.key(0))
    print(metrics["return"])  # [32] greedy evaluation returns, one per chunk

  >>> from jaxrl_modules.recipes.ppo import PPOConfig, make_recipe
  >>> recipe = make_recipe(PPOConfig(total_timesteps=65_536, num_chunks=4))
  >>> recipe.num_chunks, recipe.steps_per_chunk  # 16 updates of 16 envs x 256 steps, 4 per chunk
  (4, 16384)
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
from jaxrl_modules.distributions import TanhNormal
from jaxrl_modules.envs import GymnaxEnv
from jaxrl_modules.exploration_type import ExplorationType
from jaxrl_modules.models import MLP, NormalParamExtractor
from jaxrl_modules.recipes import common
from jaxrl_modules.rng import SAMPLE
from jaxrl_modules.tensordict_module import (
    ProbabilisticActor,
    TensorDictModule,
    TensorDictSequential,
    ValueOperator,
)

__all__ = ["PPOConfig", "PPOState", "gae", "make_policy", "make_recipe", "make_train"]

_EVAL_TYPES = ("deterministic", "mode", "mean")


@common.renamed_fields({"eval_envs": "num_eval_envs"})
@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """PPO's hyperparameters; the defaults reach greedy returns of -130 to -175 on Pendulum-v1.

    Attributes:
      env_name: a gymnax environment with a bounded continuous (Box) action space.
      total_timesteps: environment steps of the run, rounded down to whole chunks of updates.
      num_envs: environments stepped side by side.
      num_steps: steps per environment in each update's rollout.
      num_chunks: chunks of the run (each ends with an evaluation); fewer if there are fewer
        updates.
      update_epochs: passes over each rollout.
      num_minibatches: minibatches per epoch; must divide ``num_envs * num_steps``.
      learning_rate: Adam's step size (annealed linearly to 0 with ``anneal_lr``).
      anneal_lr: anneal the learning rate linearly to 0 over the run.
      gamma: discount.
      gae_lambda: GAE's lambda.
      clip_eps: the ratio's clipping range.
      vf_coef: the value loss's weight.
      ent_coef: the entropy bonus's weight (the TanhNormal's exact entropy); 0 skips it.
      max_grad_norm: global gradient-norm clipping.
      reward_scale: rewards are multiplied by it for learning (Pendulum's lie in [-16.3, 0];
        0.1 keeps the value targets near unit scale). Evaluation reports raw returns.
      hidden_size: width of the actor's and the critic's hidden layers.
      num_layers: number of hidden layers of each.
      num_eval_envs: environments of each evaluation (one episode each).
      eval_steps: steps of each evaluation episode (200: Pendulum's episode length).
      eval_exploration: the greedy action: ``"deterministic"`` (``tanh(loc)`` rescaled, the
        TanhNormal's median), ``"mode"`` or ``"mean"``.
    """

    env_name: str = "Pendulum-v1"
    total_timesteps: int = 262_144
    num_envs: int = 16
    num_steps: int = 256
    num_chunks: int = 32
    update_epochs: int = 10
    num_minibatches: int = 16
    learning_rate: float = 1e-3
    anneal_lr: bool = True
    gamma: float = 0.95
    gae_lambda: float = 0.95
    clip_eps: float = 0.2
    vf_coef: float = 0.5
    ent_coef: float = 0.0
    max_grad_norm: float = 0.5
    reward_scale: float = 0.1
    hidden_size: int = 64
    num_layers: int = 2
    num_eval_envs: int = 16
    eval_steps: int = 200
    eval_exploration: str = "deterministic"

    def __post_init__(self) -> None:
        common.check_config(self)
        name = type(self).__name__
        for field in (
            "total_timesteps",
            "num_envs",
            "num_steps",
            "num_chunks",
            "update_epochs",
            "num_minibatches",
            "hidden_size",
            "num_eval_envs",
            "eval_steps",
        ):
            if getattr(self, field) < 1:
                raise ValueError(f"{name}.{field} must be >= 1, got {getattr(self, field)}.")
        for field in ("learning_rate", "reward_scale", "clip_eps"):
            if not getattr(self, field) > 0:
                raise ValueError(f"{name}.{field} must be > 0, got {getattr(self, field)}.")
        for field in ("gamma", "gae_lambda"):
            if not 0.0 <= getattr(self, field) <= 1.0:
                raise ValueError(f"{name}.{field} must be in [0, 1], got {getattr(self, field)}.")
        for field in ("vf_coef", "ent_coef", "max_grad_norm", "num_layers"):
            if getattr(self, field) < 0:
                raise ValueError(f"{name}.{field} must be >= 0, got {getattr(self, field)}.")
        if self.eval_exploration not in _EVAL_TYPES:
            raise ValueError(f"{name}.eval_exploration must be one of {_EVAL_TYPES}, got {self.eval_exploration!r}.")
        batch = self.num_envs * self.num_steps
        if self.total_timesteps < batch:
            raise ValueError(
                f"{name}.total_timesteps={self.total_timesteps} is smaller than one update, which "
                f"takes num_envs * num_steps = {self.num_envs} * {self.num_steps} = {batch} steps."
            )
        if batch % self.num_minibatches:
            raise ValueError(
                f"{name}.num_minibatches={self.num_minibatches} must divide num_envs * num_steps = {batch}."
            )

    @property
    def num_updates(self) -> int:
        """Updates of the whole run: whole chunks of whole rollouts within ``total_timesteps``."""
        chunks = min(self.num_chunks, self.total_timesteps // (self.num_envs * self.num_steps))
        return chunks * (self.total_timesteps // (self.num_envs * self.num_steps) // chunks)


def gae(
    reward: jax.Array,
    value: jax.Array,
    next_value: jax.Array,
    terminated: jax.Array,
    done: jax.Array,
    gamma: float,
    lambda_: float,
) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimates (Schulman et al., 2016) over a time-major rollout.

    ``delta_t = r_t + gamma (1 - terminated_t) V(s'_t) - V(s_t)`` and
    ``A_t = delta_t + gamma lambda (1 - done_t) A_{t+1}``, with ``s'_t`` the step's own next
    observation, so a truncated episode is bootstrapped from its final observation and the trace
    is cut at every episode end. Without episode ends inside the rollout, and with
    ``next_value[t] = value[t + 1]``, this is ``rlax.truncated_generalized_advantage_estimation``
    with ``discount_t = gamma (1 - terminated_t)``.

    Args:
      reward: ``[T, *B]`` rewards.
      value: ``[T, *B]`` values of the observations acted on.
      next_value: ``[T, *B]`` values of the next observations.
      terminated: ``[T, *B]`` bool, the episode ended in a terminal state (no bootstrap).
      done: ``[T, *B]`` bool, the episode ended (terminated or truncated; the trace stops).
      gamma: discount.
      lambda_: GAE's lambda.

    Returns:
      ``(advantage, target)``, each ``[T, *B]``: ``target = advantage + value`` (the value
      regression target, TD(lambda)).

    Examples:
      >>> import jax.numpy as jnp
      >>> r, v = jnp.ones(3), jnp.zeros(3)
      >>> adv, target = gae(r, v, v, jnp.zeros(3, bool), jnp.zeros(3, bool), 0.5, 1.0)
      >>> adv.tolist()
      [1.75, 1.5, 1.0]
    """
    dtype = jnp.result_type(reward, value, next_value)
    delta = reward + gamma * (1.0 - terminated.astype(dtype)) * next_value - value
    trace = gamma * lambda_ * (1.0 - done.astype(dtype))

    def body(acc, xs):
        delta_t, trace_t = xs
        acc = delta_t + trace_t * acc
        return acc, acc

    _, advantage = jax.lax.scan(body, jnp.zeros_like(delta[0]), (delta, trace), reverse=True)
    return advantage, advantage + value


class PPOState(NamedTuple):
    """The run's whole state (a pytree): the recipe's ``init`` makes it, ``update`` advances it."""

    params: Any  # {"actor": variables, "critic": variables}
    opt_state: Any
    env_td: TensorDict  # the root of the next rollout step
    key: jax.Array
    update: jax.Array  # int32: updates done


def _networks(config: PPOConfig, action_spec: Bounded) -> tuple[ProbabilisticActor, ValueOperator]:
    act_dim = int(np.prod(action_spec.shape))
    cells = [config.hidden_size] * config.num_layers
    # Small last-layer weights: the initial policy is near loc = 0, scale = 1 in every state.
    small = {"kernel_init": jax.nn.initializers.variance_scaling(0.01, "fan_avg", "uniform")}
    body = TensorDictSequential(
        TensorDictModule(
            MLP(
                out_features=2 * act_dim,
                num_cells=cells,
                activation_class="Tanh",
                layer_kwargs=[{}] * config.num_layers + [small],
            ),
            in_keys=["observation"],
            out_keys=["param"],
        ),
        TensorDictModule(NormalParamExtractor(), in_keys=["param"], out_keys=["loc", "scale"]),
    )
    actor = ProbabilisticActor(
        body,
        in_keys=["loc", "scale"],
        spec=action_spec,
        distribution_class=TanhNormal,
        distribution_kwargs={"low": np.asarray(action_spec.low), "high": np.asarray(action_spec.high)},
    )
    critic = ValueOperator(MLP(out_features=1, num_cells=cells, activation_class="Tanh"), in_keys=["observation"])
    return actor, critic


def _continuous_spec(env: GymnaxEnv, name: str) -> Bounded:
    spec = env.action_spec
    if not isinstance(spec, Bounded) or not jnp.issubdtype(spec.dtype, jnp.floating):
        raise ValueError(
            f"{name}: {env.name} has action spec {spec!r}; PPO here needs a bounded "
            "continuous (Box) action space, e.g. Pendulum-v1."
        )
    return spec


def _greedy(
    actor: ProbabilisticActor, variables: Any, eval_type: ExplorationType
) -> Callable[[TensorDict], TensorDict]:
    def act(td: TensorDict) -> TensorDict:  # evaluate's scan carries td: add only the action
        return td.set("action", actor.apply(variables, td, exploration_type=eval_type)["action"])

    return act


def make_policy(config: PPOConfig, variables: Any) -> Callable[[TensorDict], TensorDict]:
    """The greedy policy of a run: ``policy(td) -> td`` with ``"action"`` written, jittable.

    The same function the recipe evaluates with (``config.eval_exploration``'s action, no
    sampling): ``td`` holds ``"observation"`` ``[*B, *obs]`` (any batch), and the returned
    TensorDict is ``td`` with the action ``[*B, *action]`` added (nothing else). Every recipe has
    a ``make_policy(config, variables)`` of this meaning.

    Args:
      config: the run's `PPOConfig` (it fixes the networks and the environment's specs).
      variables: the actor's variables, ``PPOState.params["actor"]``.

    Returns:
      ``policy(td) -> td``.

    Examples:
      >>> import jax
      >>> from jaxrl_modules.envs import GymnaxEnv
      >>> config = PPOConfig()
      >>> state = make_recipe(config).init(jax.random.key(0))  # or a trained state: make_train's
      >>> policy = jax.jit(make_policy(config, state.params["actor"]))
      >>> env = GymnaxEnv("Pendulum-v1", batch_size=(3,))
      >>> policy(env.reset(jax.random.key(1)))["action"].shape
      (3, 1)
    """
    with jax.ensure_compile_time_eval():  # the specs are constants, even if called under a trace
        env = GymnaxEnv(config.env_name, batch_size=(1,))
    actor, _ = _networks(config, _continuous_spec(env, "ppo.make_policy"))
    return _greedy(actor, variables, ExplorationType(config.eval_exploration))


def make_recipe(config: PPOConfig) -> common.Recipe:
    """PPO as a `Recipe`: ``init(key) -> PPOState``; ``update(state)`` runs one chunk of updates.

    Metrics per chunk: ``return`` (mean greedy evaluation return), ``steps`` (environment steps
    so far), ``policy_loss``, ``value_loss``, ``approx_kl``, ``clip_fraction`` (the chunk's last
    update, averaged over its minibatches), ``scale`` (mean policy scale in that rollout).
    """
    if not isinstance(config, PPOConfig):
        raise TypeError(f"ppo.make_recipe: config must be a PPOConfig, got {type(config).__name__}.")
    env = GymnaxEnv(config.env_name, batch_size=(config.num_envs,))
    eval_env = GymnaxEnv(config.env_name, batch_size=(config.num_eval_envs,))
    action_spec = _continuous_spec(env, "ppo.make_recipe")
    actor, critic = _networks(config, action_spec)

    batch = config.num_envs * config.num_steps
    num_updates = config.num_updates
    num_chunks = min(config.num_chunks, num_updates)
    updates_per_chunk = num_updates // num_chunks
    minibatch = batch // config.num_minibatches
    steps_per_update = config.update_epochs * config.num_minibatches
    lr = (
        optax.linear_schedule(config.learning_rate, 0.0, num_updates * steps_per_update)
        if config.anneal_lr
        else config.learning_rate
    )
    optimizer = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(lr, eps=1e-5))
    eval_type = ExplorationType(config.eval_exploration)

    def init(key: jax.Array) -> PPOState:
        key, k_env, k_actor, k_critic = jax.random.split(key, 4)
        td = env.reset(k_env)
        params = {"actor": actor.init(k_actor, td), "critic": critic.init(k_critic, td)}
        return PPOState(params, optimizer.init(params), td, key, jnp.zeros((), jnp.int32))

    def rollout(params, td, key):
        def step(root, key):
            td = actor.apply(params["actor"], root, exploration_type=ExplorationType.RANDOM, rngs={SAMPLE: key})
            td, root = env.step_and_maybe_reset(td)
            keep = td.select(
                "observation",
                "action",
                "scale",
                ("next", "observation"),
                ("next", "reward"),
                ("next", "terminated"),
                ("next", "done"),
            )
            return root.exclude("param", "loc", "scale"), keep  # the policy's outputs stay out of the carry

        return jax.lax.scan(step, td, jax.random.split(key, config.num_steps))

    def loss_fn(params, mb):
        dist = actor.apply(params["actor"], mb, method="get_dist")
        log_prob = dist.log_prob(mb["action"])
        ratio = jnp.exp(log_prob - mb["old_log_prob"])
        adv = mb["advantage"]
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        surrogate = jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - config.clip_eps, 1 + config.clip_eps) * adv)
        policy_loss = -surrogate.mean()
        value = critic.apply(params["critic"], mb["observation"])[..., 0]
        value_loss = 0.5 * jnp.square(value - mb["target"]).mean()
        loss = policy_loss + config.vf_coef * value_loss
        if config.ent_coef:
            loss = loss - config.ent_coef * dist.entropy().mean()
        stats = {
            "policy_loss": policy_loss,
            "value_loss": value_loss,
            "approx_kl": ((ratio - 1) - jnp.log(ratio)).mean(),
            "clip_fraction": (jnp.abs(ratio - 1) > config.clip_eps).mean(),
        }
        return loss, stats

    def one_update(state: PPOState, _):
        key, k_roll, k_perm = jax.random.split(state.key, 3)
        env_td, traj = rollout(state.params, state.env_td, k_roll)  # traj: [T, N]
        value = critic.apply(state.params["critic"], traj["observation"])[..., 0]
        next_value = critic.apply(state.params["critic"], traj["next", "observation"])[..., 0]
        advantage, target = gae(
            config.reward_scale * traj["next", "reward"][..., 0],
            value,
            next_value,
            traj["next", "terminated"][..., 0],
            traj["next", "done"][..., 0],
            config.gamma,
            config.gae_lambda,
        )
        old_log_prob = actor.apply(state.params["actor"], traj, method="log_prob")
        data = TensorDict(
            {
                "observation": traj["observation"],
                "action": traj["action"],
                "old_log_prob": old_log_prob,
                "advantage": advantage,
                "target": target,
            },
            batch_size=traj.batch_size,
        ).reshape(batch)

        def epoch(carry, key):
            def minibatch_step(carry, mb):
                params, opt_state = carry
                grads, stats = jax.grad(loss_fn, has_aux=True)(params, mb)
                updates, opt_state = optimizer.update(grads, opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), stats

            shuffled = data[jax.random.permutation(key, batch)].reshape(config.num_minibatches, minibatch)
            return jax.lax.scan(minibatch_step, carry, shuffled)

        (params, opt_state), stats = jax.lax.scan(
            epoch, (state.params, state.opt_state), jax.random.split(k_perm, config.update_epochs)
        )
        stats = jax.tree.map(lambda x: x[-1].mean(), stats)  # the last epoch
        stats["scale"] = traj["scale"].mean()
        return PPOState(params, opt_state, env_td, key, state.update + 1), stats

    def update(state: PPOState):
        state, stats = jax.lax.scan(one_update, state, None, length=updates_per_chunk)
        key, k_eval = jax.random.split(state.key)
        metrics = {
            "return": common.evaluate(
                eval_env, _greedy(actor, state.params["actor"], eval_type), k_eval, config.eval_steps
            ),
            "steps": state.update * batch,
            **jax.tree.map(lambda x: x[-1], stats),
        }
        return state._replace(key=key), metrics

    return common.Recipe(init=init, update=update, num_chunks=num_chunks, steps_per_chunk=updates_per_chunk * batch)


def make_train(config: PPOConfig):
    """``train(key) -> (final PPOState, metrics [num_chunks])``: the whole run, jittable and vmappable."""
    return common.make_train(make_recipe(config))
