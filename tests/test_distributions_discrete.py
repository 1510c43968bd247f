"""distributions/discrete.py: OneHotCategorical, MaskedCategorical, MaskedOneHotCategorical."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jaxrl_modules.distributions import (
    MaskedCategorical,
    MaskedOneHotCategorical,
    OneHotCategorical,
    ReparamGradientStrategy,
)

PT, RELAXED = ReparamGradientStrategy.PassThrough, ReparamGradientStrategy.RelaxedOneHot


# --- numpy references -------------------------------------------------------------------------


def _log_softmax(x):
    x = np.asarray(x, np.float64)
    m = np.max(np.where(np.isfinite(x), x, -np.inf), axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return x - (np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True)) + m)


def _entropy(log_p):
    p = np.exp(log_p)
    return -np.sum(np.where(p > 0, p * np.where(p > 0, log_p, 0.0), 0.0), axis=-1)


# A float32 log-probability near 0 is log(sum of exps ~ 1), good to ~1 ulp of 1 in absolute terms.
LOGP_ATOL = 1e-6


def _key(seed):
    # XLA:CPU compiles the default threefry generator anew for every shape of random bits, which
    # was most of this file's run time; "rbg" keys compile in a fraction of it. The distributions
    # take any key; the doctests and test_one_hot_shapes_dtypes_and_values use default keys.
    return jax.random.key(seed, impl="rbg")


def _normal(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _mask(seed, shape):
    """Random boolean mask with at least one allowed entry per row."""
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) < 0.5
    rows = mask.reshape(-1, shape[-1])
    rows[np.arange(rows.shape[0]), rng.integers(0, shape[-1], rows.shape[0])] = True
    return rows.reshape(shape)


def _freq_tolerance(p, n):
    """Five standard errors of an empirical frequency over n draws (fixed key: deterministic)."""
    return 5 * np.sqrt(np.maximum(p * (1 - p), 1e-12) / n) + 1.0 / n


# --- shapes, dtypes, pytrees ------------------------------------------------------------------


def test_one_hot_shapes_dtypes_and_values():
    dist = OneHotCategorical(logits=_normal(0, 2, 3, 5))
    assert dist.batch_shape == (2, 3) and dist.event_shape == (5,) and dist.num_samples == 5
    s = dist.sample(seed=jax.random.key(0), sample_shape=(4,))
    assert s.shape == (4, 2, 3, 5) and s.dtype == jnp.float32
    np.testing.assert_array_equal(np.sort(np.unique(np.asarray(s))), [0.0, 1.0])
    np.testing.assert_array_equal(np.asarray(s).sum(-1), np.ones((4, 2, 3)))
    assert dist.log_prob(s).shape == (4, 2, 3)
    assert dist.entropy().shape == (2, 3)
    assert dist.mode().shape == (2, 3, 5) and dist.mean().shape == (2, 3, 5)
    relaxed = OneHotCategorical(logits=_normal(0, 2, 3, 5), grad_method=RELAXED)
    r = relaxed.sample(seed=jax.random.key(1), sample_shape=7)
    assert r.shape == (7, 2, 3, 5)
    np.testing.assert_array_equal(np.asarray(r).sum(-1), np.ones((7, 2, 3)))
    np.testing.assert_array_equal(np.sort(np.unique(np.asarray(r))), [0.0, 1.0])


def test_masked_shapes_and_dtypes():
    logits, mask = _normal(1, 2, 3, 6), _mask(1, (2, 3, 6))
    dist = MaskedCategorical(logits=logits, mask=mask)
    assert dist.batch_shape == (2, 3) and dist.event_shape == ()
    s = dist.sample(seed=_key(0), sample_shape=(4, 5))
    assert s.shape == (4, 5, 2, 3) and s.dtype == jnp.int32
    assert dist.log_prob(s).shape == (4, 5, 2, 3) and dist.mode().dtype == jnp.int32
    one_hot = MaskedOneHotCategorical(logits, mask=mask)
    assert one_hot.batch_shape == (2, 3) and one_hot.event_shape == (6,)
    o = one_hot.sample(seed=_key(0), sample_shape=4)
    assert o.shape == (4, 2, 3, 6) and o.dtype == jnp.float32
    assert one_hot.mode().shape == (2, 3, 6) and one_hot.mean().shape == (2, 3, 6)
    sparse = MaskedCategorical(logits=logits, indices=np.zeros((2, 3, 2), np.int32))
    assert sparse.batch_shape == (2, 3) and sparse.num_samples == 6 and sparse.probs.shape == (2, 3, 2)


def test_trailing_singleton_is_not_squeezed():
    # TorchRL squeezes logits [B, 1] into one distribution over B classes; here B over 1 class.
    dist = OneHotCategorical(logits=jnp.array([[0.3], [0.1]]))
    assert dist.batch_shape == (2,) and dist.event_shape == (1,)
    np.testing.assert_array_equal(dist.sample(seed=_key(0), sample_shape=3), np.ones((3, 2, 1)))
    np.testing.assert_array_equal(dist.log_prob(jnp.ones((2, 1))), [0.0, 0.0])


@pytest.mark.parametrize(
    "make",
    [
        lambda l, m, idx: OneHotCategorical(logits=l),
        lambda l, m, idx: MaskedCategorical(logits=l, mask=m),
        lambda l, m, idx: MaskedCategorical(logits=l, indices=idx, padding_value=-1),
        lambda l, m, idx: MaskedOneHotCategorical(l, mask=m, grad_method=RELAXED),
        lambda l, m, idx: MaskedOneHotCategorical(l, indices=idx, padding_value=-1),
    ],
)
def test_vmap_jit_and_shapes_follow_the_leaves(make):
    logits, mask = _normal(2, 4, 3, 5), _mask(2, (4, 3, 5))
    idx = np.array([[[1, 3, -1]] * 3] * 4, np.int32)
    dist = make(logits, mask, idx)
    ev = dist.event_shape

    # Shapes inside vmap are the per-example ones.
    inner = jax.vmap(lambda d: jnp.zeros(d.batch_shape + d.event_shape))(dist)
    assert inner.shape == (4, 3) + ev
    nested = jax.vmap(jax.vmap(lambda d: jnp.zeros(d.batch_shape + d.event_shape)))(dist)
    assert nested.shape == (4, 3) + ev

    # vmap over the distribution equals a loop over its examples (one unbatched key for all, so
    # the comparison is about the distribution, not about how a key generator batches).
    key = _key(3)
    vmapped = jax.jit(jax.vmap(lambda d, k: d.sample(seed=k, sample_shape=2), in_axes=(0, None)))(dist, key)
    one = jax.jit(lambda l, m, i, k: make(l, m, i).sample(seed=k, sample_shape=2))
    looped = [one(logits[i], mask[i], idx[i], key) for i in range(4)]
    np.testing.assert_array_equal(vmapped, np.stack(looped))

    # jit: a distribution as argument and as output; jit equals eager.
    key = _key(4)
    rebuilt, sample, entropy = jax.jit(lambda d, k: (d, d.sample(seed=k, sample_shape=3), d.entropy()))(dist, key)
    np.testing.assert_array_equal(sample, dist.sample(seed=key, sample_shape=3))
    np.testing.assert_allclose(entropy, dist.entropy(), rtol=1e-6)
    assert type(rebuilt) is type(dist) and rebuilt.batch_shape == dist.batch_shape
    built = jax.jit(jax.vmap(lambda l, m, i: make(l, m, i)))(logits, mask, idx)
    assert type(built) is type(dist) and built.batch_shape == (4, 3)
    np.testing.assert_allclose(built.entropy(), dist.entropy(), rtol=1e-6)


def test_sample_and_log_prob_matches_sample_then_log_prob():
    logits, mask = _normal(3, 3, 7), _mask(3, (3, 7))
    idx = np.array([[6, 0, 2], [5, 5, 1], [3, -1, -1]], np.int32)
    for dist in [
        OneHotCategorical(logits=logits),
        OneHotCategorical(logits=logits, grad_method=RELAXED),
        MaskedCategorical(logits=logits, mask=mask, neg_inf=-1e5),
        MaskedCategorical(logits=logits, indices=idx, padding_value=-1),
        MaskedOneHotCategorical(logits, mask=mask),
        MaskedOneHotCategorical(logits, indices=idx, padding_value=-1, grad_method=RELAXED),
    ]:
        key = _key(5)
        s, lp = dist.sample_and_log_prob(seed=key, sample_shape=(6,))
        np.testing.assert_array_equal(s, dist.sample(seed=key, sample_shape=(6,)))
        np.testing.assert_allclose(lp, dist.log_prob(s), rtol=1e-6)
        assert np.isfinite(np.asarray(lp)).all()


# --- masked samples ---------------------------------------------------------------------------


B, N, K = 4, 6, 3


@jax.jit
def _masked_draws(logits, mask, idx, key):
    """Samples and modes of the three masked variants, for each neg_inf (one compilation)."""
    out = []
    for neg_inf in (-math.inf, -1e5, -10.0):
        dense = MaskedCategorical(logits=logits, mask=mask, neg_inf=neg_inf)
        one_hot = MaskedOneHotCategorical(logits, mask=mask, neg_inf=neg_inf)
        relaxed = MaskedOneHotCategorical(logits, mask=mask, neg_inf=neg_inf, grad_method=RELAXED)
        sparse = MaskedCategorical(logits=logits, indices=idx, padding_value=-1, neg_inf=neg_inf)
        out.append(
            (
                dense.sample(seed=key, sample_shape=64),
                dense.mode(),
                one_hot.sample(seed=key, sample_shape=64),
                relaxed.sample(seed=key, sample_shape=64),
                sparse.sample(seed=key, sample_shape=64),
                sparse.mode(),
            )
        )
    return out


@settings(max_examples=30, deadline=None)
@given(
    logits=hnp.arrays(np.float32, (B, N), elements=st.floats(-30, 30, width=32) | st.just(-np.inf)),
    mask=hnp.arrays(np.bool_, (B, N)),
    idx=hnp.arrays(np.int32, (B, K), elements=st.integers(-1, N - 1)),
    seed=st.integers(0, 2**31 - 1),
)
def test_samples_and_mode_are_never_masked(logits, mask, idx, seed):
    for s, mode, one_hot, relaxed, ss, sm in _masked_draws(logits, mask, idx, _key(seed)):
        s, mode, ss, sm = (np.asarray(a) for a in (s, mode, ss, sm))
        for b in range(B):
            allowed = mask[b] & (logits[b] > -np.inf)
            if allowed.any():
                assert allowed[s[:, b]].all() and allowed[mode[b]]
                for oh in (np.asarray(one_hot), np.asarray(relaxed)):
                    assert (oh[:, b][:, ~allowed] == 0).all()
                    np.testing.assert_array_equal(oh[:, b].sum(-1), np.ones(64))
            else:  # documented: class 0
                assert (s[:, b] == 0).all() and mode[b] == 0
            # Sparse: every sample is one of the listed, non-padding classes.
            listed = {int(i) for i in idx[b] if i != -1 and logits[b, i] > -np.inf}
            if listed:
                assert set(ss[:, b].tolist()) <= listed and int(sm[b]) in listed
            else:
                assert (ss[:, b] == 0).all() and sm[b] == 0


def _check_frequencies(samples, p):
    n = samples.shape[0]
    freq = np.bincount(samples.reshape(-1), minlength=p.shape[-1]) / n
    np.testing.assert_array_less(np.abs(freq - p), _freq_tolerance(p, n))


@pytest.mark.parametrize("grad_method", [PT, RELAXED])
def test_empirical_frequencies_match_probabilities(grad_method):
    n = 100_000
    logits = np.array([0.3, -1.2, 1.5, 0.0, 0.7], np.float32)
    p = np.exp(_log_softmax(logits))
    one_hot = OneHotCategorical(logits=logits, grad_method=grad_method).sample(seed=_key(6), sample_shape=n)
    _check_frequencies(np.argmax(np.asarray(one_hot), -1), p)

    mask = np.array([True, False, True, True, False])
    pm = np.exp(_log_softmax(np.where(mask, logits, -np.inf)))
    dense = MaskedCategorical(logits=logits, mask=mask).sample(seed=_key(7), sample_shape=n)
    _check_frequencies(np.asarray(dense), pm)
    moh = MaskedOneHotCategorical(logits, mask=mask, grad_method=grad_method).sample(seed=_key(8), sample_shape=n)
    _check_frequencies(np.argmax(np.asarray(moh), -1), pm)

    idx = np.array([4, 0, -1], np.int32)
    ps = np.zeros(5)
    ps[[4, 0]] = np.exp(_log_softmax(logits[[4, 0]]))
    sparse = MaskedCategorical(logits=logits, indices=idx, padding_value=-1).sample(seed=_key(9), sample_shape=n)
    _check_frequencies(np.asarray(sparse), ps)
    soh = MaskedOneHotCategorical(logits, indices=idx, padding_value=-1, grad_method=grad_method)
    _check_frequencies(np.argmax(np.asarray(soh.sample(seed=_key(10), sample_shape=n)), -1), ps)
    np.testing.assert_allclose(soh.mean(), ps, rtol=1e-6, atol=1e-7)


# --- log_prob, entropy, mode against numpy --------------------------------------------------


def test_one_hot_log_prob_entropy_mode_mean():
    logits = _normal(11, 4, 6)
    ref = _log_softmax(logits)
    dist = OneHotCategorical(logits=logits)
    classes = np.random.default_rng(11).integers(0, 6, (3, 4))
    values = np.eye(6, dtype=np.float32)[classes]
    expected = np.take_along_axis(np.broadcast_to(ref, (3, 4, 6)), classes[..., None], -1)[..., 0]
    np.testing.assert_allclose(dist.log_prob(values), expected, rtol=1e-5)
    np.testing.assert_allclose(dist.entropy(), _entropy(ref), rtol=1e-5)
    np.testing.assert_allclose(dist.mean(), np.exp(ref), rtol=1e-5)
    np.testing.assert_array_equal(dist.mode(), np.eye(6)[np.argmax(logits, -1)])
    np.testing.assert_array_equal(dist.deterministic_sample(), dist.mode())
    # From probs (a zero probability gives -inf exactly; TorchRL clamps it to log(eps)).
    probs = np.array([0.2, 0.0, 0.6, 0.2], np.float32) * 3
    pd = OneHotCategorical(probs=probs)
    with np.errstate(divide="ignore"):
        expected = np.log([0.2, 0.0, 0.6, 0.2])
    np.testing.assert_allclose(pd.log_prob(np.eye(4, dtype=np.float32)), expected, rtol=1e-6)
    np.testing.assert_allclose(pd.entropy(), -(0.4 * np.log(0.2) + 0.6 * np.log(0.6)), rtol=1e-6)
    np.testing.assert_allclose(pd.probs, [0.2, 0.0, 0.6, 0.2], rtol=1e-6)


def test_mode_takes_the_first_maximum():
    tied = jnp.array([1.0, 3.0, 3.0, 0.0])
    np.testing.assert_array_equal(OneHotCategorical(logits=tied).mode(), [0, 1, 0, 0])  # TorchRL: [0, 1, 1, 0]
    np.testing.assert_array_equal(MaskedOneHotCategorical(tied, mask=jnp.ones(4, bool)).mode(), [0, 1, 0, 0])
    assert int(MaskedCategorical(logits=tied, mask=jnp.array([True, False, True, True])).mode()) == 2
    assert int(MaskedCategorical(logits=tied, indices=jnp.array([3, 2, 1])).mode()) == 2  # first listed max


@pytest.mark.parametrize("neg_inf", [-math.inf, -1e5])
def test_masked_log_prob_entropy_against_numpy(neg_inf):
    logits, mask = _normal(12, 5, 7), _mask(12, (5, 7))
    dist = MaskedCategorical(logits=logits, mask=mask, neg_inf=neg_inf)
    ref = _log_softmax(np.where(mask, logits, neg_inf))
    ref = np.where(np.isfinite(ref), ref, neg_inf)
    values = np.broadcast_to(np.arange(7)[:, None], (7, 5))
    got = np.asarray(dist.log_prob(values))
    np.testing.assert_allclose(got, ref.T, rtol=1e-6)
    assert np.isfinite(got).all() == np.isfinite(neg_inf)
    exact = _log_softmax(np.where(mask, logits, -np.inf))
    np.testing.assert_allclose(dist.entropy(), _entropy(exact), rtol=1e-5)
    np.testing.assert_array_equal(dist.mode(), np.argmax(np.where(mask, logits, -np.inf), -1))
    one_hot = MaskedOneHotCategorical(logits, mask=mask, neg_inf=neg_inf)
    np.testing.assert_allclose(one_hot.log_prob(np.eye(7, dtype=np.float32)[values]), ref.T, rtol=1e-6)
    np.testing.assert_allclose(one_hot.mean(), np.exp(exact), rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(one_hot.mode(), np.eye(7)[np.asarray(dist.mode())])
    with pytest.raises(NotImplementedError, match="no mean"):
        dist.mean()


def test_finite_neg_inf_gives_torchrl_finite_values():
    # TorchRL (Appendix D): masked log-prob = neg_inf - logsumexp over the masked logits, finite.
    logits = np.array([1.5410, -0.2934, -2.1788, 0.5684], np.float32)
    mask = np.array([True, False, True, True])
    lp = MaskedCategorical(logits=logits, mask=mask, neg_inf=-1e5).log_prob(jnp.array(1))
    expected = -1e5 - np.log(np.exp(logits[mask]).sum())
    np.testing.assert_allclose(lp, expected, rtol=1e-7)
    assert -100002 < float(lp) < -100001
    assert MaskedCategorical(logits=logits, mask=mask).log_prob(jnp.array(1)) == -np.inf


def test_masked_from_probs_renormalises():
    probs = np.full(10, 0.1, np.float32)
    mask = np.array([False] + 9 * [True])
    dist = MaskedCategorical(probs=probs, mask=mask)
    np.testing.assert_allclose(dist.log_prob(jnp.arange(10)), [-np.inf] + [np.log(1 / 9)] * 9, rtol=1e-6)
    np.testing.assert_allclose(dist.entropy(), np.log(9), rtol=1e-6)


def test_sparse_indices_mapping_padding_and_duplicates():
    logits = _normal(13, 2, 6)
    idx = np.array([[4, 1, -1], [5, -1, -1]], np.int32)
    dist = MaskedCategorical(logits=logits, indices=idx, padding_value=-1)
    assert dist.sparse and dist.padding_value == -1
    np.testing.assert_array_equal(dist.mask, [[0, 1, 0, 0, 1, 0], [0, 0, 0, 0, 0, 1]])
    row0 = _log_softmax(logits[0, [4, 1]])
    values = np.array([[4, 5], [1, 5], [0, 0], [-1, -1], [9, 9]], np.int32)
    expected = [[row0[0], 0.0], [row0[1], 0.0], [-np.inf] * 2, [-np.inf] * 2, [-np.inf] * 2]
    np.testing.assert_allclose(dist.log_prob(values), expected, rtol=1e-6, atol=LOGP_ATOL)
    np.testing.assert_allclose(dist.entropy(), [_entropy(row0), 0.0], rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(dist.mode(), [[4, 1][int(np.argmax(logits[0, [4, 1]]))], 5])
    # Finite neg_inf: unlisted classes get exactly neg_inf, listed ones TorchRL's normalised value.
    finite = MaskedCategorical(logits=logits, indices=idx, padding_value=-1, neg_inf=-1e5)
    expected = [[row0[0], 0.0], [-1e5, -1e5]]
    np.testing.assert_allclose(finite.log_prob(values[[0, 2]]), expected, rtol=1e-6, atol=LOGP_ATOL)
    # TorchRL's padding_value=0: entries equal to 0 are padding, so class 0 is never allowed.
    zero_pad = MaskedCategorical(logits=logits, indices=np.array([[0, 3], [2, 0]], np.int32), padding_value=0)
    np.testing.assert_array_equal(zero_pad.sample(seed=_key(0), sample_shape=50), np.broadcast_to([3, 2], (50, 2)))
    # Ids outside [0, n) count as padding (TorchRL's gather raises).
    wild = MaskedCategorical(logits=np.zeros(4, np.float32), indices=np.array([7, 1, -3], np.int32))
    np.testing.assert_array_equal(wild.sample(seed=_key(1), sample_shape=20), np.ones(20))
    np.testing.assert_array_equal(wild.log_prob(jnp.array([7, 1, -3])), [-np.inf, 0.0, -np.inf])
    # A class listed twice carries the sum of its entries' probabilities.
    dup = MaskedCategorical(logits=np.zeros(4, np.float32), indices=np.array([2, 2, 3], np.int32))
    np.testing.assert_allclose(dup.log_prob(jnp.array([2, 3])), np.log([2 / 3, 1 / 3]), rtol=1e-6)
    one_hot = MaskedOneHotCategorical(logits, indices=idx, padding_value=-1)
    np.testing.assert_array_equal(one_hot.mode(), np.eye(6)[np.asarray(dist.mode())])
    one_hot_values = np.eye(6, dtype=np.float32)[[4, 5]]
    np.testing.assert_allclose(one_hot.log_prob(one_hot_values), [row0[0], 0.0], rtol=1e-6, atol=LOGP_ATOL)


def test_fully_masked_rows_are_finite_and_documented():
    logits = _normal(14, 2, 4)
    mask = np.array([[False] * 4, [True, False, True, False]])
    dist = MaskedCategorical(logits=logits, mask=mask)
    lp = np.asarray(dist.log_prob(jnp.broadcast_to(jnp.arange(4)[:, None], (4, 2))))
    assert not np.isnan(lp).any() and (lp[:, 0] == -np.inf).all()
    np.testing.assert_array_equal(dist.entropy()[0], 0.0)
    assert int(dist.mode()[0]) == 0
    assert (np.asarray(dist.sample(seed=_key(0), sample_shape=20))[:, 0] == 0).all()
    np.testing.assert_array_equal(MaskedOneHotCategorical(logits, mask=mask).mean()[0], np.zeros(4))
    assert not np.isnan(np.asarray(dist.logits)).any() and not np.isnan(np.asarray(dist.probs)).any()
    # Finite neg_inf: TorchRL's value, all entries tie at neg_inf, so log_prob = -log(n).
    finite = MaskedCategorical(logits=logits, mask=mask, neg_inf=-1e5)
    np.testing.assert_allclose(finite.log_prob(jnp.array([2, 0]))[0], -np.log(4), rtol=1e-6)
    np.testing.assert_array_equal(finite.entropy()[0], 0.0)
    # Sparse: a row of padding only samples class 0, never the padding value.
    sparse = MaskedCategorical(logits=logits, indices=np.array([[-1, -1], [3, -1]], np.int32), padding_value=-1)
    np.testing.assert_array_equal(sparse.sample(seed=_key(1), sample_shape=5), np.broadcast_to([0, 3], (5, 2)))
    np.testing.assert_array_equal(sparse.entropy(), [0.0, 0.0])
    # Gradients stay finite through -inf logits and fully masked rows.
    for fn in (
        lambda l: dist.__class__(logits=l, mask=mask).entropy().sum(),
        lambda l: MaskedCategorical(logits=l, mask=mask).log_prob(jnp.array([0, 2])).clip(-1e3).sum(),
        lambda l: MaskedOneHotCategorical(l, mask=mask).sample(seed=_key(2)).sum(),
    ):
        assert np.isfinite(np.asarray(jax.grad(fn)(jnp.asarray(logits)))).all()


def test_log_prob_of_out_of_range_class_is_neg_inf():
    dist = MaskedCategorical(logits=jnp.zeros(3), mask=jnp.ones(3, bool), neg_inf=-7.0)
    np.testing.assert_array_equal(dist.log_prob(jnp.array([-1, 3, 100])), [-7.0, -7.0, -7.0])


# --- gradients --------------------------------------------------------------------------------


def test_pass_through_gradient_is_the_probabilities_gradient():
    logits = jnp.asarray(_normal(15, 3, 5))
    w = jnp.asarray(_normal(16, 3, 5))
    key = _key(17)

    def through_sample(l):
        return jnp.sum(OneHotCategorical(logits=l).sample(seed=key) * w)

    expected = jax.grad(lambda l: jnp.sum(jax.nn.softmax(l) * w))(logits)
    np.testing.assert_allclose(jax.grad(through_sample)(logits), expected, rtol=1e-5, atol=1e-7)
    mask = jnp.asarray(_mask(15, (3, 5)))

    def masked_sample(l):
        return jnp.sum(MaskedOneHotCategorical(l, mask=mask).sample(seed=key) * w)

    def masked_softmax(l):
        return jnp.sum(jax.nn.softmax(jnp.where(mask, l, -jnp.inf)) * w)

    np.testing.assert_allclose(jax.grad(masked_sample)(logits), jax.grad(masked_softmax)(logits), rtol=1e-5, atol=1e-7)


def test_relaxed_one_hot_gradient_is_the_gumbel_softmax_gradient():
    logits = jnp.asarray(_normal(18, 3, 5))
    w = jnp.asarray(_normal(19, 3, 5))
    key = _key(20)
    gumbel = jax.random.gumbel(key, (1, 3, 5))[0]  # the noise the sample draws from its key

    def through_sample(l):
        return jnp.sum(OneHotCategorical(logits=l, grad_method=RELAXED).sample(seed=key) * w)

    def soft(l):
        return jnp.sum(jax.nn.softmax(jax.nn.log_softmax(l) + gumbel) * w)

    np.testing.assert_allclose(jax.grad(through_sample)(logits), jax.grad(soft)(logits), rtol=1e-5, atol=1e-7)
    hard = OneHotCategorical(logits=logits, grad_method=RELAXED).sample(seed=key)
    np.testing.assert_array_equal(hard, jax.nn.one_hot(jnp.argmax(jax.nn.log_softmax(logits) + gumbel, -1), 5))


# --- errors -----------------------------------------------------------------------------------


def test_bad_inputs_raise():
    l4 = jnp.zeros((2, 4))
    with pytest.raises(ValueError, match="exactly one of logits or probs, got both"):
        OneHotCategorical(logits=l4, probs=l4)
    with pytest.raises(ValueError, match="exactly one of logits or probs, got neither"):
        MaskedCategorical(mask=jnp.ones((2, 4), bool))
    with pytest.raises(ValueError, match=r"must have shape \[\*batch, n\]"):
        OneHotCategorical(logits=jnp.zeros(()))
    with pytest.raises(ValueError, match="exactly one of mask .* got neither"):
        MaskedCategorical(logits=l4)
    with pytest.raises(ValueError, match="got both"):
        MaskedCategorical(logits=l4, mask=jnp.ones((2, 4), bool), indices=jnp.zeros((2, 1), int))
    with pytest.raises(ValueError, match=r"mask has shape \(4,\) but the logits have shape \(2, 4\)"):
        MaskedCategorical(logits=l4, mask=jnp.ones(4, bool))
    with pytest.raises(ValueError, match="must be boolean"):
        MaskedCategorical(logits=l4, mask=jnp.ones((2, 4)))
    with pytest.raises(ValueError, match="indices must be integer"):
        MaskedCategorical(logits=l4, indices=jnp.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"indices have shape \(3, 2\), the logits \(2, 4\)"):
        MaskedCategorical(logits=l4, indices=jnp.zeros((3, 2), int))
    with pytest.raises(ValueError, match="padding_side"):
        MaskedCategorical(logits=l4, mask=jnp.ones((2, 4), bool), padding_side="middle")
    with pytest.raises(ValueError, match="NaN"):
        MaskedCategorical(logits=l4, mask=jnp.ones((2, 4), bool), neg_inf=float("nan"))
    with pytest.raises(ValueError, match="Unknown grad_method"):
        OneHotCategorical(logits=l4, grad_method=3)
    with pytest.raises(ValueError, match=r"one-hot values \[\.\.\., 4\], got shape \(2, 3\)"):
        OneHotCategorical(logits=l4).log_prob(jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"batch shape \(3,\) does not broadcast .* \(2,\)"):
        OneHotCategorical(logits=l4).log_prob(jnp.zeros((3, 4)))
    with pytest.raises(ValueError, match="integer class ids"):
        MaskedCategorical(logits=l4, mask=jnp.ones((2, 4), bool)).log_prob(jnp.zeros(2))
    with pytest.raises(ValueError, match=r"one-hot values \[\.\.\., 4\]"):
        MaskedOneHotCategorical(l4, mask=jnp.ones((2, 4), bool)).log_prob(jnp.zeros(2, int))
    # Accepted spellings of the strategy.
    assert OneHotCategorical(logits=l4, grad_method=2).grad_method is RELAXED
    assert OneHotCategorical(logits=l4, grad_method="RelaxedOneHot").grad_method is RELAXED


def test_fully_masked_rows_give_class_zero_in_every_sampler_and_mode():
    # The library-wide masked-row rule (issue 20): a row that allows nothing gives class 0 (the
    # one-hot of class 0) in sample, mode and both gradient strategies, eager and under jit.
    logits = _normal(3, 2, 4)
    mask = np.array([[False] * 4, [False, False, True, True]])
    dense = MaskedCategorical(logits=logits, mask=mask)
    sparse = MaskedCategorical(logits=logits, indices=np.array([[9, -1], [2, 3]], np.int32), padding_value=-1)
    for dist in (dense, sparse):
        ids = np.asarray(jax.jit(lambda k, d=dist: d.sample(seed=k, sample_shape=50))(_key(2)))
        assert (ids[:, 0] == 0).all() and set(ids[:, 1]) <= {2, 3} and int(dist.mode()[0]) == 0
    for grad in (ReparamGradientStrategy.PassThrough, ReparamGradientStrategy.RelaxedOneHot):
        one_hot = MaskedOneHotCategorical(logits, mask=mask, grad_method=grad)
        x = np.asarray(one_hot.sample(seed=_key(4), sample_shape=50))
        np.testing.assert_array_equal(x[:, 0], np.broadcast_to(np.eye(4)[0], (50, 4)))
        assert (x[:, 1, :2] == 0).all()
        np.testing.assert_array_equal(one_hot.mode()[0], np.eye(4)[0])
    with_lp, lp = dense.sample_and_log_prob(seed=_key(5), sample_shape=3)
    assert (np.asarray(with_lp)[:, 0] == 0).all() and (np.asarray(lp)[:, 0] == -np.inf).all()
