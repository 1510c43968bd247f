"""Exploration modules: e-greedy, additive Gaussian and Ornstein-Uhlenbeck noise on actions.

Each is a parameter-free key-based module placed after a policy, as in TorchRL
(``TensorDictSequential(actor, EGreedyModule(spec))``), around the pure functions of
:mod:`jaxrl_modules.functional.exploration`. They explore when the exploration type is
``RANDOM`` or unset (``None``) and return the TensorDict unchanged otherwise (reference 1.4).

Randomness comes from the ``"exploration"`` RNG stream. The annealing counter is explicit state:
a variable ``step`` (int32) in the ``"schedule"`` collection, created by ``init`` and advanced by
the pure ``step(variables, frames)``, which returns new variables (TorchRL's ``module.step()``
mutates a buffer). A jitted training loop carries the variables, for instance through
``lax.scan``::

    variables = policy.init({"params": key, "exploration": key}, td)
    td = policy.apply(variables, td, rngs={"exploration": key})
    variables = egreedy.step(variables, frames=num_envs)

Per-environment Ornstein-Uhlenbeck state lives in the TensorDict under TorchRL's keys
``_ou_prev_noise`` and ``_ou_steps`` and restarts where ``is_init`` is True.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_modules.data.specs import Categorical, Composite, MultiCategorical, MultiOneHot, OneHot, TensorSpec
from jaxrl_modules.data.tensordict import NestedKey, TensorDict, unravel_key
from jaxrl_modules.exploration_type import ExplorationType
from jaxrl_modules.functional import exploration as F
from jaxrl_modules.functional.masks import ANY_ACTION_ALLOWED_KEY
from jaxrl_modules.rng import EXPLORATION
from jaxrl_modules.tensordict_module.base import Keys, TensorDictModuleBase

__all__ = [
    "AdditiveGaussianModule",
    "AdditiveGaussianWrapper",
    "EGreedyModule",
    "EGreedyWrapper",
    "OrnsteinUhlenbeckProcessModule",
    "OrnsteinUhlenbeckProcessWrapper",
    "RandomPolicy",
    "SCHEDULE",
]

SCHEDULE = "schedule"
"""The variable collection holding the exploration modules' annealing step counts."""

_INT32_MAX = np.iinfo(np.int32).max


def _explores(exploration_type: ExplorationType | None) -> bool:
    return exploration_type is None or exploration_type is ExplorationType.RANDOM


def check_frames(frames: Any, owner: str) -> jax.Array:
    """``frames`` as an int32 scalar, after checking that it is a non-negative integer.

    Python and NumPy values (and concrete JAX arrays) are checked by value; a traced array only by
    dtype and shape (its value is unknown under jit). Counts above the int32 maximum are clipped to
    it (the schedule counter saturates there anyway).
    """
    if isinstance(frames, (bool, np.bool_)):
        raise ValueError(f"{owner}: frames must be a non-negative integer, got the bool {frames!r}.")
    dtype = getattr(frames, "dtype", None)
    if dtype is None:
        if not isinstance(frames, (int, np.integer)):
            raise ValueError(
                f"{owner}: frames must be a non-negative integer (a count of frames), got {frames!r} "
                f"({type(frames).__name__}); it is never rounded: pass int(frames) if you mean it."
            )
    elif not jnp.issubdtype(dtype, jnp.integer):
        raise ValueError(
            f"{owner}: frames must be an integer array (a count of frames), got dtype {dtype}; it is "
            "never rounded: cast it explicitly if you mean it."
        )
    if jnp.ndim(frames) != 0:
        raise ValueError(f"{owner}: frames must be a scalar count, got shape {jnp.shape(frames)}.")
    if not isinstance(frames, jax.core.Tracer):
        value = int(frames)
        if value < 0:
            raise ValueError(f"{owner}: frames must be non-negative (the schedule only moves forward), got {value}.")
        return jnp.asarray(min(value, _INT32_MAX), jnp.int32)
    if jnp.iinfo(dtype).max > _INT32_MAX:
        frames = jnp.minimum(frames, jnp.asarray(_INT32_MAX, dtype))
    return frames.astype(jnp.int32)


