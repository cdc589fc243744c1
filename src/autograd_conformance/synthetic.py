"""Synthetic reports of any size, for rendering/diff tests and benchmarks (no torch run needed)."""

from __future__ import annotations

import copy
from typing import Any

from .report import build
from .verdict import VERDICTS

RUN_INFO: dict[str, Any] = {
    "run_name": "synthetic", "torch_version": "2.13.0+cpu", "torch_git_version": "0" * 40,
    "table_torch_version": "2.13.0+cpu", "cuda_available": False, "mps_available": False, "python": "3.11.7",
    "platform": "Linux", "pytest_args": [], "hypothesis": {}, "table_hash": "a" * 64,
    "table_dir": "suites/expectations", "harness_version": "0.1.0", "mode": "compare", "partial": False,
    "started": "2026-01-01T00:00:00+00:00", "finished": "2026-01-01T00:01:00+00:00", "duration": 60.0,
    "workers": 0, "numpy": None,
}

SOURCE = '''import torch


def test_probe(obs, device):
    """A synthetic probe."""
    x = torch.ones(2, device=device, requires_grad=True)
    obs.facts_of("x", x)
'''


def probe(index: int, family: str, verdict: str = "pass", message: str | None = None) -> dict[str, Any]:
    facts = {"x.is_leaf": True, "x.requires_grad": True, "x.grad_fn": None,
             "y.grad_fn": f"Op{index % 50}Backward0", "backward.raises": None,
             "x.grad": {"dtype": "torch.float32", "shape": [2], "values": [1.0, float(index % 7)]}}
    expected = dict(facts)
    mismatches = []
    if verdict in ("mismatch", "drift"):
        fact = "y.grad_fn" if verdict == "mismatch" else "backward.message"
        kind = "semantic" if verdict == "mismatch" else "text"
        expected[fact] = "ExpectedBackward0"
        facts.setdefault(fact, "observed text")
        mismatches.append({"fact": fact, "kind": kind, "expected": expected[fact], "observed": facts[fact],
                           "source": f"{family}.toml [{family}/test_probe[*]]", "note": None})
    return {
        "id": f"{family}/test_probe[cpu-{index}]", "family": family, "nodeid": f"suites/test_{family}.py::test_probe[cpu-{index}]",
        "device": "cpu", "params": {"device": "cpu", "case": index}, "verdict": verdict,
        "observation": {} if verdict == "skipped" else facts,
        "expectation": None if verdict in ("missing", "skipped") else {
            "facts": expected, "sources": {k: f"{family}.toml [{family}/test_probe[*]]" for k in expected},
            "keys": [f"{family}/test_probe[*]"]},
        "mismatches": mismatches, "duration": 0.001, "location": {"file": f"suites/test_{family}.py", "line": 4,
                                                                  "end_line": 7},
        "doc": "A synthetic probe.", "message": message, "repro": f"run_probe(test_probe, device='cpu', case={index})\n",
    }


def make_report(n: int, families: int = 10, run_name: str = "synthetic",
                torch_version: str = "2.13.0+cpu") -> dict[str, Any]:
    """A schema-valid report of ``n`` probes spread over families and every verdict."""
    names = [f"family{i:02d}" for i in range(families)]
    cycle = [v for v in VERDICTS for _ in range(1 if v != "pass" else 10)]
    probes = [probe(i, names[i % families], cycle[i % len(cycle)]) for i in range(n)]
    info = copy.deepcopy(RUN_INFO)
    info.update(run_name=run_name, torch_version=torch_version)
    return build(info, probes, [], {f: {"file": f"suites/test_{f}.py", "text": SOURCE} for f in names})
