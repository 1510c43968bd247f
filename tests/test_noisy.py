"""models/noisy.py: NoisyLinear, reset_noise, and noisy layers inside MLP, dueling nets and actors.

Shapes are shared across tests to keep XLA compilation down: a layer 4 -> 3 on inputs [5, 4].
"""

import math
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax.core import FrozenDict

from jaxrl_modules.data import OneHot, TensorDict
from jaxrl_modules.models import (
    MLP,
    NOISE_COLLECTION,
    DuelingCnnDQNet,
    DuelingMlpDQNet,
    NoisyLazyLinear,
    NoisyLinear,
    factorised_noise,
    reset_noise,
)
from jaxrl_modules.tensordict_module import QValueActor

IN, OUT, BATCH = 4, 3, 5
RANDOM = dict(exploration_type="random")


def _x(key):
    return jax.random.normal(key, (BATCH, IN))


def _layer_and_vars(key, **fields):
    layer = NoisyLinear(OUT, **fields)
    return layer, layer.init(key, jnp.zeros((BATCH, IN)))


def _by_hand(variables, x, eps_in=None, eps_out=None):
    """y = x @ (mu + sigma * outer(eps_in, eps_out)) + bias_mu + bias_sigma * eps_out, in NumPy float64."""
    p = {k: np.asarray(v, np.float64) for k, v in variables["params"].items()}
    kernel, bias = p["kernel_mu"], p["bias_mu"]
    if eps_in is not None:
        eps_in, eps_out = np.asarray(eps_in, np.float64), np.asarray(eps_out, np.float64)
        kernel = kernel + p["kernel_sigma"] * np.outer(eps_in, eps_out)
        bias = bias + p["bias_sigma"] * eps_out
    return np.asarray(x, np.float64) @ kernel + bias[None, :]


def _leaves(tree):
    return {jax.tree_util.keystr(p): leaf for p, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}


# ----------------------------------------------------------------------------- parameters and init


def test_parameters_follow_torchrl_init(key):
    fan_in, out = 64, 16
    variables = NoisyLinear(out, std_init=0.3).init(key, jnp.zeros((1, fan_in)))
    p = variables["params"]
    assert jax.tree_util.tree_map(jnp.shape, variables) == {
        "params": {"kernel_mu": (fan_in, out), "kernel_sigma": (fan_in, out), "bias_mu": (out,), "bias_sigma": (out,)},
        "noise": {"epsilon_in": (fan_in,), "epsilon_out": (out,)},
    }
    bound = 1 / math.sqrt(fan_in)
    for name in ("kernel_mu", "bias_mu"):  # U(-1/sqrt(in), 1/sqrt(in)), both of them
        assert float(jnp.abs(p[name]).max()) <= bound
        assert float(jnp.abs(p[name]).max()) > 0.8 * bound
    np.testing.assert_allclose(p["kernel_sigma"], np.full((fan_in, out), 0.3 / math.sqrt(fan_in)), rtol=1e-6)
    # TorchRL divides the bias's noise scale by sqrt(out), not by sqrt(in) as the paper does.
    np.testing.assert_allclose(p["bias_sigma"], np.full((out,), 0.3 / math.sqrt(out)), rtol=1e-6)
    assert variables["noise"]["epsilon_in"].dtype == jnp.float32


def test_no_bias_and_noisy_lazy_linear_takes_torchrl_positional_order(key):
    assert NoisyLazyLinear is NoisyLinear
    variables = NoisyLazyLinear(OUT, False).init(key, jnp.zeros((BATCH, IN)))  # (out_features, bias)
    assert sorted(variables["params"]) == ["kernel_mu", "kernel_sigma"]
    assert jax.tree_util.tree_map(jnp.shape, variables["noise"]) == {"epsilon_in": (IN,), "epsilon_out": (OUT,)}


