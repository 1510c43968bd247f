"""MLP and ConvNet against TorchRL 0.14.1, with weights copied by jaxrl_modules.compat.torchrl."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchrl = pytest.importorskip("torchrl")

import jax.numpy as jnp  # noqa: E402
import torchrl.modules as trl  # noqa: E402
from torch import nn as tnn  # noqa: E402

from jaxrl_modules.compat.torchrl import load_state_dict  # noqa: E402
from jaxrl_modules.models import MLP, ConvNet, Linear, torch_default_init  # noqa: E402

ATOL = 1e-5


def _randn(*shape):
    return torch.randn(*shape, dtype=torch.float32)


def _np(t):
    return t.detach().numpy()


def _check(torch_net, flax_net, *xs, **apply_kwargs):
    """Copies torch_net's weights into flax_net and compares both outputs on xs."""
    expected = _np(torch_net(*xs))
    inputs = [_np(x) for x in xs]
    variables = load_state_dict(flax_net, torch_net, *inputs, **apply_kwargs)
    out = flax_net.apply(variables, *inputs, **apply_kwargs)
    assert out.shape == expected.shape
    np.testing.assert_allclose(np.asarray(out), expected, atol=ATOL, rtol=0)
    return variables


MLP_CONFIGS = {
    "single_layer": dict(in_features=5, out_features=4),
    "depth_only": dict(in_features=5, out_features=3, depth=2),
    "num_cells_list_relu": dict(in_features=5, out_features=3, num_cells=[16, 8], activation_class=tnn.ReLU),
    "int_cells_elu_kwargs": dict(
        in_features=5,
        out_features=3,
        num_cells=16,
        depth=3,
        activation_class=tnn.ELU,
        activation_kwargs={"alpha": 0.5},
    ),
    "layernorm_per_layer": dict(
        in_features=5,
        out_features=3,
        num_cells=[16, 8],
        norm_class=tnn.LayerNorm,
        norm_kwargs=[{"normalized_shape": 16}, {"normalized_shape": 8}],
    ),
    "tuple_out": dict(in_features=5, out_features=(2, 3), num_cells=[8]),
    "activate_last_no_bias": dict(
        in_features=5,
        out_features=4,
        num_cells=[8],
        activation_class=tnn.LeakyReLU,
        activation_kwargs={"negative_slope": 0.2},
        activate_last_layer=True,
        bias_last_layer=False,
    ),
    "layer_kwargs_list": dict(in_features=5, out_features=2, num_cells=[8], layer_kwargs=[{"bias": False}, {}]),
    "names_as_strings": dict(
        in_features=5,
        out_features=2,
        num_cells=[8],
        activation_class="Softplus",
        activation_kwargs={"beta": 2.0, "threshold": 1.0},
    ),
}


@pytest.mark.parametrize("name", list(MLP_CONFIGS))
def test_mlp_matches_torchrl(name):
    cfg = MLP_CONFIGS[name]
    torch.manual_seed(0)
    torch_cfg = dict(cfg)
    if isinstance(cfg.get("activation_class"), str):
        torch_cfg["activation_class"] = getattr(tnn, cfg["activation_class"])
    torch_net = trl.MLP(**torch_cfg)
    _check(torch_net, MLP(**cfg), _randn(7, 5) * 3)


@pytest.mark.parametrize(
    "act, kwargs",
    [
        ("Tanh", {}),
        ("GELU", {}),
        ("GELU", {"approximate": "tanh"}),
        ("SiLU", {}),
        ("Mish", {}),
        ("SELU", {}),
        ("Softsign", {}),
        ("Hardtanh", {"min_val": -0.5, "max_val": 0.5}),
        ("Sigmoid", {}),
        ("Softmax", {"dim": -1}),
        ("CELU", {"alpha": 2.0}),
        ("Hardswish", {}),
    ],
)
def test_mlp_activations_match_torch(act, kwargs):
    torch.manual_seed(1)
    cfg = dict(in_features=4, out_features=3, num_cells=[8], activation_kwargs=kwargs)
    torch_net = trl.MLP(activation_class=getattr(tnn, act), **cfg)
    _check(torch_net, MLP(activation_class=act, **cfg), _randn(6, 4) * 3)


def test_mlp_single_bias_last_layer_matches():
    torch.manual_seed(0)
    torch_net = trl.MLP(in_features=4, out_features=3, num_cells=[8], single_bias_last_layer=True)
    with torch.no_grad():
        torch_net[-1].bias.fill_(0.7)  # zero-initialised in both; make the copy visible
    variables = _check(torch_net, MLP(out_features=3, num_cells=[8], single_bias_last_layer=True), _randn(5, 4))
    assert variables["params"]["bias_last"]["bias"].shape == (1,)
    assert "bias" not in variables["params"]["linear_1"]


def test_mlp_several_inputs_and_batch_dims():
    torch.manual_seed(0)
    torch_net = trl.MLP(in_features=7, out_features=2, num_cells=[8, 8])
    _check(torch_net, MLP(in_features=7, out_features=2, num_cells=[8, 8]), _randn(2, 3, 4), _randn(2, 3, 3))


def test_mlp_dropout_eval_mode_matches():
    torch.manual_seed(0)
    torch_net = trl.MLP(in_features=4, out_features=3, num_cells=[8, 8], dropout=0.4).eval()
    _check(torch_net, MLP(out_features=3, num_cells=[8, 8], dropout=0.4), _randn(5, 4), deterministic=True)


