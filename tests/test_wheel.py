"""End to end, as a new user: build the wheel, install it with torch 2.13.0 into a fresh venv, and from an empty
directory run the bundled suite, then a host project with probes and a table of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from .test_host import HOST_CONFTEST, HOST_TESTS, TEAM_PROBES

ROOT = Path(__file__).resolve().parents[1]
TORCH = "torch==2.13.0"


def sh(*cmd: str | Path, cwd: Path, ok: tuple[int, ...] = (0,), timeout: int = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "VIRTUAL_ENV", "PYTHONPATH"))}
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode in ok, f"{cmd} exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the project's wheel and torch 2.13.0 (the local CPU wheel)."""
    base = tmp_path_factory.mktemp("wheel")
    started = time.perf_counter()
    sh(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", base / "dist", ROOT, cwd=base)
    (wheel,) = (base / "dist").glob("autograd_conformance-*.whl")
    sh(sys.executable, "-m", "venv", base / "venv", cwd=base)
    pip = base / "venv" / "bin" / "pip"
    sh(pip, "install", "-q", TORCH, wheel, cwd=base)
    print(f"built and installed in {time.perf_counter() - started:.0f} s")
    return base / "venv"


def expected_count() -> int:
    """Every probe of the checkout's suites, as the plain runner enumerates them on cpu (in a fresh process:
    torch's OpInfo database cannot be imported twice in one)."""
    code = ("from pathlib import Path; from autograd_conformance.direct import iter_probes; "
            f"print(sum(1 for _ in iter_probes(Path({str(ROOT / 'suites')!r}))))")
    return int(sh(sys.executable, "-c", code, cwd=ROOT).stdout.split()[-1])


@pytest.mark.slow
def test_the_installed_package_runs_the_bundled_suite_from_an_empty_directory(venv, tmp_path):
    import torch

    if torch.__version__.split("+")[0] != TORCH.split("==")[1]:
        pytest.skip(f"compares probe counts with this environment's torch {torch.__version__}")
    started = time.perf_counter()
    done = sh(venv / "bin" / "autograd-conformance", "run", "-q", cwd=tmp_path)
    print(f"bundled suite: {time.perf_counter() - started:.0f} s")
    assert done.stdout.rstrip().splitlines()[-1] == (f"autograd-conformance: PASS (exit 0): {expected_count()} probes "
                                                      f"conform to the table")
    (path,) = (tmp_path / "reports").glob("torch-2.13.0*.json")
    report = json.loads(path.read_text())
    assert report["summary"]["pass"] == report["summary"]["total"] == expected_count()
    assert report["run_info"]["table_dirs"] == ["suites/expectations"]  # relative to the installed package
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == ["reports"]
    # The installed table is never written by a run.
    done = sh(venv / "bin" / "autograd-conformance", "run", "-q", "-k", "test_ne_backward", "--ac-record",
              cwd=tmp_path, ok=(2,))  # a usage error
    assert "is part of the installed package and is never written" in done.stdout


@pytest.mark.slow
def test_a_host_project_with_its_own_probes_and_table(venv, tmp_path):
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent('''
        [tool.pytest.ini_options]
        testpaths = ["tests", "probes"]
        ac_expectations = "probes/expectations"
    '''))
    (tmp_path / "conftest.py").write_text(HOST_CONFTEST)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_host.py").write_text(HOST_TESTS)
    (tmp_path / "probes").mkdir()
    (tmp_path / "probes" / "test_team.py").write_text(TEAM_PROBES)
    pytest_ = venv / "bin" / "pytest"

    # The host's own tests alone: the plugin (loaded from its entry point) changes nothing and writes nothing.
    done = sh(pytest_, "tests", cwd=tmp_path)
    assert "3 passed" in done.stdout and not (tmp_path / "reports").exists()
    # The team records its table (explicitly created), then its tests and probes pass together, with the
    # host's hypothesis profile, device fixture and SIGTERM handler untouched.
    sh(pytest_, "probes", "--ac-record=init", cwd=tmp_path)
    assert (tmp_path / "probes" / "expectations" / "team.toml").is_file()
    done = sh(pytest_, cwd=tmp_path)
    assert "5 passed" in done.stdout
    report = json.loads((tmp_path / "reports" / "torch-2.13.0+cpu-probes.json").read_text())  # named for its suite
    assert {p["id"]: p["verdict"] for p in report["probes"]} == {
        "team/test_detach_shares_version[cpu]": "pass", "team/test_sum_grad_fn": "pass"}
    # Together with the bundled suite, in one run and one report.
    done = sh(pytest_, "--pyargs", "autograd_conformance.suites", "probes", "-q", "-m", "not ops",
              "--ac-run-name=together", cwd=tmp_path)
    together = json.loads((tmp_path / "reports" / "together.partial.json").read_text())  # -m selects
    families = {p["family"] for p in together["probes"]}
    assert {"team", "leaf", "inplace"} <= families and together["summary"]["pass"] == together["summary"]["total"]


