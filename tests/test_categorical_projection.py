"""The C51 categorical projection against a float64 NumPy reference, on both of its paths."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxrl_modules.functional.categorical_projection import (
    categorical_projection,
    categorical_projection_uniform,
)

C51 = np.linspace(-10.0, 10.0, 51).astype(np.float32)
UNEVEN = np.array([-3.0, -1.5, -1.0, -0.2, 0.0, 0.4, 1.1, 2.0, 4.5], np.float32)


def reference(probs, support, reward, discount, terminated=None):
    """Float64 hat-function projection onto any strictly increasing support (Bellemare et al.)."""
    p = np.asarray(probs, np.float64)
    z = np.asarray(support, np.float64)
    batch = p.shape[:-1]

    def per_row(x):
        x = np.asarray(x, np.float64)
        if x.ndim > len(batch):
            x = x[..., 0]
        return np.broadcast_to(x, batch)

    term = np.zeros(batch) if terminated is None else per_row(terminated)
    g = per_row(discount) * (1 - term)
    tz = np.clip(per_row(reward)[..., None] + g[..., None] * z, z[0], z[-1])
    out = np.zeros(p.shape)
    for i in range(len(z)):
        below = z[i] - z[i - 1] if i > 0 else np.inf
        above = z[i + 1] - z[i] if i < len(z) - 1 else np.inf
        x = tz - z[i]
        weight = np.where(x >= 0, 1 - x / above, 1 + x / below)
        out[..., i] = (np.clip(weight, 0, 1) * p).sum(-1)
    return out


def random_inputs(rng, batch, n, *, reward_scale=3.0, temperature=1.0):
    logits = rng.normal(size=(*batch, n)) * temperature
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs = (probs / probs.sum(-1, keepdims=True)).astype(np.float32)
    reward = (rng.normal(size=batch) * reward_scale).astype(np.float32)
    terminated = rng.random(batch) < 0.25
    return probs, reward, terminated


def assert_matches_reference(out, probs, support, reward, discount, terminated=None, atol=1e-5):
    assert out.dtype == jnp.float32 and out.shape == np.shape(probs)
    expected = reference(probs, support, reward, discount, terminated)
    np.testing.assert_allclose(np.asarray(out), expected, atol=atol, rtol=0)


# ----------------------------------------------------------------------------- against the reference


@pytest.mark.parametrize(("batch", "discount"), [((3, 5), 0.99), ((3, 5), 0.5), ((3, 5), 0.0), ((), 0.9)])
def test_even_support_matches_reference(batch, discount):
    rng = np.random.default_rng(0)
    probs, reward, terminated = random_inputs(rng, batch, 51)
    out = categorical_projection(probs, C51, reward, discount, terminated)
    assert_matches_reference(out, probs, C51, reward, discount, terminated)


@pytest.mark.parametrize(
    ("support", "discount"),
    [(UNEVEN, 0.99), (np.array([0.0, 1.0], np.float32), 0.7), (np.geomspace(1, 50, 13).astype(np.float32), 0.7)],
)
def test_uneven_support_matches_reference(support, discount):
    rng = np.random.default_rng(1)
    probs, reward, terminated = random_inputs(rng, (4, 6), len(support))
    out = categorical_projection(probs, support, reward, discount, terminated)
    assert_matches_reference(out, probs, support, reward, discount, terminated)


@pytest.mark.parametrize("support", [C51, UNEVEN, np.linspace(0.0, 1.0, 11, dtype=np.float32)])
def test_traced_support_and_discount_match_reference(support):
    """Inside jit, with the support, rewards and per-row discounts as traced arguments."""
    rng = np.random.default_rng(2)
    probs, reward, terminated = random_inputs(rng, (64,), len(support), reward_scale=float(support[-1]) / 3)
    discount = (0.99 ** rng.integers(1, 6, size=64)).astype(np.float32)
    project = jax.jit(categorical_projection)
    out = project(probs, support, reward, discount, terminated)
    assert_matches_reference(out, probs, support, reward, discount, terminated)


OUTSIDE_THE_WINDOW = [
    np.array([0.99] * 15 + [0.3], np.float32),  # one row too far from 1: the whole batch scatters
    np.array([0.99] * 15 + [-0.5], np.float32),  # a negative discount: mirrored, still projected
    np.array([0.99] * 15 + [1e-9], np.float32),  # all but collapsed onto r
    np.array([1.5] * 16, np.float32),  # a discount above 1 spreads the atoms
]


def test_rows_outside_the_window_take_the_general_path():
    rng = np.random.default_rng(3)
    probs, reward, terminated = random_inputs(rng, (16,), 51)
    traced = jax.jit(lambda d: categorical_projection(probs, C51, reward, d, terminated))
    for discount in OUTSIDE_THE_WINDOW:
        assert_matches_reference(traced(discount), probs, C51, reward, discount, terminated)
    # a concrete negative discount goes to the general path at trace time
    discount = OUTSIDE_THE_WINDOW[1]
    out = categorical_projection(probs, C51, reward, discount, terminated)
    assert_matches_reference(out, probs, C51, reward, discount, terminated)


def test_many_atoms_uneven_uses_a_binary_search():
    support = np.cumsum(np.random.default_rng(4).uniform(0.05, 0.15, size=101)).astype(np.float32)
    rng = np.random.default_rng(5)
    probs, reward, terminated = random_inputs(rng, (32,), 101, reward_scale=2.0)
    out = jax.jit(categorical_projection)(probs, support, reward, np.float32(0.95), terminated)
    assert_matches_reference(out, probs, support, reward, 0.95, terminated)


def test_uniform_bounds_equal_the_support_array():
    rng = np.random.default_rng(6)
    probs, reward, terminated = random_inputs(rng, (9,), 51)
    by_array = categorical_projection(probs, C51, reward, 0.97, terminated)
    # inside jit, with traced rewards: the bounds stay static
    by_bounds = jax.jit(lambda r: categorical_projection_uniform(probs, -10.0, 10.0, r, 0.97, terminated))(reward)
    np.testing.assert_allclose(by_bounds, by_array, atol=1e-6, rtol=0)
    assert_matches_reference(by_bounds, probs, C51, reward, 0.97, terminated)


# ----------------------------------------------------------------------------- exact landings


@pytest.mark.parametrize("traced", [False, True])
@pytest.mark.parametrize(
    ("reward", "expected"),
    [
        (0.0, lambda p: p),  # every atom lands on itself, the end atoms included
        (1.0, lambda p: np.array([0.0, p[0], p[1] + p[2]])),  # shifted up; the top atom clamps
        (-1.0, lambda p: np.array([p[0] + p[1], p[2], 0.0])),  # shifted down; the bottom clamps
        (-2.0, lambda p: np.array([1.0, 0.0, 0.0])),  # all below the support
        (7.0, lambda p: np.array([0.0, 0.0, 1.0])),
    ],
)
def test_atoms_landing_on_support_points_keep_all_their_mass(reward, expected, traced):
    """TorchRL's integer-b case: b = (Tz - v_min) / dz is an integer, the end atoms included."""
    support = np.array([-1.0, 0.0, 1.0], np.float32)
    probs = np.array([[0.2, 0.3, 0.5]], np.float32)
    args = (probs, support, np.array([reward], np.float32), 1.0)
    out = jax.jit(categorical_projection)(*args) if traced else categorical_projection(*args)
    np.testing.assert_allclose(out[0], expected(probs[0]), atol=1e-7, rtol=0)


