"""Tensor specs: TorchRL's defaults, membership, projection, sampling, masks, conversions, Composite.

Jitted helpers take the spec as a static argument and are shared by every test, so each
(spec, shape) pair compiles once.
"""

import copy
import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jaxrl_modules.data import (
    Binary,
    BinaryDiscreteTensorSpec,
    Bounded,
    BoundedTensorSpec,
    Categorical,
    Composite,
    CompositeSpec,
    DiscreteTensorSpec,
    MultiCategorical,
    MultiDiscreteTensorSpec,
    MultiOneHot,
    MultiOneHotDiscreteTensorSpec,
    OneHot,
    OneHotDiscreteTensorSpec,
    TensorDict,
    TensorSpec,
    Unbounded,
    UnboundedContinuousTensorSpec,
    UnboundedDiscreteTensorSpec,
)

PROPERTY = settings(max_examples=25, deadline=None)
I32 = np.iinfo(np.int32)
T, F = True, False


@functools.partial(jax.jit, static_argnums=0)
def jit_is_in(spec, x):
    return spec.is_in(x)


@functools.partial(jax.jit, static_argnums=0)
def jit_project(spec, x):
    y = spec.project(x)
    return y, spec.is_in(y)


@functools.partial(jax.jit, static_argnums=(0, 2))
def jit_rand(spec, key, shape):
    x = spec.rand(key, shape)
    return x, spec.is_in(x)


@functools.partial(jax.jit, static_argnums=(0, 2))
def jit_rand_masked(spec, key, shape, mask):
    x = spec.rand(key, shape, mask=mask)
    return x, spec.is_in(x, mask=mask), spec.project(jnp.zeros(x.shape, jnp.float32), mask=mask)


# Every kind of leaf spec, with masks, degenerate bounds and dtype extremes.
SPECS = {
    "bounded": Bounded(-1.5, 2.0, shape=(2,)),
    "bounded_int": Bounded(np.array([-3, 0]), np.array([5, 0]), dtype=np.int32),
    "bounded_uint8": Bounded(0, 255, shape=(2,), dtype=np.uint8),
    "bounded_int_full_range": Bounded(I32.min, I32.max, shape=(3,), dtype=np.int32),
    "bounded_int8_top": Bounded(-5, 127, shape=(3,), dtype=np.int8),
    "unbounded": Unbounded(2),
    "unbounded_int": Unbounded(2, dtype=np.int32),
    "unbounded_bool": Unbounded(2, dtype=np.bool_),
    "one_hot": OneHot(4),
    "one_hot_masked": OneHot(4, dtype=np.float32, mask=np.array([T, F, T, F])),
    "categorical": Categorical(5),
    "categorical_masked": Categorical(4, shape=(2,), mask=np.array([[F, T, T, F], [T, F, F, F]])),
    "binary": Binary(3),
    "multi_one_hot": MultiOneHot([2, 3], mask=np.array([T, F, T, T, F])),
    "multi_categorical": MultiCategorical([2, 3], mask=np.array([T, F, T, T, F])),
}
SPEC_IDS = list(SPECS)


def any_values(shape, dtype):
    if np.dtype(dtype) == np.float32:
        elements = st.floats(width=32, allow_nan=True, allow_infinity=True)
    else:
        elements = st.integers(int(I32.min), int(I32.max))
    return hnp.arrays(dtype, shape, elements=elements)


# --------------------------------------------------------------------------- TorchRL defaults


def test_defaults_follow_torchrl_with_32_bit_ints():
    assert (Unbounded().shape, Unbounded().dtype, Unbounded().domain) == ((1,), np.float32, "continuous")
    assert Unbounded(3).shape == (3,)
    assert Unbounded(dtype=np.int32).domain == "discrete"
    assert (OneHot(4).shape, OneHot(4).dtype, OneHot(4).n) == ((4,), np.bool_, 4)
    # TorchRL uses int64; JAX defaults to 32 bits, and an explicit int64 is canonicalized.
    assert (Categorical(4).shape, Categorical(4).dtype) == ((), np.int32)
    assert Categorical(4, dtype=np.int64).dtype == np.int32
    assert (Binary(3).shape, Binary(3).dtype, Binary(shape=(2, 3)).n) == ((3,), np.int8, 3)
    moh = MultiOneHot([2, 3])
    assert (moh.shape, moh.dtype, moh.nvec) == ((5,), np.bool_, (2, 3))
    assert (MultiCategorical([2, 3]).shape, MultiCategorical([2, 3]).dtype) == ((2,), np.int32)
    b = Bounded(0.0, 1.0, shape=2)
    assert (b.shape, b.dtype, b.domain) == ((2,), np.float32, "continuous")
    assert Bounded(0, 3, shape=(1,), dtype=np.int32).domain == "discrete"
    assert Bounded(0, 3, shape=(1,), domain="discrete").domain == "discrete"
    assert Bounded(np.zeros((2, 3)), 1.0).shape == (2, 3)
    assert Composite().domain == "composite" and Composite().shape == ()