def _mask_layout(leaf: TensorSpec) -> tuple[tuple[int, ...], Any]:
    """A discrete spec's mask layout (the trailing mask shape) and its blocks along the last axis."""
    if isinstance(leaf, (OneHot, MultiOneHot)):
        layout = tuple(leaf.shape)
    elif isinstance(leaf, Categorical):
        layout = (*leaf.shape, leaf.n)
    elif isinstance(leaf, MultiCategorical):
        layout = (*leaf.shape[:-1], sum(int(n) for n in leaf.nvec))
    else:
        raise TypeError(f"a {type(leaf).__name__} spec takes no action mask")
    blocks = tuple(int(n) for n in leaf.nvec) if isinstance(leaf, (MultiOneHot, MultiCategorical)) else None
    return layout, blocks


def _effective_mask(module: TensorDictModuleBase, leaf: TensorSpec, mask: jax.Array, lead: tuple[int, ...]) -> tuple:
    """The mask a sampler uses, ``mask`` broadcast to ``[*lead, *layout]`` and ANDed with the
    spec's own mask (as ``spec.rand`` does), and the spec's blocks."""
    layout, blocks = _mask_layout(leaf)
    full = (*lead, *layout)
    try:
        mask = jnp.broadcast_to(jnp.asarray(mask), full)
    except ValueError:
        raise ValueError(
            f"the action mask must be broadcastable to the expected shape {full} (the batch {lead} and "
            f"the spec's mask layout {layout}), got {module.action_mask_key!r} of shape {jnp.shape(mask)}."
        ) from None
    if getattr(leaf, "mask", None) is not None:
        mask = mask & jnp.broadcast_to(jnp.asarray(leaf.mask), full)
    return mask, blocks


def _flag_key(action_key: NestedKey) -> NestedKey:
    """``"any_action_allowed"`` beside the action: in the sub-TensorDict of a nested action key."""
    path = unravel_key(action_key)
    return ANY_ACTION_ALLOWED_KEY if len(path) == 1 else (*path[:-1], ANY_ACTION_ALLOWED_KEY)


class _AnnealedExploration(TensorDictModuleBase):
    """Shared by the three modules: the action key, the leaf spec, the annealing counter."""

    _schedule_fields = ("eps_init", "eps_end", "annealing_num_steps")
    _rng_streams = (EXPLORATION,)

    def _setup(self) -> None:
        name = type(self).__name__
        init, end, num = (getattr(self, f) for f in self._schedule_fields)
        F.check_schedule(float(init), float(end), int(num), name, self._schedule_fields)
        object.__setattr__(self, "action_key", Keys(self.action_key)[0])

    def _leaf(self) -> TensorSpec | None:
        spec = self.spec
        if isinstance(spec, Composite):
            return spec[self.action_key] if self.action_key in spec else None
        return spec

    def _annealed(self) -> jax.Array:
        """The current eps / sigma, read from the ``"schedule"`` collection."""
        if not (self.is_initializing() or self.has_variable(SCHEDULE, "step")):
            raise ValueError(
                f"{type(self).__name__}: the variables have no {SCHEDULE!r} collection holding the "
                "annealing step count. Pass the whole variables returned by init (not only "
                "{'params': ...}), and advance them with step(variables, frames)."
            )
        count = self.variable(SCHEDULE, "step", lambda: jnp.zeros((), jnp.int32)).value
        init, end, num = (getattr(self, f) for f in self._schedule_fields)
        return F.linear_annealing(count, init, end, num)

    def step(self, variables: Any, frames: Any = 1) -> Any:
        """Advances the annealing: returns ``variables`` with every count in ``"schedule"`` + frames.

        Pure: TorchRL's ``module.step(frames)`` mutates the module; here the new variables are
        returned. Every exploration module in the variables' tree (a whole policy's) advances
        together. Counts saturate at the int32 maximum (an add that cannot wrap), where every
        schedule is long flat at its end value.

        Args:
          variables: the variables of this module or of any module containing it.
          frames: number of frames to anneal by: a non-negative int (Python, NumPy or a JAX integer
            array, possibly traced). A traced negative count advances by 0 (it cannot be checked
            under jit); everything else is checked here.

        Returns:
          The same tree with the ``"schedule"`` counts advanced; other collections untouched.

        Raises:
          ValueError: no ``"schedule"`` collection; ``frames`` negative, not an integer (``2.7``
            would be truncated), or not a scalar.
        """
        if not isinstance(variables, Mapping) or SCHEDULE not in variables:
            raise ValueError(
                f"{type(self).__name__}.step: the variables have no {SCHEDULE!r} collection; pass the "
                "whole variables returned by init."
            )
        frames = check_frames(frames, f"{type(self).__name__}.step")
        # count + min(frames, max - count): never wraps, whatever the count (and a traced negative
        # frames advances by 0).
        frames = jnp.maximum(frames, 0)
        advance = lambda count: count + jnp.minimum(frames, _INT32_MAX - count)  # noqa: E731
        return {**variables, SCHEDULE: jax.tree_util.tree_map(advance, variables[SCHEDULE])}

    def _holder_batch_ndim(self, td: TensorDict) -> int:
        """Batch dims of the TensorDict holding the action (a sub-TensorDict for nested keys)."""
        path = unravel_key(self.action_key)
        return (td.get(path[:-1]) if len(path) > 1 else td).batch_dims

    def _fail(self, err: Exception) -> Exception:
        return type(err)(f"{type(self).__name__} (action_key {self.action_key!r}): {err}")


