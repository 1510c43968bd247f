"""MPC in closed loop: `CEMPlanner` or `MPPIPlanner` over an environment's true dynamics.

Nothing is learned: the planner rolls the environment's own pure transition out
(``CEMPlanner(env=env)``, `GymnaxEnv.model_step`) for every candidate action sequence, acts with
the plan's first action, and warm-starts the next plan from the shifted previous one. The defaults
are the iCEM options (Pinneri et al. 2020) that swing Pendulum-v1 up and hold it: horizon 60,
500 candidates, 5 iterations, top 50, 10 kept elites, colored noise (beta 2), momentum 0.1, acting
with the best sequence found.

``"return"`` per chunk is the mean return of the episodes run so far: the completed ones, or the
running one's partial return before the first completes.

Examples:
  >>> import jax
  >>> from jaxrl_modules.recipes import mpc
  >>> config = mpc.MPCConfig(total_timesteps=20, num_envs=2, chunk_steps=5, planning_horizon=5,
  ...                        num_candidates=16, top_k=4, keep_elites=2)
  >>> state, metrics = jax.jit(mpc.make_train(config))(jax.random.key(0))
  >>> metrics["return"].shape
  (2,)
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp

from jaxrl_modules.data.tensordict import TensorDict
from jaxrl_modules.recipes import common

if TYPE_CHECKING:  # imported where used: the envs and planners load gymnax
    from jaxrl_modules.envs import GymnaxEnv
    from jaxrl_modules.planners import MPCPlannerBase

__all__ = ["MPCConfig", "make_policy", "make_recipe", "make_train"]

# The closed loop's state: the environments' TensorDict (with the plan), the running return, the
# finished episodes' return sum and count, the key, and the environment steps so far.
MPCState = tuple[TensorDict, jax.Array, jax.Array, jax.Array, jax.Array, jax.Array]


@dataclasses.dataclass(frozen=True)
class MPCConfig:
    """The closed loop's configuration. Default: 5 episodes of 200 steps of Pendulum-v1 with CEM."""

    env_name: str = "Pendulum-v1"
    total_timesteps: int = 1000  # all environments together
    planner: str = "cem"  # or "mppi"
    num_envs: int = 5
    chunk_steps: int = 20  # steps per environment between progress reports
    planning_horizon: int = 60
    optim_steps: int = 5
    num_candidates: int = 500
    top_k: int = 50
    temperature: float = 1.0  # MPPI only
    keep_elites: int = 10
    noise_beta: float = 2.0
    momentum: float = 0.1
    return_best: bool = True

    def __post_init__(self) -> None:
        common.check_config(self)
        if self.planner not in ("cem", "mppi"):
            raise ValueError(f"MPCConfig.planner must be 'cem' or 'mppi', got {self.planner!r}.")
        for name in ("num_envs", "chunk_steps"):
            if getattr(self, name) < 1:
                raise ValueError(f"MPCConfig.{name} must be >= 1, got {getattr(self, name)}.")
        if self.total_timesteps < self.num_envs * self.chunk_steps:
            raise ValueError(
                f"MPCConfig.total_timesteps={self.total_timesteps} is less than one chunk "
                f"(num_envs * chunk_steps = {self.num_envs * self.chunk_steps} steps)."
            )


def _planner(config: MPCConfig, env: GymnaxEnv) -> MPCPlannerBase:
    """The config's planner over ``env``'s own dynamics (`GymnaxEnv.model_step`), warm-started."""
    from jaxrl_modules.planners import CEMPlanner, MPPIPlanner

    if not jnp.issubdtype(env.action_spec.dtype, jnp.floating):
        raise ValueError(f"mpc: the planners need continuous actions; {config.env_name} has {env.action_spec!r}.")
    if config.planner == "cem":
        return CEMPlanner(
            env=env,
            planning_horizon=config.planning_horizon,
            optim_steps=config.optim_steps,
            num_candidates=config.num_candidates,
            top_k=config.top_k,
            warm_start=True,
            keep_elites=config.keep_elites,
            noise_beta=config.noise_beta,
            momentum=config.momentum,
            return_best=config.return_best,
        )
    return MPPIPlanner(
        env=env,
        planning_horizon=config.planning_horizon,
        optim_steps=config.optim_steps,
        num_candidates=config.num_candidates,
        top_k=config.top_k,
        temperature=config.temperature,
        warm_start=True,
        keep_elites=config.keep_elites,
        noise_beta=config.noise_beta,
        momentum=config.momentum,
        return_best=config.return_best,
    )


