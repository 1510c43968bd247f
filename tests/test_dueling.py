"""models/dueling.py: DuelingCnnDQNet and DuelingMlpDQNet."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_modules.compat.torchrl import load_state_dict
from jaxrl_modules.models import MLP, DuelingCnnDQNet, DuelingMlpDQNet


def _normal(key, *shape):
    return jax.random.normal(key, shape)


def _shapes(tree):
    return jax.tree_util.tree_map(jnp.shape, tree)


def _named_leaves(tree):
    return [(jax.tree_util.keystr(path), leaf) for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]]


def _heads(net, variables, x):
    """Q and the advantage / value head outputs, read with capture_intermediates."""
    q, state = net.apply(variables, x, capture_intermediates=True, mutable=["intermediates"])
    inter = state["intermediates"]
    (adv,) = inter["advantage"]["__call__"]
    (val,) = inter["value"]["__call__"]
    return q, adv, val


SMALL_CNN = dict(cnn_kwargs={"num_cells": [8, 16, 16]}, mlp_kwargs={"num_cells": 32})
SMALL_MLP = dict(mlp_kwargs_feature={"num_cells": [32], "out_features": 24}, mlp_kwargs_output={"num_cells": 16})


# ----------------------------------------------------------------------------- structure and defaults


def test_mlp_defaults_match_torchrl(key):
    net = DuelingMlpDQNet(out_features=5)
    variables = jax.eval_shape(net.init, key, jnp.zeros((2, 7)))
    assert _shapes(variables["params"]) == {
        "features": {
            "linear_0": {"kernel": (7, 256), "bias": (256,)},
            "linear_1": {"kernel": (256, 256), "bias": (256,)},
            "linear_2": {"kernel": (256, 256), "bias": (256,)},
        },
        "advantage": {
            "linear_0": {"kernel": (256, 512), "bias": (512,)},
            "linear_1": {"kernel": (512, 5), "bias": (5,)},
        },
        "value": {"linear_0": {"kernel": (256, 512), "bias": (512,)}, "linear_1": {"kernel": (512, 1), "bias": (1,)}},
    }


def test_cnn_defaults_match_torchrl(key):
    net = DuelingCnnDQNet(out_features=6)
    variables = jax.eval_shape(net.init, key, jnp.zeros((1, 84, 84, 4)))
    params = _shapes(variables["params"])
    assert params["features"] == {
        "conv_0": {"kernel": (8, 8, 4, 32), "bias": (32,)},
        "conv_1": {"kernel": (4, 4, 32, 64), "bias": (64,)},
        "conv_2": {"kernel": (3, 3, 64, 64), "bias": (64,)},
    }
    # 84 -> 20 -> 9 -> 7 spatially: 64 * 7 * 7 flattened features
    assert params["advantage"] == {
        "linear_0": {"kernel": (3136, 512), "bias": (512,)},
        "linear_1": {"kernel": (512, 6), "bias": (6,)},
    }
    assert params["value"]["linear_1"] == {"kernel": (512, 1), "bias": (1,)}


@pytest.mark.parametrize("batch", [(), (2,), (2, 3)])
def test_mlp_shapes_over_leading_batch_dims(key, batch):
    net = DuelingMlpDQNet(out_features=3, **SMALL_MLP)
    x = _normal(key, *batch, 5)
    variables = net.init(key, x)
    q = net.apply(variables, x)
    assert q.shape == (*batch, 3) and q.dtype == jnp.float32
    if batch:  # batched rows equal rows computed one at a time
        flat = x.reshape(-1, 5)
        rows = jnp.stack([net.apply(variables, row) for row in flat])
        np.testing.assert_allclose(q.reshape(-1, 3), rows, atol=1e-5)


@pytest.mark.parametrize("batch", [(2,), (2, 3)])
def test_cnn_shapes_over_leading_batch_dims(key, batch):
    net = DuelingCnnDQNet(out_features=4, **SMALL_CNN)
    x = _normal(key, *batch, 36, 36, 3)
    variables = net.init(key, x)
    q = net.apply(variables, x)
    assert q.shape == (*batch, 4)
    if len(batch) == 2:  # an unbatched frame gives the same row
        assert net.apply(variables, x[1, 2]).shape == (4,)
        np.testing.assert_allclose(q[1, 2], net.apply(variables, x[1, 2]), atol=1e-5)


def test_vmap_equals_loop(key):
    net = DuelingMlpDQNet(out_features=3, **SMALL_MLP)
    x = _normal(key, 2, 5)
    variables = net.init(key, x[0])
    batched = jax.vmap(lambda row: net.apply(variables, row))(x)
    np.testing.assert_allclose(batched, jnp.stack([net.apply(variables, row) for row in x]), atol=1e-6)


# ----------------------------------------------------------------------------- initialisation


@pytest.mark.parametrize(
    "net, x_shape",
    [
        (DuelingMlpDQNet(out_features=3, **SMALL_MLP), (2, 5)),
        (
            DuelingMlpDQNet(
                out_features=(3, 2),
                mlp_kwargs_feature=SMALL_MLP["mlp_kwargs_feature"],
                mlp_kwargs_output={"num_cells": 16, "norm_class": "LayerNorm"},
            ),
            (2, 5),
        ),
        (DuelingCnnDQNet(out_features=4, **SMALL_CNN), (2, 36, 36, 3)),
        (DuelingCnnDQNet(out_features=4, out_features_value=4, data_format="NCHW", **SMALL_CNN), (2, 3, 36, 36)),
    ],
)
def test_every_bias_is_zero_at_init(key, net, x_shape):
    x = _normal(key, *x_shape)
    variables = net.init(key, x)
    leaves = _named_leaves(variables["params"])
    biases = [(name, leaf) for name, leaf in leaves if name.endswith("['bias']")]
    kernels = [(name, leaf) for name, leaf in leaves if name.endswith("['kernel']")]
    # every Linear / Conv2d has a bias: one per kernel, across the three sub-networks
    assert len([b for b in biases if "norm" not in b[0]]) == len(kernels) >= 6
    assert {name.split("'")[1] for name, _ in biases} == {"features", "advantage", "value"}
    for name, leaf in biases:
        assert not np.any(np.asarray(leaf)), name
    for name, leaf in kernels:  # only the biases: the weights keep PyTorch's init
        bound = 1 / np.sqrt(np.prod(leaf.shape[:-1]))
        assert 0.5 * bound < float(jnp.abs(leaf).max()) <= bound, name


def test_zero_biases_also_when_nested_and_init_output_uses_them(key):
    class Wrapper(nn.Module):
        @nn.compact
        def __call__(self, x):
            h = nn.Dense(5, bias_init=nn.initializers.ones)(x)
            return DuelingMlpDQNet(out_features=3, **SMALL_MLP, name="q")(h)

    x = _normal(key, 2, 3)
    out, variables = Wrapper().init_with_output(key, x)
    for name, leaf in _named_leaves(variables["params"]["q"]):
        if name.endswith("['bias']"):
            assert not np.any(np.asarray(leaf)), name
    np.testing.assert_array_equal(variables["params"]["Dense_0"]["bias"], jnp.ones(5))  # outside the net: untouched
    # the output returned by init is computed with the zeroed biases
    np.testing.assert_allclose(out, Wrapper().apply(variables, x), atol=1e-6)


# ----------------------------------------------------------------------------- the dueling combination


def test_dueling_identity_scalar_value(key):
    net = DuelingCnnDQNet(out_features=5, **SMALL_CNN)
    x = _normal(key, 2, 36, 36, 3)
    params = net.init(key, x)["params"]
    params = jax.tree_util.tree_map(lambda p: p + 0.01, params)  # non-zero biases: a stricter check
    q, adv, val = _heads(net, {"params": params}, x)
    assert adv.shape == (2, 5) and val.shape == (2, 1)
    np.testing.assert_allclose(q, val + adv - adv.mean(-1, keepdims=True), atol=1e-5, rtol=1e-5)
    np.testing.assert_allclose(q.mean(-1, keepdims=True), val, atol=1e-5, rtol=1e-5)  # mean over actions of Q is V
    np.testing.assert_allclose(q - q.mean(-1, keepdims=True), adv - adv.mean(-1, keepdims=True), atol=1e-5, rtol=1e-5)
    assert not np.allclose(adv.mean(-1), 0.0, atol=1e-3)  # the raw advantages do not average to zero


def test_value_per_action(key):
    """out_features_value == out_features adds V elementwise, as TorchRL's broadcasting does."""
    net = DuelingMlpDQNet(out_features=4, out_features_value=4, **SMALL_MLP)
    x = _normal(key, 2, 3, 5)
    params = jax.tree_util.tree_map(lambda p: p + 0.05, net.init(key, x)["params"])
    q, adv, val = _heads(net, {"params": params}, x)
    assert q.shape == val.shape == adv.shape == (2, 3, 4)
    np.testing.assert_allclose(q, val + adv - adv.mean(-1, keepdims=True), atol=1e-5)