class EGreedyModule(_AnnealedExploration):
    """Epsilon-greedy exploration for discrete actions: TorchRL's ``EGreedyModule``.

    With probability ``eps`` (one coin per batch element) the action is replaced by a random
    member of the action spec, uniform over the allowed actions of ``action_mask`` (True =
    allowed) when ``action_mask_key`` is set. ``eps`` anneals linearly from ``eps_init`` to
    ``eps_end`` over ``annealing_num_steps`` frames of ``step``.

    Args:
      spec: the action's discrete spec (`OneHot`, `Categorical`, `MultiOneHot`,
        `MultiCategorical`, `Binary`), or a `Composite` holding it at ``action_key``.
      eps_init: initial exploration rate, in [0, 1].
      eps_end: final rate, in [0, eps_init].
      annealing_num_steps: frames over which eps decays.
      action_key: the action's key (read and written), default ``"action"``.
      action_mask_key: optional key of a boolean mask ``[*B, n]`` (spec's mask layout). The module
        then also writes ``"any_action_allowed"`` beside the action (under every exploration
        type): ``bool [*B]`` (for a spec with batch dims, ``[*B, *spec.shape[:-1]]`` for the one-hot
        specs), False where the mask (ANDed with the spec's own) allows no action, or for
        MultiOneHot / MultiCategorical a block allows nothing. A random action for such a row is
        index 0 of the row or block (the one-hot of entry 0): the library's rule, as every masked
        sampler.
      check_mask: if True, a ``jax.experimental.checkify`` check on that flag: a
        ``checkify.checkify``-wrapped (jitted) call returns an error naming the rows
        (`jaxrl_modules.functional.check_any_action_allowed`).
      exploration_type: explores when RANDOM or None (default); any other type passes through.

    Reads ``action`` ``[*B, *spec.shape]`` (and the mask); writes ``action``, same shape and dtype.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import Categorical, EGreedyModule, TensorDict
      >>> egreedy = EGreedyModule(Categorical(4), eps_init=0.5, annealing_num_steps=100,
      ...                         action_mask_key="action_mask")
      >>> td = TensorDict({"action": jnp.zeros(6, jnp.int32),
      ...                  "action_mask": jnp.ones((6, 4), bool)}, batch_size=[6])
      >>> variables = egreedy.init(jax.random.key(0), td)
      >>> variables
      {'schedule': {'step': Array(0, dtype=int32)}}
      >>> out = egreedy.apply(variables, td, rngs={"exploration": jax.random.key(1)})
      >>> out["action"].shape
      (6,)
      >>> variables = egreedy.step(variables, frames=50)  # eps: 0.5 -> 0.3
      >>> egreedy.apply(variables, td, exploration_type="mode")["action"].tolist()  # no exploration
      [0, 0, 0, 0, 0, 0]
    """

    spec: Any = None
    eps_init: float = 1.0
    eps_end: float = 0.1
    annealing_num_steps: int = 1000
    action_key: Any = "action"
    action_mask_key: Any = None
    exploration_type: ExplorationType | str | None = None
    check_mask: bool = False

    def __post_init__(self) -> None:
        for name in ("eps_init", "eps_end"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"EGreedyModule: {name} must be in [0, 1], got {getattr(self, name)}.")
        self._setup()
        if self.action_mask_key is not None:
            object.__setattr__(self, "action_mask_key", Keys(self.action_mask_key)[0])
        leaf = self._leaf()
        if leaf is None:
            raise ValueError(f"EGreedyModule: pass the action spec as spec= (got {self.spec!r}).")
        if not isinstance(leaf, F.DISCRETE_SPECS):
            raise ValueError(
                f"EGreedyModule explores discrete actions, but its spec is {leaf!r}; for continuous "
                "actions use AdditiveGaussianModule or OrnsteinUhlenbeckProcessModule."
            )
        super().__post_init__()

    @property
    def in_keys(self) -> Keys:
        return Keys([self.action_key] + ([self.action_mask_key] if self.action_mask_key is not None else []))

    @property
    def out_keys(self) -> Keys:
        return Keys([self.action_key] + ([_flag_key(self.action_key)] if self.action_mask_key is not None else []))

    @nn.compact
    def forward(self, td: TensorDict, exploration_type: ExplorationType | None) -> TensorDict:
        eps = self._annealed()
        action = self._read(td, self.action_key)
        mask = None if self.action_mask_key is None else self._read(td, self.action_mask_key)
        leaf = self._leaf()
        if mask is not None:  # written under every exploration type, so the out keys are static
            lead = action.shape[: action.ndim - len(leaf.shape)]
            try:
                full, blocks = _effective_mask(self, leaf, mask, lead)
            except (ValueError, TypeError) as err:
                raise self._fail(err) from None
            td = self._write(td, _flag_key(self.action_key), self._mask_flag(full, blocks, self.action_mask_key))
        if not _explores(exploration_type):
            return td
        try:
            action = F.epsilon_greedy(
                self.make_rng(EXPLORATION),
                action,
                eps,
                leaf,
                mask=mask,
                batch_ndim=self._holder_batch_ndim(td),
            )
        except (ValueError, TypeError) as err:
            raise self._fail(err) from None
        return self._write(td, self.action_key, action)


