"""Ornstein-Uhlenbeck exploration over a 1000-step rollout: per-environment state carried per step.

One call runs ``T = 1000`` steps for ``B`` environments with 6-dim actions: each step adds the
process's next value to the action, carries ``_ou_prev_noise`` / ``_ou_steps``, and restarts the
environments whose ``is_init`` is set (every 200th step here). The table's figure is per call;
divide by 1000 for per step.

* ``jaxrl_modules``: ``OrnsteinUhlenbeckProcessModule`` applied to a TensorDict inside one jitted
  ``lax.scan``; ``[rbg]`` / ``[unsafe_rbg]``: the same with those key types;
* ``jax``: the same process hand-written on arrays inside ``lax.scan``;
* ``torchrl``: TorchRL's ``OrnsteinUhlenbeckProcessModule`` called 1000 times on a tensordict
  that carries its state, eager, as a collector steps it (2 threads, and 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.harness import keyed_call, torch_threads
from jaxrl_modules import Bounded, OrnsteinUhlenbeckProcessModule, TensorDict

NAME = "ou_process"
DIM, STEPS, EPISODE = 6, 1000, 200
THETA, SIGMA, DT = 0.15, 0.2, 1e-2


def sizes(smoke: bool) -> list[str]:
    return ["4x10"] if smoke else [f"16x{STEPS}", f"4096x{STEPS}"]


def _resets(steps: int) -> np.ndarray:
    return np.arange(steps) % EPISODE == 0


def _hand_written(key, action, resets):
    def body(carry, reset):
        key, noise, count = carry
        key, sub = jax.random.split(key)
        reset = jnp.broadcast_to(reset, count.shape)  # per environment, as a vectorised env resets
        noise = jnp.where(reset[:, None], 0.0, noise)
        count = jnp.where(reset, 0, count)
        noise = noise - THETA * noise * DT + SIGMA * math.sqrt(DT) * jax.random.normal(sub, noise.shape)
        return (key, noise, count + 1), jnp.clip(action + noise, -1.0, 1.0)

    init = (key, jnp.zeros_like(action), jnp.zeros(action.shape[:1], jnp.int32))
    (key, _, _), actions = jax.lax.scan(body, init, resets)
    return key, actions[-1]


def implementations(size: str) -> dict[str, Callable[[], object]]:
    batch, steps = (int(x) for x in size.split("x"))
    action = jax.random.uniform(jax.random.key(0), (batch, DIM), minval=-1.0, maxval=1.0)
    resets = jnp.asarray(_resets(steps))
    module = OrnsteinUhlenbeckProcessModule(Bounded(-1.0, 1.0, shape=(DIM,)), theta=THETA, sigma=SIGMA, dt=DT)
    td0 = TensorDict(
        {
            "action": action,
            "is_init": jnp.ones((batch, 1), bool),
            "_ou_prev_noise": jnp.zeros((batch, DIM)),
            "_ou_steps": jnp.zeros((batch,), jnp.int32),
        },
        batch_size=[batch],
    )
    variables = module.init(jax.random.key(0), td0)

    def ours(key, variables, td, resets):
        def body(carry, reset):
            key, td = carry
            key, sub = jax.random.split(key)
            td = td.set("action", action).set("is_init", jnp.broadcast_to(reset, (batch, 1)))
            td = module.apply(variables, td, rngs={"exploration": sub})
            return (key, td), td["action"]

        (key, _), actions = jax.lax.scan(body, (key, td), resets)
        return key, actions[-1]

    impls = {
        "jaxrl_modules": keyed_call(ours, jax.random.key(1), variables, td0, resets),
        "jax": keyed_call(_hand_written, jax.random.key(1), action, resets),
        "jaxrl_modules[rbg]": keyed_call(ours, jax.random.key(1, impl="rbg"), variables, td0, resets),
        "jaxrl_modules[unsafe_rbg]": keyed_call(ours, jax.random.key(1, impl="unsafe_rbg"), variables, td0, resets),
    }
    impls.update(_torchrl(np.asarray(action), steps))
    return impls


def _torchrl(action: np.ndarray, steps: int) -> dict[str, Callable[[], object]]:
    try:
        import torch
        from tensordict import TensorDict as TorchTensorDict
        from torchrl.data import Bounded as TorchBounded
        from torchrl.modules import OrnsteinUhlenbeckProcessModule as TorchOU
    except ImportError:
        return {}
    module = TorchOU(TorchBounded(-1.0, 1.0, shape=(DIM,)), theta=THETA, sigma=SIGMA, dt=DT)
    batch = action.shape[0]
    action_t = torch.tensor(action)
    resets = [torch.full((batch, 1), bool(r)) for r in _resets(steps)]

    def call():
        with torch.no_grad():
            td = TorchTensorDict({"action": action_t, "is_init": resets[0]}, batch_size=[batch])
            for reset in resets:
                td = module(td.set("action", action_t).set("is_init", reset))
            return td["action"]

    return torch_threads(call)
