"""Flax networks on arrays (no TensorDicts): TorchRL's ``torchrl.modules.models``."""

from jaxrl_modules.models.activations import known_layer_names, make_layer
from jaxrl_modules.models.convnet import Conv2dNet, ConvNet
from jaxrl_modules.models.dueling import DuelingCnnDQNet, DuelingMlpDQNet
from jaxrl_modules.models.layers import (
    Conv2d,
    Linear,
    SquashDims,
    Squeeze2dLayer,
    SqueezeLayer,
    call_accepts,
    torch_default_init,
)
from jaxrl_modules.models.mlp import MLP
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

__all__ = [
    "AddStateIndependentNormalScale",
    "NormalParamExtractor",
    "NormalParamWrapper",
    "Conv2d",
    "Conv2dNet",
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