class AdditiveGaussianModule(_AnnealedExploration):
    """Additive Gaussian exploration: TorchRL's ``AdditiveGaussianModule``.

    ``action <- project(action + sigma * N(mean, std))``, with sigma annealed linearly from
    ``sigma_init`` to ``sigma_end`` over ``annealing_num_steps`` frames of ``step``. The noisy
    action is always projected onto the spec (clamped for `Bounded`), as TorchRL does, except
    that a NaN action stays NaN (TorchRL's clamp maps it to a bound, hiding a diverged actor).

    Args:
      spec: the action's spec (or a `Composite` holding it); required at call time (TorchRL
        raises then too). `Unbounded` means no projection.
      sigma_init: initial noise scale.
      sigma_end: final noise scale, at most ``sigma_init``.
      annealing_num_steps: frames over which sigma decays.
      mean, std: the noise distribution (scalars or arrays broadcastable to the action).
      action_key: the action's key, default ``"action"``.
      safe: accepted for TorchRL's signature; the action is always projected, so with a single
        action spec it changes nothing.
      exploration_type: explores when RANDOM or None (default).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import AdditiveGaussianModule, Bounded, TensorDict
      >>> noise = AdditiveGaussianModule(Bounded(-1.0, 1.0, shape=(2,)), sigma_init=0.5)
      >>> td = TensorDict({"action": jnp.zeros((3, 2))}, batch_size=[3])
      >>> variables = noise.init(jax.random.key(0), td)
      >>> out = noise.apply(variables, td, rngs={"exploration": jax.random.key(1)})
      >>> bool((jnp.abs(out["action"]) <= 1.0).all()), out["action"].shape
      (True, (3, 2))
    """

    spec: Any = None
    sigma_init: float = 1.0
    sigma_end: float = 0.1
    annealing_num_steps: int = 1000
    mean: Any = 0.0
    std: Any = 1.0
    action_key: Any = "action"
    safe: bool = False
    exploration_type: ExplorationType | str | None = None

    _schedule_fields = ("sigma_init", "sigma_end", "annealing_num_steps")

    def __post_init__(self) -> None:
        if float(self.sigma_end) < 0:
            raise ValueError(f"AdditiveGaussianModule: sigma_end must be non-negative, got {self.sigma_end}.")
        self._setup()
        super().__post_init__()

    @property
    def in_keys(self) -> Keys:
        return Keys([self.action_key])

    @property
    def out_keys(self) -> Keys:
        return Keys([self.action_key])

    @nn.compact
    def forward(self, td: TensorDict, exploration_type: ExplorationType | None) -> TensorDict:
        sigma = self._annealed()
        if not _explores(exploration_type):
            return td
        leaf = self._leaf()
        if leaf is None:
            raise ValueError(
                f"AdditiveGaussianModule: no spec for {self.action_key!r}; pass spec= (the "
                "action spec, e.g. Bounded(low, high, shape)), or Unbounded(shape) for no projection."
            )
        action = self._read(td, self.action_key)
        try:
            action = F.additive_gaussian_noise(
                self.make_rng(EXPLORATION), action, sigma, mean=self.mean, std=self.std, spec=leaf
            )
        except (ValueError, TypeError) as err:
            raise self._fail(err) from None
        return self._write(td, self.action_key, action)


