"""Tests of table compaction: shared facts folded into pattern rows, resolution unchanged."""

import pytest

from autograd_conformance.compact import CompactionError, check_same_resolution, compact_doc
from autograd_conformance.expectations import Table
from autograd_conformance.tablefile import dumps_table


def test_compact_folds_shared_facts_and_keeps_resolution(tmp_path):
    doc = {
        "fam/t[*-a]": {"x.is_leaf": True, "x.grad_fn": "A"},
        "fam/t[*-b]": {"x.is_leaf": True, "x.grad_fn": "B"},
        "fam/t[*-c]": {"x.is_leaf": True, "x.grad_fn": "A"},
        "fam/u[*-a]": {"y.count": 1, "when": [{"torch": ">=3", "y.count": 2}]},
        "fam/u[*-b]": {"y.count": 1},
        "fam/v*": {"z.count": 1},
        "fam/w[*]": {"z.count": 1},
    }
    (tmp_path / "fam.toml").write_text(dumps_table(doc))
    before = Table.load(tmp_path, "2.13.0")
    ids = ["fam/t[cpu-a]", "fam/t[cpu-b]", "fam/t[cuda-c]", "fam/u[cpu-a]", "fam/u[cpu-b]", "fam/vx", "fam/w[cpu]"]
    expected = {i: before.resolve(i, "cpu", "2.13.0").facts for i in ids}
    assert compact_doc(doc) == 3  # 6 facts in three rows became 2 in the pattern and 1 override
    assert doc["fam/t[*]"] == {"x.is_leaf": True, "x.grad_fn": "A"}
    assert doc["fam/t[*-b]"] == {"x.grad_fn": "B"}
    assert "fam/t[*-a]" not in doc and "fam/t[*-c]" not in doc
    assert "fam/u[*]" not in doc  # a row with when blocks is never folded
    (tmp_path / "fam.toml").write_text(dumps_table(doc))
    after = Table.load(tmp_path, "2.13.0")
    assert {i: after.resolve(i, "cpu", "2.13.0").facts for i in ids} == expected
    assert compact_doc(doc) == 0


def test_compact_marks_rows_that_lack_a_folded_fact_absent(tmp_path):
    doc = {f"fam/t[*-{i}]": {"b.raises": False, "b.message": "m"} for i in range(4)}
    doc["fam/t[*-4]"] = {"b.raises": "RuntimeError"}
    (tmp_path / "fam.toml").write_text(dumps_table(doc))
    expected = {i: Table.load(tmp_path, "2.13.0").resolve(f"fam/t[cpu-{i}]", "cpu", "2.13.0").facts for i in range(5)}
    compact_doc(doc)
    assert doc["fam/t[*-4]"] == {"b.raises": "RuntimeError", "b.message": {"absent": True}}
    (tmp_path / "fam.toml").write_text(dumps_table(doc))
    table = Table.load(tmp_path, "2.13.0")
    assert {i: table.resolve(f"fam/t[cpu-{i}]", "cpu", "2.13.0").facts for i in range(5)} == expected


def test_compact_folds_rows_a_one_parameter_star_does_not_reach(tmp_path):
    """[*-result] does not match [cpu-detached-result] (its * is one parameter): that row folds with its equals."""
    doc = {"fam/t[*-result]": {"t.grad_fn": "MulBackward0", "t.is_leaf": False},
           "fam/t[*-detached-result]": {"t.grad_fn": None, "t.is_leaf": True},
           "fam/t[*-plain]": {"t.grad_fn": None, "t.is_leaf": True},
           "fam/t[*-leaf]": {"t.grad_fn": None, "t.is_leaf": True}}
    ids = ["fam/t[cpu-result]", "fam/t[cpu-detached-result]", "fam/t[cpu-plain]", "fam/t[cpu-leaf]"]
    (tmp_path / "fam.toml").write_text(dumps_table(doc))
    expected = {i: Table.load(tmp_path, "2.13.0").resolve(i, "cpu", "2.13.0").facts for i in ids}
    compact_doc(doc)
    assert doc == {"fam/t[*-result]": {"t.grad_fn": "MulBackward0", "t.is_leaf": False},
                   "fam/t[*]": {"t.grad_fn": None, "t.is_leaf": True}}
    (tmp_path / "fam.toml").write_text(dumps_table(doc))
    table = Table.load(tmp_path, "2.13.0")
    assert {i: table.resolve(i, "cpu", "2.13.0").facts for i in ids} == expected


def test_a_compaction_that_changes_a_resolution_is_refused():
    before = '["fam/t[*-a]"]\n"x.count" = 1\n'
    after = '["fam/t[*-a]"]\n"x.count" = 2\n'
    with pytest.raises(CompactionError, match="would change the expectation of fam/t\\[cpu-a\\] on cpu"):
        check_same_resolution("fam.toml", before, after, ["fam/t[cpu-a]"], "2.13.0")

