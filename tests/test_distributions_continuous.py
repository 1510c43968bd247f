"""distributions/continuous.py and truncated_normal.py.

Delta, IndependentNormal, TanhNormal, TanhDelta and TruncatedNormal.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

from jaxrl_modules.distributions import Delta, IndependentNormal, TanhDelta, TanhNormal, TruncatedNormal
from jaxrl_modules.distributions.tanh_normal import _tanh_normal_mode_preimage
from jaxrl_modules.functional.random import standard_normal

SETTINGS = settings(max_examples=25, deadline=None)


def _normal(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _scale(seed, *shape):
    return np.exp(0.5 * _normal(seed, *shape)).astype(np.float32)


# --- float64 references -----------------------------------------------------------------------


def _tanh_normal_logpdf(y, loc, scale, low=-1.0, high=1.0):
    """Change of variables in float64: y = mid + half tanh(u), u ~ N(loc, scale)."""
    y, loc, scale = (np.asarray(a, np.float64) for a in (y, loc, scale))
    mid, half = (high + low) / 2, (high - low) / 2
    t = (y - mid) / half
    u = np.arctanh(t)
    return stats.norm.logpdf(u, loc, scale) - np.log1p(-t * t) - np.log(half)


def _quad_expectation(f, loc, scale):
    """E[f(U)], U ~ N(loc, scale^2), by adaptive quadrature in float64."""
    pdf = stats.norm(loc, scale).pdf
    lo, hi = loc - 40 * scale, loc + 40 * scale
    points = [0.0] if lo < 0 < hi else None
    return integrate.quad(lambda u: f(u) * pdf(u), lo, hi, points=points, limit=400, epsabs=1e-13)[0]


def _log1m_tanh2(u):
    au = abs(u)
    return 2 * (math.log(2) - au - math.log1p(math.exp(-2 * au)))


def _tanh_preimage_logpdf(u, loc, scale):
    """log-density of y = tanh(u) as a function of u (constants dropped), float64."""
    return -0.5 * ((u - loc) / scale) ** 2 - np.vectorize(_log1m_tanh2)(u)


def _all_classes(shape=(4, 3)):
    loc, scale = _normal(0, *shape), _scale(1, *shape)
    return {
        "Delta": Delta(loc),
        "IndependentNormal": IndependentNormal(loc, scale),
        "TanhNormal": TanhNormal(loc, scale, low=-2.0, high=3.0),
        "TanhDelta": TanhDelta(loc, low=-2.0, high=3.0),
        "TruncatedNormal": TruncatedNormal(loc, scale, low=-2.0, high=3.0),
    }


NAMES = ["Delta", "IndependentNormal", "TanhNormal", "TanhDelta", "TruncatedNormal"]


# --- shapes, jit, vmap ------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_shapes_of_samples_log_probs_and_point_estimates(name, key):
    d = _all_classes()[name]
    assert d.batch_shape == (4,) and d.event_shape == (3,)
    assert d.sample(seed=key).shape == (4, 3)
    x, lp = d.sample_and_log_prob(seed=key, sample_shape=(2, 5))
    assert x.shape == (2, 5, 4, 3) and lp.shape == (2, 5, 4)
    assert x.dtype == lp.dtype == jnp.float32
    assert d.log_prob(x).shape == (2, 5, 4)
    for method in ("mode", "mean", "deterministic_sample"):
        assert getattr(d, method)().shape == (4, 3)


@pytest.mark.parametrize("name", NAMES)
def test_same_key_same_sample_and_sample_and_log_prob_agrees_with_sample(name):
    d = _all_classes()[name]
    a = d.sample(seed=jax.random.key(3), sample_shape=2)
    b, _ = d.sample_and_log_prob(seed=jax.random.key(3), sample_shape=2)
    np.testing.assert_array_equal(a, d.sample(seed=jax.random.key(3), sample_shape=2))
    # the same noise; the two programs may round loc + scale * eps differently (FMA)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    if name not in ("Delta", "TanhDelta"):
        assert not np.array_equal(a, d.sample(seed=jax.random.key(4), sample_shape=2))


@pytest.mark.parametrize("name", NAMES)
def test_jit_returns_the_distribution_and_equals_eager(name, key):
    d = _all_classes()[name]
    rebuilt = jax.jit(lambda d: d)(d)
    assert type(rebuilt) is type(d) and rebuilt.batch_shape == d.batch_shape
    x = d.sample(seed=key, sample_shape=3)
    np.testing.assert_allclose(jax.jit(lambda d, x: d.log_prob(x))(d, x), d.log_prob(x), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(lambda d: d.deterministic_sample())(d), d.deterministic_sample(), rtol=1e-6)
    np.testing.assert_allclose(jax.jit(lambda d, k: d.sample(seed=k))(d, key), d.sample(seed=key), rtol=1e-6)


def test_jit_of_a_function_returning_a_tanh_normal_keeps_static_bounds():
    loc, scale = _normal(0, 4, 3), _scale(1, 4, 3)
    make = jax.jit(lambda loc, scale: TanhNormal(loc, scale, low=0.0, high=2.0))
    d = make(loc, scale)
    assert isinstance(d, TanhNormal) and d.batch_shape == (4,)
    np.testing.assert_allclose(d.low, 0.0)
    np.testing.assert_allclose(d.high, 2.0)
    x = np.full((4, 3), 1.5, np.float32)
    np.testing.assert_allclose(d.log_prob(x), TanhNormal(loc, scale, low=0.0, high=2.0).log_prob(x), rtol=1e-6)


def test_traced_bounds_work_under_jit_and_match_static_ones(key):
    loc, scale = _normal(0, 4, 3), _scale(1, 4, 3)
    low, high = np.array([-1.0, 0.0, 2.0], np.float32), np.array([1.0, 3.0, 2.5], np.float32)

    @jax.jit
    def run(loc, scale, low, high):
        d = TanhNormal(loc, scale, low=low, high=high)
        return d.sample_and_log_prob(seed=key), d.mode(), d.mean(), d.entropy()

    static = TanhNormal(loc, scale, low=low, high=high)
    (x, lp), mode, mean, ent = run(loc, scale, low, high)
    xs, lps = static.sample_and_log_prob(seed=key)
    # values on [0, 3]: compared to float32 rounding of the bounds' scale (fusion order differs)
    np.testing.assert_allclose(x, xs, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(lp, lps, rtol=1e-5)
    np.testing.assert_allclose(mode, static.mode(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(mean, static.mean(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ent, static.entropy(), rtol=1e-5)
    t = jax.jit(lambda l, s, lo, hi: TruncatedNormal(l, s, low=lo, high=hi).log_prob(jnp.full((4, 3), 0.9)))
    eager = TruncatedNormal(loc, scale, low=low, high=high).log_prob(np.full((4, 3), 0.9, np.float32))
    np.testing.assert_allclose(t(loc, scale, low, high), eager, rtol=1e-6)


@pytest.mark.parametrize("cls", [IndependentNormal, TanhNormal, TruncatedNormal])
def test_vmap_over_construction_and_over_a_distribution(cls, key):
    loc, scale = _normal(0, 5, 4, 3), _scale(1, 5, 4, 3)
    d = jax.vmap(lambda l, s: cls(l, s))(loc, scale)  # batch shape follows the leaves (distrax #276)
    assert d.batch_shape == (5, 4) and d.event_shape == (3,)
    seen = []

    def inner(d, x):
        seen.append((d.batch_shape, d.event_shape))
        return d.log_prob(x)

    x = np.clip(_normal(2, 5, 4, 3), -0.9, 0.9)
    lp = jax.vmap(inner)(d, x)
    assert seen == [((4,), (3,))]
    loop = np.stack([cls(loc[i], scale[i]).log_prob(x[i]) for i in range(5)])
    np.testing.assert_allclose(lp, loop, rtol=1e-6)
    samples = jax.vmap(lambda k: d.sample(seed=k))(jax.random.split(key, 2))
    assert samples.shape == (2, 5, 4, 3)


def test_vmap_over_tanh_delta_and_delta():
    param = _normal(0, 5, 3)
    d = jax.vmap(lambda p: TanhDelta(p[None], low=0.0, high=2.0))(param)
    assert d.batch_shape == (5, 1) and d.event_shape == (3,)
    np.testing.assert_allclose(d.mode()[:, 0], 1.0 + np.tanh(param), rtol=1e-6, atol=1e-6)
    e = jax.vmap(lambda p: Delta(p))(param)
    assert e.batch_shape == (5,) and e.event_shape == (3,)


@pytest.mark.parametrize("n", [1, 5, 6, 257])
def test_noise_is_jax_threefry_normal_and_other_key_types_work(n):
    """The unrolled threefry draw is bit-identical to jax.random.normal's classic counter layout."""
    with jax.threefry_partitionable(False):
        expected = jax.random.normal(jax.random.key(7), (n,))
    np.testing.assert_array_equal(standard_normal(jax.random.key(7), (n,), jnp.float32), expected)
    np.testing.assert_array_equal(standard_normal(jax.random.PRNGKey(7), (n,), jnp.float32), expected)
    for impl in ("rbg", "unsafe_rbg"):
        key = jax.random.key(7, impl=impl)
        np.testing.assert_array_equal(standard_normal(key, (n,), jnp.float32), jax.random.normal(key, (n,)))
    batched = jax.vmap(lambda k: standard_normal(k, (n,), jnp.float32))(jax.random.split(jax.random.key(7), 3))
    assert batched.shape == (3, n) and not np.array_equal(batched[0], batched[1])


