"""Multi-agent networks and mixers against TorchRL 0.14.1, with TorchRL's stacked ``params`` copied
into our stacked (or shared) layout by jaxrl_modules.compat.torchrl_multiagent."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchrl.modules")

import jax  # noqa: E402
import torchrl.modules as trl  # noqa: E402
from torch import nn as tnn  # noqa: E402

from jaxrl_modules.compat.torchrl import load_state_dict  # noqa: E402
from jaxrl_modules.models.mixers import QMixer, VDNMixer  # noqa: E402
from jaxrl_modules.models.multiagent import MultiAgentConvNet, MultiAgentMLP  # noqa: E402

ATOL = 1e-5
N_AGENTS = 3


def _np(t):
    return t.detach().numpy()


MODES = [(False, False), (False, True), (True, False), (True, True)]


@pytest.mark.parametrize("centralized,share_params", MODES)
def test_mlp_matches_torchrl_in_all_four_modes(centralized, share_params):
    torch.manual_seed(0)
    kwargs = dict(centralized=centralized, share_params=share_params, depth=2, num_cells=8)
    torch_net = trl.MultiAgentMLP(4, 2, N_AGENTS, activation_class=tnn.ReLU, **kwargs)
    x = torch.randn(5, N_AGENTS, 4)
    with torch.no_grad():
        expected = _np(torch_net(x))
    net = MultiAgentMLP(4, 2, N_AGENTS, activation_class="ReLU", **kwargs)
    variables = load_state_dict(net, torch_net, _np(x))
    layer = variables["params"]["shared_network" if share_params else "agent_networks"]["linear_0"]
    assert layer["kernel"].shape == (
        (4 * N_AGENTS if centralized else 4, 8) if share_params else (N_AGENTS, 4 * N_AGENTS if centralized else 4, 8)
    )
    out = net.apply(variables, _np(x))
    assert out.shape == expected.shape == (5, N_AGENTS, 2)
    np.testing.assert_allclose(out, expected, atol=ATOL, rtol=1e-5)


def test_mlp_defaults_are_torchrl_s_single_linear_and_lazy_inputs_load():
    torch.manual_seed(1)
    torch_net = trl.MultiAgentMLP(None, 2, N_AGENTS, centralized=False, share_params=False)
    x = torch.randn(2, 6, N_AGENTS, 5)  # two batch dims; materialises the lazy layer
    with torch.no_grad():
        expected = _np(torch_net(x))
    assert list(torch_net.state_dict()) == ["params.0.weight", "params.0.bias"]  # one Linear
    net = MultiAgentMLP(None, 2, N_AGENTS, centralized=False, share_params=False)
    variables = load_state_dict(net, torch_net, _np(x))
    assert list(variables["params"]["agent_networks"]) == ["linear_0"]
    np.testing.assert_allclose(net.apply(variables, _np(x)), expected, atol=ATOL, rtol=1e-5)


@pytest.mark.parametrize("centralized,share_params", [(False, False), (True, True), (True, False)])
def test_convnet_matches_torchrl(centralized, share_params):
    torch.manual_seed(2)
    kwargs = dict(centralized=centralized, share_params=share_params, num_cells=[4, 6], kernel_sizes=3)
    torch_net = trl.MultiAgentConvNet(N_AGENTS, in_features=2, **kwargs)
    x = torch.randn(2, N_AGENTS, 2, 11, 11)  # [B, n_agents, C, H, W]; 11 -> 5 -> 2
    with torch.no_grad():
        expected = _np(torch_net(x))
    net = MultiAgentConvNet(N_AGENTS, in_features=2, data_format="NCHW", **kwargs)
    variables = load_state_dict(net, torch_net, _np(x))
    out = net.apply(variables, _np(x))
    assert out.shape == expected.shape == (2, N_AGENTS, 24)
    np.testing.assert_allclose(out, expected, atol=ATOL, rtol=1e-5)


def test_a_shared_state_dict_does_not_load_into_separate_networks():
    torch_net = trl.MultiAgentMLP(4, 2, N_AGENTS, centralized=False, share_params=True)
    net = MultiAgentMLP(4, 2, N_AGENTS, centralized=False, share_params=False)
    with pytest.raises(ValueError, match=r"leading agent axis of size 3; 'params.0' holds"):
        load_state_dict(net, torch_net, np.zeros((1, N_AGENTS, 4), np.float32))


def test_qmixer_matches_torchrl():
    torch.manual_seed(3)
    torch_mixer = trl.QMixer(state_shape=(2, 5), mixing_embed_dim=6, n_agents=N_AGENTS, device="cpu")
    q, state = torch.randn(4, 7, N_AGENTS, 1), torch.randn(4, 7, 2, 5)
    with torch.no_grad():
        expected = _np(torch_mixer(q, state))
    mixer = QMixer(state_shape=(2, 5), mixing_embed_dim=6, n_agents=N_AGENTS)
    variables = load_state_dict(mixer, torch_mixer, _np(q), _np(state))
    np.testing.assert_array_equal(variables["params"]["hyper_b_1"]["kernel"], _np(torch_mixer.hyper_b_1.weight).T)
    np.testing.assert_array_equal(variables["params"]["V"]["layers_2"]["bias"], _np(torch_mixer.V[2].bias))
    out = mixer.apply(variables, _np(q), _np(state))
    assert out.shape == expected.shape == (4, 7, 1)
    np.testing.assert_allclose(out, expected, atol=ATOL, rtol=1e-5)


def test_vdn_mixer_matches_torchrl():
    q = torch.randn(4, 7, N_AGENTS, 1)
    expected = _np(trl.VDNMixer(n_agents=N_AGENTS, device="cpu")(q))
    np.testing.assert_allclose(VDNMixer(n_agents=N_AGENTS)(_np(q)), expected, atol=1e-6)


def test_separate_agents_get_different_initialisations_from_the_torch_bound():
    # TorchRL builds n independent nets; ours splits the "params" stream per agent. Same bound:
    # U(-1/sqrt(in), 1/sqrt(in)) with in = 64.
    torch.manual_seed(4)
    torch_net = trl.MultiAgentMLP(64, 16, N_AGENTS, centralized=False, share_params=False)
    theirs = _np(torch_net.params["0", "weight"])
    ours = MultiAgentMLP(64, 16, N_AGENTS, centralized=False, share_params=False).init(
        jax.random.key(0), np.zeros((1, N_AGENTS, 64), np.float32)
    )["params"]["agent_networks"]["linear_0"]["kernel"]
    for weights in (theirs, np.asarray(ours)):
        assert 0.1 < np.abs(weights).max() <= 1 / 8
        assert not np.allclose(weights[0], weights[1])