class OrnsteinUhlenbeckProcessModule(_AnnealedExploration):
    """Ornstein-Uhlenbeck exploration noise: TorchRL's ``OrnsteinUhlenbeckProcessModule``.

    ``action <- action + eps * x``, where ``x`` follows one step of an OU process per call
    (`jaxrl_modules.functional.ornstein_uhlenbeck_step`) and ``eps`` anneals from ``eps_init`` to
    ``eps_end`` over ``annealing_num_steps`` frames of ``step``. The process state is
    per-environment and lives in the TensorDict, at its root, under TorchRL's keys:
    ``_ou_prev_noise`` (``x - x0``, the action's shape) and ``_ou_steps`` (int32, the batch shape
    of the TensorDict holding the action). Where ``is_init`` is True both restart from zero
    before the step. A TensorDict without the state keys starts a fresh process (the first call
    writes them); once they are there, ``is_init`` is required.

    Args:
      spec: the action's spec, or a `Composite` holding it; required, as in TorchRL.
      eps_init, eps_end, annealing_num_steps: the schedule of the noise's weight.
      theta, mu, sigma, dt, x0: the process (``mu``, ``x0`` may be arrays; ``x0=None`` is 0).
      sigma_min, n_steps_annealing: if ``sigma_min`` is given, sigma decays linearly to it over
        ``n_steps_annealing`` steps of each trajectory (TorchRL's per-trajectory annealing).
      action_key: the action's key, default ``"action"``.
      is_init_key: the reset flag's key, default ``"is_init"``; shape ``[*B]`` or ``[*B, 1]``.
      safe: project the noisy action onto the spec (default True, as TorchRL); NaN stays NaN.
      exploration_type: explores when RANDOM or None (default).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import Bounded, OrnsteinUhlenbeckProcessModule, TensorDict
      >>> ou = OrnsteinUhlenbeckProcessModule(Bounded(-1.0, 1.0, shape=(2,)))
      >>> td = TensorDict({"action": jnp.zeros((4, 2))}, batch_size=[4])
      >>> variables = ou.init(jax.random.key(0), td)
      >>> out = ou.apply(variables, td, rngs={"exploration": jax.random.key(1)})
      >>> sorted(out.keys()), out["_ou_steps"].tolist()
      (['_ou_prev_noise', '_ou_steps', 'action'], [1, 1, 1, 1])
      >>> out = out.set("is_init", jnp.array([True, False, False, False]))
      >>> ou.apply(variables, out, rngs={"exploration": jax.random.key(2)})["_ou_steps"].tolist()
      [1, 2, 2, 2]
    """

    spec: Any = None
    eps_init: float = 1.0
    eps_end: float = 0.1
    annealing_num_steps: int = 1000
    theta: float = 0.15
    mu: Any = 0.0
    sigma: float = 0.2
    dt: float = 1e-2
    x0: Any = None
    sigma_min: float | None = None
    n_steps_annealing: int = 1000
    action_key: Any = "action"
    is_init_key: Any = "is_init"
    safe: bool = True
    exploration_type: ExplorationType | str | None = None

    noise_key = "_ou_prev_noise"
    steps_key = "_ou_steps"

    def __post_init__(self) -> None:
        name = "OrnsteinUhlenbeckProcessModule"
        if self.spec is None:
            raise ValueError(f"{name}: spec is required (the action spec), as in TorchRL.")
        if self.sigma_min is not None:
            F.check_schedule(
                float(self.sigma),
                float(self.sigma_min),
                int(self.n_steps_annealing),
                name,
                ("sigma", "sigma_min", "n_steps_annealing"),
            )
        self._setup()
        object.__setattr__(self, "is_init_key", Keys(self.is_init_key)[0])
        if self._leaf() is None:
            raise ValueError(f"{name}: the Composite spec has no entry for {self.action_key!r}.")
        super().__post_init__()

    @property
    def in_keys(self) -> Keys:
        return Keys([self.action_key, self.is_init_key])

    @property
    def out_keys(self) -> Keys:
        return Keys([self.action_key, self.noise_key, self.steps_key])

    @nn.compact
    def forward(self, td: TensorDict, exploration_type: ExplorationType | None) -> TensorDict:
        eps = self._annealed()
        if not _explores(exploration_type):
            return td
        action = self._read(td, self.action_key)
        batch = action.shape[: self._holder_batch_ndim(td)]
        has_state = self.steps_key in td.keys()
        if has_state:
            prev, steps = self._read(td, self.noise_key), self._read(td, self.steps_key)
            if self.is_init_key not in td:
                raise KeyError(
                    f"OrnsteinUhlenbeckProcessModule: the TensorDict carries OU state "
                    f"({self.noise_key!r}, {self.steps_key!r}) but no {self.is_init_key!r} entry, so "
                    f"it cannot tell where an episode restarts. Add a boolean {self.is_init_key!r} of "
                    f"shape {batch} or {(*batch, 1)}, True at each episode's first step (the "
                    "environment's reset writes it; TorchRL's InitTracker transform does the same)."
                )
        else:  # a fresh process, as TorchRL
            prev, steps = jnp.zeros(action.shape, jnp.float32), jnp.zeros(batch, jnp.int32)
        is_init = td.get(self.is_init_key) if self.is_init_key in td else None
        try:
            x, prev, steps = F.ornstein_uhlenbeck_step(
                self.make_rng(EXPLORATION),
                prev,
                steps,
                is_init=is_init,
                theta=self.theta,
                mu=self.mu,
                sigma=self.sigma,
                dt=self.dt,
                x0=0.0 if self.x0 is None else self.x0,
                sigma_min=self.sigma_min,
                n_steps_annealing=self.n_steps_annealing,
            )
        except (ValueError, TypeError) as err:
            raise self._fail(err) from None
        action = action + (eps * x).astype(action.dtype)
        if self.safe:
            action = self._leaf().project(action).astype(action.dtype)
        td = self._write(td, self.action_key, action)
        return td.set(self.noise_key, prev).set(self.steps_key, steps)


