"""Training state saves and restores: every recipe's state, environment TensorDicts and empty
TensorDicts, through flax msgpack and orbax, typed PRNG keys included; bad leaves are named."""

import collections
import dataclasses
import importlib
import math

import flax.serialization as fs
import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

from jaxrl_modules import TensorDict, checkpoint
from jaxrl_modules.envs import GymnaxEnv
from jaxrl_modules.recipes import ALGOS

# The smallest runs the configs accept: the state's structure is the full run's, its arrays are tiny.
TINY = {
    "dqn": dict(
        total_timesteps=600,
        learning_starts=200,
        num_chunks=2,
        num_envs=2,
        num_eval_envs=2,
        buffer_size=64,
        batch_size=8,
        num_cells=(8,),
    ),
    "rainbow": dict(
        total_timesteps=600,
        learning_starts=200,
        num_chunks=2,
        num_envs=2,
        num_eval_envs=2,
        buffer_size=64,
        batch_size=8,
        num_cells=(8,),
        head_cells=8,
        num_atoms=5,
    ),
    "ppo": dict(
        total_timesteps=64,
        num_envs=2,
        num_steps=16,
        num_chunks=2,
        update_epochs=1,
        num_minibatches=2,
        hidden_size=8,
        num_layers=1,
        num_eval_envs=2,
        eval_steps=5,
    ),
    "td3": dict(
        total_timesteps=40,
        learning_starts=10,
        num_chunks=2,
        buffer_size=64,
        batch_size=8,
        hidden_size=8,
        num_eval_envs=2,
        eval_steps=5,
    ),
    "mpc": dict(
        total_timesteps=8,
        num_envs=2,
        chunk_steps=4,
        planning_horizon=3,
        optim_steps=1,
        num_candidates=8,
        top_k=2,
        keep_elites=1,
    ),
}


def is_key(x):
    return jax.dtypes.issubdtype(getattr(x, "dtype", np.float32), jax.dtypes.prng_key)


def assert_same_state(restored, state):
    """Same structure, and every leaf the same shape, dtype and values; keys the same keys."""
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    for (path, x), y in zip(jax.tree_util.tree_flatten_with_path(state)[0], jax.tree.leaves(restored)):
        where = jax.tree_util.keystr(path)
        if is_key(x):
            assert is_key(y), where
            assert jax.random.key_impl(y) == jax.random.key_impl(x), where
            np.testing.assert_array_equal(jax.random.key_data(y), jax.random.key_data(x), err_msg=where)
        else:
            assert np.shape(y) == np.shape(x) and np.asarray(y).dtype == np.asarray(x).dtype, where
            np.testing.assert_array_equal(y, x, err_msg=where)


def filled(shapes, seed=0):
    """Random arrays (and keys) of the shapes and dtypes of ``shapes``, a pytree of ShapeDtypeStruct."""
    rng = np.random.default_rng(seed)

    def fill(x):
        if is_key(x):
            return jax.random.split(jax.random.key(int(rng.integers(2**31))), math.prod(x.shape)).reshape(x.shape)
        if np.issubdtype(x.dtype, np.floating):
            return jax.device_put(rng.normal(size=x.shape).astype(x.dtype))
        return jax.device_put(
            (rng.integers(0, 2, x.shape) if x.dtype == bool else rng.integers(0, 100, x.shape)).astype(x.dtype)
        )

    return jax.tree.map(fill, shapes)


@pytest.fixture(scope="module", params=list(TINY))
def recipe_state(request):
    """(algo, the state a run carries between chunks): ``recipe.init``'s structure, shapes, dtypes and
    key arrays, with random values (traced with ``jax.eval_shape``, not compiled: CI time)."""
    module_name, class_name = ALGOS[request.param]
    module = importlib.import_module(module_name)
    config = getattr(module, class_name)(**TINY[request.param])
    state = filled(jax.eval_shape(module.make_recipe(config).init, jax.random.key(0)))
    assert any(is_key(x) for x in jax.tree.leaves(state))  # what plain flax cannot store
    return request.param, state


def test_filled_recipe_state_is_the_state_init_makes():
    recipe = importlib.import_module("jaxrl_modules.recipes.mpc").make_recipe(
        importlib.import_module("jaxrl_modules.recipes.mpc").MPCConfig(**TINY["mpc"])
    )
    real = recipe.init(jax.random.key(0))
    fake = filled(jax.eval_shape(recipe.init, jax.random.key(0)))
    assert jax.tree.structure(fake) == jax.tree.structure(real)
    assert [(x.shape, x.dtype) for x in jax.tree.leaves(fake)] == [(x.shape, x.dtype) for x in jax.tree.leaves(real)]


