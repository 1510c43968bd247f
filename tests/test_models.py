"""models/: Linear, Conv2d, squeeze layers, activations, MLP, ConvNet; compat weight import."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_modules.compat.torchrl import load_state_dict, register_converter
from jaxrl_modules.models import (
    MLP,
    Conv2d,
    Conv2dNet,
    ConvNet,
    Linear,
    SquashDims,
    Squeeze2dLayer,
    SqueezeLayer,
    known_layer_names,
    make_layer,
)


def _shapes(tree):
    return jax.tree_util.tree_map(jnp.shape, tree)


def _init_shapes(module, *inputs, **kwargs):
    """The variables' shapes, traced without computing anything (keeps the suite fast)."""
    return jax.eval_shape(lambda *xs: module.init(jax.random.key(0), *xs, **kwargs), *inputs)


def _out_shape(module, variables, *inputs, **kwargs):
    return jax.eval_shape(lambda v, *xs: module.apply(v, *xs, **kwargs), variables, *inputs).shape


def _normal(key, *shape):
    return jax.random.normal(key, shape)


# ----------------------------------------------------------------------------- layers


def test_linear_params_and_torch_init_bounds(key):
    x = jnp.zeros((3, 2, 64))
    variables = Linear(100).init(key, x)
    assert _shapes(variables) == {"params": {"kernel": (64, 100), "bias": (100,)}}
    bound = 1 / 8.0
    for leaf in jax.tree_util.tree_leaves(variables):
        assert float(jnp.abs(leaf).max()) <= bound
        assert float(jnp.abs(leaf).max()) > 0.9 * bound  # uniform over the whole interval
    assert Linear(100).apply(variables, x).shape == (3, 2, 100)


def test_linear_without_bias_and_custom_init(key):
    layer = Linear(3, use_bias=False, kernel_init=nn.initializers.ones)
    variables = layer.init(key, jnp.ones((1, 2)))
    assert list(variables["params"]) == ["kernel"]
    np.testing.assert_array_equal(layer.apply(variables, jnp.ones((1, 2))), jnp.full((1, 3), 2.0))


def test_conv2d_init_fan_in_and_shapes(key):
    conv = Conv2d(8, kernel_size=(3, 5), strides=2, padding=(1, 2))
    x = jnp.zeros((2, 3, 11, 13, 4))  # two batch dims, NHWC
    variables = conv.init(key, x)
    assert _shapes(variables["params"]) == {"kernel": (3, 5, 4, 8), "bias": (8,)}
    bound = 1 / np.sqrt(4 * 3 * 5)
    assert float(jnp.abs(variables["params"]["kernel"]).max()) <= bound
    assert conv.apply(variables, x).shape == (2, 3, 6, 7, 8)
    assert conv.apply(variables, x[0, 0]).shape == (6, 7, 8)
    same = Conv2d(8, 3, padding="same")
    assert _out_shape(same, _init_shapes(same, x), x) == (2, 3, 11, 13, 8)


def test_conv2d_nhwc_equals_nchw_on_transposed_input(key):
    k1, k2 = jax.random.split(key)
    x = _normal(k1, 2, 9, 9, 3)
    nhwc, nchw = Conv2d(5, 3, strides=2, padding=1), Conv2d(5, 3, strides=2, padding=1, data_format="NCHW")
    variables = nhwc.init(k2, x)  # the kernel layout is the same in both formats
    out_nchw = nchw.apply(variables, jnp.transpose(x, (0, 3, 1, 2)))
    np.testing.assert_allclose(jnp.transpose(out_nchw, (0, 2, 3, 1)), nhwc.apply(variables, x), atol=1e-6)


def test_conv2d_bad_arguments(key):
    with pytest.raises(ValueError, match="data_format must be 'NHWC' or 'NCHW'"):
        Conv2d(4, 3, data_format="NWHC")
    with pytest.raises(ValueError, match="kernel_size must be an int or a pair"):
        Conv2d(4, (3, 3, 3)).init(key, jnp.zeros((1, 5, 5, 2)))
    with pytest.raises(ValueError, match=r"at least 3 dims, got shape \(5, 2\)"):
        Conv2d(4, 3).init(key, jnp.zeros((5, 2)))


