"""The recipes' learning figures: each default config trained from ``jax.random.key(seed)``.

    python -m benchmarks.recipes dqn [--seeds 0 1 2 3 4] [--set FIELD=VALUE ...]

One jitted ``make_train(config)`` per algorithm (compiled once, timed apart), then one run per
seed; prints each seed's final greedy evaluation return (the last chunk's ``"return"``; for MPC
the mean return of its episodes), when a learner first reached its target, and the run's wall
time.
"""

from __future__ import annotations

import argparse
import importlib
import time

import jax
import numpy as np

from jaxrl_modules.recipes import ALGOS

TARGETS = {"dqn": 475.0, "rainbow": 475.0, "ppo": -250.0, "td3": -200.0, "mpc": -200.0}


def main(argv: list[str] | None = None) -> None:
    from jaxrl_modules.demo import _parse_overrides, build_config

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("algo", choices=sorted(ALGOS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    args = parser.parse_args(argv)
    module = importlib.import_module(ALGOS[args.algo][0])
    config = build_config(args.algo, overrides=_parse_overrides(args.set))
    recipe = module.make_recipe(config)
    train = jax.jit(module.make_train(config))
    start = time.perf_counter()
    compiled = train.lower(jax.random.key(args.seeds[0])).compile()
    print(f"{args.algo}: {config}\ncompile {time.perf_counter() - start:.1f} s")
    for seed in args.seeds:
        start = time.perf_counter()
        _, metrics = jax.block_until_ready(compiled(jax.random.key(seed)))
        returns = np.asarray(metrics["return"])
        reached = np.flatnonzero(returns >= TARGETS[args.algo])
        first = f"{(reached[0] + 1) * recipe.steps_per_chunk} steps" if reached.size else "never"
        learning = "" if args.algo == "mpc" else f"  target {TARGETS[args.algo]} first reached after {first}"
        print(
            f"seed {seed}: final return {returns[-1]:8.1f}{learning}  run {time.perf_counter() - start:.1f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
