"""Key-based modules: TensorDictModule, SafeModule, sequences, VmapModule, exploration type."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_modules import (
    MLP,
    Bounded,
    ExplorationType,
    SafeModule,
    SafeSequential,
    TensorDict,
    TensorDictModule,
    TensorDictSequential,
    Unbounded,
    VmapModule,
)
from jaxrl_modules.data import stack


def obs_td(batch=(5,), dim=3, key=0):
    x = jax.random.normal(jax.random.key(key), (*batch, dim))
    return TensorDict({"observation": x}, batch_size=batch)


def actor(out=2):
    return TensorDictModule(MLP(out_features=out, num_cells=[16, 16]), in_keys=["observation"], out_keys=["action"])


def tree_allclose(a, b, atol=1e-6):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
        np.testing.assert_allclose(x, y, atol=atol)


# ------------------------------------------------------------------------------ TensorDictModule


def test_outputs_keys_shapes_dtypes_and_the_input_is_untouched():
    m, td = actor(), obs_td()
    variables = m.init(jax.random.key(0), td)
    out = m.apply(variables, td)
    assert out.keys() == ["action", "observation"]
    assert out["action"].shape == (5, 2) and out["action"].dtype == jnp.float32
    assert "action" not in td
    assert m.in_keys == ["observation"] and m.out_keys == ["action"]


def test_inplace_false_returns_only_the_outputs():
    m = TensorDictModule(MLP(out_features=2), in_keys="observation", out_keys="action", inplace=False)
    td = obs_td()
    out = m.apply(m.init(jax.random.key(0), td), td)
    assert out.keys() == ["action"] and out.batch_size == (5,)


def test_array_call_forms_match_the_tensordict_form():
    m, td = actor(), obs_td()
    variables = m.init(jax.random.key(0), td)
    expected = m.apply(variables, td)["action"]
    np.testing.assert_allclose(m.apply(variables, td["observation"]), expected)
    np.testing.assert_allclose(m.apply(variables, observation=td["observation"]), expected)


def test_nested_keys_are_joined_for_keyword_calls_and_several_outputs_give_a_tuple():
    m = TensorDictModule(lambda x: (x + 1, x * 2), in_keys=[("next", "obs")], out_keys=["a", ("b", "c")])
    a, c = m(next_obs=jnp.ones(3))
    np.testing.assert_allclose(a, 2.0)
    np.testing.assert_allclose(c, 2.0)
    td = TensorDict({"next": {"obs": jnp.ones((2, 3))}}, batch_size=[2])
    out = m(td)
    assert out["b", "c"].shape == (2, 3)


def test_parameter_free_modules_are_called_directly():
    m = TensorDictModule(jnp.tanh, in_keys=["x"], out_keys=["y"])
    np.testing.assert_allclose(m(jnp.array([0.5])), jnp.tanh(0.5), rtol=1e-6)
    out = m(TensorDict({"x": jnp.zeros((2, 1))}, batch_size=[2]))
    assert out["y"].shape == (2, 1)


def test_dict_in_keys_call_the_module_with_keywords():
    m = TensorDictModule(lambda a, b: a - b, in_keys={"b": "x", "a": "y"}, out_keys=["z"])
    td = TensorDict({"x": jnp.ones(2), "y": jnp.full(2, 3.0)}, batch_size=[2])
    np.testing.assert_allclose(m(td)["z"], 2.0)
    assert m.in_keys == ["x", "y"]


def test_module_returning_a_mapping_is_read_by_key():
    m = TensorDictModule(lambda x: {"loc": x, "scale": {"s": x + 1}}, in_keys=["x"], out_keys=[("scale", "s"), "loc"])
    out = m(TensorDict({"x": jnp.zeros(2)}, batch_size=[2]))
    np.testing.assert_allclose(out["scale", "s"], 1.0)


def test_underscore_out_key_drops_the_output():
    m = TensorDictModule(lambda x: (x, x + 1), in_keys=["x"], out_keys=["_", "y"])
    out = m(TensorDict({"x": jnp.zeros(2)}, batch_size=[2]))
    assert out.keys() == ["x", "y"]


def test_wrong_number_of_outputs_names_the_module_and_keys():
    m = TensorDictModule(lambda x: (x, x), in_keys=["x"], out_keys=["y"])
    with pytest.raises(ValueError, match=r"TensorDictModule\(<lambda>\) returned 2 outputs but has 1 out_keys \['y'\]"):
        m(TensorDict({"x": jnp.zeros(2)}, batch_size=[2]))


def test_missing_key_names_the_module_and_the_key():
    m, td = actor(), obs_td()
    with pytest.raises(KeyError, match=r"TensorDictModule\(MLP\): in_key 'observation' is missing.*\['pixels'\]"):
        m.init(jax.random.key(0), TensorDict({"pixels": td["observation"]}, batch_size=[5]))


def test_output_with_the_wrong_batch_shape_names_the_key_and_shapes():
    m = TensorDictModule(lambda x: x.sum(0), in_keys=["x"], out_keys=["y"])
    with pytest.raises(ValueError, match=r"cannot write out_key 'y'.*shape \(3,\).*batch_size \(2,\)"):
        m(TensorDict({"x": jnp.zeros((2, 3))}, batch_size=[2]))


def test_bad_calls_are_rejected():
    m = TensorDictModule(jnp.tanh, in_keys=["x"], out_keys=["y"])
    with pytest.raises(TypeError, match="at most 1 arrays"):
        m(jnp.zeros(1), jnp.zeros(1))
    with pytest.raises(TypeError, match="unexpected keyword 'z'"):
        m(z=jnp.zeros(1))
    with pytest.raises(ValueError, match="inplace"):
        TensorDictModule(jnp.tanh, in_keys=["x"], out_keys=["y"], inplace="yes")


def test_jit_equals_eager_vmap_equals_loop_and_gradients_are_finite():
    m, td = actor(), obs_td((4, 5))
    variables = m.init(jax.random.key(0), td)
    eager = m.apply(variables, td)
    tree_allclose(jax.jit(m.apply)(variables, td), eager)
    vmapped = jax.vmap(m.apply, in_axes=(None, 0))(variables, td)
    tree_allclose(vmapped, stack([m.apply(variables, td[i]) for i in range(4)]))
    grads = jax.grad(lambda v: m.apply(v, td)["action"].sum())(variables)
    assert all(bool(jnp.isfinite(g).all()) for g in jax.tree.leaves(grads))


def test_scan_over_a_key_based_module():
    m, td = actor(3), obs_td((2,), dim=3)
    variables = m.init(jax.random.key(0), td)

    def body(carry, _):
        out = m.apply(variables, carry)
        return carry.set("observation", out["action"]), out["action"]

    _, actions = jax.lax.scan(body, td, None, length=4)
    assert actions.shape == (4, 2, 3)


def test_key_based_layer_adds_no_op_inside_jit():
    """Same HLO computation as raw flax apply: the TensorDict only changes the call's signature."""
    mlp = MLP(out_features=2, num_cells=[16, 16])
    m = TensorDictModule(mlp, in_keys=["observation"], out_keys=["action"], inplace=False)
    td = obs_td()
    variables = m.init(jax.random.key(0), td)
    raw_vars = {"params": variables["params"]["module"]}

    def ops(fn, *args):
        text = jax.jit(fn).lower(*args).compile().as_text()
        lines = [ln.split("=", 1)[1].split("(")[0].split()[-1] for ln in text.splitlines() if " = " in ln and "%" in ln]
        return sorted(op for op in lines if op not in ("parameter", "tuple", "get-tuple-element"))

    assert ops(lambda v, t: m.apply(v, t)["action"], variables, td) == ops(mlp.apply, raw_vars, td["observation"])


