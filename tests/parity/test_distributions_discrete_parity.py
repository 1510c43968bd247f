"""distributions/discrete.py, functional/mappings.py and models/param_extractor.py against
TorchRL 0.14.1 / tensordict 0.14.

Random inputs without ties (TorchRL's one-hot mode marks every tied maximum, ours the first) and
with at least one allowed class per row (fully masked rows are documented differences).
"""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchrl")

import jax.numpy as jnp  # noqa: E402
from tensordict.nn import AddStateIndependentNormalScale as TDAddScale  # noqa: E402
from tensordict.nn import NormalParamExtractor as TDExtractor  # noqa: E402
from tensordict.nn.utils import mappings as td_mappings  # noqa: E402
from torchrl.modules import MaskedCategorical as TMaskedCategorical  # noqa: E402
from torchrl.modules import MaskedOneHotCategorical as TMaskedOneHot  # noqa: E402
from torchrl.modules import NormalParamWrapper as TNormalParamWrapper  # noqa: E402
from torchrl.modules import OneHotCategorical as TOneHotCategorical  # noqa: E402

from jaxrl_modules.distributions import (  # noqa: E402
    MaskedCategorical,
    MaskedOneHotCategorical,
    OneHotCategorical,
)
from jaxrl_modules.functional.mappings import mappings  # noqa: E402
from jaxrl_modules.models.param_extractor import (  # noqa: E402
    AddStateIndependentNormalScale,
    NormalParamExtractor,
)

B, N, K = 16, 6, 3
# float32 log-probabilities from two implementations: relative 1e-5, and ~10 ulps of 1 absolute
# for values near 0 (log of a sum close to 1).
RTOL, ATOL = 1e-5, 1e-6


def _logits(seed, *shape):
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    assert all(len(np.unique(r)) == r.size for r in x.reshape(-1, shape[-1]))
    return x


def _mask(seed):
    rng = np.random.default_rng(seed)
    mask = rng.random((B, N)) < 0.5
    mask[np.arange(B), rng.integers(0, N, B)] = True
    return mask


def _indices(seed, padded):
    """Distinct class ids per row; with ``padded``, up to K - 1 trailing entries are -1."""
    rng = np.random.default_rng(seed)
    idx = np.stack([rng.permutation(N)[:K] for _ in range(B)]).astype(np.int64)
    if padded:
        n_pad = rng.integers(0, K, B)
        for b in range(B):
            idx[b, K - n_pad[b] :] = -1
    return idx


def _close(ours, theirs):
    np.testing.assert_allclose(np.asarray(ours), theirs.detach().numpy(), rtol=RTOL, atol=ATOL)


ALL_CLASSES = np.broadcast_to(np.arange(N)[:, None], (N, B))


def _their_log_prob(dist, one_hot=False):
    """TorchRL's log-prob of every class, one ``[B]`` call per class: its cross-entropy path
    raises on values with extra leading sample dims (pytorch/rl#3078); ours broadcasts."""
    values = [torch.full((B,), c) for c in range(N)]
    if one_hot:
        values = [torch.nn.functional.one_hot(v, N).float() for v in values]
    return torch.stack([dist.log_prob(v) for v in values])


def test_one_hot_categorical():
    logits = _logits(0, B, N)
    ours, theirs = OneHotCategorical(logits=logits), TOneHotCategorical(logits=torch.tensor(logits))
    values = np.eye(N, dtype=np.float32)[ALL_CLASSES]
    _close(ours.log_prob(values), theirs.log_prob(torch.tensor(values)))
    _close(ours.entropy(), theirs.entropy())
    np.testing.assert_array_equal(ours.mode(), theirs.mode.numpy())
    _close(ours.mean(), theirs.probs)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    ours_p, theirs_p = OneHotCategorical(probs=probs), TOneHotCategorical(probs=torch.tensor(probs))
    _close(ours_p.log_prob(values), theirs_p.log_prob(torch.tensor(values)))
    _close(ours_p.entropy(), theirs_p.entropy())


def test_one_hot_trailing_singleton_is_a_documented_difference():
    logits = np.array([[0.3], [0.1]], np.float32)
    assert TOneHotCategorical(logits=torch.tensor(logits)).batch_shape == ()  # squeezed: 2 classes
    assert OneHotCategorical(logits=logits).batch_shape == (2,)  # ours: 2 one-class distributions


