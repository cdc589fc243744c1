"""samples: the fixed inputs and value summaries the value pins and sample variants share (real torch)."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import pytest
import torch

from autograd_conformance import opdb, samples


def test_sequence_is_fixed_and_starts_where_asked():
    assert samples.sequence(3, -2.0, 2.0) == pytest.approx([0.0, -1.527864045, 0.944271910])
    assert samples.sequence(1, -2.0, 2.0, samples.OFF_KINKS)[0] == pytest.approx(-1.6)
    values = samples.sequence(500, -2.0, 2.0)
    assert len(set(values)) == 500 and min(values) >= -2.0 and max(values) < 2.0


@pytest.mark.parametrize("k", range(6))
def test_off_kinks_sequence_never_lands_on_a_kink(k):
    """No value of the variants' sequence for a sample's k-th tensor is within 1e-9 of an integer or half-integer
    in [-2, 2]."""
    values = samples.sequence(20000, -2.0, 2.0, samples.phase(k, samples.OFF_KINKS))
    assert min(abs(v * 2 - round(v * 2)) for v in values) > 1e-9


def test_each_tensor_of_a_sample_gets_other_values():
    firsts = [samples.sequence(1, -2.0, 2.0, samples.phase(k, samples.OFF_KINKS))[0] for k in range(6)]
    assert len(set(firsts)) == 6 and firsts[0] == pytest.approx(-1.6)


def test_cotangents_are_off_zero_and_differ_per_output():
    """A one-element output's cotangent is not 0 (it would pin no gradient); two outputs get two sequences."""
    scalar, other = samples.cotangents([torch.zeros((), dtype=torch.float64), torch.zeros(3, dtype=torch.float32)])
    assert scalar.item() == pytest.approx(-0.8) and other.dtype == torch.float32 and other.shape == (3,)
    assert other[0].item() != pytest.approx(scalar.item())
    assert torch.equal(samples.cotangent(torch.zeros(4)), samples.cotangents([torch.zeros(4)])[0])


@pytest.mark.parametrize("start", [samples.MIDDLE, samples.OFF_KINKS])
def test_with_ours_fills_a_binary_sample_with_two_sequences(start):
    """A binary op's sample of two same-shaped tensors gets two sequences: the first from ``start``, the second a
    step on, so the op never sees only ties; the sample's structure and requires_grad are kept."""
    op = opdb.get("sub")
    first = samples.first_sample(op)
    filled = samples.with_ours(first, op, start)
    a, b = filled.input, filled.args[0]
    assert a.shape == first.input.shape == b.shape and a.requires_grad == first.input.requires_grad
    assert a.flatten().tolist() == pytest.approx(samples.sequence(a.numel(), -2.0, 2.0, start))
    assert b.flatten().tolist() == pytest.approx(samples.sequence(b.numel(), -2.0, 2.0, samples.phase(1, start)))
    assert not torch.equal(a, b)


def test_summary_moves_with_any_single_element():
    t = torch.tensor(samples.sequence(60, -1.0, 1.0), dtype=torch.float64)
    base = samples.summary(t)
    assert base[0] == 60
    for k in range(60):
        moved = t.clone()
        moved[k] += 1e-4 * max(1.0, abs(moved[k].item()))
        assert samples.summary(moved)[2] != pytest.approx(base[2], rel=1e-5, abs=1e-8), k


def test_summary_of_swapped_elements_differs_but_their_sum_does_not():
    t = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    swapped = torch.tensor([2.0, 1.0, 3.0], dtype=torch.float64)
    assert samples.summary(t)[1] == samples.summary(swapped)[1]
    assert samples.summary(t)[2] != samples.summary(swapped)[2]


