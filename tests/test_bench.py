"""The benchmark's verdicts cannot be fooled: a busy machine is not judged, a suite faster than its own floor is
a measurement error (the figures themselves are measured by bench/run.py, never in a timed test)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_ratio_taken_on_a_busy_machine_is_not_judged(bench):
    word, record = bench.judged("suite -n 2 / its floor", 0.17, busy=True, floor_ratio=True)
    assert word == "not judged: busy machine" and record["met"] is None


def test_a_suite_faster_than_its_own_floor_is_a_measurement_error(bench):
    word, record = bench.judged("suite -n 2 / its floor", 0.17, busy=False, floor_ratio=True)
    assert word.startswith("measurement error") and record["met"] is None and record["error"]


def test_targets_are_met_or_not_on_a_quiet_machine(bench):
    assert bench.judged("suite -n 2 / its floor", 1.2, busy=False, floor_ratio=True)[0] == "met"
    assert bench.judged("speed-up -n 2 vs -n 0", 1.34, busy=False)[0] == "NOT met"


def test_other_processes_cpu_time_is_counted(bench):
    """A child that spins while another process also spins: the other's CPU time is seen."""
    import subprocess
    import sys

    hog = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time()\nwhile time.time() - t < 3: pass"])
    try:
        measured = bench.measure([[sys.executable, "-c", "import time; time.sleep(2)"]], {})
    finally:
        hog.wait()
    assert measured["others_cpu"] is not None and measured["others_cpu"] > 1.0 and measured["busy"]