def test_squeeze_layers():
    assert SqueezeLayer()(jnp.zeros((4, 3, 1))).shape == (4, 3)
    assert SqueezeLayer((-3, -1))(jnp.zeros((1, 4, 1))).shape == (4,)
    assert Squeeze2dLayer()(jnp.zeros((4, 7, 1, 1))).shape == (4, 7)
    with pytest.raises(ValueError, match="must all be negative"):
        SqueezeLayer((0,))
    with pytest.raises(ValueError, match=r"shape \(4, 2, 1\): dim -2 is not of size 1"):
        Squeeze2dLayer()(jnp.zeros((4, 2, 1)))
    with pytest.raises(ValueError, match="dim -3 is not of size 1"):
        SqueezeLayer((-3,))(jnp.zeros((1, 1)))


def test_squash_dims():
    x = jnp.arange(24.0).reshape(1, 2, 3, 4)
    np.testing.assert_array_equal(SquashDims()(x), x.reshape(1, 24))
    assert SquashDims(ndims_in=2)(x).shape == (1, 2, 12)
    with pytest.raises(ValueError, match=r"SquashDims\(ndims_in=3\) cannot flatten .*\(2, 3\)"):
        SquashDims()(jnp.zeros((2, 3)))


# ----------------------------------------------------------------------------- activations


def test_make_layer_forms_agree():
    x = jnp.linspace(-3.0, 3.0, 7)
    expected = jnp.where(x > 0, x, 0.2 * x)
    torch_like = type("LeakyReLU", (), {"__module__": "torch.nn.modules.activation"})  # no torch import
    for spec, kwargs in [
        ("LeakyReLU", {"negative_slope": 0.2}),
        ("leakyrelu", {"negative_slope": 0.2}),
        (torch_like, {"negative_slope": 0.2}),
        (jax.nn.leaky_relu, {"negative_slope": 0.2}),
    ]:
        np.testing.assert_allclose(make_layer(spec, kwargs)(x), expected, rtol=1e-6)


def test_make_layer_torch_semantics():
    x = jnp.array([-1.0, 0.4, 0.75, 30.0])
    # Softplus reverts to the identity where beta * x > threshold, as torch.
    np.testing.assert_allclose(
        make_layer("Softplus", {"beta": 2.0, "threshold": 1.0})(x),
        jnp.array([np.log1p(np.exp(-2.0)) / 2, np.log1p(np.exp(0.8)) / 2, 0.75, 30.0]),
        rtol=1e-6,
    )
    np.testing.assert_allclose(make_layer("Hardtanh", {"min_val": -0.5})(x), jnp.array([-0.5, 0.4, 0.75, 1.0]))
    exact, approx = make_layer("GELU")(x), make_layer("GELU", {"approximate": "tanh"})(x)
    assert not np.allclose(exact, approx, atol=1e-6, rtol=0)  # exact erf by default
    np.testing.assert_allclose(make_layer("GELU")(jnp.array([1.0])), jnp.array([0.8413447]), rtol=1e-6)
    probs = make_layer("Softmax", {"dim": 0})(jnp.ones((2, 3)))
    np.testing.assert_allclose(probs, jnp.full((2, 3), 0.5))
    assert make_layer("Identity", {"unused": 1})(x) is x
    assert {"Tanh", "ReLU", "ELU", "LayerNorm", "BatchNorm2d"} <= set(known_layer_names())


def test_make_layer_errors():
    with pytest.raises(ValueError, match="Unknown activation or norm layer 'Swish'; known names: Tanh, ReLU"):
        make_layer("Swish")
    with pytest.raises(TypeError, match="Bad keyword arguments .*'slope'.* for LeakyReLU"):
        make_layer("LeakyReLU", {"slope": 0.1})
    with pytest.raises(TypeError, match="not an instance"):
        make_layer(nn.LayerNorm())


# ----------------------------------------------------------------------------- MLP


@pytest.mark.parametrize(
    "kwargs, hidden",
    [
        (dict(), []),
        (dict(depth=2), [32, 32]),
        (dict(num_cells=[16, 8, 4]), [16, 8, 4]),
        (dict(num_cells=5, depth=2), [5, 5]),
        (dict(num_cells=[6], depth=1, norm_class="LayerNorm", dropout=0.1), [6]),
        (dict(depth=0, activate_last_layer=True, activation_class="ReLU"), []),
    ],
)
def test_mlp_hidden_sizes_and_shapes(key, kwargs, hidden):
    mlp = MLP(out_features=3, **kwargs)
    x = jnp.ones((2, 5, 7))
    variables = _init_shapes(mlp, x, deterministic=True)
    kernels = [variables["params"][f"linear_{i}"]["kernel"].shape for i in range(len(hidden) + 1)]
    assert kernels == list(zip([7, *hidden], [*hidden, 3]))
    assert len(variables["params"]) == len(hidden) + 1 + ("norm_class" in kwargs) * len(hidden)
    assert _out_shape(mlp, variables, x, deterministic=True) == (2, 5, 3)


