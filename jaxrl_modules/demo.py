"""The main job: ``python -m jaxrl_modules.demo``.

Until the training recipes land, a short showcase: a QValueActor (an MLP Q-network and a greedy
Q-value module) over TensorDicts, specs that sample and project, and the same policy jitted,
vmapped over environments and scanned over time.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp

from jaxrl_modules import MLP, Bounded, Composite, OneHot, QValueActor, TensorDict


def build_policy(num_actions: int) -> QValueActor:
    """observation -> action_value (an MLP) -> greedy one-hot action and its value."""
    q_net = MLP(out_features=num_actions, num_cells=[64, 64], activation_class="ReLU")
    return QValueActor(q_net, in_keys=["observation"], spec=OneHot(num_actions), safe=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", type=int, default=8, help="environments run side by side (vmap)")
    parser.add_argument("--steps", type=int, default=1000, help="steps per rollout (lax.scan)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    key_init, key_obs = jax.random.split(jax.random.key(args.seed))
    spec = Composite(observation=Bounded(-1.0, 1.0, shape=(4,)))
    policy = build_policy(num_actions=2)

    td = spec.rand(key_obs, (args.envs,))
    variables = policy.init(key_init, td)
    print("A batch of observations sampled from the spec, after the policy:")
    print(jax.jit(policy.apply)(variables, td))

    def step(state: TensorDict, _):
        """Toy dynamics: the chosen action pushes the observation up or down; clipped to the spec."""
        td = policy.apply(variables, state)
        push = jnp.where(td["action"][..., :1], 0.1, -0.1)
        obs = spec["observation"].project(td["observation"] + push)
        return state.set("observation", obs), td.select("action", "action_value", "chosen_action_value")

    @jax.jit
    def rollout(td: TensorDict) -> TensorDict:
        return jax.lax.scan(step, td, None, length=args.steps)[1]

    # One environment's rollout, vmapped over the environments' axis.
    batched = jax.jit(jax.vmap(rollout))
    start = time.perf_counter()
    traj = jax.block_until_ready(batched(td))
    compile_and_run = time.perf_counter() - start
    start = time.perf_counter()
    traj = jax.block_until_ready(batched(td))
    run = time.perf_counter() - start

    print(f"\nRollout TensorDict: batch_size {traj.batch_size} (envs, steps)")
    print(f"Fraction of 'push up' actions: {float(traj['action'][..., 0].mean()):.3f}")
    print(
        f"{args.envs * args.steps} policy steps in {run * 1e3:.1f} ms "
        f"({args.envs * args.steps / run:,.0f} steps/s; first call with compilation {compile_and_run:.2f} s)"
    )


if __name__ == "__main__":
    main()