@pytest.mark.parametrize("neg_inf", [-math.inf, -1e5])
@pytest.mark.parametrize("use_cross_entropy", [True, False])
def test_masked_categorical_dense(neg_inf, use_cross_entropy):
    logits, mask = _logits(1, B, N), _mask(1)
    kwargs = dict(mask=mask, neg_inf=neg_inf, use_cross_entropy=use_cross_entropy)
    ours = MaskedCategorical(logits=logits, **kwargs)
    theirs = TMaskedCategorical(logits=torch.tensor(logits), **{**kwargs, "mask": torch.tensor(mask)})
    _close(ours.log_prob(ALL_CLASSES), _their_log_prob(theirs))
    _close(ours.entropy(), theirs.entropy())
    np.testing.assert_array_equal(ours.mode(), theirs.mode.numpy())
    np.testing.assert_array_equal(ours.deterministic_sample(), theirs.deterministic_sample.numpy())
    _close(ours.logits, theirs.logits)


def test_masked_categorical_from_probs():
    logits, mask = _logits(2, B, N), _mask(2)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    ours = MaskedCategorical(probs=probs, mask=mask)
    theirs = TMaskedCategorical(probs=torch.tensor(probs), mask=torch.tensor(mask))
    _close(ours.log_prob(ALL_CLASSES), _their_log_prob(theirs))
    _close(ours.entropy(), theirs.entropy())


def test_finite_neg_inf_appendix_d_value():
    # Appendix D: MaskedCategorical(neg_inf=-1e5) gives a finite masked log-prob ~ -100001.
    logits = np.array([1.5410, -0.2934, -2.1788, 0.5684], np.float32)
    mask = np.array([True, False, True, True])
    theirs = TMaskedCategorical(logits=torch.tensor(logits), mask=torch.tensor(mask), neg_inf=-1e5)
    ours = MaskedCategorical(logits=logits, mask=mask, neg_inf=-1e5)
    t = float(theirs.log_prob(torch.tensor(1)))
    assert -100003 < t < -100001
    np.testing.assert_allclose(float(ours.log_prob(jnp.array(1))), t, rtol=1e-7)


@pytest.mark.parametrize("padded", [False, True])
@pytest.mark.parametrize("neg_inf", [-math.inf, -1e5])
def test_masked_categorical_sparse(padded, neg_inf):
    logits, idx = _logits(3, B, N), _indices(3, padded)
    pad = -1 if padded else None
    ours = MaskedCategorical(logits=logits, indices=idx, padding_value=pad, neg_inf=neg_inf)
    theirs = TMaskedCategorical(
        logits=torch.tensor(logits), indices=torch.tensor(idx), padding_value=pad, neg_inf=neg_inf
    )
    # Every class: listed ones and unlisted ones (exactly neg_inf in both).
    _close(ours.log_prob(ALL_CLASSES), _their_log_prob(theirs))
    np.testing.assert_array_equal(ours.mode(), theirs.mode.numpy())
    if padded and neg_inf == -math.inf:
        # TorchRL: 0 * -inf at the padding gives NaN; ours sums over the listed classes only.
        assert torch.isnan(theirs.entropy()).any()
        expected = [
            -np.sum(np.exp(lp) * lp)
            for lp in (
                logits[b, idx[b][idx[b] >= 0]] - np.log(np.exp(logits[b, idx[b][idx[b] >= 0]]).sum()) for b in range(B)
            )
        ]
        np.testing.assert_allclose(ours.entropy(), expected, rtol=RTOL, atol=ATOL)
    else:
        _close(ours.entropy(), theirs.entropy())


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("neg_inf", [-math.inf, -1e5])
def test_masked_one_hot_categorical(sparse, neg_inf):
    logits = _logits(4, B, N)
    if sparse:
        idx = _indices(4, padded=False)
        ours = MaskedOneHotCategorical(logits, indices=idx, neg_inf=neg_inf)
        theirs = TMaskedOneHot(logits=torch.tensor(logits), indices=torch.tensor(idx), neg_inf=neg_inf)
    else:
        mask = _mask(4)
        ours = MaskedOneHotCategorical(logits, mask=mask, neg_inf=neg_inf)
        theirs = TMaskedOneHot(logits=torch.tensor(logits), mask=torch.tensor(mask), neg_inf=neg_inf)
    values = np.eye(N, dtype=np.float32)[ALL_CLASSES]
    _close(ours.log_prob(values), _their_log_prob(theirs, one_hot=True))
    _close(ours.entropy(), theirs.entropy())
    np.testing.assert_array_equal(ours.mode(), theirs.mode.numpy())


