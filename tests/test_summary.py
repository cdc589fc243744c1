"""The terminal summary: pinpointed differences, both sides of long values visible, aligned rows, verdict line."""

from __future__ import annotations

from autograd_conformance.summary import _table, detail, join_within, shorten
from autograd_conformance.verdict import NOT_IN_TABLE, NOT_OBSERVED, Mismatch


def tensor(values):
    return {"dtype": "torch.float32", "shape": [len(values)], "values": values}


def test_shorten_keeps_both_ends():
    text = "a" * 50 + "MIDDLE" + "z" * 50
    out = shorten(text, 40)
    assert len(out) == 40 and out.startswith("aaa") and out.endswith("zzz") and "…" in out
    assert shorten("short", 40) == "short"


def test_a_tensor_difference_names_the_elements_and_the_tolerance():
    m = Mismatch("x.grad", "semantic", tensor([0.0, 1.0, 1.0, 1.0, 0.0]), tensor([0.0, 0.0, 1.0, 0.0, 0.0]), None)
    assert detail(m) == "2 of 5 elements differ (rtol 1e-05, atol 1e-08); [1]: 1.0 → 0.0; [3]: 1.0 → 0.0"


def test_mapping_and_missing_sides_are_said_in_words():
    m = Mismatch("claims.value", "semantic", {"a": True, "b": False}, {"a": True, "b": True}, None)
    assert detail(m) == "b: False → True"
    assert detail(Mismatch("b.raises", "semantic", None, None, None, NOT_IN_TABLE)) == "(not in table) observed None"
    assert detail(Mismatch("b.raises", "semantic", "E", None, None, NOT_OBSERVED)) == "expected 'E' (not observed)"


def test_long_values_keep_both_sides():
    m = Mismatch("y.value", "semantic", list(range(200)), "x" * 300, None)
    text = detail(m)
    assert " → " in text and text.split(" → ")[1].startswith("'xxx") and len(text) <= 115


def test_join_within_counts_what_does_not_fit():
    assert join_within(["a" * 40, "b" * 40, "c" * 40], 100) == "a" * 40 + "; " + "b" * 40 + "; (+1 more)"


def test_rows_stay_aligned_when_an_id_is_too_long():
    rows = [("fam/short", "x.grad", "mismatch", "d1"), ("fam/" + "l" * 80, "y.grad_fn", "drift", "d2")]
    lines = _table(rows)
    assert lines[2] == "fam/" + "l" * 80
    starts = {line.index("mismatch") if "mismatch" in line else line.index("drift") for line in lines[1:] if "d" in line[-2:]}
    assert len(starts) == 1, lines