def test_defaults_match_torchrl_itself():
    torch = pytest.importorskip("torch")
    trl = pytest.importorskip("torchrl.data")
    pairs = [
        (Unbounded(), trl.Unbounded()),
        (OneHot(4), trl.OneHot(4)),
        (Categorical(4), trl.Categorical(4)),
        (Binary(3), trl.Binary(3)),
        (MultiOneHot([2, 3]), trl.MultiOneHot([2, 3])),
        (MultiCategorical([2, 3]), trl.MultiCategorical([2, 3])),
        (Bounded(-1.0, 1.0, shape=(2,)), trl.Bounded(-1.0, 1.0, shape=(2,))),
    ]
    for ours, theirs in pairs:
        assert ours.shape == tuple(theirs.shape), ours
        theirs_dtype = str(theirs.dtype).removeprefix("torch.").replace("int64", "int32")
        assert str(ours.dtype) == theirs_dtype, ours
        assert ours.domain == theirs.domain, ours
    assert torch.get_default_dtype() == torch.float32


# ------------------------------------------------------------------------------------ is_in

IS_IN_CASES = [
    (Bounded(-1.0, 1.0, shape=(2,)), np.array([0.0, 1.0], np.float32), True),
    (Bounded(-1.0, 1.0, shape=(2,)), np.zeros((4, 2), np.float32), True),
    (Bounded(-1.0, 1.0, shape=(2,)), np.array([0.0, 1.5], np.float32), False),
    (Bounded(-1.0, 1.0, shape=(2,)), np.array([0.0, np.nan], np.float32), False),
    (Bounded(-1.0, 1.0, shape=(2,)), np.array([0, 1], np.int32), False),  # dtype
    (Bounded(-1.0, 1.0, shape=(2,)), np.zeros(3, np.float32), False),  # shape
    (Unbounded(2), np.array([np.nan, np.inf], np.float32), True),
    (Unbounded(2), np.array([1, 2], np.int32), False),
    (Unbounded(2), np.zeros((2, 1), np.float32), False),
    (OneHot(3), np.array([F, T, F]), True),
    (OneHot(3), np.array([F, F, F]), False),
    (OneHot(3), np.array([T, T, F]), False),
    (OneHot(3), np.array([0, 1, 0], np.int32), False),
    (OneHot(3, dtype=np.int32), np.array([[0, 1, 0], [1, 0, 0]], np.int32), True),
    (OneHot(3, dtype=np.int32), np.array([0, 2, 0], np.int32), False),
    (OneHot(3, dtype=np.int32), np.array([1, -1, 1], np.int32), False),
    (OneHot(3, mask=np.array([T, F, T])), np.array([T, F, F]), True),
    (OneHot(3, mask=np.array([T, F, T])), np.array([F, T, F]), False),
    (Categorical(3), np.array([0, 2], np.int32), True),
    (Categorical(3), np.array(3, np.int32), False),
    (Categorical(3), np.array(-1, np.int32), False),
    (Categorical(3), np.array(1, np.int8), False),
    (Categorical(3, mask=np.array([F, T, T])), np.array([1, 2], np.int32), True),
    (Categorical(3, mask=np.array([F, T, T])), np.array([1, 0], np.int32), False),
    (Binary(3), np.array([0, 1, 1], np.int8), True),
    (Binary(3), np.array([0, 2, 0], np.int8), False),
    (MultiOneHot([2, 3]), np.array([T, F, F, T, F]), True),
    (MultiOneHot([2, 3]), np.array([T, T, F, T, F]), False),
    (MultiOneHot([2, 3]), np.array([T, F, F, F, F]), False),
    (MultiOneHot([2, 3], mask=np.array([T, T, T, F, T])), np.array([F, T, F, T, F]), False),
    (MultiCategorical([2, 3]), np.array([1, 2], np.int32), True),
    (MultiCategorical([2, 3]), np.array([2, 0], np.int32), False),
    (MultiCategorical([2, 3]), np.array([0, 3], np.int32), False),
    (MultiCategorical([2, 3], mask=np.array([T, T, T, F, T])), np.array([0, 1], np.int32), False),
    (MultiCategorical([2, 3], mask=np.array([T, T, T, F, T])), np.array([0, 2], np.int32), True),
]


@pytest.mark.parametrize("spec, x, expected", IS_IN_CASES)
def test_is_in_eager_and_jit(spec, x, expected):
    assert bool(spec.is_in(x)) is expected
    assert bool(jit_is_in(spec, x)) is expected
    assert spec.is_in(x).shape == () and spec.is_in(x).dtype == jnp.bool_


def test_is_in_takes_a_dynamic_mask_combined_with_the_spec_mask():
    spec = Categorical(3, mask=np.array([T, T, F]))
    x = jnp.array([0, 1], jnp.int32)
    assert bool(spec.is_in(x, mask=jnp.array([T, T, T])))
    assert not bool(spec.is_in(x, mask=jnp.array([[T, T, T], [T, F, T]])))
    assert not bool(spec.is_in(jnp.array(2, jnp.int32), mask=jnp.array([T, T, T])))


# ----------------------------------------------------------------------------------- project


