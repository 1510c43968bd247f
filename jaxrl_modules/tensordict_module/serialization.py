"""Flax serialization for TensorDict (``flax.serialization.to_bytes`` / ``from_bytes``).

It lives here rather than in ``data/`` so that the data layer stays free of flax; importing
``jaxrl_modules`` registers it.
"""

from __future__ import annotations

from typing import Any

from flax import serialization

from jaxrl_modules.data.tensordict import TensorDict


def _to_state_dict(td: TensorDict) -> dict[str, Any]:
    return {k: serialization.to_state_dict(v) for k, v in td.items()}


def _from_state_dict(target: TensorDict, state: dict[str, Any]) -> TensorDict:
    missing = set(target.keys()) - set(state)
    if missing:
        raise ValueError(f"Cannot restore TensorDict: the state has no entries {sorted(missing)}.")
    restored = {k: serialization.from_state_dict(v, state[k]) for k, v in target.items()}
    return TensorDict(restored, batch_size=target.batch_size)


serialization.register_serialization_state(TensorDict, _to_state_dict, _from_state_dict, override=True)
