"""TensorDictModule(MLP) forward at the jit boundary, against raw flax apply and TorchRL.

What the key-based layer costs per call: the same MLP (32 -> 256 -> 256 -> 8, Tanh) called as
``jax.jit(module.apply)(variables, td)`` on a TensorDict, as ``jax.jit(mlp.apply)(variables, x)`` on
an array, and as TorchRL's ``TensorDictModule(MLP)`` on a tensordict (eager, no grad).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import numpy as np

from jaxrl_modules import MLP, TensorDict, TensorDictModule

NAME = "tdmodule_mlp"
IN, CELLS, OUT = 32, [256, 256], 8


def sizes(smoke: bool) -> list[int]:
    return [1, 8] if smoke else [1, 256, 4096]


def implementations(batch: int) -> dict[str, Callable[[], object]]:
    x = jax.random.normal(jax.random.key(0), (batch, IN))
    td = TensorDict({"observation": x}, batch_size=[batch])
    mlp = MLP(in_features=IN, out_features=OUT, num_cells=CELLS)
    module = TensorDictModule(mlp, in_keys=["observation"], out_keys=["action"])
    outputs_only = TensorDictModule(mlp, in_keys=["observation"], out_keys=["action"], inplace=False)
    variables = module.init(jax.random.key(1), td)
    raw_variables = {"params": variables["params"]["module"]}

    key_based = jax.jit(module.apply)
    key_based_outputs = jax.jit(outputs_only.apply)
    raw = jax.jit(mlp.apply)
    impls = {
        "jaxrl_modules": lambda: jax.block_until_ready(key_based(variables, td)),
        "jaxrl_modules[inplace=False]": lambda: jax.block_until_ready(key_based_outputs(variables, td)),
        "jax": lambda: jax.block_until_ready(raw(raw_variables, x)),
    }
    torch_impl = _torchrl(batch, np.asarray(x), raw_variables)
    if torch_impl is not None:
        impls["torchrl"] = torch_impl
    return impls


def _torchrl(batch: int, x: np.ndarray, raw_variables) -> Callable[[], object] | None:
    try:
        import torch
        from tensordict import TensorDict as TorchTensorDict
        from tensordict.nn import TensorDictModule as TorchTDModule
        from torchrl.modules import MLP as TorchMLP
    except ImportError:
        return None
    torch.set_num_threads(2)
    net = TorchMLP(in_features=IN, out_features=OUT, num_cells=CELLS)
    module = TorchTDModule(net, in_keys=["observation"], out_keys=["action"])
    td = TorchTensorDict({"observation": torch.tensor(x)}, batch_size=[batch])

    def call():
        with torch.no_grad():
            return module(td)

    return call
