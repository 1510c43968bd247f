"""TanhNormal sample + log-prob: what a SAC actor computes per step (``sample_and_log_prob``).

One call draws a fresh sample for a batch of ``[B, d]`` (loc, scale) and scores it. Every JAX
implementation is one jitted function ``(key, loc, scale) -> (next_key, action, log_prob)`` that
splits its key inside, so each call gets fresh noise and the key is threaded as in a training loop:

* ``jaxrl_modules``: `TanhNormal(loc, scale).sample_and_log_prob(seed=key)` (scores the exact
  pre-tanh draw, safe tanh), threefry keys (``jax.random.key``);
* ``jaxrl_modules[rbg]`` / ``jaxrl_modules[unsafe_rbg]``: the same with ``rbg`` / ``unsafe_rbg`` keys;
* ``distrax``: ``distrax.Transformed(MultivariateNormalDiag(loc, scale), Block(Tanh(), 1))``'s
  ``sample_and_log_prob``, threefry keys;
* ``jax``: hand-written minimal JAX: ``u = loc + scale * normal``, ``tanh(u)``, Normal log-density
  minus ``2 (log 2 - u - softplus(-2u))``, summed over ``d``, with ``jax.random.normal(key, (B, d))``;
* ``jax[flat draw]``: the same, drawing the noise as ``jax.random.normal(key, (B * d,))`` reshaped
  to ``(B, d)``, which is what jaxrl_modules does: on XLA:CPU the draw on a short minor axis is
  ~3x slower than the same draw flat, and it dominates the call. This column shows what the
  library layer costs once the draw is the same;
* ``torchrl``: TorchRL's ``TanhNormal(loc, scale).rsample()`` then ``log_prob``, eager, under
  ``torch.no_grad()``, 2 torch threads; ``torchrl[1 thread]`` the same with 1 thread (on a
  loaded 2-vCPU machine torch's second thread and XLA's pool fight, and the 2-thread time can
  swing by 10x or more).

jaxrl_modules draws its noise flat, with JAX's Threefry-2x32 hash unrolled, and writes the log-det
as ``log(1 + exp(-2|u|))``: see ``jaxrl_modules/functional/random.py`` (`standard_normal`) and
``jaxrl_modules/distributions/tanh_normal.py`` (`TanhNormal._draw`, `_log_abs_det_tanh`) for the
measurements behind each choice.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.harness import keyed_call, torch_threads
from jaxrl_modules.distributions import TanhNormal

NAME = "tanh_normal"


def sizes(smoke: bool) -> list[str]:
    shapes = [(4, 2)] if smoke else [(4096, 6), (256, 17)]
    return [f"{b}x{d}" for b, d in shapes]


def _ours(key, loc, scale):
    key, sub = jax.random.split(key)
    action, log_prob = TanhNormal(loc, scale).sample_and_log_prob(seed=sub)
    return key, action, log_prob


def _hand_written(key, loc, scale, flat: bool = False):
    key, sub = jax.random.split(key)
    if flat:  # the draw as jaxrl_modules makes it: flat, then reshaped (a free bitcast)
        eps = jax.random.normal(sub, (loc.size,), loc.dtype).reshape(loc.shape)
    else:
        eps = jax.random.normal(sub, loc.shape, loc.dtype)
    u = loc + scale * eps
    log_prob = -0.5 * eps * eps - jnp.log(scale) - 0.5 * math.log(2 * math.pi)
    log_prob = log_prob - 2.0 * (math.log(2.0) - u - jax.nn.softplus(-2.0 * u))
    return key, jnp.tanh(u), jnp.sum(log_prob, axis=-1)


def _distrax_impl():
    import distrax  # benchmarks only: the package imports distrax in distributions/ alone

    def impl(key, loc, scale):
        key, sub = jax.random.split(key)
        with jax.numpy_rank_promotion("allow"):  # distrax broadcasts implicitly (the tests forbid it)
            dist = distrax.Transformed(distrax.MultivariateNormalDiag(loc, scale), distrax.Block(distrax.Tanh(), 1))
            action, log_prob = dist.sample_and_log_prob(seed=sub)
        return key, action, log_prob

    return impl


def implementations(size: str) -> dict[str, Callable[[], object]]:
    batch, d = (int(x) for x in size.split("x"))
    k_loc, k_scale = jax.random.split(jax.random.key(0))
    loc = jax.random.normal(k_loc, (batch, d))
    scale = jnp.exp(0.5 * jax.random.normal(k_scale, (batch, d)))
    impls = {
        "jaxrl_modules": keyed_call(_ours, jax.random.key(1), loc, scale),
        "jax": keyed_call(_hand_written, jax.random.key(1), loc, scale),
        "jax[flat draw]": keyed_call(functools.partial(_hand_written, flat=True), jax.random.key(1), loc, scale),
        "jaxrl_modules[rbg]": keyed_call(_ours, jax.random.key(1, impl="rbg"), loc, scale),
        "jaxrl_modules[unsafe_rbg]": keyed_call(_ours, jax.random.key(1, impl="unsafe_rbg"), loc, scale),
    }
    try:
        impls["distrax"] = keyed_call(_distrax_impl(), jax.random.key(1), loc, scale)
    except ImportError:
        pass
    impls.update(_torchrl(np.asarray(loc), np.asarray(scale)))
    return impls


def _torchrl(loc: np.ndarray, scale: np.ndarray) -> dict[str, Callable[[], object]]:
    try:
        import torch
        from torchrl.modules import TanhNormal as TorchTanhNormal
    except ImportError:
        return {}
    loc_t, scale_t = torch.tensor(loc), torch.tensor(scale)

    def call():
        with torch.no_grad():
            dist = TorchTanhNormal(loc_t, scale_t)
            action = dist.rsample()
            return action, dist.log_prob(action)

    return torch_threads(call)
