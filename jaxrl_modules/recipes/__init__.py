"""Whole training runs built from the public API, in purejaxrl's style.

Each recipe module has a frozen dataclass config (types checked at construction), ``make_recipe
(config) -> Recipe`` (the run in jittable chunks, see `jaxrl_modules.recipes.common`) and
``make_train(config) -> train(key)`` (the whole run, one jittable function, vmappable over seeds).
``make_policy(config, variables) -> policy(td)`` replays a run's trained variables: a jittable
function from an observation TensorDict to the same TensorDict with the greedy ``"action"`` written
(the function the recipe evaluates with). Every recipe reports the metrics ``"return"`` and
``"steps"`` (environment steps so far); configs share their field names (``learning_rate``,
``num_eval_envs``, ``annealing_num_steps``, ...), and a renamed field's old name raises an error
that gives the new one.

``ALGOS`` names them for the demo: ``algo -> (module, config class name)``.
"""

from jaxrl_modules.recipes.common import Recipe, check_config, evaluate, make_train

__all__ = ["ALGOS", "Recipe", "check_config", "evaluate", "make_train"]

ALGOS = {
    "dqn": ("jaxrl_modules.recipes.dqn", "DQNConfig"),
    "rainbow": ("jaxrl_modules.recipes.rainbow", "RainbowConfig"),
    "ppo": ("jaxrl_modules.recipes.ppo", "PPOConfig"),
    "td3": ("jaxrl_modules.recipes.td3", "TD3Config"),
    "mpc": ("jaxrl_modules.recipes.mpc", "MPCConfig"),
}
