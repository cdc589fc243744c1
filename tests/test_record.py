"""Tests of the live-run recorder (pytest --ac-record): observations merged into the table documents."""

from autograd_conformance.expectations import Table
from autograd_conformance.record import ALL, NEW, Recorder, RecordPolicy
from autograd_conformance.result import ProbeResult
from autograd_conformance.tablefile import dumps_table


def _resolve(tmp_path, doc, probe="fam/t[cpu]"):
    (tmp_path / "fam.toml").write_text(dumps_table(doc))
    return Table.load(tmp_path, "2.13.0").resolve(probe, "cpu", "2.13.0")


def _probe(pid, observation):
    return ProbeResult(pid, "fam", f"suites/test_fam.py::{pid.split('/')[1]}", "pass", device="cpu",
                       observation=observation)


def test_record_new_adds_entries_and_facts_but_keeps_different_values(tmp_path):
    docs = {"fam.toml": {"fam/t[*]": {"x.is_leaf": False}}}
    recorder = Recorder(docs, NEW)
    recorder.observe(_probe("fam/t[cpu]", {"x.is_leaf": True, "x.grad_fn": None}), _resolve(tmp_path, docs["fam.toml"]))
    assert docs["fam.toml"]["fam/t[*]"] == {"x.is_leaf": False, "x.grad_fn": None}
    assert recorder.summary.kept_different == [("fam/t[cpu]", "x.is_leaf")] and recorder.summary.added_facts == 1

    recorder.observe(_probe("fam/u[cpu]", {"y.count": 2}), None)
    assert docs["fam.toml"]["fam/u[*]"] == {"y.count": 2}


def test_record_all_overrides_a_shared_pattern_with_the_probes_own_row(tmp_path):
    docs = {"fam.toml": {"fam/*": {"x.is_leaf": False}}}
    Recorder(docs, ALL).observe(_probe("fam/t[cpu]", {"x.is_leaf": True}), _resolve(tmp_path, docs["fam.toml"]))
    assert docs["fam.toml"] == {"fam/*": {"x.is_leaf": False}, "fam/t[*]": {"x.is_leaf": True}}


def test_record_all_drops_facts_no_longer_observed(tmp_path):
    docs = {"fam.toml": {"fam/t[*]": {"x.is_leaf": True, "x.count": 1}}}
    Recorder(docs, ALL).observe(_probe("fam/t[cpu]", {"x.is_leaf": True}), _resolve(tmp_path, docs["fam.toml"]))
    assert docs["fam.toml"]["fam/t[*]"] == {"x.is_leaf": True}


def test_record_all_keeps_absent_markers_and_entry_ranges(tmp_path):
    docs = {"fam.toml": {"fam/*": {"b.message": "m", "b.raises": False},
                         "fam/t[*]": {"torch": ">=2.0", "reason": "exists since 2.0", "b.raises": "RuntimeError",
                                      "b.message": {"absent": True}}}}
    Recorder(docs, ALL).observe(_probe("fam/t[cpu]", {"b.raises": "ValueError"}), _resolve(tmp_path, docs["fam.toml"]))
    assert docs["fam.toml"]["fam/t[*]"] == {"torch": ">=2.0", "reason": "exists since 2.0", "b.raises": "ValueError",
                                            "b.message": {"absent": True}}


def test_a_record_run_writes_every_file_it_changed_once_at_the_end(tmp_path):
    """The recorder gathers the whole run, then writes; a broken or skipped probe is left out."""
    (tmp_path / "fam.toml").write_text('["fam/t[*]"]\n"x.is_leaf" = true\n')
    table = Table.load(tmp_path, "2.13.0")
    recorder = Recorder.open(tmp_path, RecordPolicy("new"), "2.13.0")
    broken = _probe("fam/v[cpu]", {"z.count": 1})
    broken.verdict = "error"
    summary = recorder.record(table, [_probe("fam/t[cpu]", {"x.is_leaf": True, "x.count": 3}),
                                      _probe("fam/u[cpu]", {"y.count": 2}), broken])
    assert (tmp_path / "fam.toml").read_text() == '["fam/t[*]"]\n"x.is_leaf" = true\n'  # nothing written yet
    recorder.write(tmp_path)
    written = Table.load(tmp_path, "2.13.0")
    assert written.resolve("fam/t[cpu]", "cpu", "2.13.0").facts == {"x.is_leaf": True, "x.count": 3}
    assert written.resolve("fam/u[cpu]", "cpu", "2.13.0").facts == {"y.count": 2}
    assert written.resolve("fam/v[cpu]", "cpu", "2.13.0") is None
    assert summary.added_entries == ["fam/u[*]"] and summary.files == {"fam.toml"}


def test_the_policy_is_its_own_word():
    assert [p.value for p in RecordPolicy] == ["new", "all", "init"] and f"record-{RecordPolicy.ALL}" == "record-all"


def test_record_all_over_a_layered_table_writes_into_its_own_layer(tmp_path):
    """The fact in force comes from a lower layer's when block: the team's layer gets its own row (no KeyError)."""
    bundled, team = tmp_path / "bundled", tmp_path / "team"
    bundled.mkdir()
    team.mkdir()
    (bundled / "fam.toml").write_text('["fam/t[*]"]\n"x.count" = 1\n\n[["fam/t[*]".when]]\ntorch = ">=2.13"\n'
                                      'reason = "r"\n"x.count" = 2\n')
    (team / "fam.toml").write_text('["fam/t[*]"]\n"y.count" = 5\n')
    table = Table.load([bundled, team], "2.13.0")
    recorder = Recorder.open(team, RecordPolicy("all"), "2.13.0")
    summary = recorder.record(table, [_probe("fam/t[cpu]", {"x.count": 3, "y.count": 5})])
    recorder.write(team)
    assert summary.changed_facts == 1
    assert (team / "fam.toml").read_text() == '["fam/t[*]"]\n"x.count" = 3\n"y.count" = 5\n'
    assert "x.count\" = 2" in (bundled / "fam.toml").read_text()  # the lower layer is never written
