"""Weight import from TorchRL state dicts (used by the parity tests); torch is never imported."""

from jaxrl_modules.compat.torchrl import (
    StateDictStream,
    convert_leaves,
    load_state_dict,
    register_converter,
    torch_weight_to_kernel,
)

__all__ = [
    "StateDictStream",
    "convert_leaves",
    "load_state_dict",
    "register_converter",
    "torch_weight_to_kernel",
]