@pytest.mark.parametrize("name", SPEC_IDS)
@PROPERTY
@given(data=st.data())
def test_project_lands_in_the_spec(name, data):
    spec = SPECS[name]
    for dtype in (np.float32, np.int32):
        x = data.draw(any_values((3, *spec.shape), dtype))
        if np.issubdtype(spec.dtype, np.floating):
            x = np.where(np.isnan(x), 0, x)  # NaN stays NaN in a float spec (test below)
        y, inside = jit_project(spec, x)
        assert bool(inside), (spec, x, y)
        assert y.dtype == spec.dtype and y.shape == x.shape
        assert bool(spec.is_in(spec.project(x)))  # eager agrees


@pytest.mark.parametrize("name", SPEC_IDS)
@PROPERTY
@given(seed=st.integers(0, 2**31 - 1))
def test_rand_lands_in_the_spec_and_members_are_fixed_points_of_project(name, seed):
    spec = SPECS[name]
    x, inside = jit_rand(spec, jax.random.key(seed), (4,))
    assert bool(inside) and x.shape == (4, *spec.shape) and x.dtype == spec.dtype
    y, _ = jit_project(spec, x)
    np.testing.assert_array_equal(np.asarray(y), np.asarray(x))


def test_project_values():
    b = Bounded(-1.0, 1.0, shape=(3,))
    np.testing.assert_array_equal(b.project(jnp.array([-5.0, 0.25, jnp.nan])), [-1.0, 0.25, np.nan])  # NaN in, NaN out
    bi = Bounded(0, 10, shape=(3,), dtype=np.int32)
    out = bi.project(jnp.array([2.6, -3.0, 1e30]))
    assert out.dtype == jnp.int32 and out.tolist() == [3, 0, 10]
    assert Unbounded(2, dtype=np.int32).project(jnp.array([1.6, -2.4])).tolist() == [2, -2]
    c = Categorical(4, mask=np.array([F, F, T, T]))
    assert c.project(jnp.array([0.6, 2.5, 3.7, 9.0])).tolist() == [2, 2, 3, 3]
    assert Categorical(4).project(jnp.array([-1, 1, 7], jnp.int8)).tolist() == [0, 1, 3]
    assert Binary(2).project(jnp.array([0.4, 0.6])).tolist() == [0, 1]
    oh = OneHot(4)
    # Deterministic: the first of tied maxima, never a random draw as TorchRL's.
    assert oh.project(jnp.array([1.0, 3.0, 3.0, 0.0])).tolist() == [F, T, F, F]
    masked = OneHot(4, mask=np.array([T, F, F, T]))
    assert masked.project(jnp.array([-jnp.inf, 5.0, 5.0, -jnp.inf])).tolist() == [T, F, F, F]
    assert masked.project(jnp.array([0.0, 5.0, 5.0, 1.0])).tolist() == [F, F, F, T]


def test_project_rejects_a_wrong_trailing_shape():
    expected = r"expected an array of shape \(\*batch, \*\(2,\)\), got shape \(3,\)"
    with pytest.raises(ValueError, match=expected):
        Bounded(0.0, 1.0, shape=(2,)).project(jnp.zeros(3))


# ----------------------------------------------------------------------------- rand and masks


def rows_with_one_allowed(draw_bool, shape):
    mask = np.array(draw_bool, dtype=bool).reshape(shape)
    first = ~mask.any(axis=-1)
    mask[..., 0] |= first
    return mask


@PROPERTY
@given(bits=st.lists(st.booleans(), min_size=12, max_size=12), seed=st.integers(0, 2**31 - 1))
def test_rand_and_project_never_select_a_masked_entry(bits, seed):
    mask = rows_with_one_allowed(bits, (3, 4))
    key = jax.random.key(seed)
    # A dynamic mask under jit (one compile for every example) ...
    for spec in (Categorical(4, shape=(3,)), OneHot(4, shape=(3, 4))):
        x, inside, projected = jit_rand_masked(spec, key, (50,), jnp.asarray(mask))
        index = x if isinstance(spec, Categorical) else jnp.argmax(x, axis=-1)
        assert bool(inside)
        assert np.take_along_axis(np.broadcast_to(mask, (50, 3, 4)), np.asarray(index)[..., None], -1).all()
        pidx = projected if isinstance(spec, Categorical) else jnp.argmax(projected, -1)
        assert np.take_along_axis(np.broadcast_to(mask, (50, 3, 4)), np.asarray(pidx)[..., None], -1).all()
    # ... and a static mask on the spec, eagerly.
    spec = OneHot(4, shape=(3, 4)).update_mask(mask)
    x = spec.rand(key, (20,))
    assert bool(spec.is_in(x)) and not (np.asarray(x) & ~mask).any()
    flat = mask.reshape(-1)
    multi = MultiCategorical([4, 4, 4]).update_mask(flat)
    y = multi.rand(key, (20,))
    assert bool(multi.is_in(y)) and bool(multi.to_one_hot_spec().is_in(multi.to_one_hot(y)))
    assert not (np.asarray(multi.to_one_hot(y)) & ~flat).any()