def test_held_noise_at_init_comes_from_the_noise_stream_else_from_params(key):
    layer = NoisyLinear(OUT)
    x = jnp.zeros((BATCH, IN))
    a = layer.init({"params": key, "noise": jax.random.key(1)}, x)
    b = layer.init({"params": key, "noise": jax.random.key(2)}, x)
    c = layer.init(key, x)
    assert _leaves(a["params"]).keys() == _leaves(b["params"]).keys()
    for name, leaf in _leaves(a["params"]).items():
        np.testing.assert_array_equal(leaf, _leaves(b["params"])[name])
    assert not np.array_equal(a["noise"]["epsilon_in"], b["noise"]["epsilon_in"])
    eps_in, eps_out = c["noise"]["epsilon_in"], c["noise"]["epsilon_out"]
    assert np.all(np.isfinite(eps_in)) and float(jnp.abs(eps_in).min()) > 0 and float(jnp.abs(eps_out).min()) > 0


# ----------------------------------------------------------------------------- noise statistics


def test_fresh_noise_has_the_factorised_mean_and_variance(key):
    """Over N fresh keys: Var(W) = sigma^2 E[f(a)^2] E[f(b)^2] = sigma^2 (E|a|)^2 = sigma^2 * 2/pi.

    f(x) = sign(x) sqrt|x| and E[f(x)^2] = E|x| = sqrt(2/pi) for x ~ N(0, 1); the bias noise is
    one factor, Var = bias_sigma^2 sqrt(2/pi). Tolerances are 5 standard errors: the sample mean's
    is sqrt(Var / N); the sample variance's is sqrt((E[X^4] - Var^2) / N) with E[X^4] =
    E[f^4]^2 = (E[x^2])^2 = 1 for the weight and E[x^2] = 1 for the bias.
    """
    n = 4000
    layer, variables = _layer_and_vars(key)
    probe = jnp.concatenate([jnp.eye(IN), jnp.zeros((1, IN))])  # [5, 4]: each row of W, then the bias
    keys = jax.random.split(jax.random.key(7), n)
    y = jax.vmap(lambda k: layer.apply(variables, probe, rngs={"noise": k}, **RANDOM))(keys)
    bias = y[:, IN]
    weight = y[:, :IN] - bias[:, None, :]
    p = variables["params"]
    z_w = np.asarray((weight - p["kernel_mu"][None]) / p["kernel_sigma"][None], np.float64)  # [n, in, out]
    z_b = np.asarray((bias - p["bias_mu"][None]) / p["bias_sigma"][None], np.float64)  # [n, out]

    var_w, var_b = 2 / math.pi, math.sqrt(2 / math.pi)
    for z, var, fourth in ((z_w, var_w, 1.0), (z_b, var_b, 1.0)):
        mean_tol = 5 * math.sqrt(var / n)
        var_tol = 5 * math.sqrt((fourth - var**2) / n)
        assert np.abs(z.mean(axis=0)).max() < mean_tol  # E[W] = mu, E[b] = bias_mu
        assert np.abs(z.var(axis=0) - var).max() < var_tol
    # A wrong scaling (plain Gaussian factors: Var 1) is far outside these tolerances.
    assert 5 * math.sqrt((1 - var_w**2) / n) < 0.1 * var_w

    # Factorised: each draw's weight noise is outer(eps_in, eps_out), with eps_out the bias noise.
    for i in range(3):
        eps_out = z_b[i]
        eps_in = z_w[i, :, 0] / eps_out[0]
        np.testing.assert_allclose(z_w[i], np.outer(eps_in, eps_out), atol=1e-4)


def test_factorised_noise_applies_sign_sqrt_abs(key):
    eps_in, eps_out = factorised_noise(key, IN, OUT)
    z = jax.random.normal(key, (IN + OUT,))
    np.testing.assert_allclose(jnp.concatenate([eps_in, eps_out]), jnp.sign(z) * jnp.sqrt(jnp.abs(z)), rtol=1e-6)


# ----------------------------------------------------------------------------- gating