def test_shaped_out_features_broadcast_value_over_action_dims(key):
    """For out_features=(3, 2) with a batch of 2, V [2, 1] is broadcast as [2, 1, 1]."""
    net = DuelingMlpDQNet(out_features=(3, 2), **SMALL_MLP)
    x = _normal(key, 2, 5)
    params = jax.tree_util.tree_map(lambda p: p + 0.05, net.init(key, x)["params"])
    q, adv, val = _heads(net, {"params": params}, x)
    assert q.shape == adv.shape == (2, 3, 2) and val.shape == (2, 1)
    np.testing.assert_allclose(q, val[:, :, None] + adv - adv.mean(-1, keepdims=True), atol=1e-5)
    # each row's Q depends on its own value only
    np.testing.assert_allclose(q.mean(-1), jnp.broadcast_to(val, (2, 3)), atol=1e-5)
    per_head = DuelingMlpDQNet(out_features=(3, 2), out_features_value=(3, 1), **SMALL_MLP)
    q2, adv2, val2 = _heads(per_head, per_head.init(key, x), x)
    assert val2.shape == (2, 3, 1)
    np.testing.assert_allclose(q2, val2 + adv2 - adv2.mean(-1, keepdims=True), atol=1e-5)


def test_forward_equals_composition_of_its_parts(key):
    """The net is exactly features -> (advantage, value) with the merged kwargs."""
    net = DuelingMlpDQNet(
        out_features=3,
        mlp_kwargs_feature={"num_cells": [32], "out_features": 24, "activation_class": "Tanh"},
        mlp_kwargs_output={"num_cells": 16, "activation_class": "ReLU"},
    )
    x = _normal(key, 2, 5)
    params = jax.tree_util.tree_map(lambda p: p + 0.1, net.init(key, x)["params"])
    h = MLP(out_features=24, num_cells=[32], activation_class="Tanh", activate_last_layer=True).apply(
        {"params": params["features"]}, x
    )
    head = dict(depth=1, num_cells=16, activation_class="ReLU")
    adv = MLP(out_features=3, **head).apply({"params": params["advantage"]}, h)
    val = MLP(out_features=1, **head).apply({"params": params["value"]}, h)
    np.testing.assert_allclose(net.apply({"params": params}, x), val + adv - adv.mean(-1, keepdims=True), atol=1e-5)