def test_rand_is_uniform_over_allowed_entries(key):
    spec = Categorical(5, mask=np.array([T, F, T, T, F]))
    counts = np.bincount(np.asarray(spec.rand(key, (3000,))), minlength=5)
    assert counts[1] == counts[4] == 0
    np.testing.assert_allclose(counts[[0, 2, 3]] / 3000, 1 / 3, atol=0.04)
    oh = MultiOneHot([2, 3]).rand(key, (3000,))
    np.testing.assert_allclose(np.asarray(oh).mean(0), [1 / 2] * 2 + [1 / 3] * 3, atol=0.04)


def test_rand_distributions(key):
    ints = Bounded(0, 2, shape=(1,), dtype=np.int32).rand(key, (600,))
    assert set(np.unique(ints).tolist()) == {0, 1, 2}  # high included, as TorchRL 0.14.1
    top = Bounded(125, 127, shape=(1,), dtype=np.int8).rand(key, (600,))
    assert set(np.unique(top).tolist()) == {125, 126, 127}
    floats = Bounded(np.array([-2.0, 10.0]), np.array([-1.0, 10.0])).rand(key, (2000,))
    assert float(floats[:, 0].min()) >= -2.0 and float(floats[:, 0].max()) <= -1.0
    assert np.all(np.asarray(floats[:, 1]) == 10.0)
    normal = Unbounded(1).rand(key, (20000,))
    assert abs(float(normal.mean())) < 0.05 and abs(float(normal.std()) - 1) < 0.05
    wide = Unbounded(1, dtype=np.int32).rand(key, (2000,))
    assert int(wide.min()) < -(2**30) and int(wide.max()) > 2**30
    coins = Unbounded(1, dtype=np.bool_).rand(key, (2000,))
    assert coins.dtype == jnp.bool_ and 0.4 < float(coins.mean()) < 0.6
    binary = Binary(4).rand(key, (2000,))
    assert binary.dtype == jnp.int8 and 0.4 < float(binary.mean()) < 0.6


def test_rand_is_deterministic_in_the_key(key):
    spec = OneHot(6)
    np.testing.assert_array_equal(spec.rand(key, (5,)), spec.rand(key, (5,)))
    assert not np.array_equal(spec.rand(key, (50,)), spec.rand(jax.random.key(1), (50,)))


def test_update_mask_returns_a_new_spec():
    spec = OneHot(3)
    masked = spec.update_mask(np.array([T, F, T]))
    assert spec.mask is None and masked.mask.tolist() == [T, F, T]
    assert masked != spec and masked.update_mask(None) == spec
    c = Categorical(3, shape=(2,)).update_mask(np.array([T, F, T]))  # broadcast to (*shape, n)
    assert c.mask.shape == (2, 3)


@pytest.mark.parametrize(
    "spec, mask, match",
    [
        (OneHot(4), np.ones(3, bool), r"expected shape \(4,\).*got a mask of shape \(3,\)"),
        (
            Categorical(4, shape=(2,)),
            np.ones((3, 4), bool),
            r"expected shape \(2, 4\).*got a mask of shape \(3, 4\)",
        ),
        (MultiCategorical([2, 3]), np.ones(2, bool), r"expected shape \(5,\).*got a mask of shape \(2,\)"),
        (OneHot(3), np.array([F, F, F]), "at least one allowed"),
        (MultiOneHot([2, 2]), np.array([T, T, F, F]), "at least one allowed"),
    ],
)
def test_update_mask_errors(spec, mask, match):
    with pytest.raises(ValueError, match=match):
        spec.update_mask(mask)


def test_mask_dtype_and_dynamic_mask_errors(key):
    with pytest.raises(TypeError, match="boolean"):
        OneHot(3).update_mask(np.ones(3, np.int32))
    with pytest.raises(ValueError, match=r"expected shape \(2, 3\).*got a mask of shape \(4,\)"):
        OneHot(3).rand(key, (2,), mask=jnp.ones(4, bool))
    with pytest.raises(TypeError, match="Bounded takes no mask"):
        Bounded(0.0, 1.0, shape=(1,)).rand(key, mask=jnp.ones(1, bool))


# -------------------------------------------------------------------------- frozen and hashable


def test_specs_are_frozen_hash_by_value_and_store_numpy():
    a = Bounded(np.array([-1.0, -1.0]), 1.0)
    b = Bounded(-1.0, 1.0, shape=(2,))
    assert a == b and hash(a) == hash(b)
    assert Bounded(-1.0, 2.0, shape=(2,)) != b
    assert OneHot(3, mask=np.array([T, F, T])) == OneHot(3, mask=[T, F, T])
    assert OneHot(3, mask=np.array([T, F, T])) != OneHot(3, mask=np.array([T, T, F]))
    assert OneHot(3) != OneHot(3, dtype=np.int32) and OneHot(3) != Categorical(3)
    assert len({OneHot(3), OneHot(3), Categorical(3)}) == 2
    assert isinstance(b.low, np.ndarray) and isinstance(OneHot(2, mask=[T, F]).mask, np.ndarray)
    with pytest.raises(AttributeError, match="frozen"):
        b.shape = (3,)
    with pytest.raises(ValueError, match="read-only"):
        b.low[0] = 5.0
    assert copy.deepcopy(b) is b
    assert "low=-1.0" in repr(b) and "shape=(2,)" in repr(b)


