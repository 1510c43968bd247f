"""MPC planners: the CEM / MPPI inner loops (functional) and the key-based planner modules."""

import gymnax
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments.classic_control.pendulum import EnvState

from jaxrl_modules import Bounded, TensorDict
from jaxrl_modules.envs import GymnaxEnv
from jaxrl_modules.functional import planning as F
from jaxrl_modules.planners import PLAN_KEY, CEMPlanner, MPPIPlanner

B, H, C, K, I = 3, 4, 32, 4, 2  # shared shapes keep XLA compilations few
SPEC = Bounded(-1.0, 1.0, shape=(1,))


def _dynamics(s, a):
    return s + a


def _reward(s, a, s2):
    return -jnp.sum((s2 - 0.5) ** 2)


SIZES = dict(horizon=H, optim_steps=I, num_candidates=C, top_k=K)
CEM = jax.jit(
    lambda key, s: F.cem_plan(key, s, _dynamics, _reward, action_shape=(1,), action_low=-1.0, action_high=1.0, **SIZES)
)
PLANNERS = {
    "cem": CEMPlanner(
        action_spec=SPEC,
        planning_horizon=H,
        optim_steps=I,
        num_candidates=C,
        top_k=K,
        dynamics_fn=_dynamics,
        reward_fn=_reward,
        warm_start=True,
    ),
    "mppi": MPPIPlanner(
        action_spec=SPEC,
        planning_horizon=H,
        optim_steps=I,
        num_candidates=C,
        top_k=K,
        temperature=5.0,
        dynamics_fn=_dynamics,
        reward_fn=_reward,
        warm_start=True,
    ),
}
APPLY = {name: jax.jit(lambda td, key, p=p: p.apply({}, td, rngs={"planning": key})) for name, p in PLANNERS.items()}


def _td(states, is_init=True):
    return TensorDict(
        {"observation": jnp.asarray(states), "is_init": jnp.full((len(states),), is_init)}, batch_size=[len(states)]
    )


STATES = np.array([[-1.5], [2.0], [-0.8]], np.float32)  # far from the goal 0.5: the direction is clear


def test_cem_same_key_same_plan_jit_equals_eager_and_moves_towards_goal():
    key = jax.random.key(0)
    a, b = CEM(key, STATES[0]), CEM(key, STATES[0])
    np.testing.assert_array_equal(np.asarray(a.mean), np.asarray(b.mean))
    eager = F.cem_plan(key, STATES[0], _dynamics, _reward, action_shape=(1,), action_low=-1.0, action_high=1.0, **SIZES)
    np.testing.assert_allclose(np.asarray(eager.mean), np.asarray(a.mean), atol=1e-5)
    assert not np.array_equal(np.asarray(CEM(jax.random.key(1), STATES[0]).mean), np.asarray(a.mean))
    assert a.action.shape == (1,) and a.mean.shape == a.std.shape == (H, 1)
    assert np.all(np.abs(np.asarray(a.mean)) <= 1.0)  # projected candidates stay in bounds
    assert np.sign(float(a.action[0])) == np.sign(0.5 - STATES[0, 0])


def test_cem_vmap_over_states_equals_a_loop():
    keys = jax.random.split(jax.random.key(2), B)
    batched = jax.jit(jax.vmap(CEM))(keys, STATES)
    for i in range(B):
        np.testing.assert_allclose(np.asarray(batched.mean[i]), np.asarray(CEM(keys[i], STATES[i]).mean), atol=1e-5)


@pytest.mark.parametrize("name", ["cem", "mppi"])
def test_planner_modules_batch_jit_and_same_key(name):
    td, key = _td(STATES), jax.random.key(3)
    out = APPLY[name](td, key)
    assert out["action"].shape == (B, 1) and out[PLAN_KEY].shape == (B, H, 1)
    np.testing.assert_array_equal(np.asarray(APPLY[name](td, key)["action"]), np.asarray(out["action"]))
    eager = PLANNERS[name].apply({}, td, rngs={"planning": key})
    np.testing.assert_allclose(np.asarray(eager["action"]), np.asarray(out["action"]), atol=1e-5)
    # every environment's plan ends nearer 0.5 than it starts
    reached = STATES + np.asarray(out[PLAN_KEY]).sum(axis=1)
    assert np.all(np.abs(reached - 0.5) < np.abs(STATES - 0.5))
    # tensor call form: one unbatched state
    action, plan = PLANNERS[name].apply({}, STATES[0], jnp.array(True), rngs={"planning": key})
    assert action.shape == (1,) and plan.shape == (H, 1)


