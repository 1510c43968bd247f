"""Probabilistic modules, actors, value operators and actor-critic operators."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_modules import (
    MLP,
    Actor,
    ActorCriticOperator,
    ActorCriticWrapper,
    ActorValueOperator,
    Bounded,
    ExplorationType,
    Linear,
    NormalParamExtractor,
    ProbabilisticActor,
    SafeProbabilisticModule,
    SafeProbabilisticTensorDictSequential,
    TanhModule,
    TensorDict,
    TensorDictModule,
    TensorDictSequential,
    ValueOperator,
)
from jaxrl_modules.distributions import IndependentNormal, MaskedCategorical, TanhNormal

RANDOM = ExplorationType.RANDOM


def obs(batch=3, dim=5, seed=0):
    return TensorDict({"observation": jax.random.normal(jax.random.key(seed), (batch, dim))}, batch_size=[batch])


def normal_actor(dist=TanhNormal, **kwargs):
    net = TensorDictSequential(
        TensorDictModule(MLP(out_features=4, num_cells=[16]), in_keys=["observation"], out_keys=["params"]),
        TensorDictModule(NormalParamExtractor(), in_keys=["params"], out_keys=["loc", "scale"]),
    )
    return ProbabilisticActor(net, in_keys=["loc", "scale"], distribution_class=dist, **kwargs)


# ----------------------------------------------------------------------- ProbabilisticActor


def test_probabilistic_actor_keys_and_log_prob_key():
    actor = normal_actor(return_log_prob=True)
    assert actor.in_keys == ["observation"]
    assert actor.out_keys == ["params", "loc", "scale", "action", "action_log_prob"]
    td = obs()
    variables = actor.init(jax.random.key(0), td)
    out = actor.apply(variables, td, exploration_type=RANDOM, rngs={"sample": jax.random.key(1)})
    assert out["action"].shape == (3, 2) and out["action_log_prob"].shape == (3,)
    assert bool((jnp.abs(out["action"]) <= 1).all())
    dist = actor.apply(variables, td, method=actor.get_dist)
    np.testing.assert_allclose(out["action_log_prob"], dist.log_prob(out["action"]), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        actor.apply(variables, out, method=actor.log_prob), out["action_log_prob"], rtol=1e-4, atol=1e-4
    )


def test_exploration_type_decides_how_the_actor_acts():
    actor = normal_actor(dist=IndependentNormal)
    td = obs()
    variables = actor.init(jax.random.key(0), td)
    loc = actor.apply(variables, td)["loc"]
    # Default (DETERMINISTIC), MODE and MEAN: the location; RANDOM: a draw, the same for the same key.
    for etype in (None, ExplorationType.MODE, ExplorationType.MEAN, ExplorationType.DETERMINISTIC):
        np.testing.assert_allclose(actor.apply(variables, td, exploration_type=etype)["action"], loc, rtol=1e-6)
    a1 = actor.apply(variables, td, exploration_type=RANDOM, rngs={"sample": jax.random.key(1)})["action"]
    a2 = actor.apply(variables, td, exploration_type=RANDOM, rngs={"sample": jax.random.key(1)})["action"]
    a3 = actor.apply(variables, td, exploration_type=RANDOM, rngs={"sample": jax.random.key(2)})["action"]
    np.testing.assert_array_equal(a1, a2)
    assert not np.allclose(a1, a3) and not np.allclose(a1, loc)
    random_default = normal_actor(dist=IndependentNormal, default_interaction_type=RANDOM)
    out = random_default.apply(variables, td, rngs={"sample": jax.random.key(1)})
    np.testing.assert_array_equal(out["action"], a1)


def test_tanh_normal_actor_has_a_mode_and_jit_matches_eager():
    actor = normal_actor()
    td = obs()
    variables = actor.init(jax.random.key(0), td)
    f = jax.jit(lambda v, t: actor.apply(v, t, exploration_type=ExplorationType.MODE)["action"])
    mode = f(variables, td)
    np.testing.assert_allclose(mode, actor.apply(variables, td, exploration_type="mode")["action"], rtol=1e-5)
    assert bool((jnp.abs(mode) < 1).all())


def test_random_actor_under_vmap_and_scan():
    actor = normal_actor(return_log_prob=True)
    td = obs()
    variables = actor.init(jax.random.key(0), td)

    def act(t, key):
        return actor.apply(variables, t, exploration_type=RANDOM, rngs={"sample": key})

    keys = jax.random.split(jax.random.key(3), 3)
    out = jax.vmap(act)(td, keys)
    for i in range(3):
        single = act(td[i], keys[i])
        np.testing.assert_allclose(out["action"][i], single["action"], rtol=1e-5, atol=1e-6)

    def body(key, _):
        key, sub = jax.random.split(key)
        return key, act(td, sub)["action"]

    _, actions = jax.lax.scan(body, jax.random.key(0), None, length=4)
    assert actions.shape == (4, 3, 2)


def test_gradients_through_the_sample_are_finite():
    actor = normal_actor(return_log_prob=True)
    td = obs()
    variables = actor.init(jax.random.key(0), td)

    def loss(v):
        out = actor.apply(v, td, exploration_type=RANDOM, rngs={"sample": jax.random.key(1)})
        return (out["action"] ** 2).sum() + out["action_log_prob"].sum()

    grads = jax.grad(loss)(variables)
    assert all(bool(jnp.isfinite(g).all()) for g in jax.tree.leaves(grads))


def test_num_samples_prepends_a_sample_dimension():
    module = SafeProbabilisticModule(["loc", "scale"], ["action"], distribution_class=IndependentNormal, num_samples=7)
    td = TensorDict({"loc": jnp.zeros((3, 2)), "scale": jnp.ones((3, 2))}, batch_size=[3])
    out = module.apply({}, td, exploration_type=RANDOM, rngs={"sample": jax.random.key(0)})
    assert out.batch_size == (7, 3) and out["action"].shape == (7, 3, 2) and out["loc"].shape == (7, 3, 2)


def test_discrete_probabilistic_module_with_a_mask():
    module = SafeProbabilisticModule(
        {"logits": "logits", "mask": "action_mask"}, ["action"], distribution_class=MaskedCategorical
    )
    mask = jnp.array([[False, True, False], [True, False, True]])
    td = TensorDict({"logits": jnp.array([[5.0, 0.0, 5.0], [0.0, 9.0, 1.0]]), "action_mask": mask}, batch_size=[2])
    assert module(td)["action"].tolist() == [1, 2]
    samples = jax.vmap(lambda k: module.apply({}, td, exploration_type=RANDOM, rngs={"sample": k})["action"])(
        jax.random.split(jax.random.key(0), 50)
    )
    assert bool(mask[jnp.arange(2)[None, :], samples].all())


def test_probabilistic_module_errors():
    with pytest.raises(ValueError, match="one sample key"):
        SafeProbabilisticModule(["loc"], ["a", "b"])
    with pytest.raises(ValueError, match="safe=True needs a spec"):
        SafeProbabilisticModule(["loc", "scale"], ["action"], safe=True)
    module = SafeProbabilisticModule(["mu", "sigma"], ["action"], distribution_class=IndependentNormal)
    td = TensorDict({"mu": jnp.zeros(2), "sigma": jnp.ones(2)})
    with pytest.raises(TypeError, match=r"cannot build IndependentNormal from the in_keys \['mu', 'sigma'\]"):
        module(td)
    with pytest.raises(TypeError, match="must be key-based"):
        ProbabilisticActor(MLP(out_features=2), in_keys=["loc", "scale"])


def test_safe_probabilistic_actor_projects_the_sample():
    actor = normal_actor(dist=IndependentNormal, spec=Bounded(-0.1, 0.1, shape=(2,)), safe=True)
    td = obs()
    variables = actor.init(jax.random.key(0), td)
    out = actor.apply(variables, td, exploration_type=RANDOM, rngs={"sample": jax.random.key(1)})
    assert bool((jnp.abs(out["action"]) <= 0.1).all())


# ----------------------------------------------------------------------- Actor, ValueOperator


def test_actor_defaults_spec_and_safe_projection():
    spec = Bounded(-1.0, 1.0, shape=(4,))
    actor = Actor(Linear(4), spec=spec, safe=True)
    assert actor.in_keys == ["observation"] and actor.out_keys == ["action"]
    assert actor.spec["action"] == spec
    td = TensorDict({"observation": 10 * jnp.ones((3, 4))}, batch_size=[3])
    variables = actor.init(jax.random.key(0), td)
    out = actor.apply(variables, td)
    assert bool(spec.is_in(out["action"]))
    dist = actor.apply(variables, td, method=actor.get_dist)
    assert bool(jnp.isposinf(dist.log_prob(out["action"])).all())


def test_value_operator_keys():
    assert ValueOperator(MLP(out_features=1)).out_keys == ["state_value"]
    assert ValueOperator(MLP(out_features=1), in_keys=["observation", "action"]).out_keys == ["state_action_value"]
    critic = ValueOperator(MLP(out_features=1), in_keys=["observation", "action"])
    td = obs().set("action", jnp.ones((3, 2)))
    out = critic.apply(critic.init(jax.random.key(0), td), td)
    assert out["state_action_value"].shape == (3, 1)


# ------------------------------------------------------------------------------- operators


def shared_parts(probabilistic):
    common = TensorDictModule(MLP(out_features=8, num_cells=[16]), in_keys=["observation"], out_keys=["hidden"])
    if probabilistic:
        head = TensorDictSequential(
            TensorDictModule(MLP(out_features=4), in_keys=["hidden"], out_keys=["params"]),
            TensorDictModule(NormalParamExtractor(), in_keys=["params"], out_keys=["loc", "scale"]),
        )
        policy = ProbabilisticActor(head, in_keys=["loc", "scale"], distribution_class=TanhNormal)
    else:
        policy = Actor(MLP(out_features=2), in_keys=["hidden"])
    value = ValueOperator(MLP(out_features=1), in_keys=["hidden"])
    return common, policy, value


@pytest.mark.parametrize("probabilistic", [False, True])
def test_actor_value_operator_views_share_the_trunk(probabilistic):
    op = ActorValueOperator(*shared_parts(probabilistic))
    td = obs()
    variables = op.init(jax.random.key(0), td)
    full = op.apply(variables, td)
    policy_op, value_op = op.get_policy_operator(), op.get_value_operator()
    np.testing.assert_allclose(policy_op.apply(variables, td)["action"], full["action"], rtol=1e-6)
    np.testing.assert_allclose(value_op.apply(variables, td)["state_value"], full["state_value"], rtol=1e-6)
    assert "state_value" not in policy_op.apply(variables, td)
    assert policy_op.out_keys[-1] == "action" and value_op.out_keys[-1] == "state_value"
    if probabilistic:
        dist = policy_op.apply(variables, td, method=policy_op.get_dist)
        assert dist.sample(seed=jax.random.key(0)).shape == (3, 2)
    # The trunk is shared: changing its parameters changes both heads' outputs.
    bumped = jax.tree_util.tree_map_with_path(
        lambda p, x: x + 1.0 if "modules_0" in jax.tree_util.keystr(p) else x, variables
    )
    assert not np.allclose(value_op.apply(bumped, td)["state_value"], full["state_value"])
    assert op.get_policy_head() is op.modules[1] and op.get_value_head() is op.modules[2]


def test_actor_critic_operator_and_wrapper():
    common, policy, _ = shared_parts(False)
    critic = ValueOperator(MLP(out_features=1), in_keys=["hidden", "action"])
    op = ActorCriticOperator(common, policy, critic)
    td = obs()
    variables = op.init(jax.random.key(0), td)
    assert op.apply(variables, td)["state_action_value"].shape == (3, 1)
    assert op.get_critic_operator() is op
    with pytest.raises(RuntimeError, match="get_critic_operator"):
        op.get_value_operator()
    with pytest.raises(ValueError, match="state_value"):
        ActorCriticOperator(*shared_parts(False))
    wrapper = ActorCriticWrapper(Actor(MLP(out_features=2)), ValueOperator(MLP(out_features=1)))
    variables = wrapper.init(jax.random.key(0), td)
    full = wrapper.apply(variables, td)
    np.testing.assert_allclose(wrapper.get_policy_operator().apply(variables, td)["action"], full["action"])
    np.testing.assert_allclose(wrapper.get_value_operator().apply(variables, td)["state_value"], full["state_value"])


# ------------------------------------------------------------------------------- TanhModule


def test_tanh_module_bounds_from_arguments_spec_and_defaults():
    x = jnp.array([[-100.0, 0.0, 100.0]])
    np.testing.assert_allclose(TanhModule(in_keys=["a"])(x), [[-1.0, 0.0, 1.0]])
    np.testing.assert_allclose(TanhModule(in_keys=["a"], low=0.0, high=2.0)(x), [[0.0, 1.0, 2.0]])
    spec = Bounded(jnp.array([0.0, -2.0, 1.0]), jnp.array([1.0, 2.0, 3.0]), shape=(3,))
    np.testing.assert_allclose(TanhModule(in_keys=["a"], spec=spec)(x), [[0.0, 0.0, 3.0]])
    clamped = TanhModule(in_keys=["a"], clamp=True)(x)
    assert bool((jnp.abs(clamped) < 1).all())
    td = TanhModule(in_keys=["a"], out_keys=["b"])(TensorDict({"a": x}, batch_size=[1]))
    assert td.keys() == ["a", "b"]
    with pytest.raises(ValueError, match="below high"):
        TanhModule(in_keys=["a"], low=1.0, high=0.0)
    with pytest.raises(ValueError, match="differs from the spec"):
        TanhModule(in_keys=["a"], spec=Bounded(-1.0, 1.0, shape=(3,)), low=0.0)
    with pytest.raises(ValueError, match="differ in length"):
        TanhModule(in_keys=["a"], out_keys=["b", "c"])


def test_probabilistic_sequential_needs_a_distribution_at_the_end():
    seq = SafeProbabilisticTensorDictSequential(TensorDictModule(jnp.tanh, in_keys=["x"], out_keys=["y"]))
    with pytest.raises(TypeError, match="builds no distribution"):
        seq.get_dist(TensorDict({"x": jnp.zeros(2)}, batch_size=[2]))


def test_tanh_module_and_safe_actor_keep_nan_visible():
    """Issue 20: NaN in, NaN out, for the squashing module (also with clamp) and a safe actor."""
    from jaxrl_modules import Actor, Bounded, TanhModule

    x = jnp.array([jnp.nan, 100.0])
    for clamp in (False, True):
        out = TanhModule(in_keys=["action"], low=0.0, high=2.0, clamp=clamp)(x)
        assert bool(jnp.isnan(out[0])) and bool(out[1] <= 2.0)
    actor = Actor(lambda obs: obs, spec=Bounded(-1.0, 1.0, shape=(2,)), safe=True)
    out = actor(jnp.array([[jnp.nan, 3.0]]))
    assert bool(jnp.isnan(out[0, 0])) and out[0, 1] == 1.0
