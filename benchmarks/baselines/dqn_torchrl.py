"""DQN on CartPole-v1 as a TorchRL loop: the TorchRL baseline for the DQN recipe, in frames/s.

The hyperparameters of `benchmarks.baselines.dqn_jax.CONFIG` (purejaxrl's): 10 environments
(gymnasium's ``CartPole-v1``, each a TorchRL ``GymEnv``, stepped together by a ``SerialEnv`` in
this process: on a 2-core machine the fastest of the three layouts in `ENVS`), a ``QValueActor``
(MLP 120-84, ReLU) followed by an ``EGreedyModule`` (1.0 -> 0.05 over 250_000 frames), a
``Collector`` of 10 frames per batch, a 10_000-transition ``ReplayBuffer``, batches of 128, a
``DQNLoss`` (l2, delayed target, gamma 0.99) with Adam at 2.5e-4, one update per batch once past
10_000 frames, and a ``HardUpdate`` of the target every 500 frames. It learns: greedy returns
of 150-275 after 30k-80k frames with epsilon annealed over 30k frames.

A full run (500_000 frames) takes minutes at TorchRL's speed on a CPU, so `measure` fills the
buffer up to ``learning_starts`` (timed apart: no updates then) and then times a number of frames
of the learning phase, the regime of nearly the whole run; `estimated_run_s` extrapolates a full
run from the two rates. Run it with 1 torch thread (``threads=1``): on a 2-core machine shared
with XLA or other jobs, 2 threads were 3-10x slower.

Example::

    from benchmarks.baselines.dqn_torchrl import measure

    rates = measure(learn_frames=2_000, threads=1)   # {"prefill_fps": ..., "learn_fps": ..., ...}
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["ENVS", "TorchRLDQN", "measure", "estimated_run_s"]


class TorchRLDQN:
    """A TorchRL DQN training loop that can be advanced a number of frames at a time.

    Args:
      config: `benchmarks.baselines.dqn_jax.CONFIG`'s keys (the environment must be a gymnasium
        name; ``num_chunks`` and the evaluation keys are not used: this loop does not evaluate).
      seed: seeds torch and the environments.
      envs: how the ``num_envs`` environments run (`ENVS`): ``"serial"``, TorchRL's
        ``SerialEnv`` of ``GymEnv`` s in this process; ``"async"``, ``GymEnv(name,
        num_envs=n)``, gymnasium's ``AsyncVectorEnv`` with one subprocess per environment;
        ``"single"``, one ``GymEnv`` stepped ``num_envs`` times per batch (TorchRL's own
        CartPole DQN example, sota-implementations/dqn, does this).
    """

    def __init__(self, config: dict[str, Any], seed: int = 0, envs: str = "serial"):
        import torch
        from tensordict.nn import TensorDictSequential
        from torchrl.collectors import Collector
        from torchrl.data import LazyTensorStorage, ReplayBuffer
        from torchrl.modules import MLP, EGreedyModule, QValueActor
        from torchrl.objectives import DQNLoss, HardUpdate

        torch.manual_seed(seed)
        c = self.config = dict(config)
        self.env = _make_env(c["env_name"], c["num_envs"], envs)
        self.env.set_seed(seed)
        spec = self.env.action_spec
        q_net = MLP(out_features=spec.shape[-1], num_cells=list(c["hidden"]), activation_class=torch.nn.ReLU)
        self.actor = QValueActor(q_net, in_keys=["observation"], spec=spec)
        self.egreedy = EGreedyModule(
            spec, eps_init=c["eps_start"], eps_end=c["eps_end"], annealing_num_steps=c["eps_anneal_steps"]
        )
        self.policy = TensorDictSequential(self.actor, self.egreedy)
        self.loss = DQNLoss(self.actor, loss_function="l2", delay_value=True, action_space=spec)
        self.loss.make_value_estimator(gamma=c["gamma"])
        self.optim = torch.optim.Adam(self.loss.parameters(), lr=c["lr"])
        # HardUpdate counts its step() calls: one per batch of num_envs frames.
        self.target = HardUpdate(self.loss, value_network_update_interval=c["target_update_interval"] // c["num_envs"])
        self.buffer = ReplayBuffer(storage=LazyTensorStorage(c["buffer_size"]), batch_size=c["batch_size"])
        self.collector = Collector(
            self.env,
            self.policy,
            frames_per_batch=c["num_envs"],
            total_frames=-1,
            auto_register_policy_transforms=False,
        )
        self._batches = iter(self.collector)
        self.frames = 0

    def train(self, frames: int) -> tuple[float, float]:
        """Runs ``frames`` more frames of training; returns the wall and CPU seconds they took."""
        c = self.config
        start, start_cpu = time.perf_counter(), time.process_time()
        done = 0
        while done < frames:
            data = next(self._batches).reshape(-1)
            self.buffer.extend(data)
            n = data.numel()
            done += n
            self.frames += n
            self.egreedy.step(n)
            if self.frames > c["learning_starts"] and self.frames % c["train_interval"] == 0:
                loss = self.loss(self.buffer.sample())["loss"]
                self.optim.zero_grad()
                loss.backward()
                self.optim.step()
                self.collector.update_policy_weights_()
            self.target.step()
        return time.perf_counter() - start, time.process_time() - start_cpu

    def close(self) -> None:
        self.collector.shutdown()


ENVS = ("serial", "async", "single")


def _make_env(name: str, n: int, envs: str):
    from torchrl.envs import GymEnv, SerialEnv

    if envs == "serial":
        return SerialEnv(n, lambda: GymEnv(name))
    if envs == "async":
        return GymEnv(name, num_envs=n)
    if envs == "single":
        return GymEnv(name)
    raise ValueError(f"envs must be one of {ENVS}, got {envs!r}.")


def measure(
    config: dict[str, Any] | None = None,
    learn_frames: int = 20_000,
    seed: int = 0,
    threads: int | None = None,
    envs: str = "serial",
    rounds: int = 1,
) -> dict[str, float]:
    """Frames per second of the TorchRL loop before and after ``learning_starts``.

    Args:
      config: hyperparameters (default `benchmarks.baselines.dqn_jax.CONFIG`).
      learn_frames: frames timed in the learning phase.
      seed: the run's seed.
      threads: ``torch.set_num_threads`` for the run (default: torch's own).
      envs: how the environments run (see `TorchRLDQN`).
      rounds: the learning frames are timed in this many equal rounds; ``learn_fps_best`` is the
        fastest round's rate (the least disturbed by other jobs on a shared machine).

    Returns:
      ``{"prefill_frames", "prefill_s", "prefill_fps", "prefill_cpu_s", "learn_frames", "learn_s",
      "learn_fps", "learn_cpu_s", "learn_fps_best"}`` (``_s``: wall-clock seconds; ``_cpu_s``: this
      process's CPU seconds).
    """
    import torch

    from benchmarks.baselines.dqn_jax import CONFIG

    config = dict(CONFIG if config is None else config)
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        loop = TorchRLDQN(config, seed, envs)
        prefill = config["learning_starts"]
        prefill_s, prefill_cpu_s = loop.train(prefill)
        per_round = [loop.train(learn_frames // rounds) for _ in range(rounds)]
        learn_s, learn_cpu_s = (sum(t) for t in zip(*per_round))
        learn_frames = learn_frames // rounds * rounds
        best_fps = learn_frames // rounds / min(wall for wall, _ in per_round)
        loop.close()
    finally:
        torch.set_num_threads(old_threads)
    return {
        "prefill_frames": prefill,
        "prefill_s": prefill_s,
        "prefill_fps": prefill / prefill_s,
        "prefill_cpu_s": prefill_cpu_s,
        "learn_frames": learn_frames,
        "learn_s": learn_s,
        "learn_fps": learn_frames / learn_s,
        "learn_cpu_s": learn_cpu_s,
        "learn_fps_best": best_fps,
    }


def estimated_run_s(rates: dict[str, float], total_timesteps: int, best: bool = False) -> float:
    """A full run's wall-clock seconds from `measure`'s rates: the prefill, then learning to the end.

    ``best=True`` extrapolates the fastest learning round instead of the average.
    """
    fps = rates["learn_fps_best"] if best else rates["learn_fps"]
    return rates["prefill_s"] + (total_timesteps - rates["prefill_frames"]) / fps


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Time the TorchRL DQN loop in frames/s.")
    parser.add_argument("--frames", type=int, default=20_000, help="frames timed after learning starts")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--envs", choices=ENVS, default="serial", help="how the 10 environments run")
    parser.add_argument("--learning-starts", type=int, default=None, help="frames before learning starts")
    args = parser.parse_args()
    from benchmarks.baselines.dqn_jax import CONFIG

    config = dict(CONFIG)
    if args.learning_starts is not None:
        config["learning_starts"] = args.learning_starts
    r = measure(config, learn_frames=args.frames, threads=args.threads, envs=args.envs, rounds=2)
    print(f"prefill: {r['prefill_frames']} frames in {r['prefill_s']:.1f} s ({r['prefill_fps']:,.0f} frames/s)")
    print(
        f"learning: {r['learn_frames']} frames in {r['learn_s']:.1f} s ({r['learn_fps']:,.0f} frames/s; "
        f"the faster of two rounds {r['learn_fps_best']:,.0f} frames/s)"
    )
    print(f"estimated 500k-frame run: {estimated_run_s(r, 500_000) / 60:.1f} min")
