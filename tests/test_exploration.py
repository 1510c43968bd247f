"""Exploration: schedules, e-greedy, additive Gaussian and Ornstein-Uhlenbeck, functional and modules."""

import math

import hypothesis.strategies as st
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings

from jaxrl_modules import (
    MLP,
    AdditiveGaussianModule,
    AdditiveGaussianWrapper,
    Binary,
    Bounded,
    Categorical,
    Composite,
    EGreedyModule,
    EGreedyWrapper,
    MultiCategorical,
    MultiOneHot,
    OneHot,
    OrnsteinUhlenbeckProcessModule,
    OrnsteinUhlenbeckProcessWrapper,
    QValueActor,
    RandomPolicy,
    TensorDict,
    TensorDictSequential,
    Unbounded,
)
from jaxrl_modules import functional as F

B, N = 8, 5  # shared shapes keep XLA compilations few


def _rngs(seed):
    return {"exploration": jax.random.key(seed)}


# ------------------------------------------------------------------------------- schedules


def test_linear_annealing_closed_form_equals_torchrl_loop():
    # TorchRL: eps <- max(end, eps - (init - end) / n), once per frame, in float32.
    init, end, n = np.float32(0.9), np.float32(0.05), 37
    eps, expected = init, []
    for _ in range(60):
        expected.append(eps)
        eps = np.maximum(end, np.float32(eps - (init - end) / np.float32(n)))
    got = F.linear_annealing(jnp.arange(60), 0.9, 0.05, n)
    np.testing.assert_allclose(np.asarray(got), np.array(expected), atol=2e-6)
    assert float(got[-1]) == pytest.approx(0.05)


def test_schedule_errors():
    with pytest.raises(ValueError, match="anneals downwards"):
        F.linear_annealing(0, 0.1, 0.5, 10)
    with pytest.raises(ValueError, match="must be positive"):
        F.linear_annealing(0, 0.5, 0.1, 0)
    with pytest.raises(ValueError, match="sigma_end=2.0 is larger than sigma_init=1.0"):
        AdditiveGaussianModule(Unbounded(shape=(2,)), sigma_init=1.0, sigma_end=2.0)
    with pytest.raises(ValueError, match="eps_end=0.5 is larger than eps_init=0.2"):
        EGreedyModule(Categorical(N), eps_init=0.2, eps_end=0.5)
    with pytest.raises(ValueError, match="eps_init must be in"):
        EGreedyModule(Categorical(N), eps_init=1.5)
    with pytest.raises(ValueError, match="eps_end must be in"):
        EGreedyModule(Categorical(N), eps_end=-0.1)


def test_step_is_pure_and_works_in_scan():
    egreedy = EGreedyModule(Categorical(N), eps_init=1.0, eps_end=0.0, annealing_num_steps=100)
    td = TensorDict({"action": jnp.zeros(B, jnp.int32)}, batch_size=[B])
    variables = egreedy.init(jax.random.key(0), td)
    stepped = egreedy.step(variables, 10)
    assert int(variables["schedule"]["step"]) == 0  # the input is untouched
    assert int(stepped["schedule"]["step"]) == 10

    def body(variables, key):
        out = egreedy.apply(variables, td, rngs={"exploration": key})
        changed = jnp.mean((out["action"] != 0).astype(jnp.float32))
        return egreedy.step(variables, 1), changed

    final, changed = jax.lax.scan(body, variables, jax.random.split(jax.random.key(1), 100))
    assert int(final["schedule"]["step"]) == 100
    changed = np.asarray(changed)
    assert changed[:10].mean() > 0.5 and changed[-10:].mean() < 0.2  # eps annealed 1 -> 0


def test_step_saturates_instead_of_overflowing():
    variables = {"schedule": {"step": jnp.int32(np.iinfo(np.int32).max - 3)}}
    out = EGreedyModule(Categorical(N)).step(variables, 10)
    assert int(out["schedule"]["step"]) == np.iinfo(np.int32).max