def test_warm_start_shifts_the_previous_plan_and_is_init_restarts():
    mean = jnp.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(np.asarray(F.shift_plan(mean)), [[2, 3], [4, 5], [0, 0]])
    np.testing.assert_array_equal(np.asarray(F.shift_plan(mean, "last")), [[2, 3], [4, 5], [4, 5]])
    np.testing.assert_array_equal(np.asarray(F.shift_plan(mean, jnp.array([7.0, 8.0]))[-1]), [7, 8])
    key = jax.random.key(4)
    fresh = APPLY["cem"](_td(STATES), key)
    carried = fresh.set(PLAN_KEY, jnp.full((B, H, 1), 0.9)).set("is_init", jnp.array([True, False, False]))
    out = APPLY["cem"](carried, key)
    # the restarted environment plans exactly as a fresh one; the others start elsewhere
    np.testing.assert_allclose(np.asarray(out["action"][0]), np.asarray(fresh["action"][0]), atol=1e-6)
    assert not np.allclose(np.asarray(out["action"][1:]), np.asarray(fresh["action"][1:]))
    with pytest.raises(KeyError, match="is_init"):
        PLANNERS["cem"].apply({}, carried.exclude("is_init"), rngs={"planning": key})


def test_top_k_one_is_finite_where_torchrl_gives_nan():
    plan = F.cem_plan(
        jax.random.key(5),
        STATES[0],
        _dynamics,
        _reward,
        action_shape=(1,),
        horizon=H,
        optim_steps=I,
        num_candidates=C,
        top_k=1,
    )
    assert np.all(np.isfinite(np.asarray(plan.mean))) and np.all(np.asarray(plan.std) == 0.0)
    floored = F.cem_plan(
        jax.random.key(5),
        STATES[0],
        _dynamics,
        _reward,
        action_shape=(1,),
        horizon=H,
        optim_steps=I,
        num_candidates=C,
        top_k=1,
        min_std=0.1,
    )
    np.testing.assert_allclose(np.asarray(floored.std), 0.1)


def test_mppi_huge_values_do_not_overflow_and_match_a_float64_reference():
    key, scale, temperature = jax.random.key(6), 1e4, 1.0
    # values scale * (1 + sum of the actions), about 1e4 +- 5: exp overflows float32 without the max shift
    advantage = lambda rewards, dones, states: scale * (1.0 + jnp.sum(states))  # noqa: E731
    plan = F.mppi_plan(
        key,
        jnp.zeros(()),
        lambda s, a: a,
        lambda s, a, s2: 0.0,
        horizon=H,
        optim_steps=1,
        num_candidates=C,
        top_k=C,
        temperature=temperature,
        advantage_fn=advantage,
        action_shape=(),
        init_std=1e-4,
    )
    # the same candidates, drawn as the loop draws them (one iteration: the first split key)
    actions = 1e-4 * np.asarray(jax.random.normal(jax.random.split(key, 1)[0], (C, H)), np.float64)
    values = temperature * scale * (1.0 + actions.sum(axis=1))
    with np.errstate(over="ignore"):  # TorchRL's exp(temperature * value) overflows here
        assert np.isinf(np.exp(np.float32(values.max())))
    w = np.exp(values - values.max())
    w /= w.sum()
    assert w.max() < 0.9  # several candidates share the weight: the mean is not just the best one
    mean = w @ actions
    np.testing.assert_allclose(np.asarray(plan.mean), mean, rtol=1e-3, atol=1e-8)
    np.testing.assert_allclose(np.asarray(plan.std), np.sqrt(w @ (actions - mean) ** 2), rtol=1e-3, atol=1e-8)


