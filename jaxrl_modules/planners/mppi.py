"""`MPPIPlanner`: model predictive path integral control (Williams et al., 2017)."""

from __future__ import annotations

from typing import Any

import jax

from jaxrl_modules.functional import planning as F
from jaxrl_modules.planners.common import MPCPlannerBase
from jaxrl_modules.tensordict_module.base import TensorDictModuleBase

__all__ = ["MPPIPlanner"]


class _MPPIFields(TensorDictModuleBase):
    """MPPI's own fields, first after ``env``: TorchRL's order is ``(env, advantage_module,
    temperature, planning_horizon, ...)``. A dataclass lists its bases' fields from the last base
    in the MRO to the first, so with this class after `MPCPlannerBase` these come before the
    planner's sizes (``env`` keeps the place it has here)."""

    env: Any = None
    advantage_module: Any = None
    temperature: float = 1.0


class MPPIPlanner(MPCPlannerBase, _MPPIFields):
    """TorchRL's ``MPPIPlanner`` over pure model functions (`jaxrl_modules.functional.mppi_plan`).

    As `CEMPlanner`, but the ``top_k`` elites are averaged with weights ``softmax(temperature *
    value)``, computed with the maximum subtracted (TorchRL's ``exp`` overflows for large values);
    NaN and ``-inf`` returns weigh 0, and an iteration where every return is one keeps the plan.

    Args:
      advantage_module: ``(rewards [H], dones [H], next_states) -> value`` of one candidate
        sequence (TorchRL: a value-estimator module writing ``"advantage"``); the rewards come
        zeroed after the first done. Default (None): the discounted return plus the
        ``value_fn`` tail.
      temperature: multiplies the values (TorchRL's meaning: an inverse temperature); positive and
        finite (inf or NaN raise). Every finite value works: the values are normalised before
        they are scaled.

    The other arguments are `MPCPlannerBase`'s. Positional arguments follow TorchRL's order,
    ``MPPIPlanner(env, advantage_module, temperature, planning_horizon, optim_steps,
    num_candidates, top_k, reward_key, action_key)``; pass every other one by keyword.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import Bounded, TensorDict
      >>> from jaxrl_modules.planners import MPPIPlanner
      >>> planner = MPPIPlanner(
      ...     action_spec=Bounded(-1.0, 1.0, shape=(1,)), planning_horizon=3, optim_steps=3,
      ...     num_candidates=64, top_k=8, temperature=10.0, dynamics_fn=lambda s, a: s + a,
      ...     reward_fn=lambda s, a, s2: -jnp.sum((s2 - 1.0) ** 2))
      >>> td = TensorDict({"observation": jnp.zeros((4, 1))}, batch_size=[4])
      >>> out = planner.apply({}, td, rngs={"planning": jax.random.key(0)})
      >>> bool((out["action"] > 0.5).all())
      True
    """

    _torchrl_order = (
        "env, advantage_module, temperature, planning_horizon, optim_steps, num_candidates, "
        "top_k, reward_key, action_key"
    )

    def __post_init__(self) -> None:
        if self.advantage_module is not None and not callable(self.advantage_module):
            raise TypeError(
                f"MPPIPlanner: advantage_module must be None or a function (rewards [H], dones [H], "
                f"next_states) -> value, got {self.advantage_module!r}. {self._positional_hint()}"
            )
        F.check_temperature("MPPIPlanner", self.temperature)
        super().__post_init__()

    def plan(self, key: jax.Array, state: Any, init_mean: jax.Array) -> F.PlanResult:
        return F.mppi_plan(
            key,
            state,
            init_mean=init_mean,
            temperature=self.temperature,
            advantage_fn=self.advantage_module,
            **self._model(),
        )