def test_tanh_normal_samples_with_every_key_type():
    d = TanhNormal(_normal(0, 4, 3), _scale(1, 4, 3))
    for key in (jax.random.key(1), jax.random.PRNGKey(1), 1, jax.random.key(1, impl="rbg")):
        y, lp = d.sample_and_log_prob(seed=key, sample_shape=2)
        assert y.shape == (2, 4, 3) and np.all(np.isfinite(lp)) and np.all(np.abs(y) < 1)


# --- Delta ------------------------------------------------------------------------------------


def test_delta_log_prob_is_plus_or_minus_inf_over_the_event():
    param = np.array([[0.5, -1.0], [2.0, 3.0]], np.float32)
    d = Delta(param)
    value = param.copy()
    value[1, 1] += 1e-3
    np.testing.assert_array_equal(d.log_prob(value), [np.inf, -np.inf])
    np.testing.assert_array_equal(d.log_prob(param + 1e-7), [np.inf, np.inf])  # within atol + rtol|p|
    for method in ("mode", "mean", "deterministic_sample"):
        np.testing.assert_array_equal(getattr(d, method)(), param)


def test_delta_shapes_from_arguments():
    p = jnp.zeros((2, 3, 4))
    assert (Delta(p).batch_shape, Delta(p).event_shape) == ((2, 3), (4,))
    assert Delta(p, event_shape=(3, 4)).batch_shape == (2,)
    assert Delta(p, batch_shape=(2,)).event_shape == (3, 4)
    assert Delta(p, batch_shape=(2, 3, 4)).event_shape == ()
    assert Delta(jnp.float32(1.0)).event_shape == ()
    with pytest.raises(ValueError, match=r"\(2, 3, 4\).*event_shape \(5,\)"):
        Delta(p, event_shape=(5,))
    with pytest.raises(ValueError, match="batch_shape"):
        Delta(p, batch_shape=(3,))
    with pytest.raises(ValueError, match="must equal"):
        Delta(p, batch_shape=(2, 3), event_shape=(3, 4))


