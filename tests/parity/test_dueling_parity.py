"""DuelingCnnDQNet and DuelingMlpDQNet against TorchRL 0.14.1, weights copied by compat.torchrl."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchrl")

import jax  # noqa: E402
from torch import nn as tnn  # noqa: E402
from torchrl.modules import DuelingCnnDQNet as TorchDuelingCnnDQNet  # noqa: E402
from torchrl.modules.models import DuelingMlpDQNet as TorchDuelingMlpDQNet  # noqa: E402

from jaxrl_modules.compat.torchrl import load_state_dict  # noqa: E402
from jaxrl_modules.models import DuelingCnnDQNet, DuelingMlpDQNet  # noqa: E402

ATOL = 1e-5


def _np(t):
    return t.detach().numpy()


def _check(torch_net, flax_net, x):
    """Materialises torch_net's lazy layers, copies its weights, compares the outputs on x."""
    with torch.no_grad():
        expected = _np(torch_net(x))
    variables = load_state_dict(flax_net, torch_net, _np(x))
    out = np.asarray(flax_net.apply(variables, _np(x)))
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, atol=ATOL, rtol=0)
    return variables


@pytest.mark.parametrize("shape", [(2, 2, 3, 44, 44), (3, 36, 36)])
def test_cnn_defaults_match(shape):
    torch.manual_seed(0)
    torch_net = TorchDuelingCnnDQNet(out_features=6)
    _check(torch_net, DuelingCnnDQNet(out_features=6, data_format="NCHW"), torch.randn(*shape))


def test_cnn_kwargs_and_value_per_action_match():
    torch.manual_seed(1)
    cnn_kwargs = {"num_cells": [8, 16], "kernel_sizes": [5, 3], "strides": [2, 1], "activation_class": tnn.ReLU}
    mlp_kwargs = {"num_cells": 32, "activation_class": tnn.Tanh}
    torch_net = TorchDuelingCnnDQNet(out_features=4, out_features_value=4, cnn_kwargs=cnn_kwargs, mlp_kwargs=mlp_kwargs)
    flax_net = DuelingCnnDQNet(4, 4, cnn_kwargs=cnn_kwargs, mlp_kwargs=mlp_kwargs, data_format="NCHW")
    _check(torch_net, flax_net, torch.randn(3, 2, 20, 20))


@pytest.mark.parametrize("shape", [(2, 3, 7), (7,)])
def test_mlp_defaults_match(shape):
    torch.manual_seed(0)
    _check(TorchDuelingMlpDQNet(out_features=3), DuelingMlpDQNet(out_features=3), torch.randn(*shape) * 2)


def test_mlp_kwargs_match():
    torch.manual_seed(2)
    feature = {"num_cells": [32], "out_features": 16, "activation_class": tnn.LeakyReLU}
    output = {"depth": 2, "num_cells": [24, 12], "activation_class": tnn.ELU}
    torch_net = TorchDuelingMlpDQNet(5, mlp_kwargs_feature=feature, mlp_kwargs_output=output)
    _check(torch_net, DuelingMlpDQNet(5, mlp_kwargs_feature=feature, mlp_kwargs_output=output), torch.randn(4, 6))


def test_mlp_shaped_out_features_match_torchrl_docstring_example():
    """TorchRL's own example, out_features=(3, 2) on a batch of one (the case its broadcast gets right)."""
    torch.manual_seed(0)
    variables = _check(
        TorchDuelingMlpDQNet(out_features=(3, 2)), DuelingMlpDQNet(out_features=(3, 2)), torch.randn(1, 5)
    )
    assert variables["params"]["advantage"]["linear_1"]["kernel"].shape == (512, 6)


def test_mlp_shaped_out_features_batched_differs_from_torchrl_by_design():
    """With a batch of 4, TorchRL adds V [4, 1] to A [4, 3, 2] right-aligned, which fails."""
    torch.manual_seed(0)
    torch_net = TorchDuelingMlpDQNet(out_features=(3, 2))
    x = torch.randn(4, 5)
    with pytest.raises(RuntimeError, match="size of tensor"):
        torch_net(x)
    ours = DuelingMlpDQNet(out_features=(3, 2))
    variables = load_state_dict(ours, torch_net, _np(x))
    q = np.asarray(ours.apply(variables, _np(x)))
    for i in range(4):  # each row equals TorchRL's result for that row alone
        with torch.no_grad():
            np.testing.assert_allclose(q[i], _np(torch_net(x[i : i + 1]))[0], atol=ATOL, rtol=0)


def test_biases_zero_where_torchrl_intends_them_zero():
    """TorchRL zeroes biases before its lazy first layers exist; ours are all zero."""
    torch.manual_seed(0)
    torch_net = TorchDuelingCnnDQNet(out_features=6)
    x = torch.randn(1, 3, 36, 36)
    torch_net(x)
    lazy = {"features.0.bias", "advantage.0.bias", "value.0.bias"}
    for name, tensor in torch_net.state_dict().items():
        if name.endswith("bias"):
            assert (_np(tensor) == 0).all() != (name in lazy), name
    ours = DuelingCnnDQNet(out_features=6, data_format="NCHW")
    variables = ours.init(jax.random.key(0), _np(x))
    biases = [
        leaf
        for path, leaf in jax.tree_util.tree_flatten_with_path(variables)[0]
        if jax.tree_util.keystr(path).endswith("['bias']")
    ]
    assert len(biases) == 7 and not any(np.any(np.asarray(b)) for b in biases)