def test_missing_schedule_collection_is_an_error():
    egreedy = EGreedyModule(Categorical(N))
    td = TensorDict({"action": jnp.zeros(B, jnp.int32)}, batch_size=[B])
    with pytest.raises(ValueError, match="no 'schedule' collection"):
        egreedy.apply({"params": {}}, td, rngs=_rngs(0))
    with pytest.raises(ValueError, match="no 'schedule' collection"):
        egreedy.step({"params": {}})


# -------------------------------------------------------------------------------- e-greedy


def test_egreedy_random_rate_matches_eps():
    # Greedy action 0 is masked out, so every random draw differs from it: the change rate is eps.
    batch, eps = 20_000, 0.3
    mask = jnp.broadcast_to(jnp.arange(N) > 0, (batch, N))
    out = F.epsilon_greedy(jax.random.key(0), jnp.zeros(batch, jnp.int32), eps, Categorical(N), mask=mask)
    rate = float(jnp.mean((out != 0).astype(jnp.float32)))
    assert abs(rate - eps) < 5 * math.sqrt(eps * (1 - eps) / batch)
    assert bool(jnp.all(mask[jnp.arange(batch), out] | (out == 0)))  # random draws are all allowed


def test_egreedy_one_coin_per_batch_element_replaces_whole_one_hot():
    greedy = jax.nn.one_hot(jnp.zeros(4096, jnp.int32), N, dtype=jnp.int32)
    out = F.epsilon_greedy(jax.random.key(3), greedy, 0.5, OneHot(N))
    assert out.dtype == jnp.int32 and out.shape == greedy.shape
    assert bool(jnp.all(out.sum(-1) == 1))  # always a valid one-hot, never a mix
    changed = float(jnp.mean((out[:, 0] == 0).astype(jnp.float32)))
    assert abs(changed - 0.5 * (N - 1) / N) < 0.05


_SPECS = {
    "categorical": (Categorical(N), (B,), (B, N)),
    "one_hot": (OneHot(N), (B, N), (B, N)),
    "mult_one_hot": (MultiOneHot([2, 3]), (B, 5), (B, 5)),
    "multi_categorical": (MultiCategorical([2, 3]), (B, 2), (B, 5)),
}


def _allowed(space, spec, action, mask):
    action, mask = np.asarray(action), np.asarray(mask)
    if space == "categorical":
        return mask[np.arange(B), action]
    if space in ("one_hot", "mult_one_hot"):
        return ~np.any(action.astype(bool) & ~mask, axis=-1)
    first = mask[:, :2][np.arange(B), action[:, 0]]
    return first & mask[:, 2:][np.arange(B), action[:, 1]]


@settings(max_examples=25, deadline=None)
@given(space=st.sampled_from(sorted(_SPECS)), seed=st.integers(0, 2**31 - 1), bits=st.integers(0, 2**40 - 1))
def test_egreedy_never_picks_a_masked_action(space, seed, bits):
    spec, action_shape, mask_shape = _SPECS[space]
    rng = np.random.default_rng(bits)
    mask = rng.random(mask_shape) < 0.4
    blocks = [N] if space in ("categorical", "one_hot") else [2, 3]
    start = 0
    for size in blocks:  # every block keeps an allowed entry
        mask[np.arange(B), start + rng.integers(0, size, B)] = True
        start += size
    greedy = spec.rand(jax.random.key(seed), (B,), mask=jnp.asarray(mask))
    out = _egreedy_eps1(jax.random.key(seed + 1), greedy, spec, jnp.asarray(mask))
    assert out.shape == action_shape and spec.is_in(out).all()
    assert _allowed(space, spec, out, mask).all()


@jax.jit(static_argnums=(2,))
def _egreedy_eps1(key, greedy, spec, mask):  # specs are hashable: a static argument
    return F.epsilon_greedy(key, greedy, 1.0, spec, mask=mask)


def test_egreedy_binary_and_batched_spec():
    out = F.epsilon_greedy(jax.random.key(0), jnp.zeros((B, 3), jnp.int8), 1.0, Binary(3))
    assert out.dtype == jnp.int8 and set(np.unique(np.asarray(out))) <= {0, 1}
    # A batched env spec (B, n), as TorchRL's: the coin is per batch element of the TensorDict.
    module = EGreedyModule(OneHot(N, shape=(B, N)), eps_init=1.0)
    td = TensorDict({"action": jax.nn.one_hot(jnp.zeros(B, jnp.int32), N, dtype=jnp.int32)}, batch_size=[B])
    out = module.apply(module.init(jax.random.key(0), td), td, rngs=_rngs(1))["action"]
    assert out.shape == (B, N) and bool(jnp.all(out.sum(-1) == 1))


