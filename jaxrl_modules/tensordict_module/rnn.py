"""LSTMModule and GRUModule: recurrent layers reading and writing their state in the TensorDict.

TorchRL's key conventions: an LSTMModule reads ``[value, "recurrent_state_h",
"recurrent_state_c", "is_init"]`` and writes ``[out, ("next", "recurrent_state_h"), ("next",
"recurrent_state_c")]`` (a GRUModule: ``"recurrent_state"``); a hidden state is stored per step
as ``(*batch, num_layers, H)``. Two modes, chosen explicitly (no global context): the field
``default_recurrent_mode`` or the static call keyword ``recurrent_mode=``.

* Sequential (``recurrent_mode=False``, for rollouts): the TensorDict is one step ``[*B]``; the
  stored state is zeroed where ``is_init`` is True (a new episode), missing state is zeros.
* Recurrent (``recurrent_mode=True``, for training on slices): the TensorDict is ``[*B, T]``, time
  the last batch dim, with at least one batch dim before it (``batch_size`` of ndim >= 2; the value
  is ``[*B, T, features]``). A 1-d TensorDict is refused with a ValueError, since ``[B]``
  environments at one step and one sequence ``[T]`` look alike (TorchRL reads it as one sequence):
  write one sequence as ``td.reshape(1, T)``. The array call form reads the value's leading dims as
  ``[*B, T]`` the same way. One ``lax.scan`` over T starts from the stored state at ``t = 0`` and restarts from zeros
  at every ``is_init`` (the first step included), so it gives exactly what stepping one step at a
  time in sequential mode gives on the same data, whatever the resets and wherever the slice
  starts in its episode. The ``("next", ...)`` outputs hold the true state after every step
  (TorchRL writes zeros except at each segment's last step).

Both modes are one code path: sequential mode is the scan with ``T = 1``.
"""

from __future__ import annotations

import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxrl_modules.data.specs import Composite, Unbounded
from jaxrl_modules.data.tensordict import TensorDict, unravel_key
from jaxrl_modules.exploration_type import ExplorationType, resolve_exploration_type
from jaxrl_modules.models.recurrent import GRU, LSTM
from jaxrl_modules.tensordict_module.base import Keys, TensorDictModuleBase

__all__ = ["LSTMModule", "GRUModule", "set_recurrent_mode", "recurrent_mode"]

_PRECISION = {
    "auto": None,
    "fast": jax.lax.Precision.DEFAULT,
    "tf32": jax.lax.Precision.DEFAULT,
    "tf32x3": jax.lax.Precision.HIGH,
    "high-prec": jax.lax.Precision.HIGHEST,
    "ieee": jax.lax.Precision.HIGHEST,
}
_BACKENDS = ("auto", "pad", "scan", "triton")
_NO_CONTEXT = (
    "jaxrl_modules passes the recurrent mode explicitly, so that a jitted function can never reuse a "
    "trace made in the other mode: call module.apply(variables, td, recurrent_mode=True), or build the "
    "module with default_recurrent_mode=True (module.clone(default_recurrent_mode=True) keeps the "
    "same parameters)."
)


def set_recurrent_mode(mode: Any = True) -> None:
    """TorchRL's global recurrent-mode context: not available here; raises with what to do instead.

    Examples:
      >>> set_recurrent_mode(True)
      Traceback (most recent call last):
      ...
      RuntimeError: set_recurrent_mode is not supported: jaxrl_modules passes the recurrent mode explicitly, ...
    """
    raise RuntimeError(f"set_recurrent_mode is not supported: {_NO_CONTEXT}")


def recurrent_mode() -> None:
    """TorchRL's getter of the global recurrent mode: not available here (see `set_recurrent_mode`)."""
    raise RuntimeError(f"recurrent_mode() is not supported: {_NO_CONTEXT}")


def _check_time_dim(name: str, key: Any, shape: tuple[int, ...], batch: tuple[int, ...]) -> None:
    """Recurrent mode reads time as the last batch dim of a ``[*B, T]`` TensorDict (TorchRL's
    axis). A 1-d batch is refused: ``[B]`` environments at one step and one sequence of ``T``
    steps look the same, and reading the first as the second runs the environments as one episode."""
    if len(batch) < 2:
        raise ValueError(
            f"{name} in recurrent mode needs a time dim: the TensorDict must have batch_size [*B, T] with "
            f"time T the last batch dim and at least one batch dim B before it; got batch_size {list(batch)} "
            f"(in_key {key!r} has shape {shape}). A 1-d batch is ambiguous (B environments at one step, or "
            "one sequence of T steps): for one step of B environments use recurrent_mode=False; for one "
            "sequence of T steps add a batch dim of 1, e.g. td.reshape(1, T) (arrays: [1, T, features])."
        )
    if shape[:-1] != batch:
        raise ValueError(
            f"{name} in recurrent mode: in_key {key!r} must have shape [*B, T, features] = "
            f"[{', '.join(map(str, batch))}, features] (the TensorDict's batch_size {list(batch)} then one "
            f"feature dim), got {shape}; time is the last batch dim, so extra leading dims must be part of "
            "the batch_size."
        )


