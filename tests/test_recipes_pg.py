"""The PPO and TD3 recipes: GAE against rlax, config errors, and short runs vmapped over two seeds
that must learn (each short run is compiled once, in a module-scoped fixture)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import rlax

from jaxrl_modules.envs import GymnaxEnv
from jaxrl_modules.recipes import evaluate, ppo, td3

# A uniformly random policy's mean return over 16 Pendulum-v1 episodes of 200 steps, measured over
# 200 independent draws of 16 episodes: -1236 (std 77, best draw -1000); a zero-torque policy
# gives -1209 (std 93). A short run must beat -800: > 5 standard deviations above the random mean
# and 200 above the best of 200 random draws, so a policy that learned nothing cannot pass.
RANDOM_RETURN = -1236.0
LEARNED = -800.0

# Small budgets that still learn. Measured final returns of the two vmapped seeds: PPO (16 updates of
# 16 x 256 steps) -162 and -180; TD3 (1000 random steps, then 5000 with smaller networks and
# batches) -141 and -266.
PPO_SMALL = ppo.PPOConfig(total_timesteps=65_536, num_chunks=2, num_eval_envs=16)
TD3_SMALL = td3.TD3Config(
    total_timesteps=6_000, learning_starts=1_000, num_chunks=2, hidden_size=64, batch_size=64, num_eval_envs=16
)


def _run_two_seeds(module, config):
    train = jax.jit(jax.vmap(module.make_train(config)))
    state, metrics = train(jax.random.split(jax.random.key(0), 2))
    return state, jax.device_get(metrics)


@pytest.fixture(scope="module")
def ppo_run():
    return _run_two_seeds(ppo, PPO_SMALL)


@pytest.fixture(scope="module")
def td3_run():
    return _run_two_seeds(td3, TD3_SMALL)


# ------------------------------------------------------------------------------------------- GAE
def test_gae_equals_rlax_with_terminations():
    T, B = 37, 5
    k1, k2, k3 = jax.random.split(jax.random.key(3), 3)
    reward = jax.random.normal(k1, (T, B))
    values = jax.random.normal(k2, (T + 1, B))
    terminated = jax.random.bernoulli(k3, 0.1, (T, B))
    gamma, lam = 0.97, 0.9
    # A terminated step ends its episode (done); rlax cuts both the bootstrap and the trace there.
    adv, target = jax.jit(ppo.gae, static_argnums=(5, 6))(
        reward, values[:-1], values[1:], terminated, terminated, gamma, lam
    )
    discount = gamma * (1.0 - terminated.astype(jnp.float32))
    rlax_gae = jax.vmap(rlax.truncated_generalized_advantage_estimation, in_axes=(1, 1, None, 1), out_axes=1)
    expected = jax.jit(rlax_gae)(reward, discount, lam, values)
    np.testing.assert_allclose(adv, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(target, expected + values[:-1], rtol=1e-5, atol=1e-5)


def test_gae_truncation_bootstraps_from_the_final_observation_and_cuts_the_trace():
    reward = jnp.array([1.0, 2.0, 3.0])
    value = jnp.array([0.5, 0.25, 0.125])
    next_value = jnp.array([0.25, 10.0, 1.0])  # step 1 ends an episode by truncation: V(final obs) = 10
    done = jnp.array([False, True, False])
    adv, _ = ppo.gae(reward, value, next_value, jnp.zeros(3, bool), done, 0.5, 1.0)
    delta = reward + 0.5 * next_value - value
    np.testing.assert_allclose(adv, [delta[0] + 0.5 * delta[1], delta[1], delta[2]], rtol=1e-6)


# ------------------------------------------------------------------------------------ configs
@pytest.mark.parametrize("config_class", [ppo.PPOConfig, td3.TD3Config])
def test_wrong_typed_config_value_names_the_field(config_class):
    with pytest.raises(TypeError, match="total_timesteps must be int"):
        config_class(total_timesteps=1e5)
    with pytest.raises(TypeError, match="gamma must be float"):
        config_class(gamma="0.99")


def test_budget_smaller_than_one_update_raises():
    with pytest.raises(ValueError, match="smaller than one update.*num_envs \\* num_steps = 16 \\* 256 = 4096"):
        ppo.PPOConfig(total_timesteps=4095)
    with pytest.raises(ValueError, match="smaller than one update"):
        td3.TD3Config(total_timesteps=1001, learning_starts=1000)


def test_bad_values_raise():
    with pytest.raises(ValueError, match="num_minibatches=3 must divide"):
        ppo.PPOConfig(num_minibatches=3)
    with pytest.raises(ValueError, match="eval_exploration"):
        ppo.PPOConfig(eval_exploration="random")
    with pytest.raises(ValueError, match="sigma_end"):
        td3.TD3Config(sigma_init=0.1, sigma_end=0.2)
    with pytest.raises(ValueError, match="action space"):
        ppo.make_recipe(ppo.PPOConfig(env_name="CartPole-v1"))


@pytest.mark.parametrize(
    "cls, old, new",
    [
        (ppo.PPOConfig, "eval_envs", "num_eval_envs"),
        (td3.TD3Config, "eval_envs", "num_eval_envs"),
        (td3.TD3Config, "actor_lr", "actor_learning_rate"),
        (td3.TD3Config, "critic_lr", "critic_learning_rate"),
        (td3.TD3Config, "exploration_noise", "sigma_init"),
        (td3.TD3Config, "exploration_noise_end", "sigma_end"),
        (td3.TD3Config, "exploration_annealing_steps", "annealing_num_steps"),
    ],
)
def test_renamed_fields_give_the_new_name(cls, old, new):
    message = f"{cls.__name__}: '{old}' is now '{new}'"
    with pytest.raises(TypeError, match=message):
        cls(**{old: 1})
    with pytest.raises(TypeError, match=message):
        dataclasses.replace(cls(), **{old: 1})
    with pytest.raises(AttributeError, match=message):
        getattr(cls(), old)


# --------------------------------------------------------------------------------- short runs
@pytest.mark.parametrize("name", ["ppo", "td3"])
def test_train_vmaps_over_seeds(name, request):
    module, config = (ppo, PPO_SMALL) if name == "ppo" else (td3, TD3_SMALL)
    _, metrics = request.getfixturevalue(f"{name}_run")
    recipe = module.make_recipe(config)
    assert recipe.num_chunks == 2
    for key, value in metrics.items():
        assert value.shape == (2, recipe.num_chunks), key
        assert np.isfinite(value).all(), key
    # Both chunks ran their steps, in both seeds.
    steps = metrics["steps"]
    np.testing.assert_array_equal(steps[:, 1] - steps[:, 0], [recipe.steps_per_chunk] * 2)
    # Different seeds, different runs.
    assert metrics["return"][0, -1] != metrics["return"][1, -1]


@pytest.mark.parametrize("name", ["ppo", "td3"])
def test_short_run_learns(name, request):
    _, metrics = request.getfixturevalue(f"{name}_run")
    final = metrics["return"][:, -1]
    assert (final > LEARNED).all(), f"{name}: final greedy returns {final} (random policy: {RANDOM_RETURN})"


@pytest.mark.parametrize("name", ["ppo", "td3"])
def test_make_policy_replays_the_trained_variables(name, request):
    module, config = (ppo, PPO_SMALL) if name == "ppo" else (td3, TD3_SMALL)
    state, _ = request.getfixturevalue(f"{name}_run")
    seed_0 = jax.tree.map(lambda x: x[0], state)
    variables = seed_0.params["actor"] if name == "ppo" else seed_0.actor
    policy = jax.jit(module.make_policy(config, variables))
    env = GymnaxEnv(config.env_name, batch_size=(config.num_eval_envs,))
    replayed = float(evaluate(env, policy, jax.random.key(7), config.eval_steps))
    assert replayed > LEARNED, f"{name}: replayed greedy return {replayed} (random policy: {RANDOM_RETURN})"
