"""The main job: train a recipe on a gymnax environment, several seeds at once, and plot it.

``python -m jaxrl_modules.demo [--algo dqn|rainbow|ppo|td3|mpc] [--env NAME] [--steps N]
[--seeds K] [--seed S] [--out DIR] [--set FIELD=VALUE ...]``

The default is DQN on CartPole-v1 with the recipe's default config. ``--env`` and ``--steps``
override the config's ``env_name`` and ``total_timesteps``; ``--set`` any other field (a Python
literal: ``--set learning_rate=1e-3``). The ``K`` seeds' keys are split from ``S`` and trained side by side:
the recipe's ``init`` and ``update`` under ``jax.vmap``, jitted. The run is driven one chunk at a
time from Python (each chunk one jitted call) so that a progress bar can advance between chunks;
``jaxrl_modules.recipes.make_train`` gives the same run as a single function.

At the end: the final greedy evaluation return (mean and spread over seeds) and the wall time are
printed, and ``DIR`` (default ``demo_out/``) receives ``<algo>_<env>.png``, the learning curve (the
mean over seeds of the evaluation return against environment steps, with the min-max band), and
``<algo>_<env>.json``, every metric of every chunk and seed (existing files of those names are
overwritten).

Bad input (an unknown algorithm or environment, an environment whose action space the algorithm
cannot drive, a config value of the wrong type, fewer steps than one update, a run that fails to
trace, an ``--out`` that is a file or cannot be created or written to) is reported as a usage error
(exit code 2) before anything is compiled.

Example::

    python -m jaxrl_modules.demo --algo dqn --steps 100000 --seeds 4 --out demo_out
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

__all__ = ["main", "build_config", "plot_learning_curve"]


def _parser() -> argparse.ArgumentParser:
    from jaxrl_modules.recipes import ALGOS

    parser = argparse.ArgumentParser(
        prog="python -m jaxrl_modules.demo",
        description="Train a jaxrl_modules recipe on a gymnax environment, several seeds at once (jax.vmap), "
        "and plot its learning curve.",
    )
    parser.add_argument("--algo", default="dqn", help=f"the recipe: one of {', '.join(ALGOS)} (default dqn)")
    parser.add_argument(
        "--env", default=None, help="a gymnax environment name (default: the recipe's, CartPole-v1 for dqn)"
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="total environment steps per seed (default: the recipe's)"
    )
    parser.add_argument("--seeds", type=int, default=1, help="seeds trained at once with jax.vmap (default 1)")
    parser.add_argument("--seed", type=int, default=0, help="the seed the K seeds' keys are split from")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("demo_out"),
        help="where the learning curve (PNG) and metrics (JSON) go (default demo_out/)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a config field with a Python literal, e.g. --set learning_rate=1e-3 (repeatable)",
    )
    return parser


def build_config(
    algo: str, env: str | None = None, steps: int | None = None, overrides: dict[str, Any] | None = None
) -> Any:
    """The recipe's config for ``algo``: its defaults, then ``env``, ``steps`` and ``overrides``.

    Args:
      algo: a key of `jaxrl_modules.recipes.ALGOS`.
      env: a gymnax environment name for ``env_name`` (None: the recipe's default).
      steps: ``total_timesteps`` (None: the recipe's default).
      overrides: other config fields by name.

    Returns:
      The config (a frozen dataclass), checked by its own ``__post_init__``.

    Raises:
      ValueError: an unknown algorithm, environment or field, or a value the config rejects.
      TypeError: a value of the wrong type (from the config's check), or a renamed field (the
        message gives its new name).

    Example:
      >>> build_config("dqn", steps=20_000, overrides={"learning_rate": 1e-3}).total_timesteps
      20000
    """
    import gymnax

    from jaxrl_modules.recipes import ALGOS
    from jaxrl_modules.recipes.common import check_renamed

    if algo not in ALGOS:
        raise ValueError(f"unknown algorithm {algo!r}; the known algorithms are: {', '.join(ALGOS)}.")
    if env is not None and env not in gymnax.registered_envs:
        raise ValueError(
            f"unknown environment {env!r}; gymnax's registered environments are: "
            f"{', '.join(sorted(gymnax.registered_envs))}."
        )
    module_name, class_name = ALGOS[algo]
    config_class = getattr(importlib.import_module(module_name), class_name)
    fields = {f.name for f in dataclasses.fields(config_class)}
    changes = dict(overrides or {})
    check_renamed(config_class, changes)  # an old field name: the error gives the new one
    unknown = sorted(set(changes) - fields)
    if unknown:
        raise ValueError(
            f"{class_name} has no field {', '.join(map(repr, unknown))}; its fields are: {', '.join(sorted(fields))}."
        )
    if env is not None:
        changes["env_name"] = env
    if steps is not None:
        changes["total_timesteps"] = steps
    return config_class(**changes)


def _parse_overrides(items: list[str]) -> dict[str, Any]:
    out = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name:
            raise ValueError(f"--set takes FIELD=VALUE, got {item!r}.")
        try:
            out[name.strip()] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            out[name.strip()] = text  # a bare word is a string (e.g. an environment name)
    return out


def _check_out_dir(parser: argparse.ArgumentParser, out: Path, files: list[Path]) -> None:
    """Usage error (exit 2) unless ``out`` is, or can be made, a directory where ``files`` can be written.

    Run before anything is compiled, so that a bad ``--out`` costs no training. Creates ``out``
    (and its parents) if needed; existing files of those names are overwritten at the end.
    """
    if out.exists() and not out.is_dir():
        parser.error(
            f"--out {out} is an existing file, but --out takes a directory (it receives "
            f"{', '.join(f.name for f in files)}); pass a directory."
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):  # the only sure test of writability (root ignores mode bits)
            pass
    except OSError as err:
        parser.error(
            f"--out {out}: cannot create or write to this directory ({err.strerror or err}"
            f"{f': {err.filename}' if err.filename else ''}); pass a directory you can write to."
        )
    for file in files:
        if file.is_dir():
            parser.error(
                f"--out {out}: {file} is a directory, but the demo writes a file there; remove it or "
                "pass another --out."
            )


def _stack(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Metrics of each chunk ``{name: [K]}`` -> ``{name: [num_chunks, K]}`` as NumPy arrays."""
    import numpy as np

    return {name: np.stack([np.asarray(r[name]) for r in rows]) for name in rows[0]}


def plot_learning_curve(steps: Any, returns: Any, path: Path, title: str) -> None:
    """Writes the mean over seeds of ``returns`` ``[chunks, K]`` against ``steps`` ``[chunks]``.

    The band spans the seeds' minimum and maximum; a single seed is a plain line.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt
    import numpy as np

    returns = np.asarray(returns, dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    mean = returns.mean(axis=1)
    ax.plot(steps, mean, label=f"mean over {returns.shape[1]} seed(s)")
    if returns.shape[1] > 1:
        ax.fill_between(steps, returns.min(axis=1), returns.max(axis=1), alpha=0.25, label="min-max over seeds")
    ax.set_xlabel("environment steps (per seed)")
    ax.set_ylabel("greedy evaluation return")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Runs the demo; returns its summary (also written as JSON). See the module docstring."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}.")
    try:  # plotting and the progress bar are the demo's own needs; fail before compiling
        import matplotlib  # noqa: F401
        from tqdm.auto import tqdm
    except ImportError as err:
        parser.error(f"the demo needs matplotlib and tqdm ({err}); pip install matplotlib tqdm.")
    try:
        config = build_config(args.algo, args.env, args.steps, _parse_overrides(args.set))
        module = importlib.import_module(type(config).__module__)
        recipe = module.make_recipe(config)  # checks the environment against the algorithm
    except (TypeError, ValueError) as err:
        parser.error(str(err))
    stem = f"{args.algo}_{config.env_name}"
    png, js = args.out / f"{stem}.png", args.out / f"{stem}.json"
    _check_out_dir(parser, args.out, [png, js])

    import jax
    import numpy as np

    env_name = config.env_name
    keys = jax.random.split(jax.random.key(args.seed), args.seeds)
    # Traced (not yet compiled) first, so that an environment the recipe cannot drive (e.g. image
    # observations for an MLP) is a usage error too, not a traceback from inside the compiler.
    # On an accelerator the old state's buffers (replay included) are reused for the new one.
    donate = () if jax.default_backend() == "cpu" else 0
    start = time.perf_counter()
    try:
        init = jax.jit(jax.vmap(recipe.init)).lower(keys)
        lowered_update = jax.jit(jax.vmap(recipe.update), donate_argnums=donate).lower(
            jax.eval_shape(jax.vmap(recipe.init), keys)
        )
    except (TypeError, ValueError) as err:
        parser.error(f"{args.algo} cannot run on {env_name}: {err}")
    print(
        f"{args.algo} on {env_name}: {recipe.num_chunks} chunks of {recipe.steps_per_chunk:,} env steps, "
        f"{args.seeds} seed(s) at once (jax.vmap) on {jax.default_backend()}.\n"
        f"Compiling; the first chunk includes the update's compilation.",
        flush=True,
    )

    state = jax.block_until_ready(init.compile()(keys))
    rows = []
    with tqdm(total=recipe.num_chunks, unit="chunk", desc=f"{args.algo} {env_name}", file=sys.stderr) as bar:
        for i in range(recipe.num_chunks):
            if i == 0:
                update = lowered_update.compile()
            state, metrics = update(state)
            rows.append(jax.device_get(metrics))  # waits for the chunk: the bar shows real progress
            bar.set_postfix({"return": f"{float(np.mean(rows[-1]['return'])):.1f}"})
            bar.update()
            if len(rows) == 1:
                first_chunk_s = time.perf_counter() - start
    wall_s = time.perf_counter() - start

    metrics = _stack(rows)
    steps = np.arange(1, recipe.num_chunks + 1) * recipe.steps_per_chunk
    final = np.asarray(metrics["return"][-1], dtype=float)
    print(
        f"final greedy evaluation return: {final.mean():.1f} ± {final.std():.1f} (mean ± std over "
        f"{args.seeds} seed(s); min {final.min():.1f}, max {final.max():.1f})"
    )
    print(
        f"wall time: {wall_s:.1f} s, of which {first_chunk_s:.1f} s to the end of the first chunk "
        "(initialisation and compilation included)"
    )

    plot_learning_curve(steps, metrics["return"], png, f"{args.algo} on {env_name}")
    summary = {
        "algo": args.algo,
        "env": env_name,
        "seeds": args.seeds,
        "seed": args.seed,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(config).items()},
        "env_steps": steps.tolist(),
        "final_return_mean": float(final.mean()),
        "final_return_std": float(final.std()),
        "wall_time_s": wall_s,
        "first_chunk_s": first_chunk_s,
        "metrics": {name: np.asarray(v, dtype=float).tolist() for name, v in metrics.items()},
    }
    js.write_text(json.dumps(summary, indent=1, default=str))
    print(f"wrote {png} and {js}")
    return summary


if __name__ == "__main__":
    main()
