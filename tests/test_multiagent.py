"""models/multiagent.py and models/mixers.py: stacked per-agent parameters, the four modes, mixers."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_modules.data.tensordict import TensorDict
from jaxrl_modules.models.mixers import QMixer, VDNMixer
from jaxrl_modules.models.mlp import MLP
from jaxrl_modules.models.multiagent import MultiAgentConvNet, MultiAgentMLP
from jaxrl_modules.tensordict_module.module import TensorDictModule

N = 3
X = jax.random.normal(jax.random.key(1), (5, N, 4))  # [B, n_agents, n_agent_inputs]
IMAGES = jax.random.normal(jax.random.key(2), (2, N, 9, 9, 2))  # [B, n_agents, H, W, C]
SMALL_CONV = dict(num_cells=[4, 4], kernel_sizes=3, strides=2)  # 9 -> 4 -> 1


def _mlp(centralized, share_params, **kwargs):
    return MultiAgentMLP(4, 2, N, centralized=centralized, share_params=share_params, depth=1, num_cells=8, **kwargs)


def _shapes(tree):
    return jax.tree_util.tree_map(jnp.shape, tree)


# ----------------------------------------------------------------------------- parameter layout (TorchRL #2904)


@pytest.mark.parametrize("centralized", [False, True])
def test_separate_parameters_are_stacked_on_a_leading_agent_axis_and_shared_have_none(key, centralized):
    n_in = 4 * N if centralized else 4
    separate = jax.eval_shape(_mlp(centralized, False).init, key, X)["params"]
    assert _shapes(separate) == {
        "agent_networks": {
            "linear_0": {"kernel": (N, n_in, 8), "bias": (N, 8)},
            "linear_1": {"kernel": (N, 8, 2), "bias": (N, 2)},
        }
    }
    shared = jax.eval_shape(_mlp(centralized, True).init, key, X)["params"]
    assert _shapes(shared) == {
        "shared_network": {
            "linear_0": {"kernel": (n_in, 8), "bias": (8,)},
            "linear_1": {"kernel": (8, 2), "bias": (2,)},
        }
    }
    assert "stacked on a leading axis of size n_agents=3" in repr(_mlp(centralized, False))
    assert "shared by all agents" in repr(_mlp(centralized, True))


def test_defaults_are_a_single_linear_per_agent_as_torchrl(key):
    params = jax.eval_shape(MultiAgentMLP(4, 2, N, centralized=False, share_params=False).init, key, X)["params"]
    assert _shapes(params) == {"agent_networks": {"linear_0": {"kernel": (N, 4, 2), "bias": (N, 2)}}}


def test_each_agent_has_its_own_initialisation(key):
    kernel = _mlp(False, False).init(key, X)["params"]["agent_networks"]["linear_0"]["kernel"]
    assert not np.allclose(kernel[0], kernel[1]) and not np.allclose(kernel[1], kernel[2])
    assert float(jnp.abs(kernel).max()) <= 0.5  # PyTorch's bound 1/sqrt(4) per agent


# ----------------------------------------------------------------------------- the four modes


@pytest.mark.parametrize("centralized,share_params", [(False, False), (False, True), (True, False), (True, True)])
def test_modes_equal_a_plain_mlp_per_agent(key, centralized, share_params):
    net = _mlp(centralized, share_params)
    variables = net.init(key, X)
    out = net.apply(variables, X)
    assert out.shape == (5, N, 2) and out.dtype == jnp.float32
    single = MLP(out_features=2, depth=1, num_cells=8, activation_class="Tanh")
    inputs = X.reshape(5, -1) if centralized else None
    for i in range(N):
        params = (
            variables["params"]["shared_network"]
            if share_params
            else jax.tree_util.tree_map(lambda p, i=i: p[i], variables["params"]["agent_networks"])
        )
        expected = single.apply({"params": params}, X[:, i] if inputs is None else inputs)
        np.testing.assert_allclose(out[:, i], expected, atol=1e-6)


def test_decentralised_agents_only_see_their_own_input(key):
    net = _mlp(False, False)
    variables = net.init(key, X)
    moved = net.apply(variables, X.at[:, 0].add(1.0)) - net.apply(variables, X)
    assert float(jnp.abs(moved[:, 0]).max()) > 1e-3 and float(jnp.abs(moved[:, 1:]).max()) == 0.0


def test_several_inputs_are_concatenated_and_centralised_alias(key):
    net = MultiAgentMLP(4, 2, N, centralised=True, share_params=False)
    assert net.centralized is True
    variables = net.init(key, X)
    np.testing.assert_allclose(net.apply(variables, X[..., :1], X[..., 1:]), net.apply(variables, X), atol=1e-6)


@pytest.mark.parametrize("randomness", ["different", "same"])
def test_dropout_masks_per_agent(key, randomness):
    net = _mlp(False, False, dropout=0.5, vmap_randomness=randomness)
    variables = net.init(key, X, deterministic=True)
    same_params = jax.tree_util.tree_map(lambda p: jnp.broadcast_to(p[:1], p.shape), variables)
    same_inputs = jnp.broadcast_to(X[:, :1], X.shape)
    out = net.apply(same_params, same_inputs, rngs={"dropout": jax.random.key(7)})
    identical = bool(jnp.allclose(out[:, 0], out[:, 1])) and bool(jnp.allclose(out[:, 1], out[:, 2]))
    assert identical == (randomness == "same")
    det = net.apply(same_params, same_inputs, deterministic=True)
    assert bool(jnp.allclose(det[:, 0], det[:, 2]))


def test_jit_vmap_and_gradients(key):
    net = _mlp(False, False)
    variables = net.init(key, X)
    eager = net.apply(variables, X)
    np.testing.assert_allclose(jax.jit(net.apply)(variables, X), eager, atol=1e-6)
    rows = jax.vmap(net.apply, in_axes=(None, 0))(variables, X)  # each row [n_agents, F] alone
    np.testing.assert_allclose(rows, eager, atol=1e-6)
    grads = jax.jit(jax.grad(lambda v: net.apply(v, X).sum()))(variables)
    assert all(bool(jnp.isfinite(g).all()) for g in jax.tree_util.tree_leaves(grads))
    assert float(jnp.abs(grads["params"]["agent_networks"]["linear_0"]["kernel"][2]).max()) > 0


# ----------------------------------------------------------------------------- ConvNet


@pytest.mark.parametrize("centralized,share_params", [(False, False), (True, True)])
def test_convnet_shapes_and_layouts(key, centralized, share_params):
    net = MultiAgentConvNet(N, centralized, share_params, in_features=2, **SMALL_CONV)
    variables = net.init(key, IMAGES)
    conv0 = variables["params"]["shared_network" if share_params else "agent_networks"]["conv_0"]["kernel"]
    in_ch = 2 * N if centralized else 2
    assert conv0.shape == ((3, 3, in_ch, 4) if share_params else (N, 3, 3, in_ch, 4))
    out = net.apply(variables, IMAGES)
    assert out.shape == (2, N, 4)
    nchw = MultiAgentConvNet(N, centralized, share_params, data_format="NCHW", **SMALL_CONV)
    np.testing.assert_allclose(nchw.apply(variables, jnp.moveaxis(IMAGES, -1, -3)), out, atol=1e-5)
    if centralized and share_params:
        assert bool((out == out[:, :1]).all())


# ----------------------------------------------------------------------------- errors


def test_bad_arguments_and_inputs_raise(key):
    with pytest.raises(TypeError, match="MultiAgentMLP: the centralized argument must be passed"):
        MultiAgentMLP(4, 2, N, share_params=True)
    with pytest.raises(TypeError, match="MultiAgentConvNet: the share_params argument must be passed"):
        MultiAgentConvNet(N, centralized=True)
    with pytest.raises(ValueError, match="centralized=True and centralised=False disagree"):
        MultiAgentMLP(4, 2, N, centralized=True, centralised=False, share_params=True)
    with pytest.raises(ValueError, match="vmap_randomness must be one of"):
        _mlp(False, False, vmap_randomness="error")
    with pytest.raises(ValueError, match="n_agents must be a positive integer, got 0"):
        MultiAgentMLP(4, 2, 0, centralized=False, share_params=False)
    net = _mlp(False, False)
    with pytest.raises(
        ValueError, match=r"MultiAgentMLP\(n_agents=3\) .* the agent axis \(dim -2\) has size 2 in shape \(5, 2, 4\)"
    ):
        net.init(key, X[:, :2])
    with pytest.raises(
        ValueError, match=r"MultiAgentMLP expects inputs with an agent axis at dim -2, got shape \(4,\)"
    ):
        net.init(key, X[0, 0])
    with pytest.raises(ValueError, match=r"n_agent_inputs=4\], got shape \(5, 3, 3\)"):
        net.init(key, X[..., :3])
    conv = MultiAgentConvNet(N, False, False, **SMALL_CONV)
    with pytest.raises(
        ValueError, match=r"MultiAgentConvNet\(n_agents=3\) .* \(dim -4\) has size 2 in shape \(2, 2, 9, 9, 2\)"
    ):
        conv.init(key, IMAGES[:, :2])
    with pytest.raises(
        ValueError, match=r"MultiAgentConvNet expects inputs with an agent axis at dim -4, got shape \(9, 9, 2\)"
    ):
        conv.init(key, IMAGES[0, 0])


# ----------------------------------------------------------------------------- mixers


Q = jax.random.normal(jax.random.key(3), (4, N, 1))
STATE = jax.random.normal(jax.random.key(4), (4, 2, 5))


def test_vdn_mixer_is_callable_directly_and_in_a_tensordict_module():
    np.testing.assert_allclose(VDNMixer(n_agents=N)(Q), Q.sum(axis=-2), atol=1e-6)
    mixer = TensorDictModule(
        VDNMixer(n_agents=N), in_keys=[("agents", "chosen_action_value")], out_keys=["chosen_action_value"]
    )
    td = TensorDict({"agents": TensorDict({"chosen_action_value": Q}, [4, N])}, [4])
    assert mixer(td)["chosen_action_value"].shape == (4, 1)


def test_qmixer_parameters_monotonicity_jit_and_vmap(key):
    mixer = QMixer(state_shape=(2, 5), mixing_embed_dim=6, n_agents=N)
    variables = jax.jit(mixer.init)(key, Q, STATE)
    assert _shapes(variables["params"]) == {
        "hyper_w_1": {"kernel": (10, 6 * N), "bias": (6 * N,)},
        "hyper_w_final": {"kernel": (10, 6), "bias": (6,)},
        "hyper_b_1": {"kernel": (10, 6), "bias": (6,)},
        "V": {"layers_0": {"kernel": (10, 6), "bias": (6,)}, "layers_2": {"kernel": (6, 1), "bias": (1,)}},
    }
    out = mixer.apply(variables, Q, STATE)
    assert out.shape == (4, 1)
    np.testing.assert_allclose(jax.jit(mixer.apply)(variables, Q, STATE), out, atol=1e-6)
    rows = jax.vmap(mixer.apply, in_axes=(None, 0, 0))(variables, Q[:, None], STATE[:, None])
    np.testing.assert_allclose(rows[:, 0], out, atol=1e-6)
    dq = jax.jit(jax.grad(lambda q: mixer.apply(variables, q, STATE).sum()))(Q)
    assert bool((dq >= 0).all()) and bool(jnp.isfinite(dq).all())  # monotone in every agent's value
    grads = jax.jit(jax.grad(lambda v: mixer.apply(v, Q, STATE).sum()))(variables)
    assert all(bool(jnp.isfinite(g).all()) for g in jax.tree_util.tree_leaves(grads))


def test_mixer_bad_inputs_raise(key):
    vdn = VDNMixer(n_agents=N)
    with pytest.raises(
        ValueError, match=r"VDNMixer expected chosen_action_value \[\*B, n_agents=3, 1\], got shape \(4, 2, 1\)"
    ):
        vdn(Q[:, :2])
    with pytest.raises(ValueError, match="VDNMixer takes one input, chosen_action_value; got 2 inputs"):
        vdn(Q, STATE)
    qmix = QMixer(state_shape=(2, 5), mixing_embed_dim=6, n_agents=N)
    with pytest.raises(ValueError, match="QMixer takes two inputs, chosen_action_value and state; got 1"):
        qmix.init(key, Q)
    with pytest.raises(
        ValueError, match=r"QMixer expected a state ending with state_shape=\(2, 5\), got state shape \(4, 10\)"
    ):
        qmix.init(key, Q, STATE.reshape(4, 10))
    with pytest.raises(
        ValueError, match=r"QMixer: the batch dims of state \(3, 2, 5\) and of chosen_action_value \(4, 3, 1\) differ"
    ):
        qmix.init(key, Q, STATE[:3])
