"""`MPCPlannerBase`: the key-based shell shared by the CEM and MPPI planners.

TorchRL's planners wrap an environment and roll it out in Python; here the model to plan over is
pure functions of one state (`jaxrl_modules.functional.planning`), or a `GymnaxEnv`'s own pure
transition (``env.model_step`` on its ``"_env_state"``), and the module only reads the
state from the TensorDict, vmaps the functional planner over the batch, projects the first action
onto the spec and writes it. Randomness comes from the ``"planning"`` RNG stream.

Warm start (``warm_start=True``): the final mean plan of each environment is written under
``"_planner_mean"`` (``[*B, H, *A]``); the next call shifts it one step (`shift_plan`) and starts
from it, except where ``is_init`` is True, which restarts from TorchRL's zero mean.

Batches: the TensorDict's batch size says how many states there are. Every leaf of the state is
``[*batch_size, *one state's shape]`` and each of the ``batch_size`` states gets its own plan.
Where the planner knows one state's shape (``env`` given: the environment's state; or
``state_shape`` given), it checks every leaf against it and raises on a mismatch. Where it does
not, a TensorDict of batch size ``()`` whose state has a leaf of two or more dims (or is a
TensorDict with a batch size of its own) raises, since a batch of states and one larger state look
the same: set the TensorDict's ``batch_size``, or pass ``state_shape``. With batch size ``()``, a
scalar or vector state is one state.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
from flax.core import FrozenDict

from jaxrl_modules.data.tensor_spec import TensorSpec
from jaxrl_modules.data.tensordict import TensorDict
from jaxrl_modules.exploration_type import ExplorationType
from jaxrl_modules.functional import planning as F
from jaxrl_modules.rng import PLANNING
from jaxrl_modules.tensordict_module.base import Keys, TensorDictModuleBase

__all__ = ["MPCPlannerBase", "PLAN_KEY"]

PLAN_KEY = "_planner_mean"
"""Where a warm-starting planner keeps each environment's last mean plan, ``[*B, H, *A]``."""


