"""Dueling Q-networks: TorchRL's ``DuelingCnnDQNet`` and ``DuelingMlpDQNet`` as flax.linen modules.

Wang et al. (2016), "Dueling Network Architectures for Deep Reinforcement Learning"
(https://arxiv.org/abs/1511.06581). A shared feature network feeds two heads, a state value
``V`` and action advantages ``A``, combined into Q-values as

    Q = V + A - mean(A, axis=-1, keepdims=True),

so that the advantages are identifiable (they average to zero over the actions).

As TorchRL intends, every bias of the three sub-networks starts at zero. (TorchRL zeroes them in
its constructor, before its lazy first layers exist, so those layers keep PyTorch's default
bias; here every bias is zero.) With noisy layers (``layer_class=NoisyLinear`` in the MLP
arguments) that is every ``bias_mu``, as TorchRL's constructor zeroes ``bias_mu`` through
``NoisyLinear.bias``; the noise scales ``bias_sigma`` keep their initial value. The networks'
``exploration_type=`` call keyword reaches every noisy layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from numbers import Integral
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxrl_modules.exploration_type import ExplorationType
from jaxrl_modules.models._checks import checked_build
from jaxrl_modules.models.convnet import ConvNet
from jaxrl_modules.models.layers import call_accepts
from jaxrl_modules.models.mlp import MLP

__all__ = ["DuelingCnnDQNet", "DuelingMlpDQNet"]

# TorchRL's defaults (torchrl.modules.models.models), with torch classes given by name.
_CNN_DEFAULTS: dict[str, Any] = {"num_cells": [32, 64, 64], "strides": [4, 2, 1], "kernel_sizes": [8, 4, 3]}
_MLP_FEATURE_DEFAULTS: dict[str, Any] = {
    "num_cells": [256, 256],
    "out_features": 256,
    "activation_class": "ELU",
    "activate_last_layer": True,
}
_HEAD_DEFAULTS: dict[str, Any] = {"depth": 1, "activation_class": "ELU", "num_cells": 512, "bias_last_layer": True}


def _shape(value: int | Sequence[int], what: str, owner: str) -> tuple[int, ...]:
    shape = (value,) if isinstance(value, Integral) else tuple(value)
    if not shape or not all(isinstance(d, Integral) and d > 0 for d in shape):
        raise ValueError(f"{owner} {what} must be a positive int or a shape of them, got {value!r}.")
    return tuple(int(d) for d in shape)


def _value_shape(adv: tuple[int, ...], value: tuple[int, ...], owner: str) -> tuple[int, ...]:
    """The value head's output shape, padded with leading ones to broadcast against ``adv``."""
    if len(value) > len(adv):
        raise ValueError(f"{owner} out_features_value={value} has more dims than out_features={adv}.")
    padded = (1,) * (len(adv) - len(value)) + value
    if any(v not in (1, a) for v, a in zip(padded, adv)):
        raise ValueError(
            f"{owner} out_features_value={value} does not broadcast against out_features={adv}: "
            "each value dim must be 1 or equal to the matching advantage dim (right-aligned)."
        )
    return padded


def _head_kwargs(kwargs: Mapping[str, Any] | None, owner: str, what: str) -> dict[str, Any]:
    merged = {**_HEAD_DEFAULTS, **dict(kwargs or {})}
    if "out_features" in merged:
        raise ValueError(
            f"{owner} {what} must not contain 'out_features': pass out_features / out_features_value instead."
        )
    return merged


def _zeros_like_leaf(leaf: Any) -> Any:
    if isinstance(leaf, nn.meta.AxisMetadata):  # boxed (e.g. partitioned) parameters
        return leaf.replace_boxed(jnp.zeros_like(leaf.unbox()))
    return jnp.zeros_like(leaf)


_ZEROED = frozenset({"bias", "bias_mu"})  # Linear/Conv2d biases, NoisyLinear's mean bias


def _zeroed_biases(tree: Mapping[str, Any]) -> dict[str, Any]:
    """The ``bias`` (and noisy ``bias_mu``) leaves of a params tree, zeroed, in a tree holding only them."""
    out: dict[str, Any] = {}
    for name, value in tree.items():
        if isinstance(value, Mapping):
            sub = _zeroed_biases(value)
            if sub:
                out[name] = sub
        elif name in _ZEROED:
            out[name] = _zeros_like_leaf(value)
    return out


