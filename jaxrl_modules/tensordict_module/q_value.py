"""Q-value modules: from action values (or value distributions) to greedy actions.

`QValueModule` and `DistributionalQValueModule` are parameter-free key-based modules around
:mod:`jaxrl_modules.functional.q_value`; `QValueHook` and `DistributionalQValueHook` are the same
computations for a plain array network; `DistributionalDQNnet` normalises logits over atoms.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_modules.data.specs import (
    Binary,
    Categorical,
    Composite,
    MultiCategorical,
    MultiOneHot,
    OneHot,
    TensorSpec,
)
from jaxrl_modules.data.tensordict import NestedKey, TensorDict, unravel_key
from jaxrl_modules.exploration_type import ExplorationType
from jaxrl_modules.functional import q_value as F
from jaxrl_modules.functional.masks import ANY_ACTION_ALLOWED_KEY
from jaxrl_modules.tensordict_module.base import Keys, TensorDictModuleBase
from jaxrl_modules.tensordict_module.module import project_outputs, register_spec

__all__ = [
    "DistributionalDQNnet",
    "DistributionalQValueHook",
    "DistributionalQValueModule",
    "QValueHook",
    "QValueModule",
    "action_space_and_leaf",
]

_SPACE_OF_SPEC = (  # Binary before Categorical: order matters if one subclasses the other
    (Binary, "binary"),
    (MultiOneHot, "mult_one_hot"),
    (OneHot, "one_hot"),
    (MultiCategorical, "multi_categorical"),
    (Categorical, "categorical"),
)


def _action_leaf(spec: Composite, action_key: NestedKey) -> TensorSpec | None:
    """The action's spec in a Composite: at ``action_key``, else TorchRL's ``"action"`` lookup."""
    for key in (action_key, "action"):
        if key in spec:
            return spec[key]
    for key in spec.keys(True, True):
        if unravel_key(key)[-1] == "action":
            return spec[key]
    raise KeyError(f"No action spec found in the Composite spec (keys {spec.keys(True, True)}).")


def action_space_and_leaf(
    action_space: str | TensorSpec | None, spec: TensorSpec | None, action_key: NestedKey, owner: str
) -> tuple[str, TensorSpec | None]:
    """Resolves TorchRL's ``(action_space, spec)`` pair into a canonical space and the action spec."""
    if isinstance(action_space, Composite):
        raise ValueError(f"{owner}: action_space cannot be a Composite; pass it as spec=.")
    if isinstance(action_space, TensorSpec):
        if spec is not None and spec != action_space:
            raise ValueError(f"{owner}: action_space {action_space} conflicts with spec {spec}.")
        action_space, spec = None, action_space
    leaf = _action_leaf(spec, action_key) if isinstance(spec, Composite) else spec
    from_spec = None
    if leaf is not None:
        from_spec = next((name for cls, name in _SPACE_OF_SPEC if isinstance(leaf, cls)), None)
        if from_spec is None:
            raise ValueError(f"{owner}: a {type(leaf).__name__} spec is not a discrete action space.")
    if action_space is None and from_spec is None:
        raise ValueError(f"{owner}: pass an action_space or a spec to tell the action space.")
    if from_spec == "multi_categorical":
        F.canonical_action_space(from_spec)  # raises the explanatory error
    space = F.canonical_action_space(action_space) if action_space is not None else from_spec
    if from_spec is not None and space != from_spec:
        raise ValueError(f"{owner}: action_space {action_space!r} conflicts with a {type(leaf).__name__} spec.")
    return space, leaf


