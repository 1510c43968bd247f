"""functional/mappings.py and models/param_extractor.py: positive mappings and Normal heads."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxrl_modules.functional.mappings import MAPPING_NAMES, biased_softplus, expln, inv_softplus, mappings
from jaxrl_modules.models.param_extractor import (
    AddStateIndependentNormalScale,
    NormalParamExtractor,
    NormalParamWrapper,
)

X = np.linspace(-30.0, 30.0, 241, dtype=np.float32)


def _softplus(x):
    x = np.asarray(x, np.float64)
    return np.logaddexp(x, 0.0)


def _inv_softplus(y):
    return np.log(np.maximum(np.expm1(np.asarray(y, np.float64)), 1e-6))


REFERENCES = {
    "softplus": _softplus,
    "exp": lambda x: np.exp(np.asarray(x, np.float64)),
    "relu": lambda x: np.maximum(x, 0.0),
    "none": lambda x: np.asarray(x, np.float64),
    "expln": lambda x: np.where(x <= 0, np.exp(np.minimum(x, 0.0)), np.log1p(np.maximum(x, 0.0)) + 1),
    "biased_softplus": lambda x: _softplus(x + _inv_softplus(0.99)) + 0.01,
    "biased_softplus_1.0": lambda x: _softplus(x + _inv_softplus(0.99)) + 0.01,
    "biased_softplus_5.0": lambda x: _softplus(x + _inv_softplus(4.99)) + 0.01,
    "biased_softplus_5.0_1e-4": lambda x: _softplus(x + _inv_softplus(5.0 - 1e-4)) + 1e-4,
    "biased_softplus_0.5_0.1": lambda x: _softplus(x + _inv_softplus(0.4)) + 0.1,
}


@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_each_mapping_matches_numpy(name):
    got = mappings(name)(jnp.asarray(X))
    assert got.shape == X.shape and got.dtype == jnp.float32
    # float32 outputs against a float64 reference: a few ulps relative (exp(30) ~ 1e13 included).
    np.testing.assert_allclose(got, REFERENCES[name](X), rtol=2e-6, atol=1e-30)


def test_mappings_are_positive_where_documented_and_differentiable():
    for name in ("softplus", "exp", "expln", "biased_softplus", "biased_softplus_2.0_0.5"):
        f = mappings(name)
        assert (np.asarray(f(jnp.asarray(X[X > -30]))) > 0).all(), name
        grads = jax.vmap(jax.grad(f))(jnp.asarray(X))
        assert np.isfinite(np.asarray(grads)).all(), name
    # expln's branches never overflow into the gradient: exp(1e4) would be inf.
    np.testing.assert_allclose(jax.grad(expln)(jnp.float32(1e4)), 1 / (1 + 1e4), rtol=1e-6)
    np.testing.assert_allclose(jax.grad(expln)(jnp.float32(-3.0)), math.exp(-3.0), rtol=1e-6)


@settings(max_examples=30, deadline=None)
# XLA flushes float32 subnormals to zero, so a subnormal min_val cannot be a float32 lower bound.
@given(
    bias=st.floats(0.02, 50.0), min_val=st.floats(0.0, 0.01).filter(lambda v: v == 0 or v >= np.finfo(np.float32).tiny)
)
def test_biased_softplus_hits_its_bias_at_zero(bias, min_val):
    f = biased_softplus(bias, min_val)
    np.testing.assert_allclose(f(jnp.zeros(3)), np.full(3, bias), rtol=2e-6)
    assert float(f(jnp.float32(-1e4))) >= np.float32(min_val)
    assert float(biased_softplus(bias)(0.0)) == pytest.approx(bias, rel=2e-6)


def test_inv_softplus_scalar_array_and_clamp():
    assert isinstance(inv_softplus(2.0), float)
    assert inv_softplus(2.0) == pytest.approx(math.log(math.expm1(2.0)), rel=1e-12)
    assert inv_softplus(-1.0) == pytest.approx(math.log(1e-6))  # expm1 clamped at 1e-6
    y = np.array([0.5, 1.0, 3.0], np.float32)
    np.testing.assert_allclose(inv_softplus(jnp.asarray(y)), _inv_softplus(y), rtol=1e-6)
    np.testing.assert_allclose(jax.nn.softplus(inv_softplus(jnp.asarray(y))), y, rtol=1e-6)


def test_same_name_gives_an_equal_hashable_function():
    assert mappings("biased_softplus_1.0") == mappings("biased_softplus_1.0")
    assert hash(mappings("biased_softplus_1.0")) == hash(mappings("biased_softplus"))
    assert mappings("exp") is mappings("exp")


def test_mapping_errors():
    with pytest.raises(ValueError, match=r"Unknown mapping 'tanh'; accepted: \['softplus', 'exp'"):
        mappings("tanh")
    with pytest.raises(ValueError, match="Malformed mapping 'biased_softplus_1_2_3'"):
        mappings("biased_softplus_1_2_3")
    with pytest.raises(ValueError, match="Malformed mapping 'biased_softplus_x'"):
        mappings("biased_softplus_x")
    with pytest.raises(ValueError, match="bias > min_val"):
        mappings("biased_softplus_0.5_1.0")
    with pytest.raises(ValueError, match="bias > min_val"):
        biased_softplus(0.01)
    with pytest.raises(ValueError, match="named by a string"):
        mappings(None)
    assert set(MAPPING_NAMES) >= {"softplus", "exp", "relu", "none", "expln", "biased_softplus"}


# --- NormalParamExtractor and friends ---------------------------------------------------------


def test_normal_param_extractor_splits_maps_and_bounds():
    x = np.random.default_rng(0).standard_normal((5, 3, 8)).astype(np.float32) * 10
    loc, scale = NormalParamExtractor()(x)  # no init needed: no parameters
    assert loc.shape == scale.shape == (5, 3, 4)
    np.testing.assert_array_equal(loc, x[..., :4])
    expected = np.maximum(REFERENCES["biased_softplus_1.0"](x[..., 4:]), 1e-4)
    np.testing.assert_allclose(scale, expected, rtol=2e-6)
    # The lower bound binds.
    _, scale = NormalParamExtractor("none", scale_lb=0.5)(x)
    np.testing.assert_array_equal(scale, np.maximum(x[..., 4:], 0.5))
    assert float(jnp.min(scale)) == 0.5
    # Extra inputs pass through, and a function is accepted as the mapping.
    hidden = jnp.arange(3.0)
    loc, scale, h = NormalParamExtractor(jnp.exp, scale_lb=0.0)(x, hidden)
    assert h is hidden
    np.testing.assert_allclose(scale, np.exp(x[..., 4:].astype(np.float64)), rtol=2e-6)
    # jit and vmap.
    ext = NormalParamExtractor()
    np.testing.assert_allclose(jax.jit(lambda a: ext(a)[1])(x), ext(x)[1], rtol=1e-6)
    np.testing.assert_allclose(jax.vmap(lambda a: ext(a)[1])(x), ext(x)[1], rtol=1e-6)
    # Gradients are finite.
    assert np.isfinite(np.asarray(jax.grad(lambda a: jnp.sum(ext(a)[1]))(x))).all()


def test_normal_param_extractor_errors():
    with pytest.raises(ValueError, match=r"must be even; got shape \(2, 3\)"):
        NormalParamExtractor()(jnp.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"got shape \(\)"):
        NormalParamExtractor()(jnp.zeros(()))
    with pytest.raises(ValueError, match="Unknown mapping 'softmax'"):
        NormalParamExtractor("softmax")


def test_normal_param_wrapper_wraps_an_operator():
    import flax.linen as nn

    class TwoOut(nn.Module):
        @nn.compact
        def __call__(self, x):
            return nn.Dense(6)(x), x.sum(-1)

    x = jnp.ones((2, 3))
    net = NormalParamWrapper(nn.Dense(6), scale_mapping="exp", scale_lb=1e-3)
    variables = net.init(jax.random.key(0), x)
    loc, scale = net.apply(variables, x)
    raw = nn.Dense(6).apply({"params": variables["params"]["operator"]}, x)
    np.testing.assert_array_equal(loc, raw[:, :3])
    np.testing.assert_allclose(scale, np.maximum(np.exp(np.asarray(raw[:, 3:], np.float64)), 1e-3), rtol=2e-6)
    wrapped = NormalParamWrapper(TwoOut())
    v = wrapped.init(jax.random.key(1), x)
    loc, scale, extra = wrapped.apply(v, x)
    assert loc.shape == scale.shape == (2, 3)
    np.testing.assert_array_equal(extra, [3.0, 3.0])
    with pytest.raises(ValueError, match="must be even"):
        bad = NormalParamWrapper(nn.Dense(5))
        bad.init(jax.random.key(0), x)


def test_add_state_independent_normal_scale():
    loc = jnp.asarray(np.random.default_rng(1).standard_normal((4, 2, 3)).astype(np.float32))
    head = AddStateIndependentNormalScale(scale_shape=3, init_value=0.7)
    variables = head.init(jax.random.key(0), loc)
    param = variables["params"]["state_independent_scale"]
    assert param.shape == (3,)
    np.testing.assert_array_equal(param, np.full(3, 0.7, np.float32))
    out_loc, scale, extra = head.apply(variables, loc, "passthrough")
    assert out_loc is loc and extra == "passthrough" and scale.shape == (4, 2, 3)
    np.testing.assert_allclose(scale, np.full((4, 2, 3), math.exp(0.7)), rtol=1e-6)
    # The scale is learned: its gradient reaches the parameter.
    grads = jax.grad(lambda v: jnp.sum(head.apply(v, loc)[1]))(variables)
    np.testing.assert_allclose(grads["params"]["state_independent_scale"], np.full(3, 8 * math.exp(0.7)), rtol=1e-5)
    # Lower bound, default (scalar) shape, other mapping.
    low = AddStateIndependentNormalScale(scale_mapping="softplus", scale_lb=2.0)
    v = low.init(jax.random.key(0), loc)
    assert v["params"]["state_independent_scale"].shape == ()
    np.testing.assert_array_equal(low.apply(v, loc)[1], np.full((4, 2, 3), 2.0, np.float32))
    with pytest.raises(ValueError, match=r"trailing dims of loc \(shape \(4, 2, 3\)\) must equal scale_shape \(2,\)"):
        AddStateIndependentNormalScale(scale_shape=(2,)).init(jax.random.key(0), loc)
    with pytest.raises(ValueError, match="Unknown mapping"):
        AddStateIndependentNormalScale(scale_mapping="nope")