def test_rewards_after_done_are_masked_and_the_tail_only_counts_when_alive():
    rewards = jnp.array([[1.0, 2.0, 3.0, 4.0], [1.0, 2.0, 3.0, 4.0]])
    dones = jnp.array([[False, True, False, True], [False, False, False, False]])
    np.testing.assert_array_equal(np.asarray(F.mask_post_done_reward(rewards, dones)), [[1, 2, 0, 0], [1, 2, 3, 4]])
    got = F.discounted_plan_return(rewards, dones, jnp.array([100.0, 100.0]), discount=0.5)
    np.testing.assert_allclose(np.asarray(got), [1 + 0.5 * 2, 1 + 1 + 0.75 + 0.5 + 0.0625 * 100])
    # a model that pays 10 per step once "done" (s > 0.5): the planner must not chase those rewards
    step = lambda s, a: (s + a, jnp.where(s + a > 0.5, 10.0, -jnp.abs(a)), s + a > 0.5)  # noqa: E731
    rewards, dones, _ = F.plan_rollout(jnp.float32(0.0), jnp.full((1, H), 0.6), step)
    assert float(F.discounted_plan_return(rewards, dones)[0]) == pytest.approx(10.0)


def test_bad_sizes_give_clear_errors():
    kw = dict(action_shape=(1,), optim_steps=I, num_candidates=C)
    with pytest.raises(ValueError, match="top_k=40 is larger than num_candidates=32"):
        F.cem_plan(jax.random.key(0), STATES[0], _dynamics, _reward, horizon=H, top_k=40, **kw)
    with pytest.raises(ValueError, match="planning_horizon must be at least 1, got 0"):
        F.mppi_plan(jax.random.key(0), STATES[0], _dynamics, _reward, horizon=0, top_k=K, **kw)
    with pytest.raises(ValueError, match="CEMPlanner: top_k=40 is larger"):
        CEMPlanner(
            action_spec=SPEC, planning_horizon=H, num_candidates=C, top_k=40, dynamics_fn=_dynamics, reward_fn=_reward
        )
    with pytest.raises(ValueError, match="MPPIPlanner: planning_horizon must be at least 1"):
        MPPIPlanner(action_spec=SPEC, planning_horizon=0, dynamics_fn=_dynamics, reward_fn=_reward)
    with pytest.raises(ValueError, match="temperature must be a positive, finite number"):
        MPPIPlanner(action_spec=SPEC, temperature=0.0, dynamics_fn=_dynamics, reward_fn=_reward)
    with pytest.raises(ValueError, match="needs dynamics_fn and reward_fn"):
        CEMPlanner(action_spec=SPEC, dynamics_fn=_dynamics)


# ------------------------------------------------------------ closed loop on the true Pendulum-v1

ENV, ENV_PARAMS = gymnax.make("Pendulum-v1")


def _pendulum_step(obs, action):
    """The true dynamics, on the observation (cos, sin, theta_dot)."""
    state = EnvState(theta=jnp.arctan2(obs[1], obs[0]), theta_dot=obs[2], last_u=jnp.float32(0.0), time=0)
    next_obs, _, reward, _, _ = ENV.step_env(jax.random.key(0), state, action, ENV_PARAMS)
    return next_obs, reward, jnp.zeros((), bool)


def closed_loop(planner, episodes, steps, seed):
    """Episode returns ``[episodes]`` and angles ``[steps, episodes]``: plan, act, warm-start."""
    obs, states = jax.vmap(ENV.reset_env, in_axes=(0, None))(
        jax.random.split(jax.random.key(seed), episodes), ENV_PARAMS
    )
    td = TensorDict(
        {
            "observation": obs,
            "is_init": jnp.ones((episodes,), bool),
            "action": jnp.zeros((episodes, 1)),
            PLAN_KEY: jnp.zeros((episodes, planner.planning_horizon, 1)),
        },
        batch_size=[episodes],
    )

    def body(carry, key):
        td, states = carry
        td = planner.apply({}, td, rngs={"planning": key})
        obs, states, reward, _, _ = jax.vmap(ENV.step_env, in_axes=(None, 0, 0, None))(
            key, states, td["action"], ENV_PARAMS
        )
        return (td.set("observation", obs).set("is_init", jnp.zeros((episodes,), bool)), states), (reward, states.theta)

    _, (rewards, theta) = jax.lax.scan(body, (td, states), jax.random.split(jax.random.key(seed + 1), steps))
    return rewards.sum(0), theta