def _workflow_commands(job: dict, which: str, torch_pin: str) -> list[str]:
    """The ``run:`` commands of a workflow job, in order, as GitHub would expand them for ``matrix.which``."""
    import re

    commands = []
    for step in job["steps"]:
        if "run" not in step:
            continue
        text = re.sub(r"\$\{\{[^}]*CURRENT_TORCH[^}]*\}\}", torch_pin, step["run"])
        commands.append(text.replace("${{ matrix.which }}", which))
    return commands


@pytest.mark.slow
def test_the_generated_workflow_runs_as_written(venv, tmp_path):
    """``init --ci`` writes the workflow; its gate job's commands, run in order for the current pin and for a
    candidate (here the same torch: the mechanics are what is tested), then the diff job's, all succeed in a
    team's repository with a package of its own, and produce every report and diff the workflow publishes."""
    import yaml

    (tmp_path / "pyproject.toml").write_text(textwrap.dedent('''
        [build-system]
        requires = ["setuptools>=68"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "scratch-team"
        version = "0.0.1"

        [tool.setuptools]
        packages = []

        [tool.pytest.ini_options]
        ac_expectations = ["tests/autograd/expectations"]
    '''))
    bin_dir = venv / "bin"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "VIRTUAL_ENV", "PYTHONPATH"))},
           "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    sh(bin_dir / "autograd-conformance", "init", "tests/autograd", "--ci", cwd=tmp_path)
    sh(bin_dir / "python", "-m", "pytest", "tests/autograd", "--ac-record", cwd=tmp_path)
    workflow = yaml.safe_load((tmp_path / ".github" / "workflows" / "autograd-conformance.yml").read_text())
    (wheel,) = (venv.parent / "dist").glob("autograd_conformance-*.whl")
    # The workflow's own env, with the package from the wheel and torch from this machine's index (the
    # workflow's extra index, download.pytorch.org, is not reachable from here).
    env.update({k: v for k, v in workflow["env"].items() if k != "PIP_EXTRA_INDEX_URL"})
    env.update(CONFORMANCE=str(wheel), CURRENT_TORCH=TORCH, GITHUB_STEP_SUMMARY=str(tmp_path / "summary.md"))
    assert env["PROBES"] == "tests/autograd"  # init --ci named the suite it made
    for which in ("current", "candidate"):
        for command in _workflow_commands(workflow["jobs"]["gate"], which, TORCH):
            done = subprocess.run(["bash", "-e", "-c", command], cwd=tmp_path, env=env, capture_output=True,
                                  text=True, timeout=900)
            assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    for command in _workflow_commands(workflow["jobs"]["diff"], "", TORCH):
        done = subprocess.run(["bash", "-e", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, f"{command}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
    reports = {p.name for p in (tmp_path / "reports").iterdir()}
    assert {"current.json", "candidate.json", "current-own.json", "candidate-own.json", "diff.html",
            "diff-own.html"} <= reports
    assert (tmp_path / "diff.md").exists() and (tmp_path / "diff-own.md").exists()
