"""The real suites observe the same facts whatever the order and the number of workers."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from autograd_conformance.report import comparable, load

ROOT = Path(__file__).resolve().parents[1]


def run_suites(tmp_path: Path, name: str, *args: str, order: str | None = None, report: str | None = None,
               target: str = "suites") -> dict:
    cmd = [sys.executable, "-m", "pytest", target, "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
           f"--ac-report-dir={tmp_path}", "--ac-run-name", name, *args]
    env = {**os.environ, **({"AC_TEST_ORDER": order} if order else {})}
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return comparable(load(tmp_path / f"{report or name}.json"))


def _differing(a: dict, b: dict) -> list[str]:
    mine = {p["id"]: p for p in b["probes"]}
    return [p["id"] for p in a["probes"] if p["id"] in mine and p != mine[p["id"]]]


@pytest.mark.slow
def test_report_is_identical_serial_parallel_and_reversed(tmp_path):
    serial = run_suites(tmp_path, "serial", "-n", "0")
    parallel = run_suites(tmp_path, "parallel", "-n", "2")
    backwards = run_suites(tmp_path, "reversed", "-n", "0", "-p", "tests.reorder", order="reverse")
    shuffled = run_suites(tmp_path, "shuffled", "-n", "0", "-p", "tests.reorder", order="shuffle:20261205")
    for report in (serial, parallel, backwards, shuffled):
        report["run_info"].pop("run_name")
    for other in (parallel, backwards, shuffled):
        differing = [a["id"] for a, b in zip(serial["probes"], other["probes"]) if a != b]
        assert not differing, f"probes observed differently: {differing[:10]}"
        assert serial == other
    assert any("warns" in fact for p in serial["probes"] for fact in p["observation"]), \
        "expected warning facts in the suites, so that order independence of warnings is actually exercised"
    # A sample of probes, each alone in a fresh process (the first probe of its process): the same facts.
    sample = random.Random(20261205).sample([p["nodeid"] for p in serial["probes"]], 12)
    for k, nodeid in enumerate(sample):
        alone = run_suites(tmp_path, f"alone-{k}", "-n", "0", target=nodeid, report=f"alone-{k}.partial")
        assert not _differing(alone, serial), f"{nodeid} observes other facts alone in a fresh process"
