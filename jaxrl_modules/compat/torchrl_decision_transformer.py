"""Weight import for GPT-2 and the Decision Transformer family (registered with `load_state_dict`).

* `GPT2Model` takes a HuggingFace ``GPT2Model`` state_dict (or the ``transformer.*`` part of a
  ``GPT2LMHeadModel`` / TorchRL ``DecisionTransformer``): ``wte``, ``wpe``, then per block
  ``ln_1``, ``attn.c_attn``, ``attn.c_proj``, ``ln_2``, ``mlp.c_fc``, ``mlp.c_proj``, then
  ``ln_f``. HuggingFace's ``Conv1D`` weights are already ``[in, out]``, our kernels' layout, so
  they are copied as they are (only ``nn.Linear`` weights are transposed). A `GPT2Model` without a
  token embedding (``vocab_size=None``, as inside `DecisionTransformer`) drops the torch ``wte``
  (TorchRL's is a ``[1, n_embd]`` placeholder its model never reads); the causal-mask buffers of
  older ``transformers`` versions (``attn.bias``, ``attn.masked_bias``) are skipped.
* `DecisionTransformer`: TorchRL stores its GPT-2 first, then ``embed_return``, ``embed_state``,
  ``embed_action`` and ``embed_ln``, while ours calls the embeddings first; the converter reads
  them in TorchRL's order. `DTActor` / `OnlineDTActor` need nothing more: their heads
  (``action_layer``; ``action_layer_mean``, ``action_layer_logstd``) follow in the same order.

Each torch module is checked by name (``...h.0.attn.c_attn``), so a state_dict of another
architecture raises a ValueError naming what was expected.

A HuggingFace ``GPT2LMHeadModel`` goes into a flax model with ``transformer`` (a `GPT2Model`
with ``vocab_size``) and ``lm_head`` (``Linear(vocab_size, use_bias=False)``) fields, called in
that order; `LMHeadActorValueOperator.import_base_variables` then puts them into the operator.

Examples:
  >>> import numpy as np, jax.numpy as jnp
  >>> from jaxrl_modules.compat.torchrl import load_state_dict
  >>> from jaxrl_modules.models.decision_transformer import GPT2Model
  >>> rng = np.random.default_rng(0)  # stands in for transformers.GPT2Model(config).state_dict()
  >>> w = lambda *shape: rng.normal(size=shape).astype(np.float32)
  >>> state = {"wte.weight": w(5, 8), "wpe.weight": w(4, 8)}
  >>> for name, shape in [("ln_1", (8,)), ("attn.c_attn", (8, 24)), ("attn.c_proj", (8, 8)),
  ...                     ("ln_2", (8,)), ("mlp.c_fc", (8, 16)), ("mlp.c_proj", (16, 8))]:
  ...     state[f"h.0.{name}.weight"], state[f"h.0.{name}.bias"] = w(*shape), w(shape[-1])
  >>> state["ln_f.weight"], state["ln_f.bias"] = w(8), w(8)
  >>> gpt = GPT2Model({"n_embd": 8, "n_layer": 1, "n_head": 2, "n_inner": 16, "n_positions": 4},
  ...                 vocab_size=5, deterministic=True)
  >>> variables = load_state_dict(gpt, state, jnp.zeros((1, 3), jnp.int32))
  >>> bool((variables["params"]["h_0"]["attn"]["c_attn"]["kernel"] == state["h.0.attn.c_attn.weight"]).all())
  True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax.numpy as jnp
import numpy as np

from jaxrl_modules.compat.torchrl import StateDictStream, convert_leaves, register_converter
from jaxrl_modules.models.decision_transformer import DecisionTransformer, GPT2Model

__all__: list[str] = []

# (flax path inside a block, HuggingFace name, is a Conv1D)
_BLOCK = (
    (("ln_1",), "ln_1", False),
    (("attn", "c_attn"), "attn.c_attn", True),
    (("attn", "c_proj"), "attn.c_proj", True),
    (("ln_2",), "ln_2", False),
    (("mlp", "c_fc"), "mlp.c_fc", True),
    (("mlp", "c_proj"), "mlp.c_proj", True),
)
_EMBEDDINGS = ("embed_return", "embed_state", "embed_action", "embed_ln")
_MASK_BUFFERS = frozenset({"bias", "masked_bias"})


def _owner(module: nn.Module) -> str:
    return "/".join(module.path) or "<root>"


def _pop(stream: StateDictStream, flax_path: str, expected: str) -> tuple[str, dict[str, np.ndarray]]:
    """The next torch module, which must be named ``expected`` (skipping old causal-mask buffers)."""
    while True:
        prefix, tensors = stream.pop(flax_path)
        if not ((prefix == "attn" or prefix.endswith(".attn")) and set(tensors) <= _MASK_BUFFERS):
            break
    if not (prefix == expected or prefix.endswith("." + expected)):
        raise ValueError(
            f"flax module '{flax_path}' expects the torch module '...{expected}' next in the state_dict "
            f"(HuggingFace GPT-2 / TorchRL DecisionTransformer order), got '{prefix}' holding {sorted(tensors)}."
        )
    return prefix, tensors


def _leaves(params: Mapping[str, Any], path: tuple[str, ...], owner: str) -> dict[str, Any]:
    node: Any = params
    for name in path:
        if not isinstance(node, Mapping) or name not in node:
            raise ValueError(f"flax module '{owner}' has no submodule '{'/'.join(path)}'.")
        node = node[name]
    return dict(node)


def _fill(owner, params, path, stream, torch_name, conv1d=False) -> dict[str, Any]:
    flax_path = "/".join((owner, *path))
    prefix, tensors = _pop(stream, flax_path, torch_name)
    if conv1d:  # HF Conv1D is [in, out] already; convert_leaves transposes a torch [out, in] weight
        tensors = {k: (np.swapaxes(v, 0, 1) if k == "weight" and v.ndim == 2 else v) for k, v in tensors.items()}
    return convert_leaves(flax_path, {"params": _leaves(params, path, owner)}, prefix, tensors)["params"]


def _put(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for name in path[:-1]:
        tree = tree.setdefault(name, {})
    tree[path[-1]] = value


def _gpt2_params(module: GPT2Model, owner: str, params: Mapping[str, Any], stream: StateDictStream) -> dict[str, Any]:
    out: dict[str, Any] = {}
    prefix, tensors = _pop(stream, f"{owner}/wte", "wte")
    if "wte" in params:
        weight = tensors.get("weight")
        if weight is None or tuple(weight.shape) != tuple(params["wte"].shape):
            raise ValueError(
                f"Shape mismatch: flax variable 'params/{owner}/wte' has shape {tuple(params['wte'].shape)}, torch "
                f"'{prefix}.weight' gives {None if weight is None else tuple(weight.shape)}."
            )
        out["wte"] = jnp.asarray(weight, dtype=params["wte"].dtype)
    prefix, tensors = _pop(stream, f"{owner}/wpe", "wpe")
    weight = tensors.get("weight")
    if weight is None or tuple(weight.shape) != tuple(params["wpe"].shape):
        raise ValueError(
            f"Shape mismatch: flax variable 'params/{owner}/wpe' has shape {tuple(params['wpe'].shape)}, torch "
            f"'{prefix}.weight' gives {None if weight is None else tuple(weight.shape)} (n_positions differs?)."
        )
    out["wpe"] = jnp.asarray(weight, dtype=params["wpe"].dtype)
    for i in range(module.config.n_layer):
        for path, torch_name, conv1d in _BLOCK:
            full = (f"h_{i}", *path)
            _put(out, full, _fill(owner, params, full, stream, f"h.{i}.{torch_name}", conv1d))
    out["ln_f"] = _fill(owner, params, ("ln_f",), stream, "ln_f")
    return out


@register_converter(GPT2Model)
def _gpt2(module: nn.Module, stream: StateDictStream, target: dict[str, Any]) -> dict[str, Any]:
    return {"params": _gpt2_params(module, _owner(module), target.get("params", {}), stream)}


@register_converter(DecisionTransformer)
def _decision_transformer(module: nn.Module, stream: StateDictStream, target: dict[str, Any]) -> dict[str, Any]:
    owner, params = _owner(module), target.get("params", {})
    gpt = GPT2Model(module.config, name="transformer")  # an unbound twin: only its config is read
    out: dict[str, Any] = {
        "transformer": _gpt2_params(gpt, f"{owner}/transformer", _leaves(params, ("transformer",), owner), stream)
    }
    for name in _EMBEDDINGS:
        out[name] = _fill(owner, params, (name,), stream, name)
    return {"params": out}
