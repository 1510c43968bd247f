"""A uniform replay buffer over TensorDicts, as pure functions: a ring of ``capacity`` transitions.

The buffer is a pytree (`ReplayBuffer`), so it lives in a training loop's carry: ``add`` writes a
batch of transitions at the ring's position, ``sample`` draws uniformly among those written.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from jaxrl_modules.data.tensordict import TensorDict

__all__ = ["ReplayBuffer", "replay_init", "replay_add", "replay_sample"]


class ReplayBuffer(NamedTuple):
    storage: TensorDict  # batch size [capacity]
    position: jax.Array  # int32 scalar: where the next transition goes
    size: jax.Array  # int32 scalar: how many are stored (<= capacity)


def replay_init(example: TensorDict, capacity: int) -> ReplayBuffer:
    """An empty buffer of ``capacity`` transitions shaped like ``example``'s batch ``[n]``'s rows."""
    if capacity < 1:
        raise ValueError(f"replay_init: capacity must be >= 1, got {capacity}.")
    row = example[0]
    storage = row.apply(lambda x: jnp.zeros((capacity, *x.shape), x.dtype)).reshape(capacity)
    return ReplayBuffer(storage, jnp.zeros((), jnp.int32), jnp.zeros((), jnp.int32))


def replay_add(buffer: ReplayBuffer, batch: TensorDict) -> ReplayBuffer:
    """Write the ``[n]`` transitions of ``batch`` at the ring's position (``n <= capacity``)."""
    capacity = buffer.storage.batch_size[0]
    n = batch.batch_size[0]
    if n > capacity:
        raise ValueError(f"replay_add: a batch of {n} transitions does not fit a capacity of {capacity}.")
    index = (buffer.position + jnp.arange(n)) % capacity
    storage = jax.tree.map(lambda s, x: s.at[index].set(x.astype(s.dtype)), buffer.storage, batch)
    return ReplayBuffer(storage, (buffer.position + n) % capacity, jnp.minimum(buffer.size + n, capacity))


def replay_sample(buffer: ReplayBuffer, key: jax.Array, batch_size: int) -> TensorDict:
    """``batch_size`` transitions drawn uniformly (with replacement) among those stored."""
    index = jax.random.randint(key, (batch_size,), 0, jnp.maximum(buffer.size, 1))
    return buffer.storage[index]
