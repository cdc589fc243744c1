"""A device the table has never recorded, end to end without a GPU: ``AC_DEVICE_STANDIN=cuda`` makes the CPU stand
in for cuda (probes named ``[cuda]``, judged for cuda, running on cpu), so the path a GPU team meets first is tested
on every machine: the run says so, differences there are ``unrecorded`` (failing only under
``--ac-gate=…,unrecorded``), and ``--ac-record`` with a reason records the device into the team's layer."""

from __future__ import annotations

import tomllib

import pytest
import torch
from packaging.version import Version

from autograd_conformance.devices import STANDIN_ENV

RELEASE = Version(torch.__version__).base_version

#: Rows recorded on cpu only: what cpu does is stated in a cpu block, and the base says what (we pretend) an
#: earlier device did, so a stand-in cuda probe, which observes what cpu does, differs from the base.
CPU_ONLY = '''
["fam/test_leaf[*]"]
"x.grad_fn" = false
"x.is_leaf" = false
"x.requires_grad" = true

[["fam/test_leaf[*]".when]]
device = "cpu"
reason = "cpu makes a leaf"
"x.is_leaf" = true

["fam/test_sum"]
"y.grad_fn" = "SumBackward0"
"y.is_leaf" = false
"y.requires_grad" = true
'''


@pytest.fixture
def standin(project, monkeypatch):
    monkeypatch.setenv(STANDIN_ENV, "cuda")
    project.table(CPU_ONLY)
    (project.root / "suites" / "expectations" / "_releases.toml").write_text(f'[devices]\ncpu = ["{RELEASE}"]\n')
    return project


def _verdicts(project) -> dict[str, str]:
    return {p["id"]: p["verdict"] for p in project.report()["probes"]}


def test_a_difference_on_an_unrecorded_device_is_reported_not_failed(standin):
    result = standin.run()
    assert result.ret == 0, result.stdout.str()
    assert _verdicts(standin) == {"fam/test_leaf[cpu]": "pass", "fam/test_leaf[cuda]": "unrecorded",
                                  "fam/test_sum": "pass"}
    result.stdout.fnmatch_lines([
        f"*the table has no recording of cuda for torch {RELEASE} (its rows were recorded on cpu)*",
        "*fam/test_leaf[[]cuda[]]*x.is_leaf*unrecorded*",
        "*unrecorded: 1 probe differs where the table has no recording (cuda)*reported, not failing*record-device cuda*"])
    assert result.outlines[-1].endswith("PASS (exit 0): 2 probes conform to the table; 1 differs where the "
                                        "table has no recording (unrecorded, not failing)")
    report = standin.report()
    assert report["run_info"]["devices"]["cuda"]["recorded"] is False
    assert report["run_info"]["devices"]["cpu"]["recorded"] is True
    assert "no recording of cuda" in report["run_info"]["table_note"]
    assert report["summary"]["unrecorded"] == 1
    mismatch = [p for p in report["probes"] if p["verdict"] == "unrecorded"][0]["mismatches"][0]
    assert (mismatch["fact"], mismatch["expected"], mismatch["observed"]) == ("x.is_leaf", False, True)
    assert 'id="table-note"' in standin.report_path().with_suffix(".html").read_text()


def test_the_gate_fails_unrecorded_probes_when_asked(standin):
    result = standin.run("--ac-gate=all,unrecorded")
    assert result.ret == 1
    assert "1 differs where the table has no recording (unrecorded, failing by --ac-gate)" in result.outlines[-1]
    assert "FAIL (exit 1)" in result.outlines[-1] and "no recording of cuda" in result.outlines[-1]
    assert standin.run("--ac-gate=bogus,unrecorded").ret == 2


def test_a_change_on_the_recorded_device_still_fails(standin):
    standin.table(CPU_ONLY.replace('reason = "cpu makes a leaf"\n"x.is_leaf" = true',
                                   'reason = "cpu makes a leaf"\n"x.is_leaf" = false'))
    result = standin.run()
    assert result.ret == 1  # the cpu probe differs from its own recording: autograd behaves differently
    assert _verdicts(standin)["fam/test_leaf[cpu]"] == "mismatch"
    assert "autograd behaves differently" in result.outlines[-1]


def test_a_table_that_states_no_devices_was_recorded_on_cpu(standin):
    (standin.root / "suites" / "expectations" / "_releases.toml").unlink()
    assert standin.run().ret == 0
    assert _verdicts(standin)["fam/test_leaf[cuda]"] == "unrecorded"


def test_recording_a_device_needs_a_reason(standin):
    result = standin.run("--ac-record", "--ac-devices=cuda")
    assert result.ret == 2
    assert "needs a reason for its blocks: --ac-record-reason=TEXT" in result.stdout.str()


def test_record_writes_the_device_blocks_with_the_reason_and_lists_the_device(standin):
    before = standin.table_text()
    result = standin.run("--ac-record", "--ac-devices=cuda", "--ac-record-reason=reviewed on our runners",
                         "--ac-record-link=https://example.org/review/1")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*recorded cuda: listed in*_releases.toml [[]devices[]]*"])
    table = tomllib.loads(standin.table_text())
    cuda = [b for b in table["fam/test_leaf[*]"]["when"] if b.get("device") == "cuda"]
    assert cuda == [{"device": "cuda", "reason": "reviewed on our runners", "link": "https://example.org/review/1",
                     "x.is_leaf": True}]
    assert before.count("[[") + 1 == standin.table_text().count("[[")  # one block, nothing else
    releases = tomllib.loads((standin.root / "suites" / "expectations" / "_releases.toml").read_text())
    assert releases["devices"] == {"cpu": [RELEASE], "cuda": [RELEASE]}
    again = standin.run()
    assert again.ret == 0 and "no recording of cuda" not in again.stdout.str()
    assert set(_verdicts(standin).values()) == {"pass"}


def test_a_record_run_without_naming_the_device_leaves_its_differences_unwritten(standin):
    before = standin.table_text()
    result = standin.run("--ac-record")  # cuda (the stand-in) is generated without --ac-devices naming it
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*kept unwritten: 1 probe differs on another device*--ac-record-reason*"])
    assert standin.table_text() == before
    assert "cuda" not in (standin.root / "suites" / "expectations" / "_releases.toml").read_text()
