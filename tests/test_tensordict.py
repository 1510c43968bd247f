"""TensorDict: construction, keys, indexing, and the JAX transformations it must survive."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import serialization
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import jaxrl_modules  # noqa: F401  (registers flax serialization)
from jaxrl_modules.data import TensorDict, cat, stack


def make_td(batch=(4,)):
    return TensorDict(
        {
            "observation": jnp.arange(np.prod(batch) * 3, dtype=jnp.float32).reshape(*batch, 3),
            "done": jnp.zeros((*batch, 1), bool),
            "next": {"reward": jnp.ones((*batch, 1)), "observation": jnp.zeros((*batch, 3))},
        },
        batch_size=batch,
    )


def tree_equal(a, b):
    return jax.tree.structure(a) == jax.tree.structure(b) and all(
        bool(jnp.array_equal(x, y)) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b))
    )


# ---------------------------------------------------------------------------------- construction


def test_construction_and_nested_keys():
    td = make_td()
    assert td.batch_size == (4,) and td.shape == (4,) and td.ndim == 1
    assert isinstance(td["next"], TensorDict) and td["next"].batch_size == (4,)
    assert td["next", "reward"].shape == (4, 1)
    assert td.get(("next", "reward")).shape == (4, 1)
    assert td.keys() == ["done", "next", "observation"]
    assert td.keys(include_nested=True, leaves_only=True) == [
        "done",
        ("next", "observation"),
        ("next", "reward"),
        "observation",
    ]
    assert ("next", "reward") in td and ("next", "done") not in td
    assert td.get("missing", 3) == 3
    assert len(td) == 4 and [t.batch_size for t in td] == [()] * 4


def test_python_values_become_arrays():
    td = TensorDict({"a": [1.0, 2.0]}, batch_size=[2])
    assert isinstance(td["a"], jax.Array) and td["a"].shape == (2,)


def test_nested_tensordict_may_have_more_batch_dims():
    inner = TensorDict({"x": jnp.zeros((4, 2, 5))}, batch_size=[4, 2])
    td = TensorDict({"agents": inner, "y": jnp.zeros((4,))}, batch_size=[4])
    assert td["agents"].batch_size == (4, 2)
    out = jax.vmap(lambda t: t)(td)
    assert out["agents"].batch_size == (4, 2) and out.batch_size == (4,)
    assert jax.jit(lambda t: t["agents"].batch_size and t)(td)["agents"].batch_size == (4, 2)


def test_keys_are_sorted_so_insertion_order_does_not_change_the_tree():
    a = TensorDict({"x": jnp.zeros(2), "y": jnp.ones(2)}, batch_size=[2])
    b = TensorDict({"y": jnp.ones(2)}, batch_size=[2]).set("x", jnp.zeros(2))
    assert jax.tree.structure(a) == jax.tree.structure(b)


# ------------------------------------------------------------------------------------ bad input


def test_leaf_disagreeing_with_batch_size_names_the_key():
    with pytest.raises(ValueError, match=r"'reward' has shape \(3, 1\).*batch_size \(4,\)"):
        TensorDict({"reward": jnp.zeros((3, 1))}, batch_size=[4])
    with pytest.raises(ValueError, match=r"'inner'.*\(2,\).*\(4,\)"):
        TensorDict({"inner": TensorDict({}, batch_size=[2])}, batch_size=[4])


def test_set_checks_shapes_and_names_the_key():
    with pytest.raises(ValueError, match=r"In entry 'next'.*'reward' has shape \(5,\)"):
        make_td().set(("next", "reward"), jnp.zeros(5))


def test_missing_key_names_the_key_and_the_keys_present():
    with pytest.raises(KeyError, match=r"'action'.*\['done', 'next', 'observation'\]"):
        make_td()["action"]
    with pytest.raises(KeyError, match=r"\('next', 'action'\).*'action'.*\['observation', 'reward'\]"):
        make_td()["next", "action"]


def test_nested_key_through_an_array_names_both():
    with pytest.raises(KeyError, match=r"\('done', 'x'\).*'done' is an array of shape \(4, 1\)"):
        make_td()["done", "x"]
    with pytest.raises(KeyError, match=r"'done' is an array of shape \(4, 1\)"):
        make_td().set(("done", "x"), jnp.zeros((4,)))


def test_item_assignment_says_how_to_write():
    td = make_td()
    with pytest.raises(TypeError, match=r"td = td.set\('action', value\)"):
        td["action"] = jnp.zeros(4)
    with pytest.raises(AttributeError, match="immutable"):
        td.batch_size = (2,)


def test_set_returns_new_tensordict_and_leaves_the_input_alone():
    td = make_td()
    td2 = td.set("action", jnp.zeros((4, 2)))
    assert "action" in td2 and "action" not in td


# ------------------------------------------------------------------------------------- methods


def test_indexing_acts_on_batch_dims_only():
    td = make_td((4, 3))
    assert td[0].batch_size == (3,) and td[0]["observation"].shape == (3, 3)
    assert td[:, 1].batch_size == (4,)
    assert td[..., 1].batch_size == (4,) and td[..., 1]["observation"].shape == (4, 3)
    assert td[1:3].batch_size == (2, 3)
    assert td[None].batch_size == (1, 4, 3)
    mask = np.array([True, False, True, True])
    assert td[mask].batch_size == (3, 3)
    np.testing.assert_array_equal(td[mask]["observation"], td["observation"][mask])
    with pytest.raises(IndexError, match="batch dimensions only"):
        td[0, 0, 0]


def test_select_exclude_update_rename():
    td = make_td()
    assert td.select("done", ("next", "reward")).keys(True, True) == ["done", ("next", "reward")]
    assert td.select("done", "nope", strict=False).keys() == ["done"]
    with pytest.raises(KeyError, match="nope"):
        td.select("nope")
    assert td.exclude(("next", "reward"), "done").keys(True, True) == [("next", "observation"), "observation"]
    up = td.update({"next": {"done": jnp.ones((4, 1), bool)}, "a": jnp.zeros(4)})
    assert up.keys(True, True) == [
        "a",
        "done",
        ("next", "done"),
        ("next", "observation"),
        ("next", "reward"),
        "observation",
    ]
    assert td.rename_key("done", "terminated").keys() == ["next", "observation", "terminated"]


def test_to_dict_empty_apply_flatten_keys():
    td = make_td()
    d = td.to_dict()
    assert isinstance(d["next"], dict) and d["next"]["reward"].shape == (4, 1)
    e = td.empty()
    assert e.batch_size == (4,) and e.keys() == [] and e.is_empty()
    assert td.empty(recurse=True).keys() == ["next"]
    doubled = td.apply(lambda x: x * 2)
    np.testing.assert_array_equal(doubled["observation"], td["observation"] * 2)
    summed = td.apply(lambda x, y: x + y, doubled)
    np.testing.assert_array_equal(summed["next", "reward"], 3 * jnp.ones((4, 1)))
    assert td.flatten_keys().keys() == ["done", "next.observation", "next.reward", "observation"]


def test_reshape_stack_cat_squeeze():
    td = make_td((4, 3))
    r = td.reshape(2, -1)
    assert r.batch_size == (2, 6) and r["observation"].shape == (2, 6, 3)
    assert r["next"].batch_size == (2, 6)
    with pytest.raises(ValueError, match="Cannot reshape"):
        td.reshape(5, -1)
    s = stack([td, td], dim=1)
    assert s.batch_size == (4, 2, 3) and s["next", "reward"].shape == (4, 2, 3, 1)
    assert TensorDict.stack([td, td], -1).batch_size == (4, 3, 2)
    c = cat([td, td], dim=1)
    assert c.batch_size == (4, 6)
    assert td.unsqueeze(0).batch_size == (1, 4, 3) and td.unsqueeze(0).squeeze(0).batch_size == (4, 3)
    with pytest.raises(KeyError, match="missing"):
        stack([td, td.exclude("done")])


def test_repr_lists_keys_shapes_and_dtypes():
    text = repr(make_td())
    assert "observation: Array(shape=(4, 3), dtype=float32)" in text
    assert "done: Array(shape=(4, 1), dtype=bool)" in text
    assert "reward: Array(shape=(4, 1), dtype=float32)" in text
    assert text.rstrip().endswith("batch_size=(4,))")


# --------------------------------------------------------------------------- JAX transformations


def test_keystr_paths_read_like_nested_keys():
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(make_td())[0]]
    assert paths == ["['done']", "['next']['observation']", "['next']['reward']", "['observation']"]


def test_no_extra_leaf_for_a_non_empty_tensordict():
    assert len(jax.tree.leaves(make_td())) == 4


def test_jit_equals_eager():
    td = make_td()

    def f(t):
        return t.set("action", t["observation"].sum(-1, keepdims=True) + t["next", "reward"])

    assert tree_equal(jax.jit(f)(td), f(td))
    assert jax.jit(f)(td).batch_size == (4,)


def test_vmap_sees_the_per_example_batch_and_restores_it():
    td = make_td((4, 3))
    seen = []

    def f(t):
        seen.append(t.batch_size)
        return t.set("action", t["observation"][..., :1])

    out = jax.vmap(f)(td)
    assert seen == [(3,)]
    assert out.batch_size == (4, 3) and out["action"].shape == (4, 3, 1)
    loop = stack([f(td[i]) for i in range(4)])
    assert tree_equal(out, loop)
    assert jax.vmap(f, in_axes=1, out_axes=1)(td).batch_size == (4, 3)


def test_empty_tensordict_keeps_its_batch_size_under_vmap_and_scan():
    e = TensorDict({}, batch_size=[3, 2])
    assert jax.vmap(lambda t: t)(e).batch_size == (3, 2)
    inner = []
    jax.vmap(lambda t: inner.append(t.batch_size) or t)(e)
    assert inner == [(2,)]
    _, ys = jax.lax.scan(lambda c, x: (c, TensorDict({}, batch_size=[2])), 0, None, length=5)
    assert ys.batch_size == (5, 2)


def test_scan_outputs_have_batch_shape_time_first():
    td = make_td()

    def body(carry, x):
        carry = carry.set("observation", carry["observation"] + x)
        return carry, carry.select("observation", ("next", "reward"))

    carry, ys = jax.lax.scan(body, td, jnp.arange(5.0))
    assert carry.batch_size == (4,)
    assert ys.batch_size == (5, 4) and ys["next"].batch_size == (5, 4)
    np.testing.assert_allclose(ys["observation"][-1], td["observation"] + 10.0)


def test_device_put_with_named_sharding():
    devices = np.array(jax.devices())
    assert devices.size == 8
    mesh = Mesh(devices, ("data",))
    sharding = NamedSharding(mesh, PartitionSpec("data"))
    td = make_td((16,))
    sharded = jax.device_put(td, sharding)
    assert sharded.batch_size == (16,)
    assert sharded["next", "reward"].sharding == sharding
    assert len(sharded["observation"].addressable_shards) == 8
    out = jax.jit(lambda t: t.set("s", t["observation"].sum(-1)))(sharded)
    np.testing.assert_allclose(out["s"], td["observation"].sum(-1))


def test_flax_serialization_round_trip():
    td = make_td()
    restored = serialization.from_bytes(td.apply(jnp.zeros_like), serialization.to_bytes(td))
    assert isinstance(restored, TensorDict) and restored.batch_size == (4,)
    assert tree_equal(restored, td.apply(np.asarray)) or all(
        np.array_equal(a, b) for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(td))
    )
    state = serialization.to_state_dict(td)
    assert set(state) == {"done", "next", "observation"} and set(state["next"]) == {"observation", "reward"}


def test_orbax_checkpoint_round_trip(tmp_path):
    ocp = pytest.importorskip("orbax.checkpoint")
    td = make_td()
    with ocp.StandardCheckpointer() as ckptr:
        ckptr.save(tmp_path / "td", td)
        ckptr.wait_until_finished()
        restored = ckptr.restore(tmp_path / "td", td)
    assert isinstance(restored, TensorDict) and restored.batch_size == (4,)
    for a, b in zip(jax.tree.leaves(restored), jax.tree.leaves(td)):
        np.testing.assert_array_equal(a, b)


def test_tree_map_and_grad_through_a_tensordict():
    td = make_td()
    grads = jax.grad(lambda t: (t["observation"] ** 2).sum() + t["next", "reward"].sum())(td.exclude("done"))
    assert isinstance(grads, TensorDict)
    np.testing.assert_allclose(grads["observation"], 2 * td["observation"])
    assert jax.tree.map(lambda x: x[0], td).batch_size == ()


# ------------------------------------------------------------------ bad input (issue 20)


def test_apply_checks_every_entry_shares_the_batch_size():
    td = make_td()
    # Slicing only the 2-D entries used to be accepted, the batch size read off one entry.
    with pytest.raises(ValueError, match=r"TensorDict.apply: Entry .* has leading dims \(4,\) but entry .* has \(2,\)"):
        td.apply(lambda x: x[:2] if x.shape[-1] == 3 else x)
    assert td.apply(lambda x: x[:2]).batch_size == (2,)  # every entry alike: the batch follows
    assert td.apply(lambda x: jnp.stack([x, x])).batch_size == (2, 4)
    with pytest.raises(ValueError, match=r"apply\(batch_size=\(3,\)\).*batch_size \(3,\)"):
        td.apply(lambda x: x, batch_size=[3])
    # batch_size= rebuilds through the constructor, so fn may change the trailing dims.
    grown = td.apply(lambda x: x[..., None], batch_size=[4])
    assert grown.batch_size == (4,) and grown["next", "reward"].shape == (4, 1, 1)
    # Under vmap and scan (batch-stripped leaves) apply still works.
    assert jax.vmap(lambda t: t.apply(jnp.sin))(td).batch_size == (4,)
    assert jax.lax.scan(lambda c, t: (c, t.apply(lambda x: x * 2)), 0, td)[1].batch_size == (4,)
    assert jax.jit(lambda t: t.apply(lambda x: x + 1))(td).batch_size == (4,)


def test_update_writes_an_empty_nested_tensordict():
    td = make_td()
    out = td.update({"x": TensorDict({}, [4])})  # used to be dropped silently
    assert "x" in out and out["x"].batch_size == (4,) and out["x"].is_empty()
    assert "x" in td.update({"x": {}})
    merged = td.update({"next": TensorDict({}, [4])})  # merges into the existing one: a no-op
    assert merged["next"].keys() == ["observation", "reward"]
    with pytest.raises(ValueError, match=r"Entry 'x' has TensorDict batch_size \(3,\).*\(4,\)"):
        td.update({"x": TensorDict({}, [3])})


@pytest.mark.parametrize("batch", [(), (0,), (4,)])
def test_bool_raises_and_names_what_to_use(batch):
    for td in (make_td(batch), TensorDict({}, batch)):
        with pytest.raises(RuntimeError, match=r"TensorDict to a boolean is not permitted.*is_empty\(\)"):
            bool(td)
    assert TensorDict({"a": jnp.zeros(batch)}, batch) is not None  # the constructor reads no bool
    assert TensorDict(make_td(batch), batch).keys() == make_td(batch).keys()  # a TensorDict source


def test_stack_and_cat_name_the_batch_sizes_and_entries_that_differ():
    a, b = make_td((4,)), make_td((3,))
    with pytest.raises(
        ValueError, match=r"stack: the TensorDicts need the same batch_size, got batch sizes \[\(4,\), \(3,\)\]"
    ):
        stack([a, b])
    assert cat([a, b]).batch_size == (7,)
    with pytest.raises(ValueError, match=r"cat: .*batch_size \(except dim 1\), got batch sizes \[\(2, 2\), \(3, 2\)\]"):
        cat([make_td((2, 2)), make_td((3, 2))], dim=1)
    wide = a.set("observation", jnp.zeros((4, 5)))
    with pytest.raises(ValueError, match=r"stack: entry 'observation' has shapes \[\(4, 3\), \(4, 5\)\]"):
        stack([a, wide])
    with pytest.raises(ValueError, match=r"cat: entry 'observation' has shapes"):
        cat([a, wide])
    with pytest.raises(ValueError, match=r"stack: the TensorDicts need the same batch_size"):
        stack([TensorDict({}, [2]), TensorDict({}, [3])])
    with pytest.raises(TypeError, match="stack takes a sequence"):
        stack(a)
