"""TorchRL's multi-layer perceptron, ``torchrl.modules.MLP``, as a flax.linen module."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Integral
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxrl_modules.exploration_type import ExplorationType
from jaxrl_modules.models._checks import check_int, check_rate, check_sizes
from jaxrl_modules.models.activations import LayerSpec, make_layer
from jaxrl_modules.models.layers import Linear, call_accepts
from jaxrl_modules.models.noisy import NoisyLinear

__all__ = ["MLP"]

KwargsSpec = Mapping[str, Any] | Sequence[Mapping[str, Any]] | None


def _per_layer(kwargs: KwargsSpec, n: int, what: str, owner: str = "MLP") -> list[dict[str, Any]]:
    """One kwargs dict per layer: a dict is repeated, a list must have one entry per layer."""
    if kwargs is None:
        return [{} for _ in range(n)]
    if isinstance(kwargs, Mapping):  # flax stores dict attributes as FrozenDicts
        return [dict(kwargs) for _ in range(n)]
    kwargs = list(kwargs)
    if len(kwargs) != n:
        raise ValueError(f"{owner} {what} has {len(kwargs)} entries, expected {n} (one per layer).")
    return [dict(k) for k in kwargs]


def _hidden_sizes(depth: int | None, num_cells: int | Sequence[int] | None, owner: str = "MLP") -> list[int]:
    """The hidden sizes of TorchRL's rules, each a positive int, with a non-negative depth."""
    depth = check_int(owner, "depth", depth, minimum=0, optional=True)
    if num_cells is None:
        return [32] * (depth or 0)
    if isinstance(num_cells, Integral) and not isinstance(num_cells, bool):
        check_int(owner, "num_cells", num_cells)
        if depth is None:
            raise ValueError(
                f"{owner}: num_cells given as an integer needs depth too (num_cells={num_cells}, depth=None)."
            )
        return [int(num_cells)] * depth
    cells = list(check_sizes(owner, "num_cells", num_cells))
    if depth is not None and len(cells) != depth:
        raise ValueError(
            f"{owner}: depth={depth} conflicts with num_cells={cells} (length {len(cells)}); pass "
            "a list of length depth, or an integer num_cells together with depth."
        )
    return cells


def _out_shape(out_features: int | Sequence[int] | None, owner: str = "MLP") -> tuple[int, ...] | None:
    """None for an int ``out_features``, else the output shape; every size must be positive."""
    if out_features is None:
        raise ValueError(f"{owner}: out_features must be specified (an int, or a shape such as (2, 3)).")
    if isinstance(out_features, Integral) and not isinstance(out_features, bool):
        check_int(owner, "out_features", out_features)
        return None
    return check_sizes(owner, "out_features", out_features)


class _SharedBias(nn.Module):
    """One learned scalar added to every output (TorchRL's ``_SharedBias``), zero-initialised."""

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        bias = self.param("bias", nn.initializers.zeros, (1,), jnp.float32)
        return x + jnp.reshape(bias, (1,) * (x.ndim - 1) + (1,)).astype(x.dtype)


