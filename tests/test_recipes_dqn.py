"""The DQN and Rainbow-lite recipes: pure helpers against loops, config errors, short runs that learn.

The runs are short (20k CartPole steps) and each recipe compiles once: the learning tests run two
seeds under ``jax.vmap``, check both, and check that a seed's run does not depend on its batch.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_modules.data.tensordict import TensorDict
from jaxrl_modules.envs import GymnaxEnv
from jaxrl_modules.recipes import _dqn_common as C
from jaxrl_modules.recipes import dqn, evaluate, rainbow

# A uniformly random policy averages ~22 on CartPole-v1 (episode returns have a std of ~12, so
# the mean of 8 evaluation episodes has a std of ~4); an untrained greedy network usually
# scores ~9 (it pushes one way). 100 is more than 4x the random policy, ~20 standard errors
# above it: only a policy that learned to balance gets there.
LEARNED = 100.0

# Short runs learn fast with learning_rate 1e-3 (the defaults' 2.5e-4 suits 500k steps): over the seeds
# split(key(0), 8), DQN ended between 233 and 396, Rainbow-lite (6 seeds) between 159 and 432;
# with 2.5e-4, 1 seed in 3 or 6 ended under 100.
SMALL_DQN = dqn.DQNConfig(
    total_timesteps=20_000,
    learning_starts=1_000,
    annealing_num_steps=10_000,
    learning_rate=1e-3,
    num_chunks=2,
    num_eval_envs=8,
)
SMALL_RAINBOW = rainbow.RainbowConfig(
    total_timesteps=20_000, learning_starts=1_000, learning_rate=1e-3, num_chunks=2, num_eval_envs=8
)


# ----------------------------------------------------------------------------- pure helpers


def _n_step_loop(r, term, done, gamma):
    n, b = r.shape
    G, steps, ended = np.zeros(b), np.zeros(b, int), np.zeros(b, bool)
    for j in range(b):
        for i in range(n):
            G[j] += gamma**i * r[i, j]
            steps[j] += 1
            if done[i, j]:
                ended[j] = term[i, j]
                break
    return G, steps, ended


def test_n_step_return_matches_a_loop():
    rng = np.random.default_rng(0)
    r = rng.normal(size=(4, 64)).astype(np.float32)
    done = rng.random((4, 64)) < 0.3
    term = done & (rng.random((4, 64)) < 0.5)  # some episodes truncated, some terminated
    G, steps, ended = jax.jit(C.n_step_return, static_argnums=3)(r, term, done, 0.9)
    G_ref, steps_ref, ended_ref = _n_step_loop(r, term, done, 0.9)
    np.testing.assert_allclose(G, G_ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(steps, steps_ref)
    np.testing.assert_array_equal(ended, ended_ref)


def test_n_step_push_emits_the_transition_of_n_steps_ago():
    n, E, T, gamma = 3, 4, 12, 0.9
    rng = np.random.default_rng(1)
    obs = rng.normal(size=(T + 1, E, 2)).astype(np.float32)
    act = rng.integers(0, 2, (T, E)).astype(np.int32)
    rew = rng.normal(size=(T, E)).astype(np.float32)
    done = rng.random((T, E)) < 0.25
    term = done & (rng.random((T, E)) < 0.5)

    def step(t):
        return TensorDict(
            {
                "observation": obs[t],
                "action": act[t],
                "next": {
                    "observation": obs[t + 1],
                    "reward": rew[t][:, None],
                    "terminated": term[t][:, None],
                    "done": done[t][:, None],
                },
            },
            batch_size=[E],
        )

    window = C.n_step_init(step(0), n)
    push = jax.jit(lambda w, s: C.n_step_push(w, s, gamma))
    for t in range(T):
        window, out, valid = push(window, step(t))
        assert bool(valid) == (t >= n - 1)
        if t < n - 1:
            continue
        s = t - n + 1  # the transition starts n - 1 pushes ago
        G, steps, ended = _n_step_loop(rew[s : t + 1], term[s : t + 1], done[s : t + 1], gamma)
        np.testing.assert_array_equal(out["observation"], obs[s])
        np.testing.assert_array_equal(out["action"], act[s])
        np.testing.assert_allclose(out["next", "reward"][:, 0], G, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(out["next", "steps_to_next_obs"][:, 0], steps)
        np.testing.assert_array_equal(out["next", "terminated"][:, 0], ended)
        np.testing.assert_array_equal(out["next", "observation"], obs[s + steps, np.arange(E)])


@pytest.mark.parametrize("tau", [1.0, 0.3])
def test_target_update_matches_numpy(tau):
    online = {"a": jnp.arange(3.0), "b": {"c": jnp.ones((2, 2))}}
    target = {"a": jnp.full(3, 5.0), "b": {"c": jnp.zeros((2, 2))}}
    new = C.target_update(online, target, tau, jnp.asarray(True))
    for o, t, x in zip(jax.tree.leaves(online), jax.tree.leaves(target), jax.tree.leaves(new)):
        np.testing.assert_allclose(x, tau * np.asarray(o) + (1 - tau) * np.asarray(t), rtol=1e-6)
    kept = C.target_update(online, target, tau, jnp.asarray(False))
    assert all(bool(jnp.array_equal(t, x)) for t, x in zip(jax.tree.leaves(target), jax.tree.leaves(kept)))


def test_q_learning_loss_matches_a_loop():
    rng = np.random.default_rng(2)
    B, A, gamma = 16, 3, 0.99
    q, q_next = rng.normal(size=(2, B, A)).astype(np.float32)
    a = rng.integers(0, A, B)
    r = rng.normal(size=B).astype(np.float32)
    steps = rng.integers(1, 4, B)
    term = rng.random(B) < 0.3
    ref = np.mean(
        [(q[i, a[i]] - (r[i] + (0.0 if term[i] else gamma ** steps[i] * q_next[i].max()))) ** 2 for i in range(B)]
    )
    loss = jax.jit(dqn.q_learning_loss)(q, a, r, gamma**steps, term, q_next)
    np.testing.assert_allclose(loss, ref, rtol=1e-5)
    grad_next = jax.jit(jax.grad(lambda qn: dqn.q_learning_loss(q, a, r, 0.9, term, qn)))(q_next)
    assert not np.any(grad_next)  # the target is a constant


def _c51_loop(log_p, a, target_log_p, next_a, r, disc, term, v_min, v_max):
    B, N, _ = log_p.shape
    z = np.linspace(v_min, v_max, N)
    dz = z[1] - z[0]
    losses = []
    for i in range(B):
        p = np.exp(target_log_p[i, :, next_a[i]].astype(np.float64))
        m = np.zeros(N)
        for j in range(N):
            tz = np.clip(r[i] + (0.0 if term[i] else disc[i]) * z[j], v_min, v_max)
            bj = (tz - v_min) / dz
            lo, hi = int(np.floor(bj)), int(np.ceil(bj))
            if lo == hi:
                m[lo] += p[j]
            else:
                m[lo] += p[j] * (hi - bj)
                m[hi] += p[j] * (bj - lo)
        losses.append(-np.sum(m * log_p[i, :, a[i]]))
    return np.mean(losses)


def test_categorical_double_q_loss_matches_a_loop():
    rng = np.random.default_rng(3)
    B, N, A = 32, 11, 3
    log_p, target_log_p = (np.asarray(jax.nn.log_softmax(rng.normal(size=(B, N, A)), axis=-2)) for _ in range(2))
    a, next_a = rng.integers(0, A, (2, B))
    r = rng.uniform(-3, 3, B).astype(np.float32)
    disc = 0.99 ** rng.integers(1, 4, B).astype(np.float32)
    term = rng.random(B) < 0.3
    args = [jnp.asarray(x) for x in (log_p, a, target_log_p, next_a, r, disc, term)]

    @jax.jit
    def loss_and_grad(target_log_p):  # the gradient with respect to the target's log-probabilities
        loss_fn = lambda t: rainbow.categorical_double_q_loss(*args[:2], t, *args[3:], -10.0, 10.0)  # noqa: E731
        return jax.value_and_grad(loss_fn)(target_log_p)

    loss, grad_target = loss_and_grad(args[2])
    np.testing.assert_allclose(loss, _c51_loop(log_p, a, target_log_p, next_a, r, disc, term, -10.0, 10.0), rtol=1e-5)
    assert not np.any(grad_target)  # the target distribution is a constant


# ----------------------------------------------------------------------------- configs


@pytest.mark.parametrize("cls", [dqn.DQNConfig, rainbow.RainbowConfig])
def test_config_errors(cls):
    with pytest.raises(TypeError, match=r"num_envs must be int, got '10'"):
        cls(num_envs="10")
    with pytest.raises(TypeError, match="num_cells must be tuple"):
        cls(num_cells=64)
    with pytest.raises(ValueError, match="num_cells must be a non-empty tuple of positive ints"):
        cls(num_cells=(64, 0))
    assert cls(num_cells=[32, 32]).num_cells == (32, 32)  # a list is taken as a tuple
    with pytest.raises(ValueError, match="gamma must be in"):
        cls(gamma=1.5)
    with pytest.raises(ValueError, match=r"total_timesteps=100 is smaller than one gradient step per chunk"):
        cls(total_timesteps=100)
    with pytest.raises(ValueError, match=r"total_timesteps=10000 .* gives no gradient step"):
        cls(total_timesteps=10_000)  # learning starts after 10_000 steps
    with pytest.raises(ValueError, match="train_frequency=15 must be a multiple of num_envs=10"):
        cls(train_frequency=15)
    module = dqn if cls is dqn.DQNConfig else rainbow
    with pytest.raises(ValueError, match="Pendulum-v1"):  # continuous actions
        module.make_recipe(cls(env_name="Pendulum-v1"))


@pytest.mark.parametrize(
    "module, cls", [(dqn, dqn.DQNConfig), (rainbow, rainbow.RainbowConfig)], ids=["dqn", "rainbow"]
)
def test_image_observations_are_flattened(module, cls):
    # MinAtar's observations are [10, 10, 4] frames: the MLPs see them flattened (traced only).
    _, metrics = jax.eval_shape(module.make_train(cls(env_name="Breakout-MinAtar", num_chunks=5)), jax.random.key(0))
    assert metrics["return"].shape == (5,)


@pytest.mark.parametrize(
    "cls, old, new",
    [
        (dqn.DQNConfig, "lr", "learning_rate"),
        (dqn.DQNConfig, "eps_anneal_steps", "annealing_num_steps"),
        (rainbow.RainbowConfig, "lr", "learning_rate"),
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
    assert getattr(cls(**{new: getattr(cls(), new)}), new) == getattr(cls(), new)


def test_rainbow_support_errors():
    with pytest.raises(ValueError, match="num_atoms must be >= 2"):
        rainbow.RainbowConfig(num_atoms=1)
    with pytest.raises(ValueError, match="v_min=1.0 must be below v_max=0.0"):
        rainbow.RainbowConfig(v_min=1.0, v_max=0.0)


# ----------------------------------------------------------------------------- runs


def _run_and_check(module, config, policy_variables):
    """Two seeds under vmap learn; a seed's row does not depend on the other seed of the batch;
    ``module.make_policy`` replays seed 0's trained variables (``policy_variables(state)``)."""
    train = jax.jit(jax.vmap(module.make_train(config)))
    k0, k1, k2 = jax.random.split(jax.random.key(0), 8)[:3]
    state, metrics = train(jnp.stack([k0, k1]))
    assert metrics["return"].shape == (2, config.num_chunks)
    assert all(bool(jnp.all(jnp.isfinite(v))) for v in metrics.values())
    np.testing.assert_array_equal(metrics["steps"][:, -1], config.total_timesteps)
    final = np.asarray(metrics["return"][:, -1])
    assert np.all(final > LEARNED), f"final greedy returns {final} (a random policy scores ~22)"
    assert not np.array_equal(metrics["return"][0], metrics["return"][1])  # two seeds, two runs
    # Seed k0 beside another seed gives the same bits: the seeds of a batch never mix. (The same
    # compiled function is reused. Measured apart, at the cost of one more compilation each: a
    # seed run alone, jitted without vmap, matches its vmapped row bit for bit for DQN; for
    # Rainbow the gradients differ at rounding level, ~1e-9, as XLA orders a batched reduction
    # differently, so whole runs drift apart.)
    state_2, metrics_2 = train(jnp.stack([k0, k2]))
    bits = lambda x: jax.random.key_data(x) if jnp.issubdtype(x.dtype, jax.dtypes.prng_key) else x  # noqa: E731
    for a, b in zip(jax.tree.leaves((state, metrics)), jax.tree.leaves((state_2, metrics_2))):
        np.testing.assert_array_equal(bits(a[0]), bits(b[0]))
    # The trained greedy policy, replayed from its variables alone, still balances the pole.
    policy = jax.jit(module.make_policy(config, policy_variables(jax.tree.map(lambda x: x[0], state))))
    env = GymnaxEnv(config.env_name, batch_size=(config.num_eval_envs,), categorical_action_encoding=True)
    replayed = float(evaluate(env, policy, jax.random.key(7), 500))
    assert replayed > LEARNED, f"replayed greedy return {replayed}"


def test_dqn_learns_and_vmaps():
    _run_and_check(dqn, SMALL_DQN, lambda state: state.variables)


def test_rainbow_learns_and_vmaps():
    _run_and_check(rainbow, SMALL_RAINBOW, lambda state: {"params": state.params})
