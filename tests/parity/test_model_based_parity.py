"""Dreamer (v1) networks and RSSMRollout against TorchRL 0.14.1, with weights copied by
jaxrl_modules.compat.torchrl and the standard normal draws fed to both sides."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchrl.modules")

import jax  # noqa: E402
import torchrl.modules.models.model_based as tm  # noqa: E402
from tensordict import TensorDict as TorchTensorDict  # noqa: E402
from tensordict.nn import TensorDictModule as TorchTensorDictModule  # noqa: E402
from torchrl.data import Unbounded as TorchUnbounded  # noqa: E402

from jaxrl_modules.compat.torchrl import load_state_dict  # noqa: E402
from jaxrl_modules.data.specs import Unbounded  # noqa: E402
from jaxrl_modules.data.tensordict import TensorDict  # noqa: E402
from jaxrl_modules.models.model_based import (  # noqa: E402
    DreamerActor,
    ObsDecoder,
    ObsEncoder,
    RSSMPosterior,
    RSSMPrior,
)
from jaxrl_modules.tensordict_module.module import TensorDictModule  # noqa: E402
from jaxrl_modules.tensordict_module.world_model import RSSMRollout  # noqa: E402

ATOL = 1e-5
B, T, S, H, A, E = 3, 5, 4, 8, 2, 6


def _np(t):
    return t.detach().numpy()


def _compare(flax_out, torch_out):
    flax_out = flax_out if isinstance(flax_out, tuple) else (flax_out,)
    torch_out = torch_out if isinstance(torch_out, tuple) else (torch_out,)
    assert len(flax_out) == len(torch_out)
    for f, t in zip(flax_out, torch_out):
        assert f.shape == tuple(t.shape)
        assert float(np.abs(_np(t)).max()) > 0  # a non-trivial comparison
        np.testing.assert_allclose(np.asarray(f), _np(t), atol=ATOL, rtol=0)


def _check(torch_net, flax_net, *xs):
    with torch.no_grad():
        expected = torch_net(*xs)
    inputs = [_np(x) for x in xs]
    variables = load_state_dict(flax_net, torch_net, *inputs)
    _compare(jax.jit(flax_net.apply)(variables, *inputs), expected)


def test_dreamer_actor_matches():
    torch.manual_seed(0)
    torch_net = tm.DreamerActor(A, depth=2, num_cells=16)
    state, belief = torch.randn(2, B, S), torch.randn(2, B, H) * 3
    torch_net(state, belief)  # materialise the lazy first layer
    _check(torch_net, DreamerActor(A, depth=2, num_cells=16), state, belief)


def test_obs_encoder_matches():
    torch.manual_seed(0)
    torch_net = tm.ObsEncoder(channels=4, in_channels=3)
    _check(torch_net, ObsEncoder(channels=4, in_channels=3, data_format="NCHW"), torch.rand(2, B, 3, 64, 64))


@pytest.mark.parametrize("num_layers, kernel_sizes", [(4, None), (2, 3)])
def test_obs_decoder_matches(num_layers, kernel_sizes):
    torch.manual_seed(0)
    cfg = dict(channels=2, num_layers=num_layers, kernel_sizes=kernel_sizes, out_channels=1, latent_dim=S + H)
    _check(tm.ObsDecoder(**cfg), ObsDecoder(**cfg, data_format="NCHW"), torch.randn(B, S), torch.randn(B, H))


def test_rssm_prior_matches_with_the_same_noise():
    torch.manual_seed(0)
    torch_net = tm.RSSMPrior(TorchUnbounded(A), hidden_dim=H, rnn_hidden_dim=H, state_dim=S, action_dim=A)
    flax_net = RSSMPrior(Unbounded(shape=(A,)), hidden_dim=H, rnn_hidden_dim=H, state_dim=S, action_dim=A)
    xs = torch.randn(B, S), torch.randn(B, H), torch.randn(B, A) * 2, torch.randn(B, S)
    _check(torch_net, flax_net, *xs)


def test_rssm_posterior_matches_with_the_same_noise():
    torch.manual_seed(0)
    torch_net = tm.RSSMPosterior(hidden_dim=H, state_dim=S, rnn_hidden_dim=H, obs_embed_dim=E)
    flax_net = RSSMPosterior(hidden_dim=H, state_dim=S, rnn_hidden_dim=H, obs_embed_dim=E)
    _check(torch_net, flax_net, torch.randn(B, H), torch.randn(B, E), torch.randn(B, S))


PRIOR_KEYS = (
    ["state", "belief", "action", "prior_noise"],
    [("next", "prior_mean"), ("next", "prior_std"), "_", ("next", "belief")],
)
POST_KEYS = (
    [("next", "belief"), ("next", "encoded_latents"), "posterior_noise"],
    [("next", "posterior_mean"), ("next", "posterior_std"), ("next", "state")],
)


def test_rssm_rollout_matches_with_noise_fed_from_the_tensordict():
    torch.manual_seed(0)
    torch_rollout = tm.RSSMRollout(
        TorchTensorDictModule(
            tm.RSSMPrior(TorchUnbounded(A), hidden_dim=H, rnn_hidden_dim=H, state_dim=S), *PRIOR_KEYS
        ),
        TorchTensorDictModule(tm.RSSMPosterior(hidden_dim=H, state_dim=S), *POST_KEYS),
    )
    rollout = RSSMRollout(
        TensorDictModule(RSSMPrior(Unbounded(shape=(A,)), hidden_dim=H, rnn_hidden_dim=H, state_dim=S), *PRIOR_KEYS),
        TensorDictModule(RSSMPosterior(hidden_dim=H, state_dim=S), *POST_KEYS),
    )
    assert rollout.in_keys == list(torch_rollout.in_keys) and rollout.out_keys == list(torch_rollout.out_keys)
    data = {
        "state": torch.randn(B, T, S),
        "belief": torch.randn(B, T, H),
        "action": torch.randn(B, T, A),
        "prior_noise": torch.randn(B, T, S),
        "posterior_noise": torch.randn(B, T, S),
        "next": {"encoded_latents": torch.randn(B, T, E)},
    }
    with torch.no_grad():
        torch_rollout(
            TorchTensorDict(
                {
                    k: v[:, :1] if k != "next" else {"encoded_latents": v["encoded_latents"][:, :1]}
                    for k, v in data.items()
                },
                [B, 1],
            )
        )  # materialise lazy layers
        expected = torch_rollout(TorchTensorDict(data, [B, T]))
    td = TensorDict(jax.tree.map(_np, data), batch_size=[B, T])
    variables = load_state_dict(rollout, torch_rollout, td)  # through the rollout's own scan
    out = jax.jit(rollout.apply)(variables, td)
    assert sorted(map(str, out.keys(True, True))) == sorted(map(str, expected.keys(True, True)))
    for key in expected.keys(True, True):
        np.testing.assert_allclose(np.asarray(out[key]), _np(expected[key]), atol=ATOL, rtol=0, err_msg=str(key))
    # steps after the first read the propagated posterior state, not the input's
    assert not np.allclose(np.asarray(out["state"][:, 1:]), np.asarray(td["state"][:, 1:]))
