"""Actors, value operators and actor-critic operators (TorchRL's ``tensordict_module/actors.py``)."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxrl_modules.data.specs import Bounded, Composite
from jaxrl_modules.data.tensordict import NestedKey, TensorDict
from jaxrl_modules.distributions import Delta
from jaxrl_modules.exploration_type import ExplorationType
from jaxrl_modules.tensordict_module.base import Keys, TensorDictModuleBase
from jaxrl_modules.tensordict_module.module import SafeModule, TensorDictModule
from jaxrl_modules.tensordict_module.probabilistic import (
    Inactive,
    SafeProbabilisticModule,
    SafeProbabilisticTensorDictSequential,
)
from jaxrl_modules.tensordict_module.sequence import SafeSequential

__all__ = [
    "Actor",
    "ActorCriticOperator",
    "ActorCriticWrapper",
    "ActorValueOperator",
    "ProbabilisticActor",
    "TanhModule",
    "ValueOperator",
]


def _spec_for(spec: Any, key: NestedKey) -> Any:
    """TorchRL's actor rule: a leaf spec for the action key becomes ``Composite({key: spec})``."""
    if spec is None or isinstance(spec, Composite):
        return spec
    return Composite().set(key, spec)


class Actor(SafeModule):
    """A deterministic policy: ``observation -> action`` (TorchRL's ``Actor``).

    Args:
      module: a flax module or callable on arrays.
      in_keys: default ``["observation"]``.
      out_keys: default ``["action"]``.
      spec: the action's spec (a leaf spec is attached to ``"action"`` if it is an out key, else to
        the single out key).
      safe: project the action onto the spec.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import Actor, Bounded, Linear, TensorDict
      >>> action_spec = Bounded(-1.0, 1.0, shape=(4,))
      >>> actor = Actor(Linear(4), in_keys=["observation"], spec=action_spec, safe=True)
      >>> td = TensorDict({"observation": 10 * jnp.ones((3, 4))}, batch_size=[3])
      >>> out = actor.apply(actor.init(jax.random.key(0), td), td)
      >>> bool(action_spec.is_in(out["action"]))
      True
    """

    in_keys: Any = None  # TorchRL's defaults: ["observation"] -> ["action"]
    out_keys: Any = None

    def __post_init__(self) -> None:
        if self.in_keys is None:
            object.__setattr__(self, "in_keys", ["observation"])
        if self.out_keys is None:
            object.__setattr__(self, "out_keys", ["action"])
        out_keys = Keys(self.out_keys)
        if "action" in out_keys:
            object.__setattr__(self, "spec", _spec_for(self.spec, "action"))
        super().__post_init__()

    def get_dist(self, td: TensorDict) -> Delta:
        """A Delta at the action the actor writes (its log-prob is +inf there, as TorchRL's)."""
        return Delta(self(td).get(self.out_keys[0]))


class ValueOperator(TensorDictModule):
    """A value network: ``observation -> state_value``, or ``state_action_value`` when it reads ``"action"``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import MLP, TensorDict, ValueOperator
      >>> critic = ValueOperator(MLP(out_features=1), in_keys=["observation", "action"])
      >>> critic.out_keys
      ['state_action_value']
    """

    in_keys: Any = None  # TorchRL's defaults: ["observation"] -> state_value or state_action_value
    out_keys: Any = None

    def __post_init__(self) -> None:
        if self.in_keys is None:
            object.__setattr__(self, "in_keys", ["observation"])
        if self.out_keys is None:
            reads_action = "action" in Keys(self.in_keys)
            object.__setattr__(self, "out_keys", ["state_action_value" if reads_action else "state_value"])
        super().__post_init__()


