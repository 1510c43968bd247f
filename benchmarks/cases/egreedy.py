"""E-greedy on a batch of greedy actions: what ``EGreedyModule`` adds to a DQN policy per step.

One call replaces each of ``B`` categorical actions (18 actions, as Atari) by a uniform random
one with probability eps, eps annealed from a step counter. JAX implementations are one jitted
``(key, ...) -> (next_key, action)`` with the key threaded as in a training loop:

* ``jaxrl_modules``: ``EGreedyModule(Categorical(18)).apply(variables, td, rngs=...)``, eps from
  the ``"schedule"`` collection; ``[rbg]`` / ``[unsafe_rbg]``: the same with those key types;
* ``jax``: hand-written: eps from the same count, ``uniform(B) < eps``, ``randint``, ``where``;
* ``torchrl``: TorchRL's ``EGreedyModule`` on a tensordict, eager (2 torch threads, and 1).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.harness import keyed_call, torch_threads
from jaxrl_modules import Categorical, EGreedyModule, TensorDict

NAME = "egreedy"
N_ACTIONS = 18
EPS_INIT, EPS_END, ANNEALING = 1.0, 0.05, 10_000


def sizes(smoke: bool) -> list[str]:
    return ["4"] if smoke else ["16", "4096"]


def _hand_written(key, count, action):
    key, sub = jax.random.split(key)  # as every implementation: one subkey per policy step
    coin_key, rand_key = jax.random.split(sub)
    eps = jnp.maximum(EPS_END, EPS_INIT - count.astype(jnp.float32) * ((EPS_INIT - EPS_END) / ANNEALING))
    coin = jax.random.uniform(coin_key, action.shape) < eps
    random = jax.random.randint(rand_key, action.shape, 0, N_ACTIONS, action.dtype)
    return key, jnp.where(coin, random, action)


def implementations(size: str) -> dict[str, Callable[[], object]]:
    batch = int(size)
    action = jax.random.randint(jax.random.key(0), (batch,), 0, N_ACTIONS, jnp.int32)
    td = TensorDict({"action": action}, batch_size=[batch])
    module = EGreedyModule(Categorical(N_ACTIONS), eps_init=EPS_INIT, eps_end=EPS_END, annealing_num_steps=ANNEALING)
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
        from torchrl.data import Categorical as TorchCategorical
        from torchrl.modules import EGreedyModule as TorchEGreedy
    except ImportError:
        return {}
    module = TorchEGreedy(
        TorchCategorical(N_ACTIONS), eps_init=EPS_INIT, eps_end=EPS_END, annealing_num_steps=ANNEALING
    )
    module.step(5_000)
    greedy = torch.tensor(action, dtype=torch.long)

    def call():  # a fresh tensordict per call, as a collector's policy step gets
        with torch.no_grad():
            return module(TorchTensorDict({"action": greedy}, batch_size=[len(greedy)]))["action"]

    return torch_threads(call)
