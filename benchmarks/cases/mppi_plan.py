"""MPPI planning over an MLP world model: one plan of 1000 candidates, horizon 10, 5 iterations, top 100.

The MPPI counterpart of `benchmarks.cases.cem_plan`, over the same model and weights (imported
from it): state 3, action 1, ``s' = s + 0.1 MLP([s, a])``, reward ``MLP([s, a])``. Each
iteration keeps the top 100 of 1000 sampled sequences and refits the mean and std to them,
weighted by ``softmax(temperature * value)`` with temperature 1 (TorchRL's meaning: it multiplies
the value); the value of a sequence is its summed reward.

* ``jaxrl_modules``: `MPPIPlanner` (its default value: the return with discount 1, i.e. the
  summed reward) applied to a TensorDict of one state, jitted;
* ``jax``: the same loop hand-written (vmap over candidates, scan over the horizon, top-k,
  softmax weights);
* ``torchrl``: TorchRL's ``MPPIPlanner`` over a batch-unlocked ``EnvBase`` whose step runs the
  same torch MLPs, with an advantage module that writes the summed reward (2 threads, and 1).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.cases import cem_plan
from benchmarks.cases.cem_plan import A, S, dynamics, reward, torch_model_env
from benchmarks.harness import keyed_call, torch_threads
from jaxrl_modules import Bounded, TensorDict
from jaxrl_modules.planners import MPPIPlanner

NAME = "mppi_plan"
TEMPERATURE = 1.0


def sizes(smoke: bool) -> list[str]:
    return cem_plan.sizes(smoke)  # the same sizes, so the two planners' rows line up


def _hand_written(c: int, h: int, i: int, k: int) -> Callable:
    def plan(key, state):
        def score(seq):
            def body(s, a):
                return dynamics(s, a), reward(s, a, None)

            _, r = jax.lax.scan(body, state, seq)
            return r.sum()

        def iteration(carry, key):
            mean, std = carry
            actions = jnp.clip(mean[None] + std[None] * jax.random.normal(key, (c, h, A)), -1.0, 1.0)
            values, idx = jax.lax.top_k(jax.vmap(score)(actions), k)
            elites = actions[idx]
            weights = jax.nn.softmax(TEMPERATURE * values)
            mean = jnp.tensordot(weights, elites, axes=1)
            std = jnp.sqrt(jnp.tensordot(weights, (elites - mean[None]) ** 2, axes=1))
            return (mean, std), None

        (mean, _), _ = jax.lax.scan(iteration, (jnp.zeros((h, A)), jnp.ones((h, A))), jax.random.split(key, i))
        return mean[0]

    def call(key, state):
        key, sub = jax.random.split(key)
        return key, plan(sub, state)

    return call


def implementations(size: str) -> dict[str, Callable[[], object]]:
    c, h, i, k = cem_plan._parse(size)
    state = jnp.asarray(np.random.default_rng(2).normal(size=(S,)).astype(np.float32))
    planner = MPPIPlanner(
        action_spec=Bounded(-1.0, 1.0, shape=(A,)),
        planning_horizon=h,
        optim_steps=i,
        num_candidates=c,
        top_k=k,
        temperature=TEMPERATURE,
        dynamics_fn=dynamics,
        reward_fn=reward,
    )
    td = TensorDict({"observation": state}, batch_size=[])

    def ours(key, td):
        key, sub = jax.random.split(key)
        return key, planner.apply({}, td, rngs={"planning": sub})["action"]

    impls = {
        "jaxrl_modules": keyed_call(ours, jax.random.key(0), td),
        "jax": keyed_call(_hand_written(c, h, i, k), jax.random.key(0), state),
    }
    impls.update(_torchrl(np.asarray(state), c, h, i, k))
    return impls


def _torchrl(state: np.ndarray, c: int, h: int, i: int, k: int) -> dict[str, Callable[[], object]]:
    try:
        import torch
        from tensordict import TensorDict as TorchTensorDict
        from torchrl.modules.planners import MPPIPlanner as TorchMPPI
    except ImportError:
        return {}

    class SummedReward(torch.nn.Module):
        """TorchRL's MPPI reads ``"advantage"[..., :1, :]`` of the ``[C, H]`` rollout: the value
        of each candidate from its first step, here the sum of its (post-done masked) rewards."""

        def forward(self, td):
            rewards = td.get(("next", "reward"))  # [C, H, 1]
            td.set("advantage", rewards.sum(-2, keepdim=True).expand_as(rewards))
            return td

    planner = TorchMPPI(
        torch_model_env(),
        SummedReward(),
        temperature=TEMPERATURE,
        planning_horizon=h,
        optim_steps=i,
        num_candidates=c,
        top_k=k,
    )
    td = TorchTensorDict({"observation": torch.tensor(state)}, [])

    def call():
        with torch.no_grad():
            return planner(td.clone())["action"]

    return torch_threads(call)
