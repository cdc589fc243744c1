"""The terminal summary, rendered from a RunOutcome: pinpointed differences, both sides of long values visible,
aligned rows, and the verdict line."""

from __future__ import annotations

from pathlib import Path

from autograd_conformance.outcome import RunOutcome
from autograd_conformance.report import BaselineGap
from autograd_conformance.result import ProbeResult
from autograd_conformance.summary import _table, summary_lines, verdict_line
from autograd_conformance.verdict import NOT_IN_TABLE, NOT_OBSERVED, Mismatch, detail


def tensor(values):
    return {"dtype": "torch.float32", "shape": [len(values)], "values": values}


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


def test_rows_stay_aligned_when_an_id_is_too_long():
    rows = [("fam/short", "x.grad", "mismatch", "d1"), ("fam/" + "l" * 80, "y.grad_fn", "drift", "d2")]
    lines = _table(rows)
    assert lines[2] == "fam/" + "l" * 80
    starts = {line.index("mismatch") if "mismatch" in line else line.index("drift") for line in lines[1:] if "d" in line[-2:]}
    assert len(starts) == 1, lines


def _result(pid: str, verdict: str) -> ProbeResult:
    return ProbeResult(pid, "fam", f"suites/test_fam.py::{pid.split('/')[1]}", verdict)


def test_the_verdict_line_says_the_status_in_words_and_is_green_only_for_exit_0():
    passing = RunOutcome(0, (_result("fam/a", "pass"), _result("fam/b", "skipped")), "2.13.0")
    assert verdict_line(passing, 0) == ("autograd-conformance: PASS (exit 0): 1 probe conforms to the table", True)
    failing = RunOutcome(1, (_result("fam/a", "pass"), _result("fam/b", "mismatch"), _result("fam/c", "drift")),
                         "2.13.0")
    assert verdict_line(failing, 1) == ("autograd-conformance: FAIL (exit 1): autograd behaves differently: 2 of 3 "
                                        "probes differ from the table (1 drift, 1 mismatch)", False)
    assert verdict_line(passing, 4)[1] is False  # whatever the probes did, a non-zero status is never green
    assert verdict_line(None, 5) == ("autograd-conformance: FAIL (exit 5): too few probes ran", False)


def test_a_report_that_is_not_a_baseline_says_which_full_report_was_left():
    outcome = RunOutcome(0, (_result("fam/a", "pass"),), "2.13.0", partial=True,
                         gap=BaselineGap("partial", "a partial run (-k)"), report_path=Path("reports/r.partial.json"),
                         baseline_path=Path("reports/r.json"))
    lines = summary_lines(outcome)
    assert lines[0] == "1 probe on torch 2.13.0: 1 pass; 0 stale rows (partial run: staleness not checked)"
    assert lines[-2:] == ["report: reports/r.partial.json",
                          "  (a partial run (-k): the full report reports/r.json is left as it was)"]
