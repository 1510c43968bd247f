"""LSTM/GRU nets and LSTMModule/GRUModule: shapes, scan == stepwise with resets, jit, vmap, grads, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxrl_modules.data.tensordict import TensorDict
from jaxrl_modules.models.recurrent import GRU, LSTM, LSTMNet
from jaxrl_modules.tensordict_module.rnn import GRUModule, LSTMModule, set_recurrent_mode

B, T, IN, H, L = 3, 6, 4, 5, 2
KINDS = {
    "lstm": (LSTMModule, ("recurrent_state_h", "recurrent_state_c")),
    "gru": (GRUModule, ("recurrent_state",)),
}


def _module(kind, **kwargs):
    cls, names = KINDS[kind]
    return cls(input_size=IN, hidden_size=H, num_layers=L, in_key="obs", out_key="emb", **kwargs), names


def _sequence(seed=0, resets=None):
    k1, *ks = jax.random.split(jax.random.key(seed), 4)
    resets = np.zeros((B, T), bool) if resets is None else resets
    names = ("recurrent_state_h", "recurrent_state_c", "recurrent_state")
    stored = {n: jax.random.normal(k, (B, T, L, H)) for n, k in zip(names, ks)}
    return jax.random.normal(k1, (B, T, IN)), jnp.asarray(resets), stored


_VARS = {}


def _variables(kind):
    if kind not in _VARS:
        module, _ = _module(kind)
        td = TensorDict({"obs": jnp.zeros((B, IN)), "is_init": jnp.zeros(B, bool)}, [B])
        _VARS[kind] = module.init(jax.random.key(1), td)
    return _VARS[kind]


def _scan_and_step(kind):
    """Recurrent mode over [B, T] and one sequential step over [B], each jitted once (fixed shapes,
    so every hypothesis example and test reuses the compiled executables)."""
    module, names = _module(kind)

    @jax.jit
    def scan(variables, obs, is_init, stored):
        td = TensorDict({"obs": obs, "is_init": is_init, **{n: stored[n] for n in names}}, [B, T])
        out = module.apply(variables, td, recurrent_mode=True)
        return out["emb"], [out["next", n] for n in names]

    @jax.jit
    def step(variables, obs, is_init, state):
        out = module.apply(variables, TensorDict({"obs": obs, "is_init": is_init, **state}, [B]))
        return out["emb"], {n: out["next", n] for n in names}

    return scan, step


_FNS = {kind: _scan_and_step(kind) for kind in KINDS}


def _stepping(kind, variables, obs, is_init, stored):
    """Sequential mode one step at a time, carrying the state from the slice's first stored one."""
    _, step = _FNS[kind]
    state = {n: s[:, 0] for n, s in stored.items() if n in KINDS[kind][1]}
    embs, hiddens = [], []
    for t in range(T):
        emb, state = step(variables, obs[:, t], is_init[:, t], state)
        embs.append(emb)
        hiddens.append([state[n] for n in KINDS[kind][1]])
    return jnp.stack(embs, 1), [jnp.stack([h[i] for h in hiddens], 1) for i in range(len(KINDS[kind][1]))]


@settings(max_examples=5, deadline=None)
@given(resets=st.lists(st.booleans(), min_size=B * T, max_size=B * T))
def test_recurrent_scan_equals_stepping_whatever_the_resets(resets):
    # Mid-sequence resets, none, or several in a row; rows without is_init[:, 0] start mid-episode.
    obs, is_init, stored = _sequence(2, np.array(resets).reshape(B, T))
    for kind in KINDS:
        scan, _ = _FNS[kind]
        variables = _variables(kind)
        (e1, h1), (e2, h2) = scan(variables, obs, is_init, stored), _stepping(kind, variables, obs, is_init, stored)
        np.testing.assert_allclose(e1, e2, atol=1e-6, rtol=0)
        for a, b in zip(h1, h2):
            np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", list(KINDS))
def test_keys_shapes_dtypes_and_reset_semantics(kind):
    module, names = _module(kind)
    assert list(module.in_keys) == ["obs", *names, "is_init"]
    assert list(module.out_keys) == ["emb", *(("next", n) for n in names)]
    variables = _variables(kind)
    obs, _, stored = _sequence(3)
    stored = {n: stored[n] for n in names}
    resets = np.zeros((B, T), bool)
    resets[:, 3] = True
    out = module.apply(
        variables, TensorDict({"obs": obs, "is_init": resets[..., None], **stored}, [B, T]), recurrent_mode=True
    )
    assert out["emb"].shape == (B, T, H) and out["emb"].dtype == jnp.float32
    for n in names:
        assert out["next", n].shape == (B, T, L, H)
    # After the reset at t = 3 the output depends neither on the stored state nor on the past.
    fresh = module.apply(
        variables,
        TensorDict({"obs": obs[:, 3:], "is_init": jnp.zeros((B, T - 3), bool).at[:, 0].set(True)}, [B, T - 3]),
        recurrent_mode=True,
    )
    np.testing.assert_allclose(out["emb"][:, 3:], fresh["emb"], atol=1e-6)
    # Sequential mode: a missing state is zeros, an is_init zeroes a stored one.
    step = TensorDict({"obs": obs[:, 0]}, [B])
    zero_state = module.apply(variables, step)
    reset = module.apply(variables, step.update({"is_init": jnp.ones(B, bool), **{n: stored[n][:, 0] for n in names}}))
    np.testing.assert_allclose(reset["emb"], zero_state["emb"], atol=1e-7)
    # The array call form and the default mode field.
    emb, *_ = module.apply(variables, obs[:, 0])
    np.testing.assert_allclose(emb, zero_state["emb"], atol=1e-7)
    rec = module.clone(default_recurrent_mode=True)
    assert rec.recurrent_mode and not module.recurrent_mode
    np.testing.assert_allclose(rec.apply(variables, out)["emb"], out["emb"], atol=1e-7)


