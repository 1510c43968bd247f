"""Greedy categorical action, chosen value and masking: what ``QValueModule`` computes per call.

Three ways, on random action values ``[B, n]`` (and, for ``+mask`` sizes, a random boolean mask
with at least one allowed action per row):

* ``jaxrl_modules``: ``jax.jit`` of `greedy_action` (mask passed, so masked actions are excluded)
  and `chosen_action_value`, plus `mask_action_values` for the masked values a module writes back;
* ``jax``: the same outputs hand-written with ``jnp.argmax``, ``jnp.take_along_axis`` and
  ``jnp.where(mask, q, finfo.min)``;
* ``torchrl``: TorchRL's ``QValueModule("categorical")`` (``action_mask_key`` for masked sizes),
  eager, on a tensordict, with 2 torch threads; ``torchrl[1 thread]`` is the same with 1 thread
  (our greedy path is one single-threaded XLA loop, and on a loaded 2-vCPU machine torch's second
  thread can make its 2-thread time swing by 10x or more).

Outputs per call: unmasked ``(action, chosen_action_value)``; masked ``(action, masked values,
chosen_action_value)``, as the module writes them.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.harness import torch_threads
from jaxrl_modules.functional.q_value import chosen_action_value, greedy_action, mask_action_values

NAME = "greedy_q_value"


def sizes(smoke: bool) -> list[str]:
    shapes = [(4, 5)] if smoke else [(16, 18), (4096, 18)]
    return [f"{b}x{n}{suffix}" for b, n in shapes for suffix in ("", "+mask")]


def _parse(size: str) -> tuple[int, int, bool]:
    shape, masked = size.removesuffix("+mask"), size.endswith("+mask")
    batch, n = (int(d) for d in shape.split("x"))
    return batch, n, masked


def _ours(q: jax.Array, mask: jax.Array | None = None):
    if mask is None:
        action = greedy_action(q)
        return action, chosen_action_value(q, action)
    masked = mask_action_values(q, mask)
    action = greedy_action(q, mask=mask)
    return action, masked, chosen_action_value(masked, action)


def _hand_written(q: jax.Array, mask: jax.Array | None = None):
    if mask is not None:
        q = jnp.where(mask, q, jnp.finfo(q.dtype).min)
    action = jnp.argmax(q, axis=-1)
    chosen = jnp.take_along_axis(q, action[..., None], axis=-1)
    return (action, chosen) if mask is None else (action, q, chosen)


def implementations(size: str) -> dict[str, Callable[[], object]]:
    batch, n, masked = _parse(size)
    value_key, mask_key, row_key = jax.random.split(jax.random.key(0), 3)
    q = jax.random.normal(value_key, (batch, n))
    mask = None
    if masked:
        allowed = jax.random.uniform(mask_key, (batch, n)) < 0.5
        one = jax.random.randint(row_key, (batch,), 0, n)
        mask = allowed | (jnp.arange(n)[None, :] == one[:, None])  # at least one allowed action per row
    args = (q,) if mask is None else (q, mask)
    ours, hand = jax.jit(_ours), jax.jit(_hand_written)
    impls = {
        "jaxrl_modules": lambda: jax.block_until_ready(ours(*args)),
        "jax": lambda: jax.block_until_ready(hand(*args)),
    }
    impls.update(_torchrl(np.asarray(q), None if mask is None else np.asarray(mask)))
    return impls


def _torchrl(q: np.ndarray, mask: np.ndarray | None) -> dict[str, Callable[[], object]]:
    try:
        import torch
        from tensordict import TensorDict as TorchTensorDict
        from torchrl.modules import QValueModule
    except ImportError:
        return {}
    entries = {"action_value": torch.tensor(q)}
    if mask is not None:
        entries["action_mask"] = torch.tensor(mask)
    # QValueModule overwrites action_value with its masked copy in place; masking is idempotent,
    # so calling it again on the same tensordict computes the same thing.
    td = TorchTensorDict(entries, batch_size=[q.shape[0]])
    module = QValueModule("categorical", action_mask_key=None if mask is None else "action_mask")

    def call():
        with torch.no_grad():
            return module(td)

    return torch_threads(call)