@pytest.mark.parametrize("cls", [CEMPlanner, MPPIPlanner])
def test_pendulum_swing_up_and_hold(cls):
    # The README's figure runs 5 x 200 steps with 500 candidates and horizon 30; this is the short
    # version: 2 episodes from seed 1 (one starts 2.6 rad from upright), 100 steps.
    planner = cls(
        action_spec=Bounded(-2.0, 2.0, shape=(1,)),
        planning_horizon=20,
        optim_steps=4,
        num_candidates=200,
        top_k=20,
        step_fn=_pendulum_step,
        warm_start=True,
    )
    returns, theta = jax.jit(closed_loop, static_argnums=(0, 1, 2, 3))(planner, 2, 100, 1)
    upright = np.abs((np.asarray(theta[-20:]) + np.pi) % (2 * np.pi) - np.pi)
    assert np.all(upright < 0.05), upright.max()  # swung up and held for the last second
    assert float(returns.mean()) > -200.0, returns


def test_icem_options_colored_noise_kept_elites_and_best():
    noise = F.colored_noise(jax.random.key(0), (4000, 16, 1), 2.0)
    assert noise.shape == (4000, 16, 1) and 0.8 < float(noise.std()) < 1.3  # ~1, as the colorednoise package
    lag1 = float(jnp.mean(noise[:, 1:] * noise[:, :-1]))
    assert lag1 > 0.5  # smooth in time, where white noise gives ~0
    kw = dict(action_shape=(1,), action_low=-1.0, action_high=1.0, **SIZES)
    plan = F.cem_plan(
        jax.random.key(0),
        STATES[0],
        _dynamics,
        _reward,
        keep_elites=2,
        noise_beta=2.0,
        momentum=0.1,
        return_best=True,
        **kw,
    )
    assert np.sign(float(plan.action[0])) == np.sign(0.5 - STATES[0, 0])
    np.testing.assert_array_equal(np.asarray(plan.action), np.asarray(plan.mean[0]))
    # a kept elite (the initial mean, here the exact solution) is never lost with return_best
    exact = jnp.zeros((H, 1)).at[0].set(1.0)  # from -0.5 one step of +1 reaches 0.5
    plan = F.cem_plan(
        jax.random.key(1), jnp.array([-0.5]), _dynamics, _reward, init_mean=exact, keep_elites=1, return_best=True, **kw
    )
    np.testing.assert_allclose(np.asarray(plan.mean), np.asarray(exact), atol=1e-6)


# ----------------------------------------------------------------------------- bad input (issue 20)
def _nan_below(a_threshold):
    """A 1-step model whose reward is NaN for actions below the threshold, best near a = +1."""

    def reward(s, a, s2):
        r = -jnp.sum((a - 1.0) ** 2)
        return jnp.where(jnp.all(a >= a_threshold), r, jnp.nan)

    return reward


@pytest.mark.parametrize("bad", [jnp.nan, -jnp.inf])
def test_cem_ranks_nan_and_neg_inf_returns_last(bad):
    def reward(s, a, s2):
        return jnp.where(a[0] < -0.5, bad, -((a[0] - 1.0) ** 2))

    plan = F.cem_plan(
        jax.random.key(0),
        jnp.zeros(1),
        lambda s, a: s,
        reward,
        horizon=1,
        optim_steps=6,
        num_candidates=200,
        top_k=20,
        action_shape=(1,),
        action_low=-2.0,
        action_high=2.0,
    )
    assert np.isfinite(np.asarray(plan.mean)).all()
    assert abs(float(plan.action[0]) - 1.0) < 0.2


