"""LSTM/GRU cells, nets, LSTMModule/GRUModule (both modes) and LSTMNet against PyTorch / TorchRL 0.14.1,
weights copied by jaxrl_modules.compat.torchrl."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchrl.modules")

import jax.numpy as jnp  # noqa: E402
import torchrl.modules as trl  # noqa: E402
from tensordict import TensorDict as TorchTensorDict  # noqa: E402
from torchrl.testing.modules import LSTMNet as TorchLSTMNet  # noqa: E402

from jaxrl_modules.compat.torchrl import load_state_dict  # noqa: E402
from jaxrl_modules.data.tensordict import TensorDict  # noqa: E402
from jaxrl_modules.models.recurrent import GRU, LSTM, GRUCell, LSTMCell, LSTMNet  # noqa: E402
from jaxrl_modules.tensordict_module.rnn import GRUModule, LSTMModule  # noqa: E402

ATOL = 2e-5
B, T, IN, H, L = 3, 7, 4, 5, 2
RESETS = np.zeros((B, T), bool)
RESETS[0, 0] = RESETS[0, 4] = RESETS[1, 2] = RESETS[1, 3] = RESETS[2, 6] = True  # row 2: mid-episode start


def _np(t):
    return t.detach().numpy()


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_cells_match_torch(kind):
    torch.manual_seed(0)
    x = torch.randn(6, IN)
    if kind == "lstm":
        cell, ours = torch.nn.LSTMCell(IN, H), LSTMCell(hidden_size=H)
        hx = (torch.randn(6, H), torch.randn(6, H))
        expected = [_np(t) for t in cell(x, hx)]
        got = ours.apply(load_state_dict(ours, cell, _np(x)), _np(x), tuple(_np(t) for t in hx))
    else:
        cell, ours = torch.nn.GRUCell(IN, H), GRUCell(hidden_size=H)
        hx = torch.randn(6, H)
        expected, got = [_np(cell(x, hx))], [ours.apply(load_state_dict(ours, cell, _np(x)), _np(x), _np(hx))]
    for e, g in zip(expected, got):
        np.testing.assert_allclose(g, e, atol=ATOL, rtol=0)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_multilayer_nets_match_torch(kind):
    torch.manual_seed(1)
    x = torch.randn(B, T, IN)
    h0 = torch.randn(L, B, H)
    if kind == "lstm":
        net, ours, hx = (
            torch.nn.LSTM(IN, H, L, batch_first=True),
            LSTM(hidden_size=H, num_layers=L),
            (h0, torch.randn(L, B, H)),
        )
    else:
        net, ours, hx = torch.nn.GRU(IN, H, L, batch_first=True), GRU(hidden_size=H, num_layers=L), h0
    y, state = net(x, hx)
    variables = load_state_dict(ours, net, _np(x))
    jhx = tuple(_np(t) for t in hx) if kind == "lstm" else _np(hx)
    jy, jstate = ours.apply(variables, _np(x), jhx)
    np.testing.assert_allclose(jy, _np(y), atol=ATOL, rtol=0)
    for e, g in zip(state if kind == "lstm" else (state,), jstate if kind == "lstm" else (jstate,)):
        np.testing.assert_allclose(g, _np(e), atol=ATOL, rtol=0)


def _modules(kind):
    torch.manual_seed(2)
    if kind == "lstm":
        theirs = trl.LSTMModule(input_size=IN, hidden_size=H, num_layers=L, in_key="obs", out_key="emb")
        ours = LSTMModule(input_size=IN, hidden_size=H, num_layers=L, in_key="obs", out_key="emb")
        names = ["recurrent_state_h", "recurrent_state_c"]
    else:
        theirs = trl.GRUModule(input_size=IN, hidden_size=H, num_layers=L, in_key="obs", out_key="emb")
        ours = GRUModule(input_size=IN, hidden_size=H, num_layers=L, in_key="obs", out_key="emb")
        names = ["recurrent_state"]
    return theirs, ours, names


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_module_sequential_mode_matches_torchrl_over_steps_with_resets(kind):
    theirs, ours, names = _modules(kind)
    obs = torch.randn(B, T, IN)
    state = {n: torch.randn(B, L, H) for n in names}  # non-zero carry, dropped where is_init
    variables = None
    for t in range(T):
        is_init = torch.as_tensor(RESETS[:, t])
        ttd = TorchTensorDict({"obs": obs[:, t], "is_init": is_init[:, None], **state}, [B])
        with torch.no_grad():
            ttd = theirs(ttd)
        jtd = TensorDict({"obs": _np(obs[:, t]), "is_init": RESETS[:, t], **{n: _np(v) for n, v in state.items()}}, [B])
        if variables is None:
            variables = load_state_dict(ours, theirs, jtd)
        jtd = ours.apply(variables, jtd)
        np.testing.assert_allclose(jtd["emb"], _np(ttd["emb"]), atol=ATOL, rtol=0)
        for n in names:
            np.testing.assert_allclose(jtd["next", n], _np(ttd["next", n]), atol=ATOL, rtol=0)
        state = {n: ttd["next", n] for n in names}


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_module_recurrent_mode_matches_torchrl_with_mid_sequence_resets(kind):
    theirs, ours, names = _modules(kind)
    obs = torch.randn(B, T, IN)
    # Stored states as a collector writes them: zeros at every is_init (the primer's reset), and a
    # non-zero carry at the first step of row 2, which starts mid-episode.
    stored = {n: torch.randn(B, T, L, H) * torch.as_tensor(~RESETS)[..., None, None] for n in names}
    is_init = torch.as_tensor(RESETS)[..., None]
    ttd = TorchTensorDict({"obs": obs, "is_init": is_init, **stored}, [B, T])
    with torch.no_grad(), trl.set_recurrent_mode(True):
        ttd = theirs(ttd)
    jtd = TensorDict({"obs": _np(obs), "is_init": RESETS[..., None], **{n: _np(v) for n, v in stored.items()}}, [B, T])
    variables = load_state_dict(ours, theirs, jtd, recurrent_mode=True)
    out = ours.apply(variables, jtd, recurrent_mode=True)
    np.testing.assert_allclose(out["emb"], _np(ttd["emb"]), atol=ATOL, rtol=0)
    # TorchRL defines the next states at each segment's last step only (zeros elsewhere).
    seg_end = np.concatenate([RESETS[:, 1:], np.ones((B, 1), bool)], axis=1)
    for n in names:
        theirs_h = _np(ttd["next", n])
        np.testing.assert_allclose(np.asarray(out["next", n])[seg_end], theirs_h[seg_end], atol=ATOL, rtol=0)
        assert np.all(theirs_h[~seg_end] == 0)  # the documented difference: ours holds the true state


def test_lstm_net_matches_torchrl_single_and_multi_step():
    torch.manual_seed(3)
    theirs = TorchLSTMNet(
        3, {"input_size": H, "hidden_size": H, "num_layers": L}, {"out_features": H, "num_cells": [8]}
    )
    ours = LSTMNet(3, {"input_size": H, "hidden_size": H, "num_layers": L}, {"out_features": H, "num_cells": [8]})
    x = torch.randn(B, T, IN)
    with torch.no_grad():
        theirs(x)  # materialises the LazyLinear
        h0, c0 = torch.randn(B, T, L, H), torch.randn(B, T, L, H)
        expected = [_np(t) for t in theirs(x, h0, c0)]
        expected_step = [_np(t) for t in theirs(x[:, 0], h0[:, 0], c0[:, 0])]
    variables = load_state_dict(ours, theirs, _np(x))
    for e, g in zip(expected, ours.apply(variables, _np(x), _np(h0), _np(c0))):
        np.testing.assert_allclose(g, e, atol=ATOL, rtol=0)
    for e, g in zip(expected_step, ours.apply(variables, _np(x[:, 0]), _np(h0[:, 0]), _np(c0[:, 0]))):
        np.testing.assert_allclose(g, e, atol=ATOL, rtol=0)


def test_import_rejects_bidirectional_and_projection():
    ours = LSTM(hidden_size=H)
    with pytest.raises(NotImplementedError, match="bidirectional or projected"):
        load_state_dict(ours, torch.nn.LSTM(IN, H, bidirectional=True, batch_first=True), jnp.zeros((1, 2, IN)))
    with pytest.raises(NotImplementedError, match="bidirectional or projected"):
        load_state_dict(ours, torch.nn.LSTM(IN, H, proj_size=2, batch_first=True), jnp.zeros((1, 2, IN)))
    with pytest.raises(ValueError, match="Shape mismatch.*has shape \\(20,\\).*\\(24,\\)"):
        load_state_dict(ours, torch.nn.LSTM(IN, H + 1, batch_first=True), jnp.zeros((1, 2, IN)))
