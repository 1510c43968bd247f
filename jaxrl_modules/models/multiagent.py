"""TorchRL's multi-agent networks: one network per agent, or one shared by all, as flax.linen modules.

Where the parameters live is visible in the variables, not hidden behind a repr (TorchRL #2904,
where a network without parameter sharing prints as a single MLP):

* ``share_params=False``: ``params["agent_networks"]`` holds one network per agent, each leaf
  stacked on a **leading axis of size n_agents** (a kernel ``[n_agents, in, out]``). Each agent
  gets its own initialisation and its own dropout mask (``nn.vmap`` with split ``"params"`` and
  ``"dropout"`` streams), and the forward pass is one vmapped call over the agent axis.
* ``share_params=True``: ``params["shared_network"]`` holds one network, with no agent axis
  (a kernel ``[in, out]``), applied to every agent.

``centralized=True`` feeds every agent the inputs of all agents (flattened over the agent axis);
with shared parameters all agents then get the same output, expanded over the agent axis.
"""

from __future__ import annotations

import dataclasses
import textwrap
from collections.abc import Mapping, Sequence
from numbers import Integral
from typing import Any, ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxrl_modules.models._checks import check_int, checked_build
from jaxrl_modules.models.activations import LayerSpec
from jaxrl_modules.models.convnet import ConvNet
from jaxrl_modules.models.layers import Linear, SquashDims
from jaxrl_modules.models.mlp import MLP, KwargsSpec

__all__ = ["MultiAgentNetBase", "MultiAgentMLP", "MultiAgentConvNet"]

# Collections that are per agent when parameters are not shared (BatchNorm statistics, held noise).
_STACKED_COLLECTIONS = ("params", "batch_stats", "noise")
_RANDOMNESS = ("different", "same")


def _net_fields(net: nn.Module) -> dict[str, Any]:
    return {f.name: getattr(net, f.name) for f in dataclasses.fields(net) if f.name not in ("parent", "name")}


