"""Tests of comparison and verdicts."""

import pytest

from autograd_conformance.expectations import Resolved
from autograd_conformance.verdict import (DRIFT, MISMATCH, MISSING, PASS, UNRECORDED, conformance_sentence, equal, explain,
                                            judge, parse_gate)


def resolved(facts):
    return Resolved(facts, {k: f"fam.toml [fam/t]" for k in facts}, {}, ["fam/t"])


@pytest.mark.parametrize("expected, observed, ok", [
    (True, True, True), (True, 1, False), (1, True, False), (1, 1, True), (1, 1.0, True),
    (0.1, 0.1 + 1e-9, True), (0.1, 0.1001, False), ("nan", "nan", True), (None, None, True), (None, "x", False),
    ({"match": r"expected version \d+"}, "expected version 3", True),
    ({"match": r"expected version \d+"}, "expected version 3 instead", False),
    ({"match": "a"}, None, False),
    ([1, 2], [1, 2], True), ([1, 2], [1, 2, 3], False),
    ({"dtype": "torch.float32", "shape": [1], "values": [1.0]},
     {"dtype": "torch.float32", "shape": [1], "values": [1.0000001]}, True),
    ({"dtype": "torch.float32", "shape": [1], "values": [1.0], "atol": 0.1},
     {"dtype": "torch.float32", "shape": [1], "values": [1.05]}, True),
    ({"dtype": "torch.float32", "shape": [1], "values": [1.0]},
     {"dtype": "torch.float32", "shape": [1], "values": [1.05]}, False),
    ({"dtype": "torch.float32", "shape": [1]}, {"dtype": "torch.float32", "shape": [1], "values": [9.0]}, True),
    ({"dtype": "torch.float32", "shape": [1]}, {"dtype": "torch.float64", "shape": [1], "values": [9.0]}, False),
    (["UserWarning: x", {"match": "UserWarning: .*"}], ["UserWarning: x", "UserWarning: y"], True),
])
def test_equal(expected, observed, ok):
    assert equal(expected, observed) is ok


def test_judge_pass_missing_mismatch_drift():
    assert judge({"x.is_leaf": True}, None).status == MISSING
    assert judge({"x.is_leaf": True}, resolved({"x.is_leaf": True})).status == PASS
    v = judge({"x.is_leaf": True, "a.message": "new"}, resolved({"x.is_leaf": False, "a.message": "old"}))
    assert v.status == MISMATCH and [m.fact for m in v.mismatches] == ["a.message", "x.is_leaf"]
    v = judge({"x.is_leaf": True, "a.message": "new"}, resolved({"x.is_leaf": True, "a.message": "old"}))
    assert v.status == DRIFT


def test_judge_reports_facts_absent_on_either_side():
    v = judge({"x.is_leaf": True}, resolved({"x.requires_grad": True}))
    notes = {m.fact: m.note for m in v.mismatches}
    assert notes == {"x.is_leaf": "not in table", "x.requires_grad": "not observed"}


def test_explain_names_fact_expected_observed_and_row():
    text = explain("fam/t", judge({"x.grad_fn": "B"}, resolved({"x.grad_fn": "A"})))
    assert text.splitlines() == [
        "fam/t: mismatch — 1 fact(s) differ from the table",
        "  x.grad_fn:",
        "    expected 'A'",
        "    observed 'B'",
        "    (row in force: fam.toml [fam/t])",
    ]


def test_explain_shows_info_facts_after_the_diff():
    from autograd_conformance.verdict import judge as judge_

    observed = {"p.holds": False, "p.examples": 12, "p.falsifying": "body(x=0.0)\nAssertionError: boom"}
    text = explain("fam/t", judge_(observed, resolved({"p.holds": True})), observed)
    assert text.splitlines()[1:] == [
        "  p.holds:", "    expected True", "    observed False", "    (row in force: fam.toml [fam/t])",
        "  p.examples [info]:", "    12", "  p.falsifying [info]:", "    body(x=0.0)", "    AssertionError: boom"]


@pytest.mark.parametrize("given, gate", [("all", "all"), ("semantic", "semantic"), ("unrecorded", "all,unrecorded"),
                                         (" semantic , unrecorded ", "semantic,unrecorded"),
                                         ("unrecorded,all", "all,unrecorded")])
def test_the_gate_has_one_spelling(given, gate):
    assert parse_gate(given) == gate


@pytest.mark.parametrize("given", ["", "loose", "all,semantic", "all,unrecorded,x"])
def test_a_bad_gate_says_what_to_use(given):
    with pytest.raises(ValueError, match="use all or semantic, optionally with ',unrecorded'"):
        parse_gate(given)


def test_a_difference_on_an_unrecorded_device_fails_only_when_the_gate_says():
    resolved = Resolved({"x.is_leaf": True, "e.message": "a"}, {}, {}, [])
    semantic = judge({"x.is_leaf": False, "e.message": "a"}, resolved).on_unrecorded()
    wording = judge({"x.is_leaf": True, "e.message": "b"}, resolved).on_unrecorded()
    assert semantic.status == wording.status == UNRECORDED
    assert not semantic.fails("all") and semantic.fails("all,unrecorded") and semantic.fails("semantic,unrecorded")
    assert wording.fails("all,unrecorded") and not wording.fails("semantic,unrecorded")
    assert judge({"x.is_leaf": True, "e.message": "a"}, resolved).on_unrecorded().status == PASS
    assert judge({}, None).on_unrecorded().status == MISSING  # a missing row is not the device's doing


def test_the_sentence_says_unrecorded_apart():
    assert conformance_sentence([PASS, PASS, UNRECORDED]) == (
        "2 probes conform to the table; 1 differs where the table has no recording (unrecorded, not failing)",
        True)
    text, passes = conformance_sentence([MISMATCH, PASS, UNRECORDED, UNRECORDED], "all,unrecorded")
    assert text == ("1 of 4 probes differs from the table (1 mismatch); 2 differ where the table has no "
                    "recording (unrecorded, failing by --ac-gate)") and not passes