# --------------------------------------------------------------------------------- SafeModule


def test_safe_module_projects_onto_its_spec():
    m = SafeModule(lambda x: 3.0 * x, in_keys=["x"], out_keys=["y"], spec=Bounded(-1.0, 1.0, shape=(2,)), safe=True)
    out = m(TensorDict({"x": jnp.array([[0.1, 0.9], [-2.0, 0.0]])}, batch_size=[2]))
    np.testing.assert_allclose(out["y"], [[0.3, 1.0], [-1.0, 0.0]], rtol=1e-6)
    unsafe = SafeModule(lambda x: 3.0 * x, in_keys=["x"], out_keys=["y"], spec=Bounded(-1.0, 1.0, shape=(2,)))
    assert float(unsafe(jnp.array([0.9, 0.0]))[0]) == pytest.approx(2.7)


def test_safe_module_spec_registration_follows_torchrl():
    m = SafeModule(lambda x: (x, x), in_keys=["x"], out_keys=["y", "z"], spec={"y": Unbounded(2)})
    assert m.spec["y"] == Unbounded(2) and m.spec["z"] is None
    with pytest.raises(ValueError, match="single .*spec needs exactly one out key"):
        SafeModule(lambda x: (x, x), in_keys=["x"], out_keys=["y", "z"], spec=Unbounded(2))
    with pytest.raises(ValueError, match="safe=True needs a spec"):
        SafeModule(jnp.tanh, in_keys=["x"], out_keys=["y"], safe=True)
    with pytest.raises(ValueError, match=r"spec keys \['w'\] are not among the out_keys"):
        SafeModule(jnp.tanh, in_keys=["x"], out_keys=["y"], spec={"w": Unbounded(2)})


