"""models/ddpg.py: the DDPG actors and critics, their last-layer initialisation, adaptive pooling."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_modules.models.ddpg import (
    AdaptiveAvgPool2d,
    DdpgCnnActor,
    DdpgCnnQNet,
    DdpgMlpActor,
    DdpgMlpQNet,
    ddpg_last_layer_init,
)
from jaxrl_modules.models.noisy import NoisyLinear

OBS = jax.random.normal(jax.random.key(1), (4, 11))
ACT = jax.random.normal(jax.random.key(2), (4, 3))
FRAMES = jax.random.normal(jax.random.key(3), (2, 36, 36, 3))  # NHWC; 36 -> 8 -> 3 -> 3
SMALL_CNN = dict(conv_net_kwargs={"num_cells": [4, 8, 8]}, mlp_net_kwargs={"num_cells": 16})


def _shapes(tree):
    return jax.tree_util.tree_map(jnp.shape, tree)


def test_mlp_defaults_match_torchrl(key):
    actor = jax.eval_shape(DdpgMlpActor(action_dim=3).init, key, OBS)["params"]
    assert _shapes(actor) == {
        "mlp": {
            "linear_0": {"kernel": (11, 400), "bias": (400,)},
            "linear_1": {"kernel": (400, 300), "bias": (300,)},
            "linear_2": {"kernel": (300, 3), "bias": (3,)},
        }
    }
    q = jax.eval_shape(DdpgMlpQNet().init, key, OBS, ACT)["params"]
    assert _shapes(q) == {
        "mlp1": {"linear_0": {"kernel": (11, 400), "bias": (400,)}},
        "mlp2": {"linear_0": {"kernel": (403, 300), "bias": (300,)}, "linear_1": {"kernel": (300, 1), "bias": (1,)}},
    }


@pytest.mark.parametrize("cls,pool,channels", [(DdpgCnnActor, False, 64), (DdpgCnnQNet, True, 128)])
def test_cnn_defaults_match_torchrl(key, cls, pool, channels):
    net = cls(action_dim=3) if cls is DdpgCnnActor else cls()
    args = (FRAMES,) if cls is DdpgCnnActor else (FRAMES, ACT[:2])
    params = _shapes(jax.eval_shape(net.init, key, *args)["params"])
    assert params["convnet"] == {
        "conv_0": {"kernel": (8, 8, 3, 32), "bias": (32,)},
        "conv_1": {"kernel": (4, 4, 32, 64), "bias": (64,)},
        "conv_2": {"kernel": (3, 3, 64, channels), "bias": (channels,)},
    }
    features = channels if pool else channels * 3 * 3
    extra = 0 if cls is DdpgCnnActor else 3
    assert params["mlp"]["linear_0"]["kernel"] == (features + extra, 200)
    assert params["mlp"]["linear_2"]["kernel"] == (200, 3 if cls is DdpgCnnActor else 1)


@pytest.mark.parametrize("scale", [6e-4, 6e-3])
def test_ddpg_last_layer_init_is_uniform_within_half_scale(scale):
    w = np.asarray(ddpg_last_layer_init(scale)(jax.random.key(0), (4000,)))
    assert np.abs(w).max() <= scale / 2 and np.abs(w).max() > 0.99 * scale / 2
    assert abs(w.mean()) < 0.05 * scale and abs(w.std() - scale / np.sqrt(12)) < 0.05 * scale


def test_only_the_last_layer_gets_the_ddpg_scale(key):
    actor = jax.jit(DdpgMlpActor(action_dim=3).init)(key, OBS)["params"]["mlp"]
    assert float(jnp.abs(actor["linear_2"]["kernel"]).max()) <= 3e-3
    assert float(jnp.abs(actor["linear_2"]["bias"]).max()) <= 3e-3
    assert float(jnp.abs(actor["linear_1"]["kernel"]).max()) > 0.04  # PyTorch's 1/sqrt(400) = 0.05
    cnn = jax.jit(DdpgCnnActor(action_dim=3, **SMALL_CNN).init)(key, FRAMES)["params"]["mlp"]["linear_2"]
    assert 2e-4 < float(jnp.abs(cnn["kernel"]).max()) <= 3e-4
    q = jax.jit(DdpgMlpQNet().init)(key, OBS, ACT)["params"]
    assert float(jnp.abs(q["mlp2"]["linear_1"]["kernel"]).max()) <= 3e-3
    assert float(jnp.abs(q["mlp1"]["linear_0"]["kernel"]).max()) > 0.2  # 1/sqrt(11) = 0.3


def test_user_layer_kwargs_keep_the_ddpg_init_unless_they_override_it(key):
    zeros = jax.nn.initializers.zeros
    net = DdpgMlpActor(action_dim=3, mlp_net_kwargs={"num_cells": [8, 8], "layer_kwargs": {"use_bias": True}})
    assert float(jnp.abs(net.init(key, OBS)["params"]["mlp"]["linear_2"]["kernel"]).max()) <= 3e-3
    net = DdpgMlpActor(
        action_dim=3, mlp_net_kwargs={"depth": 1, "num_cells": [8], "layer_kwargs": [{}, {"kernel_init": zeros}]}
    )
    last = net.init(key, OBS)["params"]["mlp"]["linear_1"]
    assert float(jnp.abs(last["kernel"]).max()) == 0.0 and 0.0 < float(jnp.abs(last["bias"]).max()) <= 3e-3


def test_outputs_and_overrides(key):
    actor = DdpgCnnActor(action_dim=3, use_avg_pooling=True, **SMALL_CNN)
    action, hidden = jax.jit(lambda k, x: actor.apply(actor.init(k, x), x))(key, FRAMES)
    assert action.shape == (2, 3) and hidden.shape == (2, 8) and action.dtype == jnp.float32
    q = DdpgMlpQNet(mlp_net_kwargs_net1={"out_features": 16}, mlp_net_kwargs_net2={"num_cells": [8, 8]})
    variables = jax.eval_shape(q.init, key, OBS, ACT)
    assert jax.eval_shape(q.apply, variables, OBS, ACT).shape == (4, 1)
    assert variables["params"]["mlp2"]["linear_0"]["kernel"].shape == (19, 8)


def test_nhwc_and_nchw_agree_with_pooling(key):
    critic = DdpgCnnQNet(**SMALL_CNN)
    variables = critic.init(key, FRAMES, ACT[:2])
    nchw = DdpgCnnQNet(**SMALL_CNN, data_format="NCHW")
    np.testing.assert_allclose(
        critic.apply(variables, FRAMES, ACT[:2]),
        nchw.apply(variables, jnp.transpose(FRAMES, (0, 3, 1, 2)), ACT[:2]),
        atol=1e-5,
    )


def test_jit_vmap_and_gradients(key):
    critic = DdpgCnnQNet(**SMALL_CNN)
    variables = critic.init(key, FRAMES, ACT[:2])
    eager = critic.apply(variables, FRAMES, ACT[:2])
    np.testing.assert_allclose(jax.jit(critic.apply)(variables, FRAMES, ACT[:2]), eager, atol=1e-6)
    rows = jax.vmap(critic.apply, in_axes=(None, 0, 0))(variables, FRAMES, ACT[:2])  # unbatched frames
    np.testing.assert_allclose(rows, eager, atol=1e-5)
    grads = jax.jit(jax.grad(lambda v: critic.apply(v, FRAMES, ACT[:2]).sum()))(variables)
    assert all(bool(jnp.isfinite(g).all()) for g in jax.tree_util.tree_leaves(grads))
    actor = DdpgMlpActor(action_dim=3)
    v = jax.jit(actor.init)(key, OBS)
    grads = jax.jit(jax.grad(lambda o: actor.apply(v, o).sum()))(OBS)
    assert bool(jnp.isfinite(grads).all()) and float(jnp.abs(grads).max()) > 0


def test_bad_inputs_raise(key):
    q = DdpgMlpQNet()
    with pytest.raises(
        ValueError, match=r"DdpgMlpQNet concatenates the mlp1 features \(4, 400\).*\[4, action_dim\]; got \(5, 3\)"
    ):
        q.init(key, OBS, jnp.zeros((5, 3)))
    with pytest.raises(ValueError, match=r"DdpgCnnActor expects observations NHWC .* got shape \(36, 3\)"):
        DdpgCnnActor(action_dim=2).init(key, jnp.zeros((36, 3)))
    with pytest.raises(ValueError, match=r"DdpgCnnQNet: pass data_format='NCHW' to DdpgCnnQNet itself"):
        DdpgCnnQNet(conv_net_kwargs={"data_format": "NCHW"}).init(key, FRAMES, ACT[:2])
    with pytest.raises(
        ValueError, match=r"DdpgMlpActor initialises its last layer uniformly in \[-0.003, 0.003\].*NoisyLinear"
    ):
        DdpgMlpActor(action_dim=2, mlp_net_kwargs={"layer_class": NoisyLinear}).init(key, OBS)
    with pytest.raises(
        ValueError, match=r"AdaptiveAvgPool2d expects a NCHW input with at least 3 dims, got shape \(4, 4\)"
    ):
        AdaptiveAvgPool2d(1, data_format="NCHW")(jnp.ones((4, 4)))
    with pytest.raises(ValueError, match="data_format must be 'NHWC' or 'NCHW'"):
        AdaptiveAvgPool2d(1, data_format="HWC")