def test_mppi_gives_nan_candidates_no_weight():
    plan = F.mppi_plan(
        jax.random.key(0),
        jnp.zeros(1),
        lambda s, a: s,
        _nan_below(-0.5),
        horizon=1,
        optim_steps=6,
        num_candidates=200,
        top_k=20,
        temperature=5.0,
        action_shape=(1,),
        action_low=-2.0,
        action_high=2.0,
    )
    assert np.isfinite(np.asarray(plan.mean)).all() and np.isfinite(np.asarray(plan.std)).all()
    assert abs(float(plan.action[0]) - 1.0) < 0.3


@pytest.mark.parametrize("plan_fn", [F.cem_plan, F.mppi_plan])
def test_all_nan_returns_keep_the_initial_distribution(plan_fn):
    init = jnp.full((2, 1), 0.25)
    plan = plan_fn(
        jax.random.key(0),
        jnp.zeros(1),
        lambda s, a: s,
        lambda s, a, s2: jnp.nan,
        horizon=2,
        optim_steps=3,
        num_candidates=16,
        top_k=4,
        init_mean=init,
        init_std=0.5,
    )
    np.testing.assert_array_equal(np.asarray(plan.mean), np.asarray(init))
    np.testing.assert_array_equal(np.asarray(plan.std), np.full((2, 1), 0.5, np.float32))


@pytest.mark.parametrize("temperature", [1e38, 3e38])
def test_mppi_does_not_overflow_at_any_finite_temperature(temperature):
    # The greediest finite temperature puts all the weight on the best elite: a finite plan near 1.
    plan = F.mppi_plan(
        jax.random.key(0),
        jnp.zeros(1),
        lambda s, a: s,
        lambda s, a, s2: -((a[0] - 1.0) ** 2),
        horizon=1,
        optim_steps=5,
        num_candidates=200,
        top_k=20,
        temperature=temperature,
        action_shape=(1,),
        action_low=-2.0,
        action_high=2.0,
    )
    assert np.isfinite(np.asarray(plan.mean)).all()
    assert abs(float(plan.action[0]) - 1.0) < 0.2


@pytest.mark.parametrize("temperature", [float("inf"), float("nan"), 0.0, -1.0])
def test_mppi_refuses_non_finite_or_non_positive_temperature(temperature):
    with pytest.raises(ValueError, match="positive, finite"):
        F.mppi_plan(
            jax.random.key(0),
            jnp.zeros(1),
            lambda s, a: s,
            lambda s, a, s2: 0.0,
            horizon=1,
            optim_steps=1,
            num_candidates=4,
            top_k=2,
            temperature=temperature,
            action_shape=(1,),
        )
    with pytest.raises(ValueError, match="positive, finite"):
        MPPIPlanner(
            action_spec=Bounded(-1.0, 1.0, shape=(1,)),
            temperature=temperature,
            dynamics_fn=lambda s, a: s,
            reward_fn=lambda s, a, s2: 0.0,
        )


def test_planners_take_torchrl_positional_order():
    env = GymnaxEnv("Pendulum-v1")
    planner = CEMPlanner(env, 3, 2, 16, 4)
    assert (planner.planning_horizon, planner.optim_steps, planner.num_candidates, planner.top_k) == (3, 2, 16, 4)
    assert planner.action_spec == env.action_spec
    # TorchRL's reward_key and action_key follow, positionally too
    planner = CEMPlanner(env, 3, 2, 16, 4, ("next", "reward"), "act")
    assert planner.action_key == "act" and planner.reward_key == ("next", "reward")
    # MPPI's TorchRL order: (env, advantage_module, temperature, planning_horizon, ...)
    advantage = lambda rewards, dones, states: jnp.sum(rewards)  # noqa: E731
    mppi = MPPIPlanner(env, advantage, 5.0, 3, 2, 16, 4, ("next", "reward"), "act")
    assert (
        mppi.advantage_module,
        mppi.temperature,
        mppi.planning_horizon,
        mppi.optim_steps,
        mppi.num_candidates,
        mppi.top_k,
        mppi.action_key,
    ) == (advantage, 5.0, 3, 2, 16, 4, "act")
    td = mppi.apply({}, env.reset(jax.random.key(0)), rngs={"planning": jax.random.key(1)})
    assert td["act"].shape == (1,)


