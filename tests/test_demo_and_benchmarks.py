"""The main job trains and plots, rejects bad input before compiling, and the benchmarks cannot rot."""

import dataclasses
import importlib.util
import json
import time

import jax
import numpy as np
import pytest

from benchmarks import run as bench
from jaxrl_modules import demo
from jaxrl_modules.recipes import ALGOS, Recipe

# DQN on CartPole-v1 with a budget of seconds: 2 chunks of 300 steps, learning from step 200.
TINY = [
    "--steps",
    "600",
    "--set",
    "learning_starts=200",
    "--set",
    "num_chunks=2",
    "--set",
    "num_eval_envs=2",
    "--set",
    "buffer_size=500",
]


class Compilations:
    """The names of the functions XLA compiles while in the ``with`` block."""

    def __enter__(self):
        self.names = []
        jax.monitoring.register_event_duration_secs_listener(self._listen)
        return self

    def __exit__(self, *exc):
        jax.monitoring.unregister_event_duration_listener(self._listen)

    def _listen(self, event, duration, fun_name="", **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            self.names.append(fun_name)


def test_demo_trains_dqn_on_two_seeds_and_writes_the_curve_and_metrics(tmp_path, capsys):
    with Compilations() as compiled:
        summary = demo.main([*TINY, "--seeds", "2", "--seed", "3", "--out", str(tmp_path)])
    assert {"jit(init)", "jit(update)"} <= set(compiled.names)  # what the bad-input test looks for
    out, err = capsys.readouterr()
    png, js = tmp_path / "dqn_CartPole-v1.png", tmp_path / "dqn_CartPole-v1.json"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    payload = json.loads(js.read_text())
    assert payload["env_steps"] == [300, 600] and payload["config"]["total_timesteps"] == 600
    returns, loss = np.array(payload["metrics"]["return"]), np.array(payload["metrics"]["loss"])
    assert returns.shape == loss.shape == (2, 2)  # [chunks, seeds]
    assert ((returns >= 1) & (returns <= 500)).all()  # CartPole returns: one to 500 steps alive
    assert loss[-1, 0] != loss[-1, 1]  # two seeds, two different runs
    assert payload["final_return_mean"] == pytest.approx(returns[-1].mean())
    assert summary["final_return_mean"] == payload["final_return_mean"]
    assert f"final greedy evaluation return: {returns[-1].mean():.1f} ± {returns[-1].std():.1f}" in out
    assert "wall time" in out and "first chunk includes" in out
    assert "2/2" in err and "return=" in err  # the progress bar, with the return in its postfix


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--algo", "sac"], "unknown algorithm 'sac'; the known algorithms are: dqn, rainbow, ppo, td3, mpc"),
        (["--env", "Nope-v0"], "unknown environment 'Nope-v0'; gymnax's registered environments are: Acrobot-v1"),
        (["--algo", "td3", "--env", "CartPole-v1"], "TD3 needs a bounded continuous (Box) action space"),
        (["--env", "Pendulum-v1"], "needs one discrete action"),
        (["--set", "learning_rate='fast'"], "DQNConfig.learning_rate must be float, got 'fast' (str)"),
        (["--set", "lr=1e-3"], "DQNConfig: 'lr' is now 'learning_rate'"),
        (["--algo", "td3", "--set", "eval_envs=4"], "TD3Config: 'eval_envs' is now 'num_eval_envs'"),
        (["--set", "num_envs=2.5"], "DQNConfig.num_envs must be int, got 2.5 (float)"),
        (["--set", "nope=1"], "DQNConfig has no field 'nope'"),
        (["--steps", "100"], "DQNConfig.total_timesteps=100 is smaller than one gradient step"),
        (["--seeds", "0"], "--seeds must be at least 1, got 0"),
    ],
)
def test_demo_bad_input_is_a_usage_error_before_any_compilation(argv, message, capsys, tmp_path):
    with Compilations() as compiled, pytest.raises(SystemExit) as exc:
        demo.main([*argv, "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    # Building a config or an environment runs a few eager ops (each a tiny compilation); the
    # recipe's init and update, the demo's two jitted functions, must not have been compiled.
    assert not {"jit(init)", "jit(update)"} & set(compiled.names)


def _bad_out(tmp_path, case):
    """An --out the demo cannot write to, and the message it must give."""
    file = tmp_path / "a_file"
    file.write_text("not a directory")
    return {
        "existing file": (file, f"--out {file} is an existing file, but --out takes a directory"),
        "parent is a file": (file / "sub", f"--out {file / 'sub'}: cannot create or write to this directory"),
        "cannot be created": ("/proc/jaxrl_modules_demo", "--out /proc/jaxrl_modules_demo: cannot create or write"),
        "output is a directory": (tmp_path, f"{tmp_path / 'dqn_CartPole-v1.png'} is a directory"),
    }[case]


@pytest.mark.parametrize("case", ["existing file", "parent is a file", "cannot be created", "output is a directory"])
def test_demo_bad_out_is_a_usage_error_before_any_compilation(case, tmp_path, capsys):
    (tmp_path / "dqn_CartPole-v1.png").mkdir()  # only in the way for the "output is a directory" case
    out, message = _bad_out(tmp_path, case)
    start = time.perf_counter()
    with Compilations() as compiled, pytest.raises(SystemExit) as exc:
        demo.main([*TINY, "--out", str(out)])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
    assert not {"jit(init)", "jit(update)"} & set(compiled.names)  # no training ran
    assert time.perf_counter() - start < 5  # compiling and training the TINY run takes longer


def test_demo_unwritable_out_is_a_usage_error(tmp_path, capsys, monkeypatch):
    # A read-only directory cannot be made as root (root ignores mode bits): make the write probe fail.
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr(demo.tempfile, "TemporaryFile", refuse)
    with Compilations() as compiled, pytest.raises(SystemExit) as exc:
        demo.main([*TINY, "--out", str(tmp_path)])
    assert exc.value.code == 2
    assert f"cannot create or write to this directory (Permission denied: {tmp_path})" in capsys.readouterr().err
    assert not {"jit(init)", "jit(update)"} & set(compiled.names)


def test_demo_creates_a_missing_out_directory_before_training(tmp_path, capsys, monkeypatch):
    out = tmp_path / "new" / "nested"
    monkeypatch.setitem(ALGOS, "fake", (__name__, "FakeConfig"))  # fails to trace, after the check
    with pytest.raises(SystemExit) as exc:
        demo.main(["--algo", "fake", "--out", str(out)])
    assert exc.value.code == 2 and out.is_dir()


@dataclasses.dataclass(frozen=True)
class FakeConfig:
    """A recipe whose config is fine but whose run cannot be traced (as a network meeting
    observations of a shape it cannot take)."""

    env_name: str = "CartPole-v1"
    total_timesteps: int = 100


def make_recipe(config):
    def init(key):
        raise ValueError("observations of shape (10, 10, 4) do not fit an MLP")

    return Recipe(init, lambda state: (state, {"return": 0.0}), 1, config.total_timesteps)


def test_demo_reports_a_run_that_fails_to_trace_as_a_usage_error(capsys, monkeypatch, tmp_path):
    monkeypatch.setitem(ALGOS, "fake", (__name__, "FakeConfig"))
    with Compilations() as compiled, pytest.raises(SystemExit) as exc:
        demo.main(["--algo", "fake", "--out", str(tmp_path)])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "fake cannot run on CartPole-v1: observations of shape (10, 10, 4) do not fit an MLP" in err
    assert not {"jit(init)", "jit(update)"} & set(compiled.names)


def test_dqn_baseline_has_the_recipes_default_hyperparameters():
    from benchmarks.baselines.dqn_jax import CONFIG
    from benchmarks.cases.dqn_recipe import baseline_config
    from jaxrl_modules.recipes.dqn import DQNConfig

    assert baseline_config(DQNConfig()) == CONFIG


def test_benchmark_smoke_mode_prints_a_table_and_writes_json(tmp_path, capsys):
    path = tmp_path / "bench.json"
    rows = bench.main(["--smoke", "--json", str(path)])
    assert rows and all(t.median_us > 0 for r in rows for t in r.timings.values())
    assert {"jaxrl_modules", "jax"} <= set(rows[0].timings)
    dqn = next(r for r in rows if r.case == "dqn_recipe")
    # TorchRL's loop is timed where TorchRL is installed (always in CI: the parity extra)
    with_torchrl = importlib.util.find_spec("torchrl") is not None
    assert set(dqn.timings) == {"jaxrl_modules", "jax"} | ({"torchrl"} if with_torchrl else set())
    assert dqn.timings["jaxrl_modules"].first_call_s > 0  # the compile time, timed apart
    table = capsys.readouterr().out
    assert "ours / hand-written" in table and "tdmodule_mlp" in table and "dqn_recipe" in table
    payload = json.loads(path.read_text())
    assert payload["rows"][0]["case"] == "tdmodule_mlp" and "jax" in payload["environment"]