def test_tiny_configs_cover_every_recipe():
    assert set(TINY) == set(ALGOS)
    for algo, fields in TINY.items():
        module_name, class_name = ALGOS[algo]
        config_class = getattr(importlib.import_module(module_name), class_name)
        assert set(fields) <= {f.name for f in dataclasses.fields(config_class)}


def test_recipe_state_round_trips_through_flax_msgpack(recipe_state):
    _, state = recipe_state
    with pytest.raises(TypeError, match="PRNGKey"):  # plain flax: the bare key outside any TensorDict
        fs.to_bytes(state)
    data = checkpoint.to_bytes(state)
    assert isinstance(data, bytes)
    assert_same_state(checkpoint.from_bytes(state, data), state)
    # The key-data conversion as one call: a state dict of plain dicts and arrays, no keys.
    state_dict = checkpoint.to_state_dict(state)
    assert not any(is_key(x) for x in jax.tree.leaves(state_dict))
    assert_same_state(checkpoint.from_state_dict(state, fs.msgpack_restore(fs.msgpack_serialize(state_dict))), state)


def test_recipe_state_round_trips_through_orbax(recipe_state, tmp_path):
    _, state = recipe_state
    with ocp.StandardCheckpointer() as checkpointer:  # plain orbax: typed keys are supported natively
        checkpointer.save(tmp_path / "plain", state)
        checkpointer.wait_until_finished()
        assert_same_state(checkpointer.restore(tmp_path / "plain", state), state)
    checkpoint.save(tmp_path / "helper", state)
    assert_same_state(checkpoint.restore(tmp_path / "helper", state), state)
    # A target of shapes only, as jax.eval_shape(recipe.init, key) gives, restores the same values.
    assert_same_state(checkpoint.restore(tmp_path / "helper", jax.eval_shape(lambda: state)), state)


def test_plain_flax_serialization_takes_an_environment_tensordict():
    env = GymnaxEnv("CartPole-v1", batch_size=(3,))
    td = env.reset(jax.random.key(1))
    assert is_key(td["_rng"])
    restored = fs.from_bytes(td, fs.to_bytes(td))
    assert isinstance(restored, TensorDict) and restored.batch_size == (3,)
    assert_same_state(restored, td)
    assert fs.to_state_dict(td)["_rng"].dtype == jnp.uint32  # stored as jax.random.key_data
    other_impl = td.set("_rng", jax.random.split(jax.random.key(2, impl="rbg"), 3))
    assert str(jax.random.key_impl(fs.from_bytes(other_impl, fs.to_bytes(other_impl))["_rng"])) == "rbg"


def nested_empty():
    """A TensorDict holding empty sub-TensorDicts at two depths, a key and an array."""
    return TensorDict(
        {
            "empty": TensorDict({}, [2]),
            "next": {"inner": TensorDict({}, [2, 3])},
            "rng": jax.random.split(jax.random.key(3), 2),
            "x": jnp.arange(2.0),
        },
        [2],
    )


@pytest.mark.parametrize(
    "tree",
    [nested_empty(), TensorDict({}, [4]), {"a": nested_empty(), "b": TensorDict({})}],
    ids=["nested", "root", "in-a-dict"],
)
def test_empty_tensordicts_round_trip_through_flax_and_orbax(tree, tmp_path):
    assert_same_state(fs.from_bytes(tree, fs.to_bytes(tree)), tree)
    assert_same_state(checkpoint.from_bytes(tree, checkpoint.to_bytes(tree)), tree)
    with ocp.StandardCheckpointer() as checkpointer:  # refused an empty TensorDict's marker when it had size 0
        checkpointer.save(tmp_path / "standard", tree)
        checkpointer.wait_until_finished()
        assert_same_state(checkpointer.restore(tmp_path / "standard", tree), tree)
    with ocp.PyTreeCheckpointer() as checkpointer:
        checkpointer.save(tmp_path / "pytree", tree)
        restore_args = ocp.checkpoint_utils.construct_restore_args(tree)
        assert_same_state(checkpointer.restore(tmp_path / "pytree", item=tree, restore_args=restore_args), tree)
    checkpoint.save(tmp_path / "helper", tree)
    restored = checkpoint.restore(tmp_path / "helper", tree)
    assert_same_state(restored, tree)
    assert jax.tree.leaves(restored)[0].shape  # the batch survives restoring: it is read off the leaves
    if isinstance(tree, TensorDict):
        assert restored.batch_size == tree.batch_size