class _RecurrentModule(TensorDictModuleBase):
    """Key handling, modes, shape checks and the primer shared by LSTMModule and GRUModule."""

    _state_names = ()
    _net_field = ""
    _net_cls = LSTM

    def _normalize(self) -> None:
        name, n = type(self).__name__, 1 + len(self._state_names)
        net = getattr(self, self._net_field)
        if net is not None:
            if not isinstance(net, self._net_cls):
                raise TypeError(
                    f"{name}: {self._net_field}= must be a jaxrl_modules {self._net_cls.__name__}, got {net!r}."
                )
            if not net.batch_first:
                raise ValueError(f"{name}: the input {self._net_field} must have batch_first=True.")
            if self.input_size is not None or self.hidden_size is not None:
                raise ValueError(
                    f"{name}: an {self._net_cls.__name__} instance cannot be passed along with input_size/hidden_size."
                )
        else:
            if not self.batch_first:
                raise ValueError(f"{name}: batch_first must be True (time is the last batch dim of the TensorDict).")
            if not self.hidden_size:
                raise ValueError(f"{name}: hidden_size must be passed.")
            self._make_net(parent=None)  # validates num_layers, dropout, bidirectional, proj_size now
        if self.recurrent_backend not in _BACKENDS:
            raise ValueError(f"{name}: recurrent_backend must be one of {_BACKENDS}, got {self.recurrent_backend!r}.")
        if self.recurrent_recompute not in ("none", "full"):
            raise ValueError(f"{name}: recurrent_recompute must be 'none' or 'full', got {self.recurrent_recompute!r}.")
        if self.recurrent_matmul_precision not in _PRECISION:
            raise ValueError(
                f"{name}: recurrent_matmul_precision must be one of {sorted(_PRECISION)}, "
                f"got {self.recurrent_matmul_precision!r}."
            )
        if (self.in_key is None) == (self.in_keys is None):
            raise ValueError(
                f"{name}: pass exactly one of in_key and in_keys, got in_key={self.in_key!r}, in_keys={self.in_keys!r}."
            )
        if (self.out_key is None) == (self.out_keys is None):
            raise ValueError(
                f"{name}: pass exactly one of out_key and out_keys, "
                f"got out_key={self.out_key!r}, out_keys={self.out_keys!r}."
            )
        in_keys = Keys([self.in_key, *self._state_names]) if self.in_key is not None else Keys(self.in_keys, "in_keys")
        out_keys = (
            Keys([self.out_key, *(("next", s) for s in self._state_names)])
            if self.out_key is not None
            else Keys(self.out_keys, "out_keys")
        )
        if not (len(in_keys) == n or (len(in_keys) == n + 1 and in_keys[-1] == "is_init")):
            raise ValueError(
                f"{name} expects {n} in_keys (a value and {n - 1} hidden state(s)), optionally followed by "
                f"'is_init'; got {list(in_keys)}."
            )
        if len(out_keys) != n:
            raise ValueError(
                f"{name} expects {n} out_keys (a value and {n - 1} hidden state(s)); got {list(out_keys)}."
            )
        if "is_init" not in in_keys:
            in_keys = Keys([*in_keys, "is_init"])
        for field, value in (("in_keys", in_keys), ("out_keys", out_keys), ("in_key", None), ("out_key", None)):
            object.__setattr__(self, field, value)

    def _make_net(self, **where: Any) -> nn.Module:
        """The net from the size fields; ``parent=None`` for a throwaway (validation) instance."""
        kwargs = dict(
            input_size=self.input_size,
            hidden_size=self.hidden_size,
            num_layers=self.num_layers,
            bias=self.bias,
            batch_first=True,
            dropout=float(self.dropout),
            bidirectional=self.bidirectional,
            dtype=self.recurrent_compute_dtype,
            precision=_PRECISION[self.recurrent_matmul_precision],
            remat=self.recurrent_recompute == "full",
            **where,
        )
        if self._net_cls is LSTM:
            kwargs["proj_size"] = self.proj_size
        return self._net_cls(**kwargs)

    @property
    def recurrent_mode(self) -> bool:
        """The default mode, ``bool(default_recurrent_mode)``; a call's ``recurrent_mode=`` overrides it."""
        return bool(self.default_recurrent_mode)

    def _sizes(self) -> tuple[int, int]:
        net = getattr(self, self._net_field)
        return (net.num_layers, net.hidden_size) if net is not None else (self.num_layers, self.hidden_size)

    def make_tensordict_primer(self) -> Composite:
        """The specs of the hidden-state entries, for an environment to carry and reset them.

        TorchRL returns a ``TensorDictPrimer`` transform; here it is the `Composite` of
        ``Unbounded((num_layers, H))`` specs at the in hidden keys. ``primer.zero(batch_shape)``
        is the initial hidden-state TensorDict of a batch (merge it into the reset TensorDict).
        Requires the out hidden keys to be ``("next", in_key)``, as TorchRL.

        Examples:
          >>> from jaxrl_modules.tensordict_module.rnn import LSTMModule
          >>> lstm = LSTMModule(input_size=3, hidden_size=8, num_layers=2, in_key="obs", out_key="emb")
          >>> primer = lstm.make_tensordict_primer()
          >>> primer.keys()
          ['recurrent_state_c', 'recurrent_state_h']
          >>> primer.zero((4,))["recurrent_state_h"].shape
          (4, 2, 8)
        """
        name = type(self).__name__
        layers, hidden = self._sizes()
        specs = {}
        for in_key, out_key in zip(self.in_keys[1 : 1 + len(self._state_names)], self.out_keys[1:]):
            if unravel_key(out_key) != ("next", *unravel_key(in_key)):
                raise RuntimeError(
                    f"{name}.make_tensordict_primer needs out_keys named after ('next', <in_key>); got "
                    f"in_keys={list(self.in_keys)} and out_keys={list(self.out_keys)}."
                )
            specs[in_key] = Unbounded(shape=(layers, hidden))
        return Composite(specs)

    def __call__(
        self,
        *args: Any,
        recurrent_mode: bool | None = None,
        deterministic: bool | None = None,
        exploration_type: ExplorationType | str | None = None,
        **kwargs: Any,
    ):
        """``module(td)`` -> TensorDict, or arrays in ``in_keys`` order -> the out values.

        Args:
          recurrent_mode: static; overrides ``default_recurrent_mode`` for this call.
          deterministic: overrides the ``deterministic`` field (no inter-layer dropout).
        """
        mode = self.recurrent_mode if recurrent_mode is None else bool(recurrent_mode)
        etype = resolve_exploration_type(exploration_type, None)
        if len(args) == 1 and not kwargs and isinstance(args[0], TensorDict):
            return self.forward(args[0], etype, recurrent_mode=mode, deterministic=deterministic)
        td = self._tensordict_from_arrays(args, kwargs)
        # Arrays carry no batch size: the value's leading dims are the batch, [*B, T] in recurrent mode.
        value = td.get(self.in_keys[0], None)
        batch = None if value is None else tuple(jnp.shape(value)[:-1])
        out = self.forward(td, etype, recurrent_mode=mode, deterministic=deterministic, batch_size=batch)
        return tuple(out.get(k) for k in self.out_keys)

    @nn.compact
    def forward(
        self,
        td: TensorDict,
        exploration_type: ExplorationType | None = None,
        *,
        recurrent_mode: bool | None = None,
        deterministic: bool | None = None,
        batch_size: tuple[int, ...] | None = None,
    ) -> TensorDict:
        """Runs the net; ``batch_size`` replaces ``td.batch_size`` (the array call form's value dims)."""
        name = type(self).__name__
        mode = self.recurrent_mode if recurrent_mode is None else recurrent_mode
        net = getattr(self, self._net_field)
        net = net if net is not None else self._make_net(name=self._net_field)
        layers, hidden = self._sizes()
        value = jnp.asarray(self._read(td, self.in_keys[0]))
        lead = value.shape[:-1]
        if mode:
            _check_time_dim(
                name, self.in_keys[0], value.shape, tuple(td.batch_size) if batch_size is None else batch_size
            )
        steps = lead[-1] if mode else 1
        n = math.prod(lead) // steps
        is_init_key, state_keys = self.in_keys[-1], self.in_keys[1:-1]
        states = [td.get(k) if k in td else None for k in state_keys]
        present = [s is not None for s in states]
        if any(present) and not all(present):
            raise KeyError(f"{name}: the TensorDict holds some hidden states but not all of {list(state_keys)}.")
        if is_init_key in td:
            flags = jnp.asarray(td.get(is_init_key), bool)
            if flags.shape == (*lead, 1):
                flags = flags[..., 0]
            if flags.shape != lead:
                raise ValueError(
                    f"{name}: in_key {is_init_key!r} must have shape {lead} or {(*lead, 1)} (the value's "
                    f"leading dims), got {flags.shape}."
                )
        elif mode:
            raise KeyError(
                f"{name} in recurrent mode needs {is_init_key!r} ([*B, T] booleans, True at each episode's "
                "first step) to restart the state between episodes packed along time; the TensorDict has "
                "none. The environment's reset writes it (TorchRL: the InitTracker transform); for a single "
                "episode from its first step, set it True at t = 0 only."
            )
        elif all(present):
            raise KeyError(
                f"{name}: the TensorDict carries hidden states {list(state_keys)} but no {is_init_key!r}, so "
                f"episode starts cannot be told apart; add a boolean {is_init_key!r} of shape {lead}."
            )
        else:
            flags = jnp.zeros(lead, bool)
        hx = None
        if all(present):
            want = (*lead, layers, hidden)
            hx = []
            for key, s in zip(state_keys, states):
                s = jnp.asarray(s)
                if s.shape != want:
                    raise ValueError(
                        f"{name}: hidden state {key!r} must have shape {want} ([*batch{', T' if mode else ''}, "
                        f"num_layers, hidden_size]), got {s.shape}."
                    )
                first = s.reshape(n, steps, layers, hidden)[:, 0]  # recurrent mode reads t = 0 only
                hx.append(jnp.swapaxes(first, 0, 1))  # PyTorch's [L, N, H]
            hx = tuple(hx) if len(hx) == 2 else hx[0]
        x = value.reshape(n, steps, value.shape[-1])
        deterministic = self.deterministic if deterministic is None else deterministic
        y, out_states = net(x, hx, is_init=flags.reshape(n, steps), deterministic=deterministic, all_states=True)
        out_states = out_states if isinstance(out_states, tuple) else (out_states,)
        td = self._write(td, self.out_keys[0], y.reshape(*lead, y.shape[-1]))
        for key, s in zip(self.out_keys[1:], out_states):
            td = self._write(td, key, s.reshape(*lead, layers, hidden))
        return td


