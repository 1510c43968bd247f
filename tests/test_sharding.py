"""Sharding across devices (examples/sharding.py): results on the 8 host CPU devices of the
conftest equal those on one device.

The example's ``main`` runs once per module, with small sizes, and the tests read its results:
that is also the test that the example runs.
"""

import importlib.util
import re
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "sharding.py"
NUM_ENVS, STEPS, UPDATES = 16, 8, 2

# Float32 sums of the same terms in another order (per-device partial sums, then an all-reduce)
# differ by a few ulps of the largest terms; near-zero entries that come from cancellation can
# then differ by 1e-4 *relative to themselves*, so the bound is relative to each leaf's largest
# entry. 1e-5 is ~80 float32 ulps (eps = 1.2e-7); measured at most 2e-7 over three seeds and 5
# updates. A real bug is O(1): a gradient summed rather than averaged over 8 devices is 8x, a
# device's missing shard moves the loss and the moments by ~1/8.
LEAF_RTOL = 1e-5


def _load_example():
    spec = importlib.util.spec_from_file_location("sharding_example", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


example = _load_example()


@pytest.fixture(scope="module")
def run():
    return example.main(["--num-envs", str(NUM_ENVS), "--steps", str(STEPS), "--updates", str(UPDATES)])


def assert_tree_close(actual, expected, rtol=LEAF_RTOL):
    assert jax.tree.structure(actual) == jax.tree.structure(expected)
    for (path, a), b in zip(jax.tree_util.tree_leaves_with_path(actual), jax.tree.leaves(expected)):
        a, b = np.asarray(a), np.asarray(b)
        np.testing.assert_allclose(
            a, b, rtol=0, atol=rtol * float(np.max(np.abs(b), initial=0.0)), err_msg=jax.tree_util.keystr(path)
        )


def test_eight_host_devices():
    assert len(jax.devices()) == 8 and jax.devices()[0].platform == "cpu"


def test_sharded_rollout_equals_single_device_rollout(run):
    out, single = run["rollout"], run["rollout_single"]
    assert out.batch_size == (NUM_ENVS, STEPS)
    # Bit for bit: each environment's state and key travel with it, and the e-greedy coins come
    # from partitionable threefry, which draws the same numbers whatever the sharding. The
    # Q-values are a matmul over another number of rows per device, equal to float32 rounding
    # (XLA:CPU may pick another summation order for another batch size).
    nets = example.NET_OUTPUTS
    assert run["rollout_equal"] and example.shards_equal(out.exclude(*nets), single.exclude(*nets))
    assert_tree_close(out.select(*nets), single.select(*nets), rtol=1e-6)
    assert not example.shards_equal(out.set("action", 1 - out["action"]), single)  # the check can fail
    obs = out["observation"]
    assert obs.sharding.is_equivalent_to(NamedSharding(run["mesh"], P("data")), obs.ndim)
    assert {s.data.shape for s in obs.addressable_shards} == {(NUM_ENVS // 8, STEPS, 4)}
    assert len(single["observation"].sharding.device_set) == 1
    # Not degenerate: both actions were taken.
    assert set(np.unique(out["action"]).tolist()) == {0, 1}


def test_sharded_rollout_needs_no_communication(run):
    """Independent environments: the compiled sharded rollout holds no cross-device collective,
    where the data-parallel update all-reduces its gradients (the same search finds it)."""
    assert run["rollout_collectives"] == []
    assert "all-reduce" in run["update_collectives"]


@pytest.mark.parametrize("name", ["jit", "shard_map"])
def test_data_parallel_update_equals_single_device_update(run, name):
    (state, metrics), (ref_state, ref_metrics) = run[name], run["single"]
    assert metrics["loss"].shape == (UPDATES,)
    assert_tree_close(metrics, ref_metrics)
    assert_tree_close(state, ref_state)  # params, target params, Adam's moments and count
    params, target, _ = ref_state
    moved = max(
        float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
        for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(target))
    )
    assert moved > 1e-4  # the updates did change the parameters (Adam's step: ~lr = 1e-3)


def test_tolerance_catches_a_summed_gradient(run):
    """Guard on the test itself: Adam state from 8x gradients fails the comparison."""
    state, _ = run["single"]
    mu = state[2][0].mu  # Adam's first moment: linear in the gradients
    with pytest.raises(AssertionError):
        assert_tree_close(jax.tree.map(lambda m: 8 * m, mu), mu)


def test_shard_map_gradient_of_replicated_params_is_summed():
    """The pitfall `make_shard_map_train_step` avoids: without ``pcast(..., to="varying")`` the
    gradient of replicated parameters is psum'd by autodiff, so a pmean on top is 8x too large."""
    mesh = example.make_mesh()
    w, x = jnp.array([1.0, -2.0, 0.5]), jnp.arange(48.0).reshape(16, 3) / 10
    loss = lambda w, x: jnp.mean((x @ w) ** 2)  # noqa: E731
    expected = jax.grad(loss)(w, x)

    def naive(w, x):
        return jax.lax.pmean(jax.grad(loss)(w, x), "data")

    def varying(w, x):
        return jax.lax.pmean(jax.grad(loss)(jax.lax.pcast(w, "data", to="varying"), x), "data")

    smap = lambda f: jax.jit(jax.shard_map(f, mesh=mesh, in_specs=(P(), P("data")), out_specs=P()))  # noqa: E731
    np.testing.assert_allclose(smap(naive)(w, x), 8 * expected, rtol=1e-5)
    np.testing.assert_allclose(smap(varying)(w, x), expected, rtol=1e-5)


@pytest.mark.parametrize(
    "argv, match",
    [
        (["--num-envs", "12"], "--num-envs must be a positive multiple of the device count 8, got 12"),
        (["--steps", "0"], "--steps must be >= 1, got 0"),
        (["--host-devices", "0"], "--host-devices must be >= 1, got 0"),
        (["--num-processes", "2"], "--num-processes 2 needs --coordinator host:port and a --process-id in [0, 1]"),
        (["--host-devices", "4"], "--host-devices 4: jax already started with 8 device"),
    ],
)
def test_bad_arguments(argv, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        example.main(argv)
