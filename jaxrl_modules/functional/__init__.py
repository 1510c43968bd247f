"""Pure array functions (rlax style): arrays in, arrays out; no flax, no TensorDict.

Every key-based module calls one of these; use them directly in purejaxrl-style code.
"""

from jaxrl_modules.functional.categorical_projection import (
    categorical_projection,
    categorical_projection_uniform,
)
from jaxrl_modules.functional.exploration import (
    additive_gaussian_noise,
    epsilon_greedy,
    linear_annealing,
    ornstein_uhlenbeck_sigma,
    ornstein_uhlenbeck_step,
)
from jaxrl_modules.functional.mappings import MAPPING_NAMES, biased_softplus, expln, inv_softplus, mappings
from jaxrl_modules.functional.masks import ANY_ACTION_ALLOWED_KEY, any_action_allowed, check_any_action_allowed
from jaxrl_modules.functional.planning import (
    PlanResult,
    cem_plan,
    colored_noise,
    discounted_plan_return,
    mask_post_done_reward,
    mppi_plan,
    plan_rollout,
    shift_plan,
)
from jaxrl_modules.functional.q_value import (
    ACTION_SPACES,
    canonical_action_space,
    chosen_action_value,
    distributional_greedy_action,
    expected_action_values,
    greedy_action,
    mask_action_values,
)
from jaxrl_modules.functional.random import standard_normal

__all__ = [
    "ANY_ACTION_ALLOWED_KEY",
    "any_action_allowed",
    "check_any_action_allowed",
    "PlanResult",
    "cem_plan",
    "colored_noise",
    "discounted_plan_return",
    "mask_post_done_reward",
    "mppi_plan",
    "plan_rollout",
    "shift_plan",
    "ACTION_SPACES",
    "MAPPING_NAMES",
    "additive_gaussian_noise",
    "epsilon_greedy",
    "linear_annealing",
    "ornstein_uhlenbeck_sigma",
    "ornstein_uhlenbeck_step",
    "biased_softplus",
    "canonical_action_space",
    "categorical_projection",
    "categorical_projection_uniform",
    "chosen_action_value",
    "distributional_greedy_action",
    "expected_action_values",
    "expln",
    "greedy_action",
    "inv_softplus",
    "mappings",
    "mask_action_values",
    "standard_normal",
]