# ----------------------------------------------------------------------------- transformations


@pytest.mark.parametrize("make", [lambda: DuelingMlpDQNet(3, **SMALL_MLP), lambda: DuelingCnnDQNet(3, **SMALL_CNN)])
def test_jit_equals_eager(key, make):
    net = make()
    x = _normal(key, 2, 5) if isinstance(net, DuelingMlpDQNet) else _normal(key, 2, 36, 36, 3)
    variables = net.init(key, x)
    np.testing.assert_allclose(jax.jit(net.apply)(variables, x), net.apply(variables, x), atol=1e-5)


def test_grads_finite_and_advantage_bias_grad_sums_to_zero(key):
    net = DuelingMlpDQNet(out_features=4, **SMALL_MLP)
    x = _normal(key, 2, 5)
    variables = net.init(key, x)
    target = _normal(jax.random.key(1), 2, 4)
    grads = jax.grad(lambda v: jnp.sum((net.apply(v, x) - target) ** 2))(variables)
    for name, leaf in _named_leaves(grads):
        assert np.all(np.isfinite(np.asarray(leaf))), name
    assert float(jnp.abs(grads["params"]["features"]["linear_0"]["kernel"]).max()) > 0
    # Q depends on the advantages only through A - mean(A): a shift of all of them is invisible
    last_bias = grads["params"]["advantage"]["linear_1"]["bias"]
    assert float(jnp.abs(last_bias).max()) > 1e-4
    assert abs(float(last_bias.sum())) < 1e-4


