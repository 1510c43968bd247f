"""Q-value key-based modules and actors: TorchRL's examples, our fixes, errors, transformations."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_modules import (
    MLP,
    Binary,
    Categorical,
    Composite,
    DistributionalDQNnet,
    DistributionalQValueActor,
    DistributionalQValueHook,
    DistributionalQValueModule,
    Linear,
    MultiOneHot,
    OneHot,
    QValueActor,
    QValueHook,
    QValueModule,
    TensorDict,
    TensorDictModule,
    Unbounded,
)
from jaxrl_modules.data import stack

FMIN = float(jnp.finfo(jnp.float32).min)


def values_td(values, mask=None):
    values = jnp.asarray(values, jnp.float32)
    entries = {"action_value": values}
    if mask is not None:
        entries["action_mask"] = jnp.asarray(mask, bool)
    return TensorDict(entries, batch_size=values.shape[:-1])


# --------------------------------------------------------------------- TorchRL's examples


def test_torchrl_example_distributional_q_value_module():
    module = DistributionalQValueModule("categorical", support=[-1, 0, 1], action_value_key="my_action_value")
    log_probs = jnp.full((3, 4), -100).at[0, 0].set(0).at[1, 1].set(0).at[2, 2].set(0)
    action, values = module(my_action_value=log_probs)
    assert int(action) == 2 and values.dtype == log_probs.dtype
    np.testing.assert_array_equal(values, log_probs)
    action, values = module(log_probs)
    assert int(action) == 2
    out = module(TensorDict({"my_action_value": log_probs}))
    assert int(out["action"]) == 2
    np.testing.assert_array_equal(out["my_action_value"], log_probs)


def test_torchrl_example_q_value_actor():
    actor = QValueActor(module=Linear(4), spec=OneHot(4))
    td = TensorDict({"observation": jax.random.normal(jax.random.key(0), (5, 3))}, batch_size=[5])
    out = actor.apply(actor.init(jax.random.key(1), td), td)
    assert out["action"].shape == (5, 4) and out["action_value"].shape == (5, 4)
    assert out["chosen_action_value"].shape == (5, 1)
    np.testing.assert_array_equal(out["action"].sum(-1), 1)
    np.testing.assert_allclose(out["chosen_action_value"][:, 0], out["action_value"].max(-1), rtol=1e-6)


def test_torchrl_example_distributional_q_value_actor():
    actor = DistributionalQValueActor(module=MLP(out_features=(3, 4), depth=2), spec=OneHot(4), support=jnp.arange(3))
    td = TensorDict({"observation": jax.random.normal(jax.random.key(0), (5, 4))}, batch_size=[5])
    out = actor.apply(actor.init(jax.random.key(1), td), td)
    assert out["action"].shape == (5, 4) and out["action_value"].shape == (5, 3, 4)
    np.testing.assert_allclose(jnp.exp(out["action_value"]).sum(-2), 1.0, rtol=1e-5)
    expected = jnp.einsum("bja,j->ba", jnp.exp(out["action_value"]), jnp.arange(3.0))
    np.testing.assert_array_equal(out["action"].argmax(-1), expected.argmax(-1))


# ------------------------------------------------------------------------- QValueModule


def test_keys_defaults_and_tensor_call_returns_the_triplet():
    m = QValueModule("categorical")
    assert m.in_keys == ["action_value"] and m.out_keys == ["action", "action_value", "chosen_action_value"]
    action, values, chosen = m(jnp.array([[1.0, 3.0, 2.0]]))
    assert action.tolist() == [1] and chosen.tolist() == [[3.0]]
    masked = QValueModule("categorical", action_mask_key="action_mask")
    assert masked.in_keys == ["action_value", "action_mask"]


@pytest.mark.parametrize(
    "space, expected",
    [("one_hot", [[0, 1, 0, 0]]), ("categorical", [1]), ("one-hot", [[0, 1, 0, 0]])],
)
def test_ties_take_the_first_maximum(space, expected):
    out = QValueModule(space)(values_td([[1.0, 3.0, 3.0, 0.0]]))
    assert out["action"].tolist() == expected
    assert out["chosen_action_value"].tolist() == [[3.0]]  # TorchRL's one-hot would give 6


def test_mask_is_respected_and_written_back_and_a_fully_masked_row_is_finite():
    td = values_td([[1.0, 5.0, 2.0], [1.0, 2.0, 3.0]], mask=[[True, False, True], [False, False, False]])
    out = QValueModule("categorical", action_mask_key="action_mask")(td)
    assert out["action"].tolist() == [2, 0]
    assert out["action_value"][0, 1] == FMIN and out["action_value"][0, 0] == 1.0
    assert out["chosen_action_value"].tolist() == [[2.0], [FMIN]]
    assert bool(jnp.isfinite(out["chosen_action_value"]).all())


def test_binary_action_space_works():
    m = QValueModule(spec=Binary(3), action_mask_key="action_mask")
    out = m(values_td([[1.0, -2.0, 0.5]], mask=[[True, True, False]]))
    assert out["action"].tolist() == [[1, 0, 0]] and out["chosen_action_value"].tolist() == [[1.0]]


def test_mult_one_hot_takes_block_sizes_from_the_spec():
    m = QValueModule(spec=MultiOneHot([2, 3]))
    assert m.var_nums == (2, 3)
    out = m(values_td([[0.0, 1.0, 5.0, 2.0, 5.0]]))
    assert out["action"].tolist() == [[0, 1, 1, 0, 0]] and out["chosen_action_value"].tolist() == [[6.0]]
    with pytest.raises(ValueError, match="var_nums"):
        QValueModule("mult_one_hot")


def test_spec_projection_with_safe():
    out = QValueModule(spec=OneHot(3), safe=True)(values_td([[0.0, 2.0, 1.0]]))
    assert out["action"].dtype == jnp.bool_ and out["action"].tolist() == [[False, True, False]]
    out = QValueModule(spec=OneHot(3))(values_td([[0.0, 2.0, 1.0]]))
    assert out["action"].dtype == jnp.int32


def test_strict_shape_follows_torchrl():
    td = values_td(jnp.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"QValueModule.*shape \(2,\).*shape \(2, 1\).*strict_shape='auto'"):
        QValueModule(spec=Categorical(4, shape=(1,)))(td)
    assert QValueModule(spec=Categorical(4, shape=(1,)), strict_shape="auto")(td)["action"].shape == (2, 1)
    assert QValueModule(spec=Categorical(4, shape=(1,)), strict_shape=False)(td)["action"].shape == (2,)
    assert QValueModule(spec=Categorical(4))(td)["action"].shape == (2,)


def test_bad_input_errors_name_the_module_key_and_shapes():
    with pytest.raises(ValueError, match="'foo'"):
        QValueModule("foo")
    with pytest.raises(ValueError, match="multi_categorical|not support"):
        QValueModule("multi_categorical")
    with pytest.raises(ValueError, match="pass an action_space or a spec"):
        QValueModule()
    with pytest.raises(ValueError, match="conflicts"):
        QValueModule("categorical", spec=OneHot(3))
    with pytest.raises(ValueError, match="must contain the action_value_key"):
        QValueModule("categorical", out_keys=["action", "q"])
    with pytest.raises(
        ValueError,
        match=r"QValueModule \(in_keys \['action_value', 'action_mask'\]\).*mask has shape \(2, 4\).*\(2, 3\)",
    ):
        QValueModule("categorical", action_mask_key="action_mask")(values_td(jnp.zeros((2, 3)), mask=jnp.ones((2, 4))))
    with pytest.raises(KeyError, match="in_key 'action_mask' is missing"):
        QValueModule("categorical", action_mask_key="action_mask")(values_td(jnp.zeros((2, 3))))
    with pytest.raises(ValueError, match=r"not a discrete action space"):
        QValueModule(spec=Unbounded(3))


def test_jit_equals_eager_and_vmap_equals_loop():
    m = QValueModule("one_hot", action_mask_key="action_mask")
    key_v, key_m = jax.random.split(jax.random.key(0))
    td = values_td(jax.random.normal(key_v, (6, 5)), mask=jax.random.bernoulli(key_m, 0.7, (6, 5)).at[:, 0].set(True))
    eager = m(td)
    jitted = jax.jit(lambda t: m(t))(td)
    for k in eager.keys():
        np.testing.assert_array_equal(eager[k], jitted[k])
    vmapped = jax.vmap(lambda t: m(t))(td)
    looped = stack([m(td[i]) for i in range(6)])
    for k in eager.keys():
        np.testing.assert_array_equal(vmapped[k], looped[k])


# ---------------------------------------------------------- distributional modules and actors


def test_distributional_module_never_picks_a_masked_action():
    # Expected values: action 0 -> -1, action 1 -> -0.5, action 2 (masked) -> +1.
    support = jnp.array([-1.0, 0.0, 1.0])
    probs = jnp.array([[1.0, 0.5, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 1.0]])
    log_probs = jnp.log(jnp.clip(probs, 1e-30))[None]
    td = TensorDict({"action_value": log_probs, "action_mask": jnp.array([[True, True, False]])}, batch_size=[1])
    out = DistributionalQValueModule("categorical", support=support, action_mask_key="action_mask")(td)
    assert out["action"].tolist() == [1]
    np.testing.assert_array_equal(out["action_value"], log_probs)  # values are not overwritten


def test_distributional_actor_works_with_an_action_mask():
    actor = DistributionalQValueActor(
        module=MLP(out_features=(5, 3)),
        support=jnp.linspace(-1, 1, 5),
        spec=Categorical(3),
        action_mask_key="action_mask",
    )
    assert actor.in_keys == ["observation", "action_mask"]
    mask = jnp.array([[False, True, False], [True, False, True]])
    td = TensorDict({"observation": jnp.ones((2, 4)), "action_mask": mask}, batch_size=[2])
    out = actor.apply(actor.init(jax.random.key(0), td), td)
    assert bool(mask[jnp.arange(2), out["action"]].all())
    assert out["action_mask"].dtype == jnp.bool_


def test_distributional_support_length_must_match_the_atoms():
    m = DistributionalQValueModule("categorical", support=jnp.arange(4.0))
    with pytest.raises(ValueError, match=r"DistributionalQValueModule.*\(2, 3, 5\)|support"):
        m(jnp.zeros((2, 3, 5)))


def test_distributional_dqn_net_normalises_over_atoms_and_checks_rank():
    out = DistributionalDQNnet()(TensorDict({"action_value": jnp.arange(6.0).reshape(3, 2)}))
    np.testing.assert_allclose(jnp.exp(out["action_value"]).sum(0), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match=r"DistributionalDQNnet: 'action_value' has shape \(3,\)"):
        DistributionalDQNnet()(TensorDict({"action_value": jnp.zeros(3)}))


def test_q_value_actor_with_a_key_based_module_and_custom_keys():
    net = TensorDictModule(MLP(out_features=3), in_keys=["obs"], out_keys=["q"])
    actor = QValueActor(net, action_value_key="q", action_key="act", chosen_action_value_key="qa", spec=Categorical(3))
    assert actor.out_keys == ["act", "q", "qa"]
    td = TensorDict({"obs": jnp.ones((2, 4))}, batch_size=[2])
    out = actor.apply(actor.init(jax.random.key(0), td), td)
    assert out["act"].shape == (2,) and out["qa"].shape == (2, 1)
    assert actor.spec["act"] == Categorical(3) and actor.action_space == "categorical"
    with pytest.raises(KeyError, match="do not contain the action_value_key 'action_value'"):
        QValueActor(net)


def test_hooks_wrap_a_plain_network():
    net = QValueHook("categorical").wrap(MLP(out_features=4))
    x = jnp.ones((3, 2))
    action, values, chosen = net.apply(net.init(jax.random.key(0), x), x)
    assert action.shape == (3,) and values.shape == (3, 4) and chosen.shape == (3, 1)
    dist = DistributionalQValueHook("one_hot", support=jnp.arange(3.0))
    action, log_probs = dist(None, x, jax.nn.log_softmax(jnp.zeros((3, 3, 4)), axis=-2))
    assert action.shape == (3, 4)


def test_actor_is_a_composite_of_the_spec():
    actor = QValueActor(module=Linear(4), spec=Composite(action=OneHot(4)))
    assert actor.spec["action"] == OneHot(4) and actor.spec["chosen_action_value"] is None


# ------------------------------------------------------- issue 20: widths, masked rows, check_mask

from jax.experimental import checkify  # noqa: E402

_MASK = jnp.array([[True, False, True], [False, False, False], [False, True, False]])


@pytest.mark.parametrize(
    "build",
    [
        lambda: QValueActor(MLP(out_features=3), spec=Categorical(4)),
        lambda: QValueActor(MLP(out_features=3), spec=OneHot(4)),
        lambda: QValueActor(MLP(out_features=3), spec=MultiOneHot([2, 2])),
        lambda: QValueActor(MLP(out_features=3), spec=Binary(4)),
        lambda: QValueActor(MLP(out_features=3), action_space=Categorical(4)),
    ],
    ids=["categorical", "one_hot", "mult_one_hot", "binary", "spec_as_action_space"],
)
def test_q_value_actor_width_must_match_the_spec(build):
    td = TensorDict({"observation": jnp.ones((2, 5))}, batch_size=[2])
    with pytest.raises(ValueError, match=r"QValueModule: 'action_value' has 3 actions .* has 4\. .*out_features=4"):
        build().init(jax.random.key(0), td)


def test_q_value_module_given_a_spec_checks_the_width_and_var_nums():
    with pytest.raises(ValueError, match="3 actions .*Categorical.* has 4"):
        QValueModule(Categorical(4))(jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"var_nums=\(3, 1\).*nvec=\[2, 2\]"):
        QValueModule(spec=MultiOneHot([2, 2]), var_nums=[3, 1])
    assert QValueModule(spec=MultiOneHot([2, 2]), var_nums=2).var_nums == 2  # the same blocks
    assert QValueModule(Categorical(4))(jnp.zeros((2, 4)))[0].shape == (2,)


def test_distributional_actor_checks_atoms_and_actions():
    td = TensorDict({"observation": jnp.ones((2, 5))}, batch_size=[2])
    actor = DistributionalQValueActor(MLP(out_features=(3, 4)), support=jnp.arange(3.0), spec=OneHot(5))
    with pytest.raises(
        ValueError, match=r"DistributionalQValueModule: 'action_value' has 4 actions .* has 5.*\(3, 5\)"
    ):
        actor.init(jax.random.key(0), td)
    actor = DistributionalQValueActor(MLP(out_features=(4, 5)), support=jnp.arange(3.0), spec=OneHot(5))
    with pytest.raises(ValueError, match=r"atoms = len\(support\) = 3 .*\(2, 4, 5\)"):
        actor.init(jax.random.key(0), td)


@pytest.mark.parametrize("space", ["categorical", "one_hot"])
def test_q_value_module_writes_any_action_allowed(space):
    module = QValueModule(space, action_mask_key="action_mask")
    assert module.out_keys == ["action", "action_value", "chosen_action_value", "any_action_allowed"]
    td = values_td(jnp.array([[1.0, 2.0, 3.0]] * 3), mask=_MASK)
    out = module(td)
    np.testing.assert_array_equal(out["any_action_allowed"], [True, False, True])
    index = out["action"] if space == "categorical" else jnp.argmax(out["action"], -1)
    np.testing.assert_array_equal(index, [2, 0, 1])  # the empty row: index 0 ...
    assert float(out["chosen_action_value"][1, 0]) == FMIN  # ... with value finfo.min
    # the array call form returns the flag last
    action, values, chosen, allowed = module(td["action_value"], td["action_mask"])
    np.testing.assert_array_equal(allowed, [True, False, True])
    assert "any_action_allowed" not in QValueModule(space)(values_td(jnp.ones((3, 3))))


def test_mult_one_hot_and_binary_flags():
    mask = jnp.array([[True, False, False, False, True], [False, True, True, True, False]])
    out = QValueModule("mult_one_hot", var_nums=[2, 3], action_mask_key="action_mask")(
        values_td(jnp.ones((2, 5)), mask=mask)
    )
    np.testing.assert_array_equal(out["any_action_allowed"], [True, True])
    mask = mask.at[1, 2:].set(False)  # the second block of row 1 allows nothing
    out = QValueModule("mult_one_hot", var_nums=[2, 3], action_mask_key="action_mask")(
        values_td(jnp.ones((2, 5)), mask=mask)
    )
    np.testing.assert_array_equal(out["any_action_allowed"], [True, False])
    np.testing.assert_array_equal(out["action"][1], [0, 1, 1, 0, 0])  # the empty block: entry 0
    out = QValueModule("binary", action_mask_key="action_mask")(
        values_td(jnp.ones((2, 5)), mask=jnp.zeros((2, 5), bool))
    )
    np.testing.assert_array_equal(out["any_action_allowed"], [True, True])  # the all-zero action
    np.testing.assert_array_equal(out["action"], 0)


def test_distributional_module_flag_and_masked_row_rule():
    log_probs = jnp.log(jnp.full((3, 2, 3), 0.5))
    td = TensorDict({"action_value": log_probs, "action_mask": _MASK}, batch_size=[3])
    module = DistributionalQValueModule("categorical", support=[-1.0, 1.0], action_mask_key="action_mask")
    out = module(td)
    np.testing.assert_array_equal(out["any_action_allowed"], [True, False, True])
    np.testing.assert_array_equal(out["action"], [0, 0, 1])


@pytest.mark.parametrize("distributional", [False, True])
def test_q_value_check_mask_raises_under_checkify(distributional):
    if distributional:
        actor = DistributionalQValueActor(
            MLP(out_features=(2, 3)),
            support=jnp.arange(2.0),
            spec=Categorical(3),
            action_mask_key="action_mask",
            check_mask=True,
        )
        name = "DistributionalQValueModule"
    else:
        actor = QValueActor(MLP(out_features=3), spec=Categorical(3), action_mask_key="action_mask", check_mask=True)
        name = "QValueModule"
    td = TensorDict({"observation": jnp.ones((3, 4)), "action_mask": jnp.ones((3, 3), bool)}, batch_size=[3])
    variables = actor.init(jax.random.key(0), td)
    run = checkify.checkify(jax.jit(actor.apply))
    err, out = run(variables, td)
    err.throw()
    err, out = run(variables, td.set("action_mask", _MASK))
    with pytest.raises(
        checkify.JaxRuntimeError, match=rf"{name} \(action_mask_key 'action_mask'\).*1 row\(s\).*\[ *1 +-1 +-1\]"
    ):
        err.throw()
    np.testing.assert_array_equal(out["any_action_allowed"], [True, False, True])
    # without check_mask: a plain jit, nothing raises
    plain = QValueActor(MLP(out_features=3), spec=Categorical(3), action_mask_key="action_mask")
    out = jax.jit(plain.apply)(plain.init(jax.random.key(0), td), td.set("action_mask", _MASK))
    np.testing.assert_array_equal(out["any_action_allowed"], [True, False, True])