def test_integer_landings_on_the_c51_support():
    """Rewards that are whole multiples of dz with discount 1: every mass moves whole."""
    dz = 0.4
    probs = np.full((3, 51), 1 / 51, np.float32)
    out = np.asarray(categorical_projection(probs, C51, np.array([0.0, 2 * dz, -5 * dz], np.float32), 1.0))
    np.testing.assert_allclose(out[0], probs[0], atol=1e-6)
    np.testing.assert_allclose(out[1, :2], 0, atol=1e-6)
    np.testing.assert_allclose(out[1, 2:50], 1 / 51, atol=1e-6)
    np.testing.assert_allclose(out[1, 50], 3 / 51, atol=1e-6)
    np.testing.assert_allclose(out[2, 0], 6 / 51, atol=1e-6)
    np.testing.assert_allclose(out[2, 46:], 0, atol=1e-6)


def test_terminal_rows_put_all_mass_at_the_reward():
    support = np.array([-1.0, 0.0, 1.0], np.float32)
    probs = np.array([[0.2, 0.3, 0.5], [0.2, 0.3, 0.5], [0.2, 0.3, 0.5]], np.float32)
    reward = np.array([0.25, 5.0, 0.25], np.float32)
    terminated = np.array([True, True, False])
    out = np.asarray(categorical_projection(probs, support, reward, 0.99, terminated))
    np.testing.assert_allclose(out[0], [0.0, 0.75, 0.25], atol=1e-6)
    np.testing.assert_allclose(out[1], [0.0, 0.0, 1.0], atol=1e-6)  # clamped to the top atom
    assert out[2, 0] > 0  # not terminal: the distribution is kept, shifted
    # a float flag is used as 1 - terminated, as TorchRL does
    as_float = categorical_projection(probs, support, reward, 0.99, terminated.astype(np.float32))
    np.testing.assert_allclose(as_float, out, atol=1e-7)