def test_a_spec_is_a_static_jit_argument():
    traces = []

    def f(x, spec):
        traces.append(spec)
        return spec.project(x)

    g = jax.jit(f, static_argnums=1)
    x = jnp.array([3.0, -3.0])
    assert g(x, Bounded(-1.0, 1.0, shape=(2,))).tolist() == [1.0, -1.0]
    assert g(x, Bounded(-1.0, 1.0, shape=(2,))).tolist() == [1.0, -1.0]  # equal spec: cached
    assert g(x, Bounded(-2.0, 2.0, shape=(2,))).tolist() == [2.0, -2.0]
    assert len(traces) == 2


def test_a_spec_is_a_flax_module_field(key):
    class Head(nn.Module):
        spec: TensorSpec

        @nn.compact
        def __call__(self, x):
            return self.spec.project(10.0 * nn.Dense(self.spec.shape[-1])(x))

    head = Head(Bounded(-1.0, 1.0, shape=(3,)))
    variables = head.init(key, jnp.ones((5, 4)))
    out = jax.jit(head.apply)(variables, jnp.ones((5, 4)))
    assert out.shape == (5, 3) and bool(head.spec.is_in(out))
    assert hash(head) == hash(Head(Bounded(-1.0, 1.0, shape=(3,))))
    composite = Head(Composite(a=Unbounded(3)))
    assert hash(composite) == hash(Head(Composite(a=Unbounded(3))))


# --------------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: Bounded(0.0, 1.0), ValueError, r"Bounded needs a shape.*scalar low=0.0 and high=1.0"),
        (lambda: Bounded(2.0, 1.0, shape=(1,)), ValueError, "low must be <= high"),
        (
            lambda: Bounded(np.zeros(3), 1.0, shape=(2,)),
            ValueError,
            r"low of shape \(3,\) cannot be broadcast to shape \(2,\)",
        ),
        (lambda: Bounded(0, 1000, shape=1, dtype=np.int8), ValueError, "high=1000 does not fit in dtype int8"),
        (lambda: Bounded(0, 1, shape=(1,), dtype=np.bool_), ValueError, "use Binary"),
        (lambda: OneHot(4, shape=(3,)), ValueError, r"OneHot\(n=4\): the last dim of shape must equal n"),
        (lambda: Binary(), ValueError, "needs n or shape"),
        (lambda: Binary(3, shape=(2,)), ValueError, "last dim of shape must equal n"),
        (lambda: MultiOneHot([2, 3], shape=(4,)), ValueError, r"sum\(nvec\)=5, got shape=\(4,\)"),
        (lambda: MultiCategorical([2, 3], shape=(3,)), ValueError, r"len\(nvec\)=2, got shape=\(3,\)"),
        (lambda: Categorical(300, dtype=np.int8), ValueError, "does not fit in dtype int8"),
        (lambda: Categorical(3, dtype=np.float32), ValueError, "integer dtype"),
        (lambda: Unbounded(2).expand(3), ValueError, r"spec shape \(2,\) does not broadcast to the new shape"),
        (lambda: OneHot(1).expand(4), ValueError, "last dim of shape must equal n"),
        (lambda: Composite(shape=(2,)).expand(3), ValueError, r"Composite.expand: the spec shape \(2,\)"),
    ],
)
def test_bad_construction_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


# ------------------------------------------------------------------------ conversions and more


def test_one_hot_categorical_round_trip(key):
    mask = np.array([[T, F, T, T], [F, T, F, F]])
    oh = OneHot(4, shape=(2, 4), mask=mask)
    cat = oh.to_categorical_spec()
    assert cat == Categorical(4, shape=(2,), mask=mask) and cat.to_one_hot_spec() == oh
    x = oh.rand(key, (7,))
    idx = oh.to_categorical(x)
    assert idx.shape == (7, 2) and bool(cat.is_in(idx))
    np.testing.assert_array_equal(cat.to_one_hot(idx), x)


def test_multi_one_hot_multi_categorical_round_trip(key):
    mask = np.array([T, T, F, T, T])
    moh = MultiOneHot([2, 3], mask=mask)
    mcat = moh.to_categorical_spec()
    assert mcat == MultiCategorical([2, 3], mask=mask) and mcat.to_one_hot_spec() == moh
    x = moh.rand(key, (6,))
    idx = moh.to_categorical(x)
    assert bool(mcat.is_in(idx))
    np.testing.assert_array_equal(mcat.to_one_hot(idx), x)


def test_encode():
    assert OneHot(4).encode(2).tolist() == [F, F, T, F]
    assert OneHot(4).encode(np.array([0, 3])).shape == (2, 4)
    assert Categorical(4).encode(np.int64(3)).dtype == jnp.int32
    assert Unbounded(1).encode(2.5).tolist() == [2.5]
    assert Bounded(0.0, 1.0, shape=(2,)).encode([0.5, 1.0]).dtype == jnp.float32
    assert MultiOneHot([2, 3]).encode(np.array([0, 1, 0, 0, 1])).dtype == jnp.bool_
    with pytest.raises(ValueError, match=r"shape \(3,\) as \(2,\)"):
        Unbounded(2).encode([1.0, 2.0, 3.0])


