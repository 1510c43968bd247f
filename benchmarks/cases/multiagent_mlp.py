"""MultiAgentMLP forward: each agent's own MLP on its own observation (MAPPO-style policy body).

``[B, n_agents, n_in] -> [B, n_agents, n_out]`` with depth 2, Tanh, separate parameters, not
centralised (``sep``), and the same with shared parameters (``shared``). Each implementation is
one call run to completion:

* ``jaxrl_modules``: ``jax.jit(MultiAgentMLP(...).apply)(variables, x)``;
* ``jax``: hand-written JAX: a plain MLP function on one agent's parameters, ``jax.vmap``-ed over
  the stacked parameters and the agent axis (``in_axes=(0, 1), out_axes=1``), jitted; with
  shared parameters, the MLP function on the whole input;
* ``torchrl``: TorchRL's ``MultiAgentMLP`` with the same configuration, eager, under
  ``torch.no_grad()`` (2 torch threads), ``torchrl[1 thread]`` with 1.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.harness import torch_threads
from jaxrl_modules.models.multiagent import MultiAgentMLP

NAME = "multiagent_mlp"
_CELLS = 64
_DEPTH = 2


def sizes(smoke: bool) -> list[str]:
    if smoke:
        return ["sep-4x2x8x2"]
    return ["sep-256x8x32x8", "shared-256x8x32x8"]


def _mlp(params: dict, x: jax.Array) -> jax.Array:
    for i in range(_DEPTH + 1):
        layer = params[f"linear_{i}"]
        x = x @ layer["kernel"] + layer["bias"].reshape(
            (1,) * (x.ndim - 1) + (-1,)
        )  # explicit: tests raise on rank promotion
        if i < _DEPTH:
            x = jnp.tanh(x)
    return x


def _blocking(fn: Callable, *args) -> Callable[[], object]:
    jitted = jax.jit(fn)
    return lambda: jax.block_until_ready(jitted(*args))


def implementations(size: str) -> dict[str, Callable[[], object]]:
    mode, dims = size.split("-")
    batch, n_agents, n_in, n_out = (int(s) for s in dims.split("x"))
    shared = mode == "shared"
    net = MultiAgentMLP(n_in, n_out, n_agents, centralized=False, share_params=shared, depth=_DEPTH, num_cells=_CELLS)
    x = jax.random.normal(jax.random.key(0), (batch, n_agents, n_in))
    variables = net.init(jax.random.key(1), x)
    if shared:
        hand = _blocking(_mlp, variables["params"]["shared_network"], x)
    else:
        stacked = variables["params"]["agent_networks"]
        hand = _blocking(jax.vmap(_mlp, in_axes=(0, 1), out_axes=1), stacked, x)
    impls = {"jaxrl_modules": _blocking(net.apply, variables, x), "jax": hand}
    impls.update(_torchrl(n_in, n_out, n_agents, shared, np.asarray(x)))
    return impls


def _torchrl(n_in: int, n_out: int, n_agents: int, shared: bool, x: np.ndarray) -> dict[str, Callable[[], object]]:
    try:
        import torch
        from torchrl.modules import MultiAgentMLP as TorchMultiAgentMLP
    except ImportError:
        return {}
    torch.manual_seed(0)
    net = TorchMultiAgentMLP(
        n_in, n_out, n_agents, centralized=False, share_params=shared, depth=_DEPTH, num_cells=_CELLS
    )
    x_t = torch.tensor(np.array(x))

    def call():
        with torch.no_grad():
            return net(x_t)

    return torch_threads(call)
