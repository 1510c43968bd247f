"""Every benchmark case's targets, from the project's issues, as data: one table.

``TARGETS[(case, size)]`` holds the targets of one row of `benchmarks.run`'s output; a size of
``"*"`` covers every size of the case that has no entry of its own (`lookup`). A target is a dict
of checks, each on the medians of one row, plus a ``"source"`` note:

* ``"max_us"``: the jaxrl_modules time at most this many microseconds;
* ``"vs_jax_max"``: jaxrl_modules time / hand-written JAX time at most this (1.05: at most 5 %
  slower than the hand-written code);
* ``"vs_torchrl_min"``: TorchRL time / jaxrl_modules time at least this ("10x faster than
  TorchRL" is 10.0, "faster than TorchRL" is 1.0), against the faster of the `TORCHRL_COLUMNS`
  that ran (2 torch threads or 1: on a loaded 2-core machine either can be the slow one);
* ``"vs_other_max"`` / ``"vs_other_min"``: ``{column: bound}``, jaxrl_modules time / the other
  column's time at most the bound (``{"distrax": 0.75}``: 25 % faster than distrax), or that
  column's time / jaxrl_modules time at least the bound (``{"rlax": 30.0}``: 30x faster);
* ``"hand_written"``: the hand-written column when it is not ``"jax"``;
* ``"variants"``: further jaxrl_modules columns (``"jaxrl_modules[inplace=False]"``) judged by
  the same checks, each on a row of its own.

The sizes are the strings `benchmarks.run` writes (``str(size)`` of each case's ``sizes(False)``).
The letters in the notes name the paragraphs of ``performance_notes.md`` section 3 (shared
reference), where each target's reasoning is.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TARGETS", "TORCHRL_COLUMNS", "lookup"]

TORCHRL_COLUMNS = ("torchrl", "torchrl[1 thread]")
"""The TorchRL columns: 2 torch threads, 1 (`benchmarks.harness.torch_threads`)."""

_SAME_AS_HAND_WRITTEN = "1.05x: the module layer costs at most 5 % over hand-written JAX"

TARGETS: dict[tuple[str, str], dict[str, Any]] = {
    # (f) a TensorDict is cheap to pass; the jit boundary pays for what a module returns.
    ("tdmodule_mlp", "1"): {
        "vs_jax_max": 1.25,
        "variants": ["jaxrl_modules[inplace=False]"],
        "source": "TensorDictModule issue: <= 1.25x raw flax apply at batch 1 (notes 3f)",
    },
    ("tdmodule_mlp", "*"): {
        "vs_jax_max": 1.1,
        "variants": ["jaxrl_modules[inplace=False]"],
        "source": "TensorDictModule issue: <= 1.1x raw flax apply at 256 and 4096 (notes 3f)",
    },
    # (a) acting sizes are overhead-bound; 4096x18 is near the roofline.
    ("greedy_q_value", "16x18"): {
        "max_us": 8.0,
        "source": "QValueModule issue: <= 8 us per acting call at 16x18 (notes 3a)",
    },
    ("greedy_q_value", "4096x18"): {
        "vs_torchrl_min": 2.0,
        "source": "QValueModule issue: >= 2x TorchRL at 4096x18 (notes 3a)",
    },
    ("greedy_q_value", "4096x18+mask"): {
        "vs_torchrl_min": 6.0,
        "source": "QValueModule issue: >= 6x TorchRL masked at 4096x18 (notes 3a)",
    },
    # (e)/(g)/(h) JAX's counter-based RNG is the CPU bottleneck; distrax's bijector bookkeeping is not.
    ("tanh_normal", "*"): {
        "vs_jax_max": 1.05,
        "vs_other_max": {"distrax": 0.75},
        "source": "TanhNormal issue: <= 0.75x distrax, <= 1.05x hand-written (notes 3e)",
    },
    # (b) the dense rlax projection is O(N^2); TorchRL's index_add is O(N) but eager.
    ("c51_projection", "*"): {
        "vs_other_min": {"rlax": 30.0},
        "vs_torchrl_min": 4.0,
        "source": "C51 projection issue: >= 30x rlax, >= 4x TorchRL's algorithm (notes 3b)",
    },
    ("egreedy", "16"): {
        "vs_jax_max": 1.05,
        "vs_torchrl_min": 3.0,
        "source": "exploration issue: " + _SAME_AS_HAND_WRITTEN + "; >= 3x TorchRL at 16 (notes 3g)",
    },
    ("egreedy", "*"): {"vs_jax_max": 1.05, "source": "exploration issue: " + _SAME_AS_HAND_WRITTEN + " (notes 3g)"},
    ("additive_gaussian", "*"): {
        "vs_jax_max": 1.05,
        "source": "exploration issue: " + _SAME_AS_HAND_WRITTEN + " (notes 3h)",
    },
    ("ou_process", "16x1000"): {
        "vs_jax_max": 1.05,
        "vs_torchrl_min": 20.0,
        "source": "exploration issue: " + _SAME_AS_HAND_WRITTEN + "; >= 20x TorchRL at 16 (notes 3h)",
    },
    ("ou_process", "*"): {"vs_jax_max": 1.05, "source": "exploration issue: " + _SAME_AS_HAND_WRITTEN + " (notes 3h)"},
    ("noisy_linear", "*"): {"vs_jax_max": 1.05, "source": "NoisyLinear issue: " + _SAME_AS_HAND_WRITTEN},
    # (i)/(j) identical math should compile to identical HLO.
    ("lstm_module", "*"): {
        "vs_jax_max": 1.05,
        "vs_torchrl_min": 1.0,
        "hand_written": "jax[flax scan]",
        "source": "LSTMModule issue: <= 1.05x nn.scan(OptimizedLSTMCell), faster than TorchRL (notes 3i)",
    },
    ("multiagent_mlp", "*"): {
        "vs_jax_max": 1.05,
        "vs_torchrl_min": 1.0,
        "source": "MultiAgentMLP issue: <= 1.05x vmap over stacked params, faster than TorchRL (notes 3j)",
    },
    # (k) the policy stack must cost <= 5 % of a hand-written rollout; TorchRL steps in Python.
    ("cartpole_rollout", "10x500"): {
        "vs_jax_max": 1 / 0.95,
        "vs_torchrl_min": 100.0,
        "source": "rollout issue: >= 0.95x hand-written speed, >= 100x TorchRL at 10 envs (notes 3k)",
    },
    ("cartpole_rollout", "*"): {
        "vs_jax_max": 1 / 0.95,
        "source": "rollout issue: >= 0.95x hand-written speed (notes 3k)",
    },
    # (d) TorchRL rolls its planning env out in Python, one TensorDict step at a time.
    ("cem_plan", "*"): {
        "vs_jax_max": 1.05,
        "vs_torchrl_min": 10.0,
        "source": "planner issue: <= 1.05x hand-written, >= 10x TorchRL's CEMPlanner (notes 3d)",
    },
    ("mppi_plan", "*"): {
        "vs_jax_max": 1.05,
        "vs_torchrl_min": 10.0,
        "source": "planner issue: as CEM, <= 1.05x hand-written, >= 10x TorchRL's MPPIPlanner (notes 3d)",
    },
    # (c) PureJaxRL is the floor to match; TorchRL's sota script is ~50x slower on CPU.
    ("dqn_recipe", "*"): {
        "vs_jax_max": 1.05,
        "vs_torchrl_min": 40.0,
        "source": "DQN recipe issue: <= 1.05x hand-written run time, >= 40x TorchRL frames/s (notes 3c)",
    },
    ("train_step", "*"): {
        "vs_jax_max": 1.05,
        "vs_torchrl_min": 1.0,
        "source": "issue 9: <= 1.05x hand-written flax + optax step, faster than TorchRL + "
        "torch.optim.Adam (notes 3i/j)",
    },
}


def lookup(case: str, size: str) -> dict[str, Any] | None:
    """The targets of one row: ``TARGETS[(case, size)]``, else ``TARGETS[(case, "*")]``, else None.

    Example:
      >>> lookup("egreedy", "16")["vs_torchrl_min"], "vs_torchrl_min" in lookup("egreedy", "4096")
      (3.0, False)
    """
    return TARGETS.get((case, str(size)), TARGETS.get((case, "*")))
