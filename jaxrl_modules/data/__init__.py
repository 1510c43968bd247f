"""Data layer: the TensorDict pytree and the tensor specs (no flax here)."""

from jaxrl_modules.data.tensordict import NestedKey, TensorDict, cat, stack, unravel_key

__all__ = ["NestedKey", "TensorDict", "cat", "stack", "unravel_key"]