class MultiAgentNetBase(nn.Module):
    """Base of the multi-agent networks: ``n_agents`` copies of one network, or one shared copy.

    A subclass declares the dataclass fields ``n_agents``, ``centralized``, ``share_params``
    (``centralised`` as an alias, ``vmap_randomness``, ``deterministic`` optional), sets
    ``agent_dim`` (the agent axis of the input, a field or a class constant), and implements
    ``_build_single_net(deterministic=...)``, returning one agent's unbound network (built with
    ``parent=None``), and ``_pre_forward_check(inputs)``, validating the input and, when
    centralised, folding the agent axis into the features. (TorchRL passes these through
    ``super().__init__``; flax modules are dataclasses, so the fields are declared instead, which also
    keeps each subclass's positional arguments in TorchRL's order.)

    Forward, as TorchRL's: several inputs are concatenated along the last axis; the agent axis is
    ``agent_dim`` counted on that input; without sharing, the per-agent networks are vmapped over
    their stacked parameters and over the agent axis of the input (not mapped when centralised),
    and the outputs are stacked at the same position; with sharing, the single network runs on the
    whole input (centralised: its output is expanded over a new agent axis). An output without
    ``n_agents`` entries on the agent axis is a ValueError.

    Parameters: ``params["agent_networks"]`` with a leading axis of size ``n_agents`` on every
    leaf (``share_params=False``), or ``params["shared_network"]`` without an agent axis
    (``share_params=True``); ``repr`` says which.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules.models import MLP
      >>> class MultiAgentLinear(MultiAgentNetBase):
      ...     n_agents: int
      ...     centralized: bool | None = None
      ...     share_params: bool | None = None
      ...     agent_dim: int = -2
      ...     def _build_single_net(self, *, deterministic):
      ...         return MLP(out_features=2, parent=None)
      ...     def _pre_forward_check(self, inputs):
      ...         return inputs.reshape(*inputs.shape[:-2], -1) if self.centralized else inputs
      >>> net = MultiAgentLinear(n_agents=3, centralized=False, share_params=False)
      >>> x = jnp.ones((5, 3, 4))
      >>> variables = net.init(jax.random.key(0), x)
      >>> variables["params"]["agent_networks"]["linear_0"]["kernel"].shape  # [n_agents, in, out]
      (3, 4, 2)
      >>> net.apply(variables, x).shape
      (5, 3, 2)
    """

    def __post_init__(self) -> None:
        name = type(self).__name__
        alias = getattr(self, "centralised", None)
        if alias is not None:
            if self.centralized is not None and bool(self.centralized) != bool(alias):
                raise ValueError(f"{name}: centralized={self.centralized} and centralised={alias} disagree.")
            object.__setattr__(self, "centralized", alias)
        for arg in ("centralized", "share_params", "agent_dim"):
            if getattr(self, arg, None) is None:
                raise TypeError(f"{name}: the {arg} argument must be passed.")
        n_agents = getattr(self, "n_agents", None)
        if not isinstance(n_agents, Integral) or isinstance(n_agents, bool) or n_agents < 1:
            raise ValueError(f"{name}: n_agents must be a positive integer, got {n_agents!r}.")
        randomness = getattr(self, "vmap_randomness", "different")
        if randomness not in _RANDOMNESS:
            raise ValueError(f"{name}: vmap_randomness must be one of {_RANDOMNESS}, got {randomness!r}.")
        # One agent's network, built once unbound: bad sizes raise now, naming this class.
        checked_build(name, "(per-agent network)", lambda: self._build_single_net(deterministic=True))
        super().__post_init__()

    def _build_single_net(self, *, deterministic: bool) -> nn.Module:
        raise NotImplementedError(f"{type(self).__name__} must implement _build_single_net(deterministic=...).")

    def _pre_forward_check(self, inputs: jax.Array) -> jax.Array:
        raise NotImplementedError(f"{type(self).__name__} must implement _pre_forward_check(inputs).")

    def _param_layout(self) -> str:
        if self.share_params:
            return "one network shared by all agents: params['shared_network'], no agent axis"
        return (
            f"one network per agent: params['agent_networks'], every leaf stacked on a leading "
            f"axis of size n_agents={self.n_agents}"
        )

    def __repr__(self) -> str:
        try:
            single = repr(self._build_single_net(deterministic=bool(getattr(self, "deterministic", False))))
        except Exception as err:  # a repr must not fail on a half-configured subclass
            single = f"<cannot build the single network: {err}>"
        lines = [
            textwrap.indent(single, 4 * " ") + ",",
            f"    n_agents={self.n_agents},",
            f"    share_params={self.share_params},",
            f"    centralized={self.centralized},",
            f"    agent_dim={self.agent_dim},",
            f"    parameters={self._param_layout()!r})",
        ]
        return f"{type(self).__name__}(\n" + "\n".join(lines)

    @nn.compact
    def __call__(self, *inputs: ArrayLike, deterministic: bool | None = None) -> jax.Array:
        """Applies the per-agent networks.

        Args:
          *inputs: one or more arrays with the agent axis at ``agent_dim``, concatenated along the
            last axis.
          deterministic: evaluation mode (no dropout, BatchNorm running statistics); overrides the
            ``deterministic`` attribute for this call.

        Returns:
          The outputs, with the agent axis at the same (non-negative) position as in the input.
        """
        name = type(self).__name__
        if not inputs:
            raise ValueError(f"{name} needs at least one input array.")
        xs = [jnp.asarray(x) for x in inputs]
        x = xs[0] if len(xs) == 1 else jnp.concatenate(xs, axis=-1)
        agent_dim = self.agent_dim + x.ndim if self.agent_dim < 0 else self.agent_dim
        if not 0 <= agent_dim < x.ndim:
            raise ValueError(f"{name} expects inputs with an agent axis at dim {self.agent_dim}, got shape {x.shape}.")
        x = self._pre_forward_check(x)
        det = bool(getattr(self, "deterministic", False)) if deterministic is None else deterministic
        single = self._build_single_net(deterministic=det)
        if self.share_params:
            out = type(single)(**_net_fields(single), name="shared_network")(x)
            if self.centralized:  # every agent sees the same input: the same output for all
                out = jnp.expand_dims(out, agent_dim)
                shape = list(out.shape)
                shape[agent_dim] = self.n_agents
                out = jnp.broadcast_to(out, shape)
        else:
            stacked = nn.vmap(
                type(single),
                variable_axes=dict.fromkeys(_STACKED_COLLECTIONS, 0),
                split_rngs={
                    "params": True,
                    "noise": True,
                    "dropout": getattr(self, "vmap_randomness", "different") == "different",
                },
                in_axes=None if self.centralized else agent_dim,
                out_axes=agent_dim,
                axis_size=self.n_agents,
            )
            out = stacked(**_net_fields(single), name="agent_networks")(x)
        if out.ndim <= agent_dim or out.shape[agent_dim] != self.n_agents:
            raise ValueError(
                f"{name} expected an output with shape[{agent_dim}] = n_agents = {self.n_agents}, got "
                f"shape {out.shape}."
            )
        return out