@pytest.mark.parametrize("etype", [None, "mode", "mean", "deterministic"])
def test_only_random_adds_noise(key, etype):
    layer, variables = _layer_and_vars(key)
    x = _x(jax.random.key(1))
    rngs = {"noise": jax.random.key(2)}
    mean_path = layer.apply(variables, x, exploration_type=etype, rngs=rngs)
    np.testing.assert_allclose(mean_path, _by_hand(variables, x), rtol=1e-5, atol=1e-6)
    # The mean path draws nothing and reads no held noise: it runs without either.
    np.testing.assert_array_equal(layer.apply({"params": variables["params"]}, x, exploration_type=etype), mean_path)
    noisy = layer.apply(variables, x, rngs=rngs, **RANDOM)
    assert np.abs(np.asarray(noisy - mean_path)).min() > 0


def test_field_sets_the_default_and_the_call_keyword_overrides_it(key):
    layer, variables = _layer_and_vars(key, exploration_type="random")
    x = _x(jax.random.key(1))
    held = _by_hand(variables, x, variables["noise"]["epsilon_in"], variables["noise"]["epsilon_out"])
    np.testing.assert_allclose(layer.apply(variables, x), held, rtol=1e-5, atol=1e-6)
    mode = layer.apply(variables, x, exploration_type="mode")
    np.testing.assert_allclose(mode, _by_hand(variables, x), rtol=1e-5, atol=1e-6)