class LSTMModule(_RecurrentModule):
    """An LSTM reading its state from the TensorDict and writing the next one: TorchRL's ``LSTMModule``.

    Args:
      input_size: input size (optional; checked when given).
      hidden_size: H (required unless ``lstm`` is given).
      num_layers, bias, dropout: as ``torch.nn.LSTM``; inter-layer dropout uses the ``"dropout"``
        stream unless ``deterministic``.
      batch_first: must be True, as TorchRL.
      proj_size, bidirectional: only 0 / False (NotImplementedError otherwise, as TorchRL's scan).
      python_based: accepted for TorchRL's signature: there is one implementation, a ``lax.scan``.
      recurrent_backend: ``"auto"``, ``"pad"``, ``"scan"`` or ``"triton"``: all run the same scan
        (TorchRL's backends agree on results).
      recurrent_compute_dtype: dtype of the recurrent computation (and of the outputs).
      recurrent_recompute: ``"none"`` or ``"full"`` (recompute each step in the backward pass).
      recurrent_matmul_precision: ``"auto"``, ``"fast"``, ``"tf32"``, ``"tf32x3"``, ``"high-prec"``,
        ``"ieee"``: the matmul precision (``jax.lax.Precision`` DEFAULT / HIGH / HIGHEST).
      in_key / in_keys: ``in_key=k`` is ``[k, "recurrent_state_h", "recurrent_state_c", "is_init"]``;
        a list has 3 entries (+ ``"is_init"``, appended if absent).
      out_key / out_keys: ``out_key=k`` is ``[k, ("next", "recurrent_state_h"), ("next",
        "recurrent_state_c")]``; a list has 3 entries.
      lstm: an `LSTM` (batch_first) to use instead of building one from the sizes.
      default_recurrent_mode: the mode when a call passes no ``recurrent_mode=`` (None: False).
      deterministic: no dropout (overridable per call).

    Shapes (sequential / recurrent mode): value ``[*B, in]`` / ``[*B, T, in]`` (recurrent mode: the
    TensorDict's batch_size is ``[*B, T]`` with at least one ``B`` dim, see the module docstring);
    hidden states
    ``[*B, L, H]`` / ``[*B, T, L, H]`` (in recurrent mode only ``t = 0`` is read); ``is_init``
    ``[*B]`` / ``[*B, T]`` (a trailing 1 is accepted). Outputs: ``[*B(, T), H]`` and the state
    after each step at the ``("next", ...)`` keys. Parameters live under ``"lstm"`` in PyTorch's
    layout, so TorchRL's ``LSTMModule`` state_dict loads with ``jaxrl_modules.compat.torchrl``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import TensorDict
      >>> lstm = LSTMModule(input_size=3, hidden_size=8, in_key="obs", out_key="emb")
      >>> lstm.in_keys, lstm.out_keys
      (['obs', 'recurrent_state_h', 'recurrent_state_c', 'is_init'],
       ['emb', ('next', 'recurrent_state_h'), ('next', 'recurrent_state_c')])
      >>> step = TensorDict({"obs": jnp.ones((4, 3)), "is_init": jnp.ones(4, bool)}, batch_size=[4])
      >>> variables = lstm.init(jax.random.key(0), step)
      >>> out = lstm.apply(variables, step)  # sequential mode: one step
      >>> out["emb"].shape, out["next", "recurrent_state_h"].shape
      ((4, 8), (4, 1, 8))
      >>> seq = TensorDict({"obs": jnp.ones((4, 10, 3)),
      ...                   "is_init": jnp.zeros((4, 10), bool).at[:, 0].set(True)}, batch_size=[4, 10])
      >>> out = lstm.apply(variables, seq, recurrent_mode=True)  # one scan over T = 10
      >>> out["emb"].shape, out["next", "recurrent_state_c"].shape
      ((4, 10, 8), (4, 10, 1, 8))
    """

    input_size: int | None = None
    hidden_size: int | None = None
    num_layers: int = 1
    bias: bool = True
    batch_first: bool = True
    dropout: float = 0.0
    proj_size: int = 0
    bidirectional: bool = False
    python_based: bool = False
    recurrent_backend: str = "pad"
    recurrent_compute_dtype: Any = jnp.float32
    recurrent_recompute: str = "none"
    recurrent_matmul_precision: str = "auto"
    in_key: Any = None
    in_keys: Any = None
    out_key: Any = None
    out_keys: Any = None
    lstm: LSTM | None = None
    default_recurrent_mode: bool | None = None
    deterministic: bool = False

    _state_names = ("recurrent_state_h", "recurrent_state_c")
    _net_field = "lstm"
    _net_cls = LSTM

    def __post_init__(self) -> None:
        self._normalize()
        super().__post_init__()