class MultiAgentMLP(MultiAgentNetBase):
    """TorchRL's multi-agent MLP: ``[*B, n_agents, n_agent_inputs] -> [*B, n_agents, n_agent_outputs]``.

    Each agent's network is ``MLP(in_features=n_agent_inputs (times n_agents if centralized),
    out_features=n_agent_outputs, depth, num_cells, activation_class, ...)``. The defaults are
    TorchRL's actual ones, ``depth=None, num_cells=None``: **a single Linear layer per agent**
    (TorchRL's docstring advertises depth 3 and 32 cells, but forwards None to MLP). The four modes:

    ==============  ============  =====================================================
    centralized     share_params
    ==============  ============  =====================================================
    False           True          homogeneous decentralised policy (one net, own obs)
    True            True          centralised shared critic (same output for all agents)
    False           False         heterogeneous agents (own net, own obs)
    True            False         each agent has its own net on the joint observation
    ==============  ============  =====================================================

    Attributes:
      n_agent_inputs: per-agent input size (None: inferred); checked when given.
      n_agent_outputs: per-agent output size.
      n_agents: number of agents (the size of the input's axis -2).
      centralized: every agent sees all agents' inputs (required; alias ``centralised``).
      share_params: one network for all agents (required).
      depth, num_cells, activation_class: as `MLP`; activation ``"Tanh"`` as TorchRL.
      use_td_params: TorchRL's choice of parameter container; parameters here are always a stacked
        pytree, so both values give the same network.
      activation_kwargs, norm_class, norm_kwargs, dropout, bias_last_layer, single_bias_last_layer,
        layer_class, layer_kwargs, activate_last_layer: TorchRL's ``**kwargs`` for `MLP`.
      vmap_randomness: ``"different"`` (each agent its own dropout mask) or ``"same"``.
      centralised: alias of ``centralized``.
      deterministic: evaluation mode (no dropout); a call argument overrides it.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> obs = jnp.ones((32, 4, 6))  # [batch, n_agents, n_agent_inputs]
      >>> policy = MultiAgentMLP(6, 2, 4, centralized=False, share_params=False, depth=2, num_cells=16)
      >>> variables = policy.init(jax.random.key(0), obs)
      >>> jax.tree_util.tree_map(jnp.shape, variables["params"]["agent_networks"]["linear_0"])
      {'bias': (4, 16), 'kernel': (4, 6, 16)}
      >>> policy.apply(variables, obs).shape
      (32, 4, 2)
      >>> critic = MultiAgentMLP(6, 1, 4, centralised=True, share_params=True)  # one Linear
      >>> v = critic.init(jax.random.key(0), obs)
      >>> jax.tree_util.tree_map(jnp.shape, v["params"])
      {'shared_network': {'linear_0': {'bias': (1,), 'kernel': (24, 1)}}}
      >>> values = critic.apply(v, obs)
      >>> values.shape, bool((values == values[:, :1]).all())  # the same value for every agent
      ((32, 4, 1), True)
    """

    n_agent_inputs: int | None
    n_agent_outputs: int
    n_agents: int
    centralized: bool | None = None
    share_params: bool | None = None
    depth: int | None = None
    num_cells: int | Sequence[int] | None = None
    activation_class: LayerSpec = "Tanh"
    use_td_params: bool = True
    activation_kwargs: KwargsSpec = None
    norm_class: LayerSpec | None = None
    norm_kwargs: KwargsSpec = None
    dropout: float | None = None
    bias_last_layer: bool = True
    single_bias_last_layer: bool = False
    layer_class: Any = Linear
    layer_kwargs: KwargsSpec = None
    activate_last_layer: bool = False
    vmap_randomness: str = "different"
    centralised: bool | None = None
    deterministic: bool = False

    agent_dim: ClassVar[int] = -2

    def __post_init__(self) -> None:
        check_int("MultiAgentMLP", "n_agent_inputs", self.n_agent_inputs, optional=True)
        check_int("MultiAgentMLP", "n_agent_outputs", self.n_agent_outputs)
        super().__post_init__()

    def _build_single_net(self, *, deterministic: bool) -> nn.Module:
        n_in = self.n_agent_inputs
        if self.centralized and n_in is not None:
            n_in = n_in * self.n_agents
        return MLP(
            in_features=n_in,
            out_features=self.n_agent_outputs,
            depth=self.depth,
            num_cells=self.num_cells,
            activation_class=self.activation_class,
            activation_kwargs=self.activation_kwargs,
            norm_class=self.norm_class,
            norm_kwargs=self.norm_kwargs,
            dropout=self.dropout,
            bias_last_layer=self.bias_last_layer,
            single_bias_last_layer=self.single_bias_last_layer,
            layer_class=self.layer_class,
            layer_kwargs=self.layer_kwargs,
            activate_last_layer=self.activate_last_layer,
            deterministic=deterministic,
            parent=None,
        )

    def _pre_forward_check(self, inputs: jax.Array) -> jax.Array:
        if inputs.shape[-2] != self.n_agents:
            raise ValueError(
                f"MultiAgentMLP(n_agents={self.n_agents}) expected inputs [*B, n_agents={self.n_agents}, "
                f"n_agent_inputs], but the agent axis (dim -2) has size {inputs.shape[-2]} in shape {inputs.shape}."
            )
        if self.n_agent_inputs is not None and inputs.shape[-1] != self.n_agent_inputs:
            raise ValueError(
                f"MultiAgentMLP expected inputs [*B, {self.n_agents}, n_agent_inputs={self.n_agent_inputs}], "
                f"got shape {inputs.shape}."
            )
        if self.centralized:
            inputs = inputs.reshape((*inputs.shape[:-2], -1))
        return inputs


