"""Weight import for the Dreamer networks (`jaxrl_modules.models.model_based`).

Registered with `jaxrl_modules.compat.torchrl.register_converter`, so `load_state_dict` imports a
TorchRL ``RSSMPrior``, ``ObsDecoder`` (and anything holding them, such as an ``RSSMRollout``):

=====================================  =========================================  ===============
flax                                   PyTorch                                    layout change
=====================================  =========================================  ===============
``ConvTranspose2d.kernel``             ``ConvTranspose2d.weight``                 ``(2, 3, 0, 1)``
``(kh, kw, in, out)``                  ``(in, out, kh, kw)``
=====================================  =========================================  ===============

The prior's GRU cell is `jaxrl_modules.models.recurrent.GRUCell`, which keeps PyTorch's names,
layout and gate order. ``RSSMPrior`` calls its layers in another order than
TorchRL registers them (the action projector runs before the GRU cell, which TorchRL registers
first), so its converter reads the four torch modules by name.

Examples:
  >>> import numpy as np, jax.numpy as jnp
  >>> from jaxrl_modules.compat.torchrl import load_state_dict
  >>> from jaxrl_modules.models.layers import ConvTranspose2d
  >>> weight = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 2, 2)  # torch (in, out, kh, kw)
  >>> variables = load_state_dict(ConvTranspose2d(3, 2), {"weight": weight, "bias": np.zeros(3)},
  ...                             jnp.zeros((1, 1, 1, 2)))
  >>> variables["params"]["kernel"].shape
  (2, 2, 2, 3)
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import numpy as np

from jaxrl_modules.compat.torchrl import StateDictStream, convert_leaves, register_converter
from jaxrl_modules.models.layers import ConvTranspose2d
from jaxrl_modules.models.model_based import RSSMPrior

__all__: list[str] = []


def _path(module: nn.Module) -> str:
    return "/".join(module.path) or "<root>"


@register_converter(ConvTranspose2d)
def _conv_transpose(module: nn.Module, stream: StateDictStream, target: dict[str, Any]) -> dict[str, Any]:
    name = _path(module)
    prefix, tensors = stream.pop(name)
    # A transposed conv stores (in, out, kh, kw); swapped to a conv's (out, in, kh, kw), the shared
    # path lays it out as our (kh, kw, in, out).
    if "weight" in tensors:
        tensors = {**tensors, "weight": np.swapaxes(tensors["weight"], 0, 1)}
    return convert_leaves(name, target, prefix, tensors)


# TorchRL's registration order; flax calls action_state_projector_0 before rnn.
_PRIOR_ORDER = ("rnn", "action_state_projector_0", "rnn_to_prior_projector_0", "rnn_to_prior_projector_2")


@register_converter(RSSMPrior)
def _rssm_prior(module: nn.Module, stream: StateDictStream, target: dict[str, Any]) -> dict[str, Any]:
    name = _path(module)
    params = target.get("params", {})
    out: dict[str, Any] = {}
    for child in _PRIOR_ORDER:
        child_path = f"{name}/{child}"
        prefix, tensors = stream.pop(child_path)
        torch_name = child.replace("_0", ".0").replace("_2", ".2")
        if prefix != torch_name and not prefix.endswith("." + torch_name):
            raise ValueError(
                f"flax RSSMPrior '{name}' expected the torch module '{torch_name}' next (TorchRL's order "
                f"{[c.replace('_0', '.0').replace('_2', '.2') for c in _PRIOR_ORDER]}), got '{prefix}'."
            )
        sub = {"params": params.get(child, {})}
        filled = convert_leaves(child_path, sub, prefix, tensors)
        out[child] = filled["params"]
    return {"params": out}