def test_egreedy_module_masks_gating_and_same_key():
    module = EGreedyModule(Categorical(N), eps_init=1.0, action_mask_key="mask")
    mask = jnp.broadcast_to(jnp.array([False, False, True, False, True]), (B, N))
    td = TensorDict({"action": jnp.zeros(B, jnp.int32), "mask": mask}, batch_size=[B])
    variables = module.init(jax.random.key(0), td)
    out = module.apply(variables, td, rngs=_rngs(1))
    assert set(np.asarray(out["action"]).tolist()) <= {2, 4}
    again = jax.jit(lambda v, t, k: module.apply(v, t, rngs={"exploration": k}))(variables, td, jax.random.key(1))
    np.testing.assert_array_equal(out["action"], again["action"])  # jit == eager, same key same output
    for etype in ("mode", "mean", "deterministic"):
        assert bool((module.apply(variables, td, exploration_type=etype)["action"] == 0).all())
    assert not bool((module.apply(variables, td, exploration_type="random", rngs=_rngs(1))["action"] == 0).all())


def test_egreedy_vmap_equals_loop():
    module = EGreedyModule(Categorical(N), eps_init=0.5)
    td = TensorDict({"action": jnp.zeros((4, B), jnp.int32)}, batch_size=[4, B])
    variables = module.init(jax.random.key(0), td[0])
    keys = jax.random.split(jax.random.key(1), 4)
    batched = jax.vmap(lambda t, k: module.apply(variables, t, rngs={"exploration": k}))(td, keys)
    for i in range(4):
        single = module.apply(variables, td[i], rngs={"exploration": keys[i]})
        np.testing.assert_array_equal(batched["action"][i], single["action"])


def test_egreedy_nested_action_key_draws_per_sub_batch():
    module = EGreedyModule(Categorical(N), eps_init=1.0, action_key=("agents", "action"))
    agents = TensorDict({"action": jnp.zeros((B, 3), jnp.int32)}, batch_size=[B, 3])
    td = TensorDict({"agents": agents}, batch_size=[B])
    out = module.apply(module.init(jax.random.key(0), td), td, rngs=_rngs(2))
    assert out["agents", "action"].shape == (B, 3)
    assert len(np.unique(np.asarray(out["agents", "action"]))) > 1


def test_egreedy_in_a_q_value_policy():
    policy = TensorDictSequential(
        QValueActor(MLP(out_features=N, num_cells=[16]), in_keys=["observation"], spec=Categorical(N)),
        EGreedyModule(Categorical(N), eps_init=1.0, eps_end=0.0, annealing_num_steps=10),
    )
    td = TensorDict({"observation": jnp.ones((B, 3))}, batch_size=[B])
    variables = policy.init({"params": jax.random.key(0), "exploration": jax.random.key(1)}, td)
    assert int(variables["schedule"]["modules_1"]["step"]) == 0
    greedy = policy.apply(variables, td, exploration_type="mode")["action"]
    annealed = policy.modules[1].step(variables, 10)
    np.testing.assert_array_equal(policy.apply(annealed, td, rngs=_rngs(2))["action"], greedy)
    assert not bool((policy.apply(variables, td, rngs=_rngs(2))["action"] == greedy).all())


def test_egreedy_errors():
    with pytest.raises(ValueError, match="discrete actions.*AdditiveGaussianModule"):
        EGreedyModule(Bounded(-1.0, 1.0, shape=(2,)))
    with pytest.raises(ValueError, match="pass the action spec"):
        EGreedyModule(None)
    module = EGreedyModule(Categorical(N), action_mask_key="mask")
    td = TensorDict({"action": jnp.zeros(B, jnp.int32), "mask": jnp.ones((B, N + 1), bool)}, batch_size=[B])
    with pytest.raises(ValueError, match=r"EGreedyModule \(action_key 'action'\).*mask.*\(8, 5\).*\(8, 6\)"):
        module.init(jax.random.key(0), td)
    with pytest.raises(KeyError, match="in_key 'mask' is missing"):
        module.init(jax.random.key(0), td.exclude("mask"))
    with pytest.raises(ValueError, match="does not end with the spec's shape"):
        F.epsilon_greedy(jax.random.key(0), jnp.zeros((B, 3)), 0.1, OneHot(N))


