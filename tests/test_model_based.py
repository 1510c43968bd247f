"""Dreamer (v1) networks, RSSMRollout and WorldModelWrapper: shapes, randomness, transforms, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_modules.data.specs import Unbounded
from jaxrl_modules.data.tensordict import TensorDict
from jaxrl_modules.models.layers import ConvTranspose2d
from jaxrl_modules.models.mlp import MLP
from jaxrl_modules.models.model_based import (
    DreamerActor,
    ObsDecoder,
    ObsEncoder,
    RSSMPosterior,
    RSSMPrior,
)
from jaxrl_modules.tensordict_module.module import TensorDictModule
from jaxrl_modules.tensordict_module.world_model import RSSMRollout, WorldModelWrapper

# Shared small shapes keep XLA compilations few.
B, T, S, H, A, E = 3, 6, 4, 8, 2, 5
PRIOR_KEYS = (["state", "belief", "action"], [("next", "prior_mean"), ("next", "prior_std"), "_", ("next", "belief")])
POST_KEYS = (
    [("next", "belief"), ("next", "encoded_latents")],
    [("next", "posterior_mean"), ("next", "posterior_std"), ("next", "state")],
)


def _prior(**kw):
    return RSSMPrior(Unbounded(shape=(A,)), hidden_dim=H, rnn_hidden_dim=H, state_dim=S, **kw)


def _posterior():
    return RSSMPosterior(hidden_dim=H, state_dim=S)


def _rollout(**kw):
    return RSSMRollout(TensorDictModule(_prior(), *PRIOR_KEYS), TensorDictModule(_posterior(), *POST_KEYS), **kw)


def _randn(rng, *shape):  # NumPy draws: no XLA compilation per shape
    return jnp.asarray(rng.standard_normal(shape), jnp.float32)


def _td(seed=0, batch=(B,), t=T):
    rng = np.random.default_rng(seed)
    shape = (*batch, t)
    return TensorDict(
        {
            "state": _randn(rng, *shape, S),
            "belief": _randn(rng, *shape, H),
            "action": _randn(rng, *shape, A),
            "next": {"encoded_latents": _randn(rng, *shape, E)},
        },
        batch_size=shape,
    )


def _prior_inputs(seed=0):
    rng = np.random.default_rng(seed)
    return _randn(rng, B, S), _randn(rng, B, H), _randn(rng, B, A)


# ------------------------------------------------------------------------------------ networks


def test_dreamer_actor_shapes_and_std_mapping():
    actor = DreamerActor(out_features=A, depth=2, num_cells=16)
    state, belief, _ = _prior_inputs()
    variables = jax.jit(actor.init)(jax.random.key(0), state, belief)
    assert [variables["params"]["backbone"][f"linear_{i}"]["kernel"].shape for i in range(3)] == [
        (S + H, 16),
        (16, 16),
        (16, 2 * A),
    ]
    loc, scale = actor.apply(variables, state, belief)
    assert loc.shape == scale.shape == (B, A) and loc.dtype == jnp.float32
    raw = MLP(out_features=2 * A, depth=2, num_cells=16, activation_class="ELU").apply(
        {"params": variables["params"]["backbone"]}, jnp.concatenate([state, belief], -1)
    )
    shift = np.log(np.expm1(5.0 - 1e-4))
    expected = np.maximum(np.log1p(np.exp(np.asarray(raw[:, A:]) + shift)) + 1e-4, 1e-4)
    np.testing.assert_allclose(np.asarray(scale), expected, rtol=1e-5)
    np.testing.assert_allclose(np.asarray(loc), np.asarray(raw[:, :A]))
    zero = jax.tree.map(jnp.zeros_like, variables)  # raw output 0 gives scale std_bias
    np.testing.assert_allclose(np.asarray(actor.apply(zero, state, belief)[1]), 5.0, rtol=1e-6)


def test_encoder_shapes_layouts_and_batch_dims():
    enc = ObsEncoder(channels=4)  # Dreamer's 64x64 frames: 64 -> 31 -> 14 -> 6 -> 2
    pixels = jnp.asarray(np.random.default_rng(0).uniform(size=(2, B, 64, 64, 3)), jnp.float32)
    variables = jax.jit(enc.init)(jax.random.key(1), pixels)
    assert [variables["params"][f"encoder_{2 * i}"]["kernel"].shape[2:] for i in range(4)] == [
        (3, 4),
        (4, 8),
        (8, 16),
        (16, 32),
    ]
    out = jax.jit(enc.apply)(variables, pixels)
    assert out.shape == (2, B, 32 * 2 * 2)
    np.testing.assert_allclose(
        np.asarray(jax.jit(enc.apply)(variables, pixels[0, 0])), np.asarray(out[0, 0]), atol=1e-6
    )
    nchw = jax.jit(ObsEncoder(channels=4, data_format="NCHW").apply)(variables, jnp.moveaxis(pixels, -1, -3))
    # same weights, features flattened as (C, H, W) instead of (H, W, C)
    perm = np.asarray(nchw).reshape(2, B, 32, 2, 2).transpose(0, 1, 3, 4, 2).reshape(2, B, -1)
    np.testing.assert_allclose(perm, np.asarray(out), atol=1e-5)


def test_decoder_shapes_and_layouts():
    state, belief, _ = _prior_inputs()
    dec = ObsDecoder(channels=2)  # default kernels [5, 5, 6, 6]: 1 -> 5 -> 13 -> 30 -> 64
    variables = jax.jit(dec.init)(jax.random.key(0), state, belief)
    assert variables["params"]["state_to_latent_0"]["kernel"].shape == (S + H, 64)
    assert [variables["params"][f"decoder_{2 * i}"]["kernel"].shape for i in range(4)] == [
        (5, 5, 64, 8),
        (5, 5, 8, 4),
        (6, 6, 4, 2),
        (6, 6, 2, 3),
    ]
    out = jax.jit(dec.apply)(variables, state, belief)
    assert out.shape == (B, 64, 64, 3)
    nchw = jax.jit(ObsDecoder(channels=2, data_format="NCHW").apply)(variables, state, belief)
    np.testing.assert_allclose(np.asarray(nchw), np.asarray(jnp.moveaxis(out, -1, -3)), atol=1e-6)
    one = ObsDecoder(channels=2, num_layers=1, kernel_sizes=4, out_channels=1)  # TorchRL cannot run this
    shapes = jax.eval_shape(one.init, jax.random.key(0), state, belief)
    assert jax.eval_shape(one.apply, shapes, state, belief).shape == (B, 4, 4, 1)


def test_conv_transpose_matches_scatter_definition_and_torch_init_bound():
    x = _randn(np.random.default_rng(0), 1, 2, 3, 3)  # NCHW
    conv = ConvTranspose2d(features=2, kernel_size=3, strides=2, data_format="NCHW")
    variables = jax.jit(conv.init)(jax.random.key(1), x)
    kernel = np.asarray(variables["params"]["kernel"])  # (kh, kw, in, out)
    assert np.abs(kernel).max() <= 1 / np.sqrt(2 * 3 * 3)  # PyTorch's fan-in: out * kh * kw
    expected = np.zeros((1, 2, 7, 7)) + np.asarray(variables["params"]["bias"])[None, :, None, None]
    xs = np.asarray(x)
    for i in range(3):
        for j in range(3):  # y[o, 2i + p, 2j + q] += x[c, i, j] * W[p, q, c, o]
            expected[0, :, 2 * i : 2 * i + 3, 2 * j : 2 * j + 3] += np.einsum("c,pqco->opq", xs[0, :, i, j], kernel)
    np.testing.assert_allclose(np.asarray(conv.apply(variables, x)), expected, atol=1e-5)


def test_prior_gru_math_noise_and_sample_stream():
    prior = _prior()
    state, belief, action = _prior_inputs()
    variables = jax.jit(prior.init)(jax.random.key(0), state, belief, action)  # no "sample" stream needed
    p = jax.tree.map(np.asarray, variables["params"])
    assert np.abs(p["rnn"]["weight_hh"]).max() <= 1 / np.sqrt(H)
    x = (
        np.concatenate([state, action], -1) @ p["action_state_projector_0"]["kernel"]
        + p["action_state_projector_0"]["bias"]
    )
    x = np.where(x > 0, x, np.expm1(x))  # ELU
    gi = x @ p["rnn"]["weight_ih"].T + p["rnn"]["bias_ih"]
    gh = np.asarray(belief) @ p["rnn"]["weight_hh"].T + p["rnn"]["bias_hh"]
    sigmoid = lambda v: 1 / (1 + np.exp(-v))  # noqa: E731
    r, z = sigmoid(gi[:, :H] + gh[:, :H]), sigmoid(gi[:, H : 2 * H] + gh[:, H : 2 * H])
    n = np.tanh(gi[:, 2 * H :] + r * gh[:, 2 * H :])
    noise = _randn(np.random.default_rng(5), B, S)
    apply = jax.jit(prior.apply)
    mean, std, new_state, new_belief = apply(variables, state, belief, action, noise)
    np.testing.assert_allclose(np.asarray(new_belief), (1 - z) * n + z * np.asarray(belief), atol=1e-5)
    np.testing.assert_allclose(np.asarray(new_state), np.asarray(mean + std * noise), atol=1e-6)
    assert float(std.min()) >= 0.1
    rngs = lambda s: {"sample": jax.random.key(s)}  # noqa: E731
    a = apply(variables, state, belief, action, rngs=rngs(1))[2]
    assert np.array_equal(np.asarray(a), np.asarray(apply(variables, state, belief, action, rngs=rngs(1))[2]))
    assert not np.allclose(np.asarray(a), np.asarray(apply(variables, state, belief, action, rngs=rngs(2))[2]))
    zero_belief = apply(variables, state, None, action, noise)[3]  # torch's GRUCell default
    np.testing.assert_allclose(
        np.asarray(zero_belief), np.asarray(apply(variables, state, jnp.zeros((B, H)), action, noise)[3])
    )


def test_posterior_noise_and_sample_stream():
    post = _posterior()
    belief, emb = jnp.ones((B, H)), jnp.linspace(-1, 1, B * E).reshape(B, E)
    variables = jax.jit(post.init)(jax.random.key(0), belief, emb)
    mean, std, state = post.apply(variables, belief, emb, rngs={"sample": jax.random.key(3)})
    assert mean.shape == std.shape == state.shape == (B, S) and float(std.min()) >= 0.1
    noise = (state - mean) / std
    np.testing.assert_allclose(np.asarray(post.apply(variables, belief, emb, noise)[2]), np.asarray(state), atol=1e-5)


@pytest.mark.parametrize("which", ["actor", "prior"])
def test_networks_jit_vmap_and_grad(which):
    state, belief, action = _prior_inputs()
    if which == "actor":
        net, args, rngs = DreamerActor(out_features=A, depth=1, num_cells=8), (state, belief), None
    else:
        net, args, rngs = _prior(), (state, belief, action, jnp.ones((B, S))), None
    variables = jax.jit(net.init)(jax.random.key(0), *args)
    eager = net.apply(variables, *args, rngs=rngs)
    jitted = jax.jit(net.apply)(variables, *args)
    mapped = jax.vmap(net.apply, in_axes=(None, *[0] * len(args)))(variables, *args)
    for e, j, m in zip(eager, jitted, mapped):
        np.testing.assert_allclose(np.asarray(j), np.asarray(e), atol=1e-6)
        np.testing.assert_allclose(np.asarray(m), np.asarray(e), atol=1e-6)
    grads = jax.jit(jax.grad(lambda v: sum(jnp.sum(o) for o in net.apply(v, *args))))(variables)
    assert all(bool(jnp.isfinite(g).all()) for g in jax.tree.leaves(grads))


# ------------------------------------------------------------------------------------- rollout


def test_rollout_50_steps_scanned_shapes_determinism_and_propagation():
    rollout = _rollout()
    td = _td(t=50)
    variables = jax.jit(rollout.init)(jax.random.key(0), td)
    run = jax.jit(rollout.apply)
    out = run(variables, td, rngs={"sample": jax.random.key(1)})
    assert out.batch_size == (B, 50)
    for key, size in [
        (("next", "state"), S),
        (("next", "belief"), H),
        (("next", "prior_mean"), S),
        (("next", "prior_std"), S),
        (("next", "posterior_mean"), S),
        ("state", S),
        ("action", A),
    ]:
        assert out[key].shape == (B, 50, size) and bool(jnp.isfinite(out[key]).all()), key
    assert "_" not in out.keys()
    np.testing.assert_array_equal(np.asarray(out["state"][:, 1:]), np.asarray(out["next", "state"][:, :-1]))
    np.testing.assert_array_equal(np.asarray(out["belief"][:, 1:]), np.asarray(out["next", "belief"][:, :-1]))
    np.testing.assert_array_equal(np.asarray(out["state"][:, 0]), np.asarray(td["state"][:, 0]))
    same = run(variables, td, rngs={"sample": jax.random.key(1)})
    assert np.array_equal(np.asarray(same["next", "state"]), np.asarray(out["next", "state"]))
    other = run(variables, td, rngs={"sample": jax.random.key(2)})
    assert not np.allclose(np.asarray(other["next", "state"]), np.asarray(out["next", "state"]))
    # only t = 0 of the input state / belief is read
    ignored = td.set("state", td["state"].at[:, 1:].set(7.0)).set("belief", td["belief"].at[:, 1:].set(-7.0))
    again = run(variables, ignored, rngs={"sample": jax.random.key(1)})
    np.testing.assert_array_equal(np.asarray(again["next", "state"]), np.asarray(out["next", "state"]))


def test_rollout_matches_a_python_loop_unroll_vmap_and_grad():
    rollout, td = _rollout(), _td()
    variables = jax.jit(rollout.init)(jax.random.key(0), td)
    rngs = {"sample": jax.random.key(4)}
    out = jax.jit(rollout.apply)(variables, td, rngs=rngs)
    unrolled = jax.jit(_rollout(use_scan=False).apply)(variables, td, rngs=rngs)  # TorchRL's Python loop
    for key in out.keys(True, True):
        np.testing.assert_allclose(np.asarray(unrolled[key]), np.asarray(out[key]), atol=1e-5)
    # a Python loop over steps with the posterior state fed back, using the rollout's own noise
    prior, post = _prior(), _posterior()
    pv = {"params": variables["params"]["rssm_prior"]["module"]}
    qv = {"params": variables["params"]["rssm_posterior"]["module"]}
    prior_step, post_step = jax.jit(prior.apply), jax.jit(post.apply)
    state, belief = td["state"][:, 0], td["belief"][:, 0]
    for t in range(T):  # the prior's sampled state is dropped ("_"), so its noise does not matter
        mean, std, _, belief = prior_step(pv, state, belief, td["action"][:, t], jnp.zeros((B, S)))
        np.testing.assert_allclose(np.asarray(mean), np.asarray(out["next", "prior_mean"][:, t]), atol=1e-5)
        np.testing.assert_allclose(np.asarray(belief), np.asarray(out["next", "belief"][:, t]), atol=1e-5)
        q_noise = (out["next", "state"][:, t] - out["next", "posterior_mean"][:, t]) / out["next", "posterior_std"][
            :, t
        ]
        _, _, state = post_step(qv, belief, td["next", "encoded_latents"][:, t], q_noise)
        np.testing.assert_allclose(np.asarray(state), np.asarray(out["next", "state"][:, t]), atol=1e-4)
    # vmap over a leading batch dim equals the batched call with a per-example key
    keys = jax.random.split(jax.random.key(9), B)
    single_fn = jax.jit(lambda td1, k: rollout.apply(variables, td1, rngs={"sample": k}))
    mapped = jax.vmap(single_fn)(td, keys)
    for i in (0, B - 1):
        single = single_fn(td[i], keys[i])
        np.testing.assert_allclose(
            np.asarray(mapped["next", "belief"][i]), np.asarray(single["next", "belief"]), atol=1e-5
        )

    def loss(v):
        o = rollout.apply(v, td, rngs=rngs)
        return jnp.sum(o["next", "state"] ** 2) + jnp.sum(o["next", "prior_mean"]) + jnp.sum(o["next", "prior_std"])

    grads = jax.jit(jax.grad(loss))(variables)
    assert all(bool(jnp.isfinite(g).all()) and bool((g != 0).any()) for g in jax.tree.leaves(grads))


def test_rollout_keys():
    rollout = _rollout()
    assert rollout.in_keys == ["state", "belief", "action", ("next", "encoded_latents")]
    assert rollout.out_keys == [
        ("next", "prior_mean"),
        ("next", "prior_std"),
        "_",
        ("next", "belief"),
        ("next", "posterior_mean"),
        ("next", "posterior_std"),
        ("next", "state"),
    ]


# ------------------------------------------------------------------------------ world model wrapper


def test_world_model_wrapper_views_share_variables():
    transition = TensorDictModule(
        MLP(out_features=S, num_cells=[8]), in_keys=["state", "action"], out_keys=[("next", "state")]
    )
    reward = TensorDictModule(
        MLP(out_features=1, num_cells=[8]), in_keys=[("next", "state")], out_keys=[("next", "reward")]
    )
    wm = WorldModelWrapper(transition, reward)
    assert wm.in_keys == ["state", "action"] and wm.out_keys == [("next", "state"), ("next", "reward")]
    td = TensorDict({"state": jnp.ones((B, S)), "action": jnp.ones((B, A))}, batch_size=[B])
    variables = jax.jit(wm.init)(jax.random.key(0), td)
    full = wm.apply(variables, td)
    step = wm.get_transition_model_operator()
    assert step.in_keys == ["state", "action"] and step.out_keys == [("next", "state")]
    stepped = jax.jit(step.apply)(variables, td)
    assert ("next", "reward") not in stepped
    np.testing.assert_allclose(np.asarray(stepped["next", "state"]), np.asarray(full["next", "state"]))
    rewarded = wm.get_reward_operator().apply(variables, stepped)
    np.testing.assert_allclose(np.asarray(rewarded["next", "reward"]), np.asarray(full["next", "reward"]))
    assert wm.get_reward_operator().in_keys == [("next", "state")]


# ------------------------------------------------------------------------------------ errors


def test_construction_errors_and_depth_alias():
    with pytest.raises(ValueError, match="ObsEncoder: num_layers cannot be smaller than 1, got 0"):
        ObsEncoder(num_layers=0)
    with pytest.raises(ValueError, match="ObsDecoder: num_layers cannot be smaller than 1"):
        ObsDecoder(num_layers=0)
    with pytest.raises(ValueError, match=r"kernel_sizes=\[5, 5\] must have num_layers=3 entries"):
        ObsDecoder(num_layers=3, kernel_sizes=[5, 5])
    with pytest.raises(ValueError, match="data_format must be 'NHWC' or 'NCHW', got 'CHW'"):
        ObsEncoder(data_format="CHW")
    with pytest.raises(ValueError, match="bias > min_val"):
        DreamerActor(2, std_bias=0.0, std_min_val=0.1)
    with pytest.warns(UserWarning, match="depth argument of ObsEncoder"):
        enc = ObsEncoder(depth=8)
    assert enc.channels == 8
    with pytest.warns(UserWarning, match="depth argument of ObsDecoder"):
        assert ObsDecoder(depth=4).channels == 4
    with pytest.raises(ValueError, match="compile_step / compile_backend / compile_mode are torch.compile"):
        _rollout(compile_step=True)
    with pytest.raises(TypeError, match="rssm_prior must be a key-based module"):
        RSSMRollout(_prior(), TensorDictModule(_posterior(), *POST_KEYS))


def test_call_errors():
    state, belief, action = _prior_inputs()
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=r"ObsEncoder: observations of shape \(2, 20, 20, 3\).*at least 46"):
        ObsEncoder(channels=2).init(key, jnp.zeros((2, 20, 20, 3)))
    with pytest.raises(
        ValueError, match=r"ObsEncoder expected in_channels=1 in \[\*B, H, W, C\], got shape \(10, 10, 3\)"
    ):
        ObsEncoder(channels=2, num_layers=2, in_channels=1).init(key, jnp.zeros((10, 10, 3)))
    with pytest.raises(
        ValueError, match=r"ObsDecoder: \[state, rnn_hidden\] must end with latent_dim=7, got shape \(3, 12\)"
    ):
        ObsDecoder(channels=2, latent_dim=7).init(key, state, belief)
    with pytest.raises(
        ValueError,
        match=r"DreamerActor: the batch dims of state, belief must agree, got state \(3, 4\), belief \(2, 8\)",
    ):
        DreamerActor(2).init(key, state, belief[:2])
    with pytest.raises(ValueError, match=r"RSSMPrior: state must end with state_dim=4, got shape \(3, 5\)"):
        _prior().init(key, jnp.zeros((B, 5)), belief, action)
    with pytest.raises(ValueError, match=r"RSSMPrior: belief must end with rnn_hidden_dim=8"):
        _prior().init(key, state, jnp.zeros((B, 3)), action)
    with pytest.raises(ValueError, match=r"RSSMPrior: action must end with the action_spec shape \(2,\), got \(3, 3\)"):
        _prior().init(key, state, belief, jnp.zeros((B, 3)))
    with pytest.raises(ValueError, match=r"RSSMPrior: action must end with action_dim=3, got shape \(3, 2\)"):
        RSSMPrior(None, hidden_dim=H, rnn_hidden_dim=H, state_dim=S, action_dim=3).init(key, state, belief, action)
    with pytest.raises(ValueError, match=r"RSSMPrior: noise must have the prior state's shape \(3, 4\), got \(4,\)"):
        _prior().init(key, state, belief, action, jnp.zeros(S))
    variables = jax.jit(_prior().init)(key, state, belief, action)
    with pytest.raises(ValueError, match="RSSMPrior: sampling the prior state needs a 'sample' RNG stream"):
        _prior().apply(variables, state, belief, action)
    with pytest.raises(ValueError, match=r"RSSMPosterior: obs_embedding must end with obs_embed_dim=3"):
        RSSMPosterior(hidden_dim=H, state_dim=S, obs_embed_dim=3).init(key, belief, jnp.zeros((B, E)))
    rollout = _rollout()
    td = _td()
    with pytest.raises(
        KeyError, match=r"RSSMRollout: in_key 'belief' \(the initial belief, read at t = 0\) is missing"
    ):
        rollout.init(key, td.exclude("belief"))
    with pytest.raises(ValueError, match=r"RSSMRollout: time is the last batch dim.*got batch_size \(\)"):
        rollout.init(key, td[0, 0])
    truncating = TensorDictModule(lambda b, e: b[..., :3], in_keys=POST_KEYS[0], out_keys=[("next", "state")])
    with pytest.raises(
        ValueError,
        match=r"RSSMRollout: \('next', 'state'\) \(\(3, 3\), float32\) becomes 'state'.*\(\(3, 4\), float32\)",
    ):
        RSSMRollout(TensorDictModule(_prior(), *PRIOR_KEYS), truncating).init(key, td)
