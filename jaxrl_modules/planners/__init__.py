"""Model-predictive planners (TorchRL's ``torchrl.modules.planners``) as key-based modules.

The pure inner loops are in `jaxrl_modules.functional.planning`.
"""

from jaxrl_modules.planners.cem import CEMPlanner
from jaxrl_modules.planners.common import PLAN_KEY, MPCPlannerBase
from jaxrl_modules.planners.mppi import MPPIPlanner

__all__ = ["CEMPlanner", "MPCPlannerBase", "MPPIPlanner", "PLAN_KEY"]