def test_clamping_sends_all_mass_to_the_end_atoms():
    probs = np.random.default_rng(7).dirichlet(np.ones(51), size=4).astype(np.float32)
    reward = np.array([1e4, -1e4, np.inf, -np.inf], np.float32)
    out = np.asarray(categorical_projection(probs, C51, reward, 0.99))
    np.testing.assert_allclose(out[:, 1:-1], 0, atol=1e-7)
    np.testing.assert_allclose(out[[0, 2], -1], 1, atol=1e-6)
    np.testing.assert_allclose(out[[1, 3], 0], 1, atol=1e-6)


@pytest.mark.parametrize("discount", [0.99, 0.5])
def test_nan_reward_or_infinite_discount_gives_a_nan_row_and_leaves_the_others(discount):
    rng = np.random.default_rng(8)
    probs, reward, terminated = random_inputs(rng, (3, 5), 51)
    reward[1, 2] = np.nan
    out = np.asarray(categorical_projection(probs, C51, reward, discount, terminated))
    assert np.isnan(out[1, 2]).all()
    keep = np.ones((3, 5), bool)
    keep[1, 2] = False
    expected = reference(probs, C51, np.nan_to_num(reward), discount, terminated)
    np.testing.assert_allclose(out[keep], expected[keep], atol=1e-5)
    discounts = np.full((3, 5), discount, np.float32)
    discounts[0, 0] = np.inf
    out = np.asarray(categorical_projection(probs, C51, np.nan_to_num(reward), discounts, terminated))
    assert np.isnan(out[0, 0]).all() and not np.isnan(out[1:]).any()


# ----------------------------------------------------------------------------- transformations


@pytest.mark.parametrize(("support", "batch"), [(C51, (3, 5)), (UNEVEN, (4, 6))])
def test_jit_equals_eager(support, batch):
    rng = np.random.default_rng(9)
    probs, reward, terminated = random_inputs(rng, batch, len(support))
    eager = categorical_projection(probs, support, reward, 0.99, terminated)
    jitted = jax.jit(lambda p, r, t: categorical_projection(p, support, r, 0.99, t))(probs, reward, terminated)
    np.testing.assert_allclose(jitted, eager, atol=1e-6, rtol=0)


@pytest.mark.parametrize("support", [C51, UNEVEN])
def test_vmap_equals_loop(support):
    rng = np.random.default_rng(10)
    probs, reward, terminated = random_inputs(rng, (4, 8), len(support))
    discount = np.float32(0.97)
    mapped = jax.jit(jax.vmap(lambda p, r, t: categorical_projection(p, support, r, discount, t)))(
        probs, reward, terminated
    )
    for k in range(4):
        one = categorical_projection(probs[k], support, reward[k], discount, terminated[k])
        np.testing.assert_allclose(mapped[k], one, atol=1e-6, rtol=0)


@pytest.mark.parametrize(("support", "discount"), [(C51, 0.99), (UNEVEN, 0.4)])
def test_gradient_wrt_probs_is_the_transposed_projection(support, discount):
    """The projection is linear in probs: the gradient of <w, m> is A^T w, A from the reference."""
    rng = np.random.default_rng(11)
    probs, reward, terminated = random_inputs(rng, (5,), len(support))
    weights = rng.normal(size=(5, len(support))).astype(np.float32)
    grad = jax.grad(lambda p: jnp.sum(weights * categorical_projection(p, support, reward, discount, terminated)))(
        jnp.asarray(probs)
    )
    assert np.isfinite(np.asarray(grad)).all()
    n = len(support)
    for row in range(5):
        basis = np.eye(n)
        a = reference(basis, support, np.full(n, reward[row]), discount, np.full(n, terminated[row]))  # a[j] = A e_j
        np.testing.assert_allclose(grad[row], a @ weights[row], atol=1e-5)


def test_empty_batch():
    out = categorical_projection(np.zeros((0, 51), np.float32), C51, np.zeros(0, np.float32), 0.99)
    assert out.shape == (0, 51)


