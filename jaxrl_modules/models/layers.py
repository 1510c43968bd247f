"""Basic layers with PyTorch's default initialisation, and TorchRL's small shape layers.

`Linear` and `Conv2d` draw weights and biases from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, the
initialisation of ``torch.nn.Linear`` / ``torch.nn.Conv2d`` (kaiming-uniform with ``a=sqrt(5)``),
so a network ported from TorchRL starts from the same distribution of weights. Parameters are
stored in flax's layout: a ``kernel`` of shape ``[in, out]`` (``(kh, kw, in, out)`` for
convolutions) and a ``bias`` of shape ``[out]``. `jaxrl_modules.compat.torchrl` converts
PyTorch's ``[out, in]`` weights into this layout.

`ConvTranspose2d` is PyTorch's transposed convolution without padding (Dreamer's decoder).

`SqueezeLayer`, `Squeeze2dLayer` and `SquashDims` have no parameters and can be called directly,
without ``init``/``apply``.
"""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxrl_modules.models._checks import check_int, check_sizes

__all__ = [
    "Linear",
    "Conv2d",
    "ConvTranspose2d",
    "SqueezeLayer",
    "Squeeze2dLayer",
    "SquashDims",
    "call_accepts",
    "torch_default_init",
]

Initializer = jax.nn.initializers.Initializer


def torch_default_init(fan_in: int) -> Initializer:
    """PyTorch's default initialiser for Linear/Conv weights and biases.

    Args:
      fan_in: number of inputs feeding one output unit (``in_features``, or
        ``in_channels * kh * kw`` for a convolution).

    Returns:
      An initialiser sampling ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (zeros if ``fan_in == 0``,
      as PyTorch).

    Examples:
      >>> import jax
      >>> w = torch_default_init(4)(jax.random.key(0), (4, 3))
      >>> bool((abs(w) <= 0.5).all())
      True
    """
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -bound, bound)

    return init


@functools.cache
def _call_parameters(cls: type) -> frozenset[str]:
    try:
        return frozenset(inspect.signature(cls.__call__).parameters)
    except (TypeError, ValueError):
        return frozenset()


def call_accepts(layer: Any, keyword: str) -> bool:
    """Whether ``layer``'s ``__call__`` (a module class or instance) takes ``keyword``.

    Containers (`MLP`, the dueling nets, `TensorDictModule`) use it to pass ``exploration_type`` and
    ``deterministic`` on to the layers that take them. The signature is read once per class.

    Examples:
      >>> from jaxrl_modules.models import Linear, NoisyLinear
      >>> call_accepts(NoisyLinear, "exploration_type"), call_accepts(Linear, "exploration_type")
      (True, False)
    """
    if isinstance(layer, type) or isinstance(layer, nn.Module):
        cls = layer if isinstance(layer, type) else type(layer)
        return keyword in _call_parameters(cls)
    try:  # a plain function or a partial
        return keyword in inspect.signature(layer).parameters
    except (TypeError, ValueError):
        return False