def test_expand_broadcasts_bounds_and_masks(key):
    b = Bounded(np.array([0.0, 1.0]), 2.0).expand(3, 2)
    assert b.shape == (3, 2) and b.low.shape == (3, 2) and b.low[2].tolist() == [0.0, 1.0]
    c = Categorical(3, mask=np.array([F, T, T])).expand((4,))
    assert c.shape == (4,) and c.mask.shape == (4, 3)
    assert bool(c.is_in(c.rand(key, (5,)))) and 0 not in np.asarray(c.rand(key, (50,)))
    assert OneHot(3).expand(5, 3).shape == (5, 3)
    grown = Bounded(np.array([0.0]), np.array([1.0])).expand(4, 5)  # size-1 dims grow, as TorchRL
    assert grown.shape == (4, 5) and grown.high.shape == (4, 5)


def test_zero_and_one():
    assert OneHot(3).zero((2,)).shape == (2, 3) and OneHot(3).zero().dtype == jnp.bool_
    assert Categorical(3, shape=(2,)).one((4,)).tolist() == [[1, 1]] * 4
    assert Bounded(0.0, 1.0, shape=(2,)).zeros().tolist() == [0.0, 0.0]


def test_old_names_are_aliases():
    assert BoundedTensorSpec is Bounded and UnboundedContinuousTensorSpec is Unbounded
    assert OneHotDiscreteTensorSpec is OneHot and DiscreteTensorSpec is Categorical
    assert BinaryDiscreteTensorSpec is Binary and MultiOneHotDiscreteTensorSpec is MultiOneHot
    assert MultiDiscreteTensorSpec is MultiCategorical and CompositeSpec is Composite
    spec = UnboundedDiscreteTensorSpec()
    assert isinstance(spec, Unbounded) and spec.dtype == np.int32 and spec.shape == (1,)
    assert spec == Unbounded(dtype=np.int32) and hash(spec) == hash(Unbounded(dtype=np.int32))
    assert UnboundedDiscreteTensorSpec(3, dtype=np.int8).dtype == np.int8


# -------------------------------------------------------------------------------- Composite


def make_composite(shape=()):
    s = tuple(shape)
    return Composite(
        action=OneHot(4, shape=(*s, 4)),
        next={"reward": Unbounded((*s, 1)), "done": None},
        observation=Bounded(-1.0, 1.0, shape=(*s, 3)),
        shape=shape,
    )


def test_composite_keys_get_contains():
    spec = make_composite()
    assert spec.keys() == ["action", "next", "observation"]
    assert spec.keys(True, True) == ["action", ("next", "done"), ("next", "reward"), "observation"]
    assert spec.keys(True) == ["action", "next", ("next", "done"), ("next", "reward"), "observation"]
    assert spec["next", "reward"] == Unbounded(1) and spec[("next", "done")] is None
    assert isinstance(spec["next"], Composite) and spec.get("missing", 7) == 7
    assert ("next", "reward") in spec and ("next", "nope") not in spec and "next" in spec
    assert dict(spec.items())["action"] == OneHot(4) and len(spec.values(True, True)) == 4
    assert list(spec) == spec.keys() and len(spec) == 3
    with pytest.raises(KeyError, match=r"no entry 'nope' under 'next'"):
        spec["next", "nope"]
    assert Composite({("next", "reward"): Unbounded(1)})["next", "reward"] == Unbounded(1)


def test_composite_is_immutable_set_and_update_return_new_specs():
    spec = make_composite()
    new = spec.set(("next", "truncated"), Binary(1)).set("action", Categorical(4))
    assert "truncated" not in spec["next"] and new["next", "truncated"] == Binary(1)
    assert spec["action"] == OneHot(4) and new["action"] == Categorical(4)
    merged = spec.update({"next": {"terminated": Binary(1)}, "extra": Unbounded(2)})
    assert merged.keys(True, True) == [
        "action",
        "extra",
        ("next", "done"),
        ("next", "reward"),
        ("next", "terminated"),
        "observation",
    ]
    with pytest.raises(TypeError, match=r"spec = spec.set\('action', value\)"):
        spec["action"] = OneHot(3)
    with pytest.raises(AttributeError, match="frozen"):
        spec.shape = (2,)
    assert make_composite() == spec and hash(make_composite()) == hash(spec) and new != spec


def test_composite_shape_errors_name_the_key():
    expected = r"entry 'a' has shape \(3,\), which does not start with the Composite's shape \(2,\)"
    with pytest.raises(ValueError, match=expected):
        Composite(a=Unbounded(3), shape=(2,))
    with pytest.raises(ValueError, match=r"In entry 'n'.*entry 'x' has shape \(3,\).*\(2,\)"):
        Composite({"n": {"x": Unbounded(3)}}, shape=(2,))
    with pytest.raises(ValueError, match=r"entry 'b' has shape \(1,\)"):
        Composite(shape=(2,)).set("b", Unbounded(1))
    with pytest.raises(TypeError, match="entry 'a' must be a spec"):
        Composite(a=3)


