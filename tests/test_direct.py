"""Probes run without pytest: the benchmark floor and the proof that probes are plain functions."""

import shutil
from pathlib import Path

from autograd_conformance.direct import iter_probes, run_suites
from autograd_conformance.observe import Observation, probe_context

SUITES = Path(__file__).resolve().parents[1] / "suites"


def test_iter_probes_expands_parametrize_marks_and_devices(tmp_path):
    shutil.copy(SUITES / "test_leaf.py", tmp_path)
    probes = list(iter_probes(tmp_path))
    names = [name for name, _, _ in probes]
    assert names.count("leaf/test_factory_with_requires_grad") == 12
    assert all(kwargs.get("device") == "cpu" for name, _, kwargs in probes if name.endswith("with_requires_grad"))
    name, fn, kwargs = next(p for p in probes if p[0] == "leaf/test_view_of_leaf")
    obs = Observation()
    with probe_context():
        fn(obs, **kwargs)
    assert obs.facts == {"v.is_leaf": False, "v.requires_grad": True, "v.grad_fn": "ViewBackward0"}


def test_run_suites_runs_every_probe(tmp_path):
    shutil.copy(SUITES / "test_reference.py", tmp_path)
    assert run_suites(tmp_path) == {"probes": 7, "errors": 0}
