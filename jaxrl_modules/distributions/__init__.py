"""Distributions (distrax.Distribution subclasses with our own numerics): TorchRL's
``torchrl.modules.distributions``. The only package that imports distrax."""

from jaxrl_modules.distributions.delta import Delta, TanhDelta
from jaxrl_modules.distributions.discrete import OneHotCategorical, ReparamGradientStrategy
from jaxrl_modules.distributions.masked import MaskedCategorical, MaskedOneHotCategorical
from jaxrl_modules.distributions.normal import IndependentNormal
from jaxrl_modules.distributions.tanh_normal import TanhNormal
from jaxrl_modules.distributions.truncated_normal import TruncatedNormal

__all__ = [
    "Delta",
    "IndependentNormal",
    "TanhDelta",
    "TanhNormal",
    "TruncatedNormal",
    "MaskedCategorical",
    "MaskedOneHotCategorical",
    "OneHotCategorical",
    "ReparamGradientStrategy",
]