def make_policy(config: MPCConfig, variables: Any) -> Callable[[TensorDict], TensorDict]:
    """The closed loop's policy: ``policy(td) -> td`` with ``"action"`` written, jittable.

    The planner of the recipe, planning from ``td`` (an environment's TensorDict: it reads the
    true state ``"_env_state"``), any batch; the returned TensorDict is ``td`` with the plan's
    action ``[*B, *action]`` and the plan kept for the next step's warm start
    (``PLAN_KEY``). Every recipe has a ``make_policy(config, variables)`` of this meaning.

    Args:
      config: the run's `MPCConfig`.
      variables: nothing is learned, so ``{}``; ``{"key": key}`` sets the planning noise's key
        (default ``jax.random.key(0)``: the same noise at every call).

    Returns:
      ``policy(td) -> td``.

    Examples:
      >>> import jax
      >>> from jaxrl_modules.envs import GymnaxEnv
      >>> config = MPCConfig(planning_horizon=5, num_candidates=16, top_k=4, keep_elites=2)
      >>> policy = jax.jit(make_policy(config, {}))
      >>> env = GymnaxEnv("Pendulum-v1", batch_size=(3,))
      >>> policy(env.reset(jax.random.key(1)))["action"].shape
      (3, 1)
    """
    from jaxrl_modules.envs import GymnaxEnv

    with jax.ensure_compile_time_eval():  # the specs are constants, even if called under a trace
        env = GymnaxEnv(config.env_name, batch_size=(1,))
    planner = _planner(config, env)
    key = variables.get("key") if variables else None

    def act(td: TensorDict) -> TensorDict:
        plan_key = jax.random.key(0) if key is None else key
        return planner.apply({}, td, rngs={"planning": plan_key})

    return act


def make_recipe(config: MPCConfig) -> common.Recipe:
    """The closed loop in chunks of ``chunk_steps`` steps of ``num_envs`` environments.

    Metrics per chunk: ``return`` (see the module's docstring), ``episodes`` (episodes completed
    so far) and ``steps`` (environment steps so far).
    """
    from jaxrl_modules.envs import GymnaxEnv, step_mdp
    from jaxrl_modules.planners import PLAN_KEY

    env = GymnaxEnv(config.env_name, batch_size=(config.num_envs,))
    planner = _planner(config, env)
    plan_shape = (config.num_envs, config.planning_horizon, *env.action_spec.shape)
    zeros = jnp.zeros(config.num_envs)

    def init(key: jax.Array) -> MPCState:
        key_reset, key = jax.random.split(key)
        td = env.reset(key_reset).set(PLAN_KEY, jnp.zeros(plan_shape, env.action_spec.dtype))
        # running return, finished episodes' return sum and count
        return td, zeros, zeros, zeros, key, jnp.zeros((), jnp.int32)

    def step(carry: MPCState, _: None) -> tuple[MPCState, None]:
        td, running, total, count, key, steps = carry
        key, key_plan = jax.random.split(key)
        td = planner.apply({}, td, rngs={"planning": key_plan})
        td = env.step(td)
        running = running + td["next", "reward"][:, 0]
        done = td["next", "done"][:, 0]
        total, count = total + jnp.where(done, running, 0.0), count + done
        running = jnp.where(done, 0.0, running)
        return (env.maybe_reset(step_mdp(td)), running, total, count, key, steps + config.num_envs), None

    def update(state: MPCState) -> tuple[MPCState, dict[str, jax.Array]]:
        state, _ = jax.lax.scan(step, state, None, length=config.chunk_steps)
        _, running, total, count, _, steps = state
        finished = count.sum()
        mean_return = jnp.where(finished > 0, total.sum() / jnp.maximum(finished, 1), running.mean())
        return state, {"return": mean_return, "episodes": finished, "steps": steps}

    steps_per_chunk = config.num_envs * config.chunk_steps
    return common.Recipe(init, update, config.total_timesteps // steps_per_chunk, steps_per_chunk)


def make_train(config: MPCConfig) -> Callable[[jax.Array], tuple[Any, dict[str, jax.Array]]]:
    """``train(key) -> (state, metrics [num_chunks])``: the whole closed loop, one jittable function."""
    return common.make_train(make_recipe(config))
