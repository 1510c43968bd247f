"""functional/q_value.py against TorchRL 0.14.1's QValueModule and DistributionalQValueModule.

Random inputs without ties (TorchRL's one-hot marks every tied maximum, ours the first) and with
at least one allowed action per row (TorchRL's one-hot marks every entry of a fully masked row).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchrl")

import jax  # noqa: E402
from tensordict import TensorDict  # noqa: E402
from torchrl.modules import DistributionalQValueModule, QValueModule  # noqa: E402

from jaxrl_modules.functional.q_value import (  # noqa: E402
    chosen_action_value,
    distributional_greedy_action,
    greedy_action,
    mask_action_values,
)

BATCH, N = 64, 12
VAR_NUMS = [5, 4, 3]


def _values(seed, *shape):
    # Continuous normal draws: ties have probability 0; the assert keeps it so for these seeds.
    values = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    assert all(len(np.unique(row)) == row.size for row in values.reshape(-1, shape[-1]))
    return values


def _mask(seed, shape, blocks=(N,)):
    """At least one allowed action per row and per block (TorchRL marks a fully masked block's
    every entry, ours its first)."""
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) < 0.5
    start = 0
    for size in blocks:
        mask[np.arange(shape[0]), start + rng.integers(0, size, shape[0])] = True
        start += size
    return mask


def _torchrl(values, mask, space, var_nums):
    entries = {"action_value": torch.tensor(values)}
    if mask is not None:
        entries["action_mask"] = torch.tensor(mask)
    module = QValueModule(space, action_mask_key=None if mask is None else "action_mask", var_nums=var_nums)
    out = module(TensorDict(entries, batch_size=[values.shape[0]]))
    return out["action"].numpy(), out["action_value"].numpy(), out["chosen_action_value"].numpy()


def _ours(values, mask, space, var_nums):
    action = greedy_action(values, space, mask=mask, var_nums=var_nums)
    written = values if mask is None else mask_action_values(values, mask)
    return np.asarray(action), np.asarray(written), np.asarray(chosen_action_value(written, action, space))


@pytest.mark.parametrize("space, var_nums", [("categorical", None), ("one_hot", None), ("mult_one_hot", VAR_NUMS)])
@pytest.mark.parametrize("masked", [False, True])
def test_matches_torchrl_qvalue_module(space, var_nums, masked):
    values = _values(0, BATCH, N)
    mask = _mask(1, (BATCH, N), var_nums or (N,)) if masked else None
    expected = _torchrl(values, mask, space, var_nums)
    got = _ours(values, mask, space, var_nums)
    names = ("action", "action_value", "chosen_action_value")
    for name, e, g in zip(names, expected, got):
        assert g.shape == e.shape, name
        if name == "chosen_action_value" and space == "mult_one_hot":
            # A sum of one value per block, added in another order than torch's: equal up to the
            # float32 rounding bound of a 3-term sum, (terms - 1) * eps * sum |term|.
            bound = (len(VAR_NUMS) - 1) * np.finfo(np.float32).eps * np.abs(got[0] * got[1]).sum(-1, keepdims=True)
            assert (np.abs(g - e) <= bound).all(), (g - e, bound)
        else:
            np.testing.assert_array_equal(g, e, err_msg=name)
    if masked:
        chosen = got[0] if space == "categorical" else None
        if chosen is not None:
            assert mask[np.arange(BATCH), chosen].all()
        else:
            assert not (got[0].astype(bool) & ~mask).any()


def test_matches_torchrl_qvalue_module_with_batch_dims():
    values = _values(2, 3, 4, N)
    module = QValueModule("categorical")
    out = module(TensorDict({"action_value": torch.tensor(values)}, batch_size=[3, 4]))
    np.testing.assert_array_equal(np.asarray(greedy_action(values)), out["action"].numpy())
    np.testing.assert_array_equal(
        np.asarray(chosen_action_value(values, greedy_action(values))), out["chosen_action_value"].numpy()
    )


@pytest.mark.parametrize("space", ["categorical", "one_hot"])
def test_matches_torchrl_distributional_qvalue_module(space):
    atoms, actions = 21, 7
    logits = np.random.default_rng(3).standard_normal((BATCH, atoms, actions)).astype(np.float32)
    log_probs = np.asarray(jax.nn.log_softmax(logits, axis=-2))
    support = np.linspace(-5.0, 5.0, atoms).astype(np.float32)
    module = DistributionalQValueModule(space, support=torch.tensor(support))
    out = module(TensorDict({"action_value": torch.tensor(log_probs)}, batch_size=[BATCH]))
    expected = out["action"].numpy()
    got = np.asarray(distributional_greedy_action(log_probs, support, space))
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


def test_torchrl_distributional_masking_bug_is_fixed():
    """TorchRL picks the masked action when every allowed one has a negative expectation."""
    probs = np.array([[[0.9, 0.6, 0.5], [0.1, 0.4, 0.5]]], np.float32)  # expected: -1.9, -1.6, -1.5
    support = np.array([-2.0, -1.0], np.float32)
    mask = np.array([[True, True, False]])
    module = DistributionalQValueModule("categorical", support=torch.tensor(support), action_mask_key="action_mask")
    td = TensorDict({"action_value": torch.tensor(np.log(probs)), "action_mask": torch.tensor(mask)}, batch_size=[1])
    assert module(td)["action"].item() == 2  # TorchRL: the masked action
    assert int(distributional_greedy_action(np.log(probs), support, mask=mask)[0]) == 1
