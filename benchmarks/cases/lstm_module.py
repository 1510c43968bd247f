"""LSTMModule in recurrent mode over a [B, T] slice with episode resets: what a recurrent PPO loss runs.

One call runs a one-layer LSTM (input 32, hidden 64) over a ``(B, T) = (64, 128)`` sequence whose
``is_init`` marks random episode starts (p = 0.05 per step), starting from a stored state:

* ``jaxrl_modules``: ``LSTMModule.apply(variables, td, recurrent_mode=True)``, jitted, outputs the
  embedding and both ``("next", ...)`` states at every step; the TensorDict holds device arrays,
  like the baselines' inputs;
* ``jax[flax scan]``: the loop a flax user writes by hand: ``nn.scan`` over ``nn.OptimizedLSTMCell``
  with the carry zeroed where ``is_init`` (it projects the input inside every step);
* ``jax[hoisted]``: a hand-written ``lax.scan`` with the input projection hoisted out of the loop
  (one big matmul before the scan; slower on XLA:CPU than projecting inside each step, as
  ``jax[flax scan]`` and ``jaxrl_modules`` do);
* ``torchrl``: TorchRL's ``LSTMModule`` under ``set_recurrent_mode(True)`` (its default "pad"
  backend: split at resets, pad, cuDNN-style ``nn.LSTM``, unpad), ``torch.no_grad``.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_modules.data.tensordict import TensorDict
from jaxrl_modules.tensordict_module.rnn import LSTMModule

NAME = "lstm_module"
IN, HIDDEN = 32, 64


def sizes(smoke: bool) -> list[str]:
    return ["4x8"] if smoke else ["64x128"]


def _data(batch: int, steps: int):
    rng = np.random.default_rng(0)
    obs = rng.standard_normal((batch, steps, IN)).astype(np.float32)
    is_init = rng.random((batch, steps)) < 0.05
    is_init[:, 0] |= rng.random(batch) < 0.5  # half the rows start mid-episode
    h0 = rng.standard_normal((batch, 1, HIDDEN)).astype(np.float32) * 0.1
    return obs, is_init, h0


class _FlaxScanLSTM(nn.Module):
    """The hand-written baseline: nn.scan over OptimizedLSTMCell with reset masking."""

    @nn.compact
    def __call__(self, carry, xs):
        def body(cell, carry, inputs):
            x, reset = inputs
            keep = ~reset[:, None]
            carry = tuple(jnp.where(keep, s, 0.0) for s in carry)
            carry, y = cell(carry, x)
            return carry, (y, carry)

        scan = nn.scan(body, variable_broadcast="params", split_rngs={"params": False}, in_axes=1, out_axes=1)
        return scan(nn.OptimizedLSTMCell(HIDDEN), carry, xs)


def _hoisted(params, obs, is_init, h0, c0):
    w_ih, w_hh, b = params["weight_ih_l0"], params["weight_hh_l0"], params["bias_ih_l0"] + params["bias_hh_l0"]
    gx = jnp.einsum("bti,gi->tbg", obs, w_ih) + b[None, None, :]

    def step(carry, xs):
        h, c = carry
        g, reset = xs
        keep = ~reset[:, None]
        h, c = jnp.where(keep, h, 0.0), jnp.where(keep, c, 0.0)
        i, f, gg, o = jnp.split(g + h @ w_hh.T, 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(gg)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return (h, c), (h, c)

    _, (hs, cs) = jax.lax.scan(step, (h0, c0), (gx, is_init.T))
    return jnp.swapaxes(hs, 0, 1), jnp.swapaxes(hs, 0, 1), jnp.swapaxes(cs, 0, 1)


def _blocked(fn, *args) -> Callable[[], object]:
    jitted = jax.jit(fn)
    return lambda: jax.block_until_ready(jitted(*args))


def implementations(size: str) -> dict[str, Callable[[], object]]:
    batch, steps = (int(s) for s in size.split("x"))
    obs, is_init, h0 = _data(batch, steps)
    module = LSTMModule(input_size=IN, hidden_size=HIDDEN, in_key="obs", out_key="emb", default_recurrent_mode=True)
    stored = np.zeros((batch, steps, 1, HIDDEN), np.float32)
    stored[:, :1] = h0[:, None]
    # Device arrays, as the baselines get (numpy leaves would be copied to the device on every call).
    td = TensorDict(
        {"obs": obs, "is_init": is_init, "recurrent_state_h": stored, "recurrent_state_c": stored}, [batch, steps]
    ).apply(jnp.asarray)
    variables = module.init(jax.random.key(0), td)

    def ours(variables, td):
        out = module.apply(variables, td)
        return out["emb"], out["next", "recurrent_state_h"], out["next", "recurrent_state_c"]

    flax_scan = _FlaxScanLSTM()
    carry = (jnp.asarray(h0[:, 0]), jnp.asarray(h0[:, 0]))
    flax_vars = flax_scan.init(jax.random.key(0), carry, (jnp.asarray(obs), jnp.asarray(is_init)))

    def hand(flax_vars, carry, obs, is_init):
        _, (y, (c, h)) = flax_scan.apply(flax_vars, carry, (obs, is_init))
        return y, h, c

    impls = {
        "jaxrl_modules": _blocked(ours, variables, td),
        "jax[flax scan]": _blocked(hand, flax_vars, carry, jnp.asarray(obs), jnp.asarray(is_init)),
        "jax[hoisted]": _blocked(
            _hoisted, variables["params"]["lstm"], jnp.asarray(obs), jnp.asarray(is_init), carry[0], carry[1]
        ),
    }
    impls.update(_torchrl(obs, is_init, stored))
    return impls


def _torchrl(obs: np.ndarray, is_init: np.ndarray, stored: np.ndarray) -> dict[str, Callable[[], object]]:
    try:
        import torch
        from tensordict import TensorDict as TorchTensorDict
        from torchrl.modules import LSTMModule as TorchLSTMModule
        from torchrl.modules import set_recurrent_mode
    except ImportError:
        return {}
    from benchmarks.harness import torch_threads

    torch.manual_seed(0)
    module = TorchLSTMModule(input_size=IN, hidden_size=HIDDEN, in_key="obs", out_key="emb")
    batch, steps = is_init.shape
    data = {
        "obs": torch.tensor(obs),
        "is_init": torch.tensor(is_init)[..., None],
        "recurrent_state_h": torch.tensor(stored),
        "recurrent_state_c": torch.tensor(stored),
    }

    def call():
        with torch.no_grad(), set_recurrent_mode(True):
            return module(TorchTensorDict(dict(data), [batch, steps]))

    return torch_threads(call)
