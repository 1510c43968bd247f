"""TorchRL's DDPG actor and critic networks (Lillicrap et al., 2016, "Continuous control with deep
reinforcement learning"), as flax.linen modules built from `ConvNet` and `MLP`.

TorchRL re-initialises the last linear layer of each network's MLP in place
(``ddpg_init_last_layer``: weight and bias uniform in ``[-scale/2, scale/2]``, scale 6e-4 for the
CNN nets and 6e-3 for the MLP nets). Here the same distribution is the last layer's initialiser,
`ddpg_last_layer_init`, so ``init`` draws it directly and nothing is mutated.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxrl_modules.models._checks import check_int, checked_build
from jaxrl_modules.models.convnet import ConvNet
from jaxrl_modules.models.layers import Linear, SquashDims
from jaxrl_modules.models.mlp import MLP, _hidden_sizes, _per_layer

__all__ = [
    "AdaptiveAvgPool2d",
    "DdpgCnnActor",
    "DdpgCnnQNet",
    "DdpgMlpActor",
    "DdpgMlpQNet",
    "ddpg_last_layer_init",
]

Initializer = jax.nn.initializers.Initializer


def ddpg_last_layer_init(scale: float = 6e-4) -> Initializer:
    """The initialiser of TorchRL's ``ddpg_init_last_layer``: uniform in ``[-scale/2, scale/2)``.

    TorchRL applies it to the weight and the bias of the last ``Linear`` of a DDPG net; pass it as
    both ``kernel_init`` and ``bias_init`` of a `Linear` to get the same distribution.

    Args:
      scale: width of the interval (TorchRL: 6e-4 for the CNN nets, 6e-3 for the MLP nets).

    Returns:
      An initialiser ``(key, shape, dtype) -> array``.

    Examples:
      >>> import jax
      >>> w = ddpg_last_layer_init(6e-3)(jax.random.key(0), (300, 1))
      >>> bool((abs(w) <= 3e-3).all()), bool(abs(w).max() > 2.5e-3)
      (True, True)
    """
    half = scale / 2

    def init(key: jax.Array, shape: Sequence[int], dtype: Any = jnp.float32) -> jax.Array:
        return jax.random.uniform(key, shape, dtype, -half, half)

    return init


def _pool_matrix(size: int, out: int) -> jax.Array:
    """``[out, size]`` averaging weights of PyTorch's adaptive pooling bins
    ``[floor(i * size / out), ceil((i + 1) * size / out))``."""
    rows = []
    for i in range(out):
        start, end = (i * size) // out, -((-(i + 1) * size) // out)
        rows.append([1.0 / (end - start) if start <= j < end else 0.0 for j in range(size)])
    return jnp.asarray(rows, jnp.float32)


class AdaptiveAvgPool2d(nn.Module):
    """``torch.nn.AdaptiveAvgPool2d``: average pooling to a fixed spatial size, NHWC or NCHW.

    The DDPG nets use it with ``output_size=(1, 1)`` (global average pooling) when
    ``use_avg_pooling`` is set. No parameters: callable without ``init``/``apply``.

    Attributes:
      output_size: an int or a pair ``(out_h, out_w)``; ``None`` in a pair keeps that input size.
      data_format: ``"NHWC"`` (input ``[*B, H, W, C]``) or ``"NCHW"`` (``[*B, C, H, W]``).

    Examples:
      >>> import jax.numpy as jnp
      >>> x = jnp.arange(2 * 4 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 4, 3)
      >>> AdaptiveAvgPool2d((1, 1))(x).shape
      (2, 1, 1, 3)
      >>> bool(jnp.allclose(AdaptiveAvgPool2d((1, 1))(x)[:, 0, 0], x.mean((1, 2))))
      True
      >>> AdaptiveAvgPool2d(3, data_format="NCHW")(jnp.ones((3, 7, 5))).shape
      (3, 3, 3)
    """

    output_size: int | Sequence[int | None] = (1, 1)
    data_format: str = "NHWC"

    def __post_init__(self) -> None:
        if self.data_format not in ("NHWC", "NCHW"):
            raise ValueError(f"AdaptiveAvgPool2d data_format must be 'NHWC' or 'NCHW', got {self.data_format!r}.")
        size = self.output_size
        sizes = (size, size) if size is None or isinstance(size, int) else tuple(size)
        if len(sizes) != 2:
            raise ValueError(f"AdaptiveAvgPool2d: output_size must be an int or a pair, got {size!r}.")
        for s in sizes:
            check_int("AdaptiveAvgPool2d", "output_size", s, optional=True)
        super().__post_init__()

    def __call__(self, inputs: ArrayLike) -> jax.Array:
        """Pools ``[*B, H, W, C]`` (or ``[*B, C, H, W]``) to ``output_size`` spatially."""
        x = jnp.asarray(inputs)
        if x.ndim < 3:
            raise ValueError(
                f"AdaptiveAvgPool2d expects a {self.data_format} input with at least 3 dims, got shape {x.shape}."
            )
        h_axis, w_axis = (x.ndim - 3, x.ndim - 2) if self.data_format == "NHWC" else (x.ndim - 2, x.ndim - 1)
        size = self.output_size
        out_h, out_w = (size, size) if isinstance(size, int) else tuple(size)
        out_h = x.shape[h_axis] if out_h is None else out_h
        out_w = x.shape[w_axis] if out_w is None else out_w
        if (out_h, out_w) == (1, 1):  # global pooling: one reduction, no matrix
            return jnp.mean(x, axis=(h_axis, w_axis), keepdims=True)
        ph, pw = (
            _pool_matrix(x.shape[h_axis], out_h).astype(x.dtype),
            _pool_matrix(x.shape[w_axis], out_w).astype(x.dtype),
        )
        x = jnp.moveaxis(x, (h_axis, w_axis), (-2, -1))
        x = jnp.einsum("...hw,ih,jw->...ij", x, ph, pw)
        return jnp.moveaxis(x, (-2, -1), (h_axis, w_axis))


def _mlp_kwargs(
    owner: str, defaults: dict[str, Any], user: Mapping[str, Any] | None, scale: float | None
) -> dict[str, Any]:
    """TorchRL's defaults updated with the user's, plus the DDPG initialiser on the last layer."""
    kwargs = {**defaults, **dict(user or {})}
    if scale is None:
        return kwargs
    depth = len(_hidden_sizes(kwargs.get("depth"), kwargs.get("num_cells")))
    per_layer = _per_layer(kwargs.get("layer_kwargs"), depth + 1, "layer_kwargs", owner)
    layer_class = kwargs.get("layer_class", Linear)
    fields = {f.name for f in dataclasses.fields(layer_class)} if dataclasses.is_dataclass(layer_class) else set()
    if not {"kernel_init", "bias_init"} <= fields:
        raise ValueError(
            f"{owner} initialises its last layer uniformly in [-{scale / 2:g}, {scale / 2:g}] (TorchRL's "
            f"ddpg_init_last_layer) through kernel_init/bias_init, which layer_class={layer_class!r} does not take."
        )
    init = ddpg_last_layer_init(scale)
    per_layer[-1] = {"kernel_init": init, "bias_init": init, **per_layer[-1]}
    kwargs["layer_kwargs"] = per_layer
    return kwargs


_POOLING_NAMES = ("AdaptiveAvgPool2d",)


def _conv_kwargs(
    owner: str, num_cells: list[int], use_avg_pooling: bool, data_format: str, user: Mapping[str, Any] | None
) -> dict[str, Any]:
    user = dict(user or {})
    if "data_format" in user:
        raise ValueError(
            f"{owner}: pass data_format={user['data_format']!r} to {owner} itself, not in conv_net_kwargs."
        )
    kwargs = {
        "in_features": None,
        "num_cells": num_cells,
        "kernel_sizes": [8, 4, 3],
        "strides": [4, 2, 1],
        "paddings": [0, 0, 1],
        "activation_class": "ELU",
        "norm_class": None,
        "aggregator_class": AdaptiveAvgPool2d if use_avg_pooling else SquashDims,
        "aggregator_kwargs": {"output_size": (1, 1)} if use_avg_pooling else {"ndims_in": 3},
        "squeeze_output": use_avg_pooling,
        **user,
    }
    aggregator = kwargs["aggregator_class"]
    if getattr(aggregator, "__name__", aggregator) in _POOLING_NAMES:  # the torch class or its name
        kwargs["aggregator_class"] = AdaptiveAvgPool2d
        kwargs["aggregator_kwargs"] = {**dict(kwargs["aggregator_kwargs"] or {}), "data_format": data_format}
    return {**kwargs, "data_format": data_format}


# The user's keyword dict each sub-network is built from, for the error messages.
_KWARGS_FIELD = {
    "convnet": "conv_net_kwargs",
    "mlp": "mlp_net_kwargs",
    "mlp1": "mlp_net_kwargs_net1",
    "mlp2": "mlp_net_kwargs_net2",
}


def _validate(net: nn.Module) -> None:
    """Checks ``action_dim`` and builds every sub-network once, unbound, so that bad sizes raise at
    construction (as TorchRL's constructors do), naming the DDPG net and the kwargs they came from."""
    owner = type(net).__name__
    if hasattr(net, "action_dim"):
        check_int(owner, "action_dim", net.action_dim)
    for sub, build in net._nets(parent=None).items():
        checked_build(owner, _KWARGS_FIELD[sub], build)


def _cnn_nets(net: nn.Module, conv_cells: list[int], out_features: int, where: dict[str, Any]) -> dict[str, Any]:
    """The builders of a DDPG CNN net's ``convnet`` and ``mlp`` (TorchRL's defaults, overridden by
    its kwargs fields); ``where`` is passed to each (``parent=None`` to build them unbound)."""
    name = type(net).__name__
    defaults = {
        "in_features": None,
        "out_features": out_features,
        "depth": 2,
        "num_cells": 200,
        "activation_class": "ELU",
        "bias_last_layer": True,
    }
    return {
        "convnet": lambda: ConvNet(
            **_conv_kwargs(name, conv_cells, net.use_avg_pooling, net.data_format, net.conv_net_kwargs), **where
        ),
        "mlp": lambda: MLP(**_mlp_kwargs(name, defaults, net.mlp_net_kwargs, 6e-4), **where),
    }


def _check_obs(owner: str, observation: jax.Array, ndim: int, layout: str) -> None:
    if observation.ndim < ndim:
        raise ValueError(f"{owner} expects observations {layout}, got shape {observation.shape}.")


def _concat(owner: str, features: jax.Array, action: jax.Array, what: str) -> jax.Array:
    if action.ndim < 1 or action.shape[:-1] != features.shape[:-1]:
        raise ValueError(
            f"{owner} concatenates {what} {features.shape} with the action along the last dim, so the "
            f"action must have shape [{', '.join(map(str, features.shape[:-1]))}, action_dim]; got {action.shape}."
        )
    return jnp.concatenate([features, action.astype(features.dtype)], axis=-1)


class DdpgCnnActor(nn.Module):
    """TorchRL's DDPG convolutional actor: ``observation -> (action, hidden)``.

    ``convnet = ConvNet(num_cells=[32, 64, 64], kernel_sizes=[8, 4, 3], strides=[4, 2, 1],
    paddings=[0, 0, 1], ELU)`` with a `SquashDims` aggregator, or global average pooling
    (`AdaptiveAvgPool2d` to ``(1, 1)`` and a squeeze) if ``use_avg_pooling``; then ``mlp =
    MLP(out_features=action_dim, depth=2, num_cells=200, ELU)`` whose last layer is drawn from
    ``U(-3e-4, 3e-4)`` (`ddpg_last_layer_init` with scale 6e-4). ``hidden`` is the conv features.

    Attributes:
      action_dim: size of the action.
      conv_net_kwargs: `ConvNet` arguments overriding the defaults above.
      mlp_net_kwargs: `MLP` arguments overriding the defaults above.
      use_avg_pooling: global average pooling instead of flattening the conv features.
      data_format: ``"NHWC"`` (observation ``[*B, H, W, C]``, JAX's layout) or ``"NCHW"``
        (``[*B, C, H, W]``, TorchRL's; use it to load TorchRL weights).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> actor = DdpgCnnActor(action_dim=3)
      >>> obs = jnp.zeros((2, 64, 64, 3))
      >>> variables = actor.init(jax.random.key(0), obs)
      >>> action, hidden = actor.apply(variables, obs)
      >>> action.shape, hidden.shape  # 64 * 6 * 6 flattened features
      ((2, 3), (2, 2304))
      >>> bool((abs(variables["params"]["mlp"]["linear_2"]["kernel"]) <= 3e-4).all())
      True
    """

    action_dim: int
    conv_net_kwargs: Mapping[str, Any] | None = None
    mlp_net_kwargs: Mapping[str, Any] | None = None
    use_avg_pooling: bool = False
    data_format: str = "NHWC"

    def __post_init__(self) -> None:
        _validate(self)
        super().__post_init__()

    def _nets(self, **where: Any) -> dict[str, nn.Module]:
        return _cnn_nets(self, [32, 64, 64], self.action_dim, where)

    def setup(self) -> None:
        nets = self._nets()
        self.convnet = nets["convnet"]()
        self.mlp = nets["mlp"]()

    def __call__(self, observation: ArrayLike, *, deterministic: bool | None = None) -> tuple[jax.Array, jax.Array]:
        """Returns ``(action [*B, action_dim], hidden [*B, features])`` for ``observation`` in
        ``data_format``; ``deterministic`` is passed to the conv net and the MLP."""
        observation = jnp.asarray(observation)
        _check_obs(type(self).__name__, observation, 3, f"{self.data_format} [*B, ...] with at least 3 dims")
        hidden = self.convnet(observation, deterministic=deterministic)
        return self.mlp(hidden, deterministic=deterministic), hidden


class DdpgCnnQNet(nn.Module):
    """TorchRL's DDPG convolutional critic: ``(observation, action) -> value [*B, 1]``.

    ``convnet = ConvNet(num_cells=[32, 64, 128], kernel_sizes=[8, 4, 3], strides=[4, 2, 1],
    paddings=[0, 0, 1], ELU)`` with global average pooling by default (``use_avg_pooling=True``);
    ``value = mlp(concat([convnet(observation), action], -1))`` with ``mlp = MLP(out_features=1,
    depth=2, num_cells=200, ELU)``, last layer from ``U(-3e-4, 3e-4)``.

    Attributes:
      conv_net_kwargs: `ConvNet` arguments overriding the defaults.
      mlp_net_kwargs: `MLP` arguments overriding the defaults.
      use_avg_pooling: global average pooling (default) instead of flattening.
      data_format: ``"NHWC"`` (default) or ``"NCHW"`` (TorchRL's layout).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> critic = DdpgCnnQNet()
      >>> obs, action = jnp.zeros((2, 64, 64, 3)), jnp.zeros((2, 4))
      >>> variables = critic.init(jax.random.key(0), obs, action)
      >>> critic.apply(variables, obs, action).shape
      (2, 1)
      >>> variables["params"]["mlp"]["linear_0"]["kernel"].shape  # 128 pooled features + 4
      (132, 200)
    """

    conv_net_kwargs: Mapping[str, Any] | None = None
    mlp_net_kwargs: Mapping[str, Any] | None = None
    use_avg_pooling: bool = True
    data_format: str = "NHWC"

    def __post_init__(self) -> None:
        _validate(self)
        super().__post_init__()

    def _nets(self, **where: Any) -> dict[str, nn.Module]:
        return _cnn_nets(self, [32, 64, 128], 1, where)

    def setup(self) -> None:
        nets = self._nets()
        self.convnet = nets["convnet"]()
        self.mlp = nets["mlp"]()

    def __call__(self, observation: ArrayLike, action: ArrayLike, *, deterministic: bool | None = None) -> jax.Array:
        """Returns the value ``[*B, 1]`` of ``observation`` (in ``data_format``) and ``action [*B, A]``."""
        observation, action = jnp.asarray(observation), jnp.asarray(action)
        name = type(self).__name__
        _check_obs(name, observation, 3, f"{self.data_format} [*B, ...] with at least 3 dims")
        hidden = _concat(name, self.convnet(observation, deterministic=deterministic), action, "the conv features")
        return self.mlp(hidden, deterministic=deterministic)


class DdpgMlpActor(nn.Module):
    """TorchRL's DDPG MLP actor: ``observation -> action``, no squashing.

    ``MLP(out_features=action_dim, depth=2, num_cells=[400, 300], ELU)``, last layer from
    ``U(-3e-3, 3e-3)`` (scale 6e-3). Bound the action with a TanhModule or TanhDelta.

    Attributes:
      action_dim: size of the action.
      mlp_net_kwargs: `MLP` arguments overriding the defaults.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> actor = DdpgMlpActor(action_dim=2)
      >>> obs = jnp.zeros((5, 11))
      >>> variables = actor.init(jax.random.key(0), obs)
      >>> actor.apply(variables, obs).shape
      (5, 2)
      >>> jax.tree_util.tree_map(jnp.shape, variables["params"]["mlp"]["linear_2"])
      {'bias': (2,), 'kernel': (300, 2)}
    """

    action_dim: int
    mlp_net_kwargs: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        _validate(self)
        super().__post_init__()

    def _nets(self, **where: Any) -> dict[str, nn.Module]:
        defaults = {
            "in_features": None,
            "out_features": self.action_dim,
            "depth": 2,
            "num_cells": [400, 300],
            "activation_class": "ELU",
            "bias_last_layer": True,
        }
        return {"mlp": lambda: MLP(**_mlp_kwargs(type(self).__name__, defaults, self.mlp_net_kwargs, 6e-3), **where)}

    def setup(self) -> None:
        self.mlp = self._nets()["mlp"]()

    def __call__(self, observation: ArrayLike, *, deterministic: bool | None = None) -> jax.Array:
        """Returns the action ``[*B, action_dim]`` for ``observation [*B, obs_dim]``."""
        observation = jnp.asarray(observation)
        _check_obs(type(self).__name__, observation, 1, "[*B, obs_dim]")
        return self.mlp(observation, deterministic=deterministic)


class DdpgMlpQNet(nn.Module):
    """TorchRL's DDPG MLP critic: ``value = mlp2(concat([mlp1(observation), action], -1))``.

    ``mlp1 = MLP(out_features=400, depth=0, ELU, activate_last_layer=True)`` (Linear then ELU);
    ``mlp2 = MLP(out_features=1, num_cells=[300], ELU)``, whose last layer is drawn from
    ``U(-3e-3, 3e-3)`` (scale 6e-3).

    Attributes:
      mlp_net_kwargs_net1: `MLP` arguments overriding ``mlp1``'s defaults.
      mlp_net_kwargs_net2: `MLP` arguments overriding ``mlp2``'s defaults.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> critic = DdpgMlpQNet()
      >>> obs, action = jnp.zeros((5, 11)), jnp.zeros((5, 2))
      >>> variables = critic.init(jax.random.key(0), obs, action)
      >>> critic.apply(variables, obs, action).shape
      (5, 1)
      >>> variables["params"]["mlp2"]["linear_0"]["kernel"].shape  # 400 features + 2
      (402, 300)
    """

    mlp_net_kwargs_net1: Mapping[str, Any] | None = None
    mlp_net_kwargs_net2: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        _validate(self)
        super().__post_init__()

    def _nets(self, **where: Any) -> dict[str, nn.Module]:
        name = type(self).__name__
        net1 = {
            "in_features": None,
            "out_features": 400,
            "depth": 0,
            "num_cells": [],
            "activation_class": "ELU",
            "bias_last_layer": True,
            "activate_last_layer": True,
        }
        net2 = {
            "in_features": None,
            "out_features": 1,
            "num_cells": [300],
            "activation_class": "ELU",
            "bias_last_layer": True,
        }
        return {
            "mlp1": lambda: MLP(**_mlp_kwargs(name, net1, self.mlp_net_kwargs_net1, None), **where),
            "mlp2": lambda: MLP(**_mlp_kwargs(name, net2, self.mlp_net_kwargs_net2, 6e-3), **where),
        }

    def setup(self) -> None:
        nets = self._nets()
        self.mlp1 = nets["mlp1"]()
        self.mlp2 = nets["mlp2"]()

    def __call__(self, observation: ArrayLike, action: ArrayLike, *, deterministic: bool | None = None) -> jax.Array:
        """Returns the value ``[*B, 1]`` of ``observation [*B, obs_dim]`` and ``action [*B, A]``."""
        observation, action = jnp.asarray(observation), jnp.asarray(action)
        name = type(self).__name__
        _check_obs(name, observation, 1, "[*B, obs_dim]")
        hidden = _concat(name, self.mlp1(observation, deterministic=deterministic), action, "the mlp1 features")
        return self.mlp2(hidden, deterministic=deterministic)