def _pair(value: int | Sequence[int], what: str, owner: str = "Conv2d", minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints ``>= minimum`` as a pair."""
    sizes = check_sizes(owner, what, value, minimum=minimum)
    if len(sizes) == 1 and not isinstance(value, Sequence):
        return (sizes[0], sizes[0])
    if len(sizes) != 2:
        raise ValueError(f"{owner}: {what} must be an int or a pair, got {value!r}.")
    return sizes  # type: ignore[return-value]


def _bias_shape(ndim: int, axis: int) -> tuple[int, ...]:
    # An explicit broadcast shape: the test suite runs with rank promotion set to "raise".
    shape = [1] * ndim
    shape[axis] = -1
    return tuple(shape)


class Linear(nn.Module):
    """A dense layer ``y = x @ kernel + bias`` initialised as ``torch.nn.Linear``.

    Attributes:
      features: number of output features ``out``.
      use_bias: whether to add a bias (``bias=`` in PyTorch).
      dtype: computation dtype (inferred from the inputs and parameters if None).
      param_dtype: parameter dtype.
      kernel_init: initialiser of the ``[in, out]`` kernel; None is PyTorch's default.
      bias_init: initialiser of the ``[out]`` bias; None is PyTorch's default.
      precision: precision of the matrix product, passed to ``jax.lax.dot_general``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> layer = Linear(features=3)
      >>> variables = layer.init(jax.random.key(0), jnp.ones((2, 4)))
      >>> jax.tree_util.tree_map(jnp.shape, variables["params"])
      {'bias': (3,), 'kernel': (4, 3)}
      >>> layer.apply(variables, jnp.ones((5, 2, 4))).shape
      (5, 2, 3)
    """

    features: int
    use_bias: bool = True
    dtype: Any = None
    param_dtype: Any = jnp.float32
    kernel_init: Initializer | None = None
    bias_init: Initializer | None = None
    precision: Any = None

    def __post_init__(self) -> None:
        check_int(type(self).__name__, "features", self.features)  # a zero-width layer is a constant
        super().__post_init__()

    @nn.compact
    def __call__(self, inputs: ArrayLike) -> jax.Array:
        """Applies the layer.

        Args:
          inputs: array of shape ``[*B, in]``.

        Returns:
          Array of shape ``[*B, features]``.
        """
        inputs = jnp.asarray(inputs)
        fan_in = inputs.shape[-1]
        default = torch_default_init(fan_in)
        kernel = self.param("kernel", self.kernel_init or default, (fan_in, self.features), self.param_dtype)
        bias = None
        if self.use_bias:
            bias = self.param("bias", self.bias_init or default, (self.features,), self.param_dtype)
        inputs, kernel, bias = nn.dtypes.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        y = jnp.matmul(inputs, kernel, precision=self.precision)
        if bias is not None:
            y = y + jnp.reshape(bias, _bias_shape(y.ndim, -1))
        return y


class Conv2d(nn.Module):
    """A 2-d convolution initialised as ``torch.nn.Conv2d``, in NHWC or NCHW layout.

    The kernel is stored as ``(kh, kw, in, out)`` whatever the data format; ``padding`` follows
    PyTorch (an int or a pair of symmetric zero paddings, or ``"valid"`` / ``"same"``).

    Attributes:
      features: number of output channels.
      kernel_size: an int or a pair ``(kh, kw)``.
      strides: an int or a pair.
      padding: an int, a pair ``(ph, pw)``, or ``"valid"`` / ``"same"``.
      use_bias: whether to add a bias of shape ``[features]``.
      data_format: ``"NHWC"`` (JAX's native layout) or ``"NCHW"`` (PyTorch's).
      dtype: computation dtype (inferred if None).
      param_dtype: parameter dtype.
      kernel_init: kernel initialiser; None is PyTorch's default with
        ``fan_in = in * kh * kw``.
      bias_init: bias initialiser; None is PyTorch's default.
      precision: precision passed to ``jax.lax.conv_general_dilated``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> conv = Conv2d(features=8, kernel_size=3, strides=2, padding=1)
      >>> variables = conv.init(jax.random.key(0), jnp.ones((2, 16, 16, 3)))
      >>> variables["params"]["kernel"].shape
      (3, 3, 3, 8)
      >>> conv.apply(variables, jnp.ones((2, 16, 16, 3))).shape
      (2, 8, 8, 8)
      >>> Conv2d(8, 3, data_format="NCHW").apply(variables, jnp.ones((3, 16, 16))).shape
      (8, 14, 14)
    """

    features: int
    kernel_size: int | Sequence[int]
    strides: int | Sequence[int] = 1
    padding: int | Sequence[int] | str = 0
    use_bias: bool = True
    data_format: str = "NHWC"
    dtype: Any = None
    param_dtype: Any = jnp.float32
    kernel_init: Initializer | None = None
    bias_init: Initializer | None = None
    precision: Any = None

    def __post_init__(self) -> None:
        if self.data_format not in ("NHWC", "NCHW"):
            raise ValueError(f"Conv2d: data_format must be 'NHWC' or 'NCHW', got {self.data_format!r}.")
        check_int("Conv2d", "features", self.features)
        _pair(self.kernel_size, "kernel_size")
        _pair(self.strides, "strides")
        self._lax_padding()
        super().__post_init__()

    def _lax_padding(self) -> str | list[tuple[int, int]]:
        if isinstance(self.padding, str):
            if self.padding.lower() not in ("valid", "same"):
                raise ValueError(f"Conv2d: padding must be 'valid' or 'same', got {self.padding!r}.")
            return self.padding.upper()
        ph, pw = _pair(self.padding, "padding", minimum=0)
        return [(ph, ph), (pw, pw)]

    @nn.compact
    def __call__(self, inputs: ArrayLike) -> jax.Array:
        """Applies the convolution.

        Args:
          inputs: ``[*B, H, W, C]`` (NHWC) or ``[*B, C, H, W]`` (NCHW); any number of batch dims,
            including none.

        Returns:
          ``[*B, H', W', features]`` or ``[*B, features, H', W']``.
        """
        x = jnp.asarray(inputs)
        if x.ndim < 3:
            raise ValueError(f"Conv2d expects a {self.data_format} input with at least 3 dims, got shape {x.shape}.")
        batch = x.shape[:-3]
        x = x.reshape((-1, *x.shape[-3:]))
        channel_axis = -1 if self.data_format == "NHWC" else -3
        in_channels = x.shape[channel_axis]
        kh, kw = _pair(self.kernel_size, "kernel_size")
        default = torch_default_init(in_channels * kh * kw)
        kernel = self.param(
            "kernel", self.kernel_init or default, (kh, kw, in_channels, self.features), self.param_dtype
        )
        bias = None
        if self.use_bias:
            bias = self.param("bias", self.bias_init or default, (self.features,), self.param_dtype)
        x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
        y = jax.lax.conv_general_dilated(
            x,
            kernel,
            window_strides=_pair(self.strides, "strides"),
            padding=self._lax_padding(),
            dimension_numbers=(self.data_format, "HWIO", self.data_format),
            precision=self.precision,
        )
        if bias is not None:
            y = y + jnp.reshape(bias, _bias_shape(y.ndim, channel_axis))
        return y.reshape((*batch, *y.shape[1:]))


class ConvTranspose2d(nn.Module):
    """A stride-``s`` transposed convolution without padding, as ``torch.nn.ConvTranspose2d``.

    Output size ``(H - 1) * s + kh``. The kernel is stored ``(kh, kw, in, out)`` (PyTorch's
    ``(in, out, kh, kw)`` permuted) and initialised as PyTorch does, ``U(-b, b)`` with
    ``b = 1 / sqrt(out * kh * kw)`` (PyTorch's fan-in of a transposed weight).

    Attributes:
      features: number of output channels.
      kernel_size: an int or a pair ``(kh, kw)``.
      strides: an int or a pair.
      use_bias: whether to add a bias of shape ``[features]``.
      data_format: ``"NHWC"`` or ``"NCHW"``.
      kernel_init, bias_init: initialisers; None is PyTorch's default.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> deconv = ConvTranspose2d(features=4, kernel_size=5, strides=2, data_format="NCHW")
      >>> x = jnp.ones((2, 8, 3, 3))
      >>> variables = deconv.init(jax.random.key(0), x)
      >>> variables["params"]["kernel"].shape
      (5, 5, 8, 4)
      >>> deconv.apply(variables, x).shape  # (3 - 1) * 2 + 5
      (2, 4, 9, 9)
    """

    features: int
    kernel_size: int | Sequence[int]
    strides: int | Sequence[int] = 1
    use_bias: bool = True
    data_format: str = "NHWC"
    kernel_init: Initializer | None = None
    bias_init: Initializer | None = None

    def __post_init__(self) -> None:
        if self.data_format not in ("NHWC", "NCHW"):
            raise ValueError(f"ConvTranspose2d: data_format must be 'NHWC' or 'NCHW', got {self.data_format!r}.")
        check_int("ConvTranspose2d", "features", self.features)
        _pair(self.kernel_size, "kernel_size", "ConvTranspose2d")
        _pair(self.strides, "strides", "ConvTranspose2d")
        super().__post_init__()

    @nn.compact
    def __call__(self, inputs: ArrayLike) -> jax.Array:
        """Maps ``[*B, H, W, C]`` (or ``[*B, C, H, W]``) to ``[*B, H', W', features]`` (or NCHW)."""
        x = jnp.asarray(inputs)
        if x.ndim < 3:
            raise ValueError(f"ConvTranspose2d expects a {self.data_format} input with at least 3 dims, got {x.shape}.")
        batch = x.shape[:-3]
        x = x.reshape((-1, *x.shape[-3:]))
        channel_axis = -1 if self.data_format == "NHWC" else -3
        kh, kw = _pair(self.kernel_size, "kernel_size", "ConvTranspose2d")
        default = torch_default_init(self.features * kh * kw)
        kernel = self.param("kernel", self.kernel_init or default, (kh, kw, x.shape[channel_axis], self.features))
        # A transposed convolution is a correlation of the stride-dilated input, padded by k - 1,
        # with the spatially flipped kernel.
        y = jax.lax.conv_general_dilated(
            x,
            jnp.flip(kernel, (0, 1)).astype(x.dtype),
            window_strides=(1, 1),
            padding=[(kh - 1, kh - 1), (kw - 1, kw - 1)],
            lhs_dilation=_pair(self.strides, "strides", "ConvTranspose2d"),
            dimension_numbers=(self.data_format, "HWIO", self.data_format),
        )
        if self.use_bias:
            bias = self.param("bias", self.bias_init or default, (self.features,))
            shape = [1] * y.ndim
            shape[channel_axis] = self.features
            y = y + jnp.reshape(bias, shape).astype(y.dtype)
        return y.reshape((*batch, *y.shape[1:]))


class SqueezeLayer(nn.Module):
    """Squeezes the given singleton dimensions, one after the other (TorchRL's ``SqueezeLayer``).

    Attributes:
      dims: negative dimensions to squeeze; a ``ValueError`` at construction if any is ``>= 0``.

    Examples:
      >>> import jax.numpy as jnp
      >>> SqueezeLayer()(jnp.ones((4, 3, 1))).shape
      (4, 3)
      >>> SqueezeLayer((-2, -1))(jnp.ones((4, 1, 1))).shape
      (4,)
    """

    dims: Sequence[int] = (-1,)

    def __post_init__(self) -> None:
        if any(d >= 0 for d in self.dims):
            raise ValueError(f"SqueezeLayer dims must all be negative, got {tuple(self.dims)}.")
        super().__post_init__()

    def __call__(self, inputs: ArrayLike) -> jax.Array:
        """Squeezes ``inputs`` of shape ``[..., 1, ...]`` over each of ``dims`` in turn."""
        x = jnp.asarray(inputs)
        for dim in self.dims:
            if -dim > x.ndim or x.shape[dim] != 1:
                raise ValueError(
                    f"{type(self).__name__} cannot squeeze dims {tuple(self.dims)} of an input "
                    f"with shape {jnp.shape(inputs)}: dim {dim} is not of size 1."
                )
            x = jnp.squeeze(x, dim)
        return x


class Squeeze2dLayer(SqueezeLayer):
    """Squeezes the last two singleton dimensions: ``SqueezeLayer((-2, -1))``.

    Examples:
      >>> import jax.numpy as jnp
      >>> Squeeze2dLayer()(jnp.ones((4, 32, 1, 1))).shape
      (4, 32)
    """

    dims: Sequence[int] = (-2, -1)


class SquashDims(nn.Module):
    """Flattens the last ``ndims_in`` dimensions into one (TorchRL's ``SquashDims``).

    Attributes:
      ndims_in: number of trailing dimensions to flatten.

    Examples:
      >>> import jax.numpy as jnp
      >>> SquashDims()(jnp.ones((1, 2, 3, 4))).shape
      (1, 24)
    """

    ndims_in: int = 3

    def __post_init__(self) -> None:
        check_int("SquashDims", "ndims_in", self.ndims_in)
        super().__post_init__()

    def __call__(self, inputs: ArrayLike) -> jax.Array:
        """Reshapes ``[*B, d1, ..., dn]`` into ``[*B, d1 * ... * dn]`` with ``n = ndims_in``."""
        x = jnp.asarray(inputs)
        if self.ndims_in < 1 or x.ndim < self.ndims_in:
            raise ValueError(f"SquashDims(ndims_in={self.ndims_in}) cannot flatten an input of shape {x.shape}.")
        return x.reshape((*x.shape[: x.ndim - self.ndims_in], -1))
