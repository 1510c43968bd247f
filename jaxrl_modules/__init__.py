"""jaxrl_modules: TorchRL's module zoo (``torchrl.modules``) in JAX/Flax.

The same class names and the same key-based API (modules read ``in_keys`` from a TensorDict and
write ``out_keys``), made pure-functional: flax.linen modules over a pytree TensorDict, compiled
with jit, batched with vmap, looped with scan.
"""

from jaxrl_modules import rng
from jaxrl_modules.data import (
    Binary,
    BinaryDiscreteTensorSpec,
    Bounded,
    BoundedTensorSpec,
    Categorical,
    Composite,
    CompositeSpec,
    DiscreteTensorSpec,
    MultiCategorical,
    MultiDiscreteTensorSpec,
    MultiOneHot,
    MultiOneHotDiscreteTensorSpec,
    NestedKey,
    OneHot,
    OneHotDiscreteTensorSpec,
    TensorDict,
    TensorSpec,
    Unbounded,
    UnboundedContinuousTensorSpec,
    UnboundedDiscreteTensorSpec,
    cat,
    stack,
)
from jaxrl_modules.exploration_type import ExplorationType, InteractionType
from jaxrl_modules.models import (
    MLP,
    Conv2d,
    Conv2dNet,
    ConvNet,
    DuelingCnnDQNet,
    DuelingMlpDQNet,
    Linear,
    SquashDims,
    Squeeze2dLayer,
    SqueezeLayer,
)
from jaxrl_modules.tensordict_module import (
    DistributionalDQNnet,
    DistributionalQValueActor,
    DistributionalQValueHook,
    DistributionalQValueModule,
    QValueActor,
    QValueHook,
    QValueModule,
    SafeModule,
    SafeSequential,
    TensorDictModule,
    TensorDictModuleBase,
    TensorDictSequential,
    VmapModule,
)

__version__ = "0.1.0"

__all__ = [
    # data
    "NestedKey",
    "TensorDict",
    "cat",
    "stack",
    # specs
    "Binary",
    "Bounded",
    "Categorical",
    "Composite",
    "MultiCategorical",
    "MultiOneHot",
    "OneHot",
    "TensorSpec",
    "Unbounded",
    "BinaryDiscreteTensorSpec",
    "BoundedTensorSpec",
    "CompositeSpec",
    "DiscreteTensorSpec",
    "MultiDiscreteTensorSpec",
    "MultiOneHotDiscreteTensorSpec",
    "OneHotDiscreteTensorSpec",
    "UnboundedContinuousTensorSpec",
    "UnboundedDiscreteTensorSpec",
    # key-based modules
    "ExplorationType",
    "InteractionType",
    "SafeModule",
    "SafeSequential",
    "TensorDictModule",
    "TensorDictModuleBase",
    "TensorDictSequential",
    "VmapModule",
    # Q-value modules and actors
    "DistributionalDQNnet",
    "DistributionalQValueActor",
    "DistributionalQValueHook",
    "DistributionalQValueModule",
    "QValueActor",
    "QValueHook",
    "QValueModule",
    # networks
    "MLP",
    "ConvNet",
    "Conv2dNet",
    "SquashDims",
    "SqueezeLayer",
    "Squeeze2dLayer",
    "DuelingCnnDQNet",
    "DuelingMlpDQNet",
    "Linear",
    "Conv2d",
    # RNG stream names
    "rng",
]
