"""QValueActor and DistributionalQValueActor against TorchRL's, with copied weights."""

import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchrl_modules = pytest.importorskip("torchrl.modules")
from tensordict import TensorDict as TorchTensorDict  # noqa: E402
from torchrl.data import Categorical as TorchCategorical  # noqa: E402
from torchrl.data import OneHot as TorchOneHot  # noqa: E402

from jaxrl_modules import MLP, Categorical, DistributionalQValueActor, OneHot, QValueActor, TensorDict  # noqa: E402
from jaxrl_modules.compat.torchrl import load_state_dict  # noqa: E402


@pytest.mark.parametrize("space", ["categorical", "one_hot"])
def test_q_value_actor_matches_torchrl(space):
    torch.manual_seed(0)
    net = torchrl_modules.MLP(in_features=6, out_features=5, num_cells=[16])
    spec_t = TorchCategorical(5) if space == "categorical" else TorchOneHot(5)
    actor_t = torchrl_modules.QValueActor(net, spec=spec_t)
    obs = torch.randn(7, 6)
    out_t = actor_t(TorchTensorDict({"observation": obs}, batch_size=[7]))

    mlp = MLP(out_features=5, num_cells=[16])
    actor = QValueActor(mlp, spec=Categorical(5) if space == "categorical" else OneHot(5))
    variables = {"params": {"modules_0": {"module": load_state_dict(mlp, net, jnp.zeros((1, 6)))["params"]}}}
    out = actor.apply(variables, TensorDict({"observation": jnp.asarray(obs.numpy())}, batch_size=[7]))
    for key in ("action", "action_value", "chosen_action_value"):
        np.testing.assert_allclose(np.asarray(out[key]), out_t[key].detach().numpy(), atol=1e-5)


def test_distributional_q_value_actor_matches_torchrl():
    torch.manual_seed(0)
    atoms, actions = 7, 3
    net = torchrl_modules.MLP(in_features=4, out_features=(atoms, actions), num_cells=[16])
    support = torch.linspace(-2, 2, atoms)
    actor_t = torchrl_modules.DistributionalQValueActor(net, support=support, spec=TorchOneHot(actions))
    obs = torch.randn(9, 4)
    out_t = actor_t(TorchTensorDict({"observation": obs}, batch_size=[9]))

    mlp = MLP(out_features=(atoms, actions), num_cells=[16])
    actor = DistributionalQValueActor(mlp, support=support.numpy(), spec=OneHot(actions))
    variables = {"params": {"modules_0": {"module": load_state_dict(mlp, net, jnp.zeros((1, 4)))["params"]}}}
    out = actor.apply(variables, TensorDict({"observation": jnp.asarray(obs.numpy())}, batch_size=[9]))
    np.testing.assert_allclose(np.asarray(out["action_value"]), out_t["action_value"].detach().numpy(), atol=1e-5)
    np.testing.assert_array_equal(np.asarray(out["action"]), out_t["action"].numpy())
