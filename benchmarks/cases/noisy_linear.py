"""NoisyLinear forward with fresh factorised noise: what a NoisyNet DQN's Q-network layer computes.

One call draws fresh noise for a ``[B, in] -> [B, out]`` layer and applies it. Every JAX
implementation is one jitted function ``(key, variables, x) -> (next_key, y)`` that splits its key
inside, so each call gets fresh noise and the key is threaded as in a training loop:

* ``jaxrl_modules``: ``NoisyLinear(out).apply(variables, x, exploration_type="random",
  rngs={"noise": key})``, threefry keys (``jax.random.key``);
* ``jaxrl_modules[rbg]`` / ``jaxrl_modules[unsafe_rbg]``: the same with ``rbg`` / ``unsafe_rbg`` keys;
* ``jax``: hand-written minimal JAX: ``eps_in``, ``eps_out`` = ``sign(z) sqrt|z|`` of two
  ``jax.random.normal`` draws, ``W = mu + sigma * outer(eps_in, eps_out)``, ``y = x @ W + b_mu +
  b_sigma * eps_out`` (one materialised kernel, one matmul);
* ``torchrl``: TorchRL's ``NoisyLinear``: ``reset_noise()`` then the forward pass under
  ``set_exploration_type(RANDOM)``, eager, under ``torch.no_grad()``, 2 torch threads;
  ``torchrl[1 thread]`` the same with 1 thread.

The hand-written version pays for a fusion choice of XLA:CPU: written as ``sign(z) *
sqrt(|z|)``, the factors are not materialised and the rest of the normal draw (``erf_inv``'s
polynomial) is recomputed for each of the ``in * out`` kernel entries. jaxrl_modules computes
the same values as ``z / sqrt(|z|)``, which XLA keeps as one ``[in + out]`` array (see
`jaxrl_modules.models.noisy._scale_noise`), and comes out ahead.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.harness import keyed_call, torch_threads
from jaxrl_modules.models import NoisyLinear

NAME = "noisy_linear"


def sizes(smoke: bool) -> list[str]:
    shapes = [(4, 8, 8)] if smoke else [(256, 512, 512)]
    return [f"{b}x{i}x{o}" for b, i, o in shapes]


def _ours(layer: NoisyLinear):
    def impl(key, variables, x):
        key, sub = jax.random.split(key)
        y = layer.apply(variables, x, exploration_type="random", rngs={"noise": sub})
        return key, y

    return impl


def _hand_written(key, params, x):
    key, sub = jax.random.split(key)
    k_in, k_out = jax.random.split(sub)
    fan_in, out = params["kernel_mu"].shape
    z_in = jax.random.normal(k_in, (fan_in,), x.dtype)
    z_out = jax.random.normal(k_out, (out,), x.dtype)
    eps_in = jnp.sign(z_in) * jnp.sqrt(jnp.abs(z_in))
    eps_out = jnp.sign(z_out) * jnp.sqrt(jnp.abs(z_out))
    kernel = params["kernel_mu"] + params["kernel_sigma"] * (eps_in[:, None] * eps_out[None, :])
    bias = params["bias_mu"] + params["bias_sigma"] * eps_out
    return key, x @ kernel + bias[None, :]


def implementations(size: str) -> dict[str, Callable[[], object]]:
    batch, fan_in, out = (int(s) for s in size.split("x"))
    x = jax.random.normal(jax.random.key(0), (batch, fan_in))
    layer = NoisyLinear(out)
    variables = layer.init(jax.random.key(1), x)
    ours = _ours(layer)
    impls = {
        "jaxrl_modules": keyed_call(ours, jax.random.key(2), variables, x),
        "jax": keyed_call(_hand_written, jax.random.key(2), variables["params"], x),
        "jaxrl_modules[rbg]": keyed_call(ours, jax.random.key(2, impl="rbg"), variables, x),
        "jaxrl_modules[unsafe_rbg]": keyed_call(ours, jax.random.key(2, impl="unsafe_rbg"), variables, x),
    }
    impls.update(_torchrl(fan_in, out, np.asarray(x)))
    return impls


def _torchrl(fan_in: int, out: int, x: np.ndarray) -> dict[str, Callable[[], object]]:
    try:
        import torch
        from torchrl.envs.utils import ExplorationType, set_exploration_type
        from torchrl.modules import NoisyLinear as TorchNoisyLinear
    except ImportError:
        return {}
    torch.manual_seed(0)
    layer = TorchNoisyLinear(fan_in, out)
    x_t = torch.tensor(x)

    def call():
        with torch.no_grad(), set_exploration_type(ExplorationType.RANDOM):
            layer.reset_noise()
            return layer(x_t)

    return torch_threads(call)
