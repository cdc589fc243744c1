"""The conformance session without pytest: judging, collecting, staleness, exit status and summary lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from autograd_conformance.expectations import Table
from autograd_conformance.options import RunOptions
from autograd_conformance.probes import Suite
from autograd_conformance.report import load
from autograd_conformance.result import Location, ProbeResult
from autograd_conformance.session import EXIT_HARNESS, EXIT_TABLE, EXIT_TOO_FEW, ConformanceSession
from autograd_conformance.summary import summary_lines

TABLE = '''
["fam/test_a[*]"]
"x.is_leaf" = true

["fam/test_b"]
"y.grad_fn" = "SumBackward0"
"y.message" = "old wording"
'''


def make_session(tmp_path: Path, table: str = TABLE, **options) -> ConformanceSession:
    (tmp_path / "suites" / "expectations").mkdir(parents=True, exist_ok=True)
    (tmp_path / "suites" / "expectations" / "fam.toml").write_text(table)
    (tmp_path / "suites" / "test_fam.py").write_text("def test_a(obs, device):\n    pass\n")
    suite = Suite(tmp_path / "suites", tmp_path / "suites" / "expectations")
    options.setdefault("covered", (suite.directory,))
    opts = RunOptions(root=tmp_path, suites=(suite,), report_dir=tmp_path / "reports", run_name="run",
                      torch_version="2.13.0+cpu", table_version="2.13.0+cpu", **options)
    return ConformanceSession(opts, Table.load(opts.table_dirs, opts.table_version, tmp_path))


def probe(pid: str, observation: dict, device: str | None = None) -> ProbeResult:
    return ProbeResult(pid, "fam", f"suites/test_fam.py::{pid.split('/')[1]}", "error", device=device,
                       observation=observation, location=Location("suites/test_fam.py", 1, 2))


def test_settle_judges_a_finished_probe_against_the_table(tmp_path):
    session = make_session(tmp_path)
    passing = probe("fam/test_a[cpu]", {"x.is_leaf": True}, "cpu")
    assert session.settle(passing, None) is None
    assert passing.verdict == "pass" and passing.expectation.keys == ["fam/test_a[*]"]
    failing = probe("fam/test_a[cpu]", {"x.is_leaf": False}, "cpu")
    text = session.settle(failing, None)
    assert failing.verdict == "mismatch" and "x.is_leaf" in text and "expected True" in text


def test_the_semantic_gate_lets_drift_pass_and_record_mode_lets_everything_pass(tmp_path):
    drifting = {"y.grad_fn": "SumBackward0", "y.message": "new wording"}
    assert make_session(tmp_path).settle(probe("fam/test_b", drifting), None) is not None
    assert make_session(tmp_path, gate="semantic").settle(probe("fam/test_b", drifting), None) is None
    assert make_session(tmp_path, record="new").settle(probe("fam/test_b", {"y.grad_fn": "X"}), None) is None


def test_missing_rows_fail_unless_allowed(tmp_path):
    unknown = {"z.count": 1}
    assert "no expectation" in make_session(tmp_path).settle(probe("fam/test_c", unknown), None)
    assert make_session(tmp_path, allow_missing=True).settle(probe("fam/test_c", unknown), None) is None


def finished(session: ConformanceSession, *results: ProbeResult, **finish) -> int | None:
    for result in results:
        session.settle(result, None)
        session.add(result)
    outcome = session.finish(0, interrupted=finish.get("interrupted", False), stopped_early=False)
    assert outcome is session.outcome
    return None if outcome.status == 0 else outcome.status


def test_a_full_green_run_writes_the_report_and_removes_the_stream(tmp_path):
    session = make_session(tmp_path, html=False)
    status = finished(session, probe("fam/test_a[cpu]", {"x.is_leaf": True}, "cpu"),
                      probe("fam/test_b", {"y.grad_fn": "SumBackward0", "y.message": "old wording"}))
    assert status is None and session.stale == []
    report = load(tmp_path / "reports" / "run.json")
    assert report.summary["pass"] == 2 and not report.run_info.partial
    assert not (tmp_path / "reports" / "run.jsonl").exists()
    assert summary_lines(session.outcome)[0] == "2 probes on torch 2.13.0+cpu: 2 pass; 0 stale rows"
    last = summary_lines(session.outcome)[-1]
    assert last.startswith("report: ") and last.endswith("reports/run.json")


def test_stale_rows_fail_a_full_run_with_status_4(tmp_path):
    session = make_session(tmp_path, html=False)
    status = finished(session, probe("fam/test_a[cpu]", {"x.is_leaf": True}, "cpu"))
    assert status == EXIT_TABLE
    assert [(s.file, s.key) for s in session.stale] == [("suites/expectations/fam.toml", "fam/test_b")]
    assert any("(stale row)" in line for line in summary_lines(session.outcome))


def test_a_narrowed_run_is_partial_and_checks_no_staleness(tmp_path):
    session = make_session(tmp_path, html=False, narrowed_by="-k")
    assert finished(session, probe("fam/test_a[cpu]", {"x.is_leaf": True}, "cpu")) is None
    assert session.partial and session.stale == []
    assert not (tmp_path / "reports" / "run.json").exists()  # a partial run never stands for a full one
    report = load(tmp_path / "reports" / "run.partial.json")
    assert report.run_info.partial and report.run_info.partial_reason == "-k"
    assert report.not_a_baseline() == "a partial run (-k)"


def test_too_few_probes_is_status_5(tmp_path):
    session = make_session(tmp_path, html=False, min_probes=3)
    assert finished(session, probe("fam/test_a[cpu]", {"x.is_leaf": True}, "cpu"),
                    probe("fam/test_b", {"y.grad_fn": "SumBackward0", "y.message": "old wording"})) == EXIT_TOO_FEW


def test_an_unwritable_report_dir_is_status_3(tmp_path):
    session = make_session(tmp_path, html=False)
    object.__setattr__(session.options, "report_dir", tmp_path / "blocked")
    (tmp_path / "blocked").write_text("a file, not a directory")
    assert finished(session, probe("fam/test_a[cpu]", {"x.is_leaf": True}, "cpu"),
                    probe("fam/test_b", {"y.grad_fn": "SumBackward0", "y.message": "old wording"})) == EXIT_HARNESS


def test_an_interrupted_run_keeps_the_stream_and_the_last_report(tmp_path):
    session = make_session(tmp_path, html=False)
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "run.json").write_text("the last complete report")
    assert finished(session, probe("fam/test_a[cpu]", {"x.is_leaf": True}, "cpu"), interrupted=True) is None
    assert (tmp_path / "reports" / "run.json").read_text() == "the last complete report"
    assert '"event": "interrupted"' in (tmp_path / "reports" / "run.jsonl").read_text()
    assert summary_lines(session.outcome)[0].startswith("interrupted: 1 probe results kept in ")


def test_a_worker_crash_outside_the_suites_is_not_a_probe(tmp_path):
    session = make_session(tmp_path, html=False)
    session.worker_crashed("tests/test_other.py::test_x", "boom")
    session.worker_crashed("suites/test_fam.py::test_a[cpu]", "worker 'gw0' crashed while running it")
    assert [(r.id, r.verdict, r.device) for r in session.results.values()] == [("fam/test_a[cpu]", "crashed", "cpu")]


def test_run_options_are_frozen(tmp_path):
    session = make_session(tmp_path)
    with pytest.raises(AttributeError):
        session.options.run_name = "other"


def test_settle_turns_how_a_call_ended_into_a_verdict(tmp_path):
    import pytest as pt

    from autograd_conformance.errors import ProbeError

    session = make_session(tmp_path)
    skipped = probe("fam/test_a[cpu]", {"x.is_leaf": True}, "cpu")
    assert session.settle(skipped, pt.skip.Exception("no cuda")) is None
    assert (skipped.verdict, skipped.message, skipped.observation) == ("skipped", "no cuda", {})
    timed_out = probe("fam/test_a[cpu]", {}, "cpu")
    session.settle(timed_out, pt.fail.Exception("Timeout >60s"))
    assert timed_out.verdict == "timeout" and "time limit" in timed_out.message
    wrong = probe("fam/test_a[cpu]", {}, "cpu")
    session.settle(wrong, ProbeError("facts_of cannot read 'x'"))
    assert (wrong.verdict, wrong.message) == ("error", "probe error: facts_of cannot read 'x'")
    raised = probe("fam/test_a[cpu]", {}, "cpu")
    session.settle(raised, KeyError("k"))
    assert (raised.verdict, raised.message) == ("error", "KeyError: 'k'")


def test_the_outcome_is_frozen_and_carries_the_exit_status(tmp_path):
    import dataclasses

    session = make_session(tmp_path, html=False)
    finished(session, probe("fam/test_a[cpu]", {"x.is_leaf": True}, "cpu"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        session.outcome.status = 0
    assert session.outcome.status == EXIT_TABLE and session.outcome.report_path == tmp_path / "reports" / "run.json"