def test_removed_wrappers_point_to_the_modules():
    for wrapper, module in (
        (EGreedyWrapper, "EGreedyModule"),
        (AdditiveGaussianWrapper, "AdditiveGaussianModule"),
        (OrnsteinUhlenbeckProcessWrapper, "OrnsteinUhlenbeckProcessModule"),
    ):
        with pytest.raises(RuntimeError, match=f"TensorDictSequential\\(policy, {module}"):
            wrapper(lambda td: td, eps_init=0.5)


# ------------------------------------------------------------------------ additive Gaussian


def test_gaussian_statistics_projection_and_annealing():
    action = jnp.zeros((20_000, 2))
    out = F.additive_gaussian_noise(jax.random.key(0), action, 0.5, mean=jnp.array([1.0, -1.0]), std=2.0)
    np.testing.assert_allclose(np.asarray(out.mean(0)), [0.5, -0.5], atol=5 * 1.0 / math.sqrt(20_000))
    np.testing.assert_allclose(np.asarray(out.std(0)), [1.0, 1.0], rtol=0.03)

    module = AdditiveGaussianModule(
        Bounded(-1.0, 1.0, shape=(2,)), sigma_init=4.0, sigma_end=0.0, annealing_num_steps=4
    )
    td = TensorDict({"action": jnp.full((B, 2), 3.0)}, batch_size=[B])
    variables = module.init(jax.random.key(0), td)
    noisy = module.apply(variables, td, rngs=_rngs(1))["action"]
    assert bool((jnp.abs(noisy) <= 1.0).all()) and len(np.unique(np.asarray(noisy))) > 2
    done = module.step(variables, 4)  # sigma = 0: only the projection is left
    np.testing.assert_array_equal(module.apply(done, td, rngs=_rngs(1))["action"], jnp.ones((B, 2)))
    np.testing.assert_array_equal(module.apply(variables, td, exploration_type="mode")["action"], td["action"])


def test_gaussian_keeps_a_nan_action_visible():
    # A diverged actor's NaN action must not be laundered into the spec's lower bound.
    module = AdditiveGaussianModule(Bounded(-1.0, 1.0, shape=(2,)), sigma_init=0.5, sigma_end=0.5)
    td = TensorDict({"action": jnp.array([[jnp.nan, 0.0]] * B)}, batch_size=[B])
    variables = module.init(jax.random.key(0), td)
    out = module.apply(variables, td, rngs=_rngs(1))["action"]
    assert np.isnan(np.asarray(out[:, 0])).all() and (np.abs(np.asarray(out[:, 1])) <= 1.0).all()


def test_egreedy_step_refuses_negative_or_fractional_frames():
    module = EGreedyModule(Categorical(3), annealing_num_steps=10)
    td = TensorDict({"action": jnp.zeros((B,), jnp.int32)}, batch_size=[B])
    variables = module.init(jax.random.key(0), td)
    for frames in (-5, 2.7, np.float32(1.5)):
        with pytest.raises(ValueError, match="frames"):
            module.step(variables, frames)


def test_gaussian_errors():
    module = AdditiveGaussianModule()
    td = TensorDict({"action": jnp.zeros((B, 2))}, batch_size=[B])
    with pytest.raises(ValueError, match="no spec for 'action'"):
        module.init(jax.random.key(0), td)
    module = AdditiveGaussianModule(Unbounded(shape=(2,)))
    with pytest.raises(ValueError, match="floating action"):
        module.init(jax.random.key(0), td.set("action", jnp.zeros((B, 2), jnp.int32)))


# ---------------------------------------------------------------------- Ornstein-Uhlenbeck


