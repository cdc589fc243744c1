"""Tests of the fact vocabulary."""

import pytest

from autograd_conformance.facts import (INFO, SEMANTIC, TEXT, UnknownFact, VOCABULARY, canonical, check_type, kind_of,
                                        spec_of, vocabulary_markdown)


@pytest.mark.parametrize("name, attribute", [
    ("output.is_leaf", "is_leaf"), ("x.grad.grad_fn", "grad_fn"), ("backward.raises", "raises"),
    ("y_is_x.same", "same"), ("hooks[0].calls", "calls"),
])
def test_spec_of_uses_the_last_component(name, attribute):
    assert spec_of(name).attribute == attribute


@pytest.mark.parametrize("name", ["is_leaf", "x.", ".is_leaf", "x.bogus", "x.is leaf", ""])
def test_unknown_or_malformed_names_are_refused(name):
    with pytest.raises(UnknownFact):
        spec_of(name)


def test_kinds():
    assert kind_of("backward.message") == TEXT
    assert kind_of("backward.warns") == TEXT
    assert kind_of("backward.raises") == SEMANTIC
    assert all(spec.kind in (SEMANTIC, TEXT, INFO) for spec in VOCABULARY.values())
    assert kind_of("prop.examples") == INFO


@pytest.mark.parametrize("name, value, ok", [
    ("x.is_leaf", True, True), ("x.is_leaf", 1, False), ("x.version", 1, True), ("x.version", True, False),
    ("x.grad_fn", None, True), ("x.grad_fn", "AddBackward0", True), ("x.dtype", None, False),
    ("x.shape", [2, 3], True), ("x.shape", [2, "3"], False), ("a.warns", ["UserWarning: x"], True),
    ("x.grad", None, True), ("x.grad", {"dtype": "torch.float32", "shape": [1], "values": [1.0]}, True),
    ("x.values", None, False), ("x.grad", {"dtype": "torch.float32"}, False), ("p.value", {"any": [1]}, True),
])
def test_check_type(name, value, ok):
    assert (check_type(name, value) is None) is ok


def test_canonical_makes_non_finite_floats_json_safe():
    assert canonical([1.0, float("nan"), float("inf"), -float("inf"), {"a": (1, 2)}]) == [
        1.0, "nan", "inf", "-inf", {"a": [1, 2]}]


def test_vocabulary_markdown_lists_every_fact():
    table = vocabulary_markdown()
    assert all(f"`{a}`" in table for a in VOCABULARY)


def test_kind_policy_has_one_home():
    from autograd_conformance.facts import GATE_ALL, GATE_SEMANTIC, KINDS, fails_gate, is_compared, is_wording

    assert {k for k in KINDS if is_compared(k)} == {SEMANTIC, TEXT}
    assert {k for k in KINDS if is_wording(k)} == {TEXT}
    assert [k for k in KINDS if fails_gate(k, GATE_ALL)] == [SEMANTIC, TEXT]
    assert [k for k in KINDS if fails_gate(k, GATE_SEMANTIC)] == [SEMANTIC]


def test_compared_facts_leave_info_out_and_keep_undeclared_ones():
    from autograd_conformance.facts import compared_facts

    facts = {"p.holds": True, "p.examples": 100, "p.falsifying": None, "x.from_an_older_harness": 1}
    assert compared_facts(facts) == {"p.holds": True, "x.from_an_older_harness": 1}
