"""Tests of the cross-run diff logic and its formats."""

import copy
import json

from autograd_conformance.diff import compute, format_json, format_markdown, format_text
from autograd_conformance.synthetic import make_report
from autograd_conformance.verdict import Mismatch


def pair():
    before = make_report(20, families=2, run_name="before", torch_version="2.13.0+cpu")
    after = copy.deepcopy(before)
    after.run_info.run_name, after.run_info.torch_version = "after", "2.14.1"
    return before, after


def test_identical_runs_have_no_differences():
    before, after = pair()
    diff = compute(before, after)
    assert not diff.has_differences
    assert diff.unchanged == sum(1 for p in before.probes if p.verdict != "skipped")


def test_added_removed_changed():
    before, after = pair()
    gone = after.probes.pop(0).id
    new = copy.deepcopy(after.probes[0])
    new.id = "family00/test_new"
    after.probes.append(new)
    target = next(p for p in after.probes if p.verdict == "pass")
    target.observation["x.is_leaf"] = False
    target.observation["backward.message"] = "new text"
    diff = compute(before, after)
    assert [p.id for p in diff.added] == ["family00/test_new"]
    assert [p.id for p in diff.removed] == [gone]
    assert len(diff.changed) == 1
    change = diff.changed[0]
    assert change.id == target.id and change.kind == "semantic"
    facts = {c.fact: c for c in change.changes}
    assert facts["x.is_leaf"].before is True and facts["x.is_leaf"].after is False
    assert facts["x.is_leaf"].kind == "semantic" and facts["backward.message"].kind == "text"
    assert facts["backward.message"].in_before is False
    assert diff.semantic_changes == 1 and diff.text_changes == 1
    compared = sum(1 for p in before.probes if p.verdict != "skipped") - 1  # one probe was removed
    assert diff.unchanged == compared - len(diff.changed)


def test_ignore_globs():
    before, after = pair()
    target = next(p for p in after.probes if p.verdict == "pass")
    target.observation["backward.message"] = "new text"
    assert compute(before, after).has_differences
    assert not compute(before, after, ignore=["*.message"]).has_differences


def test_change_accepted_by_the_table_in_both_runs_is_still_reported():
    before, after = pair()
    target = next(p for p in after.probes if p.verdict == "pass")
    target.observation["y.grad_fn"] = "RenamedBackward0"
    target.expectation.facts["y.grad_fn"] = "RenamedBackward0"  # a version-conditioned row in run two
    diff = compute(before, after)
    (change,) = diff.changed[0].changes
    assert change.accepted_both
    assert "cause: stated by the table, without a reason — 1 probe" in format_text(diff)
    assert diff.decided


def test_skipped_probes_are_not_compared():
    before, after = pair()
    skipped = next(p for p in after.probes if p.verdict == "skipped")
    assert skipped.id not in {p.id for p in compute(before, after).removed}


def test_formats_carry_the_same_content():
    before, after = pair()
    target = next(p for p in after.probes if p.verdict == "pass")
    target.observation["x.is_leaf"] = False
    diff = compute(before, after)
    text, md, data = format_text(diff), format_markdown(diff), json.loads(format_json(diff))
    assert f"{target.id}  x.is_leaf [semantic]: True → False" in text
    assert "cause: stated by the table, without a reason — 1 probe" in text  # the run's table expected it
    assert f"| `{target.id}` | `x.is_leaf` | semantic | `True` | `False` |" in md
    assert "stated by the table, without a reason — 1 probe" in md
    assert data["summary"]["changed"] == 1 and data["changed"][0]["changes"][0]["after"] is False


def test_a_change_the_table_does_not_state_is_to_decide_and_comes_with_its_cause():
    before, after = pair()
    target = next(p for p in after.probes if p.verdict == "pass")
    target.observation["x.grad"] = {"dtype": "torch.float32", "shape": [1], "values": [2.0]}
    target.verdict = "mismatch"
    target.mismatches = [Mismatch("x.grad", "semantic", None, target.observation["x.grad"], None, "not in table")]
    stated = next(p for p in after.probes if p.verdict == "pass" and p is not target)
    stated.observation["y.message"] = "new words"
    stated.timeline = [{"before_release": "2.13.0", "after_release": "2.14.1", "fact": "y.message", "before": "a",
                        "after": "new words", "reason": "torch 2.14 reworded it", "link": "https://example.org/1"}]
    diff = compute(before, after)
    assert not diff.decided
    causes = diff.causes()
    assert [(c.why, c.impact) for c in causes] == [("not stated by the table: to decide on", 0),
                                                  ("torch 2.14 reworded it", 2)]  # values first, then messages
    text = format_text(diff)
    assert text.index("[gradient values and semantics]") < text.index("[messages and warnings]")
    assert "cause: torch 2.14 reworded it (https://example.org/1) — 1 probe" in text
