"""Streaming, mergeable accumulators and the Estimate type (deepeft.estimators)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from deepeft.estimators import N_BATCHES, ROUNDING, BatchedMoments, Estimate, StreamingMoments

SEED = 20240917  # one seed for this module; never re-tuned


def _rows(n: int, dim: int, offset: int = 0) -> np.ndarray:
    rng = np.random.default_rng([SEED, offset])
    return rng.standard_normal((n, dim)) * np.arange(1, dim + 1) + 3.0


# ------------------------------------------------------------ StreamingMoments
def test_streaming_matches_one_shot():
    data = _rows(1000, 3)
    acc = StreamingMoments(3)
    for lo in range(0, 1000, 137):
        acc.update(data[lo : lo + 137])
    res = acc.result()
    assert acc.count == 1000
    np.testing.assert_allclose(res.mean, data.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(acc.variance(), data.var(axis=0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(res.stderr, data.std(axis=0, ddof=1) / math.sqrt(1000), rtol=1e-12)


def test_merge_is_associative_and_matches_one_shot():
    parts = [_rows(n, 4, offset=k) for k, n in enumerate((50, 333, 1, 700))]
    accs = [StreamingMoments(4).update(p) for p in parts]
    left = accs[0].merge(accs[1]).merge(accs[2]).merge(accs[3])
    right = accs[0].merge(accs[1].merge(accs[2].merge(accs[3])))
    tree = accs[0].merge(accs[1]).merge(accs[2].merge(accs[3]))
    one = StreamingMoments(4).update(np.concatenate(parts))
    for acc in (left, right, tree):
        assert acc.count == one.count
        np.testing.assert_allclose(acc.mean, one.mean, rtol=1e-13)
        np.testing.assert_allclose(acc.m2, one.m2, rtol=1e-12)


def test_merge_leaves_inputs_alone_and_empty_is_identity():
    a = StreamingMoments(2).update(_rows(10, 2))
    before = (a.count, a.mean.copy(), a.m2.copy())
    merged = a.merge(StreamingMoments(2))
    assert (a.count, *map(list, (a.mean, a.m2))) == (before[0], *map(list, before[1:]))
    assert merged.count == a.count
    np.testing.assert_array_equal(merged.mean, a.mean)
    np.testing.assert_array_equal(merged.m2, a.m2)
    np.testing.assert_array_equal(StreamingMoments(2).merge(a).mean, a.mean)


def test_memory_does_not_grow():
    acc = StreamingMoments(5)
    for k in range(20):
        acc.update(_rows(100, 5, offset=k))
    assert acc.mean.shape == acc.m2.shape == (5,)
    assert acc.count == 2000


def test_too_few_rows_give_nan_stderr():
    acc = StreamingMoments(2).update(np.ones((1, 2)))
    assert np.all(np.isnan(acc.result().stderr))


def test_streaming_bad_input():
    with pytest.raises(ValueError, match=re.escape("`batch` must have shape (rows, 3)")):
        StreamingMoments(3).update(np.ones((4, 2)))
    with pytest.raises(ValueError, match="cannot merge accumulators of dimension 3 and 2"):
        StreamingMoments(3).merge(StreamingMoments(2))
    with pytest.raises(TypeError, match="`other` must be a StreamingMoments"):
        StreamingMoments(3).merge(np.zeros(3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="`dim` must be a non-negative integer"):
        StreamingMoments(-1)


# --------------------------------------------------------------- BatchedMoments
def test_batches_follow_global_index():
    data = _rows(96, 2)
    acc = BatchedMoments(2)
    acc.update(data[:40], start=0).update(data[40:], start=40)
    assert acc.counts.tolist() == [3] * N_BATCHES
    for b in (0, 7, 31):
        np.testing.assert_allclose(acc.means[b], data[b::N_BATCHES].mean(axis=0), rtol=1e-13)


def test_batched_update_is_deterministic_per_block():
    data = _rows(320, 3)
    one = BatchedMoments(3)
    two = BatchedMoments(3)
    for lo in range(0, 320, 64):
        one.update(data[lo : lo + 64], start=lo)
        two.update(data[lo : lo + 64], start=lo)
    np.testing.assert_array_equal(one.means, two.means)
    np.testing.assert_array_equal(one.m2, two.m2)
    total = one.total()
    np.testing.assert_allclose(total.mean, data.mean(axis=0), rtol=1e-13)
    np.testing.assert_allclose(total.m2, data.var(axis=0) * 320, rtol=1e-12)


def test_batched_merge_associative():
    parts = [(_rows(n, 2, offset=k), s) for k, (n, s) in enumerate(((64, 0), (100, 64), (5, 164)))]
    accs = [BatchedMoments(2).update(r, start=s) for r, s in parts]
    left = accs[0].merge(accs[1]).merge(accs[2])
    right = accs[0].merge(accs[1].merge(accs[2]))
    one = BatchedMoments(2).update(np.concatenate([r for r, _ in parts]), start=0)
    for acc in (left, right):
        np.testing.assert_array_equal(acc.counts, one.counts)
        np.testing.assert_allclose(acc.means, one.means, rtol=1e-12)
        np.testing.assert_allclose(acc.m2, one.m2, rtol=1e-11, atol=1e-12)


def test_jackknife_of_linear_function_is_batch_means_error():
    data = _rows(32 * 50, 2)
    acc = BatchedMoments(2).update(data, start=0)
    est = acc.jackknife(lambda m: m[..., 0] + 2.0 * m[..., 1])
    batch_means = acc.means[:, 0] + 2.0 * acc.means[:, 1]
    expected = batch_means.std(ddof=1) / math.sqrt(N_BATCHES)
    assert est.mean == pytest.approx(data[:, 0].mean() + 2 * data[:, 1].mean(), rel=1e-13)
    assert est.stderr == pytest.approx(expected, rel=1e-10)
    assert est.count == 32 * 50


def test_jackknife_nonlinear_has_the_delta_method_size():
    # g(m) = m², data N(3, 1): delta-method s.e. 2·3/sqrt(N); the jackknife over 32 batches
    # estimates it with relative error ~ 1/sqrt(2·31) = 13 %, so 40 % is a 3-sigma bound.
    rng = np.random.default_rng(SEED)
    data = rng.standard_normal((32_000, 1)) + 3.0
    est = BatchedMoments(1).update(data, start=0).jackknife(lambda m: m[..., 0] ** 2)
    assert est.stderr == pytest.approx(6.0 / math.sqrt(32_000), rel=0.4)


def test_jackknife_with_empty_batches_and_too_few():
    acc = BatchedMoments(1).update(np.array([[1.0], [2.0], [4.0]]), start=0)
    est = acc.jackknife(lambda m: m[..., 0])
    assert est.mean == pytest.approx(7 / 3)
    assert np.isfinite(est.stderr)
    single = BatchedMoments(1).update(np.array([[1.0]]), start=5)
    assert math.isnan(single.jackknife(lambda m: m[..., 0]).stderr)


def test_batched_bad_input():
    with pytest.raises(ValueError, match="`n_batches` must be an integer >= 2"):
        BatchedMoments(2, n_batches=1)
    with pytest.raises(ValueError, match=re.escape("`rows` must have shape (rows, 2)")):
        BatchedMoments(2).update(np.ones((3, 3)))
    with pytest.raises(ValueError, match="cannot merge BatchedMoments"):
        BatchedMoments(2).merge(BatchedMoments(3))


def test_zero_variance_reports_rounding():
    acc = BatchedMoments(2).update(np.tile([0.3, 0.0], (64, 1)), start=0)
    res = acc.result()
    assert res.mean[0] == pytest.approx(0.3, rel=1e-15)
    assert 0 < res.stderr[0] <= ROUNDING * 0.3 * 1.0001
    assert res.stderr[1] == 0.0  # identically zero
    assert res[1].z(0.0) == 0.0


# --------------------------------------------------------------------- Estimate
def test_estimate_repr():
    assert repr(Estimate(1.2341, 0.0052, 10)) == "1.234 ± 0.005"
    assert repr(Estimate(-0.0040, 0.0020, 10)) == "-0.0040 ± 0.0020"
    assert repr(Estimate(12345.6, 78.0, 10)) == "12346 ± 78"
    text = repr(Estimate(np.array([1.0, 2.0]), np.array([0.1, 0.2]), 7))
    assert "count=7" in text
    assert "1.00 ± 0.10" in text


def test_estimate_z():
    est = Estimate(np.array([1.0, 2.0, 3.0]), np.array([0.5, 0.0, 0.0]), 4)
    np.testing.assert_array_equal(est.z([0.0, 2.0, 4.0]), [2.0, 0.0, -np.inf])
    assert Estimate(1.0, 0.25, 3).z(0.5) == 2.0
    assert isinstance(Estimate(1.0, 0.25, 3).z(0.5), float)
    assert est[0].mean == 1.0
    assert est.shape == (3,)


def test_update_parts_is_bit_identical_to_update():
    rows = _rows(77, 9)
    for start in (0, 5, 32):
        whole = BatchedMoments(9).update(_rows(40, 9, offset=1), 0).update(rows, start)
        parts = BatchedMoments(9).update(_rows(40, 9, offset=1), 0)
        parts.update_parts(((a, rows[:, a:b]) for a, b in ((0, 2), (2, 3), (3, 9))), 77, start)
        np.testing.assert_array_equal(whole.counts, parts.counts)
        np.testing.assert_array_equal(whole.means, parts.means)
        np.testing.assert_array_equal(whole.m2, parts.m2)


def test_update_parts_bad_input_leaves_state_alone():
    acc = BatchedMoments(4).update(_rows(64, 4), 0)
    before = (acc.counts.copy(), acc.means.copy(), acc.m2.copy())
    rows = _rows(10, 4, offset=2)
    with pytest.raises(ValueError, match=re.escape("`parts` must cover columns 0..3 in order")):
        acc.update_parts([(0, rows[:, :2]), (3, rows[:, 3:])], 10)
    with pytest.raises(ValueError, match=re.escape("`parts` must cover columns 0..3; they ended after 2 columns")):
        acc.update_parts([(0, rows[:, :2])], 10)
    with pytest.raises(ValueError, match=re.escape("with 10 rows each")):
        acc.update_parts([(0, rows[:5])], 10)
    for a, b in zip(before, (acc.counts, acc.means, acc.m2), strict=True):
        np.testing.assert_array_equal(a, b)