def test_delta_samples_carry_gradients_to_the_parameter(key):
    g = jax.grad(lambda p: jnp.sum(Delta(p).sample(seed=key, sample_shape=3)))(jnp.ones((2, 2)))
    np.testing.assert_array_equal(g, 3.0)


@pytest.mark.parametrize("cls", [Delta, TanhDelta])
def test_point_masses_have_no_entropy(cls):
    with pytest.raises(NotImplementedError, match="no differential entropy"):
        cls(jnp.zeros((2, 3))).entropy()


# --- IndependentNormal ------------------------------------------------------------------------


def test_independent_normal_matches_scipy(key):
    loc, scale = _normal(0, 4, 3), _scale(1, 4, 3)
    d = IndependentNormal(loc, scale)
    x = _normal(2, 6, 4, 3) * 2
    ref = stats.norm.logpdf(x.astype(np.float64), loc, scale).sum(-1)
    np.testing.assert_allclose(d.log_prob(x), ref, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(d.entropy(), stats.norm.entropy(loc, scale).sum(-1), rtol=1e-6)
    np.testing.assert_array_equal(d.mode(), loc)
    np.testing.assert_array_equal(d.mean(), loc)
    np.testing.assert_array_equal(d.deterministic_sample(), loc)
    np.testing.assert_allclose(d.variance(), scale**2, rtol=1e-6)
    # sample_and_log_prob scores its own sample
    x, lp = d.sample_and_log_prob(seed=key, sample_shape=3)
    np.testing.assert_allclose(lp, stats.norm.logpdf(np.asarray(x, np.float64), loc, scale).sum(-1), rtol=1e-5)
    # the draw is loc + scale * (the flat standard normal draw)
    eps = standard_normal(key, (3, 4, 3), jnp.float32)
    np.testing.assert_allclose(x, loc + scale * np.asarray(eps), rtol=1e-6)


def test_independent_normal_event_dim_and_tanh_loc():
    loc, scale = _normal(0, 2, 3, 4) * 10, _scale(1, 2, 3, 4)
    d = IndependentNormal(loc, scale, event_dim=2)
    assert d.batch_shape == (2,) and d.event_shape == (3, 4)
    assert d.log_prob(loc).shape == (2,) and d.entropy().shape == (2,)
    t = IndependentNormal(loc, scale, upscale=3.0, tanh_loc=True)
    np.testing.assert_allclose(t.mode(), 3.0 * np.tanh(loc / 3.0), rtol=1e-6)
    # a callable scale is called on the (scaled) location, as TorchRL's update()
    c = IndependentNormal(loc, lambda l: jnp.abs(l) + 1.0, tanh_loc=True)
    np.testing.assert_allclose(c.scale, np.abs(5.0 * np.tanh(loc / 5.0)) + 1.0, rtol=1e-6)


def test_reparameterised_gradients_are_finite_and_exact(key):
    loc, scale = jnp.asarray(_normal(0, 3)), jnp.asarray(_scale(1, 3))
    g_loc = jax.grad(lambda l: jnp.sum(IndependentNormal(l, scale).sample(seed=key)))(loc)
    np.testing.assert_allclose(g_loc, 1.0)
    eps = standard_normal(key, (1, 3), jnp.float32)[0]
    g_scale = jax.grad(lambda s: jnp.sum(IndependentNormal(loc, s).sample(seed=key)))(scale)
    np.testing.assert_allclose(g_scale, eps, rtol=1e-6)
    # TanhNormal: dy/dloc = half * (1 - tanh(u)^2), u the pre-image
    u = loc + scale * eps
    g = jax.grad(lambda l: jnp.sum(TanhNormal(l, scale, low=0.0, high=4.0).sample(seed=key)))(loc)
    np.testing.assert_allclose(g, 2.0 * (1 - np.tanh(u) ** 2), rtol=1e-5)


# --- TanhNormal -------------------------------------------------------------------------------


@pytest.mark.parametrize("bounds", [(-1.0, 1.0), (0.0, 2.0), (-3.0, -1.0)])
def test_tanh_normal_log_prob_matches_float64_change_of_variables(bounds, key):
    low, high = bounds
    loc, scale = _normal(0, 8, 4), _scale(1, 8, 4)
    d = TanhNormal(loc, scale, low=low, high=high)
    # interior values, well away from the bounds so that the float64 reference is exact
    t = np.clip(np.tanh(_normal(2, 3, 8, 4)), -0.999, 0.999)
    y = ((high + low) / 2 + (high - low) / 2 * t).astype(np.float32)
    ref = _tanh_normal_logpdf(y, loc, scale, low, high).sum(-1)
    np.testing.assert_allclose(d.log_prob(y), ref, rtol=2e-5, atol=2e-4)


def test_tanh_normal_sample_and_log_prob_scores_the_exact_pre_image(key):
    loc, scale = _normal(0, 64, 3), _scale(1, 64, 3)
    d = TanhNormal(loc, scale, low=-2.0, high=4.0)
    y, lp = d.sample_and_log_prob(seed=key, sample_shape=4)
    u = loc + scale * np.asarray(standard_normal(key, (4, 64, 3), jnp.float32), np.float64)
    ref = (stats.norm.logpdf(u, loc, scale) - np.vectorize(_log1m_tanh2)(u) - np.log(3.0)).sum(-1)
    np.testing.assert_allclose(lp, ref, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(y, 1.0 + 3.0 * np.clip(np.tanh(u), -(1 - 1e-6), 1 - 1e-6), rtol=1e-6, atol=1e-6)
    # away from the bounds, scoring the sample again gives the same log-prob
    inner = np.all(np.abs(u) < 3.0, axis=-1)
    assert inner.sum() > 50
    np.testing.assert_allclose(np.asarray(d.log_prob(y))[inner], np.asarray(lp)[inner], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_tanh_normal_is_finite_at_and_near_the_bounds(dtype, key):
    d = TanhNormal(jnp.zeros((2,), dtype), jnp.ones((2,), dtype))
    for v in (1.0, -1.0, 1 - 1e-7, -(1 - 1e-7), 1 - 1e-4, 0.0):
        lp = d.log_prob(jnp.array([v, -v], dtype))
        assert lp.dtype == dtype and np.isfinite(np.float32(lp)), (v, lp)
    b = TanhNormal(jnp.zeros((2,), dtype), jnp.ones((2,), dtype), low=0.0, high=2.0)
    for v in (0.0, 2.0, 1e-7, 2 - 1e-7, 1.0):
        assert np.isfinite(np.float32(b.log_prob(jnp.array([v, 2 - v], dtype)))), v
    # the value at the bound is the clamped pre-image's density: atanh(1 - 1e-6) in float32
    u = np.arctanh(np.float32(1 - 1e-6))
    expected = 2 * (stats.norm.logpdf(u) - _log1m_tanh2(u))
    at_bounds = np.float32(d.log_prob(jnp.array([1.0, -1.0], dtype)))
    np.testing.assert_allclose(at_bounds, expected, rtol=1e-5 if dtype == jnp.float32 else 1e-2)
    # saturated draws (|u| ~ 20, where tanh rounds to 1): finite samples, scores and gradients
    sat = TanhNormal(jnp.array([20.0, -20.0], dtype), jnp.array([1e-2, 1e-2], dtype))
    y, lp = sat.sample_and_log_prob(seed=key, sample_shape=3)
    assert np.all(np.abs(np.float32(y)) < 1) and np.all(np.isfinite(np.float32(lp)))

    def score(l, s):
        return jnp.sum(TanhNormal(l, s).sample_and_log_prob(seed=key)[1].astype(jnp.float32))

    grads = jax.grad(score, argnums=(0, 1))(jnp.array([20.0, -20.0], dtype), jnp.array([1e-2, 1e-2], dtype))
    assert all(np.all(np.isfinite(np.float32(g))) for g in grads)
    edges = jnp.array([1.0, -1.0], dtype)
    g = jax.grad(lambda l: jnp.sum(TanhNormal(l, 1.0).log_prob(edges).astype(jnp.float32)))(jnp.zeros((2,), dtype))
    assert np.all(np.isfinite(np.float32(g)))


def test_tanh_normal_samples_stay_inside_the_support(key):
    loc, scale = _normal(0, 16, 4) * 8, _scale(1, 16, 4) * 3
    y = TanhNormal(loc, scale).sample(seed=key, sample_shape=64)
    assert np.all(np.abs(y) <= 1 - 1e-6) and np.any(np.abs(y) > 0.99999)
    yb = TanhNormal(loc, scale, low=0.0, high=2.0).sample(seed=key, sample_shape=64)
    assert np.all((yb > 0) & (yb < 2))
    lp = TanhNormal(loc, scale, low=0.0, high=2.0).log_prob(yb)
    assert np.all(np.isfinite(lp))
    unsafe = TanhNormal(loc, scale, safe_tanh=False).sample(seed=key, sample_shape=64)
    assert np.any(np.abs(unsafe) == 1.0)  # plain tanh rounds onto the bounds


MODE_CASES = [(0.3, 0.2), (1.5, 0.5), (-2.0, 0.6), (0.0, 1.0), (0.4, 1.2), (-0.2, 2.0), (2.5, 0.05), (0.0, 0.5**0.5)]


@pytest.mark.parametrize("loc, scale", MODE_CASES)
def test_tanh_normal_mode_maximises_the_density(loc, scale):
    """Dense grid search over the pre-image u (y = tanh u), in float64."""
    with jax.enable_x64(True):
        mode = float(TanhNormal(jnp.array([loc]), jnp.array([scale])).mode()[0])
    grid = np.linspace(loc - 8 * scale - 1, loc + 8 * scale + 1, 400001)
    dens = _tanh_preimage_logpdf(grid, loc, scale)
    best = dens.max()
    u = np.arctanh(mode)
    assert _tanh_preimage_logpdf(u, loc, scale) >= best - 1e-8
    if abs(loc) > 0.1:  # a unique maximiser: the location agrees too
        np.testing.assert_allclose(mode, np.tanh(grid[np.argmax(dens)]), atol=1e-4)


def test_tanh_normal_mode_in_float32_and_with_bounds_and_bimodal_ties():
    loc, scale = np.array([0.3, 1.5, -2.0, 2.5], np.float32), np.array([0.2, 0.5, 0.6, 0.05], np.float32)
    with jax.enable_x64(True):
        ref = np.asarray(TanhNormal(loc.astype(np.float64), scale.astype(np.float64)).mode())
    np.testing.assert_allclose(TanhNormal(loc, scale).mode(), ref, atol=2e-6)
    np.testing.assert_allclose(TanhNormal(loc, scale, low=0.0, high=4.0).mode(), 2.0 + 2.0 * ref, atol=1e-5)
    # the mode is not tanh(loc): the Jacobian pulls it outwards
    assert np.all(np.abs(ref) > np.abs(np.tanh(loc)))
    # scale^2 > 1/2 and loc = 0: two symmetric peaks at u = 2 scale^2 tanh(u); the upper one wins
    m = float(TanhNormal(jnp.zeros(1), jnp.ones(1)).mode()[0])
    u = np.arctanh(m)
    assert m > 0.9 and abs(u - 2 * np.tanh(u)) < 1e-5


@jax.jit
def _mode_and_preimage(loc, scale):
    return TanhNormal(loc, scale, safe_tanh=False).mode(), _tanh_normal_mode_preimage(loc, scale)


@given(loc=st.floats(-6, 6), log_scale=st.floats(-4, 1.5))
@SETTINGS
def test_tanh_normal_mode_is_a_stationary_maximum(loc, log_scale):
    """Property: u* = atanh(mode) solves u - loc = 2 s^2 tanh(u) and beats its neighbours."""
    scale = math.exp(log_scale)
    with jax.enable_x64(True):
        mode, u = _mode_and_preimage(jnp.array([loc]), jnp.array([scale]))
    mode, u = float(mode[0]), float(u[0])
    assert mode == pytest.approx(math.tanh(u), abs=1e-12)
    a = 2 * scale**2
    assert abs(u - loc - a * math.tanh(u)) < 1e-6 * max(1.0, abs(u))
    g = _tanh_preimage_logpdf(u, loc, scale)
    for v in (u - 1e-3 * max(scale, 1e-3), u + 1e-3 * max(scale, 1e-3), loc, -u):
        assert g >= _tanh_preimage_logpdf(v, loc, scale) - 1e-9


MOMENT_CASES = [(0.0, 0.1), (0.7, 0.3), (-1.2, 0.69), (0.3, 0.71), (2.0, 1.0), (-0.5, 3.0), (4.0, 7.0), (0.0, 30.0)]


@pytest.mark.parametrize("loc, scale", MOMENT_CASES)
def test_tanh_normal_mean_and_entropy_match_quadrature(loc, scale):
    with jax.enable_x64(True):
        d = TanhNormal(jnp.array([loc]), jnp.array([scale]), low=-1.0, high=3.0)
        mean, ent = float(d.mean()[0]), float(d.entropy())
    ref_mean = 1.0 + 2.0 * _quad_expectation(math.tanh, loc, scale)
    ref_ent = stats.norm.entropy(0, scale) + _quad_expectation(_log1m_tanh2, loc, scale) + math.log(2.0)
    assert mean == pytest.approx(ref_mean, abs=1e-7)
    assert ent == pytest.approx(ref_ent, abs=1e-7)
    # float32 agrees to float32 precision
    d32 = TanhNormal(np.float32([loc]), np.float32([scale]), low=-1.0, high=3.0)
    assert float(d32.mean()[0]) == pytest.approx(ref_mean, abs=2e-6)
    assert float(d32.entropy()) == pytest.approx(ref_ent, abs=2e-5 * max(1.0, abs(ref_ent)))


def test_tanh_normal_mean_entropy_mode_gradients_are_finite_across_the_quadrature_switch():
    loc = jnp.array([0.0, 0.5, -3.0, 1.0, 0.2])
    scale = jnp.array([1e-4, 0.6999, 0.7, 5.0, 40.0])

    def f(l, s):
        d = TanhNormal(l, s)
        return jnp.sum(d.mean()) + d.entropy() + jnp.sum(d.mode())

    grads = jax.jit(jax.grad(f, argnums=(0, 1)))(loc, scale)
    assert all(np.all(np.isfinite(g)) for g in grads)
    # the mode's gradient is implicit (the Newton solver is not differentiated): check it against
    # central differences in float64
    with jax.enable_x64(True):
        l64, s64 = jnp.asarray(loc, jnp.float64), jnp.asarray(scale, jnp.float64)

        def mode_sum(l, s):
            return jnp.sum(TanhNormal(l, s, safe_tanh=False).mode())

        g_loc, g_scale = jax.jit(jax.grad(mode_sum, argnums=(0, 1)))(l64, s64)
        h = 1e-6
        eye = jnp.eye(5) * h

        def difference(dl, ds):
            return (mode_sum(l64 + dl, s64 + ds) - mode_sum(l64 - dl, s64 - ds)) / (2 * h)

        central = jax.jit(jax.vmap(difference))
        fd_loc, fd_scale = central(eye, 0 * eye), central(0 * eye, eye)
    np.testing.assert_allclose(g_loc, fd_loc, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(g_scale, fd_scale, rtol=1e-5, atol=1e-8)
    # d mean / d loc = E[1 - tanh(U)^2] > 0
    g_mean = jax.jit(jax.grad(lambda l: jnp.sum(TanhNormal(l, scale).mean())))(loc)
    ref = [_quad_expectation(lambda u: 1 - math.tanh(u) ** 2, float(l), float(s)) for l, s in zip(loc, scale)]
    np.testing.assert_allclose(g_mean, ref, rtol=1e-3, atol=1e-6)


def test_tanh_normal_deterministic_sample_and_tanh_loc_without_midpoint_shift():
    loc, scale = _normal(0, 4, 3) * 4, _scale(1, 4, 3)
    d = TanhNormal(loc, scale, low=0.0, high=2.0, tanh_loc=True)
    root = 5.0 * np.tanh(loc / 5.0)
    np.testing.assert_allclose(d.loc, root, rtol=1e-6)  # TorchRL: root + 1 (midpoint shift)
    np.testing.assert_allclose(d.deterministic_sample(), 1.0 + np.tanh(root), rtol=1e-6, atol=1e-6)
    plain = TanhNormal(loc, scale)
    np.testing.assert_allclose(plain.deterministic_sample(), np.clip(np.tanh(loc), -(1 - 1e-6), 1 - 1e-6), rtol=1e-6)
    # per-dimension bounds
    low, high = np.array([-1.0, 0.0, 10.0]), np.array([1.0, 1.0, 20.0])
    per_dim = TanhNormal(loc, scale, low=low, high=high)
    expected = (high + low) / 2 + (high - low) / 2 * np.tanh(loc)
    np.testing.assert_allclose(per_dim.deterministic_sample(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(per_dim.low, low)
    np.testing.assert_allclose(per_dim.high, high)


def test_tanh_normal_event_dims():
    loc = jnp.zeros((2, 3, 4))
    assert TanhNormal(loc, 1.0).event_shape == (4,)
    assert TanhNormal(loc, 1.0, event_dims=0).log_prob(jnp.zeros((2, 3, 4))).shape == (2, 3, 4)
    assert TanhNormal(loc, 1.0, event_dims=2).entropy().shape == (2,)
    assert TanhNormal(jnp.float32(0.0), 1.0).event_shape == ()


# --- TanhDelta --------------------------------------------------------------------------------


def test_tanh_delta_mode_has_no_midpoint_shift_and_scores_its_mode():
    param = np.array([[0.0, 0.5, -2.0, 10.0]], np.float32)
    d = TanhDelta(param, low=0.0, high=2.0)
    expected = 1.0 + np.clip(np.tanh(param), -(1 - 1e-6), 1 - 1e-6)
    for method in ("mode", "mean", "deterministic_sample"):
        np.testing.assert_allclose(getattr(d, method)(), expected, rtol=1e-6, atol=1e-6)
    assert float(d.mode()[0, 0]) == 1.0  # TorchRL: 1 + tanh(1) = 1.76
    np.testing.assert_array_equal(d.log_prob(d.mode()), [np.inf])  # also with a saturated entry
    np.testing.assert_array_equal(d.log_prob(d.mode() + 1e-3), [-np.inf])
    samples = d.sample(seed=jax.random.key(0), sample_shape=2)
    np.testing.assert_allclose(samples, np.broadcast_to(expected, (2, 1, 4)), rtol=1e-6, atol=1e-6)
    unsafe = TanhDelta(param, safe=False)
    assert float(unsafe.mode()[0, 3]) == 1.0


# --- TruncatedNormal --------------------------------------------------------------------------

TRUNC_CASES = [
    (0.3, 0.8, -1.0, 1.0),  # symmetric
    (-1.0, 0.5, -0.5, 2.0),  # asymmetric (TorchRL #2146)
    (0.0, 0.3, 1.0, 3.0),  # upper tail
    (0.0, 0.1, 0.5, 2.0),  # far upper tail: alpha = 5, where TorchRL's clamped Z breaks
    (-3.0, 0.2, -1.0, 1.0),  # far lower tail: beta = -10 from above... (alpha = 10)
    (2.0, 1.0, -np.inf, 1.0),
    (0.0, 1.0, 0.0, np.inf),
]


def _scipy_truncnorm(loc, scale, low, high):
    return stats.truncnorm((low - loc) / scale, (high - loc) / scale, loc=loc, scale=scale)


def _entropy_by_quadrature(ref, low, high):
    lo, hi = max(low, ref.ppf(1e-15)), min(high, ref.isf(1e-15))
    return integrate.quad(lambda x: -ref.pdf(x) * ref.logpdf(x), lo, hi, limit=400, epsabs=1e-13)[0]


@jax.jit
def _truncated_normal_stats(loc, scale, low, high, xs, key):
    """Traced bounds: one compilation (per dtype) serves every case."""
    d = TruncatedNormal(loc, scale, low=low, high=high)
    log_probs = jax.vmap(lambda x: d.log_prob(x[None]))(xs)
    samples = d.sample(seed=key, sample_shape=4000)[:, 0]
    return log_probs, d.entropy(), d.mean()[0], d.variance()[0], d.mode()[0], samples


def _run_truncated(loc, scale, low, high, xs, dtype):
    args = (np.array([loc], dtype), np.array([scale], dtype), dtype(low), dtype(high), np.asarray(xs, dtype))
    return [np.asarray(out, np.float64) for out in _truncated_normal_stats(*args, jax.random.key(0))]


@pytest.mark.parametrize("loc, scale, low, high", TRUNC_CASES)
def test_truncated_normal_matches_scipy(loc, scale, low, high):
    ref = _scipy_truncnorm(loc, scale, low, high)
    xs = ref.ppf(np.linspace(0.01, 0.99, 9))
    with jax.enable_x64(True):
        lp, ent, mean, var, mode, _ = _run_truncated(loc, scale, low, high, xs, np.float64)
    np.testing.assert_allclose(lp, ref.logpdf(xs), atol=1e-5, rtol=1e-7)
    finite = np.isfinite(low) and np.isfinite(high) and abs(ref.a) < 8 and abs(ref.b) < 8
    ref_ent = ref.entropy() if finite else _entropy_by_quadrature(ref, low, high)  # scipy's is NaN there
    assert float(ent) == pytest.approx(ref_ent, abs=1e-5)
    assert float(mean) == pytest.approx(ref.mean(), abs=1e-5)
    assert float(var) == pytest.approx(ref.var(), abs=1e-5, rel=1e-5)
    assert float(mode) == min(max(loc, low), high)
    # float32 keeps the log-density to a few float32 ulps of its largest term (z^2 / 2 or log Z)
    x32 = xs.astype(np.float32)
    lp32, _, mean32, *_ = _run_truncated(loc, scale, low, high, x32, np.float32)
    terms = 1.0 + 0.5 * ((x32 - loc) / scale) ** 2 + abs(ref.logpdf(x32.astype(np.float64)))
    tol = 4 * np.finfo(np.float32).eps * terms
    assert np.all(np.abs(lp32 - ref.logpdf(x32.astype(np.float64))) <= tol)
    assert float(mean32) == pytest.approx(ref.mean(), abs=1e-5)


@pytest.mark.parametrize("loc, scale, low, high", TRUNC_CASES)
def test_truncated_normal_samples_follow_scipy(loc, scale, low, high):
    ref = _scipy_truncnorm(loc, scale, low, high)
    *_, x = _run_truncated(loc, scale, low, high, np.zeros(1), np.float32)
    assert np.all((x >= np.float32(low)) & (x <= np.float32(high)))
    assert stats.kstest(x, ref.cdf).pvalue > 0.01
    # the draw is exactly the inverse CDF of the flat uniform draw, taken from the lower-tail side
    # of the interval (mirrored when the interval lies mostly above loc)
    u = np.asarray(jax.random.uniform(jax.random.key(0), (4000,), jnp.float32), np.float64)
    mirrored = ref.a + ref.b > 0
    expected = ref.isf(u) if mirrored else ref.ppf(u)
    np.testing.assert_allclose(x, expected, rtol=2e-5, atol=2e-5 * scale)


def test_truncated_normal_log_prob_is_minus_inf_outside_and_event_wise():
    d = TruncatedNormal(jnp.zeros((2, 3)), jnp.ones((2, 3)), low=-1.0, high=2.0)
    lp = d.log_prob(jnp.array([[0.0, -1.0, 2.0], [0.0, 0.5, 2.0001]]))
    assert np.isfinite(lp[0]) and lp[1] == -np.inf
    ref = stats.truncnorm(-1, 2).logpdf([0.0, -1.0, 2.0]).sum()  # the closed bounds are in the support
    assert float(lp[0]) == pytest.approx(ref, abs=1e-5)
    outside = jnp.array([[0.0, 0.0, 0.0], [0.0, 0.5, 3.0]])

    def finite_part(l):
        scores = TruncatedNormal(l, 1.0, low=-1.0, high=2.0).log_prob(outside)
        return jnp.sum(jnp.where(jnp.isfinite(scores), scores, 0.0))

    g = jax.jit(jax.grad(finite_part))(jnp.zeros((2, 3)))
    assert np.all(np.isfinite(g)) and np.all(g[1] == 0) and np.any(g[0] != 0)


def test_truncated_normal_gradients_are_finite_and_reparameterised(key):
    loc, scale = jnp.asarray(_normal(0, 4, 3)), jnp.asarray(_scale(1, 4, 3))

    def f(l, s):
        d = TruncatedNormal(l, s, low=-1.0, high=jnp.inf)
        x = d.sample(seed=key, sample_shape=2)
        return jnp.sum(x) + jnp.sum(d.log_prob(x)) + jnp.sum(d.entropy()) + jnp.sum(d.mean())

    grads = jax.jit(jax.grad(f, argnums=(0, 1)))(loc, scale)
    assert all(np.all(np.isfinite(g)) for g in grads)
    # d sample / d loc by central differences in float64 (same uniforms); each sample depends on
    # its own loc only, so one perturbation of every entry gives every partial derivative
    with jax.enable_x64(True):
        l64, s64 = jnp.asarray(loc, jnp.float64), jnp.asarray(scale, jnp.float64)

        def draw(l):
            return TruncatedNormal(l, s64, low=-1.0, high=2.0).sample(seed=key)

        g = jax.jit(jax.grad(lambda l: jnp.sum(draw(l))))(l64)
        h = 1e-6
        fd = (jax.jit(draw)(l64 + h) - jax.jit(draw)(l64 - h)) / (2 * h)
    np.testing.assert_allclose(g, fd, rtol=1e-5, atol=1e-7)


def test_truncated_normal_deterministic_sample_is_the_mean_and_tanh_loc_applies():
    loc, scale = _normal(0, 4, 3) * 10, _scale(1, 4, 3)
    d = TruncatedNormal(loc, scale, low=-1.0, high=1.5, tanh_loc=True)
    np.testing.assert_allclose(d.loc, 5.0 * np.tanh(loc / 5.0), rtol=1e-6)
    np.testing.assert_array_equal(d.deterministic_sample(), d.mean())
    m = np.asarray(d.mean())
    assert np.all((m >= -1.0) & (m <= 1.5))
    per_dim = TruncatedNormal(loc, scale, low=np.array([-1.0, 0.0, -np.inf]), high=np.array([1.0, 2.0, 0.0]))
    np.testing.assert_array_equal(per_dim.low, [-1.0, 0.0, -np.inf])
    np.testing.assert_array_equal(per_dim.high, [1.0, 2.0, 0.0])
    np.testing.assert_array_equal(per_dim.mode(), np.clip(loc, [-1.0, 0.0, -np.inf], [1.0, 2.0, 0.0]))


# --- hypothesis properties --------------------------------------------------------------------

_loc = st.floats(-5, 5)
_log_scale = st.floats(-3, 1.5)
_low = st.floats(-3, 3)
_width = st.floats(0.05, 5)


@jax.jit
def _tanh_normal_summary(key, loc, scale, low, high):
    """Traced bounds: one compilation serves every hypothesis example."""
    d = TanhNormal(loc, scale, low=low, high=high)
    y, lp = d.sample_and_log_prob(seed=key, sample_shape=16)
    return y, lp, d.log_prob(y), jnp.stack([d.mode(), d.mean(), d.deterministic_sample()]), d.entropy()


@given(loc=_loc, log_scale=_log_scale, low=_low, width=_width, seed=st.integers(0, 2**31 - 1))
@SETTINGS
def test_property_tanh_normal_samples_in_support_with_finite_scores(loc, log_scale, low, width, seed):
    high = low + width
    loc_a, scale_a = np.full((3,), loc, np.float32), np.full((3,), math.exp(log_scale), np.float32)
    key = jax.random.key(seed)
    y, lp, lp_again, points, ent = _tanh_normal_summary(key, loc_a, scale_a, np.float32(low), np.float32(high))
    assert np.all((y >= np.float32(low)) & (y <= np.float32(high)))
    assert np.all(np.isfinite(lp)) and np.all(np.isfinite(lp_again)) and np.isfinite(float(ent))
    assert np.all((points >= np.float32(low)) & (points <= np.float32(high)))


@jax.jit
def _truncated_normal_summary(key, loc, scale, low, high, probe):
    d = TruncatedNormal(loc, scale, low=low, high=high)
    return d.sample(seed=key, sample_shape=32)[:, 0], d.log_prob(probe), d.mean()[0]


@given(loc=_loc, log_scale=_log_scale, low=_low, width=_width, seed=st.integers(0, 2**31 - 1))
@SETTINGS
def test_property_truncated_normal_agrees_with_scipy_and_stays_in_bounds(loc, log_scale, low, width, seed):
    scale, high = math.exp(log_scale), low + width
    ref = _scipy_truncnorm(loc, scale, low, high)
    probe = low + 0.3 * width
    with jax.enable_x64(True):
        args = (jnp.array([loc]), jnp.array([scale]), jnp.float64(low), jnp.float64(high), jnp.array([probe]))
        x, lp, mean = _truncated_normal_summary(jax.random.key(seed), *args)
    assert np.all((np.asarray(x) >= low) & (np.asarray(x) <= high))
    assert float(lp) == pytest.approx(float(ref.logpdf(probe)), abs=1e-5, rel=1e-9)
    assert float(mean) == pytest.approx(float(ref.mean()), abs=1e-5)


@jax.jit
def _tanh_delta_summary(param, low, high):
    d = TanhDelta(param, low=low, high=high)
    x = d.sample(seed=jax.random.key(0), sample_shape=2)
    return x, d.log_prob(x)


@given(param=st.floats(-30, 30), low=_low, width=_width)
@SETTINGS
def test_property_tanh_delta_scores_its_own_samples(param, low, width):
    x, lp = _tanh_delta_summary(np.float32([param]), np.float32(low), np.float32(low + width))
    np.testing.assert_array_equal(lp, [np.inf, np.inf])
    assert np.all((x >= np.float32(low)) & (x <= np.float32(low + width)))


# --- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [TanhNormal, TruncatedNormal])
def test_bounds_must_be_ordered(cls):
    with pytest.raises(ValueError, match="strictly greater"):
        cls(jnp.zeros(3), 1.0, low=1.0, high=1.0)
    with pytest.raises(ValueError, match="strictly greater"):
        cls(jnp.zeros(3), 1.0, low=np.array([0.0, 2.0, 0.0]), high=1.0)
    with pytest.raises(ValueError, match="strictly greater"):
        TanhDelta(jnp.zeros(3), low=2.0, high=-2.0)


def test_tanh_normal_bounds_must_be_finite_and_broadcast():
    with pytest.raises(ValueError, match="finite"):
        TanhNormal(jnp.zeros(3), 1.0, high=np.inf)
    with pytest.raises(ValueError, match=r"low has shape \(2,\).*\(4, 3\)"):
        TanhNormal(jnp.zeros((4, 3)), 1.0, low=np.zeros(2))
    with pytest.raises(ValueError, match=r"high has shape \(4, 1, 3\)"):
        TruncatedNormal(jnp.zeros((4, 3)), 1.0, high=np.ones((4, 1, 3)))


@pytest.mark.parametrize("cls", [IndependentNormal, TanhNormal, TruncatedNormal])
def test_scale_must_match_loc_or_be_a_scalar(cls):
    with pytest.raises(ValueError, match=r"scale has shape \(2,\) but loc has shape \(3,\)"):
        cls(jnp.zeros(3), jnp.ones(2))
    with pytest.raises(ValueError, match=r"scale has shape \(3,\) but loc has shape \(4, 3\)"):
        cls(jnp.zeros((4, 3)), jnp.ones(3))  # no silent rank promotion
    d = cls(jnp.zeros((4, 3)), 0.5)  # a scalar is fine
    np.testing.assert_array_equal(d.scale, np.full((4, 3), 0.5, np.float32))


@pytest.mark.parametrize("cls", [IndependentNormal, TanhNormal, TruncatedNormal])
def test_validate_args_checks_scale_eagerly_and_is_skipped_under_jit(cls):
    with pytest.raises(ValueError, match="scale must be > 0"):
        cls(jnp.zeros(3), jnp.array([1.0, 0.0, 2.0]), validate_args=True)
    cls(jnp.zeros(3), jnp.array([1.0, 0.0, 2.0]))  # off by default
    out = jax.jit(lambda s: cls(jnp.zeros(3), s, validate_args=True).log_prob(jnp.zeros(3)))(jnp.ones(3))
    assert np.isfinite(out)


def test_log_prob_value_shape_and_event_dims_are_checked():
    for d in _all_classes().values():
        with pytest.raises(ValueError, match=r"value has shape \(3,\).*\(4, 3\)"):
            d.log_prob(jnp.zeros(3))
    with pytest.raises(ValueError, match="event_dims=3"):
        TanhNormal(jnp.zeros((2, 3)), 1.0, event_dims=3)
    with pytest.raises(ValueError, match="event_dim=2"):
        IndependentNormal(jnp.zeros(3), 1.0, event_dim=2)
    with pytest.raises(ValueError, match="at least one dim"):
        TruncatedNormal(jnp.float32(0.0), 1.0)


def test_truncated_normal_samples_an_interval_deep_in_the_tail():
    """Both bounds 40+ scales below loc: Phi underflows, so sampling inverts log_ndtr instead."""
    from scipy.stats import truncnorm

    with jax.enable_x64(True):
        d = TruncatedNormal(
            jnp.array([3.0]), jnp.array([math.exp(-3.0)]), low=jnp.float64(2.9e-278), high=jnp.float64(1.0)
        )
        x = np.asarray(jax.jit(lambda k: d.sample(seed=k, sample_shape=2000))(jax.random.key(0)))
    ref = truncnorm((2.9e-278 - 3.0) / math.exp(-3.0), (1.0 - 3.0) / math.exp(-3.0), loc=3.0, scale=math.exp(-3.0))
    assert np.all((x >= 2.9e-278) & (x <= 1.0))
    assert abs(x.mean() - ref.mean()) < 5 * ref.std() / math.sqrt(x.size)