def test_summary_writes_non_finite_values_as_facts_do_and_no_negative_zero():
    assert samples.summary(torch.tensor([1.0, float("nan")]))[1:] == ["nan", "nan"]
    assert samples.summary(torch.tensor([1.0, float("inf")]))[1] == "inf"
    zero = samples.summary(torch.tensor([-0.0, 0.0]))
    assert zero == [2, 0.0, 0.0] and math.copysign(1.0, zero[1]) == 1.0
    json.dumps(samples.summary(torch.tensor([float("-inf")])), allow_nan=False)


def test_summary_of_subnormal_values():
    """nextafter(0, 1) is the smallest subnormal: its summary keeps it (10**-335 underflows to 0)."""
    tiny = torch.nextafter(torch.zeros(2, dtype=torch.float64), torch.ones(2, dtype=torch.float64))
    numel, total, weighted = samples.summary(tiny)
    assert (numel, total) == (2, 2 * 5e-324) and weighted > total > 0.0


def test_summary_keeps_twelve_digits_of_the_largest_element():
    """A last-bit difference (what another thread count gives) does not move it."""
    t = torch.tensor(samples.sequence(1000, -3.0, 3.0), dtype=torch.float64)
    nudged = t * (1 + 2 ** -50)
    assert samples.summary(t) == samples.summary(nudged)


def _op(name, domain=(None, None)):
    return SimpleNamespace(name=name, domain=domain)


@pytest.mark.parametrize("op_id, why", [
    ("meshgrid.variadic_tensors", "hash seed"), ("empty_like", "uninitialised"), ("linalg.svd", "LAPACK"),
    ("linalg.tensorinv", "ill-conditioned"), ("nn.functional.dropout", "random"), ("normal.number_mean", "random"),
])
def test_unpinnable_ops_say_why(op_id, why):
    assert why in samples.unpinnable(op_id, _op(op_id.split(".")[0] if op_id.startswith("meshgrid") else op_id))


@pytest.mark.parametrize("op_id", ["sin", "linalg.solve", "signal.windows.bartlett", "nn.functional.relu"])
def test_pinnable_ops(op_id):
    assert samples.unpinnable(op_id, _op(op_id)) is None


def test_ours_keeps_shape_dtype_and_requires_grad_and_conditions_square_matrices():
    t = torch.zeros(2, 3, 3, dtype=torch.float64, requires_grad=True)
    mine = samples.ours(t, _op("linalg.inv"))
    assert mine.shape == t.shape and mine.dtype == t.dtype and mine.requires_grad and mine.is_leaf
    assert bool((torch.linalg.det(mine.detach()).abs() > 1).all())


def test_ours_in_domain_leaves_the_diagonal_inside_a_declared_domain():
    t = torch.zeros(4, 4, dtype=torch.float64)
    asin = _op("asin", domain=(-1, 1))
    assert samples.ours(t, asin).max() > 1  # the value pins' form: the diagonal leaves asin's domain
    inside = samples.ours(t, asin, samples.OFF_KINKS, in_domain=True)
    assert -0.75 <= inside.min() and inside.max() < 0.75


def test_op_ids_by_kind_from_a_cache_of_every_kind(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGRAD_CONFORMANCE_CACHE", str(tmp_path))
    opdb.op_ids.cache_clear()
    try:
        everything, reductions, out = opdb.op_ids(), opdb.op_ids("reductions"), opdb.op_ids("out")
        cached = json.loads(next(tmp_path.glob("opinfo-ids-*.json")).read_text())
    finally:
        opdb.op_ids.cache_clear()
    assert set(cached) == set(opdb.KINDS)
    assert {"sum", "amax", "mean"} <= set(reductions) and "sin" not in reductions
    assert {"sin", "add"} <= set(out) and set(reductions) <= set(everything) and set(out) <= set(everything)


def test_op_ids_ignore_a_cache_of_the_old_list_form(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOGRAD_CONFORMANCE_CACHE", str(tmp_path))
    opdb.op_ids.cache_clear()
    try:
        path = opdb._cache_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(["sin"]))
        assert len(opdb.op_ids()) > 100
    finally:
        opdb.op_ids.cache_clear()
