"""LSTM and GRU cells and multi-layer nets on arrays, in PyTorch's parameter layout and gate order.

Parameters carry PyTorch's names, shapes and gate order, so ``torch.nn.LSTM`` / ``torch.nn.GRU``
weights import unchanged: ``weight_ih_l{k}`` ``[G*H, in]``, ``weight_hh_l{k}`` ``[G*H, H]``,
``bias_ih_l{k}`` and ``bias_hh_l{k}`` ``[G*H]`` (cells: ``weight_ih``...), with gates
``(i, f, g, o)`` for the LSTM (``G = 4``) and ``(r, z, n)`` for the GRU (``G = 3``). All of them
are initialised ``U(-1/sqrt(H), 1/sqrt(H))``, as PyTorch does.

The nets run over time as a ``jax.lax.scan`` with an explicit per-step reset mask ``is_init``
``[B, T]``: before step ``t`` the carry is replaced by zeros wherever ``is_init[:, t]`` is True, so
several episodes packed along time never leak state into each other, and no Python branch depends
on the data. Each step computes ``x_t W_ih^T + h W_hh^T + b`` with the weights transposed once,
before the loop: on XLA:CPU this measured 2-3x faster than projecting the whole sequence up front.
The time loops are jitted (one compilation per shape and option), so eager calls reuse them too.

`lstm_scan` / `gru_scan` are the pure time loops; `LSTMCell`, `GRUCell`, `LSTM`, `GRU` the flax
modules; `LSTMNet` TorchRL's testing net (MLP -> LSTM -> Linear).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.typing import ArrayLike

from jaxrl_modules.models._checks import check_int, check_rate, checked_build
from jaxrl_modules.models.layers import Linear, torch_default_init
from jaxrl_modules.models.mlp import MLP

__all__ = ["lstm_scan", "gru_scan", "LSTMCell", "GRUCell", "LSTM", "GRU", "LSTMNet"]


def _dot(x: jax.Array, w_t: jax.Array, precision: Any) -> jax.Array:
    return jnp.matmul(x, w_t, precision=precision)


def _bias(b: jax.Array | None) -> jax.Array | None:
    return None if b is None else jnp.reshape(b, (1, -1))


def _lstm_step(x, h, c, w_ih_t, w_hh_t, b, precision):
    """One LSTM step on ``[N, in]`` / ``[N, H]`` with pre-transposed weights ``[in, 4H]``, ``[H, 4H]``."""
    gates = _dot(x, w_ih_t, precision) + _dot(h, w_hh_t, precision)
    if b is not None:
        gates = gates + b
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return h, c


def _gru_step(x, h, w_ih_t, w_hh_t, b_ih, b_hh, precision):
    """One GRU step on ``[N, in]`` / ``[N, H]`` with pre-transposed weights ``[in, 3H]``, ``[H, 3H]``."""
    gx, gh = _dot(x, w_ih_t, precision), _dot(h, w_hh_t, precision)
    if b_ih is not None:
        gx = gx + b_ih
    if b_hh is not None:
        gh = gh + b_hh
    x_r, x_z, x_n = jnp.split(gx, 3, axis=-1)
    h_r, h_z, h_n = jnp.split(gh, 3, axis=-1)
    r = jax.nn.sigmoid(x_r + h_r)
    z = jax.nn.sigmoid(x_z + h_z)
    n = jnp.tanh(x_n + r * h_n)
    return (1.0 - z) * n + z * h


def _time_loop(cell, carry, inputs, is_init, remat, layer_axis):
    """Scans ``cell(x_t, carry) -> carry`` over time, zeroing the carry entering step ``t`` where
    ``is_init[t]``. Returns the carry after every step ``[T, B, H]`` each; with ``layer_axis``,
    ``(h, *carry)`` where the carries get a unit layer axis ``[T, B, 1, H]``, written inside the
    loop (XLA:CPU takes an extra pass over the states when that axis is added after it)."""

    def step(carry, xs):
        x, reset = xs
        keep = ~reset[:, None]
        carry = cell(x, tuple(jnp.where(keep, s, 0.0) for s in carry))
        return carry, ((carry[0], *(s[:, None] for s in carry)) if layer_axis else carry)

    if remat:
        step = jax.checkpoint(step)
    carry = tuple(jnp.asarray(s) for s in carry)
    _, out = jax.lax.scan(step, carry, (jnp.asarray(inputs), jnp.asarray(is_init, bool)))
    return out


@functools.partial(jax.jit, static_argnames=("precision", "remat", "layer_axis"))
def _lstm_layer(inputs, w_ih, w_hh, bias, h0, c0, is_init, precision=None, remat=False, layer_axis=False):
    w_ih_t, w_hh_t, b = jnp.asarray(w_ih).T, jnp.asarray(w_hh).T, _bias(bias)
    cell = lambda x, hc: _lstm_step(x, *hc, w_ih_t, w_hh_t, b, precision)  # noqa: E731
    return _time_loop(cell, (h0, c0), inputs, is_init, remat, layer_axis)


@functools.partial(jax.jit, static_argnames=("precision", "remat", "layer_axis"))
def _gru_layer(inputs, w_ih, w_hh, b_ih, b_hh, h0, is_init, precision=None, remat=False, layer_axis=False):
    w_ih_t, w_hh_t, b_ih, b_hh = jnp.asarray(w_ih).T, jnp.asarray(w_hh).T, _bias(b_ih), _bias(b_hh)
    cell = lambda x, h: (_gru_step(x, h[0], w_ih_t, w_hh_t, b_ih, b_hh, precision),)  # noqa: E731
    return _time_loop(cell, (h0,), inputs, is_init, remat, layer_axis)


def lstm_scan(
    inputs: ArrayLike,
    w_ih: ArrayLike,
    w_hh: ArrayLike,
    bias: ArrayLike | None,
    h0: ArrayLike,
    c0: ArrayLike,
    is_init: ArrayLike,
    *,
    precision: Any = None,
    remat: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """One LSTM layer over time, restarting from zeros wherever ``is_init`` is True.

    Each step computes ``x_t W_ih^T + h W_hh^T + b`` with the weights transposed once, outside
    the loop (on XLA:CPU this is faster than projecting the whole sequence before the scan).

    Args:
      inputs: time-major ``[T, B, in]``.
      w_ih, w_hh: PyTorch's ``weight_ih`` ``[4H, in]`` and ``weight_hh`` ``[4H, H]``, gate order
        (i, f, g, o).
      bias: ``b_ih + b_hh`` ``[4H]``, or None.
      h0, c0: the carry before the first step, ``[B, H]``.
      is_init: ``[T, B]`` booleans; where True the carry entering step ``t`` is zeroed (the
        first step included).
      precision: precision of the matmuls.
      remat: recompute each step in the backward pass instead of storing its activations.

    Returns:
      ``(h, c)``, each ``[T, B, H]``: the state after every step.

    Examples:
      >>> import jax.numpy as jnp
      >>> h, c = lstm_scan(jnp.ones((5, 2, 4)), jnp.zeros((12, 4)), jnp.zeros((12, 3)), None,
      ...                  jnp.ones((2, 3)), jnp.ones((2, 3)), jnp.zeros((5, 2), bool))
      >>> h.shape, c.shape
      ((5, 2, 3), (5, 2, 3))
    """

    return _lstm_layer(inputs, w_ih, w_hh, bias, h0, c0, is_init, precision=precision, remat=remat)


def gru_scan(
    inputs: ArrayLike,
    w_ih: ArrayLike,
    w_hh: ArrayLike,
    b_ih: ArrayLike | None,
    b_hh: ArrayLike | None,
    h0: ArrayLike,
    is_init: ArrayLike,
    *,
    precision: Any = None,
    remat: bool = False,
) -> jax.Array:
    """One GRU layer over time, restarting from zeros wherever ``is_init`` is True.

    PyTorch's GRU: ``r, z = sigmoid(.)``, ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``,
    ``h' = (1 - z) * n + z * h``; both projections run inside each step, weights transposed once.

    Args:
      inputs: time-major ``[T, B, in]``.
      w_ih, w_hh: ``[3H, in]``, ``[3H, H]``, gate order (r, z, n).
      b_ih, b_hh: ``[3H]`` each, or None (``b_hh`` sits inside ``r * (.)``, so they stay apart).
      h0: ``[B, H]``.
      is_init: ``[T, B]`` booleans; where True the carry entering step ``t`` is zeroed.
      precision, remat: as `lstm_scan`.

    Returns:
      ``h`` ``[T, B, H]``, the state after every step.

    Examples:
      >>> import jax.numpy as jnp
      >>> gru_scan(jnp.ones((5, 2, 4)), jnp.zeros((9, 4)), jnp.zeros((9, 3)), None, None,
      ...          jnp.ones((2, 3)), jnp.zeros((5, 2), bool)).shape
      (5, 2, 3)
    """

    return _gru_layer(inputs, w_ih, w_hh, b_ih, b_hh, h0, is_init, precision=precision, remat=remat)[0]


class _CellBase(nn.Module):
    """Shared parameters of `LSTMCell` / `GRUCell` (PyTorch's ``nn.LSTMCell`` / ``nn.GRUCell``)."""

    input_size: int | None = None
    hidden_size: int | None = None
    bias: bool = True
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: Any = None

    _gates = 4

    def __post_init__(self) -> None:
        check_int(type(self).__name__, "hidden_size", self.hidden_size)
        check_int(type(self).__name__, "input_size", self.input_size, optional=True)
        super().__post_init__()

    def _params(self, x: jax.Array):
        name, size = type(self).__name__, x.shape[-1]
        if self.input_size is not None and size != self.input_size:
            raise ValueError(f"{name}: expected an input of size {self.input_size}, got shape {x.shape}.")
        gh, init = self._gates * self.hidden_size, torch_default_init(self.hidden_size)
        w_ih = self.param("weight_ih", init, (gh, size), self.param_dtype)
        w_hh = self.param("weight_hh", init, (gh, self.hidden_size), self.param_dtype)
        b_ih = self.param("bias_ih", init, (gh,), self.param_dtype) if self.bias else None
        b_hh = self.param("bias_hh", init, (gh,), self.param_dtype) if self.bias else None
        return nn.dtypes.promote_dtype(x, w_ih, w_hh, b_ih, b_hh, dtype=self.dtype)

    def _initial(self, x: jax.Array, state: Any, what: str) -> jax.Array:
        shape = (*x.shape[:-1], self.hidden_size)
        if state is None:
            return jnp.zeros(shape, x.dtype)
        state = jnp.asarray(state, x.dtype)
        if state.shape != shape:
            raise ValueError(
                f"{type(self).__name__}: {what} must have shape {shape} for an input of shape {x.shape}, "
                f"got {state.shape}."
            )
        return state


class LSTMCell(_CellBase):
    """One LSTM step with ``torch.nn.LSTMCell``'s parameters and math.

    ``gates = x W_ih^T + b_ih + h W_hh^T + b_hh`` split as (i, f, g, o);
    ``c' = sigmoid(f) c + sigmoid(i) tanh(g)``, ``h' = sigmoid(o) tanh(c')``.

    Attributes:
      input_size: expected input size (optional; checked when given).
      hidden_size: H, a positive int.
      bias: whether ``bias_ih`` / ``bias_hh`` exist.
      dtype, param_dtype, precision: computation dtype, parameter dtype, matmul precision.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> cell = LSTMCell(hidden_size=3)
      >>> variables = cell.init(jax.random.key(0), jnp.ones((2, 4)))
      >>> jax.tree_util.tree_map(jnp.shape, variables["params"])["weight_hh"]
      (12, 3)
      >>> h, c = cell.apply(variables, jnp.ones((2, 4)))  # hx=None: zeros
      >>> h, c = cell.apply(variables, jnp.ones((2, 4)), (h, c))
      >>> h.shape, c.shape
      ((2, 3), (2, 3))
    """

    @nn.compact
    def __call__(self, inputs: ArrayLike, hx: tuple[ArrayLike, ArrayLike] | None = None) -> tuple[jax.Array, jax.Array]:
        """Args: inputs ``[*B, in]``; hx ``(h, c)`` each ``[*B, H]`` or None (zeros).
        Returns ``(h', c')``, each ``[*B, H]``."""
        x, w_ih, w_hh, b_ih, b_hh = self._params(jnp.asarray(inputs))
        h, c = (None, None) if hx is None else hx
        h, c = self._initial(x, h, "h"), self._initial(x, c, "c")
        batch, flat = x.shape[:-1], (-1, self.hidden_size)
        h, c = _lstm_step(
            x.reshape(-1, x.shape[-1]),
            h.reshape(flat),
            c.reshape(flat),
            w_ih.T,
            w_hh.T,
            None if b_ih is None else _bias(b_ih + b_hh),
            self.precision,
        )
        return h.reshape((*batch, -1)), c.reshape((*batch, -1))


class GRUCell(_CellBase):
    """One GRU step with ``torch.nn.GRUCell``'s parameters and math (gates r, z, n).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> cell = GRUCell(hidden_size=3)
      >>> variables = cell.init(jax.random.key(0), jnp.ones((2, 4)))
      >>> variables["params"]["weight_ih"].shape
      (9, 4)
      >>> cell.apply(variables, jnp.ones((2, 4)), jnp.zeros((2, 3))).shape
      (2, 3)
    """

    _gates = 3

    @nn.compact
    def __call__(self, inputs: ArrayLike, hx: ArrayLike | None = None) -> jax.Array:
        """Args: inputs ``[*B, in]``; hx ``[*B, H]`` or None (zeros). Returns ``h'`` ``[*B, H]``."""
        x, w_ih, w_hh, b_ih, b_hh = self._params(jnp.asarray(inputs))
        h = self._initial(x, hx, "hx")
        batch = x.shape[:-1]
        h = _gru_step(
            x.reshape(-1, x.shape[-1]),
            h.reshape(-1, self.hidden_size),
            w_ih.T,
            w_hh.T,
            _bias(b_ih),
            _bias(b_hh),
            self.precision,
        )
        return h.reshape((*batch, -1))


class _RNNBase(nn.Module):
    """Multi-layer LSTM / GRU over a sequence (PyTorch's ``nn.LSTM`` / ``nn.GRU`` arguments)."""

    input_size: int | None = None
    hidden_size: int | None = None
    num_layers: int = 1
    batch_first: bool = True
    bias: bool = True
    dropout: float = 0.0
    bidirectional: bool = False
    proj_size: int = 0
    use_scan: bool = True
    deterministic: bool = False
    dtype: Any = None
    param_dtype: Any = jnp.float32
    precision: Any = None
    remat: bool = False

    _gates = 4
    _n_states = 2

    def __post_init__(self) -> None:
        name = type(self).__name__
        check_int(name, "hidden_size", self.hidden_size)
        check_int(name, "input_size", self.input_size, optional=True)
        check_int(name, "num_layers", self.num_layers)
        check_rate(name, "dropout", self.dropout)
        if self.bidirectional:
            raise NotImplementedError(
                f"{name}: bidirectional=True is not supported (a policy's recurrent state runs forward "
                "in time; TorchRL's Python and scan backends do not support it either)."
            )
        if getattr(self, "proj_size", 0):
            raise NotImplementedError(
                f"{name}: proj_size={self.proj_size} is not supported (TorchRL's scan backend does not "
                "support projections either); use proj_size=0."
            )
        super().__post_init__()

    def _layer_params(self, k: int, in_size: int):
        gh, init = self._gates * self.hidden_size, torch_default_init(self.hidden_size)
        w_ih = self.param(f"weight_ih_l{k}", init, (gh, in_size), self.param_dtype)
        w_hh = self.param(f"weight_hh_l{k}", init, (gh, self.hidden_size), self.param_dtype)
        if not self.bias:
            return w_ih, w_hh, None, None
        b_ih = self.param(f"bias_ih_l{k}", init, (gh,), self.param_dtype)
        b_hh = self.param(f"bias_hh_l{k}", init, (gh,), self.param_dtype)
        return w_ih, w_hh, b_ih, b_hh

    def _check(self, x: jax.Array, hx: Any, is_init: Any):
        """Time-major input ``[T, B, in]``, states ``[L, B, H]`` each, reset mask ``[T, B]``."""
        name = type(self).__name__
        if x.ndim not in (2, 3):
            raise ValueError(f"{name} expects a [B, T, in] or [T, in] input, got shape {x.shape}.")
        if self.input_size is not None and x.shape[-1] != self.input_size:
            raise ValueError(f"{name}: expected input size {self.input_size}, got input shape {x.shape}.")
        unbatched = x.ndim == 2
        if unbatched:
            x = x[:, None]
        elif self.batch_first:
            x = jnp.swapaxes(x, 0, 1)
        steps, batch = x.shape[:2]
        shape = (self.num_layers, batch, self.hidden_size)
        if hx is None:
            states = [jnp.zeros(shape, x.dtype)] * self._n_states
        else:
            states = list(hx) if self._n_states == 2 else [hx]
            if len(states) != self._n_states:
                raise ValueError(f"{name}: hx must be a pair (h, c), got {len(states)} arrays.")
            states = [jnp.asarray(s, x.dtype) for s in states]
            for i, s in enumerate(states):
                s = s[:, None] if unbatched and s.ndim == 2 else s
                if s.shape != shape:
                    want = shape if not unbatched else (self.num_layers, self.hidden_size)
                    raise ValueError(
                        f"{name}: hidden state {i} must have shape {want} (num_layers, batch, "
                        f"hidden_size), got {tuple(jnp.shape(states[i]))}."
                    )
                states[i] = s
        if is_init is None:
            reset = jnp.zeros((steps, batch), bool)
        else:
            reset = jnp.asarray(is_init, bool)
            want = (steps,) if unbatched else ((batch, steps) if self.batch_first else (steps, batch))
            if reset.shape != want:
                raise ValueError(
                    f"{name}: is_init must have shape {want} (one flag per sequence and step), got {reset.shape}."
                )
            reset = reset[:, None] if unbatched else (reset.T if self.batch_first else reset)
        return x, states, reset, unbatched

    @nn.compact
    def __call__(
        self,
        inputs: ArrayLike,
        hx: Any = None,
        is_init: ArrayLike | None = None,
        *,
        deterministic: bool | None = None,
        all_states: bool = False,
    ):
        """Runs the layers over the sequence.

        Args:
          inputs: ``[B, T, in]`` (``batch_first``), ``[T, B, in]``, or unbatched ``[T, in]``.
          hx: the initial state, PyTorch's layout ``[num_layers, B, H]``: ``(h0, c0)`` for the LSTM,
            ``h0`` for the GRU; None is zeros.
          is_init: optional booleans ``[B, T]`` (``[T, B]`` if not batch_first, ``[T]`` unbatched):
            the state entering step ``t`` is zeroed where True, in every layer.
          deterministic: overrides the ``deterministic`` attribute (no inter-layer dropout).
          all_states: return the state after every step, ``[B, T, num_layers, H]`` (time-major:
            ``[T, B, num_layers, H]``), instead of PyTorch's final ``[num_layers, B, H]``.

        Returns:
          ``(output, hidden)``: ``output`` ``[B, T, H]`` (the last layer's h at every step) and
          ``hidden`` = ``(h, c)`` (LSTM) or ``h`` (GRU) as described by ``all_states``.
        """
        x, states, reset, unbatched = self._check(jnp.asarray(inputs), hx, is_init)
        deterministic = self.deterministic if deterministic is None else deterministic
        per_layer = []
        for k in range(self.num_layers):
            w_ih, w_hh, b_ih, b_hh = self._layer_params(k, x.shape[-1])
            x, w_ih, w_hh, b_ih, b_hh = nn.dtypes.promote_dtype(x, w_ih, w_hh, b_ih, b_hh, dtype=self.dtype)
            init = [s[k].astype(x.dtype) for s in states]
            # outs: (h, *states), states [T, B, 1, H] with all_states, else [T, B, H]
            outs = self._layer(x, w_ih, w_hh, b_ih, b_hh, init, reset, all_states)
            per_layer.append(outs[1:])
            x = outs[0]
            if k < self.num_layers - 1 and self.dropout > 0:
                x = nn.Dropout(self.dropout, name=f"dropout_{k}")(x, deterministic=deterministic)
        hidden = [[outs[i] for outs in per_layer] for i in range(self._n_states)]
        if all_states:  # [T, B, L, H]
            hidden = [jnp.concatenate(h, axis=2) if len(h) > 1 else h[0] for h in hidden]
        else:  # [L, B, H]
            hidden = [jnp.stack([s[-1] for s in h], axis=0) for h in hidden]
        output = x
        if unbatched:
            output = output[:, 0]
            hidden = [h[:, 0] for h in hidden]  # [T, L, H] or [L, H]
        elif self.batch_first:
            output = jnp.swapaxes(output, 0, 1)
            hidden = [jnp.swapaxes(h, 0, 1) for h in hidden] if all_states else hidden
        return output, (tuple(hidden) if self._n_states == 2 else hidden[0])


class LSTM(_RNNBase):
    """A multi-layer LSTM over sequences with reset flags: PyTorch's ``nn.LSTM`` parameters.

    TorchRL's Python ``LSTM`` arguments and defaults (``batch_first=True``); parameters
    ``weight_ih_l{k}``, ``weight_hh_l{k}``, ``bias_ih_l{k}``, ``bias_hh_l{k}`` as in PyTorch.
    Inter-layer ``dropout`` draws from the ``"dropout"`` stream unless ``deterministic``.

    Attributes:
      input_size: expected input size (optional; checked when given).
      hidden_size: H (required), a positive int.
      num_layers, batch_first, bias, dropout: as PyTorch (``num_layers >= 1``, ``dropout`` in
        ``[0, 1)``; other values raise at construction).
      bidirectional, proj_size: only the defaults (False, 0); others raise NotImplementedError.
      use_scan: TorchRL's switch between its Python loop and its scan; accepted for its
        signature, the time loop is always a ``lax.scan`` here.
      deterministic: no dropout (overridable per call).
      dtype, param_dtype, precision: computation dtype, parameter dtype, matmul precision.
      remat: recompute each step in the backward pass (TorchRL's ``recurrent_recompute="full"``).

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> lstm = LSTM(hidden_size=8, num_layers=2)
      >>> x = jnp.ones((4, 10, 3))  # [B, T, in]
      >>> variables = lstm.init(jax.random.key(0), x)
      >>> sorted(variables["params"])[:4]
      ['bias_hh_l0', 'bias_hh_l1', 'bias_ih_l0', 'bias_ih_l1']
      >>> is_init = jnp.zeros((4, 10), bool).at[:, 5].set(True)  # a new episode at t = 5
      >>> y, (h, c) = lstm.apply(variables, x, is_init=is_init)
      >>> y.shape, h.shape  # h: PyTorch's [num_layers, B, H]
      ((4, 10, 8), (2, 4, 8))
      >>> y2, _ = lstm.apply(variables, x[:, 5:])  # the second episode alone
      >>> bool(jnp.allclose(y[:, 5:], y2, atol=1e-6))
      True
    """

    def _layer(self, x, w_ih, w_hh, b_ih, b_hh, init, reset, layer_axis):
        bias = None if b_ih is None else b_ih + b_hh
        hc = _lstm_layer(x, w_ih, w_hh, bias, *init, reset, self.precision, self.remat, layer_axis)
        return hc if layer_axis else (hc[0], *hc)


class GRU(_RNNBase):
    """A multi-layer GRU over sequences with reset flags: PyTorch's ``nn.GRU`` parameters.

    Same attributes and call as `LSTM` (no ``proj_size``); the state is a single ``h``.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> gru = GRU(hidden_size=8)
      >>> x = jnp.ones((4, 10, 3))
      >>> variables = gru.init(jax.random.key(0), x)
      >>> y, h = gru.apply(variables, x, all_states=True)
      >>> y.shape, h.shape  # all_states: [B, T, num_layers, H]
      ((4, 10, 8), (4, 10, 1, 8))
    """

    proj_size: int = 0
    _gates = 3
    _n_states = 1

    def _layer(self, x, w_ih, w_hh, b_ih, b_hh, init, reset, layer_axis):
        h = _gru_layer(x, w_ih, w_hh, b_ih, b_hh, init[0], reset, self.precision, self.remat, layer_axis)
        return h if layer_axis else (h[0], *h)


class LSTMNet(nn.Module):
    """TorchRL's testing ``LSTMNet``: ``MLP -> LSTM (batch_first) -> Linear(out_features)``.

    ``__call__(input, hidden0_in=None, hidden1_in=None)`` returns
    ``(y, hidden0_in, hidden1_in, hidden0_out, hidden1_out)``, TorchRL's contract:

    * a ``[B, in]`` input is one step: hidden states ``[B, num_layers, H]`` in and out;
    * a ``[B, T, in]`` input is a sequence: hidden inputs are ``[B, T, num_layers, H]`` and only
      their first step is used; the output hiddens are zero except at the last step, which holds
      the final state;
    * a 1-D input is a single unbatched step. Missing hiddens are zeros (and returned as such).

    Attributes:
      out_features: the final Linear's size (positive).
      lstm_kwargs: `LSTM` arguments (``hidden_size``, ``num_layers``...; ``batch_first`` is forced
        to True, ``input_size`` if given must equal the MLP's output size).
      mlp_kwargs: `MLP` arguments.
      lstm_backend: ``"torch"`` / ``"torchrl"`` / None, TorchRL's choice of LSTM class; both are
        the same `LSTM` here.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> net = LSTMNet(2, {"input_size": 5, "hidden_size": 5}, {"out_features": 5})
      >>> variables = net.init(jax.random.key(0), jnp.ones((7, 6, 4)))
      >>> y, h0, c0, h1, c1 = net.apply(variables, jnp.ones((7, 6, 4)))
      >>> y.shape, h0.shape, h1.shape
      ((7, 6, 2), (7, 6, 1, 5), (7, 6, 1, 5))
      >>> y, *hidden = net.apply(variables, jnp.ones((7, 4)))  # one step
      >>> y.shape, hidden[2].shape
      ((7, 2), (7, 1, 5))
    """

    out_features: int
    lstm_kwargs: Mapping[str, Any]
    mlp_kwargs: Mapping[str, Any]
    lstm_backend: str | None = None

    def __post_init__(self) -> None:
        if self.lstm_backend not in (None, "torch", "torchrl"):
            raise ValueError(f"LSTMNet: lstm_backend must be 'torch', 'torchrl' or None, got {self.lstm_backend!r}.")
        check_int("LSTMNet", "out_features", self.out_features)
        # Bad sizes raise now, naming the kwargs they came from, not at the first call.
        checked_build(
            "LSTMNet", "lstm_kwargs", lambda: LSTM(**{**dict(self.lstm_kwargs), "batch_first": True}, parent=None)
        )
        checked_build("LSTMNet", "mlp_kwargs", lambda: MLP(**dict(self.mlp_kwargs), parent=None))
        super().__post_init__()

    @nn.compact
    def __call__(self, input: ArrayLike, hidden0_in: ArrayLike | None = None, hidden1_in: ArrayLike | None = None):
        lstm_kwargs = {**dict(self.lstm_kwargs), "batch_first": True}
        lstm = LSTM(**lstm_kwargs, name="lstm")
        x = MLP(**dict(self.mlp_kwargs), name="mlp")(jnp.asarray(input))
        squeeze0 = x.ndim == 1
        x = x[None] if squeeze0 else x
        single = x.ndim == 2
        x = x[:, None] if single else x
        batch, steps = x.shape[:2]
        if (hidden0_in is None) != (hidden1_in is None):
            raise ValueError("LSTMNet: pass both hidden0_in and hidden1_in, or neither.")
        if hidden0_in is None:
            shape = (
                (batch, lstm.num_layers, lstm.hidden_size)
                if single
                else (batch, steps, lstm.num_layers, lstm.hidden_size)
            )
            hidden0_in = hidden1_in = jnp.zeros(shape, x.dtype)
        elif squeeze0:
            hidden0_in, hidden1_in = jnp.asarray(hidden0_in)[None], jnp.asarray(hidden1_in)[None]
        first = [jnp.asarray(h) if single else jnp.asarray(h)[:, 0] for h in (hidden0_in, hidden1_in)]
        want = (batch, lstm.num_layers, lstm.hidden_size)
        for h in first:
            if h.shape != want:
                raise ValueError(f"LSTMNet: hidden state (first step) must have shape {want}, got {h.shape}.")
        y, (h, c) = lstm(x, tuple(jnp.swapaxes(s, 0, 1) for s in first))
        y = Linear(self.out_features, name="linear")(y)
        h, c = jnp.swapaxes(h, 0, 1), jnp.swapaxes(c, 0, 1)  # [B, L, H]
        if single:
            y = y[:, 0]
        else:  # TorchRL pads with zeros so that the outputs fit a [B, T] TensorDict
            pad = jnp.zeros((batch, steps - 1, *h.shape[1:]), h.dtype)
            h, c = (jnp.concatenate([pad, s[:, None]], axis=1) for s in (h, c))
        out = (y, hidden0_in, hidden1_in, h, c)
        return tuple(o[0] for o in out) if squeeze0 else out
