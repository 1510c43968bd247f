"""Specs from gymnax spaces: ``Discrete`` -> `OneHot` / `Categorical`, ``Box`` -> `Bounded` /
`Unbounded` / `Binary`, ``Dict`` -> `Composite`.

As everywhere in jaxrl_modules, a spec is per sample: it has no batch dimensions (TorchRL's
batched environments put their batch size in front of every spec's shape).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnax.environments import spaces

from jaxrl_modules.data.specs import Binary, Bounded, Categorical, Composite, OneHot, TensorSpec, Unbounded

__all__ = ["spec_from_space"]


def spec_from_space(space: Any, categorical_action_encoding: bool = False) -> TensorSpec:
    """The spec of the values a gymnax space holds, as TorchRL's ``_gym_to_torchrl_spec_transform``.

    Args:
      space: a gymnax ``Discrete``, ``Box`` or ``Dict`` space.
      categorical_action_encoding: ``Discrete(n)`` becomes ``Categorical(n)`` (integer indices,
        shape ``()``) when True, ``OneHot(n)`` (bool, shape ``(n,)``) when False, TorchRL's default.

    Returns:
      ``Box`` becomes `Bounded` (its bounds, shape and dtype), `Unbounded` when every bound is
      infinite, `Binary` for a bool dtype; ``Dict`` becomes a `Composite` of its entries.

    Raises:
      TypeError: for another kind of space (``Tuple`` has no spec: TensorDict keys are strings).

    Examples:
      >>> from gymnax.environments import spaces
      >>> from jaxrl_modules.envs import spec_from_space
      >>> spec_from_space(spaces.Discrete(3))
      OneHot(n=3, shape=(3,), dtype=bool, domain=discrete)
      >>> spec_from_space(spaces.Discrete(3), categorical_action_encoding=True)
      Categorical(n=3, shape=(), dtype=int32, domain=discrete)
      >>> spec_from_space(spaces.Box(-1.0, 1.0, (2,)))
      Bounded(low=-1.0, high=1.0, shape=(2,), dtype=float32, domain=continuous)
    """
    if isinstance(space, spaces.Discrete):
        if categorical_action_encoding:
            return Categorical(space.n, dtype=space.dtype)
        return OneHot(space.n)
    if isinstance(space, spaces.Box):
        shape, dtype = tuple(space.shape), np.dtype(space.dtype)
        if dtype == np.bool_:
            return Binary(shape=shape, dtype=np.bool_)
        low = np.broadcast_to(np.asarray(space.low, dtype), shape)
        high = np.broadcast_to(np.asarray(space.high, dtype), shape)
        if np.issubdtype(dtype, np.floating) and np.all(np.isinf(low)) and np.all(np.isinf(high)):
            return Unbounded(shape=shape, dtype=dtype)
        if np.issubdtype(dtype, np.floating):
            # A Box bounded in some dims only: its infinite bounds become the dtype's largest
            # finite values, as a Bounded spec's bounds must be finite.
            info = np.finfo(dtype)
            low, high = np.clip(low, info.min, info.max), np.clip(high, info.min, info.max)
        low, high = (b.flat[0] if b.size and np.all(b == b.flat[0]) else b for b in (low, high))
        return Bounded(low, high, shape=shape, dtype=dtype)
    if isinstance(space, spaces.Dict):
        return Composite({k: spec_from_space(s, categorical_action_encoding) for k, s in space.spaces.items()})
    raise TypeError(
        f"spec_from_space: no spec for a gymnax {type(space).__name__} space; expected Discrete, Box or Dict."
    )
