"""The Decision Transformer family: a GPT-2 causal transformer and TorchRL's DT actors.

TorchRL's ``DecisionTransformer`` wraps HuggingFace's ``GPT2Model``; here `GPT2Model` is a plain
flax GPT-2 (Radford et al., 2019, "Language Models are Unsupervised Multitask Learners"), with no
``transformers`` dependency and no model hub: pre-LayerNorm blocks, causal multi-head
self-attention through one fused ``c_attn`` projection, learned absolute position embeddings,
GPT-2's initialisation (normal(0.02), residual projections scaled by ``1/sqrt(2 n_layer)``) and
HuggingFace's parameter names (``wpe``, ``h_0``, ``ln_1``, ``attn/c_attn``...). Its kernels are
``[in, out]``, the layout of GPT-2's ``Conv1D`` weights.

`DecisionTransformer` (Chen et al., 2021, "Decision Transformer: Reinforcement Learning via
Sequence Modeling"; Zheng et al., 2022, "Online Decision Transformer") embeds return-to-go,
state and action, interleaves them as ``(R_1, s_1, a_1, R_2, ...)`` and returns the hidden state
at each state token. `DTActor` adds a deterministic action head, `OnlineDTActor` a Gaussian head
``(mean, std)``.

Dropout draws from the ``"dropout"`` RNG stream unless ``deterministic`` (TorchRL modules start
in train mode, so the default is ``deterministic=False``, as for `MLP`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxrl_modules.models._checks import check_int, check_rate, check_real
from jaxrl_modules.models.layers import Linear

__all__ = ["DTConfig", "DTActor", "DecisionTransformer", "GPT2Model", "OnlineDTActor", "gpt2_activation"]


def _gelu_tanh(x: jax.Array) -> jax.Array:
    return jax.nn.gelu(x, approximate=True)


# HuggingFace's ACT2FN names (the values of GPT2Config.activation_function).
_ACTIVATIONS = {
    "relu": jax.nn.relu,
    "relu6": jax.nn.relu6,
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "gelu_new": _gelu_tanh,
    "gelu_pytorch_tanh": _gelu_tanh,
    "gelu_fast": _gelu_tanh,
    "quick_gelu": lambda x: x * jax.nn.sigmoid(1.702 * x),
    "silu": jax.nn.silu,
    "swish": jax.nn.silu,
    "mish": lambda x: x * jnp.tanh(jax.nn.softplus(x)),
    "elu": jax.nn.elu,
    "leaky_relu": lambda x: jax.nn.leaky_relu(x, 0.01),
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "linear": lambda x: x,
}


def gpt2_activation(name: str):
    """The activation a GPT-2 config names (HuggingFace's ``ACT2FN`` keys).

    ``"gelu_new"`` (GPT-2's own), ``"gelu_fast"`` and ``"gelu_pytorch_tanh"`` are the tanh
    approximation of GELU; ``"gelu"`` is the exact (erf) one.

    Examples:
      >>> import jax.numpy as jnp
      >>> gpt2_activation("relu")(jnp.array([-1.0, 2.0]))
      Array([0., 2.], dtype=float32)
    """
    try:
        return _ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"Unknown GPT-2 activation {name!r}; known: {sorted(_ACTIVATIONS)}.") from None


@dataclasses.dataclass(unsafe_hash=True)
class DTConfig:
    """TorchRL's ``DecisionTransformer.DTConfig``, plus two GPT-2 settings TorchRL leaves at GPT-2's defaults.

    Mutable as TorchRL's (``config.n_embd = 128``); a module copies it when built. Hashed by value,
    so a module holding one stays hashable (``jax.jit`` caches on it).

    Attributes:
      n_embd, n_layer, n_head, n_inner, activation, n_positions, resid_pdrop, attn_pdrop: as
        TorchRL's (``n_inner=None`` means ``4 * n_embd``, as GPT-2).
      embd_pdrop: dropout on the embeddings (GPT-2's default 0.1, fixed in TorchRL).
      layer_norm_epsilon: GPT-2's LayerNorm epsilon (1e-5).

    A module checks its config when built: the sizes must be positive, ``n_head`` must divide
    ``n_embd``, the dropout rates lie in ``[0, 1)`` and the epsilon is positive (a ValueError
    naming the module and the ``config.<field>``).

    Examples:
      >>> config = DecisionTransformer.default_config()
      >>> config.n_embd = 128
      >>> config
      DTConfig(n_embd: 128, n_layer: 4, n_head: 4, n_inner: 1024, activation: relu, n_positions: 1024,
      resid_pdrop: 0.1, attn_pdrop: 0.1, embd_pdrop: 0.1, layer_norm_epsilon: 1e-05)
    """

    n_embd: int = 256
    n_layer: int = 4
    n_head: int = 4
    n_inner: int | None = 1024
    activation: str = "relu"
    n_positions: int = 1024
    resid_pdrop: float = 0.1
    attn_pdrop: float = 0.1
    embd_pdrop: float = 0.1
    layer_norm_epsilon: float = 1e-5

    def __repr__(self) -> str:
        fields = ", ".join(f"{f.name}: {getattr(self, f.name)}" for f in dataclasses.fields(self))
        return f"{type(self).__name__}({fields})"


def _as_config(config: Any, default: DTConfig, owner: str) -> DTConfig:
    if config is None:
        return dataclasses.replace(default)
    if isinstance(config, DTConfig):
        return dataclasses.replace(config)  # a copy: the caller may mutate theirs
    if not isinstance(config, Mapping):
        try:
            config = dict(config)
        except Exception as err:
            raise TypeError(f"{owner}: config of type {type(config).__name__} is not supported.") from err
    known = {f.name for f in dataclasses.fields(DTConfig)}
    unknown = sorted(set(config) - known)
    if unknown:
        raise TypeError(f"{owner}: unknown config keys {unknown}; known keys are {sorted(known)}.")
    return dataclasses.replace(default, **config)


def _check_config(c: DTConfig, owner: str, arg: str = "config") -> None:
    """Every size of the config is positive, every dropout rate in [0, 1), the heads split n_embd."""
    for field in ("n_embd", "n_layer", "n_head", "n_positions"):
        check_int(owner, f"{arg}.{field}", getattr(c, field))
    check_int(owner, f"{arg}.n_inner", c.n_inner, optional=True)
    if c.n_embd % c.n_head:
        raise ValueError(f"{owner}: n_embd={c.n_embd} must be divisible by n_head={c.n_head}.")
    for field in ("resid_pdrop", "attn_pdrop", "embd_pdrop"):
        check_rate(owner, f"{arg}.{field}", getattr(c, field))
    check_real(owner, f"{arg}.layer_norm_epsilon", c.layer_norm_epsilon, minimum=0.0, strict=True)
    gpt2_activation(c.activation)


def _normal(std: float):
    return nn.initializers.normal(stddev=std)


def _layer_norm(eps: float, name: str) -> nn.LayerNorm:
    return nn.LayerNorm(epsilon=eps, use_fast_variance=False, name=name)


class _Attention(nn.Module):
    n_head: int
    attn_pdrop: float
    resid_pdrop: float
    proj_std: float

    @nn.compact
    def __call__(self, x: jax.Array, key_mask: jax.Array | None, deterministic: bool) -> jax.Array:
        *batch, length, width = x.shape
        head_dim = width // self.n_head
        qkv = Linear(3 * width, kernel_init=_normal(0.02), bias_init=nn.initializers.zeros, name="c_attn")(x)
        q, k, v = jnp.split(qkv.reshape(*batch, length, 3, self.n_head, head_dim), 3, axis=-3)
        q, k, v = (t.squeeze(-3) for t in (q, k, v))  # [*B, L, heads, head_dim]
        scores = jnp.einsum("...qhd,...khd->...hqk", q, k).astype(jnp.float32) / math.sqrt(head_dim)
        ones = (1,) * (scores.ndim - 2)
        if key_mask is not None:
            # Padding gets a finite floor, the future -inf: a query whose past is all padding
            # then averages its past, never the future, and no row is all -inf (no NaN).
            keep = key_mask.astype(bool).reshape(*key_mask.shape[:-1], 1, 1, length)
            scores = jnp.where(keep, scores, jnp.finfo(jnp.float32).min)
        causal = jnp.tril(jnp.ones((length, length), bool)).reshape(*ones, length, length)
        weights = jax.nn.softmax(jnp.where(causal, scores, -jnp.inf), axis=-1).astype(v.dtype)
        weights = nn.Dropout(self.attn_pdrop, deterministic=deterministic, name="attn_dropout")(weights)
        out = jnp.einsum("...hqk,...khd->...qhd", weights, v).reshape(*batch, length, width)
        out = Linear(width, kernel_init=_normal(self.proj_std), bias_init=nn.initializers.zeros, name="c_proj")(out)
        return nn.Dropout(self.resid_pdrop, deterministic=deterministic, name="resid_dropout")(out)


class _MLP(nn.Module):
    n_inner: int
    activation: str
    resid_pdrop: float
    proj_std: float

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
        zeros = nn.initializers.zeros
        h = Linear(self.n_inner, kernel_init=_normal(0.02), bias_init=zeros, name="c_fc")(x)
        h = gpt2_activation(self.activation)(h)
        h = Linear(x.shape[-1], kernel_init=_normal(self.proj_std), bias_init=zeros, name="c_proj")(h)
        return nn.Dropout(self.resid_pdrop, deterministic=deterministic, name="dropout")(h)


class _Block(nn.Module):
    config: DTConfig

    @nn.compact
    def __call__(self, x: jax.Array, key_mask: jax.Array | None, deterministic: bool) -> jax.Array:
        c = self.config
        proj_std = 0.02 / math.sqrt(2 * c.n_layer)
        h = _layer_norm(c.layer_norm_epsilon, "ln_1")(x)
        x = x + _Attention(c.n_head, c.attn_pdrop, c.resid_pdrop, proj_std, name="attn")(h, key_mask, deterministic)
        h = _layer_norm(c.layer_norm_epsilon, "ln_2")(x)
        inner = c.n_inner if c.n_inner is not None else 4 * x.shape[-1]
        return x + _MLP(inner, c.activation, c.resid_pdrop, proj_std, name="mlp")(h, deterministic)


class GPT2Model(nn.Module):
    """A GPT-2 causal transformer returning the last hidden state (HuggingFace's ``GPT2Model``).

    Attributes:
      config: a `DTConfig` or a dict of its fields (missing ones take `DTConfig`'s defaults).
      vocab_size: if given, a token embedding ``wte`` ``[vocab_size, n_embd]`` lets the model take
        ``input_ids``; if None, it takes ``inputs_embeds`` only.
      deterministic: disables dropout; a call argument overrides it.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> gpt = GPT2Model({"n_embd": 16, "n_layer": 1, "n_head": 2, "n_inner": 32}, vocab_size=10)
      >>> ids = jnp.array([[1, 2, 3]])
      >>> variables = gpt.init(jax.random.key(0), ids, deterministic=True)
      >>> gpt.apply(variables, ids, deterministic=True).shape
      (1, 3, 16)
    """

    config: Any = None
    vocab_size: int | None = None
    deterministic: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "config", _as_config(self.config, DTConfig(), type(self).__name__))
        _check_config(self.config, type(self).__name__)
        check_int(type(self).__name__, "vocab_size", self.vocab_size, optional=True)
        super().__post_init__()

    @nn.compact
    def __call__(
        self,
        input_ids: ArrayLike | None = None,
        attention_mask: ArrayLike | None = None,
        *,
        inputs_embeds: ArrayLike | None = None,
        deterministic: bool | None = None,
    ) -> jax.Array:
        """Runs the transformer.

        Args:
          input_ids: integer tokens ``[*B, L]`` (needs ``vocab_size``). Exactly one of
            ``input_ids`` and ``inputs_embeds``.
          attention_mask: ``[*B, L]``, 1 (or True) for tokens to attend to, 0 for padding.
          inputs_embeds: ``[*B, L, n_embd]``.
          deterministic: overrides the ``deterministic`` attribute.

        Returns:
          The last hidden state ``[*B, L, n_embd]`` (after the final LayerNorm ``ln_f``).
        """
        c, name = self.config, type(self).__name__
        det = self.deterministic if deterministic is None else deterministic
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError(f"{name}: pass exactly one of input_ids and inputs_embeds.")
        if input_ids is not None:
            if self.vocab_size is None:
                raise ValueError(f"{name}: input_ids need a token embedding; build it with vocab_size=.")
            input_ids = jnp.asarray(input_ids)
            if not jnp.issubdtype(input_ids.dtype, jnp.integer) or input_ids.ndim < 1:
                raise ValueError(f"{name}: input_ids must be integer [*B, L], got {input_ids.dtype} {input_ids.shape}.")
            wte = self.param("wte", _normal(0.02), (self.vocab_size, c.n_embd), jnp.float32)
            x = jnp.take(wte, input_ids, axis=0)
        else:
            x = jnp.asarray(inputs_embeds)
            if x.ndim < 2 or x.shape[-1] != c.n_embd:
                raise ValueError(f"{name}: inputs_embeds must be [*B, L, n_embd={c.n_embd}], got shape {x.shape}.")
        length = x.shape[-2]
        if length > c.n_positions:
            raise ValueError(f"{name}: a sequence of {length} tokens is longer than n_positions={c.n_positions}.")
        if attention_mask is not None:
            attention_mask = jnp.asarray(attention_mask)
            if attention_mask.shape != x.shape[:-1]:
                raise ValueError(
                    f"{name}: attention_mask has shape {attention_mask.shape}, expected {x.shape[:-1]} ([*B, L])."
                )
        wpe = self.param("wpe", _normal(0.02), (c.n_positions, c.n_embd), jnp.float32)
        x = x + wpe[:length].reshape((1,) * (x.ndim - 2) + (length, c.n_embd)).astype(x.dtype)
        x = nn.Dropout(c.embd_pdrop, deterministic=det, name="drop")(x)
        for i in range(c.n_layer):
            x = _Block(c, name=f"h_{i}")(x, attention_mask, det)
        return _layer_norm(c.layer_norm_epsilon, "ln_f")(x)


class DecisionTransformer(nn.Module):
    """TorchRL's ``DecisionTransformer``: GPT-2 over interleaved (return-to-go, state, action) tokens.

    Each modality has its own ``Linear`` embedding (``embed_return``, ``embed_state``,
    ``embed_action``, PyTorch's initialisation); the tokens ``(R_1, s_1, a_1, ..., R_T, s_T, a_T)``
    go through ``embed_ln`` and then `GPT2Model` (``transformer``), whose learned position
    embedding covers the ``3T`` tokens (there is no timestep embedding, as in TorchRL). The output
    is the hidden state at each state token, which has seen ``R_1..R_t, s_1..s_t, a_1..a_{t-1}``.

    Attributes:
      state_dim: the observation's last dim ``S``.
      action_dim: the action's last dim ``A``.
      config: a `DTConfig` or a dict of its fields (missing ones take the defaults); default
        `default_config()`.
      deterministic: disables dropout; a call argument overrides it.

    Shapes: ``observation [*B, T, S]``, ``action [*B, T, A]``, ``return_to_go [*B, T, 1]`` ->
    ``[*B, T, n_embd]``, for any number of batch dims (TorchRL flattens them; the result is the
    same). ``3T`` must not exceed ``n_positions``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> config = DecisionTransformer.DTConfig(n_embd=16, n_layer=1, n_head=2, n_inner=32)
      >>> model = DecisionTransformer(state_dim=4, action_dim=2, config=config)
      >>> obs, act, rtg = jnp.ones((3, 32, 10, 4)), jnp.ones((3, 32, 10, 2)), jnp.ones((3, 32, 10, 1))
      >>> variables = model.init(jax.random.key(0), obs, act, rtg)
      >>> model.apply(variables, obs, act, rtg, rngs={"dropout": jax.random.key(1)}).shape
      (3, 32, 10, 16)
    """

    state_dim: int
    action_dim: int
    config: Any = None
    deterministic: bool = False

    DTConfig = DTConfig

    @classmethod
    def default_config(cls) -> DTConfig:
        """TorchRL's default: ``n_embd=256, n_layer=4, n_head=4, n_inner=1024, relu, n_positions=1024``, dropout 0.1."""
        return DTConfig()

    def __post_init__(self) -> None:
        object.__setattr__(self, "config", _as_config(self.config, self.default_config(), type(self).__name__))
        _check_config(self.config, type(self).__name__)
        check_int(type(self).__name__, "state_dim", self.state_dim)
        check_int(type(self).__name__, "action_dim", self.action_dim)
        super().__post_init__()

    @nn.compact
    def __call__(
        self,
        observation: ArrayLike,
        action: ArrayLike,
        return_to_go: ArrayLike,
        *,
        deterministic: bool | None = None,
    ) -> jax.Array:
        """Returns the hidden state at each state token, ``[*B, T, n_embd]``."""
        obs, act, rtg = (jnp.asarray(x) for x in (observation, action, return_to_go))
        _check_inputs(type(self).__name__, obs, act, rtg, self.state_dim, self.action_dim, self.config.n_positions)
        *batch, steps, _ = obs.shape
        width = self.config.n_embd
        tokens = jnp.stack(
            [
                Linear(width, name="embed_return")(rtg),
                Linear(width, name="embed_state")(obs),
                Linear(width, name="embed_action")(act),
            ],
            axis=-2,
        ).reshape(*batch, 3 * steps, width)
        tokens = nn.LayerNorm(epsilon=1e-5, use_fast_variance=False, name="embed_ln")(tokens)
        det = self.deterministic if deterministic is None else deterministic
        hidden = GPT2Model(self.config, name="transformer")(inputs_embeds=tokens, deterministic=det)
        return hidden.reshape(*batch, steps, 3, width)[..., 1, :]


def _check_inputs(owner, obs, act, rtg, state_dim, action_dim, n_positions) -> None:
    for what, x, last in (("observation", obs, state_dim), ("action", act, action_dim), ("return_to_go", rtg, 1)):
        if x.ndim < 2 or x.shape[-1] != last:
            raise ValueError(f"{owner}: {what} must have shape [*B, T, {last}], got {x.shape}.")
    if not obs.shape[:-1] == act.shape[:-1] == rtg.shape[:-1]:
        raise ValueError(
            f"{owner}: observation {obs.shape}, action {act.shape} and return_to_go {rtg.shape} must "
            "share their batch and time dims [*B, T]."
        )
    if 3 * obs.shape[-2] > n_positions:
        raise ValueError(
            f"{owner}: a context of T={obs.shape[-2]} steps makes {3 * obs.shape[-2]} tokens, more than "
            f"n_positions={n_positions}; pass at most {n_positions // 3} steps."
        )


def _actor_config() -> DTConfig:
    return DTConfig(n_embd=512, n_layer=4, n_head=4, n_inner=2048, activation="relu", n_positions=1024)


class DTActor(nn.Module):
    """TorchRL's ``DTActor``: a `DecisionTransformer` and a linear action head (orthogonal init, zero bias).

    Attributes:
      state_dim, action_dim: as `DecisionTransformer`.
      transformer_config: a `DTConfig` or dict; default `default_config()` (``n_embd=512,
        n_inner=2048``, the rest as `DecisionTransformer`'s).
      deterministic: disables dropout; a call argument overrides it.

    Shapes: as `DecisionTransformer`, returning actions ``[*B, T, A]`` (unbounded; bound them e.g.
    with `TanhModule` or a ``TanhDelta`` actor).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> model = DTActor(state_dim=4, action_dim=2, transformer_config={"n_embd": 16, "n_layer": 1,
      ...                 "n_head": 2, "n_inner": 32}, deterministic=True)
      >>> obs, act, rtg = jnp.ones((32, 10, 4)), jnp.ones((32, 10, 2)), jnp.ones((32, 10, 1))
      >>> model.apply(model.init(jax.random.key(0), obs, act, rtg), obs, act, rtg).shape
      (32, 10, 2)
    """

    state_dim: int
    action_dim: int
    transformer_config: Any = None
    deterministic: bool = False

    default_config = staticmethod(_actor_config)

    def __post_init__(self) -> None:
        config = _as_config(self.transformer_config, _actor_config(), type(self).__name__)
        object.__setattr__(self, "transformer_config", config)
        _check_config(config, type(self).__name__, "transformer_config")
        check_int(type(self).__name__, "state_dim", self.state_dim)
        check_int(type(self).__name__, "action_dim", self.action_dim)
        super().__post_init__()

    def _hidden(self, observation, action, return_to_go, deterministic) -> jax.Array:
        det = self.deterministic if deterministic is None else deterministic
        transformer = DecisionTransformer(self.state_dim, self.action_dim, self.transformer_config, name="transformer")
        return transformer(observation, action, return_to_go, deterministic=det)

    @nn.compact
    def __call__(
        self,
        observation: ArrayLike,
        action: ArrayLike,
        return_to_go: ArrayLike,
        *,
        deterministic: bool | None = None,
    ) -> jax.Array:
        """Returns the actions ``[*B, T, action_dim]``."""
        hidden = self._hidden(observation, action, return_to_go, deterministic)
        return _head(self.action_dim, "action_layer")(hidden)


def _head(features: int, name: str) -> Linear:
    return Linear(features, kernel_init=nn.initializers.orthogonal(), bias_init=nn.initializers.zeros, name=name)


class OnlineDTActor(DTActor):
    """TorchRL's ``OnlineDTActor``: a `DecisionTransformer` with a Gaussian head ``(mean, std)``.

    ``std = exp(log_std_min + (log_std_max - log_std_min) * (tanh(h) + 1) / 2)`` with
    ``log_std_min = -5`` and ``log_std_max = 2``, so ``std`` lies in ``[exp(-5), exp(2)]``. Both
    heads (``action_layer_mean``, ``action_layer_logstd``) are orthogonal-initialised with zero
    bias. Typically followed by a ``TanhNormal`` `ProbabilisticActor`.

    Attributes:
      state_dim, action_dim, transformer_config, deterministic: as `DTActor`.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> model = OnlineDTActor(state_dim=4, action_dim=2, transformer_config={"n_embd": 16,
      ...                       "n_layer": 1, "n_head": 2, "n_inner": 32}, deterministic=True)
      >>> obs, act, rtg = jnp.ones((32, 10, 4)), jnp.ones((32, 10, 2)), jnp.ones((32, 10, 1))
      >>> mu, std = model.apply(model.init(jax.random.key(0), obs, act, rtg), obs, act, rtg)
      >>> mu.shape, std.shape
      ((32, 10, 2), (32, 10, 2))
    """

    log_std_min = -5.0
    log_std_max = 2.0

    @nn.compact
    def __call__(
        self,
        observation: ArrayLike,
        action: ArrayLike,
        return_to_go: ArrayLike,
        *,
        deterministic: bool | None = None,
    ) -> tuple[jax.Array, jax.Array]:
        """Returns ``(mean, std)``, each ``[*B, T, action_dim]``."""
        hidden = self._hidden(observation, action, return_to_go, deterministic)
        mu = _head(self.action_dim, "action_layer_mean")(hidden)
        log_std = jnp.tanh(_head(self.action_dim, "action_layer_logstd")(hidden))
        log_std = self.log_std_min + 0.5 * (self.log_std_max - self.log_std_min) * (log_std + 1.0)
        return mu, jnp.exp(log_std)