class MPCPlannerBase(TensorDictModuleBase):
    """Base of the MPC planners: TorchRL's ``MPCPlannerBase``, over pure model functions.

    Subclasses implement ``plan(key, state, init_mean) -> PlanResult`` for one state.

    Positional arguments follow TorchRL's order: ``CEMPlanner(env, planning_horizon, optim_steps,
    num_candidates, top_k, reward_key, action_key)`` and ``MPPIPlanner(env, advantage_module,
    temperature, planning_horizon, optim_steps, num_candidates, top_k, reward_key, action_key)``;
    pass every other argument by keyword.

    Args:
      env: a `GymnaxEnv` to plan over with its own true dynamics (TorchRL's first argument):
        the model is ``env.model_step`` on the environment's state ``"_env_state"`` (the default
        ``observation_key`` then), and ``action_spec`` defaults to ``env.action_spec``.
      planning_horizon, optim_steps, num_candidates, top_k: as TorchRL; ``top_k <= num_candidates``.
      reward_key: TorchRL's key of the reward in its rollout, accepted for TorchRL's positional
        order; the reward here comes from the model (``env.model_step``, ``reward_fn`` or
        ``step_fn``), so only the default ``("next", "reward")`` is accepted.
      action_spec: the action's spec (continuous; TorchRL takes it from ``env.action_spec``).
        Candidates and the returned action are projected onto it.
      dynamics_fn, reward_fn, done_fn, value_fn, step_fn: the model, pure functions of one
        (unbatched) state: ``dynamics_fn(state, action) -> next_state``, ``reward_fn(state,
        action, next_state) -> scalar``, optional ``done_fn(...) -> bool`` and ``value_fn(state)``
        for the tail (TD-MPC); or one ``step_fn(state, action) -> (next_state, reward, done)``,
        such as an environment's pure step. For a learned model, close over its parameters
        (``functools.partial(net.apply, params)``) inside the jitted function.
      observation_key: where the state is read (an array or a nested TensorDict), default
        ``"observation"`` (``"_env_state"`` with ``env``). Its leaves are ``[*batch_size, *one
        state]``: see the module docstring for the batch check.
      state_shape: the shape of one state, for the batch check where there is no ``env``: a tuple
        for an array state, or for a TensorDict state a dict of the same keys (nested dicts for
        nested TensorDicts) with a tuple for each entry. Default None: with ``env``, the
        environment's state; without, unknown (a state of two or more dims then needs a
        non-empty batch size).
      action_key: where the action is written, default ``"action"``.
      warm_start: start each plan from the shifted previous one (kept under ``"_planner_mean"``).
      is_init_key: the reset flag, ``[*B]`` or ``[*B, 1]``; needed once a plan is carried.
      init_std, min_std, discount, momentum, keep_elites, noise_beta, return_best: see
        `jaxrl_modules.functional.cem_plan`; checked at construction.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import Bounded, TensorDict
      >>> from jaxrl_modules.planners import CEMPlanner
      >>> planner = CEMPlanner(
      ...     action_spec=Bounded(-1.0, 1.0, shape=(1,)), planning_horizon=3, optim_steps=2,
      ...     num_candidates=32, top_k=4, dynamics_fn=lambda s, a: s + a,
      ...     reward_fn=lambda s, a, s2: -jnp.sum(s2 ** 2), warm_start=True)
      >>> td = TensorDict({"observation": jnp.ones((2, 1)), "is_init": jnp.ones(2, bool)}, [2])
      >>> out = planner.apply({}, td, rngs={"planning": jax.random.key(0)})
      >>> out["_planner_mean"].shape  # carried to the next call, shifted, unless is_init
      (2, 3, 1)
    """

    # The first fields are TorchRL's positional order (MPPIPlanner puts its two after env).
    env: Any = None
    planning_horizon: int = 10
    optim_steps: int = 5
    num_candidates: int = 100
    top_k: int = 10
    reward_key: Any = ("next", "reward")
    action_key: Any = "action"
    action_spec: Any = None
    dynamics_fn: Any = None
    reward_fn: Any = None
    done_fn: Any = None
    value_fn: Any = None
    step_fn: Any = None
    observation_key: Any = None
    state_shape: Any = None
    warm_start: bool = False
    is_init_key: Any = "is_init"
    init_std: float = 1.0
    min_std: float = 0.0
    discount: float = 1.0
    momentum: float = 0.0
    keep_elites: int = 0
    noise_beta: float = 0.0
    return_best: bool = False

    plan_key = PLAN_KEY
    _torchrl_order = "env, planning_horizon, optim_steps, num_candidates, top_k, reward_key, action_key"

    def _positional_hint(self) -> str:
        return (
            f"Positional arguments follow TorchRL's order ({self._name()}({self._torchrl_order})); "
            "pass every other argument by keyword."
        )

    def __post_init__(self) -> None:
        name = self._name()
        if self.env is not None:
            if not hasattr(self.env, "model_step"):
                raise TypeError(
                    f"{name}: env must be a GymnaxEnv, got {type(self.env).__name__}. Without an "
                    f"environment, pass env=None (the default) and the model by keyword. "
                    f"{self._positional_hint()}"
                )
            if self.step_fn is not None or self.dynamics_fn is not None or self.reward_fn is not None:
                raise ValueError(f"{name}: pass either env or a model (step_fn or dynamics_fn/reward_fn), not both.")
            if self.action_spec is None:
                object.__setattr__(self, "action_spec", self.env.action_spec)
        if self.observation_key is None:
            object.__setattr__(self, "observation_key", "observation" if self.env is None else "_env_state")
        for field in ("planning_horizon", "optim_steps", "num_candidates", "top_k"):
            value = getattr(self, field)
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError(f"{name}: {field} must be a Python int, got {value!r}. {self._positional_hint()}")
        F.check_planning_args(name, self.planning_horizon, self.optim_steps, self.num_candidates, self.top_k)
        for field in ("reward_key", "observation_key", "action_key", "is_init_key"):
            object.__setattr__(self, field, Keys(getattr(self, field), f"{name}: {field}")[0])
        if self.reward_key != ("next", "reward"):
            raise ValueError(
                f"{name}: reward_key must be ('next', 'reward'), got {self.reward_key!r}: the reward "
                "comes from the model (env.model_step, reward_fn or step_fn), not from a key; the "
                "argument exists for TorchRL's positional order."
            )
        spec = self.action_spec
        if spec is not None and not isinstance(spec, TensorSpec):
            raise TypeError(f"{name}: action_spec must be a TensorSpec, got {spec!r}. {self._positional_hint()}")
        if not isinstance(spec, TensorSpec) or not jnp.issubdtype(spec.dtype, jnp.floating):
            raise ValueError(f"{name}: action_spec must be a continuous (float) spec, got {spec!r}.")
        for field in ("dynamics_fn", "reward_fn", "done_fn", "value_fn", "step_fn"):
            value = getattr(self, field)
            if value is not None and not callable(value):
                raise TypeError(f"{name}: {field} must be a function or None, got {value!r}.")
        model = (self.dynamics_fn, self.reward_fn, self.done_fn)
        if self.step_fn is not None and any(f is not None for f in model):
            raise ValueError(f"{name}: pass either step_fn or dynamics_fn/reward_fn/done_fn, not both.")
        if self.env is None and self.step_fn is None and (self.dynamics_fn is None or self.reward_fn is None):
            raise ValueError(
                f"{name}: the model needs dynamics_fn and reward_fn (or one step_fn, or env=GymnaxEnv); "
                f"got dynamics_fn={self.dynamics_fn!r}, reward_fn={self.reward_fn!r}."
            )
        F.check_plan_options(
            name,
            init_std=self.init_std,
            min_std=self.min_std,
            discount=self.discount,
            momentum=self.momentum,
            keep_elites=self.keep_elites,
            noise_beta=self.noise_beta,
        )
        object.__setattr__(self, "state_shape", _state_shape(name, self.state_shape))
        super().__post_init__()

    @property
    def in_keys(self) -> Keys:
        return Keys([self.observation_key, self.is_init_key] if self.warm_start else [self.observation_key])

    @property
    def out_keys(self) -> Keys:
        return Keys([self.action_key, self.plan_key] if self.warm_start else [self.action_key])

    def plan(self, key: jax.Array, state: Any, init_mean: jax.Array) -> F.PlanResult:
        """Plans for one state from ``init_mean`` (``[H, *A]``)."""
        raise NotImplementedError

    def _model(self) -> dict[str, Any]:
        """The keyword arguments the functional planners share."""
        return dict(
            dynamics_fn=self.dynamics_fn,
            reward_fn=self.reward_fn,
            done_fn=self.done_fn,
            value_fn=self.value_fn,
            step_fn=self.env.model_step if self.env is not None else self.step_fn,
            horizon=self.planning_horizon,
            optim_steps=self.optim_steps,
            num_candidates=self.num_candidates,
            top_k=self.top_k,
            project_fn=self.action_spec.project,
            init_std=self.init_std,
            min_std=self.min_std,
            discount=self.discount,
            dtype=self.action_spec.dtype,
            momentum=self.momentum,
            keep_elites=self.keep_elites,
            noise_beta=self.noise_beta,
            return_best=self.return_best,
        )

    def forward(self, td: TensorDict, exploration_type: ExplorationType | None) -> TensorDict:
        state = self._read(td, self.observation_key)
        batch = tuple(td.batch_size)
        self._check_state(state, batch)
        plan_shape = (*batch, self.planning_horizon, *self.action_spec.shape)
        init_mean = jnp.zeros(plan_shape, self.action_spec.dtype)
        if self.warm_start and self.plan_key in td:
            init_mean = self._warm_mean(td, batch, plan_shape)
        plan = self.plan
        for _ in batch:  # one vmap per batch dim: every environment plans on its own
            plan = jax.vmap(plan)
        key = self.make_rng(PLANNING)
        keys = jax.random.split(key, math.prod(batch)).reshape(batch) if batch else key
        result = plan(keys, state, init_mean)
        td = self._write(td, self.action_key, self.action_spec.project(result.action))
        return td.set(self.plan_key, result.mean) if self.warm_start else td

    def _one_state(self) -> dict[str, tuple[int, ...]] | None:
        """One state's leaf shapes by key path (``""`` for an array state), or None if unknown."""
        if self.state_shape is not None:
            return _by_path(self.state_shape, is_leaf=_is_shape)
        if self.env is None:
            return None
        # The environment's own state, as its reset writes it: [*env.batch_size, *one state].
        reset = jax.eval_shape(self.env.reset, jax.random.key(0))
        if self.observation_key not in reset:
            return None
        n = len(tuple(self.env.batch_size))
        return {p: tuple(x.shape[n:]) for p, x in _by_path(reset.get(self.observation_key)).items()}

    def _check_state(self, state: Any, batch: tuple[int, ...]) -> None:
        """The batch check of the module docstring: at trace time, on static shapes only."""
        name, key = self._name(), self.observation_key
        got = {p: tuple(jnp.shape(x)) for p, x in _by_path(state).items()}
        one = self._one_state()
        if one is not None:
            source = "the environment's state" if self.state_shape is None else "state_shape"
            if set(got) != set(one):
                raise ValueError(
                    f"{name}: the state {key!r} has the entries {sorted(got)}, but one state has "
                    f"{sorted(one)} ({source})."
                )
            for path, shape in got.items():
                expected = (*batch, *one[path])
                if shape != expected:
                    n = len(shape) - len(one[path])
                    fix = (
                        f" Set the TensorDict's batch_size to {shape[:n]} (a batch of {shape[:n]} states)."
                        if n > 0 and shape[n:] == one[path]
                        else ""
                    )
                    raise ValueError(
                        f"{name}: the state {key!r}{path} has shape {shape}, expected {expected}: the "
                        f"TensorDict's batch size {batch}, then one state's shape {one[path]} ({source}).{fix}"
                    )
            return
        if batch:
            return  # the TensorDict says where the batch ends
        inner = tuple(getattr(state, "batch_size", ()))
        large = {p: s for p, s in got.items() if len(s) >= 2}
        if inner or large:
            if inner:
                what, n, example = f"a batch size {inner} of its own", inner[0], "a dict of one state's shapes by key"
            else:
                path, shape = next(iter(large.items()))
                what = f"the shape {shape}" + (f" at {path}" if path else "")
                n, example = shape[0], (f"e.g. state_shape={shape}" if not path else "a dict of one state's shapes")
            raise ValueError(
                f"{name}: the TensorDict's batch size is () and its state {key!r} has {what}: it would be "
                f"planned as one state, and a batch of {n} states looks the same. For a batch, set the "
                f"TensorDict's batch_size (TensorDict({{...}}, batch_size=[{n}])); for one state of this "
                f"shape, pass state_shape ({example})."
            )

    def _warm_mean(self, td: TensorDict, batch: tuple[int, ...], plan_shape: tuple[int, ...]) -> jax.Array:
        previous = jnp.asarray(td.get(self.plan_key), self.action_spec.dtype)
        if previous.shape != plan_shape:
            raise ValueError(
                f"{self._name()}: {self.plan_key!r} has shape {previous.shape}, expected {plan_shape} "
                "([*batch, planning_horizon, *action_spec.shape])."
            )
        if self.is_init_key not in td:
            raise KeyError(
                f"{self._name()}: the TensorDict carries a plan ({self.plan_key!r}) but no "
                f"{self.is_init_key!r} entry, so it cannot tell where an episode restarts. Add a "
                f"boolean {self.is_init_key!r} of shape {batch} or {(*batch, 1)}."
            )
        is_init = jnp.asarray(td.get(self.is_init_key), bool)
        if is_init.size != math.prod(batch):
            raise ValueError(
                f"{self._name()}: {self.is_init_key!r} has shape {is_init.shape}, expected {batch} or {(*batch, 1)}."
            )
        shifted = jax.vmap(F.shift_plan)(previous.reshape(-1, *plan_shape[len(batch) :])).reshape(plan_shape)
        restart = jnp.broadcast_to(is_init.reshape(batch + (1,) * (len(plan_shape) - len(batch))), plan_shape)
        return jnp.where(restart, jnp.zeros_like(shifted), shifted)


def _is_shape(x: Any) -> bool:
    return isinstance(x, tuple) and all(isinstance(i, int) and not isinstance(i, bool) for i in x)


def _by_path(tree: Any, is_leaf: Any = None) -> dict[str, Any]:
    """The leaves of a state (array, TensorDict or pytree) by key path: ``""``, ``"['a']"``, ..."""
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=is_leaf)
    return {jax.tree_util.keystr(path): leaf for path, leaf in leaves}


def _state_shape(owner: str, shape: Any) -> Any:
    """``state_shape`` normalised and hashable: a tuple of ints, or a FrozenDict of them."""
    if shape is None or _is_shape(shape):
        return shape
    if isinstance(shape, (list, tuple)) and all(isinstance(i, int) for i in shape):
        return tuple(shape)
    if isinstance(shape, Mapping):
        return FrozenDict({k: _state_shape(owner, v) for k, v in shape.items()})
    raise TypeError(
        f"{owner}: state_shape must be one state's shape (a tuple of ints, e.g. (3,)), or for a "
        f"TensorDict state a dict of such tuples by key; got {shape!r}."
    )