def test_mlp_batchnorm_train_and_eval():
    torch.manual_seed(0)
    cfg = dict(
        in_features=4, out_features=3, num_cells=[8], norm_class=tnn.BatchNorm1d, norm_kwargs={"num_features": 8}
    )
    torch_net = trl.MLP(**cfg)
    x = _randn(16, 4)
    flax_net = MLP(**cfg)
    variables = load_state_dict(flax_net, torch_net, _np(x))
    out, updates = flax_net.apply(variables, _np(x), mutable=["batch_stats"])
    np.testing.assert_allclose(np.asarray(out), _np(torch_net(x)), atol=ATOL, rtol=0)
    np.testing.assert_allclose(  # running means agree (variances differ: torch stores unbiased)
        np.asarray(updates["batch_stats"]["norm_0"]["mean"]), _np(torch_net[1].running_mean), atol=ATOL
    )
    torch_net.eval()  # now torch's running statistics are copied and used
    _check(torch_net, flax_net, x, deterministic=True)


CONV_CONFIGS = {
    "defaults": (dict(in_features=3), (2, 3, 16, 16)),
    "lists": (
        dict(
            in_features=3,
            num_cells=[8, 16],
            kernel_sizes=[3, 5],
            strides=[1, 2],
            paddings=[1, 2],
            activation_class=tnn.ReLU,
        ),
        (2, 3, 17, 13),
    ),
    "ints_with_depth_multi_batch": (
        dict(
            in_features=2, depth=2, num_cells=[4, 8], kernel_sizes=3, strides=2, paddings=1, activation_class=tnn.Tanh
        ),
        (2, 3, 2, 12, 12),
    ),
    "unbatched": (dict(in_features=3, num_cells=[4, 4], kernel_sizes=(3, 2)), (3, 9, 9)),
    "layernorm_chw": (
        dict(
            in_features=3,
            num_cells=[4, 6],
            norm_class=tnn.LayerNorm,
            norm_kwargs=[{"normalized_shape": [4, 8, 8]}, {"normalized_shape": [6, 6, 6]}],
        ),
        (2, 3, 10, 10),
    ),
    "batchnorm2d": (
        dict(
            in_features=3,
            num_cells=[4, 6],
            norm_class=tnn.BatchNorm2d,
            norm_kwargs=[{"num_features": 4}, {"num_features": 6}],
        ),
        (4, 3, 10, 10),
    ),
}


@pytest.mark.parametrize("name", list(CONV_CONFIGS))
def test_convnet_matches_torchrl(name):
    cfg, shape = CONV_CONFIGS[name]
    torch.manual_seed(0)
    torch_net = trl.ConvNet(**cfg)
    flax_net = ConvNet(**cfg, data_format="NCHW")
    mutable = ["batch_stats"] if cfg.get("norm_class") is tnn.BatchNorm2d else False
    x = _randn(*shape)
    variables = load_state_dict(flax_net, torch_net, _np(x))
    out = flax_net.apply(variables, _np(x), mutable=mutable)
    out = out[0] if mutable else out
    expected = _np(torch_net(x))
    assert out.shape == expected.shape
    np.testing.assert_allclose(np.asarray(out), expected, atol=ATOL, rtol=0)


def test_default_atari_dqn_matches():
    torch.manual_seed(0)
    torch_net = trl.ConvNet.default_atari_dqn(6)
    x = torch.rand(2, 4, 84, 84)
    torch_net(x)  # materialise the lazy layers
    _check(torch_net, ConvNet.default_atari_dqn(6, data_format="NCHW"), x)


def test_torch_class_names_resolve_like_strings():
    """torch.nn classes and their names give the same network."""
    a = MLP(out_features=2, num_cells=[4], activation_class=tnn.ELU, norm_class=tnn.LayerNorm)
    b = MLP(out_features=2, num_cells=[4], activation_class="ELU", norm_class="LayerNorm")
    x = jnp.linspace(-2.0, 2.0, 6).reshape(2, 3)
    torch.manual_seed(0)
    variables = load_state_dict(
        a,
        trl.MLP(
            in_features=3,
            out_features=2,
            num_cells=[4],
            activation_class=tnn.ELU,
            norm_class=tnn.LayerNorm,
            norm_kwargs={"normalized_shape": 4},
        ),
        x,
    )
    np.testing.assert_array_equal(a.apply(variables, x), b.apply(variables, x))


@pytest.mark.parametrize("fan_in, fan_out", [(64, 32), (8, 256)])
def test_init_bounds_match_torch(key, fan_in, fan_out):
    torch.manual_seed(0)
    torch_w = _np(tnn.Linear(fan_in, fan_out).weight)
    ours = np.asarray(Linear(fan_out).init(key, jnp.zeros((1, fan_in)))["params"]["kernel"])
    bound = 1 / np.sqrt(fan_in)
    assert np.abs(torch_w).max() <= bound and np.abs(ours).max() <= bound
    # Same distribution: U(-b, b) has std b / sqrt(3).
    np.testing.assert_allclose(ours.std(), torch_w.std(), rtol=0.1)
    samples = np.asarray(torch_default_init(fan_in)(key, (4096,)))
    np.testing.assert_allclose(samples.std(), bound / np.sqrt(3), rtol=0.05)
