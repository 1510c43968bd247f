"""Activation and normalisation layers given TorchRL-style: a torch class name, a function, a class.

TorchRL networks take ``activation_class=nn.Tanh, activation_kwargs={...}`` and
``norm_class=nn.LayerNorm, norm_kwargs={...}``. `make_layer` accepts the same, in four forms:

* a torch class name, ``"Tanh"``, ``"LeakyReLU"``, ``"LayerNorm"`` (case-insensitive), with
  PyTorch's keyword arguments and defaults (``LayerNorm``'s ``eps`` is 1e-5 as in PyTorch);
* a torch class itself, ``torch.nn.Tanh``, looked up by its ``__name__`` (torch is not imported);
* a jax function such as ``jax.nn.relu`` or ``jnp.tanh``; keyword arguments are bound to it;
* a ``flax.linen.Module`` class, instantiated with the keyword arguments as given.

Sizes given PyTorch-style are checked as PyTorch checks them, not ignored: a ``LayerNorm`` /
``RMSNorm`` ``normalized_shape`` must equal the input's trailing dims and a ``BatchNorm``
``num_features`` its channel count (a ValueError at trace time), and every size must be positive.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl_modules.models._checks import check_int, check_sizes

__all__ = ["make_layer", "known_layer_names", "LayerSpec"]

LayerSpec = str | type | Callable[..., Any]


class _Context(NamedTuple):
    name: str | None
    deterministic: bool
    channel_axis: int


def _fn(f: Callable[..., jax.Array], **kwargs: Any) -> Callable[[jax.Array], jax.Array]:
    return functools.partial(f, **kwargs) if kwargs else f


def _softplus(x: jax.Array, beta: float, threshold: float) -> jax.Array:
    # PyTorch reverts to the identity where beta * x > threshold.
    return jnp.where(beta * x > threshold, x, jax.nn.softplus(beta * x) / beta)


def _identity(x: jax.Array) -> jax.Array:
    return x


# Each factory takes the context and PyTorch's keyword arguments, with PyTorch's defaults.
def _tanh(ctx):
    return jnp.tanh


def _relu(ctx, inplace=False):
    return jax.nn.relu


def _relu6(ctx, inplace=False):
    return jax.nn.relu6


def _elu(ctx, alpha=1.0, inplace=False):
    return _fn(jax.nn.elu, alpha=alpha)


def _celu(ctx, alpha=1.0, inplace=False):
    return _fn(jax.nn.celu, alpha=alpha)


def _leaky_relu(ctx, negative_slope=0.01, inplace=False):
    return _fn(jax.nn.leaky_relu, negative_slope=negative_slope)


def _gelu(ctx, approximate="none"):
    if approximate not in ("none", "tanh"):
        raise ValueError(f"GELU approximate must be 'none' or 'tanh', got {approximate!r}.")
    return _fn(jax.nn.gelu, approximate=approximate == "tanh")


def _silu(ctx, inplace=False):
    return jax.nn.silu


def _sigmoid(ctx):
    return jax.nn.sigmoid


def _log_sigmoid(ctx):
    return jax.nn.log_sigmoid


def _softplus_factory(ctx, beta=1.0, threshold=20.0):
    return _fn(_softplus, beta=beta, threshold=threshold)


def _identity_factory(ctx, *args, **kwargs):  # torch.nn.Identity ignores its arguments
    return _identity


def _mish(ctx, inplace=False):
    return jax.nn.mish


def _selu(ctx, inplace=False):
    return jax.nn.selu


def _softsign(ctx):
    return jax.nn.soft_sign


def _hardtanh(ctx, min_val=-1.0, max_val=1.0, inplace=False):
    if not min_val <= max_val:  # as torch: an empty interval would map everything to max_val
        raise ValueError(
            f"Hardtanh: max_val must be greater than or equal to min_val, got min_val={min_val}, max_val={max_val}."
        )
    return _fn(jnp.clip, min=min_val, max=max_val)


def _hardswish(ctx, inplace=False):
    return jax.nn.hard_swish


def _hardsigmoid(ctx, inplace=False):
    return jax.nn.hard_sigmoid


def _softmax(ctx, dim=-1):  # PyTorch's legacy implicit dim (None) is replaced by the last axis
    return _fn(jax.nn.softmax, axis=-1 if dim is None else dim)


def _log_softmax(ctx, dim=-1):
    return _fn(jax.nn.log_softmax, axis=-1 if dim is None else dim)


def _trailing_axes(normalized_shape: int | Sequence[int] | None) -> int | tuple[int, ...]:
    if normalized_shape is None or isinstance(normalized_shape, int):
        return -1
    return tuple(range(-len(normalized_shape), 0))


def _sized(
    layer: nn.Module, owner: str, arg: str, expected: tuple[int, ...] | None, axes: Callable[[jax.Array], tuple]
):
    """``layer`` behind a check that the input's normalised dims are ``expected`` (PyTorch checks
    ``normalized_shape`` / ``num_features``; flax would silently normalise whatever it gets)."""
    if expected is None:
        return layer
    expected = check_sizes(owner, arg, expected)

    def call(x: jax.Array, *args: Any, **kwargs: Any) -> jax.Array:
        got = axes(x)
        if got != expected:
            raise ValueError(
                f"{owner}({arg}={expected if len(expected) > 1 else expected[0]}) got an input of shape "
                f"{jnp.shape(x)}, whose normalised dims are {got}; make {arg} match the input."
            )
        return layer(x, *args, **kwargs)

    return call


def _trailing(n: int) -> Callable[[jax.Array], tuple]:
    return lambda x: tuple(jnp.shape(x)[-n:])  # fewer dims than n: the whole shape, a mismatch


def _layer_norm(ctx, normalized_shape=None, eps=1e-5, elementwise_affine=True, bias=True):
    # flax infers the normalised size; only the number of trailing axes matters.
    axes = _trailing_axes(normalized_shape)
    layer = nn.LayerNorm(
        epsilon=eps,
        use_scale=elementwise_affine,
        use_bias=elementwise_affine and bias,
        reduction_axes=axes,
        feature_axes=axes,
        use_fast_variance=False,
        name=ctx.name,
    )
    expected = None if normalized_shape is None else check_sizes("LayerNorm", "normalized_shape", normalized_shape)
    return _sized(layer, "LayerNorm", "normalized_shape", expected, _trailing(len(expected or ())))


def _rms_norm(ctx, normalized_shape=None, eps=None, elementwise_affine=True):
    axes = _trailing_axes(normalized_shape)
    eps = float(jnp.finfo(jnp.float32).eps) if eps is None else eps
    layer = nn.RMSNorm(
        epsilon=eps,
        use_scale=elementwise_affine,
        reduction_axes=axes,
        feature_axes=axes,
        use_fast_variance=False,
        name=ctx.name,
    )
    expected = None if normalized_shape is None else check_sizes("RMSNorm", "normalized_shape", normalized_shape)
    return _sized(layer, "RMSNorm", "normalized_shape", expected, _trailing(len(expected or ())))


def _batch_norm(ctx, num_features=None, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True):
    if momentum is None:
        raise ValueError("BatchNorm momentum=None (a cumulative moving average) is not supported.")
    layer = nn.BatchNorm(
        use_running_average=ctx.deterministic and track_running_stats,
        axis=ctx.channel_axis,
        momentum=1.0 - momentum,  # flax weighs the old statistics, PyTorch the new batch
        epsilon=eps,
        use_scale=affine,
        use_bias=affine,
        use_fast_variance=False,
        name=ctx.name,
    )
    expected = None if num_features is None else (check_int("BatchNorm", "num_features", num_features),)
    channels = lambda x: (jnp.shape(x)[ctx.channel_axis],) if jnp.ndim(x) >= -ctx.channel_axis else jnp.shape(x)  # noqa: E731
    return _sized(layer, "BatchNorm", "num_features", expected, channels)


_FACTORIES: dict[str, Callable[..., Callable[[jax.Array], jax.Array]]] = {
    "Tanh": _tanh,
    "ReLU": _relu,
    "ReLU6": _relu6,
    "ELU": _elu,
    "CELU": _celu,
    "LeakyReLU": _leaky_relu,
    "GELU": _gelu,
    "SiLU": _silu,
    "Sigmoid": _sigmoid,
    "LogSigmoid": _log_sigmoid,
    "Softplus": _softplus_factory,
    "Identity": _identity_factory,
    "Mish": _mish,
    "SELU": _selu,
    "Softsign": _softsign,
    "Hardtanh": _hardtanh,
    "Hardswish": _hardswish,
    "Hardsigmoid": _hardsigmoid,
    "Softmax": _softmax,
    "LogSoftmax": _log_softmax,
    "LayerNorm": _layer_norm,
    "RMSNorm": _rms_norm,
    "BatchNorm1d": _batch_norm,
    "BatchNorm2d": _batch_norm,
    "BatchNorm3d": _batch_norm,
}
_BY_LOWER = {name.lower(): name for name in _FACTORIES}


def known_layer_names() -> tuple[str, ...]:
    """The torch class names `make_layer` understands.

    Returns:
      A tuple of names such as ``"Tanh"`` and ``"LayerNorm"``.

    Examples:
      >>> "LeakyReLU" in known_layer_names()
      True
    """
    return tuple(_FACTORIES)


def _from_name(name: str, kwargs: Mapping[str, Any], ctx: _Context) -> Callable[[jax.Array], jax.Array]:
    canonical = _BY_LOWER.get(name.lower())
    if canonical is None:
        raise ValueError(
            f"Unknown activation or norm layer {name!r}; known names: {', '.join(_FACTORIES)}. "
            "Pass a jax function or a flax.linen.Module class for anything else."
        )
    factory = _FACTORIES[canonical]
    try:
        inspect.signature(factory).bind(ctx, **kwargs)
    except TypeError as err:
        raise TypeError(f"Bad keyword arguments {dict(kwargs)} for {canonical}: {err}") from None
    return factory(ctx, **kwargs)


def make_layer(
    spec: LayerSpec,
    kwargs: Mapping[str, Any] | None = None,
    *,
    name: str | None = None,
    deterministic: bool = False,
    channel_axis: int = -1,
) -> Callable[[jax.Array], jax.Array]:
    """Builds an activation or normalisation layer from a TorchRL-style specification.

    Call it inside a ``nn.compact`` method: a layer with variables becomes a named submodule.

    Args:
      spec: a torch class name (``"ReLU"``), a torch class (``torch.nn.ReLU``), a jax function
        (``jax.nn.relu``) or a ``flax.linen.Module`` class (``flax.linen.LayerNorm``).
      kwargs: keyword arguments, PyTorch's for names and torch classes (``{"negative_slope":
        0.1}``), the function's or the flax class's own otherwise.
      name: submodule name for layers that hold variables.
      deterministic: evaluation mode; BatchNorm then uses its running statistics.
      channel_axis: the feature/channel axis of the input, for BatchNorm (-1, or -3 for NCHW).

    Returns:
      A callable mapping an array ``[*B, F]`` to an array (a flax module or a function).

    Examples:
      >>> import jax.numpy as jnp
      >>> act = make_layer("LeakyReLU", {"negative_slope": 0.5})
      >>> act(jnp.array([-2.0, 3.0]))
      Array([-1.,  3.], dtype=float32)
      >>> make_layer("ELU")(jnp.array([0.0]))
      Array([0.], dtype=float32)
    """
    kwargs = dict(kwargs or {})
    ctx = _Context(name, deterministic, channel_axis)
    if isinstance(spec, str):
        return _from_name(spec, kwargs, ctx)
    if isinstance(spec, type):
        if issubclass(spec, nn.Module):
            return spec(**kwargs, name=name)
        if spec.__module__.split(".")[0] == "torch":
            return _from_name(spec.__name__, kwargs, ctx)
        return spec(**kwargs)
    if isinstance(spec, nn.Module):
        raise TypeError(f"Pass the flax module class ({type(spec).__name__}) and its kwargs, not an instance.")
    if callable(spec):
        return _fn(spec, **kwargs)
    raise TypeError(f"Cannot build a layer from {spec!r}: expected a name, a class or a function.")