def test_mlp_default_is_a_single_linear_layer(key):
    variables = MLP(out_features=4).init(key, jnp.ones((3,)))
    assert _shapes(variables) == {"params": {"linear_0": {"kernel": (3, 4), "bias": (4,)}}}


def test_mlp_tuple_out_features_and_batch_dims(key):
    mlp = MLP(out_features=(2, 5), num_cells=[8])
    x = jnp.ones((4, 3, 6))
    variables = mlp.init(key, x)
    assert variables["params"]["linear_1"]["kernel"].shape == (8, 10)
    out = mlp.apply(variables, x)
    assert out.shape == (4, 3, 2, 5)
    flat = MLP(out_features=10, num_cells=[8]).apply(variables, x)
    np.testing.assert_array_equal(out.reshape(4, 3, 10), flat)


def test_mlp_several_inputs_are_concatenated(key):
    k1, k2, k3 = jax.random.split(key, 3)
    a, b = _normal(k1, 5, 2), _normal(k2, 5, 3)
    mlp = MLP(in_features=5, out_features=2, num_cells=[8])
    variables = mlp.init(k3, a, b)
    np.testing.assert_array_equal(mlp.apply(variables, a, b), mlp.apply(variables, jnp.concatenate([a, b], -1)))


def test_mlp_layer_structure_names_and_biases(key):
    mlp = MLP(
        out_features=2, num_cells=[4], norm_class="LayerNorm", activation_class=nn.PReLU, single_bias_last_layer=True
    )
    params = mlp.init(key, jnp.ones((1, 3)))["params"]
    assert list(params) == ["linear_0", "norm_0", "activation_0", "linear_1", "bias_last"]
    assert "bias" not in params["linear_1"]
    np.testing.assert_array_equal(params["bias_last"]["bias"], jnp.zeros((1,)))
    no_bias = MLP(out_features=2, num_cells=[4], bias_last_layer=False, single_bias_last_layer=True)
    params = _init_shapes(no_bias, jnp.ones((1, 3)))["params"]
    assert list(params) == ["linear_0", "linear_1"] and "bias" not in params["linear_1"]
    per_layer = MLP(out_features=2, num_cells=[4], layer_kwargs=[{"bias": False}, {"use_bias": True}])
    params = _init_shapes(per_layer, jnp.ones((1, 3)))["params"]
    assert "bias" not in params["linear_0"] and "bias" in params["linear_1"]


def test_mlp_accepts_flax_layer_class_and_list_kwargs(key):
    mlp = MLP(
        out_features=2,
        num_cells=[4, 4],
        layer_class=nn.Dense,
        activation_class="LeakyReLU",
        activation_kwargs=[{"negative_slope": 0.5}, {"negative_slope": 0.0}],
    )
    x = jnp.ones((3, 5))
    variables = mlp.init(key, x)
    assert mlp.apply(variables, x).shape == (3, 2)
    assert float(jnp.abs(variables["params"]["linear_0"]["bias"]).max()) == 0.0  # nn.Dense's zero bias


def test_mlp_dropout_rng_and_determinism(key):
    mlp = MLP(out_features=4, num_cells=[64], dropout=0.5)
    x = jnp.ones((8, 3))
    variables = mlp.init(key, x, deterministic=True)
    with pytest.raises(Exception, match="dropout"):
        mlp.apply(variables, x)  # train mode by default, as TorchRL: needs the "dropout" stream
    a = mlp.apply(variables, x, rngs={"dropout": jax.random.key(1)})
    b = mlp.apply(variables, x, rngs={"dropout": jax.random.key(1)})
    c = mlp.apply(variables, x, rngs={"dropout": jax.random.key(2)})
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    eval_out = mlp.apply(variables, x, deterministic=True)
    no_dropout = MLP(out_features=4, num_cells=[64]).apply(variables, x)
    np.testing.assert_array_equal(eval_out, no_dropout)
    field = MLP(out_features=4, num_cells=[64], dropout=0.5, deterministic=True)
    np.testing.assert_array_equal(field.apply(variables, x), no_dropout)


