"""Additive Gaussian exploration on continuous actions: what ``AdditiveGaussianModule`` adds per step.

One call adds ``sigma * N(0, 1)`` to ``B`` actions of dimension 6 (sigma annealed from a step
counter) and clamps them to ``[-1, 1]``, as a TD3 policy step does. JAX implementations are one
jitted ``(key, ...) -> (next_key, action)`` with the key threaded:

* ``jaxrl_modules``: ``AdditiveGaussianModule(Bounded(-1, 1, (6,))).apply(...)``; ``[rbg]`` /
  ``[unsafe_rbg]``: the same with those key types;
* ``jax``: hand-written: sigma from the same count, ``a + sigma * normal``, ``clip``;
* ``torchrl``: TorchRL's ``AdditiveGaussianModule`` on a tensordict, eager (2 threads, and 1).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.harness import keyed_call, torch_threads
from jaxrl_modules import AdditiveGaussianModule, Bounded, TensorDict

NAME = "additive_gaussian"
DIM = 6
SIGMA_INIT, SIGMA_END, ANNEALING = 1.0, 0.1, 10_000


def sizes(smoke: bool) -> list[str]:
    return ["4"] if smoke else ["16", "4096"]


def _hand_written(key, count, action):
    key, sub = jax.random.split(key)
    sigma = jnp.maximum(SIGMA_END, SIGMA_INIT - count.astype(jnp.float32) * ((SIGMA_INIT - SIGMA_END) / ANNEALING))
    return key, jnp.clip(action + sigma * jax.random.normal(sub, action.shape), -1.0, 1.0)


def implementations(size: str) -> dict[str, Callable[[], object]]:
    batch = int(size)
    action = jax.random.uniform(jax.random.key(0), (batch, DIM), minval=-1.0, maxval=1.0)
    td = TensorDict({"action": action}, batch_size=[batch])
    module = AdditiveGaussianModule(
        Bounded(-1.0, 1.0, shape=(DIM,)), sigma_init=SIGMA_INIT, sigma_end=SIGMA_END, annealing_num_steps=ANNEALING
    )
    variables = module.step(module.init(jax.random.key(0), td), 5_000)

    def ours(key, variables, td):
        key, sub = jax.random.split(key)
        return key, module.apply(variables, td, rngs={"exploration": sub})["action"]

    count = variables["schedule"]["step"]
    impls = {
        "jaxrl_modules": keyed_call(ours, jax.random.key(1), variables, td),
        "jax": keyed_call(_hand_written, jax.random.key(1), count, action),
        "jaxrl_modules[rbg]": keyed_call(ours, jax.random.key(1, impl="rbg"), variables, td),
        "jaxrl_modules[unsafe_rbg]": keyed_call(ours, jax.random.key(1, impl="unsafe_rbg"), variables, td),
    }
    impls.update(_torchrl(np.asarray(action)))
    return impls


def _torchrl(action: np.ndarray) -> dict[str, Callable[[], object]]:
    try:
        import torch
        from tensordict import TensorDict as TorchTensorDict
        from torchrl.data import Bounded as TorchBounded
        from torchrl.modules import AdditiveGaussianModule as TorchGaussian
    except ImportError:
        return {}
    module = TorchGaussian(
        TorchBounded(-1.0, 1.0, shape=(DIM,)), sigma_init=SIGMA_INIT, sigma_end=SIGMA_END, annealing_num_steps=ANNEALING
    )
    module.step(5_000)
    mean_action = torch.tensor(action)

    def call():
        with torch.no_grad():
            return module(TorchTensorDict({"action": mean_action}, batch_size=[len(mean_action)]))["action"]

    return torch_threads(call)
