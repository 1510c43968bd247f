"""The MPC recipe: a planner over a GymnaxEnv's own dynamics, in closed loop."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_modules.envs import GymnaxEnv, step_mdp
from jaxrl_modules.planners import PLAN_KEY
from jaxrl_modules.recipes import mpc


def test_mppi_over_the_env_model_swings_pendulum_up_and_holds():
    # The short version of the README's figure: 2 episodes, 100 steps, a smaller plan, plain MPPI
    # (no iCEM options), the environment's own step as the model.
    config = mpc.MPCConfig(
        planner="mppi",
        num_envs=2,
        total_timesteps=200,
        chunk_steps=50,
        planning_horizon=20,
        optim_steps=4,
        num_candidates=200,
        top_k=20,
        keep_elites=0,
        noise_beta=0.0,
        momentum=0.0,
        return_best=False,
    )
    (td, running, *_), metrics = jax.jit(mpc.make_train(config))(jax.random.key(1))
    theta = np.asarray(td["_env_state", "theta"])
    upright = np.abs((theta + np.pi) % (2 * np.pi) - np.pi)
    assert np.all(upright < 0.05), upright  # swung up and still up at the end
    # a random policy loses about 6 per step here (-600 per 100 steps); the swing-up costs < 250
    assert float(running.mean()) > -250.0, running
    assert metrics["return"].shape == (2,) and np.isclose(float(metrics["return"][-1]), float(running.mean()))
    assert metrics["steps"].tolist() == [100, 200]
    # make_policy's planner, driven by hand with the recipe's keys, replays the same closed loop.
    replayed = _closed_loop(config, jax.random.key(1))
    np.testing.assert_allclose(replayed["_env_state", "theta"], td["_env_state", "theta"], rtol=1e-5, atol=1e-5)


def _closed_loop(config, key):
    env = GymnaxEnv(config.env_name, batch_size=(config.num_envs,))

    def step(carry, _):
        td, key = carry
        key, key_plan = jax.random.split(key)
        td = env.step(mpc.make_policy(config, {"key": key_plan})(td))  # the plan is kept: warm starts
        return (env.maybe_reset(step_mdp(td)), key), None

    @jax.jit
    def run(key):
        key_reset, key = jax.random.split(key)
        plan = jnp.zeros((config.num_envs, config.planning_horizon, *env.action_spec.shape))
        td = env.reset(key_reset).set(PLAN_KEY, plan)
        (td, _), _ = jax.lax.scan(step, (td, key), None, length=config.total_timesteps // config.num_envs)
        return td

    return run(key)


def test_make_policy_plans_an_action_for_any_batch():
    config = mpc.MPCConfig(planning_horizon=5, num_candidates=16, top_k=4, keep_elites=2)
    td = GymnaxEnv(config.env_name, batch_size=(3,)).reset(jax.random.key(0))
    out = jax.jit(mpc.make_policy(config, {}))(td)
    assert out["action"].shape == (3, 1) and out[PLAN_KEY].shape == (3, 5, 1)


def test_config_errors_before_compilation():
    with pytest.raises(TypeError, match="MPCConfig.num_envs must be int"):
        mpc.MPCConfig(num_envs=2.5)
    with pytest.raises(ValueError, match="less than one chunk"):
        mpc.MPCConfig(total_timesteps=10)
    with pytest.raises(ValueError, match="'cem' or 'mppi'"):
        mpc.MPCConfig(planner="ilqr")
    with pytest.raises(ValueError, match="continuous actions"):
        mpc.make_recipe(mpc.MPCConfig(env_name="CartPole-v1"))