def test_dropout_in_heads_uses_the_dropout_stream(key):
    net = DuelingMlpDQNet(out_features=3, **SMALL_MLP | {"mlp_kwargs_output": {"num_cells": 16, "dropout": 0.5}})
    x = _normal(key, 2, 5)
    variables = net.init(key, x, deterministic=True)
    a = net.apply(variables, x, rngs={"dropout": jax.random.key(1)})
    b = net.apply(variables, x, rngs={"dropout": jax.random.key(2)})
    assert not np.allclose(a, b)
    eval_a, eval_b = (net.apply(variables, x, deterministic=True) for _ in range(2))
    np.testing.assert_array_equal(eval_a, eval_b)
    assert not np.allclose(eval_a, a)


# ----------------------------------------------------------------------------- options


def test_kwargs_override_defaults(key):
    net = DuelingCnnDQNet(
        out_features=2, cnn_kwargs={"num_cells": 16, "activation_class": "ReLU"}, mlp_kwargs={"num_cells": 64}
    )
    params = _shapes(jax.eval_shape(net.init, key, jnp.zeros((1, 36, 36, 3)))["params"])
    assert params["features"]["conv_2"]["kernel"] == (3, 3, 16, 16)  # strides/kernels kept from the defaults
    assert params["advantage"]["linear_0"]["kernel"] == (16, 64) == params["value"]["linear_0"]["kernel"]
    deeper = DuelingMlpDQNet(
        out_features=2, mlp_kwargs_output={"depth": 2, "num_cells": 8}, mlp_kwargs_feature={"out_features": 10}
    )
    params = _shapes(jax.eval_shape(deeper.init, key, jnp.zeros((1, 3)))["params"])
    assert params["features"]["linear_2"]["kernel"] == (256, 10)
    assert sorted(params["value"]) == ["linear_0", "linear_1", "linear_2"]
    assert params["value"]["linear_2"]["kernel"] == (8, 1)


def test_activation_override_changes_the_output(key):
    x = _normal(key, 2, 5)
    base = DuelingMlpDQNet(out_features=3, **SMALL_MLP)
    variables = base.init(key, x)
    relu = DuelingMlpDQNet(
        out_features=3,
        mlp_kwargs_feature=SMALL_MLP["mlp_kwargs_feature"],
        mlp_kwargs_output={"num_cells": 16, "activation_class": "ReLU"},
    )
    assert not np.allclose(base.apply(variables, x), relu.apply(variables, x), atol=1e-6)


def test_nchw_and_nhwc_agree_when_features_are_1x1(key):
    """With 36x36 frames the default convs end at 1x1, so the flattened features coincide."""
    x = _normal(key, 2, 36, 36, 3)
    nhwc, nchw = DuelingCnnDQNet(4, **SMALL_CNN), DuelingCnnDQNet(4, data_format="NCHW", **SMALL_CNN)
    variables = jax.tree_util.tree_map(lambda p: p + 0.05, nhwc.init(key, x))
    np.testing.assert_allclose(
        nchw.apply(variables, jnp.transpose(x, (0, 3, 1, 2))), nhwc.apply(variables, x), atol=1e-5
    )


