"""The C51 projection against TorchRL 0.14.1's DistributionalDQNLoss and rlax's categorical_l2_project."""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchrl = pytest.importorskip("torchrl")
rlax = pytest.importorskip("rlax")

import jax  # noqa: E402
from tensordict import TensorDict  # noqa: E402
from torch import nn  # noqa: E402
from torchrl.data import Categorical  # noqa: E402
from torchrl.modules import DistributionalQValueActor  # noqa: E402
from torchrl.objectives import DistributionalDQNLoss  # noqa: E402

from jaxrl_modules.functional.categorical_projection import categorical_projection  # noqa: E402

ATOL = 1e-5


def torchrl_projection(pns_a, support, reward, terminated, discount):
    """TorchRL 0.14.1's target distribution, copied line for line from DistributionalDQNLoss.forward
    (reference section 14): clamp Tz, b = (Tz - Vmin) / dz, the integer-b fix, two index_adds."""
    batch_size, atoms = pns_a.shape
    vmin, vmax = support.min().item(), support.max().item()
    delta_z = (vmax - vmin) / (atoms - 1)
    tz = reward + (1 - terminated.to(reward.dtype)) * discount * support
    tz = tz.clamp_(min=vmin, max=vmax)
    b = (tz - vmin) / delta_z
    low, up = b.floor().to(torch.int64), b.ceil().to(torch.int64)
    low[(up > 0) & (low == up)] -= 1
    up[(low < (atoms - 1)) & (low == up)] += 1
    m = torch.zeros(batch_size, atoms)
    offset = torch.linspace(0, ((batch_size - 1) * atoms), batch_size, dtype=torch.int64)
    offset = offset.unsqueeze(1).expand(batch_size, atoms)
    m.view(-1).index_add_(0, (low + offset).view(-1), (pns_a * (up.float() - b)).view(-1))
    m.view(-1).index_add_(0, (up + offset).view(-1), (pns_a * (b - low.float())).view(-1))
    return m


class _AtomsByActions(nn.Module):
    """The observation is the logits: [B, atoms * actions] -> [B, atoms, actions]."""

    def __init__(self, atoms, actions):
        super().__init__()
        self.atoms, self.actions = atoms, actions

    def forward(self, x):
        return x.reshape(*x.shape[:-1], self.atoms, self.actions)


def _torchrl_loss_case(seed, support, gamma, *, reward_values=None, steps=None):
    """Runs TorchRL's loss on logits we control; returns its per-sample loss and the inputs that
    determine the target: the online log-probs of the taken actions and the next distribution."""
    atoms, actions, batch = support.numel(), 3, 32
    gen = torch.Generator().manual_seed(seed)
    actor = DistributionalQValueActor(
        _AtomsByActions(atoms, actions),
        support=support,
        in_keys=["observation"],
        action_space="categorical",
        spec=Categorical(actions),
    )
    obs = torch.randn(batch, atoms * actions, generator=gen) * 2
    next_obs = torch.randn(batch, atoms * actions, generator=gen) * 2
    action = torch.randint(0, actions, (batch,), generator=gen)
    if reward_values is None:
        reward = torch.randn(batch, 1, generator=gen) * (support.max() - support.min()) / 4
    else:  # whole multiples of dz: every b is an integer, the case of TorchRL's fix
        reward = reward_values[torch.randint(0, len(reward_values), (batch, 1), generator=gen)]
    terminated = torch.rand(batch, 1, generator=gen) < 0.25
    data = {
        "observation": obs,
        "action": action,
        "next": TensorDict(
            {"observation": next_obs, "reward": reward, "done": terminated.clone(), "terminated": terminated},
            [batch],
        ),
    }
    discount = torch.tensor(gamma)
    if steps is not None:
        data["steps_to_next_obs"] = steps
        discount = gamma**steps
    loss = DistributionalDQNLoss(actor, gamma=gamma, delay_value=True, reduction="none")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no target updater: the target is the (parameter-free) online net
        per_sample = loss(TensorDict(data, [batch]))["loss"]
    logp = torch.log_softmax(obs.reshape(batch, atoms, actions), dim=-2)  # the actor's log-softmax
    logp_taken = logp[torch.arange(batch), :, action]
    next_probs = torch.softmax(next_obs.reshape(batch, atoms, actions), dim=-2)
    greedy = (next_probs * support[:, None]).sum(-2).argmax(-1)  # double DQN: online net picks a*
    pns_a = next_probs[torch.arange(batch), :, greedy]
    return per_sample.detach(), logp_taken, pns_a, reward, terminated, discount


