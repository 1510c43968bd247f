"""Vectorised CartPole rollout under an MLP -> QValueActor -> EGreedyModule policy.

One call runs ``T = 500`` steps of ``N`` environments (``N * T`` env steps; env steps per second =
``N * T / time``), collecting observations, actions, rewards and the done flags:

* ``jaxrl_modules``: ``GymnaxEnv(...).rollout(T, policy)`` jitted, the policy a
  ``TensorDictSequential(QValueActor(MLP), EGreedyModule)``, TensorDicts all the way;
* ``jax``: the same q-network (same weights), greedy + e-greedy and gymnax's auto-resetting
  ``env.step`` hand-written on arrays in a ``lax.scan`` (purejaxrl style);
* ``torchrl``: TorchRL's ``QValueActor`` + ``EGreedyModule`` driving ``GymEnv("CartPole-v1",
  num_envs=N)`` (gymnasium's vector env) through ``env.rollout(T, policy,
  break_when_any_done=False)``, at ``N = 10`` only: at ``N = 1000`` one call takes minutes.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from benchmarks.harness import keyed_call, torch_threads
from jaxrl_modules import MLP, EGreedyModule, QValueActor, TensorDictSequential
from jaxrl_modules.envs import GymnaxEnv

NAME = "cartpole_rollout"
STEPS, EPS, CELLS = 500, 0.1, [64, 64]


def sizes(smoke: bool) -> list[str]:
    return ["4x10"] if smoke else [f"10x{STEPS}", f"1000x{STEPS}"]


def implementations(size: str) -> dict[str, Callable[[], object]]:
    n, steps = (int(x) for x in size.split("x"))
    env = GymnaxEnv("CartPole-v1", batch_size=(n,))
    policy = TensorDictSequential(
        QValueActor(MLP(out_features=2, num_cells=CELLS), spec=env.action_spec),
        EGreedyModule(env.action_spec, eps_init=EPS, eps_end=EPS),
    )
    variables = policy.init(
        {"params": jax.random.key(0), "exploration": jax.random.key(0)}, env.reset(jax.random.key(0))
    )
    q_net = MLP(out_features=2, num_cells=CELLS)
    q_params = {"params": variables["params"]["modules_0"]["modules_0"]["module"]}

    def ours(key, variables):
        key, sub = jax.random.split(key)
        act = lambda td, k: policy.apply(variables, td, rngs={"exploration": k})  # noqa: E731
        out = env.rollout(steps, act, key=sub)
        return key, out["observation"], out["action"], out["next", "reward"], out["next", "done"]

    gym, params = env.env, env.params

    def hand_written(key, q_params):
        key, k_reset, k_steps = jax.random.split(key, 3)
        obs, state = jax.vmap(gym.reset, (0, None))(jax.random.split(k_reset, n), params)

        def body(carry, k):
            obs, state = carry
            k_coin, k_rand, k_env = jax.random.split(k, 3)
            q = q_net.apply(q_params, obs)
            greedy = jnp.argmax(q, axis=-1)
            explore = jax.random.uniform(k_coin, (n,)) < EPS
            action = jnp.where(explore, jax.random.randint(k_rand, (n,), 0, 2), greedy).astype(jnp.int32)
            nobs, state, reward, term, trunc, _ = jax.vmap(gym.step, (0, 0, 0, None))(
                jax.random.split(k_env, n), state, action, params
            )
            return (nobs, state), (obs, jax.nn.one_hot(action, 2, dtype=jnp.int32), reward, term | trunc)

        _, (o, a, r, d) = jax.lax.scan(body, (obs, state), jax.random.split(k_steps, steps))
        return key, o, a, r, d

    impls = {
        "jaxrl_modules": keyed_call(ours, jax.random.key(1), variables),
        "jax": keyed_call(hand_written, jax.random.key(1), q_params),
    }
    if n <= 10:
        impls.update(_torchrl(n, steps))
    return impls


def _torchrl(n: int, steps: int) -> dict[str, Callable[[], object]]:
    try:
        import torch
        from tensordict.nn import TensorDictSequential as TorchSequential
        from torchrl.envs import GymEnv
        from torchrl.modules import MLP as TorchMLP
        from torchrl.modules import EGreedyModule as TorchEGreedy
        from torchrl.modules import QValueActor as TorchQValueActor
    except ImportError:
        return {}
    env = GymEnv("CartPole-v1", num_envs=n)
    actor = TorchQValueActor(TorchMLP(out_features=2, num_cells=CELLS), in_keys=["observation"], spec=env.action_spec)
    policy = TorchSequential(actor, TorchEGreedy(env.action_spec, eps_init=EPS, eps_end=EPS))
    env.set_seed(0)

    def call():
        with torch.no_grad():
            return env.rollout(steps, policy, break_when_any_done=False)["next", "reward"]

    return torch_threads(call)