def test_empty_tensordict_marker_is_not_zero_size():
    # orbax refuses zero-size arrays; the marker carries the batch shape in one element per entry.
    (marker,) = jax.tree.leaves(TensorDict({}, [2, 3]))
    assert marker.shape == (2, 3, 1) and marker.size == 6


@jax.tree_util.register_dataclass
@dataclasses.dataclass
class Unknown:
    """A pytree node flax's serialization does not know."""

    w: jax.Array


State = collections.namedtuple("State", "td key")


@pytest.mark.parametrize(
    "tree, where",
    [
        ({"a": {"b": object()}}, r"\['a'\]\['b'\]: a object"),
        (State({"f": lambda x: x}, jax.random.key(0)), r"\.td\['f'\]: a function"),
        ({"node": Unknown(jnp.ones(2))}, r"\['node'\]: a Unknown"),
    ],
)
def test_a_leaf_msgpack_cannot_store_is_named(tree, where):
    with pytest.raises(TypeError, match=r"jaxrl_modules.checkpoint.to_state_dict cannot store the leaf at " + where):
        checkpoint.to_bytes(tree)


@pytest.mark.parametrize(
    "tree, error, where",
    [
        ({"a": {"b": np.float32(1.0)}}, TypeError, r"\['a'\]\['b'\]: a NumPy scalar \(float32\)"),
        ({"s": "text"}, TypeError, r"\['s'\]: a str"),
        (State(TensorDict({"z": jnp.zeros((0,))}), jax.random.key(0)), ValueError, r"\.td\['z'\]: a zero-size array"),
    ],
)
def test_a_leaf_orbax_cannot_store_is_named_before_writing(tree, error, where, tmp_path):
    with pytest.raises(error, match=r"jaxrl_modules.checkpoint.save cannot store the leaf at " + where):
        checkpoint.save(tmp_path / "c", tree)
    assert not (tmp_path / "c").exists()


def test_restoring_into_a_target_of_another_config_names_the_leaf(tmp_path):
    state = State(TensorDict({"w": jnp.ones((2, 3))}, [2]), jax.random.key(0))
    data = checkpoint.to_bytes(state)
    with pytest.raises(
        ValueError,
        match=r"leaf at \.td\['w'\]: the target holds float32\[2, 4\], the saved state "
        r"float32\[2, 3\]",
    ):
        checkpoint.from_bytes(State(TensorDict({"w": jnp.ones((2, 4))}, [2]), jax.random.key(0)), data)
    with pytest.raises(ValueError, match=r"PRNG keys at \.key: .* \(rbg\)"):
        checkpoint.from_bytes(state._replace(key=jax.random.key(0, impl="rbg")), data)
    checkpoint.save(tmp_path / "c", state)
    with pytest.raises(FileExistsError, match="already exists; pass overwrite=True"):
        checkpoint.save(tmp_path / "c", state)
    checkpoint.save(tmp_path / "c", state._replace(key=jax.random.key(5)), overwrite=True)
    assert_same_state(checkpoint.restore(tmp_path / "c", state), state._replace(key=jax.random.key(5)))
    with pytest.raises(
        ValueError,
        match=r"the leaf at \.td\['w'\] has shape \(2, 3\) in the checkpoint at .*, but "
        r"\(2, 4\) in the target",
    ):
        checkpoint.restore(tmp_path / "c", State(TensorDict({"w": jnp.ones((2, 4))}, [2]), jax.random.key(0)))
    with pytest.raises(ValueError, match=r"the leaf at \.key has shape \(2,\) .* but \(4,\) in the target \(as key"):
        checkpoint.restore(tmp_path / "c", state._replace(key=jax.random.key(0, impl="rbg")))
    with pytest.raises(ValueError, match=r"has no leaf at \.td\['v'\]"):
        checkpoint.restore(tmp_path / "c", State(TensorDict({"v": jnp.ones(2), "w": jnp.ones((2, 3))}, [2]), state.key))
    with pytest.raises(ValueError, match=r"holds leaves the target lacks: key\. Restore"):
        checkpoint.restore(tmp_path / "c", collections.namedtuple("Partial", "td")(state.td))
    with pytest.raises(FileNotFoundError, match="no checkpoint directory at"):
        checkpoint.restore(tmp_path / "missing", state)