def test_low_precision_probs_keep_their_dtype():
    probs = jnp.full((2, 51), 1 / 51, jnp.bfloat16)
    out = categorical_projection(probs, C51, jnp.zeros(2), 0.99)
    assert out.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(out, np.float32).sum(-1), 1.0, atol=1e-2)


# ----------------------------------------------------------------------------- properties

# Traced arguments, so that the examples share one compilation per support and discount shape;
# an evenly spaced support still takes the fast path, found at run time.
_traced_projection = jax.jit(categorical_projection)
_SUPPORTS = [C51, UNEVEN, np.linspace(-1, 1, 3).astype(np.float32), np.linspace(0, 200, 21).astype(np.float32)]


@settings(max_examples=30, deadline=None)
@given(
    which=st.integers(0, len(_SUPPORTS) - 1),
    seed=st.integers(0, 2**32 - 1),
    reward_scale=st.sampled_from([0.01, 1.0, 30.0, 1e3]),
    discount=st.one_of(st.floats(0.0, 1.0, width=32), st.sampled_from([0.99, 0.9, 1.0, 0.0])),
    per_row=st.booleans(),
)
def test_projection_keeps_mass_and_is_non_negative(which, seed, reward_scale, discount, per_row):
    support = _SUPPORTS[which]
    rng = np.random.default_rng(seed)
    probs, reward, terminated = random_inputs(rng, (24,), len(support), reward_scale=reward_scale, temperature=3.0)
    # one shape for both kinds, so that the examples share compilations
    disc = rng.uniform(0, 1, size=24).astype(np.float32) if per_row else np.full(24, discount, np.float32)
    out = np.asarray(_traced_projection(probs, support, reward, disc, terminated))
    assert (out >= 0).all()
    np.testing.assert_allclose(out.sum(-1), probs.astype(np.float64).sum(-1), atol=2e-6)


# ----------------------------------------------------------------------------- bad input


def test_bad_inputs_raise_clear_errors():
    probs = np.full((4, 51), 1 / 51, np.float32)
    r = np.zeros(4, np.float32)
    with pytest.raises(ValueError, match=r"support must have shape \[N\] = \(51,\).*got shape \(11,\)"):
        categorical_projection(probs, np.linspace(0, 1, 11), r, 0.99)
    with pytest.raises(ValueError, match=r"support must have shape \[N\].*got shape \(1, 51\)"):
        categorical_projection(probs, C51[None], r, 0.99)
    with pytest.raises(ValueError, match=r"support must have shape \[N\].*got shape \(11,\)"):
        jax.jit(categorical_projection)(probs, jnp.linspace(0, 1, 11), r, 0.99)
    with pytest.raises(ValueError, match="strictly increasing"):
        categorical_projection(probs, C51[::-1], r, 0.99)
    with pytest.raises(ValueError, match="strictly increasing"):
        categorical_projection(probs[:, :3], np.array([0.0, 1.0, 1.0]), r, 0.99)
    with pytest.raises(ValueError, match="at least 2 atoms"):
        categorical_projection(probs[:, :1], np.array([0.0]), r, 0.99)
    with pytest.raises(ValueError, match="probs must be a floating array, got dtype int32"):
        categorical_projection(np.ones((4, 51), np.int32), C51, r, 0.99)
    with pytest.raises(ValueError, match=r"reward has shape \(5,\); expected \(4,\) or \(4, 1\).*\(4, 51\)"):
        categorical_projection(probs, C51, np.zeros(5), 0.99)
    with pytest.raises(ValueError, match=r"reward has shape \(\); expected \(4,\) or \(4, 1\)"):
        categorical_projection(probs, C51, 0.0, 0.99)
    with pytest.raises(ValueError, match=r"discount has shape \(4, 2\); expected \(4,\) or \(4, 1\) or a scalar"):
        categorical_projection(probs, C51, r, np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"terminated has shape \(1, 4\); expected \(4,\) or \(4, 1\)"):
        categorical_projection(probs, C51, r, 0.99, np.zeros((1, 4), bool))
    with pytest.raises(ValueError, match="v_max=-1.0 must be greater than v_min=1.0"):
        categorical_projection_uniform(probs, 1.0, -1.0, r, 0.99)
    with pytest.raises(ValueError, match="v_min must be a finite Python number"):
        jax.jit(lambda lo: categorical_projection_uniform(probs, lo, 1.0, r, 0.99))(0.0)
    with pytest.raises(ValueError, match="v_max must be a finite Python number"):
        categorical_projection_uniform(probs, 0.0, np.inf, r, 0.99)