def test_mlp_batchnorm_train_and_eval(key):
    mlp = MLP(out_features=2, num_cells=[4], norm_class="BatchNorm1d", norm_kwargs={"num_features": 4})
    x = _normal(key, 16, 3) * 3 + 1
    variables = mlp.init(key, x)
    _, updates = mlp.apply(variables, x, mutable=["batch_stats"])
    assert not np.allclose(updates["batch_stats"]["norm_0"]["mean"], 0.0)
    assert mlp.apply(variables, x, deterministic=True).shape == (16, 2)  # running stats, immutable


def test_mlp_jit_vmap_grad(key):
    k1, k2 = jax.random.split(key)
    mlp = MLP(out_features=3, num_cells=[16, 16], norm_class="LayerNorm", activation_class="ELU")
    x = _normal(k1, 6, 5)
    variables = mlp.init(k2, x)
    eager = mlp.apply(variables, x)
    np.testing.assert_allclose(jax.jit(mlp.apply)(variables, x), eager, atol=1e-6)
    batched = jax.vmap(mlp.apply, in_axes=(None, 0))(variables, x)
    looped = jnp.stack([mlp.apply(variables, xi) for xi in x])
    np.testing.assert_allclose(batched, looped, atol=1e-6)
    grads = jax.grad(lambda v: jnp.sum(mlp.apply(v, x) ** 2))(variables)
    leaves = jax.tree_util.tree_leaves(grads)
    assert all(bool(jnp.isfinite(g).all()) for g in leaves) and any(bool(jnp.any(g != 0)) for g in leaves)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(), "out_features must be specified"),
        (dict(out_features=2, num_cells=4), "num_cells given as an integer needs depth"),
        (dict(out_features=2, num_cells=[4, 4], depth=3), r"depth=3 conflicts with num_cells=\[4, 4\]"),
        (dict(out_features=2, depth=2, activation_kwargs=[{}]), "activation_kwargs has 1 entries, expected 2"),
        (dict(out_features=2, depth=1, layer_kwargs=[{}]), "layer_kwargs has 1 entries, expected 2"),
    ],
)
def test_mlp_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLP(**kwargs)


def test_mlp_bad_inputs(key):
    with pytest.raises(ValueError, match=r"in_features=4, got concatenated shape \(2, 5\)"):
        MLP(in_features=4, out_features=2).init(key, jnp.ones((2, 2)), jnp.ones((2, 3)))
    with pytest.raises(ValueError, match="Unknown activation or norm layer 'Relu6x'"):
        MLP(out_features=2, depth=1, activation_class="Relu6x").init(key, jnp.ones((2, 2)))


# ----------------------------------------------------------------------------- ConvNet


def test_convnet_defaults(key):
    net = ConvNet()
    x = jnp.ones((2, 12, 12, 3))
    params = _init_shapes(net, x)["params"]
    expected = {f"conv_{i}": {"kernel": (3, 3, c, 32), "bias": (32,)} for i, c in enumerate([3, 32, 32])}
    assert _shapes(params) == expected
    assert _out_shape(net, {"params": params}, x) == (2, 6 * 6 * 32)
    assert Conv2dNet is ConvNet


@pytest.mark.parametrize(
    "kwargs, channels",
    [
        (dict(kernel_sizes=[3, 3]), [32, 32]),  # the last list argument sets the depth
        (dict(num_cells=[4, 8], strides=[1, 2]), [4, 8]),
        (dict(depth=2, num_cells=16), [16, 16]),
        (dict(depth=1), [32]),
        (dict(num_cells=8, paddings=[1, 1, 1, 1]), [8, 8, 8, 8]),
    ],
)
def test_convnet_depth_inference(key, kwargs, channels):
    x = jnp.ones((1, 12, 12, 2))
    params = _init_shapes(ConvNet(**kwargs), x)["params"]
    assert [params[f"conv_{i}"]["kernel"].shape[-1] for i in range(len(params))] == channels


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(depth=0), "Null depth is not permitted"),
        (dict(num_cells=8), "depth=None requires one of num_cells, kernel_sizes, strides, paddings"),
        (dict(num_cells=[8, 8], kernel_sizes=[3, 3, 3]), r"depth=3 conflicts with num_cells=\[8, 8\]"),
        (dict(depth=2, strides=[1]), r"depth=2 conflicts with strides=\[1\]"),
        (dict(depth=2, norm_class="LayerNorm", norm_kwargs=[{}]), "norm_kwargs has 1 entries, expected 2"),
        (dict(data_format="CHW"), "data_format must be"),
    ],
)
def test_convnet_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConvNet(**kwargs)


