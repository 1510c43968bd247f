"""Import TorchRL / PyTorch weights into flax variables.

`load_state_dict` pairs the flax modules that own variables, in the order they are first called,
with the PyTorch modules that own tensors, in ``state_dict`` order, and copies each tensor into
flax's layout:

============================  ======================================  ==========================
flax leaf                     PyTorch tensor                          layout change
============================  ======================================  ==========================
``kernel`` ``[in, out]``      ``weight`` ``[out, in]``                transposed
``kernel`` ``(kh, kw, i, o)`` ``weight`` ``(o, i, kh, kw)``           ``(2, 3, 1, 0)``
``scale``                     ``weight`` (LayerNorm, BatchNorm)       none
``mean`` / ``var``            ``running_mean`` / ``running_var``      none
any other name                the same name (``bias``...)             none
============================  ======================================  ==========================

With torch and torchrl installed::

    torch_net = torchrl.modules.MLP(in_features=4, out_features=2, num_cells=[64, 64])
    net = MLP(out_features=2, num_cells=[64, 64])
    variables = load_state_dict(net, torch_net, jnp.zeros((1, 4)))  # net.apply(variables, x)

A module family whose weights need more than this (LSTM gate blocks, noisy layers...) registers
its own converter with `register_converter`. torch is never imported here: tensors are read
through ``.detach().cpu().numpy()``.

`NoisyLinear` has one, below: ``weight_mu`` / ``weight_sigma`` ``[out, in]`` become
``kernel_mu`` / ``kernel_sigma`` ``[in, out]``, ``bias_mu`` / ``bias_sigma`` are copied, and the
noise buffers ``weight_epsilon = outer(eps_out, eps_in)`` and ``bias_epsilon = eps_out`` become
the held factors ``epsilon_in`` / ``epsilon_out`` of the ``"noise"`` collection, so that the
noisy outputs match TorchRL's too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_modules import rng
from jaxrl_modules.models.noisy import NOISE_COLLECTION, NoisyLinear

__all__ = [
    "StateDictStream",
    "convert_leaves",
    "load_state_dict",
    "register_converter",
    "torch_weight_to_kernel",
]

Path = tuple[str, ...]
Converter = Callable[[nn.Module, "StateDictStream", dict[str, Any]], dict[str, Any]]

_CONVERTERS: dict[type, Converter] = {}
_TORCH_NAME = {
    "kernel": "weight",
    "scale": "weight",
    "embedding": "weight",
    "mean": "running_mean",
    "var": "running_var",
}
_IGNORED_TORCH = frozenset({"num_batches_tracked"})
# Every RNG stream a module might draw from during init (DESIGN section 5).
_STREAMS = ("params", *rng.RNG_STREAMS)


def register_converter(flax_type: type) -> Callable[[Converter], Converter]:
    """Registers ``fn(module, stream, target) -> variables`` for a flax module type.

    ``target`` maps each collection (``"params"``, ``"batch_stats"``...) to the module's subtree
    of ``jax.ShapeDtypeStruct`` (children included); ``fn`` takes what it needs from ``stream``
    and returns the same structure filled with arrays. Subclasses use their base's converter.

    Args:
      flax_type: the ``flax.linen.Module`` subclass the converter handles.

    Returns:
      A decorator registering its function and returning it unchanged.

    Examples:
      >>> import flax.linen as nn, jax.numpy as jnp, numpy as np
      >>> class LogScale(nn.Module):  # its torch twin stores log(scale)
      ...     @nn.compact
      ...     def __call__(self, x):
      ...         return x * self.param("scale", nn.initializers.ones, (1,))
      >>> @register_converter(LogScale)
      ... def _(module, stream, target):
      ...     prefix, tensors = stream.pop("LogScale")
      ...     return {"params": {"scale": jnp.exp(tensors["log_scale"])}}
      >>> state = {"log_scale": np.zeros(1, np.float32)}
      >>> load_state_dict(LogScale(), state, jnp.ones((1,)))["params"]["scale"]
      Array([1.], dtype=float32)
    """

    def decorator(fn: Converter) -> Converter:
        _CONVERTERS[flax_type] = fn
        return fn

    return decorator


def torch_weight_to_kernel(weight: np.ndarray) -> np.ndarray:
    """PyTorch's ``[out, in, *kernel]`` weight as a flax ``[*kernel, in, out]`` kernel."""
    weight = np.asarray(weight)
    if weight.ndim < 2:
        return weight
    return np.transpose(weight, (*range(2, weight.ndim), 1, 0))


