"""Tests of the live-run recorder (pytest --ac-record): observations merged into the table documents."""

from autograd_conformance.expectations import Table
from autograd_conformance.record import ALL, NEW, RecordSummary, record_observation
from autograd_conformance.tablefile import dumps_table


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


def test_record_all_keeps_absent_markers_and_entry_ranges(tmp_path):
    docs = {"fam.toml": {"fam/*": {"b.message": "m", "b.raises": False},
                         "fam/t[*]": {"torch": ">=2.0", "reason": "exists since 2.0", "b.raises": "RuntimeError",
                                      "b.message": {"absent": True}}}}
    record_observation(docs, "fam", "fam/t[cpu]", "fam/t[*]", {"b.raises": "ValueError"},
                       _resolve(tmp_path, docs["fam.toml"]), ALL, RecordSummary())
    assert docs["fam.toml"]["fam/t[*]"] == {"torch": ">=2.0", "reason": "exists since 2.0", "b.raises": "ValueError",
                                            "b.message": {"absent": True}}
