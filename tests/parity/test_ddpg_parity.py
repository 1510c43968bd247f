"""DDPG networks against TorchRL 0.14.1, weights copied by jaxrl_modules.compat.torchrl (NCHW)."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchrl.modules")

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from torchrl.modules.models import models as trl  # noqa: E402

from jaxrl_modules.compat.torchrl import load_state_dict  # noqa: E402
from jaxrl_modules.models.ddpg import (  # noqa: E402
    AdaptiveAvgPool2d,
    DdpgCnnActor,
    DdpgCnnQNet,
    DdpgMlpActor,
    DdpgMlpQNet,
)

ATOL = 1e-5
OBS_IMG = (3, 3, 36, 36)  # [B, C, H, W]: 36 -> 8 -> 3 -> 3 through TorchRL's default convs


def _np(t):
    return t.detach().numpy()


def _run(torch_net, *xs):
    with torch.no_grad():
        out = torch_net(*xs)
    return tuple(_np(o) for o in out) if isinstance(out, tuple) else _np(out)


@pytest.mark.parametrize("pool", [False, True])
def test_cnn_actor_matches_torchrl(pool):
    torch.manual_seed(0)
    obs = torch.randn(*OBS_IMG)
    torch_net = trl.DdpgCnnActor(action_dim=2, use_avg_pooling=pool)
    action, hidden = _run(torch_net, obs)  # also materialises the lazy layers
    net = DdpgCnnActor(action_dim=2, use_avg_pooling=pool, data_format="NCHW")
    variables = load_state_dict(net, torch_net, _np(obs))
    ours = net.apply(variables, _np(obs))
    assert ours[0].shape == action.shape == (3, 2) and ours[1].shape == hidden.shape
    np.testing.assert_allclose(ours[1], hidden, atol=ATOL, rtol=1e-5)
    np.testing.assert_allclose(ours[0], action, atol=ATOL, rtol=1e-5)


@pytest.mark.parametrize("pool", [True, False])
def test_cnn_qnet_matches_torchrl(pool):
    torch.manual_seed(1)
    obs, act = torch.randn(*OBS_IMG), torch.randn(3, 2)
    torch_net = trl.DdpgCnnQNet(use_avg_pooling=pool)
    value = _run(torch_net, obs, act)
    net = DdpgCnnQNet(use_avg_pooling=pool, data_format="NCHW")
    variables = load_state_dict(net, torch_net, _np(obs), _np(act))
    ours = net.apply(variables, _np(obs), _np(act))
    assert ours.shape == value.shape == (3, 1)
    np.testing.assert_allclose(ours, value, atol=ATOL, rtol=1e-5)


def test_cnn_qnet_nhwc_with_pooling_matches_torchrl_on_transposed_frames():
    # Global pooling makes the features independent of the layout, so the same weights serve NHWC.
    torch.manual_seed(2)
    obs, act = torch.randn(*OBS_IMG), torch.randn(3, 2)
    torch_net = trl.DdpgCnnQNet()
    value = _run(torch_net, obs, act)
    frames = np.transpose(_np(obs), (0, 2, 3, 1))
    net = DdpgCnnQNet()
    variables = load_state_dict(net, torch_net, frames, _np(act))
    np.testing.assert_allclose(net.apply(variables, frames, _np(act)), value, atol=ATOL, rtol=1e-5)


def test_mlp_actor_and_qnet_match_torchrl():
    torch.manual_seed(3)
    obs, act = torch.randn(4, 2, 7), torch.randn(4, 2, 3)  # two batch dims
    torch_actor, torch_q = trl.DdpgMlpActor(action_dim=3), trl.DdpgMlpQNet()
    action, value = _run(torch_actor, obs), _run(torch_q, obs, act)
    actor, q = DdpgMlpActor(action_dim=3), DdpgMlpQNet()
    np.testing.assert_allclose(
        actor.apply(load_state_dict(actor, torch_actor, _np(obs)), _np(obs)), action, atol=ATOL, rtol=1e-5
    )
    q_vars = load_state_dict(q, torch_q, _np(obs), _np(act))
    np.testing.assert_allclose(q.apply(q_vars, _np(obs), _np(act)), value, atol=ATOL, rtol=1e-5)


def test_parameter_shapes_and_last_layer_ranges_match_torchrl():
    torch.manual_seed(4)
    obs, act = torch.randn(2, 11), torch.randn(2, 3)
    torch_nets = {"actor": trl.DdpgMlpActor(action_dim=3), "q": trl.DdpgMlpQNet()}
    _run(torch_nets["actor"], obs), _run(torch_nets["q"], obs, act)
    ours = {
        "actor": DdpgMlpActor(action_dim=3).init(jax.random.key(0), _np(obs))["params"],
        "q": DdpgMlpQNet().init(jax.random.key(0), _np(obs), _np(act))["params"],
    }
    for which, torch_net in torch_nets.items():
        torch_shapes = [tuple(t.shape[::-1]) for t in torch_net.state_dict().values()]  # [out, in] -> [in, out]
        assert sorted(tuple(leaf.shape) for leaf in jax.tree_util.tree_leaves(ours[which])) == sorted(torch_shapes)
    last_torch = {"actor": torch_nets["actor"].mlp[-1], "q": torch_nets["q"].mlp2[-1]}
    last_ours = {"actor": ours["actor"]["mlp"]["linear_2"], "q": ours["q"]["mlp2"]["linear_1"]}
    for which in ("actor", "q"):  # scale 6e-3: both inside +-3e-3
        theirs = max(np.abs(_np(last_torch[which].weight)).max(), np.abs(_np(last_torch[which].bias)).max())
        mine = max(float(jnp.abs(leaf).max()) for leaf in last_ours[which].values())
        assert 1e-3 < theirs <= 3e-3 and 1e-3 < mine <= 3e-3


@pytest.mark.parametrize("output_size", [(1, 1), (3, 2), 4, (None, 2)])
def test_adaptive_avg_pool_matches_torch(output_size):
    x = torch.randn(2, 3, 7, 5)
    expected = _np(torch.nn.AdaptiveAvgPool2d(output_size)(x))
    np.testing.assert_allclose(AdaptiveAvgPool2d(output_size, data_format="NCHW")(_np(x)), expected, atol=1e-6)
    nhwc = AdaptiveAvgPool2d(output_size)(np.transpose(_np(x), (0, 2, 3, 1)))
    np.testing.assert_allclose(np.transpose(nhwc, (0, 3, 1, 2)), expected, atol=1e-6)
