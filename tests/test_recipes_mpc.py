"""The MPC recipe: a planner over a GymnaxEnv's own dynamics, in closed loop."""

import jax
import numpy as np
import pytest

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


def test_config_errors_before_compilation():
    with pytest.raises(TypeError, match="MPCConfig.num_envs must be int"):
        mpc.MPCConfig(num_envs=2.5)
    with pytest.raises(ValueError, match="less than one chunk"):
        mpc.MPCConfig(total_timesteps=10)
    with pytest.raises(ValueError, match="'cem' or 'mppi'"):
        mpc.MPCConfig(planner="ilqr")
    with pytest.raises(ValueError, match="continuous actions"):
        mpc.make_recipe(mpc.MPCConfig(env_name="CartPole-v1"))