def test_ou_scan_matches_stationary_variance_and_restarts():
    envs, steps, theta, sigma, dt = 64, 1000, 1.0, 0.3, 0.05
    module = OrnsteinUhlenbeckProcessModule(
        Unbounded(shape=(1,)), eps_init=1.0, eps_end=1.0, theta=theta, sigma=sigma, dt=dt, safe=False
    )
    td = TensorDict({"action": jnp.zeros((envs, 1)), "is_init": jnp.ones((envs, 1), bool)}, batch_size=[envs])
    variables = module.init(jax.random.key(0), td)
    td = module.apply(variables, td, rngs=_rngs(1))

    def body(td, key):
        k_reset, k_noise = jax.random.split(key)
        td = td.set("action", jnp.zeros((envs, 1))).set("is_init", jax.random.bernoulli(k_reset, 0.01, (envs, 1)))
        out = module.apply(variables, td, rngs={"exploration": k_noise})
        return out, (out["action"][:, 0], out["_ou_steps"], td["is_init"][:, 0])

    _, (x, count, is_init) = jax.lax.scan(body, td, jax.random.split(jax.random.key(2), steps))
    x, count, is_init = np.asarray(x), np.asarray(count), np.asarray(is_init)
    assert (count[is_init] == 1).all() and is_init.sum() > 300  # every reset restarts the count
    # Exact variance after t steps from x0 = mu = 0: s^2 dt (1 - r^(2t)) / (1 - r^2), r = 1 - theta dt.
    r = 1 - theta * dt
    var_t = sigma**2 * dt * (1 - r ** (2 * count)) / (1 - r**2)
    z2 = x**2 / var_t
    tau = (1 + r**2) / (1 - r**2)  # integrated autocorrelation time of z^2
    n_eff = z2.size / tau
    assert abs(z2.mean() - 1.0) < 4 * math.sqrt(2.0 / n_eff)
    stationary = x[count > 200]  # ~ 10 relaxation times after a reset
    continuous = sigma**2 / (2 * theta)  # the continuous-time limit, 2.5% above the discrete one here
    assert abs(stationary.var() / continuous - 1) < 4 * math.sqrt(2.0 * tau / stationary.size) + 0.03


def test_ou_restarts_from_x0_and_anneals_sigma_per_trajectory():
    x0, mu, theta, dt = 0.5, 1.0, 0.15, 0.01
    module = OrnsteinUhlenbeckProcessModule(
        Unbounded(shape=(1,)), eps_init=1.0, eps_end=1.0, theta=theta, mu=mu, sigma=0.0, dt=dt, x0=x0, safe=False
    )
    td = TensorDict({"action": jnp.zeros((2, 1))}, batch_size=[2])
    variables = module.init(jax.random.key(0), td)
    out = module.apply(variables, td, rngs=_rngs(0))
    first = x0 + theta * (mu - x0) * dt
    np.testing.assert_allclose(np.asarray(out["action"]), first, rtol=1e-6)
    out = out.set("action", jnp.zeros((2, 1))).set("is_init", jnp.array([True, False]))
    out = module.apply(variables, out, rngs=_rngs(1))
    second = first + theta * (mu - first) * dt
    np.testing.assert_allclose(np.asarray(out["action"][:, 0]), [first, second], rtol=1e-6)
    np.testing.assert_array_equal(out["_ou_steps"], [1, 2])
    sig = F.ornstein_uhlenbeck_sigma(jnp.array([0, 250, 5000]), 0.4, 0.1, 1000)
    np.testing.assert_allclose(np.asarray(sig), [0.4, 0.325, 0.1], rtol=1e-6)


def test_ou_eps_schedule_projection_and_gating():
    module = OrnsteinUhlenbeckProcessModule(
        Bounded(-0.01, 0.01, shape=(1,)), eps_init=1.0, eps_end=0.0, annealing_num_steps=2, sigma=5.0
    )
    td = TensorDict({"action": jnp.zeros((B, 1))}, batch_size=[B])
    variables = module.init(jax.random.key(0), td)
    out = module.apply(variables, td, rngs=_rngs(1))
    assert bool((jnp.abs(out["action"]) <= 0.01).all()) and float(jnp.abs(out["action"]).max()) > 0
    done = module.step(variables, 2)  # eps = 0: the process advances, the action is untouched
    out = module.apply(done, td, rngs=_rngs(1))
    np.testing.assert_array_equal(out["action"], td["action"])
    assert bool((out["_ou_steps"] == 1).all())
    assert module.apply(variables, td, exploration_type="mode").keys() == td.keys()


