"""Q-value actors: a value network followed by a (distributional) Q-value module."""

from __future__ import annotations

from typing import Any

from jaxrl_modules.data.specs import Composite, TensorSpec
from jaxrl_modules.data.tensordict import NestedKey
from jaxrl_modules.tensordict_module.base import Keys, TensorDictModuleBase
from jaxrl_modules.tensordict_module.module import TensorDictModule
from jaxrl_modules.tensordict_module.q_value import (
    DistributionalDQNnet,
    DistributionalQValueModule,
    QValueModule,
)
from jaxrl_modules.tensordict_module.sequence import SafeSequential

__all__ = ["QValueActor", "DistributionalQValueActor"]


def _value_module(module: Any, in_keys: Any, action_value_key: NestedKey, owner: str) -> TensorDictModuleBase:
    if isinstance(module, TensorDictModuleBase):
        if action_value_key not in module.out_keys:
            raise KeyError(
                f"{owner}: the module's out_keys {list(module.out_keys)} do not contain the "
                f"action_value_key {action_value_key!r}."
            )
        return module
    return TensorDictModule(module, in_keys=in_keys or ["observation"], out_keys=[action_value_key])


def _actor_spec(spec: TensorSpec | None, action_key: NestedKey) -> Composite | None:
    """TorchRL's actor spec: a leaf spec becomes a Composite whose batch dims are the leaf's leading ones."""
    if spec is None or isinstance(spec, Composite):
        return spec
    return Composite(shape=spec.shape[:-1]).set(action_key, spec)


class QValueActor(SafeSequential):
    """A value network and a `QValueModule`: observation -> action values -> greedy action.

    Args:
      module: a flax module / callable on arrays (wrapped in a ``TensorDictModule`` reading
        ``in_keys`` and writing ``action_value_key``), or a key-based module writing
        ``action_value_key``.
      in_keys: the network's in keys, default ``["observation"]``.
      spec: the action spec (a leaf spec or a Composite).
      safe: project the action onto the spec.
      action_space: as `QValueModule` (or inferred from ``spec``).
      action_value_key, action_key, chosen_action_value_key: default ``"action_value"``,
        ``"action"``, ``"chosen_action_value"``.
      action_mask_key: the key of a boolean action mask (True = allowed); the actor then also
        writes ``"any_action_allowed"`` ``bool [*B]`` (see `QValueModule`).
      check_mask: as `QValueModule`: a ``checkify`` check that every row allows an action.
      strict_shape: as `QValueModule`.
      var_nums: block sizes for ``"mult_one_hot"`` (TorchRL's actor cannot pass them on).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import Linear, OneHot, QValueActor, TensorDict
      >>> actor = QValueActor(module=Linear(4), spec=OneHot(4))
      >>> td = TensorDict({"observation": jnp.ones((5, 3))}, batch_size=[5])
      >>> out = actor.apply(actor.init(jax.random.key(0), td), td)
      >>> out["action"].shape, out["action_value"].shape, out["chosen_action_value"].shape
      ((5, 4), (5, 4), (5, 1))
    """

    def __init__(
        self,
        module: Any = None,
        *,
        in_keys: Any = None,
        spec: TensorSpec | None = None,
        safe: bool = False,
        action_space: str | None = None,
        action_value_key: NestedKey | None = None,
        action_key: NestedKey | None = None,
        chosen_action_value_key: NestedKey | None = None,
        action_mask_key: NestedKey | None = None,
        strict_shape: bool | str = True,
        var_nums: Any = None,
        check_mask: bool = False,
        **fields: Any,
    ):
        if "modules" not in fields:  # flax's clone() passes the built modules back
            action_value_key = action_value_key or "action_value"
            action_key = action_key or "action"
            value = _value_module(module, in_keys, action_value_key, type(self).__name__)
            qvalue = QValueModule(
                action_space,
                action_value_key=action_value_key,
                action_mask_key=action_mask_key,
                out_keys=[action_key, action_value_key, chosen_action_value_key or "chosen_action_value"],
                var_nums=var_nums,
                spec=_actor_spec(spec, action_key),
                safe=safe,
                strict_shape=strict_shape,
                check_mask=check_mask,
            )
            fields["modules"] = (value, qvalue)
        super().__init__(**fields)

    @property
    def action_space(self) -> str:
        return self.modules[-1].action_space


class DistributionalQValueActor(SafeSequential):
    """A network emitting ``[*B, atoms, actions]``, a log-softmax over atoms, and a `DistributionalQValueModule`.

    Args:
      module: a network (or key-based module) producing action-value logits ``[*B, atoms,
        actions]`` at ``action_value_key``.
      support: the atoms' values ``[atoms]``.
      in_keys: the network's in keys, default ``["observation"]``.
      spec, safe, var_nums, action_space, action_mask_key, check_mask: as
        `DistributionalQValueModule`.
      action_value_key: default ``"action_value"``.
      make_log_softmax: insert a `DistributionalDQNnet` (log-softmax over atoms) after the
        network, unless the module already is one. It normalises only the action values (TorchRL
        also feeds it the mask and crashes).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import MLP, DistributionalQValueActor, OneHot, TensorDict
      >>> actor = DistributionalQValueActor(module=MLP(out_features=(3, 4), depth=2),
      ...                                   spec=OneHot(4), support=jnp.arange(3))
      >>> td = TensorDict({"observation": jnp.ones((5, 4))}, batch_size=[5])
      >>> out = actor.apply(actor.init(jax.random.key(0), td), td)
      >>> out["action"].shape, out["action_value"].shape
      ((5, 4), (5, 3, 4))
    """

    def __init__(
        self,
        module: Any = None,
        support: Any = None,
        in_keys: Any = None,
        spec: TensorSpec | None = None,
        safe: bool = False,
        var_nums: Any = None,
        action_space: str | None = None,
        action_value_key: NestedKey = "action_value",
        action_mask_key: NestedKey | None = None,
        make_log_softmax: bool = True,
        check_mask: bool = False,
        **fields: Any,
    ):
        if "modules" not in fields:
            value = _value_module(module, in_keys, action_value_key, type(self).__name__)
            modules: list = [value]
            if make_log_softmax and not isinstance(module, DistributionalDQNnet):
                key = Keys(action_value_key)
                modules.append(DistributionalDQNnet(in_keys=key, out_keys=key))
            modules.append(
                DistributionalQValueModule(
                    action_space,
                    support=support,
                    action_value_key=action_value_key,
                    action_mask_key=action_mask_key,
                    var_nums=var_nums,
                    spec=_actor_spec(spec, "action"),
                    safe=safe,
                    check_mask=check_mask,
                )
            )
            fields["modules"] = tuple(modules)
        super().__init__(**fields)

    @property
    def action_space(self) -> str:
        return self.modules[-1].action_space

    @property
    def support(self) -> tuple[float, ...]:
        return self.modules[-1].support
