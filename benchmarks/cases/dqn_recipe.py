"""A whole DQN training run on CartPole-v1: the recipe against hand-written JAX and TorchRL.

All three implementations use the DQN recipe's default config (purejaxrl's hyperparameters):

* ``jaxrl_modules``: ``jax.jit(jaxrl_modules.recipes.dqn.make_train(DQNConfig()))``, the whole
  run (500_000 environment steps, 25 greedy evaluations of 16 episodes) as one compiled call;
* ``jax``: `benchmarks.baselines.dqn_jax`, the same run hand-written on raw gymnax, flax.linen
  and optax, with the same chunks and evaluations;
* ``torchrl``: `benchmarks.baselines.dqn_torchrl`, TorchRL's QValueActor + EGreedyModule, a
  Collector over gymnasium's CartPole-v1, a ReplayBuffer and a DQNLoss, run with 1 torch thread
  (the steadier setting on a shared CPU, see `benchmarks.harness.torch_threads`). A full run takes
  minutes at its speed, so it is timed over ``learning_starts`` frames of buffer filling and
  ``TORCHRL_LEARN_FRAMES`` frames of learning (in two rounds), and its full run is extrapolated
  from the rates (it does no evaluation: its figure is, if anything, flattering).

Timings are in microseconds per environment step of the run (the size column says so): for the
two JAX runs, the run's time (compilation apart: ``first_call_s`` holds the compile time) over
its steps, so jaxrl/jax is the ratio of run times; torchrl/jaxrl is the ratio of frames per
second. The JAX runs are timed ``REPEATS`` times each, interleaved, with the seeds 0, 1, ...
Printed to stderr beside the table: their final greedy returns; their wall and CPU times, medians
and minima (on a shared machine the fastest run is the least disturbed one, and the ratio of the
minima the steadier figure); the compile times; TorchRL's frame rates.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import jax

from benchmarks.harness import Timing

NAME = "dqn_recipe"
REPEATS, SMOKE_REPEATS = 5, 1
TORCHRL_LEARN_FRAMES, SMOKE_TORCHRL_LEARN_FRAMES = 20_000, 50
# The smoke run: a few hundred steps, every code path (learning, target copies, evaluations) taken.
SMOKE = dict(total_timesteps=600, learning_starts=200, buffer_size=500, num_chunks=2, num_eval_envs=2)


def sizes(smoke: bool) -> list[str]:
    return [f"{SMOKE['total_timesteps']} steps, us/step"] if smoke else ["500000 steps, us/step"]


def recipe_config(smoke: bool):
    """The recipe's config: its defaults, or the smoke run's tiny budget."""
    from jaxrl_modules.recipes.dqn import DQNConfig

    return DQNConfig(**SMOKE) if smoke else DQNConfig()


def baseline_config(config: Any) -> dict[str, Any]:
    """`benchmarks.baselines.dqn_jax.CONFIG` holding the same values as a ``DQNConfig``."""
    import gymnax

    _, params = gymnax.make(config.env_name)
    return {
        "env_name": config.env_name,
        "num_envs": config.num_envs,
        "total_timesteps": config.total_timesteps,
        "buffer_size": config.buffer_size,
        "batch_size": config.batch_size,
        "eps_start": config.eps_init,
        "eps_end": config.eps_end,
        "eps_anneal_steps": config.annealing_num_steps,
        "target_update_interval": config.target_update_interval,
        "lr": config.learning_rate,
        "learning_starts": config.learning_starts,
        "train_interval": config.train_frequency,
        "gamma": config.gamma,
        "hidden": tuple(config.num_cells),
        "num_chunks": config.num_chunks,
        "eval_envs": config.num_eval_envs,
        "eval_steps": int(params.max_steps_in_episode),
    }


def _compile(train) -> tuple[Any, float]:
    key = jax.random.key(0)
    start = time.perf_counter()
    compiled = jax.jit(train).lower(key).compile()
    return compiled, time.perf_counter() - start


def _timing(seconds: list[float], steps: int, first_s: float) -> Timing:
    per_step = [s / steps * 1e6 for s in seconds]
    q = statistics.quantiles(per_step, n=4) if len(per_step) > 1 else [per_step[0]] * 3
    return Timing(statistics.median(per_step), q[2] - q[0], first_s, len(per_step), 1)


def timings(size: str, smoke: bool) -> dict[str, Timing]:
    """Times the three implementations (see the module docstring) and prints a summary to stderr."""
    from benchmarks.baselines import dqn_jax
    from jaxrl_modules.recipes.common import make_train
    from jaxrl_modules.recipes.dqn import make_recipe

    config = recipe_config(smoke)
    recipe = make_recipe(config)
    steps = recipe.num_chunks * recipe.steps_per_chunk
    base = baseline_config(config)
    runs = {"jaxrl_modules": _compile(make_train(recipe)), "jax": _compile(dqn_jax.make_train(base))}
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    finals: dict[str, list[float]] = {name: [] for name in runs}
    for seed in range(SMOKE_REPEATS if smoke else REPEATS):
        order = list(runs) if seed % 2 == 0 else list(runs)[::-1]  # interleaved, alternating who goes first
        for name in order:
            start, start_cpu = time.perf_counter(), time.process_time()
            _, metrics = jax.block_until_ready(runs[name][0](jax.random.key(seed)))
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
            finals[name].append(round(float(metrics["return"][-1]), 1))
    out = {name: _timing(wall[name], steps, compile_s) for name, (_, compile_s) in runs.items()}

    def med_min(d: dict[str, list[float]]) -> str:
        ours, theirs = d["jaxrl_modules"], d["jax"]
        cells = ", ".join(f"{k} {statistics.median(v):.2f} / {min(v):.2f}" for k, v in d.items())
        return (
            f"{cells}; jaxrl/jax {statistics.median(ours) / statistics.median(theirs):.3f}x / "
            f"{min(ours) / min(theirs):.3f}x"
        )

    # On a shared machine a run's time swings with the other jobs (wall and CPU time alike: caches,
    # frequency); the fastest run is the least disturbed, so the minima are shown beside the medians.
    summary = [
        f"{NAME}: final greedy return per seed: " + ", ".join(f"{k} {v}" for k, v in finals.items()),
        f"{NAME}: wall s per run (median / min): {med_min(wall)}",
        f"{NAME}: CPU s per run (median / min): {med_min(cpu)}",
        f"{NAME}: compile s: " + ", ".join(f"{k} {c:.1f}" for k, (_, c) in runs.items()),
    ]
    rates = _torchrl_rates(base, smoke)
    if rates is not None:
        from benchmarks.baselines.dqn_torchrl import estimated_run_s

        run_s, best_s = estimated_run_s(rates, steps), estimated_run_s(rates, steps, best=True)
        out["torchrl"] = Timing(run_s / steps * 1e6, 0.0, 0.0, 1, 1)
        ours = wall["jaxrl_modules"]
        summary.append(
            f"{NAME}: torchrl (1 thread): {rates['prefill_fps']:,.0f} frames/s filling the buffer, "
            f"{rates['learn_fps']:,.0f} learning (faster round {rates['learn_fps_best']:,.0f}); a {steps}-frame "
            f"run ~{run_s:,.0f} s (~{best_s:,.0f} s at the faster round); torchrl/jaxrl "
            f"{run_s / statistics.median(ours):.1f}x (medians) / {best_s / min(ours):.1f}x (fastest)"
        )
    print("\n".join(summary), file=sys.stderr)
    return out


def _torchrl_rates(base: dict[str, Any], smoke: bool) -> dict[str, float] | None:
    """TorchRL's frame rates (`benchmarks.baselines.dqn_torchrl.measure`), or None without TorchRL."""
    try:
        from benchmarks.baselines import dqn_torchrl

        frames = SMOKE_TORCHRL_LEARN_FRAMES if smoke else TORCHRL_LEARN_FRAMES
        return dqn_torchrl.measure(base, frames, threads=1, rounds=2)
    except ImportError:  # torchrl or gymnasium absent: the JAX columns only
        return None
