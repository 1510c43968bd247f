"""Parity with TorchRL's continuous distributions, where TorchRL is right.

Random parameters, the same values in both; log-probs, entropies and point estimates compared.
Where TorchRL is wrong (docs/differences.md), the last tests pin down both behaviours.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchrl")

import jax  # noqa: E402
from scipy import stats  # noqa: E402
from torchrl.modules import IndependentNormal as TorchIndependentNormal  # noqa: E402
from torchrl.modules import TanhDelta as TorchTanhDelta  # noqa: E402
from torchrl.modules import TanhNormal as TorchTanhNormal  # noqa: E402
from torchrl.modules import TruncatedNormal as TorchTruncatedNormal  # noqa: E402
from torchrl.modules.distributions import Delta as TorchDelta  # noqa: E402

from jaxrl_modules.distributions import Delta, IndependentNormal, TanhDelta, TanhNormal, TruncatedNormal  # noqa: E402


def _params(seed, shape=(5, 4), loc_scale=1.5):
    rng = np.random.default_rng(seed)
    loc = (rng.standard_normal(shape) * loc_scale).astype(np.float32)
    scale = np.exp(0.5 * rng.standard_normal(shape)).astype(np.float32)
    return loc, scale


def _t(x):
    return torch.tensor(np.asarray(x))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("tanh_loc", [False, True])
def test_independent_normal(seed, tanh_loc):
    loc, scale = _params(seed)
    loc = loc * 4
    ours = IndependentNormal(loc, scale, tanh_loc=tanh_loc)
    theirs = TorchIndependentNormal(_t(loc), _t(scale), tanh_loc=tanh_loc)
    theirs.update(_t(loc), _t(scale))  # TorchRL applies tanh_loc in update() only
    x = np.random.default_rng(seed + 10).standard_normal((3, 5, 4)).astype(np.float32) * 3
    np.testing.assert_allclose(ours.log_prob(x), theirs.log_prob(_t(x)).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.entropy(), theirs.entropy().numpy(), rtol=1e-6)
    pairs = (
        (ours.mode(), theirs.mode),
        (ours.mean(), theirs.mean),
        (ours.deterministic_sample(), theirs.deterministic_sample),
    )
    for ours_point, theirs_point in pairs:
        np.testing.assert_allclose(ours_point, theirs_point.numpy(), rtol=1e-6)


BOUNDS = [
    (-1.0, 1.0),
    (0.0, 2.0),
    (np.array([-1.0, 0.0, -3.0, 2.0], np.float32), np.array([1.0, 0.5, -1.0, 5.0], np.float32)),
]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("bounds", BOUNDS, ids=["default", "0-2", "per-dim"])
def test_tanh_normal(seed, bounds):
    low, high = bounds
    loc, scale = _params(seed)
    ours = TanhNormal(loc, scale, low=low, high=high)
    theirs = TorchTanhNormal(_t(loc), _t(scale), low=torch.as_tensor(low), high=torch.as_tensor(high))
    y = np.asarray(ours.sample(seed=jax.random.key(seed), sample_shape=3))
    np.testing.assert_allclose(ours.log_prob(y), theirs.log_prob(_t(y)).numpy(), rtol=2e-5, atol=2e-4)
    np.testing.assert_allclose(ours.deterministic_sample(), theirs.deterministic_sample.numpy(), rtol=1e-6, atol=1e-6)
    # both clamp the pre-image at 1 - 1e-6, so the scores at (and beyond) the bounds agree too
    edges = np.stack([np.broadcast_to(low, (5, 4)), np.broadcast_to(high, (5, 4))]).astype(np.float32)
    np.testing.assert_allclose(ours.log_prob(edges), theirs.log_prob(_t(edges)).numpy(), rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("half_width", [1.0, 2.5])
def test_truncated_normal_with_symmetric_bounds(seed, half_width):
    # loc near 0 and scale ~ 1: most of the mass lies inside the bounds, where TorchRL's 1e-6
    # clamps of Phi and Z change nothing measurable (far in a tail they do: see the last test)
    loc, scale = _params(seed, loc_scale=0.5)
    ours = TruncatedNormal(loc, scale, low=-half_width, high=half_width)
    theirs = TorchTruncatedNormal(_t(loc), _t(scale), low=-half_width, high=half_width)
    x = (np.random.default_rng(seed + 10).uniform(-0.99, 0.99, (3, 5, 4)) * half_width).astype(np.float32)
    np.testing.assert_allclose(ours.log_prob(x), theirs.log_prob(_t(x)).numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ours.entropy(), theirs.entropy().numpy(), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(ours.mean(), theirs.mean.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.deterministic_sample(), theirs.deterministic_sample.numpy(), rtol=1e-5, atol=1e-5)
    # TorchRL clamps the mode 1e-6 inside the bounds; ours is the exact clip
    np.testing.assert_allclose(ours.mode(), theirs.mode.numpy(), atol=2e-6)
    outside = x.copy()
    outside[0, 0, 0] = half_width + 0.1
    assert float(ours.log_prob(outside)[0, 0]) == theirs.log_prob(_t(outside))[0, 0].item() == -np.inf


def test_truncated_normal_tanh_loc():
    # scale >= 1.5 keeps both standardised bounds within 4.5 scales of loc', where TorchRL's
    # 1e-6 clamps of Phi are inactive (farther out its density is wrong, see the last test)
    loc, _ = _params(3, loc_scale=5.0)
    scale = np.random.default_rng(4).uniform(1.5, 3.0, loc.shape).astype(np.float32)
    ours = TruncatedNormal(loc, scale, low=-2.0, high=2.0, tanh_loc=True)
    theirs = TorchTruncatedNormal(_t(loc), _t(scale), low=-2.0, high=2.0, tanh_loc=True)
    np.testing.assert_allclose(ours.loc, theirs.loc.numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours.mean(), theirs.mean.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ours.entropy(), theirs.entropy().numpy(), rtol=1e-5, atol=1e-4)


def test_delta():
    param, _ = _params(0)
    ours, theirs = Delta(param), TorchDelta(_t(param))
    assert ours.batch_shape == tuple(theirs.batch_shape) and ours.event_shape == tuple(theirs.event_shape)
    value = param.copy()
    value[1, 2] += 1e-3
    for v in (param, value, param + 1e-7):
        np.testing.assert_array_equal(ours.log_prob(v), theirs.log_prob(_t(v)).numpy())
    pairs = (
        (ours.mode(), theirs.mode),
        (ours.mean(), theirs.mean),
        (ours.deterministic_sample(), theirs.deterministic_sample),
    )
    for ours_point, theirs_point in pairs:
        np.testing.assert_array_equal(ours_point, theirs_point.numpy())


def test_tanh_delta_with_default_bounds():
    param, _ = _params(1)
    ours, theirs = TanhDelta(param), TorchTanhDelta(_t(param))
    np.testing.assert_allclose(ours.mode(), theirs.mode.numpy(), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ours.deterministic_sample(), theirs.deterministic_sample.numpy(), rtol=1e-6, atol=1e-7)
    value = np.asarray(ours.mode()).copy()
    np.testing.assert_array_equal(ours.log_prob(value), theirs.log_prob(_t(value)).numpy())  # +inf
    value[0, 0] += 1e-2
    np.testing.assert_array_equal(ours.log_prob(value), theirs.log_prob(_t(value)).numpy())  # -inf in row 0


# --- the documented differences (docs/differences.md) -----------------------------------------


def test_differences_from_torchrl_still_hold():
    zeros = np.zeros((1, 2), np.float32)
    # TanhDelta with bounds [0, 2]: TorchRL shifts param by the midpoint (1 + tanh(1)); ours is 1
    assert np.allclose(TorchTanhDelta(_t(zeros), low=0.0, high=2.0).mode.numpy(), 1 + np.tanh(1.0))
    assert np.allclose(TanhDelta(zeros, low=0.0, high=2.0).mode(), 1.0)
    # TanhNormal(tanh_loc=True) with bounds [0, 2]: TorchRL's root loc is 5 tanh(loc / 5) + 1
    theirs = TorchTanhNormal(_t(zeros), _t(zeros + 1), low=0.0, high=2.0, tanh_loc=True)
    assert np.allclose(theirs.root_dist.loc.numpy(), 1.0)
    assert np.allclose(TanhNormal(zeros, zeros + 1, low=0.0, high=2.0, tanh_loc=True).loc, 0.0)
    # TanhNormal has no mode in TorchRL; ours maximises the density, which get_mode()'s Adam
    # search does not reach
    with pytest.raises(RuntimeError):
        _ = TorchTanhNormal(_t(zeros), _t(zeros + 0.3)).mode
    ours = TanhNormal(np.array([[0.8, -1.5]], np.float32), np.array([[0.4, 0.6]], np.float32))
    torch.manual_seed(0)
    theirs_mode = TorchTanhNormal(torch.tensor([[0.8, -1.5]]), torch.tensor([[0.4, 0.6]])).get_mode().numpy()
    assert np.all(ours.log_prob(ours.mode()) >= ours.log_prob(theirs_mode))
    # TanhDelta's log_prob of its own saturated mode: TorchRL -inf (pre-image test), ours +inf
    big = np.array([[10.0, 0.3]], np.float32)
    assert TorchTanhDelta(_t(big)).log_prob(TorchTanhDelta(_t(big)).mode).item() == -np.inf
    assert float(TanhDelta(big).log_prob(TanhDelta(big).mode())[0]) == np.inf
    # IndependentNormal(tanh_loc=True): TorchRL ignores the flag at construction
    loc = np.full((1, 2), 20.0, np.float32)
    assert np.allclose(TorchIndependentNormal(_t(loc), _t(loc * 0 + 1), tanh_loc=True).mode.numpy(), 20.0)
    assert np.allclose(IndependentNormal(loc, 1.0, tanh_loc=True).mode(), 5 * np.tanh(4.0))
    # TruncatedNormal far in a tail (alpha = 5): TorchRL's clamped Phi and Z give a wrong density
    d = TruncatedNormal(np.zeros((1, 1), np.float32), np.full((1, 1), 0.1, np.float32), low=0.5, high=2.0)
    t = TorchTruncatedNormal(torch.zeros(1, 1), torch.full((1, 1), 0.1), low=0.5, high=2.0)
    x = np.full((1, 1), 0.55, np.float32)
    ref = stats.truncnorm(5.0, 20.0, loc=0.0, scale=0.1).logpdf(0.55)
    assert abs(float(d.log_prob(x)[0]) - ref) < 1e-4
    assert abs(float(t.log_prob(_t(x))[0]) - ref) > 0.5