class ProbabilisticActor(SafeProbabilisticTensorDictSequential):
    """A key-based network followed by a `SafeProbabilisticModule` (TorchRL's ``ProbabilisticActor``).

    Args:
      module: a key-based module writing the distribution's parameters.
      in_keys: the distribution's parameter keys (e.g. ``["loc", "scale"]``), not the observation.
      out_keys: the sample key, default ``["action"]``.
      spec: the action's spec.
      **kwargs: `SafeProbabilisticModule`'s: ``safe``, ``default_interaction_type``
        (DETERMINISTIC), ``distribution_class``, ``distribution_kwargs``, ``return_log_prob`` (the
        log-prob goes to ``"action_log_prob"``), ``log_prob_key``, ``n_empirical_estimate``,
        ``num_samples``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import (MLP, ExplorationType, NormalParamExtractor, ProbabilisticActor,
      ...     TensorDict, TensorDictModule, TensorDictSequential)
      >>> from jaxrl_modules.distributions import TanhNormal
      >>> net = TensorDictSequential(
      ...     TensorDictModule(MLP(out_features=4), in_keys=["observation"], out_keys=["params"]),
      ...     TensorDictModule(NormalParamExtractor(), in_keys=["params"], out_keys=["loc", "scale"]))
      >>> actor = ProbabilisticActor(net, in_keys=["loc", "scale"], distribution_class=TanhNormal,
      ...                            return_log_prob=True)
      >>> td = TensorDict({"observation": jnp.ones((3, 5))}, batch_size=[3])
      >>> variables = actor.init(jax.random.key(0), td)
      >>> out = actor.apply(variables, td, exploration_type=ExplorationType.RANDOM,
      ...                   rngs={"sample": jax.random.key(1)})
      >>> out["action"].shape, out["action_log_prob"].shape
      ((3, 2), (3,))
    """

    def __init__(
        self, module: Any = None, in_keys: Any = None, out_keys: Any = None, *, spec: Any = None, **kwargs: Any
    ):
        fields = {
            k: kwargs.pop(k)
            for k in ("modules", "partial_tolerant", "selected_out_keys", "exploration_type", "parent", "name")
            if k in kwargs
        }
        if "modules" not in fields:  # flax's clone() passes the built modules back
            if not isinstance(module, TensorDictModuleBase):
                raise TypeError(
                    f"ProbabilisticActor: module must be key-based (e.g. a TensorDictModule), got "
                    f"{type(module).__name__}."
                )
            if in_keys is None:
                raise ValueError("ProbabilisticActor: in_keys (the distribution's parameter keys) are required.")
            out_keys = out_keys if out_keys is not None else ["action"]
            head = SafeProbabilisticModule(in_keys, out_keys, spec=spec, **kwargs)
            fields["modules"] = (module, head)
        elif kwargs or module is not None:
            raise TypeError(f"ProbabilisticActor got unexpected arguments {sorted(kwargs)}.")
        super().__init__(**fields)


class ActorValueOperator(SafeSequential):
    """A shared trunk, a policy head and a value head: ``common -> policy -> value``.

    ``get_policy_operator()`` (trunk + policy) and ``get_value_operator()`` (trunk + value) are
    views that apply with this operator's very variables: the trunk's parameters are shared.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import (MLP, ActorValueOperator, Actor, TensorDict, TensorDictModule,
      ...     ValueOperator)
      >>> common = TensorDictModule(MLP(out_features=8), in_keys=["observation"], out_keys=["hidden"])
      >>> policy = Actor(MLP(out_features=2), in_keys=["hidden"])
      >>> value = ValueOperator(MLP(out_features=1), in_keys=["hidden"])
      >>> op = ActorValueOperator(common, policy, value)
      >>> td = TensorDict({"observation": jnp.ones((3, 4))}, batch_size=[3])
      >>> variables = op.init(jax.random.key(0), td)
      >>> policy_op = op.get_policy_operator()
      >>> policy_op.apply(variables, td)["action"].shape
      (3, 2)
      >>> bool(jnp.allclose(policy_op.apply(variables, td)["action"], op.apply(variables, td)["action"]))
      True
    """

    def __init__(
        self, common_operator: Any = None, policy_operator: Any = None, value_operator: Any = None, **fields: Any
    ):
        if "modules" not in fields:
            fields["modules"] = (common_operator, policy_operator, value_operator)
        super().__init__(**fields)

    def get_policy_operator(self) -> SafeSequential:
        """Trunk then policy head (a probabilistic sequence if the head is one)."""
        common, policy, value = self.modules
        cls = SafeProbabilisticTensorDictSequential if hasattr(policy, "get_dist") else SafeSequential
        return cls(common, policy, Inactive(value, parent=None), parent=None)

    def get_value_operator(self) -> SafeSequential:
        """Trunk then value head."""
        common, policy, value = self.modules
        return SafeSequential(common, Inactive(policy, parent=None), value, parent=None)

    def get_policy_head(self) -> TensorDictModuleBase:
        return self.modules[1]

    def get_value_head(self) -> TensorDictModuleBase:
        return self.modules[2]