def test_positional_mistakes_name_torchrl_order():
    env = GymnaxEnv("Pendulum-v1")
    # CEM's order given to MPPI: 3 is no advantage module
    with pytest.raises(
        TypeError,
        match=r"MPPIPlanner: advantage_module must be None or a function.*"
        r"MPPIPlanner\(env, advantage_module, temperature, planning_horizon",
    ):
        MPPIPlanner(env, 3, 2, 16, 4)
    # the old order (action_spec after env) and a spec where env goes
    with pytest.raises(
        TypeError,
        match=r"CEMPlanner: env must be a GymnaxEnv, got Bounded.*CEMPlanner\(env, "
        r"planning_horizon",
    ):
        CEMPlanner(SPEC, 3, 2, 16, 4)
    with pytest.raises(TypeError, match=r"CEMPlanner: planning_horizon must be a Python int, got 3.0.*by keyword"):
        CEMPlanner(env, 3.0, 2, 16, 4)
    with pytest.raises(TypeError, match=r"CEMPlanner: action_spec must be a TensorSpec, got 'obs'.*by keyword"):
        CEMPlanner(None, 3, 2, 16, 4, ("next", "reward"), "action", "obs")
    with pytest.raises(ValueError, match=r"CEMPlanner: reward_key must be \('next', 'reward'\), got 'r'.*model"):
        CEMPlanner(env, 3, 2, 16, 4, "r")
    with pytest.raises(TypeError, match="CEMPlanner: dynamics_fn must be a function or None, got 3"):
        CEMPlanner(action_spec=SPEC, dynamics_fn=3, reward_fn=_reward)
    with pytest.raises(ValueError, match="needs dynamics_fn and reward_fn .*got dynamics_fn=None"):
        CEMPlanner(action_spec=SPEC, reward_fn=_reward)


@pytest.mark.parametrize("bad", [jnp.nan, -jnp.inf])
def test_planner_modules_skip_nan_regions(bad):
    def reward(s, a, s2):
        return jnp.where(a[0] < -0.5, bad, -((a[0] - 1.0) ** 2))

    kw = dict(
        action_spec=Bounded(-2.0, 2.0, shape=(1,)),
        planning_horizon=1,
        optim_steps=6,
        num_candidates=200,
        top_k=20,
        dynamics_fn=lambda s, a: s,
        reward_fn=reward,
    )
    td = TensorDict({"observation": jnp.zeros((2, 1))}, [2])
    for planner in (CEMPlanner(**kw), MPPIPlanner(temperature=5.0, **kw)):
        action = planner.apply({}, td, rngs={"planning": jax.random.key(0)})["action"]
        assert np.all(np.abs(np.asarray(action) - 1.0) < 0.3), (type(planner).__name__, action)


def test_plus_inf_returns_rank_first_and_mppi_stays_finite():
    # +inf is a number (an overflowed return cannot be told from a huge one): it ranks first,
    # and MPPI weighs it as the largest float, without inf - inf = NaN.
    reward = lambda s, a, s2: jnp.where(a[0] > 1.5, jnp.inf, -((a[0] + 1.0) ** 2))  # noqa: E731
    kw = dict(
        horizon=1, optim_steps=4, num_candidates=200, top_k=20, action_shape=(1,), action_low=-2.0, action_high=2.0
    )
    for plan_fn, extra in ((F.cem_plan, {}), (F.mppi_plan, dict(temperature=1e30))):
        plan = plan_fn(jax.random.key(0), jnp.zeros(1), lambda s, a: s, reward, **kw, **extra)
        assert np.isfinite(np.asarray(plan.mean)).all() and np.isfinite(np.asarray(plan.std)).all()
        assert float(plan.action[0]) > 1.5, plan_fn.__name__


