"""DQN on a discrete gymnax environment, hand-written in pure JAX: the baseline for the DQN recipe.

purejaxrl's style (``make_train(config) -> train(key)``, one ``lax.scan``, ``jax.vmap`` over seeds)
and purejaxrl's hyperparameters for CartPole-v1 (`CONFIG`): 10 environments, a 10_000-transition
replay ring, batches of 128, epsilon 1.0 -> 0.05 over 250_000 steps, a hard target update every
500 steps, Adam at 2.5e-4, learning from step 10_000 on, one update per 10 environment steps, an
MLP 120-84 with ReLU. Written from scratch on raw gymnax calls, flax.linen and optax: no
jaxrl_modules, so that the recipe's cost over it is the cost of the library's layer.

Unlike purejaxrl, the buffer stores each transition with its true next observation (gymnax's
``info["final_observation"]`` where an episode ended) and bootstraps through truncations (only
``terminated`` stops the target), and the run is cut into ``num_chunks`` chunks that each end with a
greedy evaluation, as the recipes' runs are, so that both do the same work.

Example::

    import jax
    from benchmarks.baselines.dqn_jax import CONFIG, make_train

    train = jax.jit(make_train({**CONFIG, "total_timesteps": 50_000, "num_chunks": 5}))
    state, metrics = train(jax.random.key(0))
    metrics["return"]          # [5]: mean greedy return after each chunk
"""

from __future__ import annotations

from typing import Any, NamedTuple

import flax.linen as nn
import gymnax
import jax
import jax.numpy as jnp
import optax

__all__ = ["CONFIG", "QNetwork", "make_train"]

CONFIG: dict[str, Any] = {
    "env_name": "CartPole-v1",
    "num_envs": 10,
    "total_timesteps": 500_000,
    "buffer_size": 10_000,
    "batch_size": 128,
    "eps_start": 1.0,
    "eps_end": 0.05,
    "eps_anneal_steps": 250_000,
    "target_update_interval": 500,
    "lr": 2.5e-4,
    "learning_starts": 10_000,
    "train_interval": 10,
    "gamma": 0.99,
    "hidden": (120, 84),
    "num_chunks": 25,
    "eval_envs": 16,
    "eval_steps": 500,
}


class QNetwork(nn.Module):
    """observation ``[..., obs]`` -> Q-values ``[..., num_actions]``: an MLP with ReLU."""

    num_actions: int
    hidden: tuple[int, ...] = (120, 84)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        for width in self.hidden:
            x = nn.relu(nn.Dense(width)(x))
        return nn.Dense(self.num_actions)(x)


class Buffer(NamedTuple):
    """A ring of transitions, one row each; ``size`` of them written so far (at most capacity)."""

    obs: jax.Array
    action: jax.Array
    reward: jax.Array
    next_obs: jax.Array
    terminated: jax.Array
    position: jax.Array
    size: jax.Array


class RunState(NamedTuple):
    params: Any
    target_params: Any
    opt_state: Any
    buffer: Buffer
    env_state: Any
    obs: jax.Array
    timesteps: jax.Array
    key: jax.Array