def test_legacy_train_eval_mode_without_exploration_type(key):
    x = _x(jax.random.key(1))
    train, variables = _layer_and_vars(key, use_exploration_type=False)
    held = _by_hand(variables, x, variables["noise"]["epsilon_in"], variables["noise"]["epsilon_out"])
    mean = _by_hand(variables, x)
    tol = dict(rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(train.apply(variables, x), held, **tol)  # train mode by default: noisy
    np.testing.assert_allclose(train.apply(variables, x, deterministic=True), mean, **tol)
    np.testing.assert_allclose(train.apply(variables, x, exploration_type="mode"), held, **tol)  # ignored
    evaluation = NoisyLinear(OUT, use_exploration_type=False, deterministic=True)
    np.testing.assert_allclose(evaluation.apply(variables, x, **RANDOM), mean, **tol)
    np.testing.assert_allclose(evaluation.apply(variables, x, deterministic=False), held, **tol)
    np.testing.assert_allclose(NoisyLinear(OUT, use_exploration_type=None).apply(variables, x, **RANDOM), held, **tol)


# ----------------------------------------------------------------------------- held and fresh noise


def test_held_noise_is_the_stored_sample_and_stays_put(key):
    layer, variables = _layer_and_vars(key)
    x = _x(jax.random.key(1))
    y0 = layer.apply(variables, x, **RANDOM)
    np.testing.assert_array_equal(layer.apply(variables, x, **RANDOM), y0)
    expected = _by_hand(variables, x, variables["noise"]["epsilon_in"], variables["noise"]["epsilon_out"])
    np.testing.assert_allclose(y0, expected, rtol=1e-5, atol=1e-6)


def test_held_noise_across_a_scan_and_fresh_noise_per_step(key):
    layer, variables = _layer_and_vars(key)
    steps = 20
    xs = jax.random.normal(jax.random.key(1), (steps, BATCH, IN))
    x0 = jnp.broadcast_to(xs[0], xs.shape)

    def held_step(carry, x):
        return carry, layer.apply(variables, x, **RANDOM)

    _, ys = jax.jit(lambda xs: jax.lax.scan(held_step, None, xs))(xs)
    _, same = jax.jit(lambda xs: jax.lax.scan(held_step, None, xs))(x0)
    eps = variables["noise"]["epsilon_in"], variables["noise"]["epsilon_out"]
    for t in (0, 7, steps - 1):
        np.testing.assert_allclose(ys[t], _by_hand(variables, xs[t], *eps), rtol=1e-5, atol=1e-5)
    assert all(np.array_equal(same[t], same[0]) for t in range(steps))  # one sample all rollout long

    def fresh_step(key, x):
        key, sub = jax.random.split(key)
        return key, layer.apply(variables, x, rngs={"noise": sub}, **RANDOM)

    _, fresh = jax.jit(lambda k, xs: jax.lax.scan(fresh_step, k, xs))(jax.random.key(3), x0)
    assert len({np.asarray(fresh[t]).tobytes() for t in range(steps)}) == steps  # a new sample each step
    k, loop = jax.random.key(3), []
    for t in range(3):
        k, sub = jax.random.split(k)
        loop.append(layer.apply(variables, x0[t], rngs={"noise": sub}, **RANDOM))
    np.testing.assert_allclose(fresh[:3], jnp.stack(loop), rtol=1e-5, atol=1e-6)


def test_fresh_noise_same_key_same_output_and_ignores_the_held_sample(key):
    layer, variables = _layer_and_vars(key)
    x = _x(jax.random.key(1))

    def fresh(v, k):
        return layer.apply(v, x, rngs={"noise": jax.random.key(k)}, **RANDOM)

    np.testing.assert_array_equal(fresh(variables, 2), fresh(variables, 2))
    assert not np.allclose(fresh(variables, 2), fresh(variables, 3))
    assert not np.allclose(fresh(variables, 2), layer.apply(variables, x, **RANDOM))
    np.testing.assert_array_equal(fresh(reset_noise(variables, jax.random.key(9)), 2), fresh(variables, 2))
    np.testing.assert_array_equal(fresh({"params": variables["params"]}, 2), fresh(variables, 2))


# ----------------------------------------------------------------------------- reset_noise


def test_reset_noise_changes_only_the_held_noise(key):
    layer, variables = _layer_and_vars(key)
    x = _x(jax.random.key(1))
    new = reset_noise(variables, jax.random.key(5))
    for name, leaf in _leaves(variables["params"]).items():
        np.testing.assert_array_equal(_leaves(new["params"])[name], leaf)
    for name, leaf in variables["noise"].items():
        assert new["noise"][name].shape == leaf.shape and new["noise"][name].dtype == leaf.dtype
        assert np.all(np.asarray(new["noise"][name]) != np.asarray(leaf))
    y_old, y_new = layer.apply(variables, x, **RANDOM), layer.apply(new, x, **RANDOM)
    assert not np.allclose(y_old, y_new)
    np.testing.assert_allclose(
        y_new, _by_hand(new, x, new["noise"]["epsilon_in"], new["noise"]["epsilon_out"]), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_array_equal(layer.apply(new, x), layer.apply(variables, x))  # mean path untouched
    # Same key, same noise; the layer's path salts the key.
    again = reset_noise(variables, jax.random.key(5))
    np.testing.assert_array_equal(again["noise"]["epsilon_in"], new["noise"]["epsilon_in"])
    salted = jax.random.fold_in(jax.random.key(5), zlib.crc32(b"") & 0x7FFFFFFF)
    np.testing.assert_array_equal(new["noise"]["epsilon_in"], factorised_noise(salted, IN, OUT)[0])


def test_reset_noise_on_an_mlp_under_jit_and_frozen_dicts(key):
    net = MLP(out_features=OUT, num_cells=[8], layer_class=NoisyLinear)
    x = _x(jax.random.key(1))
    variables = net.init(key, x)
    assert sorted(variables[NOISE_COLLECTION]) == ["linear_0", "linear_1"]
    eager = reset_noise(variables, jax.random.key(5))
    jitted = jax.jit(reset_noise)(variables, jax.random.key(5))
    old, new = _leaves(variables["noise"]), _leaves(jitted["noise"])
    assert old.keys() == new.keys() and len(new) == 4
    for name in new:
        np.testing.assert_array_equal(new[name], _leaves(eager["noise"])[name])
        assert not np.allclose(new[name], old[name])
    assert not np.allclose(net.apply(variables, x, **RANDOM), net.apply(jitted, x, **RANDOM))
    frozen = reset_noise(FrozenDict(variables), jax.random.key(5))
    assert isinstance(frozen, FrozenDict)
    np.testing.assert_array_equal(frozen["noise"]["linear_1"]["epsilon_out"], new["['linear_1']['epsilon_out']"])


def test_reset_noise_needs_the_noise_collection(key):
    _, variables = _layer_and_vars(key)
    with pytest.raises(ValueError, match="'noise' collection.*got \\['params'\\]"):
        reset_noise({"params": variables["params"]}, jax.random.key(1))


# ----------------------------------------------------------------------------- errors


def test_torchrl_positional_sizes_raise_a_type_error():
    with pytest.raises(TypeError, match=r"output features first.*NoisyLinear\(8, in_features=4\)"):
        NoisyLinear(4, 8)
    with pytest.raises(TypeError, match="output features first"):
        NoisyLinear(8, True, True)  # TorchRL's (in, out, bias) shifted by one


@pytest.mark.parametrize(
    "fields, match",
    [
        (dict(features=0), "features must be a positive int"),
        (dict(features=3, std_init=-0.1), "std_init must be a non-negative"),
        (dict(features=3, in_features=0), "in_features must be None or a positive int"),
        (dict(features=3, exploration_type="often"), "often"),
    ],
)
def test_bad_fields_raise_at_construction(fields, match):
    with pytest.raises(ValueError, match=match):
        NoisyLinear(**fields)


def test_missing_held_noise_names_both_ways(key):
    layer, variables = _layer_and_vars(key)
    with pytest.raises(ValueError, match=r"NoisyLinear.*rngs=\{'noise': key\}.*variables\['noise'\].*reset_noise"):
        layer.apply({"params": variables["params"]}, jnp.zeros((BATCH, IN)), **RANDOM)


def test_input_size_mismatches_name_the_layer_and_shapes(key):
    expected = r"NoisyLinear expected inputs \[\*B, in\] with in_features=5, got shape \(5, 4\)"
    with pytest.raises(ValueError, match=expected):
        NoisyLinear(OUT, in_features=5).init(key, jnp.zeros((BATCH, IN)))
    layer, variables = _layer_and_vars(key)
    bad = {"params": variables["params"], "noise": {"epsilon_in": jnp.zeros(IN + 1), "epsilon_out": jnp.zeros(OUT)}}
    with pytest.raises(ValueError, match=r"held noise has epsilon_in \(5,\).*expected \(4,\) and \(3,\)"):
        layer.apply(bad, jnp.zeros((BATCH, IN)), **RANDOM)


def test_mlp_rejects_a_shared_bias_and_a_layer_deterministic_with_noisy_layers():
    with pytest.raises(ValueError, match="single_bias_last_layer=True is incompatible with NoisyLinear"):
        MLP(out_features=OUT, layer_class=NoisyLinear, single_bias_last_layer=True)
    with pytest.raises(ValueError, match=r"layer_kwargs\['deterministic'\] would be ignored"):
        MLP(out_features=OUT, layer_class=NoisyLinear, layer_kwargs={"deterministic": True})


# ----------------------------------------------------------------------------- transformations


def test_jit_equals_eager_and_vmap_equals_loop(key):
    layer, variables = _layer_and_vars(key)
    x = _x(jax.random.key(1))

    def fresh(v, x, k):
        return layer.apply(v, x, rngs={"noise": k}, **RANDOM)

    k = jax.random.key(2)
    np.testing.assert_allclose(jax.jit(fresh)(variables, x, k), fresh(variables, x, k), rtol=1e-6, atol=1e-6)
    held = jax.jit(lambda v, x: layer.apply(v, x, **RANDOM))
    np.testing.assert_allclose(held(variables, x), layer.apply(variables, x, **RANDOM), rtol=1e-6, atol=1e-6)

    keys = jax.random.split(jax.random.key(3), 3)
    batched = jax.vmap(fresh, in_axes=(None, None, 0))(variables, x, keys)
    for i in range(3):
        np.testing.assert_allclose(batched[i], fresh(variables, x, keys[i]), rtol=1e-5, atol=1e-6)
    per_row = jax.vmap(lambda row: layer.apply(variables, row, **RANDOM))(x)  # unbatched [in] rows
    np.testing.assert_allclose(per_row, layer.apply(variables, x, **RANDOM), rtol=1e-5, atol=1e-6)


def test_gradients_reach_mu_and_sigma_only_when_noisy(key):
    layer, variables = _layer_and_vars(key)
    x = _x(jax.random.key(1))

    def loss(params, etype):
        out = layer.apply({"params": params, "noise": variables["noise"]}, x, exploration_type=etype)
        return jnp.sum(out**2)

    noisy = jax.grad(loss)(variables["params"], "random")
    mean = jax.grad(loss)(variables["params"], None)
    for name, g in noisy.items():
        assert np.all(np.isfinite(g)) and float(jnp.abs(g).max()) > 0, name
    assert float(jnp.abs(mean["kernel_sigma"]).max()) == 0 and float(jnp.abs(mean["bias_sigma"]).max()) == 0
    assert float(jnp.abs(mean["kernel_mu"]).max()) > 0


def test_dtype_follows_the_inputs_and_parameters(key):
    layer = NoisyLinear(OUT, dtype=jnp.bfloat16)
    variables = layer.init(key, jnp.zeros((BATCH, IN)))
    assert variables["noise"]["epsilon_in"].dtype == jnp.float32  # param_dtype
    assert layer.apply(variables, jnp.zeros((BATCH, IN)), **RANDOM).dtype == jnp.bfloat16


# ----------------------------------------------------------------------------- containers


def test_mlp_threads_the_exploration_type_and_train_mode_to_its_layers(key):
    net = MLP(out_features=OUT, num_cells=[8], layer_class=NoisyLinear, activation_class="ReLU")
    x = _x(jax.random.key(1))
    variables = net.init(key, x)
    layers = [NoisyLinear(8), NoisyLinear(OUT)]

    def by_layers(etype):
        h = x
        for i, layer in enumerate(layers):
            sub = {c: variables[c][f"linear_{i}"] for c in variables}
            h = layer.apply(sub, h, exploration_type=etype)
            h = jax.nn.relu(h) if i == 0 else h
        return h

    np.testing.assert_allclose(net.apply(variables, x, **RANDOM), by_layers("random"), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.apply(variables, x), by_layers(None), rtol=1e-5, atol=1e-6)
    assert not np.allclose(by_layers("random"), by_layers(None))

    legacy = MLP(
        out_features=OUT,
        num_cells=[8],
        layer_class=NoisyLinear,
        activation_class="ReLU",
        layer_kwargs={"use_exploration_type": False},
    )
    np.testing.assert_allclose(legacy.apply(variables, x), by_layers("random"), rtol=1e-5, atol=1e-6)  # train mode
    np.testing.assert_allclose(legacy.apply(variables, x, deterministic=True), by_layers(None), rtol=1e-5, atol=1e-6)
    evaluation = legacy.clone(deterministic=True)
    np.testing.assert_allclose(evaluation.apply(variables, x, **RANDOM), by_layers(None), rtol=1e-5, atol=1e-6)


NOISY_DUELING = dict(
    mlp_kwargs_feature={"num_cells": [8], "out_features": 8, "layer_class": NoisyLinear},
    mlp_kwargs_output={"num_cells": 8, "layer_class": NoisyLinear},
)


def test_noisy_dueling_zeroes_bias_mu_as_torchrl_and_keeps_bias_sigma(key):
    net = DuelingMlpDQNet(OUT, **NOISY_DUELING)
    variables = net.init(key, _x(jax.random.key(1)))
    leaves = _leaves(variables["params"])
    bias_mu = [v for k, v in leaves.items() if k.endswith("['bias_mu']")]
    bias_sigma = [v for k, v in leaves.items() if k.endswith("['bias_sigma']")]
    assert len(bias_mu) == len(bias_sigma) == 6
    assert all(float(jnp.abs(b).max()) == 0 for b in bias_mu)
    assert all(float(jnp.abs(b).min()) > 0 for b in bias_sigma)
    # reset_noise salts each layer's key with its path: same-shaped layers get different noise.
    new = reset_noise(variables, jax.random.key(2))["noise"]
    assert new["advantage"]["linear_0"]["epsilon_in"].shape == new["value"]["linear_0"]["epsilon_in"].shape
    assert not np.allclose(new["advantage"]["linear_0"]["epsilon_in"], new["value"]["linear_0"]["epsilon_in"])


def test_noisy_cnn_dueling_heads_take_the_exploration_type(key):
    net = DuelingCnnDQNet(
        OUT,
        cnn_kwargs={"num_cells": [4], "kernel_sizes": [3], "strides": [1]},
        mlp_kwargs={"num_cells": 8, "layer_class": NoisyLinear},
    )
    frames = jax.random.normal(jax.random.key(1), (2, 5, 5, 1))
    variables = net.init(key, frames)
    assert sorted(variables["noise"]) == ["advantage", "value"]
    mean = net.apply(variables, frames)
    np.testing.assert_array_equal(net.apply(variables, frames, exploration_type="mode"), mean)
    assert not np.allclose(net.apply(variables, frames, **RANDOM), mean)


def test_q_value_actor_with_a_noisy_dueling_net_gets_noise_only_under_random(key):
    actor = QValueActor(DuelingMlpDQNet(OUT, **NOISY_DUELING), spec=OneHot(OUT))
    td = TensorDict({"observation": _x(jax.random.key(1))}, batch_size=[BATCH])
    variables = actor.init(key, td)
    assert len(_leaves(variables[NOISE_COLLECTION])) == 12  # six noisy layers, two factors each

    def q(v, **kwargs):
        return np.asarray(actor.apply(v, td, **kwargs)["action_value"])

    mean = q(variables)
    np.testing.assert_array_equal(q(variables, exploration_type="mode"), mean)
    held = q(variables, **RANDOM)
    assert not np.allclose(held, mean)
    np.testing.assert_array_equal(q(variables, **RANDOM), held)
    fresh = [q(variables, rngs={"noise": jax.random.key(k)}, **RANDOM) for k in (2, 2, 3)]
    np.testing.assert_array_equal(fresh[0], fresh[1])
    assert not np.allclose(fresh[0], fresh[2]) and not np.allclose(fresh[0], held)
    reset = reset_noise(variables, jax.random.key(4))
    assert not np.allclose(q(reset, **RANDOM), held)
    np.testing.assert_array_equal(q(reset), mean)
    out = actor.apply(variables, td, **RANDOM)
    np.testing.assert_array_equal(np.argmax(np.asarray(out["action"]), -1), np.argmax(held, -1))


# ----------------------------------------------------------------------------- weight import


@pytest.mark.parametrize("bias", [True, False])
def test_torch_state_dict_import_reproduces_the_noisy_weights(bias):
    """A TorchRL-shaped state dict (NumPy arrays here; the parity tests use TorchRL's own)."""
    from jaxrl_modules.compat.torchrl import load_state_dict

    rng = np.random.default_rng(0)
    f = lambda z: np.sign(z) * np.sqrt(np.abs(z))  # noqa: E731
    eps_in, eps_out = f(rng.normal(size=IN)), f(rng.normal(size=OUT))
    state = {"weight_mu": rng.normal(size=(OUT, IN)), "weight_sigma": rng.uniform(0.1, 0.5, size=(OUT, IN))}
    if bias:
        state.update(bias_mu=rng.normal(size=OUT), bias_sigma=rng.uniform(0.1, 0.5, size=OUT))
    state["weight_epsilon"] = np.outer(eps_out, eps_in)
    if bias:
        state["bias_epsilon"] = eps_out
    state = {f"0.{k}": v.astype(np.float32) for k, v in state.items()}
    layer = NoisyLinear(OUT, use_bias=bias)
    x = np.asarray(_x(jax.random.key(1)))
    variables = load_state_dict(layer, state, x)
    weight = state["0.weight_mu"] + state["0.weight_sigma"] * state["0.weight_epsilon"]
    expected = x @ weight.T
    if bias:
        expected = expected + (state["0.bias_mu"] + state["0.bias_sigma"] * state["0.bias_epsilon"])[None, :]
        np.testing.assert_array_equal(variables["noise"]["epsilon_out"], state["0.bias_epsilon"])
    np.testing.assert_allclose(layer.apply(variables, x, **RANDOM), expected, rtol=1e-5, atol=1e-5)
    mean = x @ state["0.weight_mu"].T + (state["0.bias_mu"][None, :] if bias else 0)
    np.testing.assert_allclose(layer.apply(variables, x), mean, rtol=1e-5, atol=1e-5)