class _Dueling(nn.Module):
    """Shared machinery: run features and the two heads, zero the biases at init, combine."""

    out_features: int | Sequence[int]
    out_features_value: int | Sequence[int] = 1

    def _shapes(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        owner = type(self).__name__
        adv = _shape(self.out_features, "out_features", owner)
        value = _shape(self.out_features_value, "out_features_value", owner)
        return adv, _value_shape(adv, value, owner)

    def _run(
        self,
        features: nn.Module,
        head_kwargs: dict[str, Any],
        x: jax.Array,
        deterministic: bool | None,
        exploration_type: ExplorationType | str | None,
    ) -> jax.Array:
        advantage = MLP(out_features=self.out_features, **head_kwargs, name="advantage")
        value = MLP(out_features=self.out_features_value, **head_kwargs, name="value")
        noisy_features = call_accepts(features, "exploration_type")  # the MLP; ConvNet has no noisy layer

        def forward(det: bool | None, etype: ExplorationType | str | None) -> tuple[jax.Array, jax.Array]:
            h = features(x, deterministic=det, **({"exploration_type": etype} if noisy_features else {}))
            return (
                advantage(h, deterministic=det, exploration_type=etype),
                value(h, deterministic=det, exploration_type=etype),
            )

        if self.is_initializing():
            # Create every parameter (deterministically: no dropout draw, no BatchNorm update,
            # no noise), zero the biases, then run the real forward pass with them.
            forward(True, None)
            for name, sub in _zeroed_biases(self.variables.get("params", {})).items():
                self.put_variable("params", name, sub)
        adv, val = forward(deterministic, exploration_type)
        adv_shape, value_shape = self._shapes()
        batch = adv.shape[: adv.ndim - len(adv_shape)]
        val = val.reshape((*batch, *value_shape))
        return val + adv - jnp.mean(adv, axis=-1, keepdims=True)


class DuelingCnnDQNet(_Dueling):
    """Dueling convolutional Q-network (TorchRL's ``DuelingCnnDQNet``).

    ``features = ConvNet(num_cells=[32, 64, 64], strides=[4, 2, 1], kernel_sizes=[8, 4, 3])``
    (ELU, flattened ``C * H * W`` output), then two heads ``MLP(depth=1, num_cells=512, ELU)``
    with ``out_features`` (advantage) and ``out_features_value`` (value) outputs, combined as
    ``Q = V + A - mean(A, -1, keepdims=True)``. Every bias starts at zero. Submodules are named
    ``features``, ``advantage`` and ``value`` (TorchRL's names and order, so
    `jaxrl_modules.compat.torchrl.load_state_dict` copies a TorchRL net's weights).

    Attributes:
      out_features: number of actions ``n`` (or a shape; the mean is over its last dim).
      out_features_value: outputs of the value head, 1 by default; ``V`` is broadcast against
        ``A`` over the action dims, so it must be 1 or ``n`` per dim (right-aligned).
      cnn_kwargs: `ConvNet` arguments merged over the defaults above (not ``data_format``).
      mlp_kwargs: `MLP` arguments for both heads, merged over ``{"depth": 1, "num_cells": 512,
        "activation_class": "ELU", "bias_last_layer": True}`` (not ``out_features``).
      data_format: ``"NHWC"`` (input ``[*B, H, W, C]``) or ``"NCHW"`` (TorchRL's
        ``[*B, C, H, W]``). The flattened features are ordered ``H, W, C`` or ``C, H, W``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> net = DuelingCnnDQNet(out_features=6)
      >>> x = jnp.zeros((2, 36, 36, 4))  # NHWC frames; 36x36 shrinks to 1x1 with the defaults
      >>> variables = net.init(jax.random.key(0), x)
      >>> sorted(variables["params"])
      ['advantage', 'features', 'value']
      >>> net.apply(variables, x).shape
      (2, 6)
      >>> float(abs(variables["params"]["features"]["conv_0"]["bias"]).max())  # zero biases
      0.0
      >>> small = DuelingCnnDQNet(3, cnn_kwargs={"num_cells": [8, 16, 16]}, mlp_kwargs={"num_cells": 16},
      ...                         data_format="NCHW")
      >>> frames = jnp.zeros((5, 2, 4, 36, 36))  # two batch dims, NCHW
      >>> small.apply(small.init(jax.random.key(1), frames), frames).shape
      (5, 2, 3)
    """

    cnn_kwargs: Mapping[str, Any] | None = None
    mlp_kwargs: Mapping[str, Any] | None = None
    data_format: str = "NHWC"

    def __post_init__(self) -> None:
        self._shapes()
        if self.cnn_kwargs is not None and "data_format" in self.cnn_kwargs:
            raise ValueError("DuelingCnnDQNet: pass data_format as its own argument, not in cnn_kwargs.")
        # Bad arguments raise at construction, as TorchRL, naming the argument they came from.
        checked_build("DuelingCnnDQNet", "cnn_kwargs", lambda: ConvNet(**self._cnn(), parent=None))
        checked_build(
            "DuelingCnnDQNet", "mlp_kwargs", lambda: MLP(out_features=self.out_features, **self._heads(), parent=None)
        )
        super().__post_init__()

    def _cnn(self) -> dict[str, Any]:
        return {**_CNN_DEFAULTS, **dict(self.cnn_kwargs or {}), "data_format": self.data_format}

    def _heads(self) -> dict[str, Any]:
        return _head_kwargs(self.mlp_kwargs, "DuelingCnnDQNet", "mlp_kwargs")

    @nn.compact
    def __call__(
        self,
        inputs: ArrayLike,
        *,
        deterministic: bool | None = None,
        exploration_type: ExplorationType | str | None = None,
    ) -> jax.Array:
        """Computes the Q-values.

        Args:
          inputs: frames ``[*B, H, W, C]`` (NHWC) or ``[*B, C, H, W]`` (NCHW), any number of batch
            dims (none included).
          deterministic: evaluation mode for dropout / BatchNorm in the sub-networks, if any.
          exploration_type: passed on to the heads' noisy layers, if any (noise iff ``RANDOM``).

        Returns:
          Q-values ``[*B, out_features]`` (``[*B, *out_features]`` for a shape).
        """
        features = ConvNet(**self._cnn(), name="features")
        return self._run(features, self._heads(), jnp.asarray(inputs), deterministic, exploration_type)


class DuelingMlpDQNet(_Dueling):
    """Dueling MLP Q-network (TorchRL's ``DuelingMlpDQNet``).

    ``features = MLP(num_cells=[256, 256], out_features=256, ELU, activate_last_layer=True)``,
    then two heads ``MLP(depth=1, num_cells=512, ELU)`` with ``out_features`` (advantage) and
    ``out_features_value`` (value) outputs, combined as ``Q = V + A - mean(A, -1,
    keepdims=True)``. Every bias starts at zero. Submodules are named ``features``,
    ``advantage`` and ``value``, as in TorchRL.

    Attributes:
      out_features: number of actions ``n``, or a shape such as ``(3, 2)`` (three action
        dimensions of two actions each; the mean is over the last dim).
      out_features_value: outputs of the value head, 1 by default; ``V`` is broadcast against
        ``A`` over the action dims (leading ones are inserted), so it must be 1 or match each
        dim (right-aligned).
      mlp_kwargs_feature: `MLP` arguments of the feature network, merged over the defaults above.
      mlp_kwargs_output: `MLP` arguments for both heads, merged over ``{"depth": 1,
        "num_cells": 512, "activation_class": "ELU", "bias_last_layer": True}`` (not
        ``out_features``).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> net = DuelingMlpDQNet(out_features=4)
      >>> obs = jnp.ones((8, 5))
      >>> variables = net.init(jax.random.key(0), obs)
      >>> q = net.apply(variables, obs)
      >>> q.shape
      (8, 4)
      >>> multi = DuelingMlpDQNet(out_features=(3, 2), mlp_kwargs_output={"num_cells": 32})
      >>> multi.apply(multi.init(jax.random.key(0), obs), obs).shape  # [*B, 3, 2]
      (8, 3, 2)
    """

    mlp_kwargs_feature: Mapping[str, Any] | None = None
    mlp_kwargs_output: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        self._shapes()
        # Bad arguments raise at construction, as TorchRL, naming the argument they came from.
        checked_build("DuelingMlpDQNet", "mlp_kwargs_feature", lambda: MLP(**self._features(), parent=None))
        checked_build(
            "DuelingMlpDQNet",
            "mlp_kwargs_output",
            lambda: MLP(out_features=self.out_features, **self._heads(), parent=None),
        )
        super().__post_init__()

    def _features(self) -> dict[str, Any]:
        return {**_MLP_FEATURE_DEFAULTS, **dict(self.mlp_kwargs_feature or {})}

    def _heads(self) -> dict[str, Any]:
        return _head_kwargs(self.mlp_kwargs_output, "DuelingMlpDQNet", "mlp_kwargs_output")

    @nn.compact
    def __call__(
        self,
        inputs: ArrayLike,
        *,
        deterministic: bool | None = None,
        exploration_type: ExplorationType | str | None = None,
    ) -> jax.Array:
        """Computes the Q-values.

        Args:
          inputs: observations ``[*B, F]``.
          deterministic: evaluation mode for dropout / BatchNorm in the sub-networks, if any.
          exploration_type: passed on to every noisy layer, if any (noise iff ``RANDOM``).

        Returns:
          Q-values ``[*B, out_features]`` (``[*B, *out_features]`` for a shape).
        """
        features = MLP(**self._features(), name="features")
        return self._run(features, self._heads(), jnp.asarray(inputs), deterministic, exploration_type)
