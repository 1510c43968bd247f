"""One module per benchmark case; each exposes ``NAME``, ``sizes(smoke)`` and ``implementations(size)``
(zero-argument calls that `benchmarks.harness.time_calls` times), or, for a case that times whole
training runs itself, ``timings(size, smoke) -> {implementation: Timing}``."""

from benchmarks.cases import (
    additive_gaussian,
    c51_projection,
    cartpole_rollout,
    cem_plan,
    dqn_recipe,
    egreedy,
    greedy_q_value,
    lstm_module,
    mppi_plan,
    multiagent_mlp,
    noisy_linear,
    ou_process,
    tanh_normal,
    tdmodule_mlp,
    train_step,
)

_ALL = (
    tdmodule_mlp,
    train_step,
    greedy_q_value,
    tanh_normal,
    c51_projection,
    egreedy,
    additive_gaussian,
    ou_process,
    noisy_linear,
    multiagent_mlp,
    lstm_module,
    cartpole_rollout,
    cem_plan,
    mppi_plan,
    dqn_recipe,
)
CASES = {case.NAME: case for case in _ALL}