@pytest.mark.parametrize(
    "option, value, match",
    [
        ("init_std", float("inf"), "init_std must be positive and finite"),
        ("init_std", float("nan"), "init_std must be positive and finite"),
        ("init_std", 0.0, "init_std must be positive and finite"),
        ("min_std", float("nan"), "min_std must be finite and >= 0"),
        ("min_std", -0.1, "min_std must be finite and >= 0"),
        ("discount", float("inf"), "discount must be finite and >= 0"),
        ("discount", float("nan"), "discount must be finite and >= 0"),
        ("momentum", 1.0, r"momentum must be in \[0, 1\)"),
        ("momentum", -0.1, r"momentum must be in \[0, 1\)"),
        ("momentum", float("nan"), r"momentum must be in \[0, 1\)"),
        ("keep_elites", -1, "keep_elites must be a Python int >= 0"),
        ("keep_elites", 1.5, "keep_elites must be a Python int >= 0"),
        ("noise_beta", float("nan"), "noise_beta must be a finite number"),
        ("noise_beta", float("inf"), "noise_beta must be a finite number"),
    ],
)
def test_float_options_refuse_nan_inf_and_out_of_range(option, value, match):
    kw = dict(horizon=1, optim_steps=1, num_candidates=4, top_k=2, action_shape=(1,), **{option: value})
    for plan_fn, owner in ((F.cem_plan, "cem_plan"), (F.mppi_plan, "mppi_plan")):
        with pytest.raises(ValueError, match=f"{owner}: {match}"):
            plan_fn(jax.random.key(0), jnp.zeros(1), _dynamics, _reward, **kw)
    for cls in (CEMPlanner, MPPIPlanner):
        with pytest.raises(ValueError, match=f"{cls.__name__}: {match}"):
            cls(action_spec=SPEC, dynamics_fn=_dynamics, reward_fn=_reward, **{option: value})


def test_action_bounds_refuse_nan_and_low_above_high():
    kw = dict(horizon=1, optim_steps=1, num_candidates=4, top_k=2, action_shape=(1,))
    with pytest.raises(ValueError, match="cem_plan: action_low must not be NaN"):
        F.cem_plan(jax.random.key(0), jnp.zeros(1), _dynamics, _reward, action_low=float("nan"), **kw)
    with pytest.raises(ValueError, match="mppi_plan: action_low=1.0 is above action_high=-1.0"):
        F.mppi_plan(jax.random.key(0), jnp.zeros(1), _dynamics, _reward, action_low=1.0, action_high=-1.0, **kw)


# ---------------------------------------------------------------- batch sizes: one state per element
SMALL = dict(
    action_spec=SPEC,
    planning_horizon=2,
    optim_steps=1,
    num_candidates=8,
    top_k=2,
    dynamics_fn=_dynamics,
    reward_fn=_reward,
)
KEY = {"planning": jax.random.key(0)}


@pytest.mark.parametrize("cls", [CEMPlanner, MPPIPlanner])
def test_empty_batch_size_with_a_batch_like_state_raises(cls):
    # four states in a TensorDict of the default batch size (): planned as ONE (4, 1) state before
    td = TensorDict({"observation": jnp.zeros((4, 1))})
    with pytest.raises(
        ValueError,
        match=rf"{cls.__name__}: the TensorDict's batch size is \(\) and its state "
        r"'observation' has the shape \(4, 1\).*batch_size=\[4\].*state_shape",
    ):
        cls(**SMALL).apply({}, td, rngs=KEY)
    with pytest.raises(ValueError, match="batch size is"):  # the tensor call form too
        cls(**SMALL).apply({}, jnp.zeros((4, 1)), rngs=KEY)
    # the batch size says where the batch ends: four plans
    batched = TensorDict({"observation": jnp.zeros((4, 1))}, [4])
    assert cls(**SMALL).apply({}, batched, rngs=KEY)["action"].shape == (4, 1)
    # a vector state with batch size () is one state; so is a (4, 1) state when state_shape says so
    assert cls(**SMALL).apply({}, TensorDict({"observation": jnp.zeros(3)}), rngs=KEY)["action"].shape == (1,)
    matrix = {**SMALL, "dynamics_fn": lambda s, a: s + jnp.reshape(a, (1, 1))}  # a (4, 1) state
    one = cls(**matrix, state_shape=(4, 1)).apply({}, td, rngs=KEY)
    assert one["action"].shape == (1,)


