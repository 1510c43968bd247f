"""TorchRL's 2-d convolutional network, ``torchrl.modules.ConvNet``, as a flax.linen module."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxrl_modules.models._checks import check_int
from jaxrl_modules.models.activations import LayerSpec, make_layer
from jaxrl_modules.models.layers import Conv2d, SquashDims, SqueezeLayer, _pair
from jaxrl_modules.models.mlp import MLP, KwargsSpec, _per_layer

__all__ = ["ConvNet", "Conv2dNet"]

_PER_LAYER_ARGS = ("num_cells", "kernel_sizes", "strides", "paddings")


def _is_list(value: Any) -> bool:
    return isinstance(value, (list, tuple))


class ConvNet(nn.Module):
    """A stack of 2-d convolutions with TorchRL's arguments and defaults (alias `Conv2dNet`).

    Each block is ``Conv2d -> activation -> norm (if norm_class)`` (TorchRL's order), followed by
    the aggregator (default `SquashDims`: flatten ``C, H, W`` into one dim) and, if
    ``squeeze_output``, a squeeze of the two spatial dims. Submodules are named ``conv_0,
    activation_0, norm_0, conv_1, ..., aggregator``.

    Depth is ``depth`` if given, else the length of the last list among ``num_cells,
    kernel_sizes, strides, paddings``, else 3. Integer arguments are repeated ``depth`` times;
    lists must have ``depth`` entries.

    Attributes:
      in_features: expected number of input channels (optional; checked when given).
      depth: number of convolutions, at least 1.
      num_cells: output channels per convolution (each positive): a list, an int, or None (32
        each; TorchRL's default ``[32, 32, 32]``).
      kernel_sizes: a positive int or pair, or one per layer.
      strides: a positive int or pair, or one per layer.
      paddings: a non-negative int or pair, ``"valid"`` or ``"same"``, or one per layer.
      activation_class: see `make_layer`; default ``"ELU"`` as TorchRL.
      activation_kwargs: a dict, or a list with one dict per layer.
      norm_class: None or a norm layer (``"BatchNorm2d"``, ``"LayerNorm"``...) after each
        activation.
      norm_kwargs: a dict, or a list with one dict per layer.
      bias_last_layer: whether the last convolution has a bias (TorchRL ignores this flag).
      aggregator_class: applied after the convolutions; None for none.
      aggregator_kwargs: keyword arguments of the aggregator.
      squeeze_output: squeeze the (singleton) spatial dims after the aggregator.
      data_format: ``"NHWC"`` (input ``[*B, H, W, C]``, JAX's native layout) or ``"NCHW"``
        (input ``[*B, C, H, W]``, TorchRL's; the flattened features then have TorchRL's order).
      deterministic: evaluation mode (BatchNorm running statistics); overridable per call.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> net = ConvNet(num_cells=[16, 32], kernel_sizes=3, strides=[2, 1])
      >>> x = jnp.ones((4, 2, 16, 16, 3))  # two batch dims, NHWC
      >>> variables = net.init(jax.random.key(0), x)
      >>> variables["params"]["conv_0"]["kernel"].shape
      (3, 3, 3, 16)
      >>> net.apply(variables, x).shape  # 32 channels * 5 * 5
      (4, 2, 800)
      >>> nchw = ConvNet(data_format="NCHW")  # TorchRL's layout and defaults
      >>> frame = jnp.ones((3, 16, 16))  # unbatched [C, H, W]
      >>> nchw.apply(nchw.init(jax.random.key(0), frame), frame).shape  # 32 * 10 * 10
      (3200,)
    """

    in_features: int | None = None
    depth: int | None = None
    num_cells: int | Sequence[int] | None = None
    kernel_sizes: Any = 3
    strides: Any = 1
    paddings: Any = 0
    activation_class: LayerSpec = "ELU"
    activation_kwargs: KwargsSpec = None
    norm_class: LayerSpec | None = None
    norm_kwargs: KwargsSpec = None
    bias_last_layer: bool = True
    aggregator_class: LayerSpec | None = SquashDims
    aggregator_kwargs: dict[str, Any] | None = None
    squeeze_output: bool = False
    data_format: str = "NHWC"
    deterministic: bool = False

    def __post_init__(self) -> None:
        if self.data_format not in ("NHWC", "NCHW"):
            raise ValueError(f"ConvNet: data_format must be 'NHWC' or 'NCHW', got {self.data_format!r}.")
        check_int("ConvNet", "in_features", self.in_features, optional=True)
        self._plan()  # raise bad arguments at construction, as TorchRL does
        super().__post_init__()

    def _plan(self) -> dict[str, list]:
        values = dict(zip(_PER_LAYER_ARGS, (self.num_cells, self.kernel_sizes, self.strides, self.paddings)))
        depth = check_int("ConvNet", "depth", self.depth, minimum=0, optional=True)
        if depth is None:
            for value in values.values():
                if _is_list(value):
                    depth = len(value)  # the last list wins, as in TorchRL
        if depth is None:
            if self.num_cells is not None:
                raise ValueError(
                    "ConvNet depth=None requires one of num_cells, kernel_sizes, strides, paddings "
                    f"to be a list or tuple; got {tuple(type(v).__name__ for v in values.values())}."
                )
            depth = 3
        if depth == 0:
            raise ValueError(
                "ConvNet: Null depth is not permitted (depth=0, or an empty per-layer list); pass depth >= 1."
            )
        if values["num_cells"] is None:
            values["num_cells"] = 32
        plan = {}
        for field, value in values.items():
            per_layer = list(value) if _is_list(value) else [value] * depth
            if len(per_layer) != depth:
                raise ValueError(
                    f"ConvNet depth={depth} conflicts with {field}={list(value)} (length "
                    f"{len(per_layer)}); pass one entry per layer or a single value."
                )
            plan[field] = per_layer
        # Every per-layer entry is checked here, so a zero-width layer or a zero stride fails at
        # construction with the argument's name, not inside the convolution.
        for i, cells in enumerate(plan["num_cells"]):
            check_int("ConvNet", f"num_cells[{i}]", cells)
        for i, (kernel, stride, padding) in enumerate(zip(plan["kernel_sizes"], plan["strides"], plan["paddings"])):
            _pair(kernel, f"kernel_sizes[{i}]", "ConvNet")
            _pair(stride, f"strides[{i}]", "ConvNet")
            if not isinstance(padding, str):
                _pair(padding, f"paddings[{i}]", "ConvNet", minimum=0)
            elif padding.lower() not in ("valid", "same"):
                raise ValueError(f"ConvNet: paddings[{i}] must be an int, a pair, 'valid' or 'same', got {padding!r}.")
        plan["activation_kwargs"] = _per_layer(self.activation_kwargs, depth, "activation_kwargs", "ConvNet")
        plan["norm_kwargs"] = _per_layer(self.norm_kwargs, depth, "norm_kwargs", "ConvNet")
        return plan

    @nn.compact
    def __call__(self, inputs: ArrayLike, *, deterministic: bool | None = None) -> jax.Array:
        """Applies the network.

        Args:
          inputs: ``[*B, H, W, C]`` (NHWC) or ``[*B, C, H, W]`` (NCHW), any number of batch dims
            (none included).
          deterministic: overrides the ``deterministic`` attribute for this call.

        Returns:
          The aggregator's output; by default ``[*B, C' * H' * W']``.
        """
        x = jnp.asarray(inputs)
        layout = "[*B, H, W, C]" if self.data_format == "NHWC" else "[*B, C, H, W]"
        if x.ndim < 3:
            raise ValueError(f"ConvNet expects {self.data_format} inputs {layout}, got shape {x.shape}.")
        channel_axis = -1 if self.data_format == "NHWC" else -3
        if self.in_features is not None and x.shape[channel_axis] != self.in_features:
            raise ValueError(
                f"ConvNet expected in_features={self.in_features} channels in {layout}, got shape {x.shape}."
            )
        det = self.deterministic if deterministic is None else deterministic
        plan = self._plan()
        batch = x.shape[:-3]
        x = x.reshape((-1, *x.shape[-3:]))
        depth = len(plan["num_cells"])
        for i in range(depth):
            x = Conv2d(
                features=plan["num_cells"][i],
                kernel_size=plan["kernel_sizes"][i],
                strides=plan["strides"][i],
                padding=plan["paddings"][i],
                use_bias=i < depth - 1 or self.bias_last_layer,
                data_format=self.data_format,
                name=f"conv_{i}",
            )(x)
            x = make_layer(
                self.activation_class, plan["activation_kwargs"][i], name=f"activation_{i}", deterministic=det
            )(x)
            if self.norm_class is not None:
                norm = make_layer(
                    self.norm_class,
                    plan["norm_kwargs"][i],
                    name=f"norm_{i}",
                    deterministic=det,
                    channel_axis=channel_axis,
                )
                x = norm(x)
        if not batch:
            x = x[0]  # TorchRL runs an unbatched input through the aggregator as it is
        if self.aggregator_class is not None:
            x = make_layer(self.aggregator_class, self.aggregator_kwargs, name="aggregator")(x)
        if self.squeeze_output:
            dims = (-2, -1) if self.data_format == "NCHW" else (-3, -2)
            x = SqueezeLayer(dims, name="squeeze")(x)
        if len(batch) > 1:
            x = x.reshape((*batch, *x.shape[1:]))
        return x

    @classmethod
    def default_atari_dqn(cls, num_actions: int, data_format: str = "NHWC") -> nn.Sequential:
        """The DQN of Mnih et al. (2015), "Human-level control through deep RL", as TorchRL.

        Args:
          num_actions: number of actions of the Atari game.
          data_format: ``"NHWC"`` or ``"NCHW"`` for the ``84x84`` frame stack input.

        Returns:
          ``nn.Sequential([ConvNet(ReLU, [32, 64, 64], kernels [8, 4, 3], strides [4, 2, 1]),
          MLP(ReLU, out_features=num_actions, num_cells=[512])])``.

        Examples:
          >>> import jax, jax.numpy as jnp
          >>> dqn = ConvNet.default_atari_dqn(6)
          >>> x = jnp.zeros((2, 84, 84, 4))
          >>> dqn.apply(dqn.init(jax.random.key(0), x), x).shape
          (2, 6)
        """
        cnn = cls(
            activation_class="ReLU",
            num_cells=[32, 64, 64],
            kernel_sizes=[8, 4, 3],
            strides=[4, 2, 1],
            data_format=data_format,
        )
        mlp = MLP(activation_class="ReLU", out_features=num_actions, num_cells=[512])
        return nn.Sequential([cnn, mlp])


Conv2dNet = ConvNet