@pytest.mark.parametrize(
    ("support", "gamma", "integer_rewards", "n_step"),
    [
        (torch.linspace(-10, 10, 51), 0.99, False, False),
        (torch.linspace(-10, 10, 51), 0.9, False, True),
        (torch.linspace(0, 5, 6), 0.8, False, False),
        (torch.linspace(-5, 5, 11), 1.0, True, False),  # b integer everywhere: the fix's path
    ],
)
def test_distributional_dqn_loss_from_our_target(support, gamma, integer_rewards, n_step):
    """TorchRL's per-sample loss, -sum(m * log p(s, a)), recomputed with our target m."""
    gen = torch.Generator().manual_seed(1)
    steps = torch.randint(1, 4, (32, 1), generator=gen) if n_step else None
    rewards = torch.arange(-12, 13, dtype=torch.float32) * (support[1] - support[0]) if integer_rewards else None
    per_sample, logp_taken, pns_a, reward, terminated, discount = _torchrl_loss_case(
        0, support, gamma, reward_values=rewards, steps=steps
    )
    # our copy of TorchRL's projection reproduces its loss: it is the same computation
    m_torchrl = torchrl_projection(pns_a, support, reward, terminated, discount)
    np.testing.assert_allclose(-(m_torchrl * logp_taken).sum(-1), per_sample, rtol=1e-6, atol=1e-6)

    discount_np = np.broadcast_to(np.asarray(discount, np.float32), (32, 1)) if n_step else float(gamma)
    ours = categorical_projection(pns_a.numpy(), support.numpy(), reward.numpy(), discount_np, terminated.numpy())
    np.testing.assert_allclose(np.asarray(ours), m_torchrl.numpy(), atol=ATOL, rtol=0)
    loss_ours = -(np.asarray(ours, np.float64) * logp_taken.numpy()).sum(-1)
    np.testing.assert_allclose(loss_ours, per_sample.numpy(), rtol=1e-5, atol=ATOL)


_C51 = np.linspace(-10, 10, 51, dtype=np.float32)
_project_c51 = jax.jit(lambda p, r, d, t: categorical_projection(p, _C51, r, d, t))


@pytest.mark.parametrize("reward_scale", [0.3, 5.0, 50.0])
def test_matches_torchrl_projection_on_random_inputs(reward_scale):
    """Clamped and unclamped rows, terminal rows, per-row discounts; jitted, with traced inputs."""
    rng = np.random.default_rng(int(reward_scale * 10))
    support = torch.linspace(-10, 10, 51)
    probs = torch.softmax(torch.tensor(rng.normal(size=(256, 51)) * 2, dtype=torch.float32), -1)
    reward = torch.tensor(rng.normal(size=(256, 1)) * reward_scale, dtype=torch.float32)
    terminated = torch.tensor(rng.random((256, 1)) < 0.2)
    discount = torch.tensor(0.99 ** rng.integers(1, 4, size=(256, 1)), dtype=torch.float32)
    expected = torchrl_projection(probs, support, reward, terminated, discount).numpy()
    ours = _project_c51(probs.numpy(), reward.numpy(), discount.numpy(), terminated.numpy())
    np.testing.assert_allclose(np.asarray(ours), expected, atol=ATOL, rtol=0)


SUPPORTS = {
    "c51": np.linspace(-10, 10, 51, dtype=np.float32),
    "uneven": np.array([-3.0, -1.5, -1.0, -0.2, 0.0, 0.4, 1.1, 2.0, 4.5], np.float32),
    "log": np.concatenate([-np.geomspace(20, 0.1, 10), [0.0], np.geomspace(0.1, 20, 10)]).astype(np.float32),
}


@pytest.mark.parametrize("name", list(SUPPORTS))
def test_matches_rlax_categorical_l2_project(name):
    """rlax projects (z_p = Tz, probs) onto z_q = support row by row; it clamps Tz itself."""
    support = SUPPORTS[name]
    rng = np.random.default_rng(7)
    n = len(support)
    probs = rng.dirichlet(np.ones(n) * 0.5, size=128).astype(np.float32)
    reward = (rng.normal(size=128) * np.abs(support).max() / 3).astype(np.float32)
    discount = rng.choice(np.array([0.99, 0.9, 0.5, 0.0], np.float32), size=128)
    tz = reward[:, None] + discount[:, None] * support[None, :]
    expected = jax.jit(jax.vmap(rlax.categorical_l2_project, in_axes=(0, 0, None)))(tz, probs, support)
    static = categorical_projection(probs, support, reward, discount)
    traced = _traced_projection(probs, support, reward, discount)
    np.testing.assert_allclose(np.asarray(static), np.asarray(expected), atol=ATOL, rtol=0)
    np.testing.assert_allclose(np.asarray(traced), np.asarray(expected), atol=ATOL, rtol=0)
    # and, being a projection, it is the identity on distributions that need no moving
    identity = _traced_projection(probs, support, np.zeros(128, np.float32), np.ones(128, np.float32))
    np.testing.assert_allclose(np.asarray(identity), probs, atol=1e-6, rtol=0)


_traced_projection = jax.jit(categorical_projection)