def test_state_shape_is_checked_against_every_leaf():
    planner = CEMPlanner(**SMALL, state_shape=(1,))
    with pytest.raises(
        ValueError,
        match=r"CEMPlanner: the state 'observation' has shape \(4, 1\), expected \(1,\).*"
        r"Set the TensorDict's batch_size to \(4,\)",
    ):
        planner.apply({}, TensorDict({"observation": jnp.zeros((4, 1))}), rngs=KEY)
    with pytest.raises(ValueError, match=r"has shape \(4, 2\), expected \(4, 1\)"):
        planner.apply({}, TensorDict({"observation": jnp.zeros((4, 2))}, [4]), rngs=KEY)
    out = jax.jit(lambda td: planner.apply({}, td, rngs=KEY))(TensorDict({"observation": jnp.zeros((4, 1))}, [4]))
    assert out["action"].shape == (4, 1)
    # a TensorDict state: a dict of one state's shapes
    dyn = lambda s, a: s.set("x", s["x"] + a)  # noqa: E731
    rew = lambda s, a, s2: -jnp.sum((s2["x"] - 0.5) ** 2) - jnp.sum(s2["m"])  # noqa: E731
    kw = {**SMALL, "dynamics_fn": dyn, "reward_fn": rew}
    state = TensorDict({"x": jnp.zeros((3, 1)), "m": jnp.zeros((3, 2, 2))}, [3])
    nested = CEMPlanner(**kw, state_shape={"x": (1,), "m": (2, 2)})
    assert nested.apply({}, TensorDict({"observation": state}, [3]), rngs=KEY)["action"].shape == (3, 1)
    with pytest.raises(ValueError, match=r"the state 'observation'\['m'\] has shape \(3, 2, 2\), expected \(3, 2\)"):
        CEMPlanner(**kw, state_shape={"x": (1,), "m": (2,)}).apply(
            {}, TensorDict({"observation": state}, [3]), rngs=KEY
        )
    with pytest.raises(ValueError, match=r"has the entries \[\"\['m'\]\", \"\['x'\]\"\], but one state has"):
        CEMPlanner(**kw, state_shape={"x": (1,)}).apply({}, TensorDict({"observation": state}, [3]), rngs=KEY)
    # without state_shape, a TensorDict state with a batch of its own under batch size () raises
    with pytest.raises(ValueError, match=r"has a batch size \(3,\) of its own"):
        CEMPlanner(**kw).apply({}, TensorDict({"observation": state}), rngs=KEY)
    with pytest.raises(TypeError, match="CEMPlanner: state_shape must be one state's shape"):
        CEMPlanner(**SMALL, state_shape="(1,)")


def test_env_planner_checks_the_state_against_the_environment():
    env = GymnaxEnv("Pendulum-v1", batch_size=(4,))
    planner = CEMPlanner(env, 2, 1, 8, 2)
    root = env.reset(jax.random.key(0))
    assert planner.apply({}, root, rngs=KEY)["action"].shape == (4, 1)
    # the same four states under a TensorDict of batch size (): refused, naming the batch to set
    flat = TensorDict({"_env_state": root["_env_state"]})
    with pytest.raises(
        ValueError,
        match=r"CEMPlanner: the state '_env_state'\['last_u'\] has shape \(4,\), "
        r"expected \(\).*environment's state.*batch_size to \(4,\)",
    ):
        planner.apply({}, flat, rngs=KEY)
    # an unbatched environment plans its one state
    single = GymnaxEnv("Pendulum-v1")
    assert CEMPlanner(single, 2, 1, 8, 2).apply({}, single.reset(jax.random.key(0)), rngs=KEY)["action"].shape == (1,)