def test_safe_module_rejects_an_output_of_the_wrong_shape_for_its_spec():
    m = SafeModule(lambda x: x, in_keys=["x"], out_keys=["y"], spec=Bounded(-1.0, 1.0, shape=(2,)), safe=True)
    with pytest.raises(ValueError, match=r"'y'.*shape \(2, 3\).*spec shape \(2,\)"):
        m(TensorDict({"x": jnp.zeros((2, 3))}, batch_size=[2]))


def test_safe_module_random_writes_a_sample_of_the_spec():
    m = SafeModule(jnp.tanh, in_keys=["x"], out_keys=["y"], spec=Bounded(-1.0, 1.0, shape=(2,)))
    out = m.random(TensorDict({"x": jnp.zeros((7, 2))}, batch_size=[7]), jax.random.key(1))
    assert out["y"].shape == (7, 2) and bool(m.spec["y"].is_in(out["y"]))


# ------------------------------------------------------------------------------------ sequences


def test_sequential_keys_follow_torchrl():
    a = TensorDictModule(lambda x: x, in_keys=["obs"], out_keys=["hidden"])
    b = TensorDictModule(lambda h, g: (h, g), in_keys=["hidden", "goal"], out_keys=["action", "hidden"])
    seq = TensorDictSequential(a, b)
    assert seq.in_keys == ["obs", "goal"]
    assert seq.out_keys == ["action", "hidden"]
    assert len(seq) == 2 and seq[1] is b


def test_sequential_runs_in_order_and_params_are_per_module():
    seq = TensorDictSequential(
        TensorDictModule(MLP(out_features=4), in_keys=["observation"], out_keys=["hidden"]),
        TensorDictModule(MLP(out_features=1), in_keys=["hidden"], out_keys=["state_value"]),
    )
    td = obs_td()
    variables = seq.init(jax.random.key(0), td)
    assert set(variables["params"]) == {"modules_0", "modules_1"}
    out = seq.apply(variables, td)
    assert out.keys() == ["hidden", "observation", "state_value"] and out["state_value"].shape == (5, 1)
    tree_allclose(jax.jit(seq.apply)(variables, td), out)


def test_sequential_partial_tolerant_and_selected_out_keys():
    a = TensorDictModule(lambda x: x + 1, in_keys=["x"], out_keys=["y"])
    b = TensorDictModule(lambda z: z, in_keys=["z"], out_keys=["w"])
    td = TensorDict({"x": jnp.zeros(2)}, batch_size=[2])
    with pytest.raises(KeyError, match="in_key 'z' is missing"):
        TensorDictSequential(a, b)(td)
    assert TensorDictSequential(a, b, partial_tolerant=True)(td).keys() == ["x", "y"]
    c = TensorDictModule(lambda y: y * 2, in_keys=["y"], out_keys=["v"])
    out = TensorDictSequential(a, c, selected_out_keys=["v"])(td)
    assert out.keys() == ["v", "x"]
    with pytest.raises(TypeError, match="not a key-based module"):
        TensorDictSequential(a, jnp.tanh)


