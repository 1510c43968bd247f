"""NoisyLinear (alone, in an MLP, in a dueling net) against TorchRL 0.14.1, weights and noise
buffers copied by jaxrl_modules.compat.torchrl."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchrl = pytest.importorskip("torchrl")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import torchrl.modules as trl  # noqa: E402
from torch import nn as tnn  # noqa: E402
from torchrl.envs.utils import ExplorationType, set_exploration_type  # noqa: E402
from torchrl.modules.models import DuelingMlpDQNet as TorchDuelingMlpDQNet  # noqa: E402

from jaxrl_modules.compat.torchrl import load_state_dict  # noqa: E402
from jaxrl_modules.models import MLP, DuelingMlpDQNet, NoisyLinear  # noqa: E402

ATOL = 1e-5


def _np(t):
    return t.detach().numpy()


def _torch_outputs(torch_net, x):
    """TorchRL's output with the exploration type unset (mean weights) and under RANDOM (held noise)."""
    with torch.no_grad():
        mean = _np(torch_net(x))
        with set_exploration_type(ExplorationType.RANDOM):
            noisy = _np(torch_net(x))
    assert np.abs(noisy - mean).max() > 1e-3  # the noisy path is really noisy
    return mean, noisy


def _check(torch_net, flax_net, x):
    mean, noisy = _torch_outputs(torch_net, x)
    inputs = _np(x)
    variables = load_state_dict(flax_net, torch_net, inputs)
    for etype in (None, "deterministic", "mode"):
        out = np.asarray(flax_net.apply(variables, inputs, exploration_type=etype))
        np.testing.assert_allclose(out, mean, atol=ATOL, rtol=0)
    out = np.asarray(flax_net.apply(variables, inputs, exploration_type="random"))
    assert out.shape == noisy.shape
    np.testing.assert_allclose(out, noisy, atol=ATOL, rtol=0)
    return variables


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(7, 5), (2, 3, 5), (5,)])
def test_noisy_linear_matches_torchrl(bias, shape):
    torch.manual_seed(0)
    torch_layer = trl.NoisyLinear(5, 4, bias=bias, std_init=0.7)
    _check(torch_layer, NoisyLinear(4, use_bias=bias, std_init=0.7, in_features=5), torch.randn(*shape) * 2)


def test_imported_parameters_and_noise_factors_are_torchrl_s():
    torch.manual_seed(1)
    torch_layer = trl.NoisyLinear(5, 4)
    variables = load_state_dict(NoisyLinear(4), torch_layer, np.zeros((1, 5), np.float32))
    p, noise = variables["params"], variables["noise"]
    np.testing.assert_array_equal(p["kernel_mu"], _np(torch_layer.weight_mu).T)
    np.testing.assert_array_equal(p["kernel_sigma"], _np(torch_layer.weight_sigma).T)
    np.testing.assert_array_equal(p["bias_sigma"], _np(torch_layer.bias_sigma))
    np.testing.assert_array_equal(noise["epsilon_out"], _np(torch_layer.bias_epsilon))
    outer = np.outer(np.asarray(noise["epsilon_out"]), np.asarray(noise["epsilon_in"]))
    np.testing.assert_allclose(outer, _np(torch_layer.weight_epsilon), rtol=1e-6, atol=1e-7)


def test_torchrl_init_constants_and_ranges_match():
    torch.manual_seed(2)
    torch_layer = trl.NoisyLinear(64, 16, std_init=0.3)
    ours = NoisyLinear(16, std_init=0.3).init(jax.random.key(0), jnp.zeros((1, 64)))["params"]
    np.testing.assert_allclose(ours["kernel_sigma"], _np(torch_layer.weight_sigma).T, rtol=1e-6)
    np.testing.assert_allclose(ours["bias_sigma"], _np(torch_layer.bias_sigma), rtol=1e-6)
    for torch_name, name in (("weight_mu", "kernel_mu"), ("bias_mu", "bias_mu")):
        theirs, mine = np.abs(_np(getattr(torch_layer, torch_name))).max(), float(jnp.abs(ours[name]).max())
        # Both uniform on (-1/sqrt(in), 1/sqrt(in)) = (-1/8, 1/8): same bound, both reach near it.
        assert 0.8 / 8 < theirs <= 1 / 8 and 0.8 / 8 < mine <= 1 / 8


def test_noisy_mlp_matches_torchrl():
    torch.manual_seed(3)
    torch_net = trl.MLP(
        in_features=5, out_features=3, num_cells=[16, 8], activation_class=tnn.ReLU, layer_class=trl.NoisyLinear
    )
    flax_net = MLP(out_features=3, num_cells=[16, 8], activation_class="ReLU", layer_class=NoisyLinear)
    _check(torch_net, flax_net, torch.randn(6, 5))


def test_noisy_dueling_mlp_matches_torchrl():
    torch.manual_seed(4)
    feature = {"num_cells": [16], "out_features": 8}
    output = {"num_cells": 8}
    torch_net = TorchDuelingMlpDQNet(
        out_features=3,
        mlp_kwargs_feature={**feature, "layer_class": trl.NoisyLinear},
        mlp_kwargs_output={**output, "layer_class": trl.NoisyLinear},
    )
    with torch.no_grad():
        torch_net(torch.zeros(1, 5))  # materialise the lazy first layers
    flax_net = DuelingMlpDQNet(
        3,
        mlp_kwargs_feature={**feature, "layer_class": NoisyLinear},
        mlp_kwargs_output={**output, "layer_class": NoisyLinear},
    )
    _check(torch_net, flax_net, torch.randn(6, 5))


def test_a_plain_linear_state_dict_is_refused_by_name():
    torch.manual_seed(5)
    with pytest.raises(ValueError, match=r"needs torch tensors \['0.weight_mu'.*holds \['bias', 'weight'\]"):
        load_state_dict(
            MLP(out_features=2, layer_class=NoisyLinear),
            trl.MLP(in_features=5, out_features=2),
            np.zeros((1, 5), np.float32),
        )
