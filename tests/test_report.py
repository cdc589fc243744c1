"""Tests of the JSON report: schema, atomic writes, loading errors."""

import copy
import json
import os
import re

import pytest

from autograd_conformance import report as report_mod
from autograd_conformance.report import Report, ReportError, RunInfo, comparable, load, validate, write
from autograd_conformance.result import ProbeResult

RUN_INFO = {
    "run_name": "t", "torch_version": "2.13.0+cpu", "torch_git_version": None, "table_torch_version": "2.13.0+cpu",
    "devices": {"cpu": {"available": True}}, "python": "3.11", "platform": "linux", "pytest_args": [],
    "hypothesis": {}, "table_hash": "0" * 64, "table_dir": "suites/expectations", "harness_version": "0",
    "mode": "compare", "partial": False, "started": "s", "finished": "f", "duration": 1.0, "workers": 0,
    "numpy": None,
}
PROBE = {"id": "fam/t", "family": "fam", "nodeid": "suites/test_fam.py::t", "device": None, "params": {},
         "verdict": "pass", "observation": {"x.is_leaf": True}, "expectation": None, "mismatches": [],
         "duration": 0.1, "location": {"file": "suites/test_fam.py", "line": 1}, "doc": None, "message": None}


def sample() -> Report:
    return Report(RunInfo.from_json(copy.deepcopy(RUN_INFO)), [ProbeResult.from_json(copy.deepcopy(PROBE))])


def sample_json() -> dict:
    return sample().to_json()


def test_build_counts_and_validates():
    report = sample()
    validate(report.to_json())
    assert report.summary["pass"] == 1 and report.summary["total"] == 1


def test_json_round_trip_is_exact():
    data = sample_json()
    assert Report.from_json(data).to_json() == data
    data["run_info"]["from_a_newer_harness"] = [1]
    assert Report.from_json(data).to_json() == data


@pytest.mark.parametrize("mutate, where", [
    (lambda r: r.pop("probes"), "(top level)"),
    (lambda r: r["probes"][0].update(verdict="great"), "probes/0/verdict"),
    (lambda r: r["run_info"].update(table_hash="xyz"), "run_info/table_hash"),
])
def test_schema_errors_name_the_path(mutate, where):
    report = sample_json()
    mutate(report)
    with pytest.raises(ReportError, match=re.escape(f"label: does not fit the report schema at {where}")):
        validate(report, "label")


def test_wrong_schema_version_is_named():
    report = sample_json()
    report["schema_version"] = 99
    with pytest.raises(ReportError, match="schema_version 99 is not supported"):
        validate(report, "r.json")


def test_write_then_load_round_trip(tmp_path):
    path = tmp_path / "r.json"
    write(path, sample())
    assert load(path) == sample()
    assert oct(path.stat().st_mode & 0o777) != oct(0o600)


def test_a_failed_write_leaves_the_previous_report_whole(tmp_path, monkeypatch):
    path = tmp_path / "r.json"
    write(path, sample())
    before = path.read_bytes()

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    newer = sample()
    newer.probes[0].verdict = "mismatch"
    with pytest.raises(OSError):
        write(path, newer)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_an_invalid_report_is_never_written(tmp_path):
    path = tmp_path / "r.json"
    write(path, sample())
    bad = sample()
    bad.probes[0].verdict = "great"
    with pytest.raises(ReportError):
        write(path, bad)
    assert load(path).probes[0].verdict == "pass"


@pytest.mark.parametrize("content, message", [
    (None, "no such report"), ("", "not valid JSON"), ('{"schema_version": 1', "not valid JSON"),
    ("[]", "does not fit the report schema"),
])
def test_load_errors_are_one_line(tmp_path, content, message):
    path = tmp_path / "r.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ReportError, match=message) as info:
        load(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


def test_load_a_directory(tmp_path):
    with pytest.raises(ReportError, match="is a directory"):
        load(tmp_path)


def test_comparable_ignores_only_volatile_fields():
    a, b = sample(), sample()
    b.run_info.duration = 5.0
    b.probes[0].duration = 9.0
    assert comparable(a) == comparable(b)
    b.probes[0].observation["x.is_leaf"] = False
    assert comparable(a) != comparable(b)
    json.dumps(comparable(a))


def test_the_schema_is_valid_and_an_independent_validator_agrees():
    import jsonschema

    jsonschema.Draft7Validator.check_schema(report_mod.schema())
    jsonschema.Draft7Validator(report_mod.schema()).validate(sample_json())
    bad = sample_json()
    bad["probes"][0]["verdict"] = "great"
    assert list(jsonschema.Draft7Validator(report_mod.schema()).iter_errors(bad))


def test_a_version_1_report_is_upgraded_on_load(tmp_path):
    data = sample_json()
    info = data["run_info"]
    del info["devices"], info["table_dirs"]
    info.update(cuda_available=False, mps_available=False)
    data["schema_version"] = 1
    path = tmp_path / "old.json"
    path.write_text(json.dumps(data))
    report = load(path)
    assert report.run_info.devices == {"cpu": {"available": True}, "cuda": {"available": False},
                                       "mps": {"available": False}}
    assert report.run_info.table_dirs == ["suites/expectations"]


def test_why_a_report_is_not_a_baseline():
    report = sample()
    assert report.not_a_baseline() is None
    report.run_info.partial, report.run_info.partial_reason = True, "-k"
    assert report.not_a_baseline() == "a partial run (-k)"
    report.run_info.run_kind = "record-new"
    assert report.not_a_baseline() == "a recording run (record-new)"