def test_convnet_bad_inputs(key):
    with pytest.raises(ValueError, match=r"NHWC inputs \[\*B, H, W, C\], got shape \(8, 8\)"):
        ConvNet().init(key, jnp.ones((8, 8)))
    with pytest.raises(ValueError, match=r"in_features=3 channels in \[\*B, C, H, W\], got shape \(2, 4, 8, 8\)"):
        ConvNet(in_features=3, data_format="NCHW").init(key, jnp.ones((2, 4, 8, 8)))


def test_convnet_nhwc_and_nchw_agree(key):
    k1, k2 = jax.random.split(key)
    x = _normal(k1, 2, 11, 11, 3)
    x_nchw = jnp.transpose(x, (0, 3, 1, 2))
    kwargs = dict(num_cells=[4, 6], strides=[2, 1], paddings=1)
    variables = ConvNet(**kwargs).init(k2, x)  # identical kernels in both layouts
    maps = ConvNet(**kwargs, aggregator_class=None).apply(variables, x)
    maps_nchw = ConvNet(**kwargs, aggregator_class=None, data_format="NCHW").apply(variables, x_nchw)
    np.testing.assert_allclose(jnp.transpose(maps_nchw, (0, 2, 3, 1)), maps, atol=1e-5)
    flat_nchw = ConvNet(**kwargs, data_format="NCHW").apply(variables, x_nchw)
    np.testing.assert_allclose(flat_nchw, jnp.transpose(maps, (0, 3, 1, 2)).reshape(2, -1), atol=1e-5)


def test_convnet_batch_dims_and_unbatched(key):
    net = ConvNet(num_cells=[4, 4], norm_class="LayerNorm")
    x = _normal(key, 2, 3, 9, 9, 2)
    variables = net.init(key, x)
    out = net.apply(variables, x)
    assert out.shape == (2, 3, 5 * 5 * 4)
    # Float32 rounding only: XLA:CPU may pick another convolution summation order for a batch of
    # 6 than for 1 (2.7e-6 on an output of ~0.4 measured here). A batch-dims bug is O(1).
    np.testing.assert_allclose(out[1, 2], net.apply(variables, x[1, 2]), atol=1e-5)


def test_convnet_bias_last_layer_and_names(key):
    net = ConvNet(num_cells=[4, 4], bias_last_layer=False, norm_class="BatchNorm2d", activation_class=nn.PReLU)
    variables = net.init(key, jnp.ones((2, 8, 8, 1)))  # init keeps creation order; eval_shape sorts
    assert list(variables["params"]) == ["conv_0", "activation_0", "norm_0", "conv_1", "activation_1", "norm_1"]
    assert "bias" in variables["params"]["conv_0"] and "bias" not in variables["params"]["conv_1"]
    assert variables["batch_stats"]["norm_1"]["mean"].shape == (4,)


def test_convnet_pooling_aggregator_and_squeeze(key):
    def mean_pool(x):
        return x.mean(axis=(-3, -2), keepdims=True)

    net = ConvNet(num_cells=[4, 5], aggregator_class=mean_pool, squeeze_output=True)
    x = jnp.ones((3, 8, 8, 2))
    assert _out_shape(net, _init_shapes(net, x), x) == (3, 5)
    nchw = ConvNet(
        num_cells=[4, 5],
        aggregator_class=lambda y: y.mean(axis=(-2, -1), keepdims=True),
        squeeze_output=True,
        data_format="NCHW",
    )
    x_nchw = jnp.ones((3, 2, 8, 8))
    assert _out_shape(nchw, _init_shapes(nchw, x_nchw), x_nchw) == (3, 5)


def test_convnet_jit_vmap_grad_and_atari(key):
    net = ConvNet(num_cells=[4, 8], strides=2, activation_class="ReLU")
    x = _normal(key, 3, 10, 10, 2)
    variables = net.init(key, x)
    np.testing.assert_allclose(jax.jit(net.apply)(variables, x), net.apply(variables, x), atol=1e-6)
    np.testing.assert_allclose(
        jax.vmap(net.apply, in_axes=(None, 0))(variables, x),
        jnp.stack([net.apply(variables, xi) for xi in x]),
        atol=1e-6,
    )
    grads = jax.grad(lambda v: jnp.sum(net.apply(v, x)))(variables)
    assert all(bool(jnp.isfinite(g).all()) for g in jax.tree_util.tree_leaves(grads))
    dqn = ConvNet.default_atari_dqn(5)
    frames = jnp.zeros((2, 84, 84, 4))
    dqn_vars = _init_shapes(dqn, frames)
    assert _out_shape(dqn, dqn_vars, frames) == (2, 5)
    assert dqn_vars["params"]["layers_0"]["conv_0"]["kernel"].shape == (8, 8, 4, 32)
    assert dqn_vars["params"]["layers_1"]["linear_0"]["kernel"].shape == (7 * 7 * 64, 512)