def _to_numpy(value: Any, key: str) -> np.ndarray:
    if type(value).__name__.startswith("Uninitialized"):
        raise ValueError(
            f"torch parameter {key!r} is uninitialised (a lazy layer): run one forward pass of "
            "the torch module before exporting its state_dict."
        )
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return np.asarray(value)


class StateDictStream:
    """The tensors of a PyTorch ``state_dict``, grouped by owning module, read in order.

    Args:
      state_dict: a mapping ``"0.weight" -> tensor`` (PyTorch's ``state_dict()``).

    Examples:
      >>> import numpy as np
      >>> stream = StateDictStream({"0.weight": np.ones((2, 3)), "0.bias": np.zeros(2), "2.weight": np.ones(1)})
      >>> prefix, tensors = stream.pop("linear_0")
      >>> prefix, sorted(tensors), stream.remaining()
      ('0', ['bias', 'weight'], ['2'])
    """

    def __init__(self, state_dict: Mapping[str, Any]) -> None:
        groups: dict[str, dict[str, np.ndarray]] = {}
        for key, value in state_dict.items():
            prefix, _, leaf = key.rpartition(".")
            groups.setdefault(prefix, {})[leaf] = _to_numpy(value, key)
        self._groups = list(groups.items())
        self._next = 0

    def pop(self, flax_path: str) -> tuple[str, dict[str, np.ndarray]]:
        """Returns the next torch module's ``(prefix, {name: array})`` for the flax module
        ``flax_path`` (used in the error when the state_dict has run out)."""
        if self._next >= len(self._groups):
            taken = [prefix for prefix, _ in self._groups]
            raise ValueError(
                f"The torch state_dict has no module left for flax module '{flax_path}': all "
                f"{len(taken)} torch modules with tensors ({taken}) were already used."
            )
        self._next += 1
        return self._groups[self._next - 1]

    def remaining(self) -> list[str]:
        """Prefixes of the torch modules not read yet."""
        return [prefix for prefix, _ in self._groups[self._next :]]


def convert_leaves(
    flax_path: str, own: Mapping[str, Mapping[str, Any]], prefix: str, tensors: Mapping[str, np.ndarray]
) -> dict[str, dict[str, jax.Array]]:
    """Fills one flax module's own leaves from one torch module's tensors, by name and shape.

    Args:
      flax_path: the flax module's path, for error messages.
      own: ``{collection: {leaf_name: ShapeDtypeStruct}}``.
      prefix: the torch module's ``state_dict`` prefix, for error messages.
      tensors: the torch module's ``{name: array}``.

    Returns:
      ``{collection: {leaf_name: array}}`` in the flax layout and dtype.
    """
    out: dict[str, dict[str, jax.Array]] = {}
    used = set()
    for collection, leaves in own.items():
        for name, struct in leaves.items():
            torch_name = _TORCH_NAME.get(name, name)
            where = f"{collection}/{flax_path}/{name}".replace("//", "/")
            if torch_name not in tensors:
                raise ValueError(
                    f"flax variable '{where}' has no counterpart '{prefix}.{torch_name}' in the torch "
                    f"state_dict; that torch module holds {sorted(tensors)}."
                )
            value = tensors[torch_name]
            if name == "kernel":
                value = torch_weight_to_kernel(value)
            if tuple(value.shape) != tuple(struct.shape):
                raise ValueError(
                    f"Shape mismatch: flax variable '{where}' has shape {tuple(struct.shape)}, torch "
                    f"'{prefix}.{torch_name}' gives {tuple(value.shape)} in flax layout."
                )
            out.setdefault(collection, {})[name] = jnp.asarray(value, dtype=struct.dtype)
            used.add(torch_name)
    extra = sorted(set(tensors) - used - _IGNORED_TORCH)
    if extra:
        raise ValueError(
            f"torch tensors {[f'{prefix}.{e}' for e in extra]} have no counterpart in flax module "
            f"'{flax_path}', which holds {[n for leaves in own.values() for n in leaves]}."
        )
    return out


def _subtree(tree: Mapping[str, Any], path: Path) -> Mapping[str, Any] | None:
    for name in path:
        if not isinstance(tree, Mapping) or name not in tree:
            return None
        tree = tree[name]
    return tree if isinstance(tree, Mapping) else None


