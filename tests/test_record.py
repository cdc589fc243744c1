"""Tests of record mode's table writing."""

import tomllib

import pytest

from autograd_conformance.expectations import Table
from autograd_conformance.record import ALL, NEW, RecordSummary, dumps_table, record_observation, toml_value


@pytest.mark.parametrize("value, text", [
    (None, "false"), (True, "true"), (3, "3"), (0.5, "0.5"), (1e-20, "1e-20"), (float("nan"), '"nan"'),
    ('say "hi"\n', '"say \\"hi\\"\\n"'), ([1, "a"], '[1, "a"]'),
    ({"dtype": "torch.float32", "shape": [1]}, '{ dtype = "torch.float32", shape = [1] }'),
    ({"a key": 1}, '{ "a key" = 1 }'),
])
def test_toml_value(value, text):
    assert toml_value(value) == text


def test_dumps_is_sorted_and_parses_back():
    doc = {"fam/b": {"z.is_leaf": True, "a.grad_fn": None, "when": [
        {"torch": ">=2.14", "reason": "r", "a.grad_fn": "X"}]},
           "fam/a": {"x.message": "tab\there ünïcode \x7f"}}
    text = dumps_table(doc)
    assert text.index('["fam/a"]') < text.index('["fam/b"]')
    assert text.index('"a.grad_fn"') < text.index('"z.is_leaf"')
    parsed = tomllib.loads(text)
    assert parsed["fam/a"]["x.message"] == "tab\there ünïcode \x7f"
    assert parsed["fam/b"]["when"][0]["a.grad_fn"] == "X"
    assert dumps_table(parsed) == text


def _resolve(tmp_path, doc, probe="fam/t[cpu]"):
    (tmp_path / "fam.toml").write_text(dumps_table(doc))
    return Table.load(tmp_path, "2.13.0").resolve(probe, "cpu", "2.13.0")


def test_record_new_adds_entries_and_facts_but_keeps_different_values(tmp_path):
    docs = {"fam.toml": {"fam/t[*]": {"x.is_leaf": False}}}
    summary = RecordSummary()
    record_observation(docs, "fam", "fam/t[cpu]", "fam/t[*]", {"x.is_leaf": True, "x.grad_fn": None},
                       _resolve(tmp_path, docs["fam.toml"]), NEW, summary)
    assert docs["fam.toml"]["fam/t[*]"] == {"x.is_leaf": False, "x.grad_fn": None}
    assert summary.kept_different == [("fam/t[cpu]", "x.is_leaf")] and summary.added_facts == 1

    record_observation(docs, "fam", "fam/u[cpu]", "fam/u[*]", {"y.count": 2}, None, NEW, summary)
    assert docs["fam.toml"]["fam/u[*]"] == {"y.count": 2}


def test_record_all_overrides_a_shared_pattern_with_the_probes_own_row(tmp_path):
    docs = {"fam.toml": {"fam/*": {"x.is_leaf": False}}}
    summary = RecordSummary()
    record_observation(docs, "fam", "fam/t[cpu]", "fam/t[*]", {"x.is_leaf": True},
                       _resolve(tmp_path, docs["fam.toml"]), ALL, summary)
    assert docs["fam.toml"] == {"fam/*": {"x.is_leaf": False}, "fam/t[*]": {"x.is_leaf": True}}


def test_record_all_drops_facts_no_longer_observed(tmp_path):
    docs = {"fam.toml": {"fam/t[*]": {"x.is_leaf": True, "x.count": 1}}}
    record_observation(docs, "fam", "fam/t[cpu]", "fam/t[*]", {"x.is_leaf": True},
                       _resolve(tmp_path, docs["fam.toml"]), ALL, RecordSummary())
    assert docs["fam.toml"]["fam/t[*]"] == {"x.is_leaf": True}


def test_compact_folds_shared_facts_and_keeps_resolution(tmp_path):
    from autograd_conformance.record import compact_doc

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
    from autograd_conformance.record import compact_doc

    doc = {f"fam/t[*-{i}]": {"b.raises": False, "b.message": "m"} for i in range(4)}
    doc["fam/t[*-4]"] = {"b.raises": "RuntimeError"}
    (tmp_path / "fam.toml").write_text(dumps_table(doc))
    expected = {i: Table.load(tmp_path, "2.13.0").resolve(f"fam/t[cpu-{i}]", "cpu", "2.13.0").facts for i in range(5)}
    compact_doc(doc)
    assert doc["fam/t[*-4]"] == {"b.raises": "RuntimeError", "b.message": {"absent": True}}
    (tmp_path / "fam.toml").write_text(dumps_table(doc))
    table = Table.load(tmp_path, "2.13.0")
    assert {i: table.resolve(f"fam/t[cpu-{i}]", "cpu", "2.13.0").facts for i in range(5)} == expected


def test_compact_keeps_rows_that_another_row_of_the_group_also_matches(tmp_path):
    """[*-result] also matches [cpu-detached-result]: the more specific row must keep all its facts."""
    from autograd_conformance.record import compact_doc

    doc = {"fam/t[*-result]": {"t.grad_fn": "MulBackward0", "t.is_leaf": False},
           "fam/t[*-detached-result]": {"t.grad_fn": None, "t.is_leaf": True},
           "fam/t[*-plain]": {"t.grad_fn": None, "t.is_leaf": True},
           "fam/t[*-leaf]": {"t.grad_fn": None, "t.is_leaf": True}}
    ids = ["fam/t[cpu-result]", "fam/t[cpu-detached-result]", "fam/t[cpu-plain]", "fam/t[cpu-leaf]"]
    (tmp_path / "fam.toml").write_text(dumps_table(doc))
    expected = {i: Table.load(tmp_path, "2.13.0").resolve(i, "cpu", "2.13.0").facts for i in ids}
    compact_doc(doc)
    assert doc["fam/t[*-detached-result]"] == {"t.grad_fn": None, "t.is_leaf": True}
    (tmp_path / "fam.toml").write_text(dumps_table(doc))
    table = Table.load(tmp_path, "2.13.0")
    assert {i: table.resolve(i, "cpu", "2.13.0").facts for i in ids} == expected


def test_record_all_keeps_absent_markers_and_entry_ranges(tmp_path):
    docs = {"fam.toml": {"fam/*": {"b.message": "m", "b.raises": False},
                         "fam/t[*]": {"torch": ">=2.0", "reason": "exists since 2.0", "b.raises": "RuntimeError",
                                      "b.message": {"absent": True}}}}
    record_observation(docs, "fam", "fam/t[cpu]", "fam/t[*]", {"b.raises": "ValueError"},
                       _resolve(tmp_path, docs["fam.toml"]), ALL, RecordSummary())
    assert docs["fam.toml"]["fam/t[*]"] == {"torch": ">=2.0", "reason": "exists since 2.0", "b.raises": "ValueError",
                                            "b.message": {"absent": True}}
