"""Degenerate sizes in every network constructor, recurrent mode without a time dim, batch checks
in vmapped modules (issue 20): each bad input fails at construction or trace time, naming the
class and the argument; the valid edge cases next to them keep working."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrl_modules import TensorDict, TensorDictModule, VmapModule
from jaxrl_modules.data.specs import Unbounded
from jaxrl_modules.models import (
    GRU,
    LSTM,
    MLP,
    AdaptiveAvgPool2d,
    AddStateIndependentNormalScale,
    Conv2d,
    ConvNet,
    ConvTranspose2d,
    DdpgCnnActor,
    DdpgCnnQNet,
    DdpgMlpActor,
    DdpgMlpQNet,
    DecisionTransformer,
    DreamerActor,
    DTActor,
    DuelingCnnDQNet,
    DuelingMlpDQNet,
    GPT2Model,
    GRUCell,
    Linear,
    LSTMCell,
    LSTMNet,
    MultiAgentConvNet,
    MultiAgentMLP,
    NoisyLinear,
    NormalParamExtractor,
    ObsDecoder,
    ObsEncoder,
    OnlineDTActor,
    QMixer,
    RSSMPosterior,
    RSSMPrior,
    SquashDims,
    VDNMixer,
    make_layer,
)
from jaxrl_modules.tensordict_module.rnn import GRUModule, LSTMModule

NAN, INF = float("nan"), float("inf")


# ------------------------------------------------------------------ MLP (the issue's own cases)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(out_features=2, num_cells=0, depth=2), r"MLP: num_cells must be a positive int, got 0"),
        (dict(out_features=2, num_cells=-3, depth=2), r"MLP: num_cells must be a positive int, got -3"),
        (dict(out_features=2, depth=-1), r"MLP: depth must be an int >= 0 or None, got -1"),
        (dict(out_features=2, depth=-1, num_cells=[]), r"MLP: depth must be an int >= 0"),
        (dict(out_features=0), r"MLP: out_features must be a positive int, got 0"),
        (dict(out_features=-2, num_cells=[4]), r"MLP: out_features must be a positive int, got -2"),
        (dict(out_features=(3, 0)), r"MLP: out_features must hold positive ints, got \(3, 0\) \(entry 1 is 0\)"),
        (
            dict(out_features=2, num_cells=[8, 0]),
            r"MLP: num_cells must hold positive ints, got \[8, 0\] \(entry 1 is 0\)",
        ),
        (dict(out_features=2, num_cells=[8, 8], depth=3), r"MLP: depth=3 conflicts with num_cells=\[8, 8\]"),
        (dict(out_features=2, num_cells=[8], depth=0), r"depth=0 conflicts with num_cells=\[8\]"),
        (dict(out_features=2, in_features=0), r"MLP: in_features must be a positive int or None, got 0"),
        (dict(out_features=2, depth=1, dropout=1.0), r"MLP: dropout must be a number in \[0, 1\) or None, got 1.0"),
        (dict(out_features=2, depth=1, dropout=-0.1), r"MLP: dropout must be a number in \[0, 1\)"),
        (dict(out_features=2, depth=2.0), r"MLP: depth must be an int"),
        (dict(out_features=True), r"MLP: out_features must be an int or a sequence of ints, got True"),
    ],
)
def test_mlp_degenerate_sizes_raise_at_construction(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MLP(**kwargs)


def test_mlp_valid_edge_cases_still_build():
    x = jnp.ones((3, 4))
    for net, shape in [
        (MLP(out_features=2, depth=0, num_cells=[]), (3, 2)),  # DdpgMlpQNet's mlp1: one layer
        (MLP(out_features=2, depth=0, num_cells=8), (3, 2)),
        (MLP(out_features=(), num_cells=[8]), (3,)),  # a scalar output per row
        (MLP(out_features=np.int64(2), num_cells=[np.int32(8)]), (3, 2)),
        (MLP(out_features=2, depth=1, dropout=0.0), (3, 2)),
    ]:
        assert net.apply(net.init(jax.random.key(0), x), x, deterministic=True).shape == shape


# ------------------------------------------------------------------ layers and ConvNet


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: Linear(0), r"Linear: features must be a positive int, got 0"),
        (lambda: Conv2d(0, 3), r"Conv2d: features must be a positive int, got 0"),
        (lambda: Conv2d(4, (3, 0)), r"Conv2d: kernel_size must hold positive ints, got \(3, 0\)"),
        (lambda: Conv2d(4, 3, strides=0), r"Conv2d: strides must be a positive int, got 0"),
        (lambda: Conv2d(4, 3, padding=-1), r"Conv2d: padding must be an int >= 0, got -1"),
        (lambda: Conv2d(4, 3, padding="full"), r"Conv2d: padding must be 'valid' or 'same'"),
        (lambda: ConvTranspose2d(0, 3), r"ConvTranspose2d: features must be a positive int"),
        (lambda: ConvTranspose2d(4, 3, strides=(2, 0)), r"ConvTranspose2d: strides must hold positive ints"),
        (lambda: SquashDims(0), r"SquashDims: ndims_in must be a positive int, got 0"),
        (lambda: AdaptiveAvgPool2d((0, 1)), r"AdaptiveAvgPool2d: output_size must be a positive int or None, got 0"),
        (lambda: AdaptiveAvgPool2d((1, 1, 1)), r"AdaptiveAvgPool2d: output_size must be an int or a pair"),
        (lambda: ConvNet(depth=-1), r"ConvNet: depth must be an int >= 0 or None, got -1"),
        (lambda: ConvNet(num_cells=[8, 0]), r"ConvNet: num_cells\[1\] must be a positive int, got 0"),
        (lambda: ConvNet(num_cells=[8, -8]), r"ConvNet: num_cells\[1\] must be a positive int, got -8"),
        (lambda: ConvNet(kernel_sizes=0), r"ConvNet: kernel_sizes\[0\] must be a positive int, got 0"),
        (lambda: ConvNet(strides=[1, 0, 1]), r"ConvNet: strides\[1\] must be a positive int, got 0"),
        (lambda: ConvNet(paddings=-1), r"ConvNet: paddings\[0\] must be an int >= 0, got -1"),
        (lambda: ConvNet(paddings="full"), r"ConvNet: paddings\[0\] must be an int, a pair, 'valid' or 'same'"),
        (lambda: ConvNet(in_features=0), r"ConvNet: in_features must be a positive int or None, got 0"),
        (lambda: ConvNet(num_cells=[]), r"ConvNet: Null depth is not permitted"),
    ],
)
def test_layer_and_convnet_sizes_raise_at_construction(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_norm_layer_sizes_are_checked_as_pytorch_does():
    key, x = jax.random.key(0), jnp.ones((3, 4))
    # PyTorch refuses a LayerNorm whose normalized_shape is not the input's trailing dims; flax
    # alone would normalise the 8 features whatever normalized_shape says.
    bad = MLP(out_features=2, num_cells=[8], norm_class="LayerNorm", norm_kwargs={"normalized_shape": 16})
    with pytest.raises(ValueError, match=r"LayerNorm\(normalized_shape=16\) got an input of shape \(3, 8\)"):
        bad.init(key, x)
    good = MLP(out_features=2, num_cells=[8], norm_class="LayerNorm", norm_kwargs={"normalized_shape": 8})
    assert good.apply(good.init(key, x), x).shape == (3, 2)
    frames = jnp.ones((2, 8, 8, 3))
    conv = ConvNet(num_cells=[4], norm_class="BatchNorm2d", norm_kwargs={"num_features": 5})
    with pytest.raises(ValueError, match=r"BatchNorm\(num_features=5\) got an input of shape \(2, 6, 6, 4\)"):
        conv.init(key, frames)
    conv = ConvNet(num_cells=[4], norm_class="BatchNorm2d", norm_kwargs={"num_features": 4})
    assert conv.init(key, frames)["batch_stats"]["norm_0"]["mean"].shape == (4,)
    with pytest.raises(ValueError, match=r"LayerNorm: normalized_shape must be a positive int, got 0"):
        make_layer("LayerNorm", {"normalized_shape": 0})
    with pytest.raises(ValueError, match=r"Hardtanh: max_val must be greater than or equal to min_val"):
        make_layer("Hardtanh", {"min_val": 1.0, "max_val": -1.0})


@pytest.mark.parametrize("std_init", [INF, NAN, -0.1])
def test_noisy_linear_refuses_a_non_finite_or_negative_std_init(std_init):
    with pytest.raises(ValueError, match="NoisyLinear std_init must be a non-negative finite number"):
        NoisyLinear(3, std_init=std_init)


# ------------------------------------------------------------------ containers name their kwargs


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: DdpgMlpActor(0), r"DdpgMlpActor: action_dim must be a positive int, got 0"),
        (lambda: DdpgCnnActor(-1), r"DdpgCnnActor: action_dim must be a positive int, got -1"),
        (
            lambda: DdpgMlpActor(2, mlp_net_kwargs={"num_cells": [0, 3]}),
            r"DdpgMlpActor mlp_net_kwargs: MLP: num_cells must hold positive ints",
        ),
        (
            lambda: DdpgCnnActor(2, conv_net_kwargs={"strides": [4, 0, 1]}),
            r"DdpgCnnActor conv_net_kwargs: ConvNet: strides\[1\] must be a positive int",
        ),
        (
            lambda: DdpgCnnQNet(mlp_net_kwargs={"depth": -2}),
            r"DdpgCnnQNet mlp_net_kwargs: MLP: depth must be an int >= 0",
        ),
        (
            lambda: DdpgMlpQNet(mlp_net_kwargs_net1={"out_features": 0}),
            r"DdpgMlpQNet mlp_net_kwargs_net1: MLP: out_features must be a positive int",
        ),
        (
            lambda: DuelingMlpDQNet(3, mlp_kwargs_output={"num_cells": 0}),
            r"DuelingMlpDQNet mlp_kwargs_output: MLP: num_cells must be a positive int",
        ),
        (
            lambda: DuelingMlpDQNet(3, mlp_kwargs_feature={"out_features": 0}),
            r"DuelingMlpDQNet mlp_kwargs_feature: MLP: out_features must be a positive int",
        ),
        (
            lambda: DuelingCnnDQNet(3, cnn_kwargs={"num_cells": [8, 0, 8]}),
            r"DuelingCnnDQNet cnn_kwargs: ConvNet: num_cells\[1\] must be a positive int",
        ),
        (lambda: DuelingMlpDQNet(out_features=(3, 0)), r"out_features must be a positive int or a shape of them"),
    ],
)
def test_ddpg_and_dueling_sizes_raise_at_construction(build, message):
    # Before, the DDPG nets built their MLP/ConvNet in setup: a bad size surfaced only at init.
    with pytest.raises(ValueError, match=message):
        build()


# ------------------------------------------------------------------ recurrent nets


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: LSTM(hidden_size=0), r"LSTM: hidden_size must be a positive int, got 0"),
        (lambda: GRU(hidden_size=2.5), r"GRU: hidden_size must be a positive int, got 2.5"),
        (lambda: LSTM(hidden_size=3, num_layers=0), r"LSTM: num_layers must be a positive int, got 0"),
        (lambda: GRU(hidden_size=3, num_layers=1.5), r"GRU: num_layers must be a positive int, got 1.5"),
        (lambda: LSTM(hidden_size=3, dropout=1.0), r"LSTM: dropout must be a number in \[0, 1\), got 1.0"),
        (lambda: LSTM(hidden_size=3, dropout=NAN), r"LSTM: dropout must be a number in \[0, 1\)"),
        (lambda: LSTM(hidden_size=3, input_size=0), r"LSTM: input_size must be a positive int or None"),
        (lambda: GRUCell(hidden_size=-1), r"GRUCell: hidden_size must be a positive int, got -1"),
        (lambda: LSTMCell(hidden_size=3, input_size=0), r"LSTMCell: input_size must be a positive int or None"),
        (lambda: LSTMNet(0, {"hidden_size": 3}, {"out_features": 3}), r"LSTMNet: out_features must be a positive int"),
        (
            lambda: LSTMNet(2, {"hidden_size": 0}, {"out_features": 3}),
            r"LSTMNet lstm_kwargs: LSTM: hidden_size must be a positive int, got 0",
        ),
        (
            lambda: LSTMNet(2, {"hidden_size": 3}, {"out_features": 3, "depth": -1}),
            r"LSTMNet mlp_kwargs: MLP: depth must be an int >= 0",
        ),
        (
            lambda: LSTMModule(hidden_size=3, num_layers=0, in_key="obs", out_key="emb"),
            r"LSTM: num_layers must be a positive int, got 0",
        ),
        (
            lambda: GRUModule(hidden_size=3, dropout=1.5, in_key="obs", out_key="emb"),
            r"GRU: dropout must be a number in \[0, 1\), got 1.5",
        ),
    ],
)
def test_recurrent_sizes_raise_at_construction(build, message):
    with pytest.raises(ValueError, match=message):
        build()


# ------------------------------------------------------------------ Decision Transformer, Dreamer


@pytest.mark.parametrize(
    "build, message",
    [
        # n_head=0 used to be a ZeroDivisionError from n_embd % n_head.
        (
            lambda: DecisionTransformer(3, 2, {"n_head": 0}),
            r"DecisionTransformer: config.n_head must be a positive int, got 0",
        ),
        (lambda: DecisionTransformer(3, 2, {"n_layer": 0}), r"config.n_layer must be a positive int, got 0"),
        (lambda: DecisionTransformer(3, 2, {"n_embd": 10, "n_head": 4}), r"n_embd=10 must be divisible by n_head=4"),
        (lambda: DecisionTransformer(3, 2, {"n_inner": 0}), r"config.n_inner must be a positive int or None, got 0"),
        (lambda: DecisionTransformer(3, 2, {"n_positions": 0}), r"config.n_positions must be a positive int"),
        (lambda: DecisionTransformer(0, 2), r"DecisionTransformer: state_dim must be a positive int, got 0"),
        (lambda: DTActor(3, 0), r"DTActor: action_dim must be a positive int, got 0"),
        (
            lambda: OnlineDTActor(3, 2, {"attn_pdrop": 1.5}),
            r"OnlineDTActor: transformer_config.attn_pdrop must be a number in \[0, 1\), got 1.5",
        ),
        (lambda: GPT2Model({"n_embd": -4, "n_head": 1}), r"GPT2Model: config.n_embd must be a positive int, got -4"),
        (lambda: GPT2Model({"layer_norm_epsilon": 0.0}), r"config.layer_norm_epsilon must be a finite number > 0.0"),
        (lambda: GPT2Model(vocab_size=0), r"GPT2Model: vocab_size must be a positive int or None, got 0"),
        (lambda: DreamerActor(0), r"DreamerActor: out_features must be a positive int, got 0"),
        (lambda: DreamerActor(2, depth=-1), r"DreamerActor depth/num_cells: MLP: depth must be an int >= 0"),
        (lambda: DreamerActor(2, num_cells=0), r"DreamerActor depth/num_cells: MLP: num_cells must be a positive int"),
        (lambda: ObsEncoder(channels=0), r"ObsEncoder: channels must be a positive int, got 0"),
        (lambda: ObsEncoder(num_layers=1.5), r"ObsEncoder: num_layers cannot be smaller than 1, got 1.5"),
        (lambda: ObsDecoder(kernel_sizes=[5, 0, 6, 6]), r"ObsDecoder: kernel_sizes must hold positive ints"),
        (lambda: ObsDecoder(out_channels=0), r"ObsDecoder: out_channels must be a positive int, got 0"),
        (lambda: RSSMPrior(Unbounded(shape=(2,)), state_dim=0), r"RSSMPrior: state_dim must be a positive int, got 0"),
        (
            lambda: RSSMPrior(Unbounded(shape=(2,)), rnn_hidden_dim=-1),
            r"RSSMPrior: rnn_hidden_dim must be a positive int",
        ),
        (lambda: RSSMPosterior(hidden_dim=0), r"RSSMPosterior: hidden_dim must be a positive int, got 0"),
        (lambda: RSSMPosterior(scale_lb=NAN), r"RSSMPosterior: scale_lb must be a finite number >= 0.0, got nan"),
    ],
)
def test_transformer_and_dreamer_sizes_raise_at_construction(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_obs_decoder_int_kernel_default_for_other_depths():
    decoder = ObsDecoder(channels=4, num_layers=2)  # kernel 5 repeated, as TorchRL
    assert decoder._kernels() == [5, 5]


# ------------------------------------------------------------------ multi-agent nets, mixers, heads


@pytest.mark.parametrize(
    "build, message",
    [
        (
            lambda: MultiAgentMLP(4, 0, 3, centralized=False, share_params=True),
            r"MultiAgentMLP: n_agent_outputs must be a positive int, got 0",
        ),
        (
            lambda: MultiAgentMLP(0, 2, 3, centralized=False, share_params=True),
            r"MultiAgentMLP: n_agent_inputs must be a positive int or None, got 0",
        ),
        (
            lambda: MultiAgentMLP(4, 2, 3, centralized=False, share_params=False, depth=2, num_cells=0),
            r"MultiAgentMLP \(per-agent network\): MLP: num_cells must be a positive int, got 0",
        ),
        (
            lambda: MultiAgentConvNet(3, False, False, num_cells=[8, 0]),
            r"MultiAgentConvNet \(per-agent network\): ConvNet: num_cells\[1\] must be a positive int",
        ),
        (
            lambda: MultiAgentConvNet(3, False, False, in_features=0),
            r"MultiAgentConvNet: in_features must be a positive int",
        ),
        (lambda: VDNMixer(0), r"VDNMixer: n_agents must be a positive int, got 0"),
        (
            lambda: QMixer(state_shape=(2, 0), mixing_embed_dim=4, n_agents=2),
            r"QMixer: state_shape must hold positive ints",
        ),
        (
            lambda: QMixer(state_shape=5, mixing_embed_dim=0, n_agents=2),
            r"QMixer: mixing_embed_dim must be a positive int",
        ),
        (
            lambda: QMixer(state_shape=5, mixing_embed_dim=3, n_agents=0),
            r"QMixer: n_agents must be a positive int, got 0",
        ),
        (lambda: NormalParamExtractor(scale_lb=NAN), r"NormalParamExtractor: scale_lb must be a finite number >= 0.0"),
        (
            lambda: AddStateIndependentNormalScale(scale_shape=(2, 0)),
            r"AddStateIndependentNormalScale: scale_shape must hold positive ints",
        ),
        (lambda: AddStateIndependentNormalScale(init_value=INF), r"init_value must be a finite number, got inf"),
    ],
)
def test_multiagent_mixer_and_head_sizes_raise_at_construction(build, message):
    # The per-agent network used to be built at the first call only: a bad size surfaced at init.
    with pytest.raises(ValueError, match=message):
        build()


def test_numpy_sizes_are_accepted():
    net = MultiAgentMLP(4, 2, np.int64(3), centralized=False, share_params=False)
    x = jnp.ones((5, 3, 4))
    assert net.apply(net.init(jax.random.key(0), x), x).shape == (5, 3, 2)
    assert QMixer(state_shape=np.int64(5), mixing_embed_dim=3, n_agents=2).state_shape == (5,)


# ------------------------------------------------------------------ recurrent mode needs [*B, T]

B, T, IN, H = 4, 5, 3, 6


@pytest.fixture(scope="module", params=["lstm", "gru"])
def recurrent(request):
    cls = LSTMModule if request.param == "lstm" else GRUModule
    module = cls(input_size=IN, hidden_size=H, in_key="obs", out_key="emb")
    step = TensorDict({"obs": jnp.zeros((B, IN)), "is_init": jnp.ones(B, bool)}, [B])
    return module, module.init(jax.random.key(0), step)


def test_recurrent_mode_refuses_a_batch_without_time(recurrent):
    """The issue's case: B environments at one step, [B], in recurrent mode ran as one sequence of
    length B (its outputs differed from stepping the B environments by ~0.05)."""
    module, variables = recurrent
    obs = jax.random.normal(jax.random.key(1), (B, IN))
    td = TensorDict({"obs": obs, "is_init": jnp.zeros(B, bool).at[0].set(True)}, [B])
    name = type(module).__name__
    with pytest.raises(
        ValueError,
        match=rf"{name} in recurrent mode needs a time dim.*batch_size \[\*B, T\].*"
        r"got batch_size \[4\].*recurrent_mode=False.*td.reshape\(1, T\)",
    ):
        module.apply(variables, td, recurrent_mode=True)
    with pytest.raises(ValueError, match="needs a time dim"):  # a trace-time error, under jit too
        jax.jit(lambda v, td: module.apply(v, td, recurrent_mode=True))(variables, td)
    with pytest.raises(ValueError, match="needs a time dim"):  # and through the default-mode field
        module.clone(default_recurrent_mode=True).apply(variables, td)
    # The two readings the error offers, each unambiguous:
    stepped = module.apply(variables, td)["emb"]  # one step of B environments
    one_seq = module.apply(variables, td.reshape(1, B), recurrent_mode=True)["emb"][0]  # a sequence of B steps
    assert stepped.shape == one_seq.shape == (B, H)
    assert not np.allclose(stepped[1:], one_seq[1:], atol=1e-3)  # they really differ: no silent choice
    seq = TensorDict({"obs": obs[:, None], "is_init": td["is_init"][:, None]}, [B, 1])
    np.testing.assert_allclose(module.apply(variables, seq, recurrent_mode=True)["emb"][:, 0], stepped, atol=1e-6)


def test_recurrent_mode_reads_time_from_the_batch_size(recurrent):
    module, variables = recurrent
    # A [] TensorDict holding [B, T, in] used to be run as B sequences; the time axis must be a batch dim.
    with pytest.raises(ValueError, match=r"needs a time dim.*got batch_size \[\]"):
        module.apply(
            variables, TensorDict({"obs": jnp.ones((B, T, IN)), "is_init": jnp.ones((B, T), bool)}), recurrent_mode=True
        )
    # Extra dims after the batch used to become the time axis (T := 2 here), silently.
    with pytest.raises(
        ValueError,
        match=r"in_key 'obs' must have shape \[\*B, T, features\] = \[4, 5, features\].*"
        r"got \(4, 5, 2, 3\)",
    ):
        module.apply(
            variables,
            TensorDict({"obs": jnp.ones((B, T, 2, IN)), "is_init": jnp.ones((B, T), bool)}, [B, T]),
            recurrent_mode=True,
        )
    # The array call form reads the value's leading dims as [*B, T].
    emb = module.apply(variables, obs=jnp.ones((B, T, IN)), is_init=jnp.zeros((B, T), bool), recurrent_mode=True)[0]
    assert emb.shape == (B, T, H)
    with pytest.raises(ValueError, match=r"needs a time dim.*got batch_size \[4\]"):
        module.apply(variables, obs=jnp.ones((B, IN)), is_init=jnp.zeros(B, bool), recurrent_mode=True)
    # Under vmap each example's TensorDict must still be [*B, T]: [1, T] per example works.
    obs = jax.random.normal(jax.random.key(2), (B, 1, T, IN))

    def one(o):
        td = TensorDict({"obs": o, "is_init": jnp.zeros((1, T), bool).at[:, 0].set(True)}, [1, T])
        return module.apply(variables, td, recurrent_mode=True)["emb"]

    batched = jax.vmap(one)(obs)
    np.testing.assert_allclose(batched[2], one(obs[2]), atol=1e-6)


# ------------------------------------------------------------------ VmapModule


def test_vmap_module_checks_its_batch():
    inner = TensorDictModule(MLP(out_features=2), in_keys=["x"], out_keys=["y"])
    vm = VmapModule(inner)
    td = TensorDict({"x": jnp.ones((4, 3, 5))}, batch_size=[4, 3])
    assert vm.apply(vm.init(jax.random.key(0), td), td)["y"].shape == (4, 3, 2)
    # No batch dim: mapping over the leaf's first dim would treat its event dim as a batch.
    with pytest.raises(ValueError, match=r"VmapModule\(TensorDictModule\) maps over a batch dim.*got batch_size \[\]"):
        vm.init(jax.random.key(0), TensorDict({"x": jnp.ones((4, 5))}))
    with pytest.raises(
        ValueError, match=r"VmapModule\(TensorDictModule\): vmap_dim 2 is out of range for batch_size \[4, 3\]"
    ):
        VmapModule(inner, vmap_dim=2).init(jax.random.key(0), td)
    with pytest.raises(TypeError, match="VmapModule: vmap_dim must be an int"):
        VmapModule(inner, vmap_dim=1.0)
    with pytest.raises(TypeError, match="VmapModule: module must be a key-based module"):
        VmapModule(MLP(out_features=2))