class ActorCriticOperator(ActorValueOperator):
    """Like `ActorValueOperator`, but the value head is a critic Q(s, a) reading the action.

    ``get_critic_operator()`` is the whole chain; ``get_value_operator()`` raises (there is no
    state value).

    Examples:
      >>> from jaxrl_modules import (MLP, Actor, ActorCriticOperator, TensorDictModule,
      ...     ValueOperator)
      >>> common = TensorDictModule(MLP(out_features=8), in_keys=["observation"], out_keys=["hidden"])
      >>> op = ActorCriticOperator(common, Actor(MLP(out_features=2), in_keys=["hidden"]),
      ...                          ValueOperator(MLP(out_features=1), in_keys=["hidden", "action"]))
      >>> op.out_keys
      ['hidden', 'action', 'state_action_value']
    """

    def __post_init__(self) -> None:
        value = self.modules[2]
        if value.out_keys and value.out_keys[0] == "state_value":
            raise ValueError(
                "ActorCriticOperator: the value head writes 'state_value'; a critic Q(s, a) writes "
                "e.g. 'state_action_value' (use ActorValueOperator for a state value)."
            )
        super().__post_init__()

    def get_critic_operator(self) -> ActorCriticOperator:
        return self

    def get_value_operator(self) -> SafeSequential:
        raise RuntimeError(
            "ActorCriticOperator has no value operator: its value head needs the action; use get_critic_operator()."
        )


class ActorCriticWrapper(SafeSequential):
    """A policy and a value operator with no shared trunk: ``policy -> value``.

    Examples:
      >>> from jaxrl_modules import MLP, Actor, ActorCriticWrapper, ValueOperator
      >>> op = ActorCriticWrapper(Actor(MLP(out_features=2)), ValueOperator(MLP(out_features=1)))
      >>> op.out_keys
      ['action', 'state_value']
    """

    def __init__(self, policy_operator: Any = None, value_operator: Any = None, **fields: Any):
        if "modules" not in fields:
            fields["modules"] = (policy_operator, value_operator)
        super().__init__(**fields)

    def get_policy_operator(self) -> SafeSequential:
        policy, value = self.modules
        cls = SafeProbabilisticTensorDictSequential if hasattr(policy, "get_dist") else SafeSequential
        return cls(policy, Inactive(value, parent=None), parent=None)

    def get_value_operator(self) -> SafeSequential:
        policy, value = self.modules
        return SafeSequential(Inactive(policy, parent=None), value, parent=None)

    get_policy_head = get_policy_operator
    get_value_head = get_value_operator


