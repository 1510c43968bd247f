"""TorchRL's ``LMHeadActorValueOperator``: an actor-critic over a language model's transformer and LM head.

The base model protocol (HuggingFace's ``*LMHeadModel`` shape, for flax):

* ``base_model.transformer``: a flax module (or callable) readable on the *unbound* base model,
  i.e. a dataclass field holding a module, not a submodule created in ``setup`` or inside a
  compact ``__call__``. It is called as ``transformer(input_ids=ids, attention_mask=mask)`` with
  ``ids`` ``int [*B, L]`` and ``mask`` ``[*B, L]`` (1 = attend) and returns the hidden states
  ``[*B, L, H]`` (an array: a model returning a tuple or an output object needs a thin adapter).
  `GPT2Model` built with ``vocab_size=`` satisfies it.
* ``base_model.lm_head``: likewise a field; it maps ``[*B, H]`` to token logits ``[*B, V]``.

The operator runs them under its own names, so its variables are not the base model's: use
`LMHeadActorValueOperator.import_base_variables` to put a trained base model's parameters in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flax
import jax
import jax.numpy as jnp

from jaxrl_modules.distributions import MaskedCategorical
from jaxrl_modules.models.layers import Linear
from jaxrl_modules.tensordict_module.actors import ActorValueOperator
from jaxrl_modules.tensordict_module.module import TensorDictModule
from jaxrl_modules.tensordict_module.probabilistic import (
    SafeProbabilisticModule,
    SafeProbabilisticTensorDictSequential,
)
from jaxrl_modules.tensordict_module.sequence import TensorDictSequential

__all__ = ["LMHeadActorValueOperator"]


def _last_token(x: jax.Array) -> jax.Array:
    """The hidden state of the last position: ``[*B, L, H] -> [*B, H]``."""
    return x[..., -1, :]


def _token_categorical(logits: jax.Array) -> MaskedCategorical:
    """A categorical over all tokens (torch's ``Categorical``): every class allowed."""
    return MaskedCategorical(logits=logits, mask=jnp.ones(jnp.shape(logits), bool))


def _part(base_model: Any, attr: str) -> Any:
    try:
        part = getattr(base_model, attr)
    except AttributeError:
        part = None
    if part is None or not callable(part):
        raise TypeError(
            f"LMHeadActorValueOperator: base_model ({type(base_model).__name__}) must expose a callable "
            f"`{attr}` readable on the unbound model (a dataclass field holding a module, not a "
            "submodule made in setup or __call__); see the module docstring."
        )
    return part


class LMHeadActorValueOperator(ActorValueOperator):
    """An `ActorValueOperator` built from a language model with a ``transformer`` and an ``lm_head``.

    * common: ``transformer(input_ids=..., attention_mask=...)`` -> ``"x"`` ``[*B, L, H]``, then
      the last position ``x[..., -1, :]`` -> ``"x"`` ``[*B, H]``;
    * policy head: ``lm_head("x")`` -> ``"logits"`` ``[*B, V]``, then a categorical over tokens
      -> ``"action"`` ``int32 [*B]`` and ``"action_log_prob"`` ``[*B]`` (sampled under
      ``RANDOM``; the most likely token under the default DETERMINISTIC interaction);
    * value head: ``Linear(1, use_bias=False)`` (PyTorch's init) on ``"x"`` -> ``"state_value"``
      ``[*B, 1]``.

    Args:
      base_model: a flax model following the protocol of the module docstring.

    Examples:
      >>> import flax.linen as nn, jax, jax.numpy as jnp
      >>> from jaxrl_modules import ExplorationType, Linear, TensorDict
      >>> from jaxrl_modules.models.decision_transformer import GPT2Model
      >>> class TinyLM(nn.Module):
      ...     transformer: nn.Module
      ...     lm_head: nn.Module
      ...     def __call__(self, input_ids, attention_mask=None):
      ...         return self.lm_head(self.transformer(input_ids=input_ids, attention_mask=attention_mask))
      >>> config = {"n_embd": 16, "n_layer": 1, "n_head": 2, "n_inner": 32, "n_positions": 8}
      >>> lm = TinyLM(GPT2Model(config, vocab_size=11, deterministic=True), Linear(11, use_bias=False))
      >>> op = LMHeadActorValueOperator(lm)
      >>> td = TensorDict({"input_ids": jnp.array([[3, 5, 7]]), "attention_mask": jnp.ones((1, 3))},
      ...                 batch_size=[1])
      >>> variables = op.init(jax.random.key(0), td)
      >>> out = op.apply(variables, td, exploration_type=ExplorationType.RANDOM,
      ...                rngs={"sample": jax.random.key(1)})
      >>> out["logits"].shape, out["action"].shape, out["action_log_prob"].shape, out["state_value"].shape
      ((1, 11), (1,), (1,), (1, 1))
    """

    def __init__(self, base_model: Any = None, **fields: Any):
        if "modules" not in fields:  # flax's clone() passes the built modules back
            transformer, lm_head = _part(base_model, "transformer"), _part(base_model, "lm_head")
            common = TensorDictSequential(
                TensorDictModule(
                    transformer,
                    in_keys={"input_ids": "input_ids", "attention_mask": "attention_mask"},
                    out_keys=["x"],
                ),
                TensorDictModule(_last_token, in_keys=["x"], out_keys=["x"]),
            )
            policy = SafeProbabilisticTensorDictSequential(
                TensorDictModule(lm_head, in_keys=["x"], out_keys=["logits"]),
                SafeProbabilisticModule(
                    in_keys=["logits"],
                    out_keys=["action"],
                    distribution_class=_token_categorical,
                    return_log_prob=True,
                ),
            )
            value = TensorDictModule(Linear(1, use_bias=False), in_keys=["x"], out_keys=["state_value"])
            fields["modules"] = (common, policy, value)
        elif base_model is not None:
            raise TypeError("LMHeadActorValueOperator: pass base_model or modules=, not both.")
        super().__init__(**fields)

    @staticmethod
    def import_base_variables(variables: Mapping, base_variables: Mapping) -> dict:
        """Copies a base model's ``transformer`` and ``lm_head`` variables into the operator's.

        Args:
          variables: the operator's variables (from ``op.init``), which fix the structure and keep
            the value head.
          base_variables: the base model's variables, with ``transformer`` and ``lm_head``
            subtrees in each collection (``{"params": {"transformer": ..., "lm_head": ...}}``).

        Returns:
          The operator's variables with the two subtrees replaced (their structure must match).

        Examples:
          >>> import flax.linen as nn, jax, jax.numpy as jnp
          >>> from jaxrl_modules import Linear, TensorDict
          >>> from jaxrl_modules.models.decision_transformer import GPT2Model
          >>> class TinyLM(nn.Module):
          ...     transformer: nn.Module
          ...     lm_head: nn.Module
          ...     def __call__(self, input_ids, attention_mask=None):
          ...         return self.lm_head(self.transformer(input_ids=input_ids, attention_mask=attention_mask))
          >>> lm = TinyLM(GPT2Model({"n_embd": 8, "n_layer": 1, "n_head": 2, "n_positions": 4},
          ...             vocab_size=5, deterministic=True), Linear(5))
          >>> ids = jnp.array([[1, 2]])
          >>> lm_variables = lm.init(jax.random.key(0), ids)
          >>> op = LMHeadActorValueOperator(lm)
          >>> td = TensorDict({"input_ids": ids, "attention_mask": jnp.ones((1, 2))}, batch_size=[1])
          >>> variables = op.import_base_variables(op.init(jax.random.key(1), td), lm_variables)
          >>> bool(jnp.allclose(op.apply(variables, td)["logits"], lm.apply(lm_variables, ids)[:, -1]))
          True
        """
        out = flax.core.unfreeze(variables)
        for collection, tree in base_variables.items():
            if collection not in out:
                raise KeyError(f"LMHeadActorValueOperator: the operator has no {collection!r} variables.")
            for part, path in (
                ("transformer", ("modules_0", "modules_0", "module")),
                ("lm_head", ("modules_1", "modules_0", "module")),
            ):
                if part not in tree:
                    continue
                node = out[collection]
                for name in path[:-1]:
                    node = node[name]
                old, new = node[path[-1]], flax.core.unfreeze(tree[part])
                if jax.tree_util.tree_structure(old) != jax.tree_util.tree_structure(new) or any(
                    a.shape != b.shape for a, b in zip(jax.tree_util.tree_leaves(old), jax.tree_util.tree_leaves(new))
                ):
                    raise ValueError(
                        f"LMHeadActorValueOperator: the base model's {collection}/{part} does not match the "
                        "operator's (another architecture?)."
                    )
                node[path[-1]] = new
        return out
