"""Reliability: crashing and hanging probes, interrupted and concurrent runs, determinism."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from autograd_conformance.cli import main
from autograd_conformance.report import load
from tests.conftest import run_name

PLANTED = '''
import os
import signal
import time

import torch

def test_a_first(obs):
    """Runs before the planted probe."""
    obs.facts_of("x", torch.ones(1, requires_grad=True))

def test_b_planted(obs):
    """The planted probe (crashes, hangs or interrupts the run, as each test plants it)."""
    ACTION

def test_c_last(obs):
    """Runs after the planted probe."""
    obs.facts_of("x", torch.ones(1, requires_grad=True))
'''

TABLE = '''
["fam/test_a_first"]
"x.grad_fn" = false
"x.is_leaf" = true
"x.requires_grad" = true

["fam/test_b_planted"]
"x.count" = 1

["fam/test_c_last"]
"x.grad_fn" = false
"x.is_leaf" = true
"x.requires_grad" = true
'''


def plant(project, action: str) -> None:
    project.probes(PLANTED.replace("ACTION", action))
    project.table(TABLE)


def verdicts(report: dict) -> dict[str, str]:
    return {p["id"]: p["verdict"] for p in report["probes"]}


def test_crash_under_xdist_is_a_verdict_and_the_rest_is_kept(project):
    plant(project, "obs.fact('x.count', 1)")
    assert project.run_subprocess("-n", "0").ret == 0  # a complete report first
    baseline = project.report_path().read_text()
    plant(project, "os.abort()")
    result = project.run_subprocess("-n", "2")
    assert result.ret == 1
    assert project.report_path().read_text() == baseline  # a run with a crash never replaces a full report
    result.stdout.fnmatch_lines(["*a run in which 1 probe crashed: the full report * is left as it was*"])
    report = project.report(run_name(kind="crashed"))
    assert verdicts(report) == {"fam/test_a_first": "pass", "fam/test_b_planted": "crashed",
                                "fam/test_c_last": "pass"}
    crashed = next(p for p in report["probes"] if p["verdict"] == "crashed")
    assert "crashed" in crashed["message"]
    assert not list((project.root / "reports").glob("*.jsonl"))


def test_crash_without_xdist_leaves_a_stream_that_html_and_diff_read(project, capsys):
    plant(project, "obs.fact('x.count', 1)")
    assert project.run_subprocess("-n", "0").ret == 0  # a complete report first
    previous = (project.root / "reports" / f"{run_name()}.json").read_text()
    plant(project, "os.abort()")
    result = project.run_subprocess("-n", "0")
    assert result.ret not in (0, 1, 2, 3, 4, 5)  # the process died
    reports = project.root / "reports"
    assert (reports / f"{run_name()}.json").read_text() == previous  # the last complete report is intact
    stream = reports / f"{run_name()}.jsonl"
    partial = load(stream).to_json()
    assert partial["run_info"]["complete"] is False
    assert verdicts(partial) == {"fam/test_a_first": "pass", "fam/test_b_planted": "crashed"}
    assert main(["html", str(stream), "-o", str(project.root / "partial.html")]) == 0
    assert "crashed" in (project.root / "partial.html").read_text()
    assert main(["diff", str(reports / f"{run_name()}.json"), str(stream)]) == 1


@pytest.fixture
def first_green(project):
    """A project whose planted probe is harmless in its first run (so a complete report exists)."""
    def make(action: str):
        project.probes(PLANTED.replace("ACTION", "obs.fact('x.count', 1)"))
        project.table(TABLE)
        assert project.run_subprocess("-n", "0").ret == 0
        previous = (project.root / "reports" / f"{run_name()}.json").read_text()
        project.probes(PLANTED.replace("ACTION", action))
        return previous
    return make


@pytest.mark.parametrize("xdist", [["-n", "0"], ["-n", "2"]])
def test_hanging_probe_times_out(project, xdist):
    plant(project, "time.sleep(60)")
    result = project.run_subprocess(*xdist, "--ac-timeout", "2")
    assert result.ret == 1
    report = project.report()
    assert verdicts(report) == {"fam/test_a_first": "pass", "fam/test_b_planted": "timeout",
                                "fam/test_c_last": "pass"}
    timed_out = next(p for p in report["probes"] if p["verdict"] == "timeout")
    assert "its time limit (2 s by --ac-timeout" in timed_out["message"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_interrupt_keeps_the_last_complete_report(project, first_green, sig):
    previous = first_green(f"os.kill(os.getpid(), signal.{sig.name}); time.sleep(5)")
    result = project.run_subprocess("-n", "0")
    assert result.ret == 2
    reports = project.root / "reports"
    assert (reports / f"{run_name()}.json").read_text() == previous
    events = [json.loads(line)["event"] for line in (reports / f"{run_name()}.jsonl").read_text().splitlines()]
    assert events[0] == "run" and events[-1] == "interrupted"
    partial = load(reports / f"{run_name()}.jsonl").to_json()
    assert partial["run_info"]["interrupted"] is True
    assert verdicts(partial)["fam/test_a_first"] == "pass"
    result.stdout.fnmatch_lines(["*interrupted: * probe results kept in *.jsonl; *.json was left as it was*"])


def test_sigkill_leaves_the_last_complete_report_and_a_readable_stream(project, first_green):
    previous = first_green("os.kill(os.getpid(), signal.SIGKILL)")
    result = project.run_subprocess("-n", "0")
    assert result.ret == -signal.SIGKILL
    reports = project.root / "reports"
    assert (reports / f"{run_name()}.json").read_text() == previous
    stream = reports / f"{run_name()}.jsonl"
    with open(stream, "a") as fh:
        fh.write('{"event": "result", "probe": {"nodeid": "trunc')  # a line cut off by the kill
    assert verdicts(load(stream).to_json()) == {"fam/test_a_first": "pass", "fam/test_b_planted": "crashed"}


@pytest.mark.parametrize("names", [("same", "same"), ("one", "two")])
def test_concurrent_runs_into_one_directory(project, names):
    project.probes(PLANTED.replace("ACTION", "obs.fact('x.count', 1); time.sleep(1)"))
    project.table(TABLE)
    procs = [subprocess.Popen([sys.executable, "-m", "pytest", "-q", "-n", "0", "--ac-run-name", name],
                              cwd=project.root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for name in names]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    for name in set(names):
        report = load(project.root / "reports" / f"{name}.json").to_json()
        assert verdicts(report) == {"fam/test_a_first": "pass", "fam/test_b_planted": "pass",
                                    "fam/test_c_last": "pass"}
    assert not list((project.root / "reports").glob("*.jsonl"))
    assert not list((project.root / "reports").glob(".*.tmp"))


def test_random_values_are_seeded_so_two_runs_observe_the_same(project):
    project.probes('''
import torch

def test_random(obs, device):
    """Random values are the same in every run: probes run seeded."""
    obs.tensor("r", torch.rand(3, device=device))
    obs.fact("randint.value", torch.randint(0, 1000, (3,)).tolist())
''')
    project.table("")
    assert project.run_subprocess("--ac-allow-missing").ret == 0
    first = [p["observation"] for p in project.report()["probes"] if p["verdict"] != "skipped"]
    assert project.run_subprocess("--ac-allow-missing", "-n", "2").ret == 0
    second = [p["observation"] for p in project.report()["probes"] if p["verdict"] != "skipped"]
    assert first == second and first[0]