def test_safe_sequential_spec_is_the_union():
    seq = SafeSequential(
        SafeModule(jnp.tanh, in_keys=["x"], out_keys=["y"], spec=Bounded(-1.0, 1.0, shape=(2,))),
        TensorDictModule(jnp.exp, in_keys=["y"], out_keys=["z"]),
    )
    assert seq.spec["y"].shape == (2,) and seq.spec["z"] is None


# ---------------------------------------------------------------------------------- VmapModule


def test_vmap_module_equals_a_loop_and_shares_parameters():
    inner = actor()
    vm = VmapModule(inner)
    td = obs_td((3, 4))
    variables = vm.init(jax.random.key(0), td)
    assert jax.tree.map(jnp.shape, variables) == jax.tree.map(
        jnp.shape, {"params": {"module": inner.init(jax.random.key(0), td)["params"]}}
    )
    out = vm.apply(variables, td)
    inner_vars = {"params": variables["params"]["module"]}
    expected = stack([inner.apply(inner_vars, td[:, j]) for j in range(4)], dim=1)
    tree_allclose(out, expected)
    tree_allclose(VmapModule(inner, vmap_dim=0).apply(variables, td), out)
    tree_allclose(VmapModule(inner, mock=True).apply(variables, td), out)
    with pytest.raises(ValueError, match="out of range"):
        VmapModule(inner, vmap_dim=2).apply(variables, td)


# ---------------------------------------------------------------------------- exploration type


class Explorer(nn.Module):
    """Returns 1 when told to explore (RANDOM), else 0: stands in for a noisy layer."""

    @nn.compact
    def __call__(self, x, exploration_type=None):
        return jnp.full(x.shape, float(exploration_type == ExplorationType.RANDOM))


def test_exploration_type_is_passed_on_and_is_part_of_the_trace():
    m = TensorDictModule(Explorer(), in_keys=["x"], out_keys=["y"])
    td = TensorDict({"x": jnp.zeros(2)}, batch_size=[2])
    variables = m.init(jax.random.key(0), td)
    assert float(m.apply(variables, td)["y"][0]) == 0.0
    assert float(m.apply(variables, td, exploration_type="random")["y"][0]) == 1.0
    field = TensorDictModule(Explorer(), in_keys=["x"], out_keys=["y"], exploration_type=ExplorationType.RANDOM)
    assert float(field.apply(variables, td)["y"][0]) == 1.0
    assert float(field.apply(variables, td, exploration_type="mode")["y"][0]) == 0.0

    # The type is a static argument: a jitted function traces once per type, never reusing one.
    f = jax.jit(lambda v, t, etype: m.apply(v, t, exploration_type=etype)["y"], static_argnums=2)
    assert float(f(variables, td, ExplorationType.RANDOM)[0]) == 1.0
    assert float(f(variables, td, ExplorationType.MODE)[0]) == 0.0
    assert float(f(variables, td, ExplorationType.RANDOM)[0]) == 1.0
    with pytest.raises(TypeError):
        jax.jit(lambda v, t, etype: m.apply(v, t, exploration_type=etype))(variables, td, ExplorationType.RANDOM)


def test_sequence_forwards_the_exploration_type():
    seq = TensorDictSequential(TensorDictModule(Explorer(), in_keys=["x"], out_keys=["y"]))
    td = TensorDict({"x": jnp.zeros(2)}, batch_size=[2])
    variables = seq.init(jax.random.key(0), td)
    assert float(seq.apply(variables, td, exploration_type=ExplorationType.RANDOM)["y"][0]) == 1.0
    assert float(seq.apply(variables, td)["y"][0]) == 0.0


def test_safe_projection_keeps_nan_visible():
    """Issue 20: safe=True never launders a NaN output into a valid-looking bound."""
    from jaxrl_modules import Bounded, SafeModule

    clip = SafeModule(
        lambda x: x, in_keys=["observation"], out_keys=["action"], spec=Bounded(-1.0, 1.0, shape=(3,)), safe=True
    )
    out = clip(jnp.array([[jnp.nan, 5.0, -jnp.inf]]))
    assert bool(jnp.isnan(out[0, 0]))
    np.testing.assert_array_equal(out[0, 1:], [1.0, -1.0])
    out = jax.jit(clip)(jnp.array([[jnp.nan, 0.5, 2.0]]))
    assert bool(jnp.isnan(out[0, 0])) and out[0, 2] == 1.0
