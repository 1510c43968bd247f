"""Key-based flax modules: read ``in_keys`` from a TensorDict, write ``out_keys``."""

from jaxrl_modules.tensordict_module import serialization as _serialization  # noqa: F401 (registers)
from jaxrl_modules.tensordict_module.actors import (
    Actor,
    ActorCriticOperator,
    ActorCriticWrapper,
    ActorValueOperator,
    ProbabilisticActor,
    TanhModule,
    ValueOperator,
)
from jaxrl_modules.tensordict_module.base import Keys, TensorDictModuleBase
from jaxrl_modules.tensordict_module.decision_transformer import DecisionTransformerInferenceWrapper
from jaxrl_modules.tensordict_module.exploration import (
    SCHEDULE,
    AdditiveGaussianModule,
    AdditiveGaussianWrapper,
    EGreedyModule,
    EGreedyWrapper,
    OrnsteinUhlenbeckProcessModule,
    OrnsteinUhlenbeckProcessWrapper,
    RandomPolicy,
)
from jaxrl_modules.tensordict_module.lm_head import LMHeadActorValueOperator
from jaxrl_modules.tensordict_module.module import SafeModule, TensorDictModule, register_spec
from jaxrl_modules.tensordict_module.probabilistic import (
    LOG_PROB_SUFFIX,
    SAMPLE_LOG_PROB_KEY,
    SafeProbabilisticModule,
    SafeProbabilisticTensorDictSequential,
    log_prob_key,
)
from jaxrl_modules.tensordict_module.q_value import (
    DistributionalDQNnet,
    DistributionalQValueHook,
    DistributionalQValueModule,
    QValueHook,
    QValueModule,
)
from jaxrl_modules.tensordict_module.q_value_actor import DistributionalQValueActor, QValueActor
from jaxrl_modules.tensordict_module.rnn import GRUModule, LSTMModule, recurrent_mode, set_recurrent_mode
from jaxrl_modules.tensordict_module.sequence import SafeSequential, TensorDictSequential
from jaxrl_modules.tensordict_module.vmap import VmapModule
from jaxrl_modules.tensordict_module.world_model import RSSMRollout, WorldModelWrapper

__all__ = [
    "GRUModule",
    "LSTMModule",
    "recurrent_mode",
    "set_recurrent_mode",
    "RSSMRollout",
    "WorldModelWrapper",
    "DecisionTransformerInferenceWrapper",
    "LMHeadActorValueOperator",
    "SCHEDULE",
    "AdditiveGaussianModule",
    "AdditiveGaussianWrapper",
    "EGreedyModule",
    "EGreedyWrapper",
    "OrnsteinUhlenbeckProcessModule",
    "OrnsteinUhlenbeckProcessWrapper",
    "RandomPolicy",
    "Actor",
    "ActorCriticOperator",
    "ActorCriticWrapper",
    "ActorValueOperator",
    "LOG_PROB_SUFFIX",
    "ProbabilisticActor",
    "SAMPLE_LOG_PROB_KEY",
    "SafeProbabilisticModule",
    "SafeProbabilisticTensorDictSequential",
    "TanhModule",
    "ValueOperator",
    "log_prob_key",
    "DistributionalDQNnet",
    "DistributionalQValueActor",
    "DistributionalQValueHook",
    "DistributionalQValueModule",
    "Keys",
    "QValueActor",
    "QValueHook",
    "QValueModule",
    "SafeModule",
    "SafeSequential",
    "TensorDictModule",
    "TensorDictModuleBase",
    "TensorDictSequential",
    "VmapModule",
    "register_spec",
]
