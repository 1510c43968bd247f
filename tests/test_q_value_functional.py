"""functional/q_value.py: greedy actions per action space, masks, chosen and expected values."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from jaxrl_modules.functional.q_value import (
    ACTION_SPACES,
    canonical_action_space,
    chosen_action_value,
    distributional_greedy_action,
    expected_action_values,
    greedy_action,
    mask_action_values,
)

F32_MIN = float(np.finfo(np.float32).min)
NAN, INF = float("nan"), float("inf")


# --- numpy references -------------------------------------------------------------------------


def _ref_index(values, mask=None):
    """First maximum among valid entries (allowed and > finfo.min, so never NaN); 0 if none."""
    values = np.asarray(values)
    # XLA:CPU flushes subnormals to zero, so 1e-45 ties with 0 there; compare as XLA sees them.
    values = np.where(np.abs(values) < np.finfo(values.dtype).tiny, np.zeros_like(values), values)
    mask = np.ones(values.shape, bool) if mask is None else np.asarray(mask)
    floor = np.finfo(values.dtype).min
    flat_v, flat_m = values.reshape(-1, values.shape[-1]), mask.reshape(-1, values.shape[-1])
    out = []
    for row, allowed in zip(flat_v, flat_m):
        with np.errstate(invalid="ignore"):
            valid = allowed & (row > floor)
        if not valid.any():
            out.append(0)
            continue
        best = row[valid].max()
        out.append(int(np.flatnonzero(valid & (row == best))[0]))
    return np.array(out, np.int32).reshape(values.shape[:-1])


def _ref_one_hot(values, mask=None):
    return np.eye(values.shape[-1], dtype=np.int32)[_ref_index(values, mask)]


def _ref_mult_one_hot(values, sizes, mask=None):
    blocks, start = [], 0
    for size in sizes:
        sub_mask = None if mask is None else mask[..., start : start + size]
        blocks.append(_ref_one_hot(values[..., start : start + size], sub_mask))
        start += size
    return np.concatenate(blocks, axis=-1)


def _normal(seed, *shape):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _random_mask(seed, shape, p=0.5):
    """A random boolean mask with at least one allowed entry in every row."""
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) < p
    rows = mask.reshape(-1, shape[-1])
    rows[np.arange(rows.shape[0]), rng.integers(0, shape[-1], rows.shape[0])] = True
    return rows.reshape(shape)


# --- action spaces --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, canonical",
    [
        ("one_hot", "one_hot"),
        ("one-hot", "one_hot"),
        ("mult_one_hot", "mult_one_hot"),
        ("mult-one-hot", "mult_one_hot"),
        ("multi_one_hot", "mult_one_hot"),
        ("multi-one-hot", "mult_one_hot"),
        ("binary", "binary"),
        ("categorical", "categorical"),
    ],
)
def test_canonical_action_space_accepts_torchrl_spellings(name, canonical):
    assert canonical_action_space(name) == canonical
    assert canonical in ACTION_SPACES


@pytest.mark.parametrize("name", ["multi_categorical", "multi-categorical", "multi_discrete", "multi-discrete"])
def test_multi_categorical_spaces_are_rejected_with_the_reason(name):
    with pytest.raises(ValueError, match="do not support"):
        canonical_action_space(name)


@pytest.mark.parametrize("name", ["onehot", "discrete", None, 3])
def test_unknown_action_space_lists_the_accepted_names(name):
    with pytest.raises(ValueError, match=r"Unknown action space.*'categorical'.*'one-hot'"):
        canonical_action_space(name)


def test_greedy_action_rejects_unknown_space():
    with pytest.raises(ValueError, match="Unknown action space"):
        greedy_action(jnp.zeros((2, 3)), "discrete")


# --- masking ----------------------------------------------------------------------------------


def test_mask_action_values_fills_finfo_min():
    values = jnp.array([[1.0, -2.0, 3.0]])
    out = mask_action_values(values, jnp.array([[True, False, True]]))
    np.testing.assert_array_equal(np.asarray(out), [[1.0, F32_MIN, 3.0]])
    half = mask_action_values(values.astype(jnp.float16), jnp.array([[False, True, True]]))
    assert half.dtype == jnp.float16 and float(half[0, 0]) == float(np.finfo(np.float16).min)


def test_mask_of_another_shape_is_an_error_not_a_broadcast():
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 3\)"):
        mask_action_values(jnp.zeros((2, 3)), jnp.array([True, False, True]))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 4\)"):
        greedy_action(jnp.zeros((2, 4)), mask=jnp.ones((2, 3), bool))


def test_non_boolean_mask_is_an_error():
    with pytest.raises(ValueError, match="boolean"):
        mask_action_values(jnp.zeros((2, 3)), jnp.ones((2, 3), jnp.int32))
    with pytest.raises(ValueError, match="boolean"):
        greedy_action(jnp.zeros((2, 3)), mask=jnp.ones((2, 3), jnp.float32))


# --- categorical ------------------------------------------------------------------------------


def test_categorical_ties_go_to_the_first_maximum():
    values = jnp.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [0.0, -1.0, 5.0, 5.0]])
    out = greedy_action(values)
    assert out.dtype == jnp.int32 and out.shape == (3,)
    np.testing.assert_array_equal(np.asarray(out), [1, 0, 2])


@pytest.mark.parametrize("shape", [(7,), (5, 18), (2, 3, 18), (4, 1), (3, 64), (3, 65), (6, 200)])
def test_categorical_matches_argmax_for_any_batch_and_action_count(shape):
    values = _normal(0, *shape)
    values[..., shape[-1] // 2] = values[..., 0]  # ties between entries 0 and n // 2
    out = greedy_action(values)
    assert out.shape == shape[:-1] and out.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(out), np.argmax(values, -1))


@pytest.mark.parametrize("n", [6, 100])  # the unrolled chain and the long-axis reduce
def test_nan_inf_and_finfo_min_follow_the_documented_rule(n):
    rows = [
        [NAN, 1.0, NAN, 1.0],  # NaN skipped, first of the tied maxima
        [NAN, NAN, NAN, NAN],  # no valid entry -> 0
        [-INF, 2.0, -INF, 0.0],
        [-INF, -INF, -INF, -INF],  # no valid entry -> 0
        [F32_MIN, -INF, NAN, -5.0],  # -5 is the only valid entry
        [F32_MIN, F32_MIN, -INF, NAN],  # no valid entry -> 0
        [INF, NAN, INF, 0.0],
        [-0.0, 0.0, -1.0, NAN],  # -0.0 == 0.0: a tie
    ]
    pad = np.full((len(rows), n - 4), NAN, np.float32)  # invalid padding keeps each row's answer
    values = np.concatenate([np.array(rows, np.float32), pad], axis=-1)
    expected = [1, 0, 1, 0, 3, 0, 0, 0]
    np.testing.assert_array_equal(np.asarray(greedy_action(values)), expected)
    np.testing.assert_array_equal(expected, _ref_index(values))


def test_categorical_with_mask_never_picks_a_masked_action():
    values = jnp.array([[1.0, 9.0, 3.0], [5.0, 4.0, 6.0]])
    mask = jnp.array([[True, False, True], [False, True, False]])
    np.testing.assert_array_equal(np.asarray(greedy_action(values, mask=mask)), [2, 1])


def test_a_row_whose_allowed_values_are_all_minus_inf_has_no_valid_entry():
    # An allowed -inf is not valid (<= finfo.min), so this row has no valid entry: index 0.
    values = jnp.array([[5.0, -INF, -1.0], [5.0, -INF, 2.0]])
    mask = jnp.array([[False, True, False], [False, True, True]])
    np.testing.assert_array_equal(np.asarray(greedy_action(values, mask=mask)), [0, 2])


def test_fully_masked_rows_give_index_zero_and_its_one_hot():
    values = jnp.array([[1.0, 3.0, 2.0], [4.0, 1.0, 9.0]])
    mask = jnp.array([[False, False, False], [True, True, False]])
    np.testing.assert_array_equal(np.asarray(greedy_action(values, mask=mask)), [0, 0])
    np.testing.assert_array_equal(np.asarray(greedy_action(values, "one_hot", mask=mask)), [[1, 0, 0], [1, 0, 0]])
    blocks = greedy_action(values, "mult_one_hot", mask=mask, var_nums=[1, 2])
    np.testing.assert_array_equal(np.asarray(blocks), [[1, 1, 0], [1, 1, 0]])


@settings(max_examples=30, deadline=None)
@given(
    data=st.data(),
    n=st.sampled_from([1, 5, 18, 70]),
    floats=st.sampled_from(["finite", "any"]),
)
def test_property_masked_actions_are_never_chosen(data, n, floats):
    shape = (4, n)
    elements = (
        st.floats(-1e6, 1e6, width=32)
        if floats == "finite"
        else st.floats(width=32, allow_nan=True, allow_infinity=True)
    )
    values = data.draw(hnp.arrays(np.float32, shape, elements=elements))
    mask = data.draw(hnp.arrays(np.bool_, shape))
    forced = data.draw(hnp.arrays(np.int64, (shape[0],), elements=st.integers(0, n - 1)))
    mask[np.arange(shape[0]), forced] = True  # at least one allowed entry per row
    index = np.asarray(greedy_action(values, mask=mask))
    np.testing.assert_array_equal(index, _ref_index(values, mask))
    with np.errstate(invalid="ignore"):
        has_valid = (mask & (values > F32_MIN)).any(-1)
    # The invariant: a row with a valid allowed entry gets an allowed action; finite values
    # (above finfo.min) always make every row such a row.
    assert mask[np.arange(shape[0]), index][has_valid].all()
    if floats == "finite":
        assert has_valid[(values > F32_MIN).all(-1)].all()
    one_hot = np.asarray(greedy_action(values, "one_hot", mask=mask))
    assert (one_hot.sum(-1) == 1).all() and not (one_hot.astype(bool) & ~mask)[has_valid].any()


# --- one-hot, mult-one-hot, binary ------------------------------------------------------------


def test_one_hot_marks_only_the_first_tied_maximum():
    # TorchRL gives [0, 1, 1, 0] here.
    out = greedy_action(jnp.array([1.0, 3.0, 3.0, 0.0]), "one_hot")
    assert out.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(out), [0, 1, 0, 0])


@pytest.mark.parametrize("shape", [(5,), (9, 18), (2, 3, 6), (4, 100)])
def test_one_hot_is_the_one_hot_of_the_greedy_index(shape):
    values = _normal(1, *shape)
    values[..., -1] = values[..., 0]
    mask = _random_mask(2, shape)
    for m in (None, mask):
        out = greedy_action(values, "one-hot", mask=m)
        assert out.shape == shape and out.dtype == jnp.int32
        np.testing.assert_array_equal(np.asarray(out), _ref_one_hot(values, m))


@pytest.mark.parametrize("var_nums, sizes", [([2, 3, 1], [2, 3, 1]), (3, [3, 3]), ([6], [6]), (1, [1] * 6)])
def test_mult_one_hot_per_block(var_nums, sizes):
    values = _normal(3, 7, 6)
    values[:, 1] = values[:, 0]  # a tie inside the first block
    mask = _random_mask(4, (7, 6), p=0.3)
    mask[0] = [False, False, True, True, True, True]  # first block fully masked in row 0
    for m in (None, mask):
        out = greedy_action(values, "mult_one_hot", mask=m, var_nums=var_nums)
        assert out.shape == (7, 6) and out.dtype == jnp.int32
        np.testing.assert_array_equal(np.asarray(out), _ref_mult_one_hot(values, sizes, m))
        start = 0
        for size in sizes:
            assert (np.asarray(out)[:, start : start + size].sum(-1) == 1).all()
            start += size


def test_mult_one_hot_with_batch_dims_and_spelling():
    values = _normal(5, 2, 3, 5)
    out = greedy_action(values, "multi-one-hot", var_nums=[2, 3])
    np.testing.assert_array_equal(np.asarray(out), _ref_mult_one_hot(values, [2, 3]))


@pytest.mark.parametrize(
    "var_nums, match",
    [
        (None, "needs var_nums"),
        ([2, 2], r"summing to the number of actions 5"),
        (2, "must divide"),
        ([3, 0, 2], "positive"),
        (0, "must divide"),
    ],
)
def test_mult_one_hot_rejects_bad_var_nums(var_nums, match):
    with pytest.raises(ValueError, match=match):
        greedy_action(jnp.zeros((2, 5)), "mult_one_hot", var_nums=var_nums)


def test_binary_sets_the_positive_allowed_bits():
    values = jnp.array([[0.5, -1.0, 0.0, 2.0, NAN], [-3.0, 1.0, 1.0, -0.1, INF]])
    out = greedy_action(values, "binary")
    assert out.dtype == jnp.int32
    np.testing.assert_array_equal(np.asarray(out), [[1, 0, 0, 1, 0], [0, 1, 1, 0, 1]])
    mask = jnp.array([[False, True, True, True, True], [True, True, False, True, True]])
    masked = greedy_action(values, "binary", mask=mask)
    np.testing.assert_array_equal(np.asarray(masked), [[0, 0, 0, 1, 0], [0, 1, 0, 0, 1]])


def test_binary_maximises_the_factorised_value():
    values = _normal(6, 3, 4)
    best = np.asarray(greedy_action(values, "binary"))
    chosen = np.asarray(chosen_action_value(values, best, "binary"))
    every = np.array(np.meshgrid(*[[0, 1]] * 4, indexing="ij")).reshape(4, -1).T  # all 16 actions
    for row in range(3):
        np.testing.assert_allclose(chosen[row, 0], (every * values[row]).sum(-1).max(), rtol=1e-6)


# --- chosen values ----------------------------------------------------------------------------


def test_chosen_value_categorical_gathers():
    values = jnp.array([[1.0, 3.0, 2.0], [4.0, 0.0, -1.0]])
    out = chosen_action_value(values, jnp.array([2, 0]))
    assert out.shape == (2, 1) and out.dtype == jnp.float32
    np.testing.assert_array_equal(np.asarray(out), [[2.0], [4.0]])
    np.testing.assert_array_equal(np.asarray(chosen_action_value(values, jnp.array([3, -1]))), [[NAN], [NAN]])


def test_chosen_value_of_one_hot_mult_one_hot_and_binary_sums_action_times_value():
    values = jnp.array([[1.0, 3.0, 2.0, -1.0]])
    assert float(chosen_action_value(values, jnp.array([[0, 1, 0, 0]]), "one_hot")[0, 0]) == 3.0
    assert float(chosen_action_value(values, jnp.array([[1, 0, 0, 1]]), "mult_one_hot")[0, 0]) == 0.0
    assert float(chosen_action_value(values, jnp.array([[1, 1, 1, 0]]), "binary")[0, 0]) == 6.0
    values = _normal(7, 5, 3, 18)
    action = np.asarray(greedy_action(values, "one_hot"))
    expected = np.take_along_axis(values, _ref_index(values)[..., None], -1)
    np.testing.assert_array_equal(np.asarray(chosen_action_value(values, action, "one_hot")), expected)
    bits = (values > 0.5).astype(np.int32)
    np.testing.assert_allclose(
        np.asarray(chosen_action_value(values, bits, "binary")), (bits * values).sum(-1, keepdims=True), rtol=1e-5
    )


def test_chosen_value_ignores_infinite_unchosen_entries():
    # TorchRL's sum(action * values) gives 0 * -inf = NaN here.
    values = jnp.array([[-INF, 2.0, NAN]])
    assert float(chosen_action_value(values, jnp.array([[0, 1, 0]]), "one_hot")[0, 0]) == 2.0


def test_chosen_value_of_a_masked_greedy_action_is_finfo_min_on_fully_masked_rows():
    values = jnp.array([[1.0, 3.0], [2.0, 5.0]])
    mask = jnp.array([[False, False], [False, True]])
    masked = mask_action_values(values, mask)
    action = greedy_action(values, mask=mask)
    np.testing.assert_array_equal(np.asarray(chosen_action_value(masked, action)), [[F32_MIN], [5.0]])


def test_chosen_value_rejects_mismatched_actions():
    values = jnp.zeros((2, 3))
    with pytest.raises(ValueError, match=r"shape \(2,\).*got \(2, 1\)"):
        chosen_action_value(values, jnp.zeros((2, 1), jnp.int32))
    with pytest.raises(ValueError, match="integer"):
        chosen_action_value(values, jnp.zeros((2,), jnp.float32))
    with pytest.raises(ValueError, match=r"\(2, 3\), got \(2,\)"):
        chosen_action_value(values, jnp.zeros((2,), jnp.int32), "one_hot")


# --- distributional ---------------------------------------------------------------------------


def _log_probs(seed, *shape):
    return np.asarray(jax.nn.log_softmax(_normal(seed, *shape), axis=-2))


def test_expected_action_values_match_a_float64_reference():
    log_probs = _log_probs(8, 4, 3, 51, 6)
    support = np.linspace(-10, 10, 51).astype(np.float32)
    out = expected_action_values(log_probs, support)
    assert out.shape == (4, 3, 6) and out.dtype == jnp.float32
    reference = np.einsum("...ja,j->...a", np.exp(log_probs.astype(np.float64)), support.astype(np.float64))
    np.testing.assert_allclose(np.asarray(out), reference, rtol=1e-5, atol=1e-5)


def test_expected_action_values_rejects_mismatched_support():
    with pytest.raises(ValueError, match=r"\(2, 5, 3\) has 5 atoms.*shape \(4,\)"):
        expected_action_values(jnp.zeros((2, 5, 3)), jnp.zeros(4))
    with pytest.raises(ValueError, match=r"shape \(5, 1\)"):
        expected_action_values(jnp.zeros((2, 5, 3)), jnp.zeros((5, 1)))
    with pytest.raises(ValueError, match=r"\[\*B, atoms, actions\], got shape \(5,\)"):
        expected_action_values(jnp.zeros(5), jnp.zeros(5))


def test_distributional_greedy_action_is_greedy_on_expected_values():
    log_probs, support = _log_probs(9, 8, 11, 5), np.linspace(-1, 1, 11).astype(np.float32)
    expected = np.asarray(expected_action_values(log_probs, support))
    for space in ("categorical", "one_hot"):
        np.testing.assert_array_equal(
            np.asarray(distributional_greedy_action(log_probs, support, space)),
            np.asarray(greedy_action(expected, space)),
        )
    np.testing.assert_array_equal(np.asarray(distributional_greedy_action(log_probs, support)), np.argmax(expected, -1))


def test_distributional_mask_excludes_masked_actions_even_when_allowed_ones_are_negative():
    # Every allowed action has a negative expected value. TorchRL masks the log-probabilities with
    # finfo.min, which gives the masked action 2 an expected value of 0, so it picks action 2.
    probs = np.array([[[0.9, 0.6, 0.5], [0.1, 0.4, 0.5]]], np.float32)  # [B=1, atoms=2, actions=3]
    support = np.array([-2.0, -1.0], np.float32)  # expected values -1.9, -1.6, -1.5
    mask = np.array([[True, True, False]])
    out = distributional_greedy_action(np.log(probs), support, mask=mask)
    np.testing.assert_array_equal(np.asarray(out), [1])
    one_hot = distributional_greedy_action(np.log(probs), support, "one_hot", mask=mask)
    np.testing.assert_array_equal(np.asarray(one_hot), [[0, 1, 0]])


def test_distributional_rejects_a_mask_with_an_atom_axis():
    with pytest.raises(ValueError, match=r"\(2, 5, 3\).*\(2, 3\)"):
        distributional_greedy_action(jnp.zeros((2, 5, 3)), jnp.zeros(5), mask=jnp.ones((2, 5, 3), bool))


# --- bad values -------------------------------------------------------------------------------


def test_values_must_be_floating_and_at_least_1d():
    with pytest.raises(ValueError, match="floating.*int32"):
        greedy_action(jnp.array([1, 2, 3]))
    with pytest.raises(ValueError, match=r"at least one dim.*\(\)"):
        greedy_action(jnp.array(1.0))
    with pytest.raises(ValueError, match="floating"):
        chosen_action_value(jnp.array([[1, 2]]), jnp.array([0]))


# --- transformations --------------------------------------------------------------------------

SPACES = [("categorical", None), ("one_hot", None), ("mult_one_hot", [7, 11]), ("mult_one_hot", 6), ("binary", None)]


@pytest.mark.parametrize("space, var_nums", SPACES)
@pytest.mark.parametrize("masked", [False, True])
def test_jit_equals_eager(space, var_nums, masked):
    values = _normal(10, 6, 18)
    mask = _random_mask(11, (6, 18)) if masked else None

    def act(v, m):
        a = greedy_action(v, space, mask=m, var_nums=var_nums)
        return a, chosen_action_value(v if m is None else mask_action_values(v, m), a, space)

    eager = act(values, mask)
    jitted = jax.jit(act)(values, mask)
    for e, j in zip(eager, jitted):
        np.testing.assert_array_equal(np.asarray(e), np.asarray(j))
    expected = {"categorical": _ref_index(values, mask), "one_hot": _ref_one_hot(values, mask)}.get(space)
    if expected is not None:
        np.testing.assert_array_equal(np.asarray(jitted[0]), expected)


@pytest.mark.parametrize("space, var_nums", SPACES)
def test_vmap_equals_a_loop(space, var_nums):
    values = _normal(12, 5, 3, 18)
    mask = _random_mask(13, (5, 3, 18))
    fn = lambda v, m: greedy_action(v, space, mask=m, var_nums=var_nums)  # noqa: E731
    batched = jax.vmap(fn)(values, mask)
    looped = np.stack([np.asarray(fn(values[i], mask[i])) for i in range(5)])
    np.testing.assert_array_equal(np.asarray(batched), looped)


def test_vmap_and_jit_of_the_distributional_path_and_chosen_values():
    log_probs, support = _log_probs(14, 4, 2, 7, 5), jnp.linspace(-1.0, 1.0, 7)
    mask = _random_mask(15, (4, 2, 5))
    fn = jax.jit(jax.vmap(lambda lp, m: distributional_greedy_action(lp, support, mask=m)))
    looped = np.stack([np.asarray(distributional_greedy_action(log_probs[i], support, mask=mask[i])) for i in range(4)])
    np.testing.assert_array_equal(np.asarray(fn(log_probs, mask)), looped)
    values = _normal(16, 4, 2, 5)
    action = jnp.asarray(_ref_index(values))
    chosen = jax.vmap(chosen_action_value)(values, action)
    np.testing.assert_array_equal(np.asarray(chosen), np.take_along_axis(values, np.asarray(action)[..., None], -1))


def test_gradient_flows_through_the_chosen_value_only():
    values = jnp.array([[1.0, 3.0, 2.0], [0.0, -1.0, 4.0]])

    def loss(v):
        return chosen_action_value(v, greedy_action(v)).sum()

    np.testing.assert_array_equal(np.asarray(jax.grad(loss)(values)), [[0, 1, 0], [0, 0, 1]])
    masked_grad = jax.grad(lambda v: chosen_action_value(v, greedy_action(v, mask=values < 3)).sum())(values)
    np.testing.assert_array_equal(np.asarray(masked_grad), [[0, 0, 1], [1, 0, 0]])


# ------------------------------------------------------------------ masks: any_action_allowed

from jax.experimental import checkify  # noqa: E402

from jaxrl_modules.functional import any_action_allowed, check_any_action_allowed  # noqa: E402


def test_any_action_allowed_rows_and_blocks():
    mask = jnp.array([[True, False, False, False], [False, False, False, False], [False, True, True, False]])
    np.testing.assert_array_equal(any_action_allowed(mask), [True, False, True])
    np.testing.assert_array_equal(any_action_allowed(mask, blocks=[1, 3]), [False, False, False])
    np.testing.assert_array_equal(any_action_allowed(mask, blocks=[2, 2]), [False, False, True])
    np.testing.assert_array_equal(any_action_allowed(mask, blocks=2), [False, False, True])
    assert any_action_allowed(jnp.zeros((4, 2, 3), bool)).shape == (4, 2)
    assert bool(jax.jit(any_action_allowed)(mask[0]))  # a single row: a 0-d flag
    with pytest.raises(ValueError, match="boolean"):
        any_action_allowed(jnp.ones((2, 3)))
    with pytest.raises(ValueError, match=r"blocks=\[2, 2\] must be positive sizes summing to the mask's last dim 3"):
        any_action_allowed(jnp.ones((2, 3), bool), blocks=[2, 2])
    with pytest.raises(ValueError, match="divide"):
        any_action_allowed(jnp.ones((2, 3), bool), blocks=2)


def test_check_any_action_allowed_under_checkify_jit_and_eagerly():
    def act(mask):
        check_any_action_allowed(any_action_allowed(mask), "my_policy")
        return greedy_action(jnp.zeros(mask.shape), mask=mask)

    bad = jnp.array([[True, False], [False, False], [False, False]])
    err, action = checkify.checkify(jax.jit(act))(bad)
    with pytest.raises(
        checkify.JaxRuntimeError, match=r"my_policy: .* 2 row\(s\), at flat batch indices \[ *1 +2 +-1\]"
    ):
        err.throw()
    np.testing.assert_array_equal(action, [0, 0, 0])
    err, _ = checkify.checkify(jax.jit(act))(jnp.ones((3, 2), bool))
    err.throw()
    with pytest.raises(checkify.JaxRuntimeError, match="my_policy"):  # eager: raises at once
        act(bad)
    check_any_action_allowed(jnp.zeros((0,), bool), "empty batch")  # nothing to check
    with pytest.raises(ValueError, match="boolean"):
        check_any_action_allowed(jnp.ones(3), "x")
