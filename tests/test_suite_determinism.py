"""The real suites observe the same facts whatever the order and the number of workers."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autograd_conformance.report import comparable, load

ROOT = Path(__file__).resolve().parents[1]


def run_suites(tmp_path: Path, name: str, *args: str) -> dict:
    cmd = [sys.executable, "-m", "pytest", "suites", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
           "--ac-report-dir", str(tmp_path), "--ac-run-name", name, *args]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return comparable(load(tmp_path / f"{name}.json"))


@pytest.mark.slow
def test_report_is_identical_serial_parallel_and_reversed(tmp_path):
    serial = run_suites(tmp_path, "serial", "-n", "0")
    parallel = run_suites(tmp_path, "parallel", "-n", "2")
    backwards = run_suites(tmp_path, "reversed", "-n", "0", "-p", "tests.reverse_order")
    for report in (serial, parallel, backwards):
        report["run_info"].pop("run_name")
    for other in (parallel, backwards):
        differing = [a["id"] for a, b in zip(serial["probes"], other["probes"]) if a != b]
        assert not differing, f"probes observed differently: {differing[:10]}"
        assert serial == other
    assert any("warns" in fact for p in serial["probes"] for fact in p["observation"]), \
        "expected warning facts in the suites, so that order independence of warnings is actually exercised"