@pytest.mark.parametrize("shape", [(), (2,)])
def test_composite_rand_zero_is_in_project(key, shape):
    spec = make_composite(shape)
    td = spec.rand(key, (3,))
    assert isinstance(td, TensorDict) and td.batch_size == (3, *shape)
    assert td["observation"].shape == (3, *shape, 3) and "done" not in td["next"]
    assert bool(spec.is_in(td)) and bool(jax.jit(spec.is_in)(td))
    zero = spec.zero((3,))
    assert zero.batch_size == (3, *shape) and not bool(spec.is_in(zero))  # zero one-hots are invalid
    projected = spec.project(zero.set("extra", jnp.full((3, *shape), 9.0)))
    assert bool(spec.is_in(projected)) and np.all(np.asarray(projected["extra"]) == 9.0)
    jitted = jax.jit(spec.project)(zero)
    np.testing.assert_array_equal(jitted["action"], projected["action"])
    ones = spec.one((1,))["next", "reward"]
    assert ones.shape == (1, *shape, 1) and np.all(np.asarray(ones) == 1.0)


def test_composite_is_in_false_cases(key):
    spec = make_composite()
    td = spec.rand(key, (2,))
    assert not bool(spec.is_in(td.exclude("observation")))
    assert not bool(spec.is_in(td.set("observation", jnp.full((2, 3), 5.0))))
    assert bool(spec.is_in(td.set("unrelated", jnp.zeros(2))))


def test_composite_rand_is_keyed_per_leaf_in_sorted_order(key):
    spec = make_composite()
    a = spec.rand(key, (4,))
    b = spec.set("zzz", Unbounded(2)).rand(key, (4,))  # sorts last: earlier leaves unchanged
    for k in spec.keys(True, True):
        if spec[k] is not None:
            np.testing.assert_array_equal(a[k], b[k])
    assert not np.array_equal(a["observation"][:, :1], a["next", "reward"])
    jitted = jax.jit(lambda k: spec.rand(k, (4,)))(key)
    np.testing.assert_array_equal(jitted["observation"], a["observation"])


def test_composite_expand_and_encode():
    spec = make_composite().expand(5)
    assert spec.shape == (5,) and spec["observation"].shape == (5, 3) and spec["next"].shape == (5,)
    td = make_composite().encode({"action": 1, "next": {"reward": 0.5}, "observation": np.zeros(3)})
    assert td["action"].tolist() == [F, T, F, F] and td["next", "reward"].tolist() == [0.5]
    assert "observation: Bounded(" in repr(make_composite())


# ------------------------------------------------------------------ bad input (issue 20)