# ----------------------------------------------------------------------------- weight import (no torch)


def _torch_like_mlp_state(rng):
    return {
        "0.weight": rng.standard_normal((8, 3)).astype(np.float32),
        "0.bias": rng.standard_normal(8).astype(np.float32),
        "2.weight": rng.standard_normal((2, 8)).astype(np.float32),
        "2.bias": rng.standard_normal(2).astype(np.float32),
    }


def test_load_state_dict_from_arrays():
    state = _torch_like_mlp_state(np.random.default_rng(0))
    mlp = MLP(out_features=2, num_cells=[8])
    variables = load_state_dict(mlp, state, jax.ShapeDtypeStruct((1, 3), jnp.float32))
    np.testing.assert_array_equal(variables["params"]["linear_0"]["kernel"], state["0.weight"].T)
    x = np.ones((4, 3), np.float32)
    expected = np.tanh(x @ state["0.weight"].T + state["0.bias"]) @ state["2.weight"].T + state["2.bias"]
    np.testing.assert_allclose(mlp.apply(variables, x), expected, rtol=1e-5)


def test_load_state_dict_errors():
    state = _torch_like_mlp_state(np.random.default_rng(0))
    x = jnp.zeros((1, 3))
    with pytest.raises(ValueError, match=r"modules left over .*\['2'\]"):
        load_state_dict(
            MLP(out_features=8),
            {k: v for k, v in state.items() if k.startswith("0.")}
            | {"2.weight": state["2.weight"][:, :3], "2.bias": state["2.bias"]},
            x,
        )
    with pytest.raises(ValueError, match="no module left for flax module 'linear_2'"):
        load_state_dict(MLP(out_features=2, num_cells=[8, 2]), state, x)
    shape_msg = r"'params/linear_0/kernel' has shape \(4, 8\), torch '0.weight' gives \(3, 8\)"
    with pytest.raises(ValueError, match=shape_msg):
        load_state_dict(MLP(out_features=2, num_cells=[8]), state, jnp.zeros((1, 4)))
    with pytest.raises(ValueError, match=r"'params/linear_1/bias' has no counterpart '2.bias'"):
        load_state_dict(MLP(out_features=2, num_cells=[8]), {k: v for k, v in state.items() if k != "2.bias"}, x)
    with pytest.raises(ValueError, match=r"torch tensors \['2.bias'\] have no counterpart in flax module 'linear_1"):
        load_state_dict(MLP(out_features=2, num_cells=[8], bias_last_layer=False), state, x)
    lazy = type("UninitializedParameter", (), {})()
    with pytest.raises(ValueError, match="'0.weight' is uninitialised .*forward pass"):
        load_state_dict(MLP(out_features=2), {"0.weight": lazy}, x)


class _LogScale(nn.Module):
    """A test module whose torch twin stores log(scale): needs its own converter."""

    @nn.compact
    def __call__(self, x):
        scale = self.param("scale", nn.initializers.ones, (x.shape[-1],))
        return x * scale.reshape((1,) * (x.ndim - 1) + (-1,))


@register_converter(_LogScale)
def _convert_log_scale(module, stream, target):
    prefix, tensors = stream.pop("log_scale")
    assert target["params"]["scale"].shape == tensors["log_scale"].shape
    return {"params": {"scale": jnp.exp(tensors["log_scale"])}}


def test_registered_converter_is_used_inside_a_sequence():
    seq = nn.Sequential([Linear(2), _LogScale()])
    state = {
        "0.weight": np.eye(2, dtype=np.float32),
        "0.bias": np.zeros(2, np.float32),
        "1.log_scale": np.log(np.array([2.0, 3.0], np.float32)),
    }
    variables = load_state_dict(seq, state, jnp.zeros((1, 2)))
    np.testing.assert_allclose(seq.apply(variables, jnp.ones((1, 2))), jnp.array([[2.0, 3.0]]), rtol=1e-6)