class RandomPolicy(TensorDictModuleBase):
    """Writes a uniformly random action from the spec: TorchRL's ``RandomPolicy``.

    Args:
      action_spec: the action's spec, or a `Composite` (then every entry is sampled and written).
      action_key: where a leaf spec's sample is written, default ``"action"``.
      action_mask_key: optional key of a boolean mask (leaf specs only); masked actions are never
        drawn. (TorchRL's RandomPolicy has no mask; a random policy that takes illegal actions is
        rarely what anyone wants.) The policy then also writes ``"any_action_allowed"`` beside
        the action, as `EGreedyModule`; a row whose mask allows nothing gets index 0 (the
        library's rule for every masked sampler).
      check_mask: as `EGreedyModule`: a ``checkify`` check that every row allows an action.

    The sample has the TensorDict's batch shape in front of the spec's shape; randomness comes from
    the ``"exploration"`` stream. No parameters: ``policy.apply({}, td, rngs={"exploration": key})``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import Categorical, RandomPolicy, TensorDict
      >>> policy = RandomPolicy(Categorical(3))
      >>> td = TensorDict({"observation": jnp.zeros((5, 2))}, batch_size=[5])
      >>> policy.apply({}, td, rngs={"exploration": jax.random.key(0)})["action"].shape
      (5,)
    """

    action_spec: Any = None
    action_key: Any = "action"
    action_mask_key: Any = None
    check_mask: bool = False

    _rng_streams = (EXPLORATION,)

    def __post_init__(self) -> None:
        if not isinstance(self.action_spec, TensorSpec):
            raise ValueError(f"RandomPolicy: action_spec must be a spec, got {self.action_spec!r}.")
        if isinstance(self.action_spec, Composite) and self.action_mask_key is not None:
            raise ValueError("RandomPolicy: action_mask_key needs a leaf action_spec, not a Composite.")
        object.__setattr__(self, "action_key", Keys(self.action_key)[0])
        if self.action_mask_key is not None:
            object.__setattr__(self, "action_mask_key", Keys(self.action_mask_key)[0])
        super().__post_init__()

    @property
    def in_keys(self) -> Keys:
        return Keys([] if self.action_mask_key is None else [self.action_mask_key])

    @property
    def out_keys(self) -> Keys:
        spec = self.action_spec
        if isinstance(spec, Composite):
            return Keys(spec.keys(True, True))
        return Keys([self.action_key] + ([_flag_key(self.action_key)] if self.action_mask_key is not None else []))

    def forward(self, td: TensorDict, exploration_type: ExplorationType | None) -> TensorDict:
        key = self.make_rng(EXPLORATION)
        if isinstance(self.action_spec, Composite):  # a batched Composite covers trailing batch dims
            n = len(self.action_spec.shape)
            if n and tuple(td.batch_size[len(td.batch_size) - n :]) != tuple(self.action_spec.shape):
                raise ValueError(
                    f"RandomPolicy: the Composite spec's shape {self.action_spec.shape} is not the "
                    f"trailing part of the TensorDict's batch shape {td.batch_size}."
                )
            return td.update(self.action_spec.rand(key, td.batch_size[: len(td.batch_size) - n]))
        mask = None if self.action_mask_key is None else self._read(td, self.action_mask_key)
        try:
            action = self.action_spec.rand(key, td.batch_size, mask=mask)
            full = None if mask is None else _effective_mask(self, self.action_spec, mask, td.batch_size)
        except (ValueError, TypeError) as err:
            raise ValueError(f"RandomPolicy (action_key {self.action_key!r}): {err}") from None
        if full is not None:
            td = self._write(td, _flag_key(self.action_key), self._mask_flag(*full, self.action_mask_key))
        return self._write(td, self.action_key, action)


def _removed(name: str, module: str) -> type:
    def __init__(self, *args, **kwargs):
        raise RuntimeError(
            f"{name} was removed from TorchRL (it raises there too): append the module to the "
            f"policy instead, TensorDictSequential(policy, {module}(spec, ...)), and anneal it "
            "with variables = exploration_module.step(variables, frames)."
        )

    return type(name, (), {"__init__": __init__, "__doc__": f"Removed: use `{module}` (raises RuntimeError)."})


EGreedyWrapper = _removed("EGreedyWrapper", "EGreedyModule")
AdditiveGaussianWrapper = _removed("AdditiveGaussianWrapper", "AdditiveGaussianModule")
OrnsteinUhlenbeckProcessWrapper = _removed("OrnsteinUhlenbeckProcessWrapper", "OrnsteinUhlenbeckProcessModule")