def test_primer_gives_the_initial_state():
    module, names = _module("lstm")
    primer = module.make_tensordict_primer()
    zeros = primer.zero((B,))
    assert sorted(zeros.keys()) == sorted(names) and zeros["recurrent_state_h"].shape == (B, L, H)
    td = zeros.update({"obs": jnp.ones((B, IN)), "is_init": jnp.zeros(B, bool)})
    variables = _variables("lstm")
    np.testing.assert_allclose(
        module.apply(variables, td)["emb"], module.apply(variables, TensorDict({"obs": jnp.ones((B, IN))}, [B]))["emb"]
    )
    odd = LSTMModule(hidden_size=H, in_keys=["obs", "h", "c"], out_keys=["emb", ("next", "x"), ("next", "c")])
    with pytest.raises(RuntimeError, match=r"out_keys named after \('next', <in_key>\)"):
        odd.make_tensordict_primer()


@pytest.mark.parametrize("kind", list(KINDS))
def test_jit_vmap_and_finite_gradients(kind):
    module, names = _module(kind)
    variables = _variables(kind)
    obs, _, stored = _sequence(4)
    resets = jnp.zeros((B, T), bool).at[1, 2].set(True)

    def f(variables, obs, stored):
        td = TensorDict({"obs": obs, "is_init": resets, **{n: stored[n] for n in names}}, [B, T])
        return module.apply(variables, td, recurrent_mode=True)["emb"]

    eager = f(variables, obs, stored)
    np.testing.assert_allclose(jax.jit(f)(variables, obs, stored), eager, atol=1e-6)
    # vmap over an extra leading axis equals a loop over it.
    obs2 = jnp.stack([obs, obs * 2.0])
    stored2 = jax.tree_util.tree_map(lambda s: jnp.stack([s, -s]), stored)
    batched = jax.jit(jax.vmap(f, in_axes=(None, 0, 0)))(variables, obs2, stored2)
    for i in range(2):
        np.testing.assert_allclose(
            batched[i], f(variables, obs2[i], jax.tree_util.tree_map(lambda s, i=i: s[i], stored2)), atol=1e-6
        )
    # Finite gradients, and recurrent_recompute="full" (remat) gives the same ones: one compilation.
    remat, _ = _module(kind, recurrent_recompute="full")

    def loss(m, variables, obs):
        td = TensorDict({"obs": obs, "is_init": resets, **{n: stored[n] for n in names}}, [B, T])
        return jnp.sum(m.apply(variables, td, recurrent_mode=True)["emb"] ** 2)

    grads = jax.jit(
        lambda v, o: [jax.grad(lambda v, o, m=m: loss(m, v, o), argnums=(0, 1))(v, o) for m in (module, remat)]
    )
    g_plain, g_remat = grads(variables, obs)
    for a, b in zip(jax.tree_util.tree_leaves(g_plain), jax.tree_util.tree_leaves(g_remat), strict=True):
        assert bool(jnp.isfinite(a).all())
        np.testing.assert_allclose(b, a, atol=1e-5)


def test_dropout_between_layers_uses_the_dropout_stream():
    lstm = LSTM(hidden_size=H, num_layers=2, dropout=0.5)
    x = jnp.ones((B, T, IN))
    variables = lstm.init(jax.random.key(0), x, deterministic=True)
    det, _ = lstm.apply(variables, x, deterministic=True)
    a, _ = lstm.apply(variables, x, rngs={"dropout": jax.random.key(1)})
    b, _ = lstm.apply(variables, x, rngs={"dropout": jax.random.key(1)})
    c, _ = lstm.apply(variables, x, rngs={"dropout": jax.random.key(2)})
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, det) and not np.allclose(a, c)


def test_gru_and_lstm_net_shapes():
    gru = GRU(hidden_size=H, num_layers=L, batch_first=False)
    x = jnp.ones((T, B, IN))
    y, h = gru.apply(gru.init(jax.random.key(0), x), x)
    assert y.shape == (T, B, H) and h.shape == (L, B, H)
    net = LSTMNet(2, {"hidden_size": H}, {"out_features": 3})
    variables = net.init(jax.random.key(0), jnp.ones((B, T, IN)))
    y, h0, c0, h1, c1 = net.apply(variables, jnp.ones((B, T, IN)))
    assert y.shape == (B, T, 2) and h1.shape == (B, T, 1, H)
    assert not bool((h1[:, -1] == 0).all()) and bool((h1[:, :-1] == 0).all())  # TorchRL's zero padding
    y, *hidden = net.apply(variables, jnp.ones((IN,)))
    assert y.shape == (2,) and hidden[2].shape == (1, H)