class MLP(nn.Module):
    """A multi-layer perceptron with TorchRL's arguments and defaults.

    Each hidden layer is ``Linear -> Dropout (if dropout) -> norm (if norm_class) ->
    activation``; the last layer is a ``Linear`` with ``prod(out_features)`` units, activated the
    same way only if ``activate_last_layer``. Submodules are named in creation order:
    ``linear_0, dropout_0, norm_0, activation_0, linear_1, ..., bias_last``.

    Attributes:
      in_features: expected size of the (concatenated) input's last dim; optional, flax infers
        it, but when given a mismatching input raises a ValueError.
      out_features: a positive int, or a shape of positive ints: the output is then reshaped to
        ``[*B, *out_features]`` (``()`` gives ``[*B]``).
      depth: number of hidden layers, ``>= 0``.
      num_cells: hidden sizes, each positive: None (32 per hidden layer; no hidden layer when
        depth is None too), an int (needs depth) or a list (of length depth if depth is given).
      activation_class: see `make_layer`; default ``"Tanh"`` as TorchRL.
      activation_kwargs: a dict, or a list with one dict per activation.
      norm_class: None, or a norm layer (e.g. ``"LayerNorm"``) placed before each activation.
      norm_kwargs: a dict, or a list with one dict per norm.
      dropout: dropout rate in ``[0, 1)`` after each hidden linear layer (flax RNG stream
        ``"dropout"``).
      bias_last_layer: whether the last linear layer has a bias.
      single_bias_last_layer: replace the last layer's bias by one shared scalar bias of shape
        ``[1]``, zero-initialised (when ``bias_last_layer`` is True). Incompatible with
        `NoisyLinear` (a ValueError, as in TorchRL).
      layer_class: a flax module class taking ``features`` and ``use_bias``; default `Linear`
        (PyTorch's initialisation). `NoisyLinear` makes a noisy network. If the class's
        ``__call__`` takes ``exploration_type`` / ``deterministic``, the MLP's call passes them on.
      layer_kwargs: a dict, or a list of ``depth + 1`` dicts, for ``layer_class``; PyTorch's
        ``bias`` key is accepted for ``use_bias``.
      activate_last_layer: also apply dropout/norm/activation after the last layer.
      deterministic: evaluation mode (no dropout, BatchNorm running statistics, and no noise in
        noisy layers with ``use_exploration_type=False``); TorchRL modules start in train mode,
        so the default is False. A call argument overrides it.

    Degenerate sizes raise at construction, naming the argument: a negative ``depth``, a zero or
    negative size in ``num_cells`` or ``out_features``, a ``num_cells`` list whose length is not
    ``depth``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> mlp = MLP(out_features=(2, 3), num_cells=[32, 32], activation_class="ReLU")
      >>> x = jnp.ones((5, 4))
      >>> variables = mlp.init(jax.random.key(0), x)
      >>> sorted(variables["params"])
      ['linear_0', 'linear_1', 'linear_2']
      >>> mlp.apply(variables, x).shape
      (5, 2, 3)
      >>> drop = MLP(out_features=2, depth=1, dropout=0.5)
      >>> v = drop.init(jax.random.key(0), x, deterministic=True)
      >>> drop.apply(v, x, rngs={"dropout": jax.random.key(1)}).shape
      (5, 2)
      >>> noisy = MLP(out_features=2, num_cells=[8], layer_class=NoisyLinear)
      >>> v = noisy.init(jax.random.key(0), x)
      >>> y = noisy.apply(v, x, exploration_type="random", rngs={"noise": jax.random.key(1)})
      >>> bool(jnp.array_equal(y, noisy.apply(v, x)))  # unset exploration type: no noise
      False
      >>> MLP(out_features=2, num_cells=0, depth=2)
      Traceback (most recent call last):
      ...
      ValueError: MLP: num_cells must be a positive int, got 0.
    """

    in_features: int | None = None
    out_features: int | Sequence[int] | None = None
    depth: int | None = None
    num_cells: int | Sequence[int] | None = None
    activation_class: LayerSpec = "Tanh"
    activation_kwargs: KwargsSpec = None
    norm_class: LayerSpec | None = None
    norm_kwargs: KwargsSpec = None
    dropout: float | None = None
    bias_last_layer: bool = True
    single_bias_last_layer: bool = False
    layer_class: Any = Linear
    layer_kwargs: KwargsSpec = None
    activate_last_layer: bool = False
    deterministic: bool = False

    def __post_init__(self) -> None:
        _out_shape(self.out_features)
        check_int("MLP", "in_features", self.in_features, optional=True)
        check_rate("MLP", "dropout", self.dropout, optional=True)
        _, layer_kwargs, _, _ = self._plan()  # raise bad arguments at construction, as TorchRL does
        noisy = isinstance(self.layer_class, type) and issubclass(self.layer_class, NoisyLinear)
        if self.single_bias_last_layer and noisy:
            raise ValueError(
                "MLP: single_bias_last_layer=True is incompatible with NoisyLinear (as in TorchRL): "
                "the shared scalar bias would carry no noise. Use bias_last_layer=True for a noisy "
                "per-output bias."
            )
        if (
            isinstance(self.layer_class, type)
            and call_accepts(self.layer_class, "deterministic")
            and any("deterministic" in k for k in layer_kwargs)
        ):
            raise ValueError(
                f"MLP passes its own train/eval mode to {getattr(self.layer_class, '__name__', self.layer_class)} "
                "at each call, so layer_kwargs['deterministic'] would be ignored: set "
                "MLP(deterministic=...) or the call's deterministic= instead."
            )
        super().__post_init__()

    def _plan(self) -> tuple[list[int], list[dict], list[dict], list[dict]]:
        cells = _hidden_sizes(self.depth, self.num_cells)
        depth = len(cells)
        n_act = depth + int(self.activate_last_layer)
        return (
            cells,
            _per_layer(self.layer_kwargs, depth + 1, "layer_kwargs"),
            _per_layer(self.activation_kwargs, n_act, "activation_kwargs"),
            _per_layer(self.norm_kwargs, n_act, "norm_kwargs"),
        )

    @nn.compact
    def __call__(
        self,
        *inputs: ArrayLike,
        deterministic: bool | None = None,
        exploration_type: ExplorationType | str | None = None,
    ) -> jax.Array:
        """Applies the network.

        Args:
          *inputs: one or more arrays ``[*B, F_i]``, concatenated along the last axis.
          deterministic: overrides the ``deterministic`` attribute for this call.
          exploration_type: passed on to each layer whose ``__call__`` takes it (`NoisyLinear`
            adds noise iff it is ``RANDOM``); the other layers ignore it.

        Returns:
          ``[*B, out_features]``, or ``[*B, *out_features]`` for a shape ``out_features``.
        """
        if not inputs:
            raise ValueError("MLP needs at least one input array.")
        xs = [jnp.asarray(x) for x in inputs]
        x = xs[0] if len(xs) == 1 else jnp.concatenate(xs, axis=-1)
        if self.in_features is not None and (x.ndim == 0 or x.shape[-1] != self.in_features):
            raise ValueError(
                f"MLP expected inputs whose last dim is in_features={self.in_features}, got "
                f"{'concatenated ' if len(xs) > 1 else ''}shape {x.shape}."
            )
        det = self.deterministic if deterministic is None else deterministic
        cells, layer_kwargs, act_kwargs, norm_kwargs = self._plan()
        depth = len(cells)
        shape_out = _out_shape(self.out_features)
        sizes = cells + [int(self.out_features) if shape_out is None else math.prod(shape_out)]
        for i, features in enumerate(sizes):
            kwargs = dict(layer_kwargs[i])
            if "bias" in kwargs:
                kwargs["use_bias"] = kwargs.pop("bias")
            use_bias = kwargs.pop("use_bias", self.bias_last_layer if i == depth else True)
            shared_bias = i == depth and self.single_bias_last_layer and use_bias
            layer = self.layer_class(
                features=features, use_bias=use_bias and not shared_bias, name=f"linear_{i}", **kwargs
            )
            call_kwargs: dict[str, Any] = {}
            if call_accepts(layer, "exploration_type"):  # read from the built layer: layer_class may be a factory
                call_kwargs["exploration_type"] = exploration_type
            if call_accepts(layer, "deterministic"):
                call_kwargs["deterministic"] = det
            x = layer(x, **call_kwargs)
            if shared_bias:
                x = _SharedBias(name="bias_last")(x)
            if i < depth or self.activate_last_layer:
                if self.dropout is not None:
                    x = nn.Dropout(rate=self.dropout, deterministic=det, name=f"dropout_{i}")(x)
                if self.norm_class is not None:
                    norm = make_layer(self.norm_class, norm_kwargs[i], name=f"norm_{i}", deterministic=det)
                    x = norm(x)
                act = make_layer(self.activation_class, act_kwargs[i], name=f"activation_{i}", deterministic=det)
                x = act(x)
        if shape_out is not None:
            x = x.reshape((*x.shape[:-1], *shape_out))
        return x
