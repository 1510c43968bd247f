"""TorchRL's multi-agent value mixers: VDN (a sum) and QMIX (a monotonic state-conditioned mix).

A mixer turns each agent's value of its chosen action, ``[*B, n_agents, 1]``, into one global
value ``[*B, 1]`` (the target of TorchRL's ``QMixerLoss``). Typical keys, as TorchRL's examples:
``in_keys=[("agents", "chosen_action_value"), "state"]``, ``out_keys=["chosen_action_value"]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxrl_modules.models._checks import check_int, check_sizes
from jaxrl_modules.models.layers import Linear

__all__ = ["Mixer", "VDNMixer", "QMixer"]


class Mixer(nn.Module):
    """Base of the mixers: validates shapes, calls ``mix``, validates the output.

    A subclass declares ``n_agents``, ``needs_state`` and ``state_shape`` (fields or class
    constants; TorchRL passes them to ``super().__init__``) and implements
    ``mix(chosen_action_value, state) -> [*B, 1]``.

    Call: ``mixer(chosen_action_value)`` or ``mixer(chosen_action_value, state)`` with
    ``chosen_action_value [*B, n_agents, 1]`` and ``state [*B, *state_shape]`` when the mixer needs
    it. Wrong shapes, a missing or an extra state, or a mixed value of the wrong shape raise a
    ValueError naming the mixer.

    Examples:
      >>> import jax.numpy as jnp
      >>> class MaxMixer(Mixer):  # parameter-free: callable without init/apply
      ...     n_agents: int
      ...     needs_state: ClassVar[bool] = False
      ...     state_shape: ClassVar[tuple] = ()
      ...     def mix(self, chosen_action_value, state):
      ...         return chosen_action_value.max(axis=-2)
      >>> MaxMixer(n_agents=3)(jnp.arange(6.0).reshape(2, 3, 1))
      Array([[2.],
             [5.]], dtype=float32)
    """

    def __post_init__(self) -> None:
        check_int(type(self).__name__, "n_agents", getattr(self, "n_agents", None))
        super().__post_init__()

    def __call__(self, *inputs: ArrayLike) -> jax.Array:
        """Mixes ``chosen_action_value [*B, n_agents, 1]`` (and ``state [*B, *state_shape]``)
        into ``[*B, 1]``."""
        name = type(self).__name__
        if not self.needs_state:
            if len(inputs) != 1:
                raise ValueError(f"{name} takes one input, chosen_action_value; got {len(inputs)} inputs.")
            chosen_action_value, state = jnp.asarray(inputs[0]), None
        else:
            if len(inputs) != 2:
                raise ValueError(f"{name} takes two inputs, chosen_action_value and state; got {len(inputs)}.")
            chosen_action_value, state = (jnp.asarray(x) for x in inputs)
            shape = tuple(self.state_shape)
            if state.ndim < len(shape) or state.shape[state.ndim - len(shape) :] != shape:
                raise ValueError(
                    f"{name} expected a state ending with state_shape={shape}, got state shape {state.shape}."
                )
        if chosen_action_value.shape[-2:] != (self.n_agents, 1):
            raise ValueError(
                f"{name} expected chosen_action_value [*B, n_agents={self.n_agents}, 1], got shape "
                f"{chosen_action_value.shape}."
            )
        batch = chosen_action_value.shape[:-2]
        state_batch = None if state is None else state.shape[: state.ndim - len(tuple(self.state_shape))]
        if state_batch is not None and state_batch != batch:
            raise ValueError(
                f"{name}: the batch dims of state {state.shape} and of chosen_action_value "
                f"{chosen_action_value.shape} differ ({state_batch} vs {batch})."
            )
        output = self.mix(chosen_action_value, state)
        if output.shape != (*batch, 1):
            raise ValueError(f"{name}.mix returned shape {output.shape}, expected {(*batch, 1)}.")
        return output

    def mix(self, chosen_action_value: jax.Array, state: jax.Array | None) -> jax.Array:
        """Mixes ``[*B, n_agents, 1]`` values (and the state) into ``[*B, 1]``."""
        raise NotImplementedError(f"{type(self).__name__} must implement mix(chosen_action_value, state).")


class VDNMixer(Mixer):
    """Value-Decomposition Networks (Sunehag et al., 2017): ``Q_tot = sum_i Q_i``.

    Parameter-free: call it directly, without ``init``/``apply``.

    Attributes:
      n_agents: number of agents, positive.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jaxrl_modules.data.tensordict import TensorDict
      >>> from jaxrl_modules.tensordict_module.module import TensorDictModule
      >>> vdn = VDNMixer(n_agents=4)
      >>> vdn(jnp.ones((32, 4, 1))).shape
      (32, 1)
      >>> mixer = TensorDictModule(vdn, in_keys=[("agents", "chosen_action_value")],
      ...                          out_keys=["chosen_action_value"])
      >>> td = TensorDict({"agents": TensorDict({"chosen_action_value": jnp.ones((32, 4, 1))}, [32, 4])}, [32])
      >>> mixer(td)["chosen_action_value"][0]
      Array([4.], dtype=float32)
    """

    n_agents: int
    needs_state: ClassVar[bool] = False
    state_shape: ClassVar[tuple[int, ...]] = ()

    def mix(self, chosen_action_value: jax.Array, state: jax.Array | None) -> jax.Array:
        return jnp.sum(chosen_action_value, axis=-2)


class QMixer(Mixer):
    """QMIX (Rashid et al., 2018): a monotonic mix whose weights come from hypernetworks of the state.

    With ``s`` the flattened state (``state_dim = prod(state_shape)``), ``E = mixing_embed_dim``:
    ``W1 = |hyper_w_1(s)|`` ``[n_agents, E]``, ``b1 = hyper_b_1(s)`` ``[E]``,
    ``hidden = ELU(q @ W1 + b1)``, ``W_final = |hyper_w_final(s)|`` ``[E, 1]``,
    ``V(s) = Linear(E) -> ReLU -> Linear(1)``, and ``Q_tot = hidden @ W_final + V(s)``. The absolute
    values make ``Q_tot`` non-decreasing in every agent's value. All layers are `Linear` with
    PyTorch's initialisation; parameters ``hyper_w_1``, ``hyper_w_final``, ``hyper_b_1``, ``V``.

    Attributes:
      state_shape: shape of the global state, without batch dims (an int for a flat state);
        positive sizes.
      mixing_embed_dim: the mixing embedding size ``E``, positive.
      n_agents: number of agents, positive.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> qmix = QMixer(state_shape=(8, 8, 3), mixing_embed_dim=32, n_agents=4)
      >>> q, state = jnp.zeros((32, 4, 1)), jnp.zeros((32, 8, 8, 3))
      >>> variables = qmix.init(jax.random.key(0), q, state)
      >>> variables["params"]["hyper_w_1"]["kernel"].shape  # [state_dim, E * n_agents]
      (192, 128)
      >>> qmix.apply(variables, q, state).shape
      (32, 1)
    """

    state_shape: int | Sequence[int]
    mixing_embed_dim: int
    n_agents: int
    needs_state: ClassVar[bool] = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "state_shape", check_sizes("QMixer", "state_shape", self.state_shape))
        check_int("QMixer", "mixing_embed_dim", self.mixing_embed_dim)
        super().__post_init__()

    def setup(self) -> None:
        embed = self.mixing_embed_dim
        self.hyper_w_1 = Linear(embed * self.n_agents)
        self.hyper_w_final = Linear(embed)
        self.hyper_b_1 = Linear(embed)
        self.V = nn.Sequential([Linear(embed), jax.nn.relu, Linear(1)])

    def mix(self, chosen_action_value: jax.Array, state: jax.Array | None) -> jax.Array:
        batch = chosen_action_value.shape[:-2]
        embed, n = self.mixing_embed_dim, self.n_agents
        state = state.reshape(-1, math.prod(self.state_shape))
        q = chosen_action_value.reshape(-1, 1, n)
        # TorchRL's order of the hypernetworks (w1, w_final, b1, V) is kept for readability only:
        # weight import matches them by name.
        w1 = jnp.abs(self.hyper_w_1(state)).reshape(-1, n, embed)
        w_final = jnp.abs(self.hyper_w_final(state)).reshape(-1, embed, 1)
        b1 = self.hyper_b_1(state).reshape(-1, 1, embed)
        v = self.V(state).reshape(-1, 1, 1)
        hidden = jax.nn.elu(jnp.matmul(q, w1) + b1)
        y = jnp.matmul(hidden, w_final) + v
        return y.reshape((*batch, 1))
