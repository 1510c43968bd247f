"""Weight import for the multi-agent networks and QMixer (registered with `load_state_dict`).

* `MultiAgentMLP` / `MultiAgentConvNet` (any `MultiAgentNetBase`): TorchRL keeps the agents'
  parameters in one TensorDict, ``params``, whose state_dict holds ``params.<layer>.weight`` with a
  leading agent axis ``[n_agents, out, in]`` (no agent axis when ``share_params``). Each layer is
  converted agent by agent (``[out, in] -> [in, out]``, convolutions ``(o, i, kh, kw) ->
  (kh, kw, i, o)``) and re-stacked on the leading axis of ``params["agent_networks"]``, or
  converted once into ``params["shared_network"]``. TorchRL's layers come in layer order; ours are
  paired with them in the order of their index (``linear_0, linear_1, ..., bias_last`` or
  ``conv_0, norm_0, conv_1, ...``).
* `QMixer`: the five linear layers are matched by name (``hyper_w_1``, ``hyper_w_final``,
  ``hyper_b_1``, ``V.0``, ``V.2``), not by order.

The DDPG nets need nothing here: their layers are called in TorchRL's order, so the generic path
of `load_state_dict` pairs them.

Examples:
  >>> import numpy as np, jax
  >>> from jaxrl_modules.compat.torchrl import load_state_dict
  >>> from jaxrl_modules.models.multiagent import MultiAgentMLP
  >>> rng = np.random.default_rng(0)  # stands in for torchrl's MultiAgentMLP(3, 2, 4, ...).state_dict()
  >>> state = {"params.0.weight": rng.normal(size=(4, 2, 3)), "params.0.bias": rng.normal(size=(4, 2))}
  >>> net = MultiAgentMLP(3, 2, 4, centralized=False, share_params=False)
  >>> variables = load_state_dict(net, state, np.zeros((1, 4, 3), np.float32))
  >>> variables["params"]["agent_networks"]["linear_0"]["kernel"].shape  # [n_agents, in, out]
  (4, 3, 2)
  >>> x = rng.normal(size=(5, 4, 3)).astype(np.float32)
  >>> expected = np.einsum("bai,aoi->bao", x, state["params.0.weight"]) + state["params.0.bias"]
  >>> bool(np.allclose(net.apply(variables, x), expected, atol=1e-5))
  True
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_modules.compat.torchrl import StateDictStream, convert_leaves, register_converter
from jaxrl_modules.models.mixers import QMixer
from jaxrl_modules.models.multiagent import MultiAgentNetBase

__all__: list[str] = []


def _layer_order(name: str) -> tuple[float, str]:
    match = re.fullmatch(r".*?_(\d+)", name)
    return (int(match.group(1)) if match else math.inf, name)


def _children(owner: str, target: Mapping[str, Any], sub: str) -> dict[str, dict[str, dict[str, Any]]]:
    """``{child: {collection: {leaf: struct}}}`` for the single network stored under ``sub``."""
    children: dict[str, dict[str, dict[str, Any]]] = {}
    for collection, tree in target.items():
        for child, leaves in (tree.get(sub) or {}).items():
            if not isinstance(leaves, Mapping) or any(isinstance(v, Mapping) for v in leaves.values()):
                raise ValueError(
                    f"{owner}: weight import handles single networks whose layers hold their variables "
                    f"directly (MLP, ConvNet); '{collection}/{sub}/{child}' is nested deeper."
                )
            children.setdefault(child, {})[collection] = dict(leaves)
    return children


@register_converter(MultiAgentNetBase)
def _multi_agent(module: nn.Module, stream: StateDictStream, target: dict[str, Any]) -> dict[str, Any]:
    owner = "/".join(module.path) or "<root>"
    sub = "shared_network" if module.share_params else "agent_networks"
    n = module.n_agents
    out: dict[str, Any] = {}
    for child in sorted(_children(owner, target, sub), key=_layer_order):
        own = _children(owner, target, sub)[child]
        path = f"{owner}/{sub}/{child}"
        prefix, tensors = stream.pop(path)
        if module.share_params:
            values = convert_leaves(path, own, prefix, tensors)
        else:
            bad = {k: v.shape for k, v in tensors.items() if v.ndim == 0 or v.shape[0] != n}
            if bad:
                raise ValueError(
                    f"{type(module).__name__}(n_agents={n}, share_params=False) '{owner}' expects torch tensors "
                    f"stacked on a leading agent axis of size {n}; '{prefix}' holds {bad}."
                )
            per_agent = {
                c: {k: jax.ShapeDtypeStruct(s.shape[1:], s.dtype) for k, s in leaves.items()}
                for c, leaves in own.items()
            }
            agents = [convert_leaves(path, per_agent, prefix, {k: v[i] for k, v in tensors.items()}) for i in range(n)]
            values = jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *agents)
        for collection, leaves in values.items():
            out.setdefault(collection, {}).setdefault(sub, {})[child] = leaves
    return out


_QMIXER_LAYERS = {
    ("hyper_w_1",): "hyper_w_1",
    ("hyper_w_final",): "hyper_w_final",
    ("hyper_b_1",): "hyper_b_1",
    ("V", "layers_0"): "V.0",
    ("V", "layers_2"): "V.2",
}


@register_converter(QMixer)
def _qmixer(module: nn.Module, stream: StateDictStream, target: dict[str, Any]) -> dict[str, Any]:
    owner = "/".join(module.path) or "<root>"
    groups: dict[str, tuple[str, dict[str, np.ndarray]]] = {}
    for _ in _QMIXER_LAYERS:
        prefix, tensors = stream.pop(f"{owner} (QMixer)")
        torch_name = next((t for t in _QMIXER_LAYERS.values() if prefix == t or prefix.endswith("." + t)), None)
        if torch_name is None or torch_name in groups:
            raise ValueError(
                f"QMixer '{owner}' expects torch layers {sorted(_QMIXER_LAYERS.values())} once each; got "
                f"'{prefix}'{' twice' if torch_name else ''}."
            )
        groups[torch_name] = (prefix, tensors)
    out: dict[str, Any] = {}
    params = target.get("params", {})
    for flax_path, torch_name in _QMIXER_LAYERS.items():
        leaves = params
        for part in flax_path:
            leaves = leaves[part]
        prefix, tensors = groups[torch_name]
        values = convert_leaves(f"{owner}/{'/'.join(flax_path)}", {"params": dict(leaves)}, prefix, tensors)
        node = out.setdefault("params", {})
        for part in flax_path[:-1]:
            node = node.setdefault(part, {})
        node[flax_path[-1]] = values["params"]
    return out
