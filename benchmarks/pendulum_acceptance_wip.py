"""Issue 6 acceptance: CEM / MPPI in closed loop on the true Pendulum-v1 (gymnax) dynamics.

Prints, for each planner, the returns of 5 episodes x 200 steps for each reset seed 0..4 (env
keys ``split(key(seed), 5)``; planner keys fixed: ``split(key(1), 200)``) and each set's mean.

    PYTHONPATH=. python benchmarks/pendulum_acceptance_wip.py            # iCEM options on
    PYTHONPATH=. python benchmarks/pendulum_acceptance_wip.py --torchrl  # TorchRL's plain loop
"""
import sys
import time

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments.classic_control.pendulum import EnvState

from jaxrl_modules import Bounded, TensorDict
from jaxrl_modules.planners import CEMPlanner, MPPIPlanner

ENV, PARAMS = gymnax.make("Pendulum-v1")
SEEDS, EPISODES, STEPS = (0, 1, 2, 3, 4), 5, 200
PLAIN = dict(planning_horizon=30, num_candidates=500, optim_steps=5, top_k=50)
ICEM = dict(planning_horizon=60, num_candidates=500, optim_steps=5, top_k=50, keep_elites=10,
            noise_beta=2.0, momentum=0.1, return_best=True)


def step_fn(obs, action):
    """The true dynamics and reward; theta from the observation with atan2."""
    state = EnvState(theta=jnp.arctan2(obs[1], obs[0]), theta_dot=obs[2], last_u=jnp.float32(0.0), time=0)
    next_obs, _, reward, _, _ = ENV.step_env(jax.random.key(0), state, action, PARAMS)
    return next_obs, reward, jnp.zeros((), bool)


def run(planner):
    keys = jnp.concatenate([jax.random.split(jax.random.key(s), EPISODES) for s in SEEDS])
    n = len(keys)
    obs, states = jax.vmap(ENV.reset_env, in_axes=(0, None))(keys, PARAMS)
    td = TensorDict({"observation": obs, "is_init": jnp.ones((n,), bool),
                     "_planner_mean": jnp.zeros((n, planner.planning_horizon, 1)), "action": jnp.zeros((n, 1))},
                    batch_size=[n])

    def body(carry, key):
        td, states = carry
        td = planner.apply({}, td, rngs={"planning": key})
        obs, states, reward, _, _ = jax.vmap(ENV.step_env, in_axes=(None, 0, 0, None))(key, states, td["action"], PARAMS)
        return (td.set("observation", obs).set("is_init", jnp.zeros((n,), bool)), states), reward

    _, rewards = jax.lax.scan(body, (td, states), jax.random.split(jax.random.key(1), STEPS))
    return rewards.sum(0).reshape(len(SEEDS), EPISODES)


if __name__ == "__main__":
    config = PLAIN if "--torchrl" in sys.argv else ICEM
    for name, cls, extra in (("CEM", CEMPlanner, {}), ("MPPI", MPPIPlanner, dict(temperature=1.0))):
        planner = cls(action_spec=Bounded(-2.0, 2.0, shape=(1,)), step_fn=step_fn, warm_start=True, **config, **extra)
        start = time.time()
        returns = np.asarray(jax.jit(lambda p=planner: run(p))())
        print(f"{name} {config | extra} ({time.time() - start:.0f} s for {len(SEEDS)} x {EPISODES} x {STEPS} steps)")
        for seed, r in zip(SEEDS, returns):
            print(f"  seed {seed}: mean {r.mean():7.1f}  episodes {[round(float(x), 1) for x in r]}")