def test_float_projection_keeps_nan_visible():
    spec = Bounded(-1.0, 1.0, shape=(3,))
    y = spec.project(jnp.array([jnp.nan, jnp.inf, -5.0]))
    assert np.isnan(np.asarray(y[0])) and y[1] == 1.0 and y[2] == -1.0
    assert np.isnan(np.asarray(jax.jit(spec.project)(jnp.full(3, jnp.nan)))).all()
    # An integer spec cannot hold NaN: it maps to the low bound (documented).
    assert int(Bounded(2, 5, shape=(), dtype=np.int32).project(jnp.array(jnp.nan))) == 2


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Categorical(-3), "Categorical: n must be an integer >= 1"),
        (lambda: Categorical(0), "Categorical: n must be an integer >= 1"),
        (lambda: OneHot(0), "OneHot: n must be an integer >= 1"),
        (lambda: MultiOneHot([2, 0]), r"MultiOneHot: nvec\[1\] must be an integer >= 1"),
        (lambda: MultiCategorical([3, -1]), r"MultiCategorical: nvec\[1\] must be an integer >= 1"),
        (lambda: MultiCategorical([]), "nvec must hold at least one block"),
        (lambda: Bounded(-1e5, 1e5, shape=(2,), dtype=np.float16), "not finite in dtype float16"),
        (lambda: Bounded(np.nan, 1.0, shape=(1,)), "not finite"),
        (lambda: Bounded(-np.inf, 1.0, shape=(1,)), "use Unbounded"),
        (lambda: Bounded(0.0, 1.0, shape=(-2,)), r"non-negative integers, got \(-2,\)"),
        (lambda: Bounded(0.0, 1.0, shape=(2,)).rand(jax.random.key(0), (-1,)), r"got \(-1,\)"),
        (lambda: Categorical(3).zero((2.5,)), "non-negative integers"),
    ],
)
def test_impossible_specs_and_shapes_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_fully_masked_rows_sample_index_zero_as_documented():
    key = jax.random.key(0)
    mask = jnp.array([[False, False, False], [False, True, True]])
    out = Categorical(3).rand(key, (2,), mask=mask)
    assert int(out[0]) == 0 and int(out[1]) in (1, 2)
    one_hot = OneHot(3).rand(key, (2,), mask=mask)
    assert one_hot[0].tolist() == [True, False, False]
    blocks = MultiOneHot([2, 2]).rand(key, (1,), mask=jnp.array([[False, False, True, True]]))
    assert blocks[0, :2].tolist() == [True, False]
    cats = MultiCategorical([2, 3]).rand(
        key, (2,), mask=jnp.array([[True, True, False, False, False], [False, False, False, True, True]])
    )
    assert cats[0, 1] == 0 and cats[1, 0] == 0 and int(cats[1, 1]) in (1, 2)
    # project follows the same rule, and both agree under jit.
    assert OneHot(3).project(jnp.ones((2, 3)), mask=mask)[0].tolist() == [True, False, False]
    assert int(Categorical(3).project(jnp.array([2, 2]), mask=mask)[0]) == 0
    assert int(jax.jit(lambda k, m: Categorical(3).rand(k, (2,), mask=m))(key, mask)[0]) == 0


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: Binary(0), "Binary: n must be an integer >= 1"),
        (lambda: Binary(shape=(3, 0)), r"Binary: n \(the last dim of shape\) must be an integer >= 1"),
        (lambda: Categorical(2.5), "Categorical: n must be an integer >= 1.*got 2.5"),
        (lambda: OneHot(True), "OneHot: n must be an integer >= 1"),
        (
            lambda: Categorical(3, shape=(-1,)),
            r"Categorical: shape must be a tuple of non-negative integers, got \(-1,\)",
        ),
        (lambda: OneHot(3, shape=(2.5, 3)), "OneHot: shape must be a tuple of non-negative integers"),
        (lambda: Unbounded((2, -1)), r"Unbounded: shape must be .* got \(2, -1\)"),
        (lambda: Composite(shape=(-1,)), r"Composite: shape must be"),
        (lambda: Composite(a=Unbounded(2)).rand(jax.random.key(0), (-2,)), r"Composite.rand: shape must be .*\(-2,\)"),
        (lambda: Composite(a=Unbounded(2)).zero((-1,)), r"Composite.zero: shape"),
        (lambda: Categorical(3).rand(jax.random.key(0), (2, -1)), r"Categorical.rand: shape must be .*\(2, -1\)"),
        (lambda: OneHot(3).one((-1,)), r"OneHot.one: shape"),
        (lambda: Bounded(0.0, 1.0, shape=(1,)).expand(-1, 1), r"\.expand: shape must be .*\(-1, 1\)"),
        (lambda: Bounded(np.nan, 1.0, shape=(), dtype=np.int32), "Bounded: low=nan is not finite"),
        (lambda: Bounded(0, np.inf, shape=(), dtype=np.int32), "Bounded: high=inf is not finite"),
        (lambda: Bounded(0.0, 1e39, shape=(2,)), "Bounded: high=1e[+]?39 is not finite in dtype float32"),
        (lambda: Bounded(np.zeros(2), np.ones(3)), r"low of shape \(2,\) and high of shape \(3,\) do not broadcast"),
        (lambda: Bounded(1.0, 0.0, shape=(1,)), "low must be <= high"),
    ],
)
def test_every_spec_checks_its_sizes_and_bounds(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bounds_at_the_dtype_limits_are_finite_and_sample_finite_values(key):
    info = np.finfo(np.float16)
    spec = Bounded(info.min, info.max, shape=(64,), dtype=np.float16)
    assert bool(jnp.isfinite(spec.rand(key, (4,))).all())


def test_discrete_specs_map_nan_to_their_lowest_member():
    nan = jnp.nan
    assert Categorical(4).project(jnp.array([nan, 2.0])).tolist() == [0, 2]
    assert Categorical(4, mask=np.array([F, F, T, T])).project(jnp.array(nan)).tolist() == 2
    assert MultiCategorical([2, 3]).project(jnp.array([nan, nan])).tolist() == [0, 0]
    assert Binary(2).project(jnp.array([nan, 1.0])).tolist() == [0, 1]
    # OneHot: NaN ranks lowest, never above a number; a row of NaN gives its first allowed entry.
    assert OneHot(3).project(jnp.array([nan, 0.5, 0.1])).tolist() == [F, T, F]
    assert OneHot(3, mask=np.array([F, T, T])).project(jnp.full(3, nan)).tolist() == [F, T, F]
    assert OneHot(3, dtype=np.float32).project(jnp.full(3, nan)).tolist() == [1.0, 0.0, 0.0]
    assert MultiOneHot([2, 2]).project(jnp.array([nan, 1.0, nan, nan])).tolist() == [F, T, T, F]
    # Integer and bool Unbounded: saturate in range, NaN to the dtype's minimum / False.
    ints = Unbounded(3, dtype=np.int32).project(jnp.array([nan, 1e30, -1e30]))
    assert ints.tolist() == [np.iinfo(np.int32).min, np.iinfo(np.int32).max, np.iinfo(np.int32).min]
    assert Unbounded(2, dtype=np.int8).project(jnp.array([300, -7], jnp.int32)).tolist() == [127, -7]
    assert Unbounded(2, dtype=bool).project(jnp.array([nan, 2.0])).tolist() == [F, T]
    # A float Unbounded keeps NaN and inf: it only casts.
    out = Unbounded(2).project(jnp.array([nan, jnp.inf]))
    assert np.isnan(np.asarray(out[0])) and out[1] == np.inf
