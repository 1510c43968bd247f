"""gymnax environments on TensorDicts, with TorchRL's environment interface.

The only package of jaxrl_modules that imports gymnax (its 1.x API).
"""

from jaxrl_modules.envs.gymnax_env import GymnaxEnv
from jaxrl_modules.envs.specs import spec_from_space
from jaxrl_modules.envs.step_mdp import step_mdp

__all__ = ["GymnaxEnv", "spec_from_space", "step_mdp"]