def _set(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for name in path[:-1]:
        tree = tree.setdefault(name, {})
    tree[path[-1]] = value


def _converter_for(module_type: type) -> Converter | None:
    for cls in module_type.__mro__:
        if cls in _CONVERTERS:
            return _CONVERTERS[cls]
    return None


def _walk(path: Path, modules: dict[Path, nn.Module], shapes: dict, stream: StateDictStream, out: dict) -> None:
    name = "/".join(path) or "<root>"
    module = modules.get(path)
    converter = None if module is None else _converter_for(type(module))
    if converter is not None:
        target = {c: sub for c, tree in shapes.items() if (sub := _subtree(tree, path)) is not None}
        for collection, sub in converter(module, stream, target).items():
            for leaf_path, leaf in jax.tree_util.tree_flatten_with_path(sub)[0]:
                keys = tuple(str(k.key) for k in leaf_path)
                _set(out, (collection, *path, *keys), leaf)
        return
    own = {}
    for collection, tree in shapes.items():
        sub = _subtree(tree, path) or {}
        leaves = {k: v for k, v in sub.items() if not isinstance(v, Mapping)}
        if leaves:
            own[collection] = leaves
    if own:
        prefix, tensors = stream.pop(name)
        for collection, leaves in convert_leaves(name, own, prefix, tensors).items():
            for leaf_name, value in leaves.items():
                _set(out, (collection, *path, leaf_name), value)
    for child in (p for p in modules if len(p) == len(path) + 1 and p[: len(path)] == path):
        _walk(child, modules, shapes, stream, out)


def load_state_dict(flax_module: nn.Module, state_dict: Any, *sample_inputs: Any, **call_kwargs: Any) -> dict:
    """Builds the flax ``variables`` of ``flax_module`` from a TorchRL / PyTorch ``state_dict``.

    The variables' shapes come from ``jax.eval_shape(flax_module.init, ...)`` on the sample
    inputs (nothing is computed); they are then filled from the torch tensors, module by module
    in order. Any mismatch in count, name or shape raises a ValueError naming both sides.

    Args:
      flax_module: the flax module mirroring the torch one (same layer order).
      state_dict: a torch ``nn.Module`` or its ``state_dict()`` (tensors or arrays).
      *sample_inputs: example inputs (arrays or ``jax.ShapeDtypeStruct``) for ``init``.
      **call_kwargs: keyword arguments passed to ``init`` (e.g. ``deterministic=True``).

    Returns:
      The variables dict, ready for ``flax_module.apply(variables, ...)``.

    Examples:
      >>> import numpy as np
      >>> from jaxrl_modules.models import MLP
      >>> rng = np.random.default_rng(0)  # stands in for torchrl.modules.MLP(3, 2, num_cells=[8])
      >>> state = {"0.weight": rng.normal(size=(8, 3)), "0.bias": np.zeros(8),
      ...          "2.weight": rng.normal(size=(2, 8)), "2.bias": np.zeros(2)}
      >>> mlp = MLP(out_features=2, num_cells=[8])
      >>> variables = load_state_dict(mlp, state, np.zeros((1, 3), np.float32))
      >>> variables["params"]["linear_0"]["kernel"].shape  # [out, in] transposed to [in, out]
      (3, 8)
      >>> x = np.ones((4, 3), np.float32)
      >>> expected = np.tanh(x @ state["0.weight"].T) @ state["2.weight"].T
      >>> bool(np.allclose(mlp.apply(variables, x), expected, atol=1e-5))
      True
    """
    if callable(getattr(state_dict, "state_dict", None)):
        state_dict = state_dict.state_dict()
    inputs = [_to_numpy(x, "input") if hasattr(x, "detach") else x for x in sample_inputs]
    modules: dict[Path, nn.Module] = {}

    def record(next_fun: Callable, args: tuple, kwargs: dict, context: Any) -> Any:
        if context.module.scope is not None:  # unbound clones also run methods
            modules.setdefault(tuple(context.module.path), context.module)
        return next_fun(*args, **kwargs)

    rngs = dict(zip(_STREAMS, jax.random.split(jax.random.key(0), len(_STREAMS))))
    with nn.intercept_methods(record):
        shapes = jax.eval_shape(lambda *xs: flax_module.init(rngs, *xs, **call_kwargs), *inputs)
    stream = StateDictStream(state_dict)
    out: dict = {}
    _walk((), modules, dict(shapes), stream, out)
    if stream.remaining():
        raise ValueError(
            f"The torch state_dict has modules left over after every flax module was filled: {stream.remaining()}."
        )
    filled = set(_iter_paths(out))
    missing = ["/".join(p) for p in _iter_paths(shapes) if p not in filled]
    if missing:
        raise ValueError(f"flax variables {missing} were not filled from the torch state_dict.")
    return out


def _iter_paths(tree: Mapping[str, Any], prefix: Path = ()) -> Iterator[Path]:
    for key, value in tree.items():
        if isinstance(value, Mapping):
            yield from _iter_paths(value, (*prefix, key))
        else:
            yield (*prefix, key)


def _rank_one_factors(weight: np.ndarray, eps_out: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``(eps_in, eps_out)`` with ``outer(eps_out, eps_in) == weight`` (a rank-one ``[out, in]``).

    With the bias noise ``eps_out`` known, ``eps_in`` is the row of the largest ``|eps_out|``
    divided by it. Without it the factors are defined up to a scale: both are read off the row
    and column of the largest entry ``m`` and scaled by ``1/sqrt(|m|)`` (the sign of ``m`` goes
    to ``eps_in``), which reproduces the product exactly.
    """
    w = np.asarray(weight, np.float64)
    if eps_out is not None:
        eps_out = np.asarray(eps_out, np.float64)
        j = int(np.argmax(np.abs(eps_out)))
        if eps_out[j] == 0.0:  # weight noise is zero too: any eps_in gives the product
            return np.zeros(w.shape[1]), eps_out
        return w[j] / eps_out[j], eps_out
    i, j = np.unravel_index(int(np.argmax(np.abs(w))), w.shape)
    m = w[i, j]
    if m == 0.0:
        return np.zeros(w.shape[1]), np.zeros(w.shape[0])
    scale = np.sqrt(np.abs(m))
    return w[i] * np.sign(m) / scale, w[:, j] / scale


@register_converter(NoisyLinear)
def _noisy_linear(module: nn.Module, stream: StateDictStream, target: dict[str, Any]) -> dict[str, Any]:
    name = "/".join(module.path) or "<root>"
    prefix, tensors = stream.pop(name)
    params = target.get("params", {})
    bias = "bias_mu" in params
    wanted = ["weight_mu", "weight_sigma", "weight_epsilon"]
    if bias:
        wanted += ["bias_mu", "bias_sigma", "bias_epsilon"]
    missing = [t for t in wanted if t not in tensors]
    extra = sorted(set(tensors) - set(wanted))
    if missing or extra:
        raise ValueError(
            f"flax NoisyLinear '{name}' ({'with' if bias else 'without'} bias) needs torch tensors "
            f"{[f'{prefix}.{t}' for t in wanted]}; torch module '{prefix}' holds {sorted(tensors)}."
        )
    eps_in, eps_out = _rank_one_factors(tensors["weight_epsilon"], tensors["bias_epsilon"] if bias else None)
    values = {
        ("params", "kernel_mu"): torch_weight_to_kernel(tensors["weight_mu"]),
        ("params", "kernel_sigma"): torch_weight_to_kernel(tensors["weight_sigma"]),
        (NOISE_COLLECTION, "epsilon_in"): eps_in,
        (NOISE_COLLECTION, "epsilon_out"): eps_out,
    }
    if bias:
        values[("params", "bias_mu")] = tensors["bias_mu"]
        values[("params", "bias_sigma")] = tensors["bias_sigma"]
    out: dict[str, Any] = {}
    for (collection, leaf), value in values.items():
        struct = target.get(collection, {}).get(leaf)
        if struct is None:
            raise ValueError(f"flax NoisyLinear '{name}' has no variable '{collection}/{leaf}' to fill.")
        if tuple(value.shape) != tuple(struct.shape):
            raise ValueError(
                f"Shape mismatch: flax variable '{collection}/{name}/{leaf}' has shape "
                f"{tuple(struct.shape)}, torch module '{prefix}' gives {tuple(value.shape)} in flax layout."
            )
        out.setdefault(collection, {})[leaf] = jnp.asarray(value, dtype=struct.dtype)
    return out


# The families with their own converters register them on import (they need the registry above).
from jaxrl_modules.compat import torchrl_decision_transformer as _torchrl_decision_transformer  # noqa: E402,F401
from jaxrl_modules.compat import torchrl_model_based as _torchrl_model_based  # noqa: E402,F401
from jaxrl_modules.compat import torchrl_multiagent as _torchrl_multiagent  # noqa: E402,F401
from jaxrl_modules.compat import torchrl_recurrent as _torchrl_recurrent  # noqa: E402,F401
