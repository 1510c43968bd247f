"""Weight converters for the recurrent family: ``torch.nn.LSTM`` / ``GRU`` / ``LSTMCell`` / ``GRUCell``.

Our `LSTM`, `GRU`, `LSTMCell` and `GRUCell` keep PyTorch's parameter names, shapes and gate order
(``weight_ih_l{k}`` ``[G*H, in]``, ``weight_hh_l{k}`` ``[G*H, H]``, ``bias_ih_l{k}``,
``bias_hh_l{k}``), so tensors are copied as they are (`convert_leaves` checks names and shapes).
The converters registered here say clearly what is not supported: projections (``weight_hr_l{k}``,
``proj_size > 0``) and reverse directions (``*_reverse``, ``bidirectional=True``).

Through `jaxrl_modules.compat.torchrl.load_state_dict` they cover TorchRL's ``LSTMModule``
(tensors ``lstm.*``), ``GRUModule`` (``gru.*``), the Python ``LSTM`` / ``GRU`` and the testing
``LSTMNet`` (``mlp.*``, ``lstm.*``, ``linear.*``)::

    torch_module = torchrl.modules.LSTMModule(input_size=3, hidden_size=8, in_key="obs", out_key="emb")
    module = LSTMModule(input_size=3, hidden_size=8, in_key="obs", out_key="emb")
    variables = load_state_dict(module, torch_module, td)
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn

from jaxrl_modules.compat.torchrl import StateDictStream, convert_leaves, register_converter
from jaxrl_modules.models.recurrent import GRU, LSTM, GRUCell, LSTMCell

__all__: list[str] = []


def _copy(module: nn.Module, stream: StateDictStream, target: dict[str, Any], kind: str) -> dict[str, Any]:
    name = "/".join(module.path) or "<root>"
    prefix, tensors = stream.pop(name)
    unsupported = sorted(t for t in tensors if "_reverse" in t or t.startswith("weight_hr"))
    if unsupported:
        raise NotImplementedError(
            f"torch {kind} '{prefix}' has tensors {[f'{prefix}.{t}' for t in unsupported]}: bidirectional "
            f"or projected (proj_size > 0) recurrent layers are not supported by "
            f"jaxrl_modules' {type(module).__name__}."
        )
    return convert_leaves(name, target, prefix, tensors)


@register_converter(LSTM)
def _lstm(module: nn.Module, stream: StateDictStream, target: dict[str, Any]) -> dict[str, Any]:
    return _copy(module, stream, target, "LSTM")


@register_converter(GRU)
def _gru(module: nn.Module, stream: StateDictStream, target: dict[str, Any]) -> dict[str, Any]:
    return _copy(module, stream, target, "GRU")


@register_converter(LSTMCell)
def _lstm_cell(module: nn.Module, stream: StateDictStream, target: dict[str, Any]) -> dict[str, Any]:
    return _copy(module, stream, target, "LSTMCell")


@register_converter(GRUCell)
def _gru_cell(module: nn.Module, stream: StateDictStream, target: dict[str, Any]) -> dict[str, Any]:
    return _copy(module, stream, target, "GRUCell")
