"""`CEMPlanner`: cross-entropy method MPC (Rubinstein 1999; PETS, Chua et al. 2018)."""

from __future__ import annotations

from typing import Any

import jax

from jaxrl_modules.functional import planning as F
from jaxrl_modules.planners.common import MPCPlannerBase

__all__ = ["CEMPlanner"]


class CEMPlanner(MPCPlannerBase):
    """TorchRL's ``CEMPlanner`` over pure model functions (`jaxrl_modules.functional.cem_plan`).

    Refits a Gaussian over action sequences to the ``top_k`` best of ``num_candidates`` by
    return, ``optim_steps`` times, and writes the final mean's first action. Differences from
    TorchRL: ``top_k=1`` gives std 0, not NaN; rewards after a done are zeroed (as TorchRL 0.14.1);
    ``value_fn`` adds a TD-MPC tail; ``warm_start`` carries the plan; a NaN or ``-inf`` return
    ranks last and is no elite. Arguments: see `MPCPlannerBase`; positionally in TorchRL's order
    ``CEMPlanner(env, planning_horizon, optim_steps, num_candidates, top_k, reward_key,
    action_key)``, every other one by keyword. The state is checked against the TensorDict's batch
    size (`MPCPlannerBase`).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import Bounded, TensorDict
      >>> from jaxrl_modules.planners import CEMPlanner
      >>> planner = CEMPlanner(
      ...     action_spec=Bounded(-1.0, 1.0, shape=(1,)), planning_horizon=3, optim_steps=3,
      ...     num_candidates=64, top_k=8, dynamics_fn=lambda s, a: s + a,
      ...     reward_fn=lambda s, a, s2: -jnp.sum((s2 - 1.0) ** 2))
      >>> td = TensorDict({"observation": jnp.zeros((4, 1))}, batch_size=[4])
      >>> out = planner.apply({}, td, rngs={"planning": jax.random.key(0)})
      >>> out["action"].shape, bool((out["action"] > 0.5).all())
      ((4, 1), True)
    """

    def plan(self, key: jax.Array, state: Any, init_mean: jax.Array) -> F.PlanResult:
        return F.cem_plan(key, state, init_mean=init_mean, **self._model())