def make_train(config: dict[str, Any]):
    """``train(key) -> (final RunState, metrics)``, metrics of shape ``[num_chunks]``.

    Args:
      config: `CONFIG`'s keys (all of them).

    Returns:
      ``train``: pure and jittable; ``jax.vmap`` it over keys for several seeds.
    """
    c = dict(config)
    n = c["num_envs"]
    iterations = c["total_timesteps"] // n
    if iterations % c["num_chunks"] or iterations < c["num_chunks"]:
        raise ValueError(
            f"total_timesteps // num_envs = {iterations} must be a positive multiple of num_chunks = {c['num_chunks']}."
        )
    per_chunk = iterations // c["num_chunks"]
    env, env_params = gymnax.make(c["env_name"])
    num_actions = env.action_space(env_params).n
    obs_shape = env.observation_space(env_params).shape
    network = QNetwork(num_actions, tuple(c["hidden"]))
    tx = optax.adam(c["lr"])

    def env_reset(key, count):
        return jax.vmap(env.reset, (0, None))(jax.random.split(key, count), env_params)

    def env_step(key, state, action):
        return jax.vmap(env.step, (0, 0, 0, None))(jax.random.split(key, action.shape[0]), state, action, env_params)

    def epsilon(t):
        frac = jnp.clip(t / c["eps_anneal_steps"], 0.0, 1.0)
        return c["eps_start"] + frac * (c["eps_end"] - c["eps_start"])

    def learn(params, target_params, opt_state, buffer, key):
        index = jax.random.randint(key, (c["batch_size"],), 0, buffer.size)
        obs, action, reward = buffer.obs[index], buffer.action[index], buffer.reward[index]
        q_next = network.apply(target_params, buffer.next_obs[index]).max(-1)
        target = reward + c["gamma"] * (1.0 - buffer.terminated[index]) * q_next

        def loss_fn(params):
            q = jnp.take_along_axis(network.apply(params, obs), action[:, None], axis=-1)[:, 0]
            return jnp.mean((q - target) ** 2)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def iteration(s: RunState, _):
        key, k_coin, k_rand, k_env, k_learn = jax.random.split(s.key, 5)
        # Act: e-greedy on the online network.
        greedy = network.apply(s.params, s.obs).argmax(-1)
        explore = jax.random.uniform(k_coin, (n,)) < epsilon(s.timesteps)
        action = jnp.where(explore, jax.random.randint(k_rand, (n,), 0, num_actions), greedy)
        obs, env_state, reward, terminated, _, info = env_step(k_env, s.env_state, action)
        timesteps = s.timesteps + n
        # Store: the true next observation, even where gymnax has already reset.
        b = s.buffer
        rows = (b.position + jnp.arange(n)) % c["buffer_size"]
        buffer = Buffer(
            b.obs.at[rows].set(s.obs),
            b.action.at[rows].set(action),
            b.reward.at[rows].set(reward),
            b.next_obs.at[rows].set(info["final_observation"]),
            b.terminated.at[rows].set(terminated.astype(jnp.float32)),
            (b.position + n) % c["buffer_size"],
            jnp.minimum(b.size + n, c["buffer_size"]),
        )
        # Learn every train_interval steps once past learning_starts; copy the target on schedule.
        learn_now = (timesteps > c["learning_starts"]) & (timesteps % c["train_interval"] == 0)
        params, opt_state, loss = jax.lax.cond(
            learn_now,
            lambda: learn(s.params, s.target_params, s.opt_state, buffer, k_learn),
            lambda: (s.params, s.opt_state, jnp.zeros(())),
        )
        target_params = jax.lax.cond(
            timesteps % c["target_update_interval"] == 0, lambda: params, lambda: s.target_params
        )
        new = RunState(params, target_params, opt_state, buffer, env_state, obs, timesteps, key)
        return new, loss

    def evaluate(params, key):
        """Mean return of one greedy episode per environment (no resets; rewards after done masked)."""
        k_reset, k_steps = jax.random.split(key)
        obs, state = env_reset(k_reset, c["eval_envs"])

        def body(carry, k):
            obs, state, alive, total = carry
            action = network.apply(params, obs).argmax(-1)
            # step_env: no automatic reset (nothing is counted after an episode's end anyway).
            obs, state, reward, done, _ = jax.vmap(env.step_env, (0, 0, 0, None))(
                jax.random.split(k, c["eval_envs"]), state, action, env_params
            )
            total = total + jnp.where(alive, reward, 0.0)
            return (obs, state, alive & ~done, total), None

        init = (obs, state, jnp.ones(c["eval_envs"], bool), jnp.zeros(c["eval_envs"]))
        (_, _, _, total), _ = jax.lax.scan(body, init, jax.random.split(k_steps, c["eval_steps"]))
        return total.mean()

    def chunk(s: RunState, _):
        s, losses = jax.lax.scan(iteration, s, None, length=per_chunk)
        key, k_eval = jax.random.split(s.key)
        metrics = {"return": evaluate(s.params, k_eval), "loss": losses.mean(), "timesteps": s.timesteps}
        return s._replace(key=key), metrics

    def train(key: jax.Array):
        k_net, k_env, key = jax.random.split(key, 3)
        obs, env_state = env_reset(k_env, n)
        params = network.init(k_net, jnp.zeros(obs_shape))
        size = c["buffer_size"]
        buffer = Buffer(
            jnp.zeros((size, *obs_shape)),
            jnp.zeros(size, jnp.int32),
            jnp.zeros(size),
            jnp.zeros((size, *obs_shape)),
            jnp.zeros(size),
            jnp.zeros((), jnp.int32),
            jnp.zeros((), jnp.int32),
        )
        # gymnax's reset leaves weakly typed leaves that its step makes strong; a scan carry must not
        # change type, so they are made strong here.
        env_state = jax.tree.map(lambda x: jnp.asarray(x, jnp.result_type(x)), env_state)
        state = RunState(params, params, tx.init(params), buffer, env_state, obs, jnp.zeros((), jnp.int32), key)
        return jax.lax.scan(chunk, state, None, length=c["num_chunks"])

    return train


if __name__ == "__main__":
    import argparse
    import time

    parser = argparse.ArgumentParser(description="Train the hand-written JAX DQN and time it.")
    parser.add_argument("--steps", type=int, default=CONFIG["total_timesteps"])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    train = jax.jit(jax.vmap(make_train({**CONFIG, "total_timesteps": args.steps})))
    keys = jax.random.split(jax.random.key(args.seed), args.seeds)
    start = time.perf_counter()
    compiled = train.lower(keys).compile()
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    _, metrics = jax.block_until_ready(compiled(keys))
    run_s = time.perf_counter() - start
    final = metrics["return"][:, -1]
    print(f"final greedy return per seed: {final.tolist()}")
    print(f"returns per chunk (seed 0): {metrics['return'][0].round(1).tolist()}")
    print(f"compile {compile_s:.1f} s, run {run_s:.1f} s ({args.seeds * args.steps / run_s:,.0f} env steps/s)")
