"""The C51 target projection (N = 51 atoms on [-10, 10], gamma = 0.99, 10% terminal rows).

* ``jaxrl_modules``: `categorical_projection`, jitted, with the support a NumPy array and the
  discount a Python float, as in a training step (the window fast path).
* ``jaxrl_modules[traced]``: the same with the support and per-row discounts as traced arguments
  (the support is found evenly spaced at run time; the window is sized for discounts >= 0.95).
* ``jaxrl_modules[uneven]``: an unevenly spaced support of 51 atoms (the general path).
* ``jax``: TorchRL's algorithm written in JAX (b = (Tz - Vmin) / dz, the integer-b fix, two
  scatter-adds for index_add), jitted.
* ``rlax``: ``jax.jit(jax.vmap(rlax.categorical_l2_project))``, the dense O(N^2) projection.
* ``torchrl``: TorchRL's algorithm in torch eager, copied from ``DistributionalDQNLoss.forward``
  (the projection has no public function of its own).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from jaxrl_modules.functional.categorical_projection import categorical_projection

NAME = "c51_projection"
ATOMS, V_MIN, V_MAX, GAMMA = 51, -10.0, 10.0, 0.99
SUPPORT = np.linspace(V_MIN, V_MAX, ATOMS, dtype=np.float32)
UNEVEN = np.sort(np.random.default_rng(0).normal(size=ATOMS) * 4).astype(np.float32)


def sizes(smoke: bool) -> list[int]:
    return [8] if smoke else [256, 4096]


def _inputs(batch: int):
    rng = np.random.default_rng(batch)
    logits = rng.normal(size=(batch, ATOMS)) * 2
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs = (probs / probs.sum(-1, keepdims=True)).astype(np.float32)
    reward = (rng.normal(size=batch) * 3).astype(np.float32)
    terminated = rng.random(batch) < 0.1
    return probs, reward, terminated


def _torchrl_style_jax(probs, reward, discount, terminated):
    """TorchRL's DistributionalDQNLoss projection, op for op, in JAX."""
    batch = probs.shape[0]
    delta_z = (V_MAX - V_MIN) / (ATOMS - 1)
    tz = reward[:, None] + (1 - terminated[:, None].astype(probs.dtype)) * discount * SUPPORT[None, :]
    b = (jnp.clip(tz, V_MIN, V_MAX) - V_MIN) / delta_z
    low, up = jnp.floor(b).astype(jnp.int32), jnp.ceil(b).astype(jnp.int32)
    low = jnp.where((up > 0) & (low == up), low - 1, low)
    up = jnp.where((low < ATOMS - 1) & (low == up), up + 1, up)
    rows = jnp.arange(batch)[:, None]
    m = jnp.zeros((batch, ATOMS), probs.dtype)
    m = m.at[rows, low].add(probs * (up - b))
    return m.at[rows, up].add(probs * (b - low))


def _rlax(probs, reward, discount, terminated):
    import rlax

    g = (1 - terminated.astype(probs.dtype)) * discount
    tz = reward[:, None] + g[:, None] * SUPPORT[None, :]
    return jax.vmap(rlax.categorical_l2_project, in_axes=(0, 0, None))(tz, probs, jnp.asarray(SUPPORT))


def implementations(batch: int) -> dict[str, Callable[[], object]]:
    probs, reward, terminated = _inputs(batch)
    p, r, t = jnp.asarray(probs), jnp.asarray(reward), jnp.asarray(terminated)
    discounts = jnp.full((batch,), GAMMA, jnp.float32)
    ours = jax.jit(lambda p, r, t: categorical_projection(p, SUPPORT, r, GAMMA, t))
    traced = jax.jit(categorical_projection)
    uneven = jax.jit(lambda p, r, t: categorical_projection(p, UNEVEN, r, GAMMA, t))
    torchrl_style = jax.jit(lambda p, r, t: _torchrl_style_jax(p, r, GAMMA, t))
    support = jnp.asarray(SUPPORT)
    impls = {
        "jaxrl_modules": lambda: jax.block_until_ready(ours(p, r, t)),
        "jaxrl_modules[traced]": lambda: jax.block_until_ready(traced(p, support, r, discounts, t)),
        "jaxrl_modules[uneven]": lambda: jax.block_until_ready(uneven(p, r, t)),
        "jax": lambda: jax.block_until_ready(torchrl_style(p, r, t)),
    }
    try:
        import rlax  # noqa: F401

        dense = jax.jit(lambda p, r, t: _rlax(p, r, GAMMA, t))
        impls["rlax"] = lambda: jax.block_until_ready(dense(p, r, t))
    except ImportError:
        pass
    torch_impl = _torchrl(probs, reward, terminated)
    if torch_impl is not None:
        impls["torchrl"] = torch_impl
    return impls


def _torchrl(probs, reward, terminated) -> Callable[[], object] | None:
    try:
        import torch
    except ImportError:
        return None
    # One thread: index_add is serial (2 threads measured no faster here), and idle OpenMP threads
    # spin after each call, which slows the JAX calls interleaved with it on a 2-core machine.
    torch.set_num_threads(1)
    pns_a = torch.tensor(probs)
    reward_t = torch.tensor(reward)[:, None]
    terminated_t = torch.tensor(terminated)[:, None]
    support = torch.tensor(SUPPORT)
    batch_size, atoms = pns_a.shape
    vmin, vmax = support.min().item(), support.max().item()
    delta_z = (vmax - vmin) / (atoms - 1)

    def call():  # DistributionalDQNLoss.forward, TorchRL 0.14.1, the block under no_grad
        with torch.no_grad():
            tz = reward_t + (1 - terminated_t.to(reward_t.dtype)) * GAMMA * support
            tz = tz.clamp_(min=vmin, max=vmax)
            b = (tz - vmin) / delta_z
            low, up = b.floor().to(torch.int64), b.ceil().to(torch.int64)
            low[(up > 0) & (low == up)] -= 1
            up[(low < (atoms - 1)) & (low == up)] += 1
            m = torch.zeros(batch_size, atoms)
            offset = torch.linspace(0, ((batch_size - 1) * atoms), batch_size, dtype=torch.int64)
            offset = offset.unsqueeze(1).expand(batch_size, atoms)
            m.view(-1).index_add_(0, (low + offset).view(-1), (pns_a * (up.float() - b)).view(-1))
            m.view(-1).index_add_(0, (up + offset).view(-1), (pns_a * (b - low.float())).view(-1))
            return m

    return call
