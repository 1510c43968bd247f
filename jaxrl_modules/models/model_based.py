"""The classic (v1) Dreamer networks of ``torchrl.modules.models.model_based``, as flax.linen modules.

Hafner et al. (2019), "Learning Latent Dynamics for Planning from Pixels" (the RSSM), and Hafner
et al. (2020), "Dream to Control" (the actor). Arrays in, arrays out; the key-based rollout over
time is `jaxrl_modules.tensordict_module.world_model.RSSMRollout`.

* `DreamerActor`: ``(state, belief) -> (loc, scale)``.
* `ObsEncoder` / `ObsDecoder`: pixels to a flat embedding and back (stride-2 4x4 convolutions,
  stride-2 transposed convolutions).
* `RSSMPrior`: ``(state, belief, action) -> (prior_mean, prior_std, state', belief')`` through a
  GRU cell; `RSSMPosterior`: ``(belief, obs_embedding) -> (posterior_mean, posterior_std, state)``.
  Their sampled state is ``mean + std * noise`` with ``noise`` given, or drawn from the ``"sample"``
  RNG stream.

Submodules carry TorchRL's state-dict names with ``.`` written ``_`` (``rnn_to_prior_projector_2``
is ``rnn_to_prior_projector.2``), so `jaxrl_modules.compat.torchrl.load_state_dict` imports
TorchRL's weights (the GRU cell and the transposed convolutions through the converters of
`jaxrl_modules.compat.torchrl_model_based`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxrl_modules.functional.mappings import biased_softplus
from jaxrl_modules.functional.random import standard_normal
from jaxrl_modules.models._checks import check_int, check_real, check_sizes, checked_build
from jaxrl_modules.models.activations import LayerSpec
from jaxrl_modules.models.layers import Conv2d, ConvTranspose2d, Linear
from jaxrl_modules.models.mlp import MLP
from jaxrl_modules.models.param_extractor import NormalParamExtractor
from jaxrl_modules.models.recurrent import GRUCell
from jaxrl_modules.rng import SAMPLE

__all__ = ["DreamerActor", "ObsDecoder", "ObsEncoder", "RSSMPosterior", "RSSMPrior"]


def _check_batch(owner: str, names: Sequence[str], xs: Sequence[jax.Array]) -> None:
    """Raises unless every array has a feature dim and they share their batch dims."""
    for name, x in zip(names, xs):
        if x.ndim < 1:
            raise ValueError(f"{owner}: {name} must have a feature dim, got shape {x.shape}.")
    if len({x.shape[:-1] for x in xs}) > 1:
        shapes = ", ".join(f"{n} {x.shape}" for n, x in zip(names, xs))
        raise ValueError(f"{owner}: the batch dims of {', '.join(names)} must agree, got {shapes}.")


def _concat(owner: str, names: Sequence[str], arrays: Sequence[ArrayLike]) -> jax.Array:
    """``concatenate(arrays, -1)`` after `_check_batch` (never a silent broadcast)."""
    xs = [jnp.asarray(a) for a in arrays]
    _check_batch(owner, names, xs)
    return jnp.concatenate(xs, axis=-1)


def _check_last(owner: str, name: str, x: jax.Array, size: int | None, arg: str) -> None:
    if size is not None and x.shape[-1] != size:
        raise ValueError(f"{owner}: {name} must end with {arg}={size}, got shape {x.shape}.")


def _check_format(owner: str, data_format: str) -> None:
    if data_format not in ("NHWC", "NCHW"):
        raise ValueError(f"{owner}: data_format must be 'NHWC' or 'NCHW', got {data_format!r}.")


def _check_layers(owner: str, num_layers: int) -> None:
    if not isinstance(num_layers, int) or isinstance(num_layers, bool) or num_layers < 1:
        raise ValueError(f"{owner}: num_layers cannot be smaller than 1, got {num_layers!r}.")


def _check_rssm_sizes(module: nn.Module, sizes: Sequence[str], optional: Sequence[str]) -> None:
    owner = type(module).__name__
    for arg in sizes:
        check_int(owner, arg, getattr(module, arg))
    for arg in optional:
        check_int(owner, arg, getattr(module, arg), optional=True)
    check_real(owner, "scale_lb", module.scale_lb, minimum=0.0)  # NaN or inf would poison every std


def _deprecated_depth(module: nn.Module) -> None:
    # TorchRL's alias; depth is reset so that flax's clones do not warn again.
    if module.depth is not None:
        warnings.warn(
            f"The depth argument of {type(module).__name__} will soon be deprecated and used for the "
            "depth of the network instead; use channels for the layer size and num_layers for the "
            "depth.",
            stacklevel=3,
        )
        object.__setattr__(module, "channels", module.depth)
        object.__setattr__(module, "depth", None)


def _noise(module: nn.Module, noise: ArrayLike | None, like: jax.Array, what: str) -> jax.Array:
    """The given noise (checked against ``like``), else N(0, 1) from the ``"sample"`` stream."""
    owner = type(module).__name__
    if noise is not None:
        noise = jnp.asarray(noise)
        if noise.shape != like.shape:
            raise ValueError(f"{owner}: noise must have the {what}'s shape {like.shape}, got {noise.shape}.")
        return noise.astype(like.dtype)
    if module.has_rng(SAMPLE):
        key = module.make_rng(SAMPLE)
    elif module.is_initializing():
        key = module.make_rng("params")  # init(key, ...) needs no "sample" stream
    else:
        raise ValueError(
            f"{owner}: sampling the {what} needs a {SAMPLE!r} RNG stream: apply(..., "
            f"rngs={{{SAMPLE!r}: key}}), or pass noise."
        )
    return standard_normal(key, like.shape, like.dtype)


class DreamerActor(nn.Module):
    """Dreamer's actor: an MLP on ``[state, belief]`` and a ``(loc, scale)`` head.

    ``backbone = MLP(out_features=2 * out_features, depth, num_cells, activation_class)``, split by
    `NormalParamExtractor` with the mapping ``"biased_softplus_{std_bias}_{std_min_val}"``:
    ``scale = max(softplus(x + inv_softplus(std_bias - std_min_val)) + std_min_val, 1e-4)``, so a
    raw 0 gives ``std_bias``. In Dreamer it feeds a ``TanhNormal(tanh_loc=True)``.

    Args:
      out_features: action size ``A``.
      depth: number of hidden layers.
      num_cells: hidden units per layer (an int, or a list of ``depth`` ints).
      activation_class: see `make_layer`; default ``"ELU"``.
      std_bias: the scale at a raw output of 0; must exceed ``std_min_val``.
      std_min_val: the lower bound of the mapping.

    Shapes: ``state [*B, S]``, ``belief [*B, H]`` -> ``loc, scale [*B, A]``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> actor = DreamerActor(out_features=2, depth=2, num_cells=16)
      >>> state, belief = jnp.zeros((5, 4)), jnp.ones((5, 8))
      >>> variables = actor.init(jax.random.key(0), state, belief)
      >>> loc, scale = actor.apply(variables, state, belief)
      >>> loc.shape, scale.shape, bool((scale > 0).all())
      ((5, 2), (5, 2), True)
    """

    out_features: int
    depth: int = 4
    num_cells: int | Sequence[int] = 200
    activation_class: LayerSpec = "ELU"
    std_bias: float = 5.0
    std_min_val: float = 1e-4

    def __post_init__(self) -> None:
        biased_softplus(self.std_bias, self.std_min_val)  # bad bounds raise at construction
        check_int("DreamerActor", "out_features", self.out_features)
        checked_build("DreamerActor", "depth/num_cells", lambda: self._backbone(parent=None))
        super().__post_init__()

    def _backbone(self, **where: Any) -> MLP:
        return MLP(
            out_features=2 * self.out_features,
            depth=self.depth,
            num_cells=self.num_cells,
            activation_class=self.activation_class,
            **where,
        )

    @nn.compact
    def __call__(self, state: ArrayLike, belief: ArrayLike) -> tuple[jax.Array, jax.Array]:
        """Returns ``(loc, scale)``, each ``[*B, out_features]``."""
        x = _concat("DreamerActor", ("state", "belief"), (state, belief))
        backbone = self._backbone(name="backbone")
        head = NormalParamExtractor(scale_mapping=biased_softplus(self.std_bias, self.std_min_val))
        return head(backbone(x))


class ObsEncoder(nn.Module):
    """Pixels to a flat embedding: ``num_layers`` stride-2 ``4x4`` convolutions with ReLU.

    Channels ``channels * 2**i`` at layer ``i``; no padding, so each layer maps a side ``s`` to
    ``(s - 4) // 2 + 1``: 64x64 images become ``2x2x(8 * channels)``, 1024 features for the
    defaults. The smallest side four layers accept is 46 (10 for two layers).

    Args:
      channels: channels of the first layer (doubled at each layer).
      num_layers: number of convolutions, at least 1.
      in_channels: expected input channels (optional; checked when given).
      depth: deprecated alias of ``channels`` (a warning, as TorchRL).
      data_format: ``"NHWC"`` (``[*B, H, W, C]``, JAX's layout) or ``"NCHW"`` (TorchRL's). The
        flattened features follow the layout, so only ``"NCHW"`` gives TorchRL's feature order
        (which a posterior imported from TorchRL expects).

    Shapes: ``[*B, H, W, C]`` (or ``[*B, C, H, W]``) -> ``[*B, features]``, ``B`` possibly empty.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> encoder = ObsEncoder(channels=4, num_layers=2)
      >>> pixels = jnp.zeros((3, 7, 16, 16, 3))  # [batch, time, H, W, C]
      >>> variables = encoder.init(jax.random.key(0), pixels)
      >>> encoder.apply(variables, pixels).shape  # 16 -> 7 -> 2; 8 channels * 2 * 2
      (3, 7, 32)
    """

    channels: int = 32
    num_layers: int = 4
    in_channels: int | None = None
    depth: int | None = None
    data_format: str = "NHWC"

    def __post_init__(self) -> None:
        _deprecated_depth(self)
        _check_layers("ObsEncoder", self.num_layers)
        _check_format("ObsEncoder", self.data_format)
        check_int("ObsEncoder", "channels", self.channels)
        check_int("ObsEncoder", "in_channels", self.in_channels, optional=True)
        super().__post_init__()

    @nn.compact
    def __call__(self, observation: ArrayLike) -> jax.Array:
        """Encodes ``observation``; returns ``[*B, 2**(num_layers - 1) * channels * H' * W']``."""
        x = jnp.asarray(observation)
        layout = "[*B, H, W, C]" if self.data_format == "NHWC" else "[*B, C, H, W]"
        if x.ndim < 3:
            raise ValueError(f"ObsEncoder expects {self.data_format} observations {layout}, got shape {x.shape}.")
        channel_axis, spatial = (-1, (-3, -2)) if self.data_format == "NHWC" else (-3, (-2, -1))
        if self.in_channels is not None and x.shape[channel_axis] != self.in_channels:
            raise ValueError(f"ObsEncoder expected in_channels={self.in_channels} in {layout}, got shape {x.shape}.")
        smallest = 1
        for _ in range(self.num_layers):
            smallest = 2 * smallest + 2
        if min(x.shape[a] for a in spatial) < smallest:
            raise ValueError(
                f"ObsEncoder: observations of shape {x.shape} ({layout}) are too small for "
                f"{self.num_layers} stride-2 4x4 convolutions; each side needs at least {smallest}."
            )
        batch = x.shape[:-3]
        for i in range(self.num_layers):
            conv = Conv2d(self.channels * 2**i, 4, strides=2, data_format=self.data_format, name=f"encoder_{2 * i}")
            x = jax.nn.relu(conv(x))
        return x.reshape((*batch, -1))


class ObsDecoder(nn.Module):
    """``[state, rnn_hidden]`` to pixels: a Linear + ReLU to ``32 * channels`` features seen as a
    1x1 image, then ``num_layers`` stride-2 transposed convolutions with ReLU between them.

    Channels ``32 * channels -> channels * 2**(L - 2) -> ... -> channels -> out_channels``; a side
    ``s`` becomes ``(s - 1) * 2 + k``, so the default kernels ``[5, 5, 6, 6]`` give 1 -> 5 -> 13
    -> 30 -> 64. No activation after the last layer.

    Args:
      channels: channels before the last layer (doubled towards the first).
      num_layers: number of transposed convolutions, at least 1.
      kernel_sizes: an int, or one per layer; default ``[5, 5, 6, 6]`` for four layers, else 5.
      latent_dim: expected size of ``[state, rnn_hidden]`` (optional; checked when given).
      out_channels: channels of the image (3 for RGB).
      depth: deprecated alias of ``channels`` (a warning, as TorchRL).
      data_format: ``"NHWC"`` (output ``[*B, H, W, C]``) or ``"NCHW"`` (TorchRL's).

    Shapes: ``state [*B, S]``, ``rnn_hidden [*B, H]`` -> ``[*B, H', W', out_channels]`` (NHWC).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> decoder = ObsDecoder(channels=2, num_layers=2, data_format="NCHW")
      >>> state, belief = jnp.zeros((4, 3)), jnp.zeros((4, 5))
      >>> variables = decoder.init(jax.random.key(0), state, belief)
      >>> decoder.apply(variables, state, belief).shape  # 1 -> 5 -> 13
      (4, 3, 13, 13)
    """

    channels: int = 32
    num_layers: int = 4
    kernel_sizes: int | Sequence[int] | None = None
    latent_dim: int | None = None
    out_channels: int = 3
    depth: int | None = None
    data_format: str = "NHWC"

    def __post_init__(self) -> None:
        _deprecated_depth(self)
        _check_layers("ObsDecoder", self.num_layers)
        _check_format("ObsDecoder", self.data_format)
        check_int("ObsDecoder", "channels", self.channels)
        check_int("ObsDecoder", "out_channels", self.out_channels)
        check_int("ObsDecoder", "latent_dim", self.latent_dim, optional=True)
        self._kernels()
        super().__post_init__()

    def _kernels(self) -> list[int]:
        sizes = self.kernel_sizes
        if sizes is None:
            sizes = [5, 5, 6, 6] if self.num_layers == 4 else 5
        repeat = isinstance(sizes, int)
        sizes = list(check_sizes("ObsDecoder", "kernel_sizes", sizes))
        sizes = sizes * self.num_layers if repeat else sizes
        if len(sizes) != self.num_layers:
            raise ValueError(
                f"ObsDecoder: kernel_sizes={sizes} must have num_layers={self.num_layers} entries (or be an int)."
            )
        return sizes

    @nn.compact
    def __call__(self, state: ArrayLike, rnn_hidden: ArrayLike) -> jax.Array:
        """Decodes ``[*B, S]`` and ``[*B, H]`` into images ``[*B, H', W', C]`` (or NCHW)."""
        latent = _concat("ObsDecoder", ("state", "rnn_hidden"), (state, rnn_hidden))
        _check_last("ObsDecoder", "[state, rnn_hidden]", latent, self.latent_dim, "latent_dim")
        latent = jax.nn.relu(Linear(self.channels * 8 * 2 * 2, name="state_to_latent_0")(latent))
        batch, features = latent.shape[:-1], latent.shape[-1]
        image = (-1, 1, 1, features) if self.data_format == "NHWC" else (-1, features, 1, 1)
        x = latent.reshape(image)
        kernels = self._kernels()
        last = self.num_layers - 1
        for i, kernel in enumerate(kernels):
            features = self.out_channels if i == last else self.channels * 2 ** (last - 1 - i)
            x = ConvTranspose2d(features, kernel, strides=2, data_format=self.data_format, name=f"decoder_{2 * i}")(x)
            if i < last:
                x = jax.nn.relu(x)
        return x.reshape((*batch, *x.shape[1:]))


class RSSMPrior(nn.Module):
    """The RSSM's prior: the next belief from a GRU cell, and a Gaussian state from the belief.

    ``h = ELU(Linear([state, action]))``, ``belief' = GRUCell(h, belief)`` (in float32, cast back),
    ``(mean, std) = Linear(ELU(Linear(belief')))`` split with ``std = max(softplus(raw),
    scale_lb)``, ``state' = mean + std * noise``.

    Args:
      action_spec: the action's spec; when it has a non-empty shape, the action's trailing dims
        must equal it.
      hidden_dim: width of the projections, and input size of the GRU cell.
      rnn_hidden_dim: size of the belief.
      state_dim: size of the stochastic state.
      scale_lb: the lower bound of ``std``.
      action_dim: expected action size (optional; checked when given).

    Call: ``(state [*B, state_dim], belief [*B, rnn_hidden_dim], action [*B, A], noise=None)`` ->
    ``(prior_mean, prior_std, state', belief')``. ``noise [*B, state_dim]`` is the standard normal
    draw; without it one is drawn from the ``"sample"`` RNG stream.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules.data.specs import Unbounded
      >>> prior = RSSMPrior(Unbounded(shape=(2,)), hidden_dim=8, rnn_hidden_dim=8, state_dim=3)
      >>> state, belief, action = jnp.zeros((4, 3)), jnp.zeros((4, 8)), jnp.ones((4, 2))
      >>> variables = prior.init(jax.random.key(0), state, belief, action)
      >>> mean, std, next_state, next_belief = prior.apply(
      ...     variables, state, belief, action, rngs={"sample": jax.random.key(1)})
      >>> next_state.shape, next_belief.shape, bool((std >= 0.1).all())
      ((4, 3), (4, 8), True)
    """

    action_spec: Any
    hidden_dim: int = 200
    rnn_hidden_dim: int = 200
    state_dim: int = 30
    scale_lb: float = 0.1
    action_dim: int | None = None

    def __post_init__(self) -> None:
        _check_rssm_sizes(self, ("hidden_dim", "rnn_hidden_dim", "state_dim"), ("action_dim",))
        super().__post_init__()

    @nn.compact
    def __call__(
        self, state: ArrayLike, belief: ArrayLike | None, action: ArrayLike, noise: ArrayLike | None = None
    ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        """Returns ``(prior_mean, prior_std, state', belief')``; a ``None`` belief is zeros."""
        state, action = jnp.asarray(state), jnp.asarray(action)
        if belief is None:  # as torch's GRUCell
            belief = jnp.zeros((*state.shape[:-1], self.rnn_hidden_dim), state.dtype)
        belief = jnp.asarray(belief)
        _check_batch("RSSMPrior", ("state", "belief", "action"), (state, belief, action))
        _check_last("RSSMPrior", "state", state, self.state_dim, "state_dim")
        _check_last("RSSMPrior", "belief", belief, self.rnn_hidden_dim, "rnn_hidden_dim")
        _check_last("RSSMPrior", "action", action, self.action_dim, "action_dim")
        spec_shape = tuple(getattr(self.action_spec, "shape", ()) or ())
        if spec_shape and tuple(action.shape[action.ndim - len(spec_shape) :]) != spec_shape:
            raise ValueError(f"RSSMPrior: action must end with the action_spec shape {spec_shape}, got {action.shape}.")
        hidden = jax.nn.elu(
            Linear(self.hidden_dim, name="action_state_projector_0")(jnp.concatenate([state, action], -1))
        )
        next_belief = GRUCell(hidden_size=self.rnn_hidden_dim, name="rnn")(
            hidden.astype(jnp.float32), belief.astype(jnp.float32)
        )
        next_belief = next_belief.astype(hidden.dtype)
        raw = jax.nn.elu(Linear(self.hidden_dim, name="rnn_to_prior_projector_0")(next_belief))
        raw = Linear(2 * self.state_dim, name="rnn_to_prior_projector_2")(raw)
        mean, std = NormalParamExtractor(scale_mapping="softplus", scale_lb=self.scale_lb)(raw)
        next_state = mean + _noise(self, noise, std, "prior state") * std
        return mean, std, next_state, next_belief


class RSSMPosterior(nn.Module):
    """The RSSM's posterior: a Gaussian state from the belief and the observation's embedding.

    ``(mean, std) = Linear(ELU(Linear([belief, obs_embedding])))`` split with ``std =
    max(softplus(raw), scale_lb)``, ``state = mean + std * noise``.

    Args:
      hidden_dim: width of the hidden layer.
      state_dim: size of the stochastic state.
      scale_lb: the lower bound of ``std``.
      rnn_hidden_dim: expected belief size (optional; checked when given).
      obs_embed_dim: expected embedding size (optional; checked when given).

    Call: ``(belief [*B, H], obs_embedding [*B, E], noise=None)`` -> ``(posterior_mean,
    posterior_std, state)``, each ``[*B, state_dim]``; without ``noise`` the standard normal draw
    comes from the ``"sample"`` RNG stream.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> posterior = RSSMPosterior(hidden_dim=8, state_dim=3)
      >>> belief, embedding = jnp.zeros((4, 8)), jnp.ones((4, 6))
      >>> variables = posterior.init(jax.random.key(0), belief, embedding)
      >>> mean, std, state = posterior.apply(variables, belief, embedding, noise=jnp.zeros((4, 3)))
      >>> bool((state == mean).all())
      True
    """

    hidden_dim: int = 200
    state_dim: int = 30
    scale_lb: float = 0.1
    rnn_hidden_dim: int | None = None
    obs_embed_dim: int | None = None

    def __post_init__(self) -> None:
        _check_rssm_sizes(self, ("hidden_dim", "state_dim"), ("rnn_hidden_dim", "obs_embed_dim"))
        super().__post_init__()

    @nn.compact
    def __call__(
        self, belief: ArrayLike, obs_embedding: ArrayLike, noise: ArrayLike | None = None
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Returns ``(posterior_mean, posterior_std, state)``."""
        belief, obs_embedding = jnp.asarray(belief), jnp.asarray(obs_embedding)
        x = _concat("RSSMPosterior", ("belief", "obs_embedding"), (belief, obs_embedding))
        _check_last("RSSMPosterior", "belief", belief, self.rnn_hidden_dim, "rnn_hidden_dim")
        _check_last("RSSMPosterior", "obs_embedding", obs_embedding, self.obs_embed_dim, "obs_embed_dim")
        raw = jax.nn.elu(Linear(self.hidden_dim, name="obs_rnn_to_post_projector_0")(x))
        raw = Linear(2 * self.state_dim, name="obs_rnn_to_post_projector_2")(raw)
        mean, std = NormalParamExtractor(scale_mapping="softplus", scale_lb=self.scale_lb)(raw)
        return mean, std, mean + _noise(self, noise, std, "posterior state") * std