def test_ou_errors():
    with pytest.raises(ValueError, match="spec is required"):
        OrnsteinUhlenbeckProcessModule(None)
    module = OrnsteinUhlenbeckProcessModule(Unbounded(shape=(1,)))
    td = TensorDict({"action": jnp.zeros((B, 1))}, batch_size=[B])
    variables = module.init(jax.random.key(0), td)
    state = module.apply(variables, td, rngs=_rngs(0))
    with pytest.raises(KeyError, match=r"no 'is_init' entry.*Add a boolean 'is_init' of shape \(8,\) or \(8, 1\)"):
        module.apply(variables, state, rngs=_rngs(1))
    with pytest.raises(ValueError, match=r"is_init has shape \(8, 2\)"):
        module.apply(variables, state.set("is_init", jnp.zeros((B, 2), bool)), rngs=_rngs(1))


def test_ou_composite_spec_vmap_and_same_key():
    module = OrnsteinUhlenbeckProcessModule(Composite(action=Bounded(-1.0, 1.0, shape=(2,))))
    td = TensorDict({"action": jnp.zeros((4, B, 2)), "is_init": jnp.zeros((4, B), bool)}, batch_size=[4, B])
    variables = module.init(jax.random.key(0), td[0])
    keys = jax.random.split(jax.random.key(1), 4)
    batched = jax.jit(jax.vmap(lambda t, k: module.apply(variables, t, rngs={"exploration": k})))(td, keys)
    for i in range(4):
        single = module.apply(variables, td[i], rngs={"exploration": keys[i]})
        np.testing.assert_allclose(batched["action"][i], single["action"], atol=1e-7)
        np.testing.assert_array_equal(batched["_ou_steps"][i], single["_ou_steps"])


# --------------------------------------------------------------------------- random policy


def test_random_policy_leaf_with_mask_and_composite():
    policy = RandomPolicy(OneHot(N), action_mask_key="mask")
    mask = jnp.broadcast_to(jnp.array([True, False, False, True, False]), (B, N))
    td = TensorDict({"mask": mask}, batch_size=[B])
    out = policy.apply({}, td, rngs=_rngs(0))["action"]
    assert out.shape == (B, N) and bool(jnp.all(out.sum(-1) == 1)) and not bool((out & ~mask).any())
    spec = Composite(action=Bounded(-1.0, 1.0, shape=(B, 2)), extra=Categorical(3, shape=(B,)), shape=(B,))
    out = RandomPolicy(spec).apply({}, TensorDict({}, batch_size=[4, B]), rngs=_rngs(1))
    assert out["action"].shape == (4, B, 2) and out["extra"].shape == (4, B)
    assert bool(spec["action"].is_in(out["action"]).all())
    with pytest.raises(ValueError, match="not the trailing part"):
        RandomPolicy(spec).apply({}, TensorDict({}, batch_size=[B, 4]), rngs=_rngs(1))
    with pytest.raises(ValueError, match="must be a spec"):
        RandomPolicy(None)


# ------------------------------------------------------------------ issue 20: schedules, masks, NaN

STEPPERS = [
    EGreedyModule(Categorical(N)),
    AdditiveGaussianModule(Bounded(-1.0, 1.0, shape=(2,))),
    OrnsteinUhlenbeckProcessModule(Bounded(-1.0, 1.0, shape=(2,))),
]


@pytest.mark.parametrize("module", STEPPERS, ids=lambda m: type(m).__name__)
@pytest.mark.parametrize(
    "frames, match",
    [
        (-5, "non-negative"),
        (np.int64(-1), "non-negative"),
        (2.7, "never rounded"),
        (np.float32(2.0), "never rounded"),
        (jnp.array(3.0), "integer array"),
        (True, "bool"),
        (jnp.array([1, 2]), "scalar"),
    ],
)
def test_step_refuses_negative_and_non_integer_frames(module, frames, match):
    variables = {"schedule": {"step": jnp.int32(7)}}
    with pytest.raises(ValueError, match=rf"{type(module).__name__}\.step: frames.*{match}"):
        module.step(variables, frames)


