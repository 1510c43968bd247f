"""Exploration modules against TorchRL's: schedules step by step, and the noise-free OU / Gaussian paths."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchrl_modules = pytest.importorskip("torchrl.modules")
from tensordict import TensorDict as TorchTensorDict  # noqa: E402
from torchrl.data import Bounded as TorchBounded  # noqa: E402
from torchrl.data import Categorical as TorchCategorical  # noqa: E402

from jaxrl_modules import (  # noqa: E402
    AdditiveGaussianModule,
    Bounded,
    Categorical,
    EGreedyModule,
    OrnsteinUhlenbeckProcessModule,
    TensorDict,
)
from jaxrl_modules import functional as F  # noqa: E402

FRAMES = [1, 1, 3, 1, 7, 1, 1, 20, 1, 40, 5]  # crosses the end of the schedule


def _schedule_matches(ours, theirs, attr, td):
    variables = ours.init(jax.random.key(0), td)
    for frames in FRAMES:
        theirs.step(frames)
        variables = ours.step(variables, frames)
        init, end, num = (getattr(ours, f) for f in ours._schedule_fields)
        value = F.linear_annealing(variables["schedule"]["step"], init, end, num)
        np.testing.assert_allclose(float(value), float(getattr(theirs, attr)), atol=1e-6)


def test_egreedy_eps_schedule_matches_torchrl():
    theirs = torchrl_modules.EGreedyModule(TorchCategorical(4), eps_init=0.9, eps_end=0.05, annealing_num_steps=50)
    ours = EGreedyModule(Categorical(4), eps_init=0.9, eps_end=0.05, annealing_num_steps=50)
    _schedule_matches(ours, theirs, "eps", TensorDict({"action": jnp.zeros(2, jnp.int32)}, batch_size=[2]))


def test_gaussian_sigma_schedule_matches_torchrl():
    spec = dict(low=-1.0, high=1.0, shape=(2,))
    theirs = torchrl_modules.AdditiveGaussianModule(
        TorchBounded(**spec), sigma_init=1.0, sigma_end=0.2, annealing_num_steps=30
    )
    ours = AdditiveGaussianModule(Bounded(**spec), sigma_init=1.0, sigma_end=0.2, annealing_num_steps=30)
    _schedule_matches(ours, theirs, "sigma", TensorDict({"action": jnp.zeros((2, 2))}, batch_size=[2]))


def test_ou_eps_schedule_matches_torchrl():
    spec = dict(low=-1.0, high=1.0, shape=(2,))
    theirs = torchrl_modules.OrnsteinUhlenbeckProcessModule(
        TorchBounded(**spec), eps_init=0.7, eps_end=0.1, annealing_num_steps=40
    )
    ours = OrnsteinUhlenbeckProcessModule(Bounded(**spec), eps_init=0.7, eps_end=0.1, annealing_num_steps=40)
    _schedule_matches(ours, theirs, "eps", TensorDict({"action": jnp.zeros((2, 2))}, batch_size=[2]))


def test_noise_free_ou_trajectory_with_resets_matches_torchrl():
    # sigma = 0 leaves the deterministic part of the process: drift to mu from x0, eps-scaled,
    # restarted where is_init, then projected (safe=True).
    kwargs = dict(eps_init=0.8, eps_end=0.8, theta=3.0, mu=1.5, sigma=0.0, dt=0.1, x0=0.2)
    spec = dict(low=-1.0, high=1.0, shape=(2,))
    theirs = torchrl_modules.OrnsteinUhlenbeckProcessModule(TorchBounded(**spec), **kwargs)
    ours = OrnsteinUhlenbeckProcessModule(Bounded(**spec), **kwargs)
    rng = np.random.default_rng(0)
    resets = [
        [True, True, True],
        [False, False, False],
        [False, True, False],
        [False, False, False],
        [True, False, False],
        [False, False, True],
    ]
    td_t, td, variables = None, None, None
    for step, reset in enumerate(resets):
        action = rng.uniform(-1.2, 1.2, (3, 2)).astype(np.float32)
        is_init = np.array(reset)[:, None]
        entries = {"action": action, "is_init": is_init}
        if td_t is not None:
            entries.update(_ou_prev_noise=td_t["_ou_prev_noise"].numpy(), _ou_steps=td_t["_ou_steps"].numpy())
        td_t = theirs(TorchTensorDict({k: torch.as_tensor(v) for k, v in entries.items()}, batch_size=[3]))
        if td is None:
            td = TensorDict({"action": action, "is_init": is_init}, batch_size=[3])
            variables = ours.init(jax.random.key(0), td)
        else:
            td = td.set("action", jnp.asarray(action)).set("is_init", jnp.asarray(is_init))
        td = ours.apply(variables, td, rngs={"exploration": jax.random.key(step)})
        np.testing.assert_allclose(np.asarray(td["action"]), td_t["action"].numpy(), atol=1e-6)
        np.testing.assert_allclose(np.asarray(td["_ou_prev_noise"]), td_t["_ou_prev_noise"].numpy(), atol=1e-6)
        np.testing.assert_array_equal(np.asarray(td["_ou_steps"]), td_t["_ou_steps"].numpy())


def test_noise_free_gaussian_always_projects_like_torchrl():
    spec = dict(low=-1.0, high=1.0, shape=(2,))
    theirs = torchrl_modules.AdditiveGaussianModule(TorchBounded(**spec), sigma_init=0.0, sigma_end=0.0)
    ours = AdditiveGaussianModule(Bounded(**spec), sigma_init=0.0, sigma_end=0.0)
    action = np.array([[3.0, -0.5], [-2.0, 0.25]], np.float32)
    out_t = theirs(TorchTensorDict({"action": torch.as_tensor(action)}, batch_size=[2]))["action"]
    td = TensorDict({"action": jnp.asarray(action)}, batch_size=[2])
    out = ours.apply(ours.init(jax.random.key(0), td), td, rngs={"exploration": jax.random.key(1)})["action"]
    np.testing.assert_allclose(np.asarray(out), out_t.numpy(), atol=1e-7)