class GRUModule(_RecurrentModule):
    """A GRU reading its state from the TensorDict and writing the next one: TorchRL's ``GRUModule``.

    Same arguments, modes and shapes as `LSTMModule`, without ``proj_size`` and with ``gru=`` (a
    `GRU`) instead of ``lstm=``; one state: ``in_key=k`` is ``[k, "recurrent_state", "is_init"]``,
    ``out_key=k`` is ``[k, ("next", "recurrent_state")]``. Parameters live under ``"gru"``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from jaxrl_modules import TensorDict
      >>> gru = GRUModule(input_size=3, hidden_size=8, in_key="obs", out_key="emb",
      ...                 default_recurrent_mode=True)
      >>> td = TensorDict({"obs": jnp.ones((2, 5, 3)), "is_init": jnp.zeros((2, 5), bool)}, [2, 5])
      >>> variables = gru.init(jax.random.key(0), td)
      >>> out = gru.apply(variables, td)
      >>> out["emb"].shape, out["next", "recurrent_state"].shape
      ((2, 5, 8), (2, 5, 1, 8))
      >>> gru.make_tensordict_primer().zero((2,))["recurrent_state"].shape
      (2, 1, 8)
    """

    input_size: int | None = None
    hidden_size: int | None = None
    num_layers: int = 1
    bias: bool = True
    batch_first: bool = True
    dropout: float = 0.0
    bidirectional: bool = False
    python_based: bool = False
    recurrent_backend: str = "pad"
    recurrent_compute_dtype: Any = jnp.float32
    recurrent_recompute: str = "none"
    recurrent_matmul_precision: str = "auto"
    in_key: Any = None
    in_keys: Any = None
    out_key: Any = None
    out_keys: Any = None
    gru: GRU | None = None
    default_recurrent_mode: bool | None = None
    deterministic: bool = False

    _state_names = ("recurrent_state",)
    _net_field = "gru"
    _net_cls = GRU

    def __post_init__(self) -> None:
        self._normalize()
        super().__post_init__()