class MultiAgentConvNet(MultiAgentNetBase):
    """TorchRL's multi-agent ConvNet: ``[*B, n_agents, H, W, C] -> [*B, n_agents, features]``.

    Each agent's network is ``ConvNet(in_features (times n_agents if centralized), num_cells
    (None: [32, 32, 32]), kernel_sizes=5, strides=2, paddings=0, ELU, SquashDims)``. Centralised,
    the agents are folded into the channels (agent-major, as TorchRL's ``flatten(-4, -3)``).
    Layout as `ConvNet`: ``data_format="NHWC"`` takes ``[*B, n_agents, H, W, C]``, ``"NCHW"``
    takes TorchRL's ``[*B, n_agents, C, H, W]``; the agent axis is dim -4 either way.

    Attributes:
      n_agents: number of agents.
      centralized: every agent sees all agents' images (required; alias ``centralised``).
      share_params: one network for all agents (required).
      in_features: per-agent input channels (None: inferred); checked when given.
      num_cells, kernel_sizes, strides, paddings, activation_class: as `ConvNet`, with TorchRL's
        multi-agent defaults (kernel 5, stride 2, padding 0, ELU).
      use_td_params: TorchRL's choice of parameter container; no effect on the network here.
      depth, activation_kwargs, norm_class, norm_kwargs, bias_last_layer, aggregator_class,
        aggregator_kwargs, squeeze_output: TorchRL's ``**kwargs`` for `ConvNet`.
      data_format: ``"NHWC"`` (default) or ``"NCHW"`` (TorchRL's).
      vmap_randomness: ``"different"`` or ``"same"`` randomness across agents.
      centralised: alias of ``centralized``.
      deterministic: evaluation mode (BatchNorm running statistics); a call argument overrides it.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> images = jnp.ones((8, 3, 16, 16, 2))  # [batch, n_agents, H, W, C]
      >>> net = MultiAgentConvNet(3, centralized=False, share_params=False, num_cells=[8, 8], kernel_sizes=3)
      >>> variables = net.init(jax.random.key(0), images)
      >>> variables["params"]["agent_networks"]["conv_0"]["kernel"].shape  # [n_agents, kh, kw, in, out]
      (3, 3, 3, 2, 8)
      >>> net.apply(variables, images).shape  # 8 channels * 3 * 3
      (8, 3, 72)
    """

    n_agents: int
    centralized: bool | None = None
    share_params: bool | None = None
    in_features: int | None = None
    num_cells: int | Sequence[int] | None = None
    kernel_sizes: Any = 5
    strides: Any = 2
    paddings: Any = 0
    activation_class: LayerSpec = "ELU"
    use_td_params: bool = True
    depth: int | None = None
    activation_kwargs: KwargsSpec = None
    norm_class: LayerSpec | None = None
    norm_kwargs: KwargsSpec = None
    bias_last_layer: bool = True
    aggregator_class: LayerSpec | None = SquashDims
    aggregator_kwargs: Mapping[str, Any] | None = None
    squeeze_output: bool = False
    data_format: str = "NHWC"
    vmap_randomness: str = "different"
    centralised: bool | None = None
    deterministic: bool = False

    agent_dim: ClassVar[int] = -4

    def __post_init__(self) -> None:
        check_int("MultiAgentConvNet", "in_features", self.in_features, optional=True)
        super().__post_init__()

    def _build_single_net(self, *, deterministic: bool) -> nn.Module:
        in_features = self.in_features
        if self.centralized and in_features is not None:
            in_features = in_features * self.n_agents
        return ConvNet(
            in_features=in_features,
            depth=self.depth,
            num_cells=self.num_cells,
            kernel_sizes=self.kernel_sizes,
            strides=self.strides,
            paddings=self.paddings,
            activation_class=self.activation_class,
            activation_kwargs=self.activation_kwargs,
            norm_class=self.norm_class,
            norm_kwargs=self.norm_kwargs,
            bias_last_layer=self.bias_last_layer,
            aggregator_class=self.aggregator_class,
            aggregator_kwargs=self.aggregator_kwargs,
            squeeze_output=self.squeeze_output,
            data_format=self.data_format,
            deterministic=deterministic,
            parent=None,
        )

    def _pre_forward_check(self, inputs: jax.Array) -> jax.Array:
        layout = "[*B, n_agents, H, W, C]" if self.data_format == "NHWC" else "[*B, n_agents, C, H, W]"
        if inputs.ndim < 4:
            raise ValueError(f"MultiAgentConvNet expects {self.data_format} inputs {layout}, got shape {inputs.shape}.")
        if inputs.shape[-4] != self.n_agents:
            raise ValueError(
                f"MultiAgentConvNet(n_agents={self.n_agents}) expected inputs {layout}, but the agent axis "
                f"(dim -4) has size {inputs.shape[-4]} in shape {inputs.shape}."
            )
        if self.centralized:
            if self.data_format == "NHWC":  # agent-major channels, as TorchRL's flatten(-4, -3) in NCHW
                inputs = jnp.moveaxis(inputs, -4, -2)
                inputs = inputs.reshape((*inputs.shape[:-2], -1))
            else:
                inputs = inputs.reshape((*inputs.shape[:-4], -1, *inputs.shape[-2:]))
        return inputs