def test_sample_dims_in_log_prob_are_a_documented_difference():
    logits, mask = _logits(1, B, N), _mask(1)
    theirs = TMaskedCategorical(logits=torch.tensor(logits), mask=torch.tensor(mask))
    with pytest.raises(ValueError, match="batch_size"):
        theirs.log_prob(torch.tensor(ALL_CLASSES))
    ours = MaskedCategorical(logits=logits, mask=mask).log_prob(ALL_CLASSES)
    assert ours.shape == (N, B)
    _close(ours, _their_log_prob(theirs))


def test_fully_masked_row_torchrl_nan_probs_ours_finite():
    logits = _logits(5, N)
    mask = np.zeros(N, bool)
    theirs = TMaskedCategorical(logits=torch.tensor(logits), mask=torch.tensor(mask))
    ours = MaskedCategorical(logits=logits, mask=mask)
    assert torch.isnan(theirs.probs).all()
    assert not np.isnan(np.asarray(ours.probs)).any()
    _close(ours.entropy(), theirs.entropy())  # both 0
    _close(ours.log_prob(jnp.arange(N)), theirs.log_prob(torch.arange(N)))  # both -inf
    assert int(ours.mode()) == int(theirs.mode) == 0


# --- mappings and Normal heads ----------------------------------------------------------------

MAPPINGS = ["softplus", "exp", "relu", "none", "expln", "biased_softplus", "biased_softplus_1.0",
            "biased_softplus_5.0_1e-4", "biased_softplus_0.5_0.1"]  # fmt: skip


@pytest.mark.parametrize("name", MAPPINGS)
def test_mappings(name):
    x = np.linspace(-20.0, 20.0, 161, dtype=np.float32)
    # tensordict computes inv_softplus(bias) in float32, ours in float64: ~1 ulp of the shift.
    np.testing.assert_allclose(
        mappings(name)(jnp.asarray(x)), td_mappings(name)(torch.tensor(x)).numpy(), rtol=2e-6, atol=1e-7
    )


def test_unknown_mapping_error_type_is_a_documented_difference():
    with pytest.raises(NotImplementedError):
        td_mappings("tanh")
    with pytest.raises(ValueError, match="Unknown mapping"):
        mappings("tanh")


@pytest.mark.parametrize("scale_mapping,scale_lb", [("biased_softplus_1.0", 1e-4), ("exp", 0.3), ("softplus", 1e-2)])
def test_normal_param_extractor(scale_mapping, scale_lb):
    x = np.random.default_rng(6).standard_normal((5, 3, 8)).astype(np.float32) * 3
    extra = np.arange(4.0, dtype=np.float32)
    loc, scale, e = NormalParamExtractor(scale_mapping, scale_lb)(x, extra)
    t_loc, t_scale, t_e = TDExtractor(scale_mapping, scale_lb)(torch.tensor(x), torch.tensor(extra))
    np.testing.assert_array_equal(loc, t_loc.numpy())
    np.testing.assert_allclose(scale, t_scale.numpy(), rtol=2e-6, atol=1e-7)
    np.testing.assert_array_equal(e, t_e.numpy())


def test_add_state_independent_normal_scale():
    import jax

    loc = np.random.default_rng(7).standard_normal((4, 3)).astype(np.float32)
    theirs = TDAddScale(3, scale_mapping="exp", init_value=-0.4)
    ours = AddStateIndependentNormalScale(3, scale_mapping="exp", init_value=-0.4)
    variables = ours.init(jax.random.key(0), loc)
    np.testing.assert_array_equal(
        variables["params"]["state_independent_scale"], theirs.state_independent_scale.detach().numpy()
    )
    np.testing.assert_allclose(ours.apply(variables, loc)[1], theirs(torch.tensor(loc))[1].detach().numpy(), rtol=1e-6)
    # TorchRL's default scalar scale_shape rejects any non-scalar loc; ours broadcasts it.
    with pytest.raises(RuntimeError, match="do not match"):
        TDAddScale()(torch.tensor(loc))
    scalar = AddStateIndependentNormalScale()
    assert scalar.apply(scalar.init(jax.random.key(0), loc), loc)[1].shape == (4, 3)


def test_normal_param_wrapper_raises_in_torchrl():
    with pytest.raises(RuntimeError, match="NormalParamExtractor"):
        TNormalParamWrapper(torch.nn.Linear(3, 4))