@pytest.mark.parametrize("module", STEPPERS, ids=lambda m: type(m).__name__)
def test_step_counter_cannot_overflow_or_go_back(module):
    top = np.iinfo(np.int32).max
    start = {"schedule": {"step": jnp.int32(10)}}
    assert int(module.step(start, 2**40)["schedule"]["step"]) == top  # a huge Python count clips
    assert int(module.step(module.step(start, top), 5)["schedule"]["step"]) == top
    assert int(module.step(start, np.uint64(3))["schedule"]["step"]) == 13
    step = jax.jit(module.step)  # traced counts: checked by dtype only; negative advances by 0
    assert int(step(start, jnp.int32(-4))["schedule"]["step"]) == 10
    assert int(step({"schedule": {"step": jnp.int32(top - 2)}}, jnp.int32(9))["schedule"]["step"]) == top
    assert int(step(start, jnp.uint32(2**32 - 1))["schedule"]["step"]) == top
    with pytest.raises(ValueError, match="integer array"):
        step(start, jnp.float32(1.0))


def test_decision_transformer_wrapper_step_checks_frames_too():
    from jaxrl_modules.tensordict_module.decision_transformer import DecisionTransformerInferenceWrapper

    with pytest.raises(ValueError, match="non-negative"):
        DecisionTransformerInferenceWrapper.step(None, {}, -1)
    assert DecisionTransformerInferenceWrapper.step(None, {"a": 1}, 3) == {"a": 1}


