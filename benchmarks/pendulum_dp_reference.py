"""What the physics allows on the MPC recipe's Pendulum-v1 episodes: an offline optimal controller.

Finite-horizon value iteration on a (theta, theta_dot) grid (721 x 321, 81 torques, bilinear
interpolation) over gymnax's Pendulum-v1 equations, then the greedy policy (401 torques) run from
the very initial states that ``python -m benchmarks.recipes mpc`` starts from (the MPC recipe
trained from ``key(seed)``: 5 episodes per seed). A planner's mean return over the same episodes
can approach these figures but, up to grid error, not beat them.

    python -m benchmarks.pendulum_dp_reference [--seeds 0 1 2 3 4]
"""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_modules.recipes.mpc import MPCConfig

N_THETA, N_OMEGA, N_TORQUE, STEPS = 721, 321, 81, 200


def _wrap(theta):
    return (theta + jnp.pi) % (2 * jnp.pi) - jnp.pi


def _dynamics(theta, omega, u):  # gymnax Pendulum-v1: g=10, m=1, l=1, dt=0.05, |omega| <= 8
    omega = jnp.clip(omega + (15.0 * jnp.sin(theta) + 3.0 * u) * 0.05, -8.0, 8.0)
    return theta + omega * 0.05, omega


def _reward(theta, omega, u):
    return -(_wrap(theta) ** 2 + 0.1 * omega**2 + 0.001 * u**2)


def _interp(values, theta, omega):
    x = (_wrap(theta) + jnp.pi) / (2 * jnp.pi) * (N_THETA - 1)
    y = (omega + 8.0) / 16.0 * (N_OMEGA - 1)
    x0 = jnp.clip(jnp.floor(x), 0, N_THETA - 2).astype(jnp.int32)
    y0 = jnp.clip(jnp.floor(y), 0, N_OMEGA - 2).astype(jnp.int32)
    fx, fy = x - x0, y - y0
    return (
        values[x0, y0] * (1 - fx) * (1 - fy)
        + values[x0 + 1, y0] * fx * (1 - fy)
        + values[x0, y0 + 1] * (1 - fx) * fy
        + values[x0 + 1, y0 + 1] * fx * fy
    )


@jax.jit
def value_tables() -> jax.Array:
    """``[STEPS + 1, N_THETA, N_OMEGA]``: the optimal value with k steps to go."""
    theta, omega = jnp.meshgrid(jnp.linspace(-jnp.pi, jnp.pi, N_THETA), jnp.linspace(-8, 8, N_OMEGA), indexing="ij")
    torques = jnp.linspace(-2.0, 2.0, N_TORQUE)

    def backup(values, _):
        def q(u):
            return _reward(theta, omega, u) + _interp(values, *_dynamics(theta, omega, u))

        new = jax.lax.map(q, torques).max(0)
        return new, new

    zeros = jnp.zeros((N_THETA, N_OMEGA))
    _, tables = jax.lax.scan(backup, zeros, None, length=STEPS)
    return jnp.concatenate([zeros[None], tables])


@jax.jit
def episode_return(tables, theta, omega):
    torques = jnp.linspace(-2.0, 2.0, 401)

    def body(state, k):
        theta, omega = state
        q = _reward(theta, omega, torques) + _interp(tables[STEPS - 1 - k], *_dynamics(theta, omega, torques))
        u = torques[jnp.argmax(q)]
        return _dynamics(theta, omega, u), _reward(theta, omega, u)

    _, rewards = jax.lax.scan(body, (theta, omega), jnp.arange(STEPS))
    return rewards.sum()


def main(argv=None):
    from jaxrl_modules.envs import GymnaxEnv

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = parser.parse_args(argv)
    config = MPCConfig()
    env = GymnaxEnv(config.env_name, batch_size=(config.num_envs,))
    tables = value_tables()
    for seed in args.seeds:
        key_reset, _ = jax.random.split(jax.random.key(seed))  # as the recipe's init
        state = env.reset(key_reset)["_env_state"]
        returns = [float(episode_return(tables, t, w)) for t, w in zip(state["theta"], state["theta_dot"])]
        print(f"seed {seed}: DP mean {np.mean(returns):7.1f}  episodes {[round(r, 1) for r in returns]}")


if __name__ == "__main__":
    main()
