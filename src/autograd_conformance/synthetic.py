"""Synthetic reports of any size, for rendering/diff tests and benchmarks (no torch run needed)."""

from __future__ import annotations

from typing import Any

from .facts import SEMANTIC, TEXT
from .report import Report, RunInfo
from .result import Expectation, Location, ProbeResult
from .verdict import DRIFT, MISMATCH, MISSING, SKIPPED, VERDICTS, Mismatch

RUN_INFO: dict[str, Any] = {
    "run_name": "synthetic", "torch_version": "2.13.0+cpu", "torch_git_version": "0" * 40,
    "table_torch_version": "2.13.0+cpu", "python": "3.11.7",
    "devices": {"cpu": {"available": True, "generated": True, "probes": 0}, "cuda": {"available": False}},
    "platform": "Linux", "pytest_args": [], "hypothesis": {}, "table_hash": "a" * 64,
    "table_dir": "suites/expectations", "table_dirs": ["suites/expectations"], "harness_version": "0.1.0", "run_kind": "compare", "partial": False,
    "started": "2026-01-01T00:00:00+00:00", "finished": "2026-01-01T00:01:00+00:00", "duration": 60.0,
    "workers": 0, "numpy": None,
}

SOURCE = '''import torch


def test_probe(obs, device):
    """A synthetic probe."""
    x = torch.ones(2, device=device, requires_grad=True)
    obs.facts_of("x", x)
'''


def probe(index: int, family: str, verdict: str = "pass", message: str | None = None) -> ProbeResult:
    facts = {"x.is_leaf": True, "x.requires_grad": True, "x.grad_fn": None,
             "y.grad_fn": f"Op{index % 50}Backward0", "backward.raises": None,
             "x.grad": {"dtype": "torch.float32", "shape": [2], "values": [1.0, float(index % 7)]}}
    expected = dict(facts)
    mismatches = []
    row = f"{family}.toml [{family}/test_probe[*]]"
    if verdict in (MISMATCH, DRIFT):
        fact = "y.grad_fn" if verdict == MISMATCH else "backward.message"
        kind = SEMANTIC if verdict == MISMATCH else TEXT
        expected[fact] = "ExpectedBackward0"
        facts.setdefault(fact, "observed text")
        mismatches.append(Mismatch(fact, kind, expected[fact], facts[fact], row))
    return ProbeResult(
        id=f"{family}/test_probe[cpu-{index}]", family=family, nodeid=f"suites/test_{family}.py::test_probe[cpu-{index}]",
        verdict=verdict, device="cpu", params={"device": "cpu", "case": index},
        observation={} if verdict == SKIPPED else facts,
        expectation=None if verdict in (MISSING, SKIPPED) else Expectation(
            expected, {k: row for k in expected}, [f"{family}/test_probe[*]"]),
        mismatches=mismatches, duration=0.001, location=Location(f"suites/test_{family}.py", 4, 7),
        doc="A synthetic probe.", message=message, repro=f"run_probe(test_probe, device='cpu', case={index})\n")


def make_report(n: int, families: int = 10, run_name: str = "synthetic",
                torch_version: str = "2.13.0+cpu") -> Report:
    """A schema-valid report of ``n`` probes spread over families and every verdict."""
    names = [f"family{i:02d}" for i in range(families)]
    cycle = [v for v in VERDICTS for _ in range(1 if v != "pass" else 10)]
    probes = [probe(i, names[i % families], cycle[i % len(cycle)]) for i in range(n)]
    info = RunInfo.from_json({**RUN_INFO, "run_name": run_name, "torch_version": torch_version})
    return Report(info, probes, [], {f: {"file": f"suites/test_{f}.py", "text": SOURCE} for f in names})