def test_nchw_and_nhwc_agree_with_permuted_head_rows(key):
    """Larger frames: the first head layers see H, W, C versus C, H, W flattened features."""
    x = _normal(key, 2, 44, 44, 3)  # 44 -> 10 -> 4 -> 2: features [2, 2, 16]
    nhwc, nchw = DuelingCnnDQNet(4, **SMALL_CNN), DuelingCnnDQNet(4, data_format="NCHW", **SMALL_CNN)
    variables = nhwc.init(key, x)
    perm = np.arange(2 * 2 * 16).reshape(2, 2, 16).transpose(2, 0, 1).reshape(-1)  # (c,h,w) -> hwc index
    params = dict(variables["params"])
    for head in ("advantage", "value"):
        layer = dict(params[head]["linear_0"])
        layer["kernel"] = layer["kernel"][perm]
        params[head] = {**params[head], "linear_0": layer}
    out_nchw = nchw.apply({"params": params}, jnp.transpose(x, (0, 3, 1, 2)))
    np.testing.assert_allclose(out_nchw, nhwc.apply(variables, x), atol=1e-5)
    assert not np.allclose(nchw.apply(variables, jnp.transpose(x, (0, 3, 1, 2))), out_nchw, atol=1e-5)


def test_load_state_dict_follows_torchrl_module_order(key):
    """A state_dict laid out as TorchRL's (features, advantage, value) round-trips."""
    net = DuelingCnnDQNet(3, data_format="NCHW", **SMALL_CNN)
    x = _normal(key, 2, 3, 36, 36)
    params = jax.tree_util.tree_map(lambda p: p + 0.01, net.init(key, x)["params"])
    state = {}
    for sub, layers in [
        ("features", ["conv_0", "conv_1", "conv_2"]),
        ("advantage", ["linear_0", "linear_1"]),
        ("value", ["linear_0", "linear_1"]),
    ]:
        for i, layer in enumerate(layers):
            kernel = np.asarray(params[sub][layer]["kernel"])
            weight = kernel.transpose(3, 2, 0, 1) if kernel.ndim == 4 else kernel.T
            state[f"{sub}.{2 * i}.weight"] = weight
            state[f"{sub}.{2 * i}.bias"] = np.asarray(params[sub][layer]["bias"])
    loaded = load_state_dict(net, state, x)
    jax.tree_util.tree_map(np.testing.assert_array_equal, loaded["params"], params)


# ----------------------------------------------------------------------------- bad arguments


def test_bad_arguments_raise_at_construction():
    with pytest.raises(ValueError, match=r"out_features_value=\(3,\) does not broadcast against out_features=\(4,\)"):
        DuelingMlpDQNet(out_features=4, out_features_value=3)
    with pytest.raises(ValueError, match="more dims than out_features"):
        DuelingCnnDQNet(out_features=4, out_features_value=(2, 4))
    with pytest.raises(ValueError, match="must be a positive int"):
        DuelingMlpDQNet(out_features=0)
    with pytest.raises(ValueError, match="must not contain 'out_features'"):
        DuelingCnnDQNet(out_features=4, mlp_kwargs={"out_features": 3})
    with pytest.raises(ValueError, match="data_format as its own argument"):
        DuelingCnnDQNet(out_features=4, cnn_kwargs={"data_format": "NCHW"})
    with pytest.raises(ValueError, match=r"depth=3 conflicts with num_cells=\[8, 8\]"):
        DuelingCnnDQNet(out_features=4, cnn_kwargs={"num_cells": [8, 8]})
    with pytest.raises(ValueError, match="num_cells given as an integer needs depth"):
        DuelingMlpDQNet(out_features=4, mlp_kwargs_output={"depth": None})


def test_bad_input_shape_names_the_network(key):
    net = DuelingCnnDQNet(out_features=4, cnn_kwargs={"in_features": 3})
    with pytest.raises(ValueError, match=r"ConvNet expected in_features=3 channels"):
        net.init(key, jnp.zeros((1, 36, 36, 4)))
