"""The team's upgrade loop end to end, from the built wheel in fresh virtual environments and a scratch team
repository: init, an own probe, record, the baseline on torch 2.13.0, the candidate on another torch, the diff
with the table's reasons, accept, the candidate green, and the baseline report unchanged throughout.

It needs the candidate torch (a multi-GB build): it runs where ``AC_E2E_CANDIDATE`` names one (``.ci/run`` sets
``torch==2.14.1``) and is skipped elsewhere."""

from __future__ import annotations

import os
import shutil
import textwrap
from pathlib import Path

import pytest

from .test_wheel import TORCH, sh, venv  # noqa: F401 - venv: the wheel in a fresh venv with torch 2.13.0

CANDIDATE = os.environ.get("AC_E2E_CANDIDATE")

TEAM_PROBE = '''"""What our training code relies on."""

import torch


def test_clamp_gradient_at_its_bound(obs):
    """clamp(0, 1)'s gradient at points inside, at and beyond its bounds."""
    x = torch.tensor([-0.5, 0.0, 0.5, 1.0, 1.5], requires_grad=True)
    x.clamp(0.0, 1.0).sum().backward()
    obs.tensor("x.grad", x.grad)
'''


@pytest.fixture(scope="module")
def candidate_venv(venv: Path, tmp_path_factory: pytest.TempPathFactory):
    """A second fresh venv: the same wheel, the candidate torch (removed afterwards: it takes ~5 GB)."""
    base = tmp_path_factory.mktemp("candidate")
    (wheel,) = (venv.parent / "dist").glob("autograd_conformance-*.whl")
    sh("python3.11", "-m", "venv", base / "venv", cwd=base)
    sh(base / "venv" / "bin" / "pip", "install", "-q", "--no-cache-dir", CANDIDATE, wheel, cwd=base)
    yield base / "venv"
    shutil.rmtree(base, ignore_errors=True)


@pytest.mark.slow
@pytest.mark.skipif(not CANDIDATE, reason="set AC_E2E_CANDIDATE to a torch pin (e.g. torch==2.14.1) to run the loop")
def test_the_upgrade_loop_from_the_wheel(venv, candidate_venv, tmp_path):
    repo = tmp_path / "team"
    repo.mkdir()
    (repo / "pyproject.toml").write_text(textwrap.dedent('''
        [tool.pytest.ini_options]
        ac_expectations = ["tests/autograd/expectations"]
    '''))
    current, candidate = venv / "bin", candidate_venv / "bin"
    sh(current / "autograd-conformance", "init", "tests/autograd", cwd=repo)
    (repo / "tests" / "autograd" / "test_assumptions.py").write_text(TEAM_PROBE)
    sh(current / "pytest", "tests/autograd", "--ac-record", cwd=repo)
    table = repo / "tests" / "autograd" / "expectations"
    assert '["assumptions/test_clamp_gradient_at_its_bound"]' in (table / "assumptions.toml").read_text()

    # 1. The baseline on the current pin: the bundled suite and the team's probes, each under its own name.
    done = sh(current / "autograd-conformance", "run", "-n", "2", cwd=repo)
    assert done.stdout.strip().splitlines()[-1].startswith("autograd-conformance: PASS (exit 0)")
    sh(current / "pytest", "tests/autograd", cwd=repo)
    reports = repo / "reports"
    (baseline,) = [p for p in reports.glob(f"torch-{TORCH.split('==')[1]}*.json") if "-tests-autograd" not in p.name]
    frozen = baseline.read_bytes()

    # 2. The candidate: the bundled suite (the bundled table describes the release), and the team's probe,
    #    whose pinned gradient the candidate changes.
    sh(candidate / "autograd-conformance", "run", "-n", "2", cwd=repo, ok=(0, 1))
    own = sh(candidate / "pytest", "tests/autograd", cwd=repo, ok=(1,))
    assert own.stdout.strip().splitlines()[-1].startswith("autograd-conformance: FAIL (exit 1): autograd behaves")
    version = CANDIDATE.split("==")[1]
    (bundled_candidate,) = [p for p in reports.glob(f"torch-{version}*.json") if "-tests-autograd" not in p.name]
    (own_candidate,) = reports.glob(f"torch-{version}*-tests-autograd.json")
    (own_baseline,) = reports.glob(f"torch-{TORCH.split('==')[1]}*-tests-autograd.json")

    # 3. Decide: the bundled diff gives the table's reasons; the team's diff says what is not stated.
    text = sh(current / "autograd-conformance", "diff", baseline, bundled_candidate, cwd=repo, ok=(0, 1)).stdout
    assert "cause: torch 2.14 gives clamp/clip a zero gradient exactly at a scalar bound" in text
    text = sh(current / "autograd-conformance", "diff", own_baseline, own_candidate, cwd=repo, ok=(1,)).stdout
    assert "not stated by the table: to decide on" in text and "test_clamp_gradient_at_its_bound" in text

    # 4. Accept it into the team's table; the candidate is green, and so is the current pin.
    sh(current / "autograd-conformance", "accept", own_candidate, "--expectations", table, "--reason",
       "torch 2.14 aligned clamp's subgradient at its bounds", cwd=repo)
    assert f'torch = ">={version}"' in (table / "assumptions.toml").read_text()
    done = sh(candidate / "pytest", "tests/autograd", cwd=repo)
    assert done.stdout.strip().splitlines()[-1].startswith("autograd-conformance: PASS (exit 0)")
    done = sh(current / "pytest", "tests/autograd", cwd=repo)
    assert done.stdout.strip().splitlines()[-1].startswith("autograd-conformance: PASS (exit 0)")
    assert baseline.read_bytes() == frozen  # no run of the loop replaced the baseline