def _var_nums(space: str, var_nums: Any, leaf: TensorSpec | None, owner: str) -> Any:
    if space != "mult_one_hot":
        return None if var_nums is None else var_nums
    if var_nums is None and isinstance(leaf, MultiOneHot):
        return tuple(int(n) for n in leaf.nvec)  # the spec knows the block sizes
    if var_nums is None:
        raise ValueError(f"{owner}: the mult_one_hot action space needs var_nums (the block sizes).")
    var_nums = var_nums if isinstance(var_nums, int) else tuple(int(v) for v in var_nums)
    if isinstance(leaf, MultiOneHot):
        nvec = tuple(int(n) for n in leaf.nvec)
        blocks = (var_nums,) * (sum(nvec) // var_nums) if isinstance(var_nums, int) and var_nums > 0 else var_nums
        if tuple(blocks) != nvec:
            raise ValueError(
                f"{owner}: var_nums={var_nums} (blocks {list(blocks)}) differ from the MultiOneHot "
                f"spec's blocks nvec={list(nvec)}; omit var_nums to take them from the spec."
            )
    return var_nums


class _QValueBase(TensorDictModuleBase):
    """Shared key handling of the Q-value modules (TorchRL's defaults)."""

    def _setup_keys(self, default_out: Sequence[NestedKey]) -> None:
        value_key = self.action_value_key or "action_value"
        out_keys = Keys(self.out_keys if self.out_keys is not None else [default_out[0], value_key, *default_out[1:]])
        if self.action_mask_key is not None and ANY_ACTION_ALLOWED_KEY not in out_keys:
            out_keys = Keys([*out_keys, ANY_ACTION_ALLOWED_KEY])  # written last, beside the action
        name = type(self).__name__
        if value_key not in out_keys:
            raise ValueError(f"{name}: out_keys {list(out_keys)} must contain the action_value_key {value_key!r}.")
        space, leaf = action_space_and_leaf(self.action_space, self.spec, out_keys[0], name)
        object.__setattr__(self, "action_value_key", Keys(value_key)[0])
        object.__setattr__(self, "out_keys", out_keys)
        object.__setattr__(self, "action_space", space)
        object.__setattr__(self, "var_nums", _var_nums(space, self.var_nums, leaf, name))
        spec = self.spec if isinstance(self.spec, Composite) else Composite()
        if leaf is not None and not isinstance(self.spec, Composite):
            spec = spec.set(out_keys[0], leaf)
        object.__setattr__(self, "spec", register_spec(spec, out_keys, name))
        if self.safe and _action_leaf(self.spec, out_keys[0]) is None:
            raise ValueError(f"{name}: safe=True needs an action spec to project onto.")

    @property
    def in_keys(self) -> Keys:
        keys = [self.action_value_key]
        if self.action_mask_key is not None:
            keys.append(self.action_mask_key)
        return Keys(keys)

    def _mask(self, td: TensorDict) -> jax.Array | None:
        if self.action_mask_key is None:
            return None
        return self._read(td, self.action_mask_key)

    def _write_all(self, td: TensorDict, values: tuple, allowed: jax.Array | None = None) -> TensorDict:
        keys = [k for k in self.out_keys if k != ANY_ACTION_ALLOWED_KEY]
        for key, value in zip(keys, values):  # as TorchRL: extra values are dropped
            if key != "_":
                td = self._write(td, key, value)
        if allowed is not None:
            td = self._write(td, ANY_ACTION_ALLOWED_KEY, allowed)
        return project_outputs(self.spec, td) if self.safe else td

    def _allowed(self, mask: jax.Array | None, n: int) -> jax.Array | None:
        """The ``any_action_allowed`` flag ``[*B]`` of a (validated) mask ``[*B, n]``."""
        if mask is None:
            return None
        if self.action_space == "binary":  # the all-zero action sets no masked bit: always allowed
            return jnp.ones(mask.shape[:-1], bool)
        blocks = self.var_nums if self.action_space == "mult_one_hot" else None
        return self._mask_flag(mask, blocks, self.action_mask_key)

    def _check_width(self, values: jax.Array, what: str, example: str) -> None:
        """The number of actions in the values must be the action spec's (never a silent subset)."""
        leaf = _action_leaf(self.spec, self.out_keys[0])
        n = _num_actions(leaf)
        if n is not None and values.ndim >= 1 and values.shape[-1] != n:
            raise ValueError(
                f"{type(self).__name__}: {self.action_value_key!r} has {values.shape[-1]} actions on its "
                f"last axis ({what} of shape {values.shape}), but the action spec {leaf} has {n}. Make "
                f"the network's output width {n} (e.g. {example.format(n=n)}), or pass the spec of the "
                "actions the network scores."
            )


def _num_actions(leaf: TensorSpec | None) -> int | None:
    """The number of action values a spec needs on the last axis (None: no spec)."""
    if leaf is None:
        return None
    if isinstance(leaf, (OneHot, MultiOneHot, Binary)):
        return int(leaf.shape[-1])
    if isinstance(leaf, Categorical):
        return int(leaf.n)
    return None


class QValueModule(_QValueBase):
    """Greedy action from action values: TorchRL's ``QValueModule``.

    Reads ``action_value`` ``[*B, n]`` (and a boolean ``action_mask`` ``[*B, n]``, True =
    allowed, if ``action_mask_key`` is set) and writes the greedy ``action``, the (masked)
    ``action_value`` and the ``chosen_action_value`` ``[*B, 1]``. Parameter-free: call it directly.

    Args:
      action_space: ``"one_hot"``, ``"mult_one_hot"``, ``"binary"`` or ``"categorical"`` (and
        TorchRL's other spellings), or None if ``spec`` tells it.
      action_value_key: defaults to ``"action_value"``.
      action_mask_key: the key of a boolean mask; masked actions are never chosen, and masked
        values are written back as ``finfo.min`` (as TorchRL). The module then also writes
        ``"any_action_allowed"`` ``bool [*B]`` (`jaxrl_modules.functional.any_action_allowed`;
        always True for ``"binary"``, whose all-zero action sets no masked bit), appended to the
        out keys (so the array call form returns it last).
      out_keys: defaults to ``["action", action_value_key, "chosen_action_value"]``; must contain
        ``action_value_key``; the first is the action key.
      var_nums: block sizes for ``"mult_one_hot"`` (taken from a ``MultiOneHot`` spec if omitted).
      spec: the action's spec (or a Composite holding it).
      safe: project the outputs onto the spec (e.g. cast a one-hot action to the spec's bool).
      strict_shape: True (raise) when the action's shape differs from the one the spec
        describes, ``"auto"`` to reshape the action to it, False to leave it.
      check_mask: if True, a ``jax.experimental.checkify`` check that every row's mask allows an
        action: a ``checkify.checkify``-wrapped (jitted) call returns an error naming the rows
        (`jaxrl_modules.functional.check_any_action_allowed`). Under a plain ``jax.jit`` JAX
        refuses to stage the check, so wrap the jitted function in ``checkify.checkify``.

    With a spec, the action values' last axis must hold the spec's number of actions (``n``; the
    sum of the blocks for MultiOneHot, which ``var_nums`` must equal): anything else is a
    trace-time error naming both, never a greedy pick over a subset of the actions.

    Action layouts: categorical ``int32 [*B]``; one-hot, mult-one-hot and binary ``int32 [*B, n]``.
    Ties go to the first maximum in every space (TorchRL's one-hot marks every tied entry); a
    fully masked row (for ``"mult_one_hot"``: a row with a fully masked block) gives action 0
    (the one-hot of entry 0, per block) and chosen value ``finfo.min``: the library's rule for
    rows that allow nothing, flagged by ``any_action_allowed``. ``"binary"`` reads the values
    as a factorised ``Q(s, a) = sum_i a_i Q_i``: bit ``i`` is set iff ``Q_i > 0``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxrl_modules import QValueModule, TensorDict
      >>> qvalue = QValueModule("one_hot")
      >>> action, values, chosen = qvalue(jnp.array([1.0, 3.0, 3.0, 0.0]))
      >>> action, chosen
      (Array([0, 1, 0, 0], dtype=int32), Array([3.], dtype=float32))
      >>> masked = QValueModule("categorical", action_mask_key="action_mask")
      >>> td = TensorDict({"action_value": jnp.array([[1.0, 3.0]]),
      ...                  "action_mask": jnp.array([[True, False]])}, batch_size=[1])
      >>> masked(td)["action"]
      Array([0], dtype=int32)
      >>> empty = td.set("action_mask", jnp.array([[False, False]]))  # a row that allows nothing
      >>> out = masked(empty)
      >>> out["action"], out["chosen_action_value"], out["any_action_allowed"]
      (Array([0], dtype=int32), Array([[-3.4028235e+38]], dtype=float32), Array([False], dtype=bool))
    """

    action_space: Any = None
    action_value_key: Any = None
    action_mask_key: Any = None
    out_keys: Any = None
    var_nums: Any = None
    spec: Any = None
    safe: bool = False
    strict_shape: bool | str = True
    check_mask: bool = False

    def __post_init__(self) -> None:
        if self.strict_shape not in (True, False, "auto", None):
            raise ValueError(f"strict_shape must be True, False or 'auto', got {self.strict_shape!r}.")
        if self.action_mask_key is not None:
            object.__setattr__(self, "action_mask_key", Keys(self.action_mask_key)[0])
        self._setup_keys(["action", "chosen_action_value"])
        super().__post_init__()

    def forward(self, td: TensorDict, exploration_type: ExplorationType | None) -> TensorDict:
        values = self._read(td, self.action_value_key)
        self._check_width(values, "action values", "MLP(out_features={n})")
        mask = self._mask(td)
        if mask is not None:
            values = _with_context(self, F.mask_action_values, values, mask)
        action = _with_context(self, F.greedy_action, values, self.action_space, var_nums=self.var_nums)
        chosen = F.chosen_action_value(values, action, self.action_space)
        allowed = self._allowed(mask, values.shape[-1])
        return self._write_all(td, (self._shape_action(action, values), values, chosen), allowed)

    def _shape_action(self, action: jax.Array, values: jax.Array) -> jax.Array:
        leaf = _action_leaf(self.spec, self.out_keys[0])
        if leaf is None or self.strict_shape is False:
            return action
        target = (*values.shape[:-1], *leaf.shape[len(self.spec.shape) :])
        if action.shape == target:
            return action
        if self.strict_shape == "auto" and np.prod(action.shape) == np.prod(target):
            return action.reshape(target)
        raise ValueError(
            f"QValueModule: the {self.action_space} action computed from {self.action_value_key!r} "
            f"of shape {values.shape} has shape {action.shape}, but the spec {leaf} describes "
            f"shape {target}. Pass strict_shape='auto' to reshape it, or False to keep it."
        )


def _with_context(module: nn.Module, fn, *args, **kwargs):
    """Calls a functional op, prefixing its ValueError with the module's name and keys."""
    try:
        return fn(*args, **kwargs)
    except ValueError as err:
        keys = list(module.in_keys)
        raise ValueError(f"{type(module).__name__} (in_keys {keys}): {err}") from None


class DistributionalQValueModule(_QValueBase):
    """Greedy action from a categorical value distribution: TorchRL's ``DistributionalQValueModule``.

    Reads log-probabilities ``[*B, atoms, actions]`` (normalised over the atom axis, -2) and
    writes the action maximising the expected value ``sum_j p_j(a) * support_j``, and the values
    unchanged. With ``action_mask_key``, masked actions are excluded from the choice (TorchRL gives
    them expected value 0, so it picks a masked action when every allowed one is negative).

    Args:
      action_space, action_value_key, action_mask_key, var_nums, spec, safe, check_mask: as
        `QValueModule` (a fully masked row gives action 0 and ``any_action_allowed`` False).
      support: the atoms' values ``[atoms]``; the values' axis -2 must hold ``len(support)`` atoms,
        and with a spec the last axis its number of actions (a trace-time error otherwise).
      out_keys: defaults to ``["action", action_value_key]``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxrl_modules import DistributionalQValueModule, TensorDict
      >>> module = DistributionalQValueModule("categorical", support=[-1, 0, 1],
      ...                                     action_value_key="my_action_value")
      >>> log_probs = jnp.full((3, 4), -100).at[0, 0].set(0).at[1, 1].set(0).at[2, 2].set(0)
      >>> action, values = module(my_action_value=log_probs)
      >>> int(action), bool((values == log_probs).all())
      (2, True)
      >>> int(module(log_probs)[0])
      2
      >>> td = TensorDict({"my_action_value": log_probs})
      >>> int(module(td)["action"])
      2
    """

    action_space: Any = None
    support: Any = None
    action_value_key: Any = None
    action_mask_key: Any = None
    out_keys: Any = None
    var_nums: Any = None
    spec: Any = None
    safe: bool = False
    check_mask: bool = False

    def __post_init__(self) -> None:
        if self.support is None:
            raise ValueError("DistributionalQValueModule needs a support (the atoms' values).")
        support = tuple(float(z) for z in np.asarray(self.support, dtype=np.float64).reshape(-1))
        object.__setattr__(self, "support", support)
        if self.action_mask_key is not None:
            object.__setattr__(self, "action_mask_key", Keys(self.action_mask_key)[0])
        self._setup_keys(["action"])
        super().__post_init__()

    def forward(self, td: TensorDict, exploration_type: ExplorationType | None) -> TensorDict:
        log_probs = self._read(td, self.action_value_key)
        floats = log_probs if jnp.issubdtype(log_probs.dtype, jnp.floating) else log_probs.astype(jnp.float32)
        support = jnp.asarray(self.support, floats.dtype)
        if floats.ndim < 2 or floats.shape[-2] != len(self.support):
            raise ValueError(
                f"DistributionalQValueModule: {self.action_value_key!r} must be [*B, atoms, actions] with "
                f"atoms = len(support) = {len(self.support)} on axis -2, got shape {floats.shape}. A "
                f"network for A actions outputs {len(self.support)} x A (e.g. MLP(out_features=("
                f"{len(self.support)}, A)))."
            )
        self._check_width(
            floats, "log-probabilities [*B, atoms, actions]", f"MLP(out_features=({len(self.support)}, {{n}}))"
        )
        mask = self._mask(td)
        action = _with_context(
            self,
            F.distributional_greedy_action,
            floats,
            support,
            self.action_space,
            mask=mask,
            var_nums=self.var_nums,
        )
        return self._write_all(td, (action, log_probs), self._allowed(mask, floats.shape[-1]))


class DistributionalDQNnet(TensorDictModuleBase):
    """Log-softmax over the atom axis (-2) of action-value logits ``[*B, atoms, actions]``.

    Parameter-free: call it directly. TorchRL's ``DistributionalDQNnet`` (keyword-only keys).

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxrl_modules import DistributionalDQNnet
      >>> log_probs = DistributionalDQNnet()(jnp.zeros((2, 5, 3)))
      >>> bool(jnp.allclose(jnp.exp(log_probs).sum(-2), 1.0))
      True
    """

    in_keys: Any = ("action_value",)
    out_keys: Any = ("action_value",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "in_keys", Keys(list(self.in_keys)))
        object.__setattr__(self, "out_keys", Keys(list(self.out_keys)))
        if len(self.in_keys) != len(self.out_keys):
            raise ValueError(
                f"DistributionalDQNnet: in_keys {list(self.in_keys)} and out_keys {list(self.out_keys)} "
                "differ in length."
            )
        super().__post_init__()

    def forward(self, td: TensorDict, exploration_type: ExplorationType | None) -> TensorDict:
        for in_key, out_key in zip(self.in_keys, self.out_keys):
            value = self._read(td, in_key)
            if value.ndim < 2:
                raise ValueError(
                    f"DistributionalDQNnet: {in_key!r} has shape {value.shape}; it needs at least "
                    "two dims [..., atoms, actions]."
                )
            td = self._write(td, out_key, jax.nn.log_softmax(value, axis=-2))
        return td


class QValueHook:
    """TorchRL's ``QValueHook`` for a plain array network, which flax cannot hook: wrap it instead.

    ``QValueHook(...).wrap(net)`` is a flax module returning ``(action, action_value,
    chosen_action_value)`` from ``net``'s output, ready for a ``TensorDictModule`` with three out
    keys. Calling the hook as ``hook(module, inputs, output)`` (torch's hook signature) computes
    the same triplet from ``output``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import MLP, QValueHook, TensorDict, TensorDictModule
      >>> net = QValueHook("one_hot").wrap(MLP(out_features=4))
      >>> actor = TensorDictModule(net, in_keys=["observation"],
      ...                          out_keys=["action", "action_value", "chosen_action_value"])
      >>> td = TensorDict({"observation": jnp.ones((5, 3))}, batch_size=[5])
      >>> actor.apply(actor.init(jax.random.key(0), td), td)["action"].shape
      (5, 4)
    """

    def __init__(self, action_space, var_nums=None, action_value_key=None, action_mask_key=None, out_keys=None):
        self.module = QValueModule(
            action_space,
            action_value_key=action_value_key,
            action_mask_key=action_mask_key,
            out_keys=out_keys,
            var_nums=var_nums,
        )

    def __call__(self, module: Any, inputs: Any, output: jax.Array) -> tuple:
        return self.module(output)

    def wrap(self, net: nn.Module) -> nn.Module:
        """``net`` followed by this hook, as one flax module."""
        return _Hooked(net, self.module)


class DistributionalQValueHook(QValueHook):
    """TorchRL's ``DistributionalQValueHook``: like `QValueHook`, returning ``(action, log_probs)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxrl_modules import DistributionalQValueHook
      >>> hook = DistributionalQValueHook("categorical", support=jnp.arange(3.0))
      >>> action, log_probs = hook(None, None, jnp.log(jnp.full((2, 3, 4), 1 / 3)))
      >>> action.shape
      (2,)
    """

    def __init__(
        self, action_space, support, var_nums=None, action_value_key=None, action_mask_key=None, out_keys=None
    ):
        self.module = DistributionalQValueModule(
            action_space,
            support=support,
            action_value_key=action_value_key,
            action_mask_key=action_mask_key,
            out_keys=out_keys,
            var_nums=var_nums,
        )


class _Hooked(nn.Module):
    net: nn.Module
    hook: TensorDictModuleBase

    def __call__(self, *inputs: Any, **kwargs: Any) -> tuple:
        return self.hook(self.net(*inputs, **kwargs))
