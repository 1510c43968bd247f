"""Flax serialization for TensorDict (``flax.serialization.to_bytes`` / ``from_bytes``).

It lives here rather than in ``data/`` so that the data layer stays free of flax; importing
``jaxrl_modules`` registers it.

A TensorDict's state dict is the plain nested ``dict`` of its entries (an empty TensorDict's is
``{}``: its batch marker holds no data). Typed PRNG keys (``jax.random.key``, e.g. the ``"_rng"``
entry of an environment's TensorDict) are stored as their ``jax.random.key_data`` and rebuilt with
the target's key implementation, since flax's msgpack cannot hold key arrays. For other pytrees
holding keys (a recipe's state), see `jaxrl_modules.checkpoint`.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import serialization

from jaxrl_modules.data.tensordict import TensorDict


def is_prng_key(x: Any) -> bool:
    """True for a typed PRNG key array (``jax.random.key``), False for anything else."""
    dtype = getattr(x, "dtype", None)
    return dtype is not None and jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def wrap_key_data_like(target: jax.Array, data: Any, where: str) -> jax.Array:
    """``data`` (a saved ``jax.random.key_data``) as keys of ``target``'s shape and implementation.

    ``where`` names the leaf in the error raised when ``data`` does not fit ``target``.
    """
    expected = jax.random.key_data(target).shape
    if tuple(np.shape(data)) != expected:
        raise ValueError(
            f"Cannot restore the PRNG keys at {where}: the target holds keys of shape {target.shape} "
            f"({jax.random.key_impl(target)}), whose key data has shape {expected}, but the saved key data "
            f"has shape {tuple(np.shape(data))}. Restore into a target built from the same config."
        )
    return jax.random.wrap_key_data(jnp.asarray(data), impl=jax.random.key_impl(target))


def _to_state_dict(td: TensorDict) -> dict[str, Any]:
    return {k: jax.random.key_data(v) if is_prng_key(v) else serialization.to_state_dict(v) for k, v in td.items()}


def _from_state_dict(target: TensorDict, state: dict[str, Any]) -> TensorDict:
    missing = set(target.keys()) - set(state)
    if missing:
        raise ValueError(f"Cannot restore TensorDict: the state has no entries {sorted(missing)}.")
    restored = {}
    for k, v in target.items():
        if is_prng_key(v) and not is_prng_key(state[k]):
            restored[k] = wrap_key_data_like(v, state[k], f"TensorDict entry {k!r}")
        else:
            restored[k] = serialization.from_state_dict(v, state[k])
    return TensorDict(restored, batch_size=target.batch_size)


serialization.register_serialization_state(TensorDict, _to_state_dict, _from_state_dict, override=True)
