"""CEM planning over an MLP world model: one plan of 1000 candidates, horizon 10, 5 iterations, top 100.

The model: state 3, action 1; dynamics ``s' = s + MLP([s, a])`` and reward ``MLP([s, a])``, each
64x64 tanh, the same weights in every implementation.

* ``jaxrl_modules``: `CEMPlanner` applied to a TensorDict of one state, jitted;
* ``jax``: the same loop hand-written (vmap over candidates, scan over the horizon, top-k);
* ``torchrl``: TorchRL's ``CEMPlanner`` over a batch-unlocked ``EnvBase`` whose step runs the
  same torch MLPs (2 threads, and 1).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.harness import keyed_call, torch_threads
from jaxrl_modules import Bounded, TensorDict
from jaxrl_modules.planners import CEMPlanner

NAME = "cem_plan"
S, A, HIDDEN = 3, 1, 64


def sizes(smoke: bool) -> list[str]:
    return ["C100xH3xI2xK10"] if smoke else ["C1000xH10xI5xK100"]


def _parse(size: str) -> tuple[int, int, int, int]:
    c, h, i, k = (int(p[1:]) for p in size.split("x"))
    return c, h, i, k


def _weights(out: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    dims = [S + A, HIDDEN, HIDDEN, out]
    return [
        w
        for a, b in zip(dims[:-1], dims[1:])
        for w in (rng.normal(size=(a, b)).astype(np.float32) / np.sqrt(a), np.zeros(b, np.float32))
    ]


DYN, REW = _weights(S, 0), _weights(1, 1)


def _mlp(ws, x):
    for j in range(0, len(ws) - 2, 2):
        x = jnp.tanh(x @ ws[j] + ws[j + 1])
    return x @ ws[-2] + ws[-1]


def dynamics(s, a):
    return s + 0.1 * _mlp(DYN, jnp.concatenate([s, a], -1))


def reward(s, a, s2):
    return _mlp(REW, jnp.concatenate([s, a], -1))[..., 0]


def _hand_written(c, h, i, k):
    def plan(key, state):
        def score(seq):
            def body(s, a):
                return dynamics(s, a), reward(s, a, None)

            _, r = jax.lax.scan(body, state, seq)
            return r.sum()

        def iteration(carry, key):
            mean, std = carry
            actions = jnp.clip(mean[None] + std[None] * jax.random.normal(key, (c, h, A)), -1.0, 1.0)
            _, idx = jax.lax.top_k(jax.vmap(score)(actions), k)
            elites = actions[idx]
            return (elites.mean(0), elites.std(0, ddof=1)), None

        (mean, _), _ = jax.lax.scan(iteration, (jnp.zeros((h, A)), jnp.ones((h, A))), jax.random.split(key, i))
        return mean[0]

    def call(key, state):
        key, sub = jax.random.split(key)
        return key, plan(sub, state)

    return call


def implementations(size: str) -> dict[str, Callable[[], object]]:
    c, h, i, k = _parse(size)
    state = jnp.asarray(np.random.default_rng(2).normal(size=(S,)).astype(np.float32))
    planner = CEMPlanner(
        action_spec=Bounded(-1.0, 1.0, shape=(A,)),
        planning_horizon=h,
        optim_steps=i,
        num_candidates=c,
        top_k=k,
        dynamics_fn=dynamics,
        reward_fn=reward,
    )
    td = TensorDict({"observation": state}, batch_size=[])

    def ours(key, td):
        key, sub = jax.random.split(key)
        return key, planner.apply({}, td, rngs={"planning": sub})["action"]

    impls = {
        "jaxrl_modules": keyed_call(ours, jax.random.key(0), td),
        "jax": keyed_call(_hand_written(c, h, i, k), jax.random.key(0), state),
    }
    impls.update(_torchrl(np.asarray(state), c, h, i, k))
    return impls


def torch_model_env():
    """The world model as a TorchRL environment (batch-unlocked, so a planner can expand it over
    its candidates): ``observation`` ``[*B, 3]``, ``action`` in ``[-1, 1]``, ``reward`` ``[*B, 1]``,
    never done. Needs torch, tensordict and torchrl."""
    import torch
    from tensordict import TensorDict as TorchTensorDict
    from torchrl.data import Bounded as TorchBounded
    from torchrl.data import Composite, Unbounded
    from torchrl.envs import EnvBase

    def torch_mlp(ws):
        layers = []
        for j in range(0, len(ws), 2):
            lin = torch.nn.Linear(*ws[j].shape)
            with torch.no_grad():
                lin.weight.copy_(torch.tensor(ws[j].T))
                lin.bias.copy_(torch.tensor(ws[j + 1]))
            layers += [lin, torch.nn.Tanh()]
        return torch.nn.Sequential(*layers[:-1])

    dyn, rew = torch_mlp(DYN), torch_mlp(REW)

    class MLPModelEnv(EnvBase):
        def __init__(self):
            super().__init__(batch_size=torch.Size([]))
            self.observation_spec = Composite(observation=Unbounded(shape=(S,)))
            self.action_spec = TorchBounded(-1.0, 1.0, shape=(A,))
            self.reward_spec = Unbounded(shape=(1,))
            self._batch_locked = False

        def _reset(self, td):
            return TorchTensorDict({"observation": torch.zeros(S)}, [])

        def _step(self, td):
            s, a = td["observation"], td["action"]
            x = torch.cat([s, a], -1)
            done = torch.zeros(*td.batch_size, 1, dtype=torch.bool)
            return TorchTensorDict(
                {"observation": s + 0.1 * dyn(x), "reward": rew(x), "done": done, "terminated": done.clone()},
                td.batch_size,
            )

        def _set_seed(self, seed):
            return seed

    return MLPModelEnv()


def _torchrl(state: np.ndarray, c: int, h: int, i: int, k: int) -> dict[str, Callable[[], object]]:
    try:
        import torch
        from tensordict import TensorDict as TorchTensorDict
        from torchrl.modules.planners import CEMPlanner as TorchCEM
    except ImportError:
        return {}

    planner = TorchCEM(torch_model_env(), planning_horizon=h, optim_steps=i, num_candidates=c, top_k=k)
    td = TorchTensorDict({"observation": torch.tensor(state)}, [])

    def call():
        with torch.no_grad():
            return planner(td.clone())["action"]

    return torch_threads(call)
