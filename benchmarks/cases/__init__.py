"""One module per benchmark case; each exposes ``NAME``, ``sizes(smoke)`` and ``implementations(size)``."""

from benchmarks.cases import (
    additive_gaussian,
    c51_projection,
    cartpole_rollout,
    cem_plan,
    egreedy,
    greedy_q_value,
    lstm_module,
    multiagent_mlp,
    noisy_linear,
    ou_process,
    tanh_normal,
    tdmodule_mlp,
)

_ALL = (
    tdmodule_mlp,
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
)
CASES = {case.NAME: case for case in _ALL}