_EMPTY_ROW_MASK = jnp.array([[True, False, True, False, False], [False] * 5] * (B // 2))


@pytest.mark.parametrize("eps", [0.0, 1.0])
def test_egreedy_writes_any_action_allowed_and_follows_the_masked_row_rule(eps):
    module = EGreedyModule(Categorical(N), eps_init=eps, eps_end=0.0, action_mask_key="mask")
    assert module.out_keys == ["action", "any_action_allowed"]
    td = TensorDict({"action": jnp.full(B, 2, jnp.int32), "mask": _EMPTY_ROW_MASK}, batch_size=[B])
    variables = module.init(jax.random.key(0), td)
    out = module.apply(variables, td, rngs=_rngs(1))
    np.testing.assert_array_equal(out["any_action_allowed"], np.arange(B) % 2 == 0)
    if eps == 1.0:  # every row random: index 0 where the row allows nothing
        np.testing.assert_array_equal(np.asarray(out["action"])[1::2], 0)
        assert np.isin(np.asarray(out["action"])[::2], [0, 2]).all()
    # the flag is written under every exploration type (static out keys)
    mode = module.apply(variables, td, exploration_type="mode")
    np.testing.assert_array_equal(mode["any_action_allowed"], out["any_action_allowed"])
    np.testing.assert_array_equal(mode["action"], td["action"])


def test_egreedy_flag_per_block_and_with_the_spec_mask():
    spec = MultiOneHot([2, 3])
    mask = jnp.array([[True, False, False, False, True], [False, False, True, True, True]])
    module = EGreedyModule(spec, eps_init=1.0, action_mask_key="mask")
    td = TensorDict({"action": jnp.zeros((2, 5), bool), "mask": mask}, batch_size=[2])
    out = module.apply(module.init(jax.random.key(0), td), td, rngs=_rngs(0))
    np.testing.assert_array_equal(out["any_action_allowed"], [True, False])
    np.testing.assert_array_equal(np.asarray(out["action"])[1, :2], [True, False])  # the empty block: entry 0
    # the spec's own mask is ANDed in, as spec.rand does
    masked_spec = Categorical(3, mask=np.array([True, True, False]))
    module = EGreedyModule(masked_spec, eps_init=1.0, action_mask_key="mask")
    td = TensorDict(
        {"action": jnp.zeros(2, jnp.int32), "mask": jnp.array([[False, False, True], [True, False, True]])},
        batch_size=[2],
    )
    out = module.apply(module.init(jax.random.key(0), td), td, rngs=_rngs(0))
    np.testing.assert_array_equal(out["any_action_allowed"], [False, True])


def test_egreedy_nested_action_key_writes_the_flag_beside_it():
    module = EGreedyModule(
        Categorical(N), eps_init=1.0, action_key=("agents", "action"), action_mask_key=("agents", "mask")
    )
    assert module.out_keys == [("agents", "action"), ("agents", "any_action_allowed")]
    td = TensorDict({"agents": TensorDict({"action": jnp.zeros(B, jnp.int32), "mask": _EMPTY_ROW_MASK}, [B])}, [B])
    out = module.apply(module.init(jax.random.key(0), td), td, rngs=_rngs(0))
    assert out["agents", "any_action_allowed"].shape == (B,)


@pytest.mark.parametrize(
    "make",
    [
        lambda: EGreedyModule(Categorical(N), eps_init=1.0, action_mask_key="mask", check_mask=True),
        lambda: RandomPolicy(Categorical(N), action_mask_key="mask", check_mask=True),
    ],
    ids=["EGreedyModule", "RandomPolicy"],
)
def test_check_mask_raises_under_checkify_naming_the_rows(make):
    from jax.experimental import checkify

    module = make()
    name = type(module).__name__
    td = TensorDict({"action": jnp.zeros(B, jnp.int32), "mask": _EMPTY_ROW_MASK}, batch_size=[B])
    ok = td.set("mask", jnp.ones((B, N), bool))
    variables = module.init(jax.random.key(0), ok)  # eager: a bad mask would raise at once
    with pytest.raises(checkify.JaxRuntimeError, match=name):
        module.apply(variables, td, rngs=_rngs(1))
    run = checkify.checkify(jax.jit(lambda v, td: module.apply(v, td, rngs=_rngs(1))))
    err, out = run(variables, td)
    with pytest.raises(
        checkify.JaxRuntimeError, match=rf"{name} \(action_mask_key 'mask'\).*4 row\(s\).*\[ *1 +3 +5 +7 +-1"
    ):
        err.throw()
    err, _ = run(variables, ok)
    err.throw()  # nothing raised where every row allows an action
    # without check_mask, nothing raises, even under checkify
    plain = module.clone(check_mask=False)
    err, out = checkify.checkify(jax.jit(lambda v, td: plain.apply(v, td, rngs=_rngs(1))))(variables, td)
    err.throw()
    assert not bool(out["any_action_allowed"].all())


def test_random_policy_flag_and_masked_row_rule():
    policy = RandomPolicy(OneHot(N), action_mask_key="mask")
    assert policy.out_keys == ["action", "any_action_allowed"]
    td = TensorDict({"mask": _EMPTY_ROW_MASK}, batch_size=[B])
    out = policy.apply({}, td, rngs=_rngs(3))
    np.testing.assert_array_equal(out["any_action_allowed"], np.arange(B) % 2 == 0)
    np.testing.assert_array_equal(np.asarray(out["action"])[1::2], np.eye(N, dtype=bool)[[0] * (B // 2)])


def test_additive_gaussian_and_ou_keep_nan_actions_visible():
    spec = Bounded(-1.0, 1.0, shape=(2,))
    action = jnp.array([[jnp.nan, 0.0], [5.0, -jnp.inf]])
    td = TensorDict({"action": action}, batch_size=[2])
    for module in (AdditiveGaussianModule(spec, sigma_init=0.1), OrnsteinUhlenbeckProcessModule(spec, safe=True)):
        out = module.apply(module.init(jax.random.key(0), td), td, rngs=_rngs(0))["action"]
        assert bool(jnp.isnan(out[0, 0])), type(module).__name__  # NaN in, NaN out
        assert bool((jnp.abs(out[0, 1]) <= 1) & (jnp.abs(out[1]) <= 1).all())  # finite and inf still clip
    out = F.additive_gaussian_noise(jax.random.key(0), action, 0.1, spec=spec)
    assert bool(jnp.isnan(out[0, 0])) and bool(out[1, 1] == -1.0)