class TanhModule(TensorDictModuleBase):
    """Squashes entries into ``[low, high]`` with ``low + (high - low) * (tanh(x) + 1) / 2``.

    Args:
      in_keys: the keys to squash.
      out_keys: default ``in_keys`` (same length).
      spec: a Bounded spec (used for every key) or a Composite of them; bounds come from
        ``low``/``high`` if given, else from the spec, else -1 and 1.
      low, high: scalars or arrays broadcastable to the entries' trailing shape.
      clamp: clamp ``tanh(x)`` to ``±(1 - eps)`` first, ``eps = finfo(dtype).resolution``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxrl_modules import TanhModule
      >>> squash = TanhModule(in_keys=["action"], low=0.0, high=2.0)
      >>> squash(jnp.array([0.0, 100.0]))
      Array([1., 2.], dtype=float32)
    """

    in_keys: Any
    out_keys: Any = None
    spec: Any = None
    low: Any = None
    high: Any = None
    clamp: bool = False

    def __post_init__(self) -> None:
        in_keys = Keys(self.in_keys)
        out_keys = Keys(self.out_keys) if self.out_keys is not None else in_keys
        if len(in_keys) != len(out_keys):
            raise ValueError(f"TanhModule: in_keys {list(in_keys)} and out_keys {list(out_keys)} differ in length.")
        if not _already_resolved(self.low):  # flax's clone() passes resolved bounds back
            bounds = [self._bounds(k) for k in out_keys]
            object.__setattr__(self, "low", tuple(b[0] for b in bounds))
            object.__setattr__(self, "high", tuple(b[1] for b in bounds))
        object.__setattr__(self, "in_keys", in_keys)
        object.__setattr__(self, "out_keys", out_keys)
        super().__post_init__()

    def _bounds(self, key: NestedKey) -> tuple[Any, Any]:
        leaf = (
            self.spec[key]
            if isinstance(self.spec, Composite) and key in self.spec
            else (None if isinstance(self.spec, Composite) else self.spec)
        )
        spec_low = spec_high = None
        if leaf is not None:
            if not isinstance(leaf, Bounded):
                raise ValueError(f"TanhModule: the spec of {key!r} is a {type(leaf).__name__}, not Bounded.")
            spec_low, spec_high = np.asarray(leaf.low), np.asarray(leaf.high)
        low = spec_low if self.low is None else np.asarray(self.low, np.float32)
        high = spec_high if self.high is None else np.asarray(self.high, np.float32)
        if spec_low is not None and self.low is not None and not np.array_equal(low, spec_low):
            raise ValueError(f"TanhModule: low={self.low} differs from the spec's low for {key!r}.")
        if spec_high is not None and self.high is not None and not np.array_equal(high, spec_high):
            raise ValueError(f"TanhModule: high={self.high} differs from the spec's high for {key!r}.")
        low = np.float32(-1.0) if low is None else low
        high = np.float32(1.0) if high is None else high
        if np.any(np.asarray(high) <= np.asarray(low)):
            raise ValueError(f"TanhModule: low {low} must be below high {high} for {key!r}.")
        return _Bound(low), _Bound(high)

    def forward(self, td: TensorDict, exploration_type: ExplorationType | None) -> TensorDict:
        for in_key, out_key, low, high in zip(self.in_keys, self.out_keys, self.low, self.high):
            x = self._read(td, in_key)
            y = jnp.tanh(x)
            if self.clamp:
                eps = jnp.finfo(y.dtype).resolution
                y = jnp.clip(y, -1 + eps, 1 - eps)
            lo = jnp.broadcast_to(jnp.asarray(low.value, y.dtype), y.shape)  # bounds cover the trailing dims
            hi = jnp.broadcast_to(jnp.asarray(high.value, y.dtype), y.shape)
            td = self._write(td, out_key, lo + (hi - lo) * (y + 1) / 2)
        return td


class _Bound:
    """A resolved bound (hashable by value), so __post_init__ stays idempotent when flax clones."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = np.asarray(value, np.float32)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Bound) and np.array_equal(self.value, other.value)

    def __hash__(self) -> int:
        return hash((self.value.shape, self.value.tobytes()))

    def __repr__(self) -> str:
        return repr(self.value.tolist())


def _already_resolved(bounds: Any) -> bool:
    return isinstance(bounds, tuple) and bool(bounds) and all(isinstance(b, _Bound) for b in bounds)
