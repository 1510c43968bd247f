"""Flax networks on arrays (no TensorDicts): TorchRL's ``torchrl.modules.models``."""

from jaxrl_modules.models.activations import known_layer_names, make_layer
from jaxrl_modules.models.convnet import Conv2dNet, ConvNet
from jaxrl_modules.models.ddpg import (
    AdaptiveAvgPool2d,
    DdpgCnnActor,
    DdpgCnnQNet,
    DdpgMlpActor,
    DdpgMlpQNet,
    ddpg_last_layer_init,
)
from jaxrl_modules.models.decision_transformer import (
    DecisionTransformer,
    DTActor,
    DTConfig,
    GPT2Model,
    OnlineDTActor,
    gpt2_activation,
)
from jaxrl_modules.models.dueling import DuelingCnnDQNet, DuelingMlpDQNet
from jaxrl_modules.models.layers import (
    Conv2d,
    ConvTranspose2d,
    Linear,
    SquashDims,
    Squeeze2dLayer,
    SqueezeLayer,
    call_accepts,
    torch_default_init,
)
from jaxrl_modules.models.mixers import Mixer, QMixer, VDNMixer
from jaxrl_modules.models.mlp import MLP
from jaxrl_modules.models.model_based import (
    DreamerActor,
    ObsDecoder,
    ObsEncoder,
    RSSMPosterior,
    RSSMPrior,
)
from jaxrl_modules.models.multiagent import MultiAgentConvNet, MultiAgentMLP, MultiAgentNetBase
from jaxrl_modules.models.noisy import (
    NOISE_COLLECTION,
    NoisyLazyLinear,
    NoisyLinear,
    factorised_noise,
    reset_noise,
)
from jaxrl_modules.models.param_extractor import (
    AddStateIndependentNormalScale,
    NormalParamExtractor,
    NormalParamWrapper,
)
from jaxrl_modules.models.recurrent import GRU, LSTM, GRUCell, LSTMCell, LSTMNet, gru_scan, lstm_scan

__all__ = [
    "GRU",
    "GRUCell",
    "LSTM",
    "LSTMCell",
    "LSTMNet",
    "gru_scan",
    "lstm_scan",
    "AdaptiveAvgPool2d",
    "DdpgCnnActor",
    "DdpgCnnQNet",
    "DdpgMlpActor",
    "DdpgMlpQNet",
    "ddpg_last_layer_init",
    "Mixer",
    "QMixer",
    "VDNMixer",
    "MultiAgentConvNet",
    "MultiAgentMLP",
    "MultiAgentNetBase",
    "AddStateIndependentNormalScale",
    "NormalParamExtractor",
    "NormalParamWrapper",
    "Conv2d",
    "DecisionTransformer",
    "DTActor",
    "DTConfig",
    "GPT2Model",
    "OnlineDTActor",
    "gpt2_activation",
    "Conv2dNet",
    "ConvTranspose2d",
    "DreamerActor",
    "ObsDecoder",
    "ObsEncoder",
    "RSSMPosterior",
    "RSSMPrior",
    "ConvNet",
    "DuelingCnnDQNet",
    "DuelingMlpDQNet",
    "Linear",
    "MLP",
    "NOISE_COLLECTION",
    "NoisyLazyLinear",
    "NoisyLinear",
    "SquashDims",
    "Squeeze2dLayer",
    "SqueezeLayer",
    "call_accepts",
    "known_layer_names",
    "factorised_noise",
    "make_layer",
    "reset_noise",
    "torch_default_init",
]