def test_bad_inputs_raise_clear_errors():
    module, _ = _module("lstm")
    variables = _variables("lstm")
    obs, _, stored = _sequence(5)
    stored = {n: stored[n] for n in KINDS["lstm"][1]}
    with pytest.raises(KeyError, match="LSTMModule in recurrent mode needs 'is_init'"):
        module.apply(variables, TensorDict({"obs": obs}, [B, T]), recurrent_mode=True)
    bad = {"recurrent_state_h": stored["recurrent_state_h"][..., :3], "recurrent_state_c": stored["recurrent_state_c"]}
    with pytest.raises(ValueError, match=r"'recurrent_state_h' must have shape \(3, 6, 2, 5\).*got \(3, 6, 2, 3\)"):
        module.apply(
            variables, TensorDict({"obs": obs, "is_init": jnp.zeros((B, T), bool), **bad}, [B, T]), recurrent_mode=True
        )
    with pytest.raises(ValueError, match=r"'recurrent_state_c' must have shape \(3, 2, 5\).*got \(3, 6, 2, 5\)"):
        module.apply(
            variables,
            TensorDict(
                {
                    "obs": obs[:, 0],
                    "is_init": jnp.zeros(B, bool),
                    "recurrent_state_h": stored["recurrent_state_h"][:, 0],
                    "recurrent_state_c": stored["recurrent_state_c"],
                },
                [B],
            ),
        )
    with pytest.raises(KeyError, match="carries hidden states .* but no 'is_init'"):
        module.apply(variables, TensorDict({"obs": obs[:, 0], **{k: v[:, 0] for k, v in stored.items()}}, [B]))
    with pytest.raises(ValueError, match=r"'is_init' must have shape \(3, 6\) or \(3, 6, 1\) .*got \(3, 6, 2\)"):
        module.apply(
            variables, TensorDict({"obs": obs, "is_init": jnp.zeros((B, T, 2), bool)}, [B, T]), recurrent_mode=True
        )
    # A [B] TensorDict in recurrent mode is refused (it used to run the B rows as one sequence).
    with pytest.raises(
        ValueError, match=r"recurrent mode needs a time dim.*batch_size \[\*B, T\].*got batch_size \[3\]"
    ):
        module.apply(variables, TensorDict({"obs": obs, "is_init": jnp.zeros(B, bool)}, [B]), recurrent_mode=True)
    with pytest.raises(ValueError, match="recurrent mode needs a time dim"):
        module.apply(variables, TensorDict({"obs": obs[0, 0]}), recurrent_mode=True)
    with pytest.raises(ValueError, match="hidden_size must be passed"):
        LSTMModule(input_size=IN, in_key="obs", out_key="emb")
    with pytest.raises(ValueError, match="batch_first must be True"):
        LSTMModule(hidden_size=H, batch_first=False, in_key="obs", out_key="emb")
    with pytest.raises(ValueError, match="exactly one of in_key and in_keys"):
        LSTMModule(hidden_size=H, in_key="obs", in_keys=["obs", "h", "c"], out_key="emb")
    with pytest.raises(ValueError, match="expects 3 in_keys"):
        LSTMModule(hidden_size=H, in_keys=["obs", "h"], out_key="emb")
    with pytest.raises(ValueError, match="expects 2 out_keys"):
        GRUModule(hidden_size=H, in_key="obs", out_keys=["emb"])
    with pytest.raises(NotImplementedError, match="bidirectional=True is not supported"):
        LSTMModule(hidden_size=H, bidirectional=True, in_key="obs", out_key="emb")
    with pytest.raises(NotImplementedError, match="proj_size=2 is not supported"):
        LSTMModule(hidden_size=H, proj_size=2, in_key="obs", out_key="emb")
    with pytest.raises(ValueError, match="recurrent_backend must be one of"):
        GRUModule(hidden_size=H, recurrent_backend="cudnn", in_key="obs", out_key="emb")
    with pytest.raises(RuntimeError, match="set_recurrent_mode is not supported.*recurrent_mode=True"):
        set_recurrent_mode(True)
    lstm = LSTM(hidden_size=H)
    lstm_vars = lstm.init(jax.random.key(0), obs)
    with pytest.raises(ValueError, match=r"LSTM: hidden state 0 must have shape \(1, 3, 5\).*got \(3, 5\)"):
        lstm.apply(lstm_vars, obs, (jnp.zeros((B, H)), jnp.zeros((B, H))))
    with pytest.raises(ValueError, match=r"LSTM: is_init must have shape \(3, 6\)"):
        lstm.apply(lstm_vars, obs, is_init=jnp.zeros((T, B), bool))
    with pytest.raises(ValueError, match=r"LSTM: expected input size 7"):
        LSTM(hidden_size=H, input_size=7).init(jax.random.key(0), obs)
