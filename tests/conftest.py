"""Self-test fixtures: pytester, and a helper that lays out a small probe project in its temporary directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch  # noqa: F401 - imported before pytester's in-process runs snapshot sys.modules: torch cannot be imported twice

from autograd_conformance.report import Report, load

pytest_plugins = ["pytester"]

INI = """
[pytest]
testpaths = suites
addopts = -p no:cacheprovider -p no:randomly
ac_expectations = suites/expectations
ac_report_dir = reports
"""

CONFTEST = 'pytest_plugins = ["autograd_conformance.plugin"]\n'

PROBES = '''
import torch

def test_leaf(obs, device):
    """A factory with requires_grad=True gives a leaf that requires grad."""
    x = torch.ones(2, device=device, requires_grad=True)
    obs.facts_of("x", x)

def test_sum(obs):
    """sum of a leaf that requires grad has SumBackward0."""
    y = torch.ones(2, requires_grad=True).sum()
    obs.facts_of("y", y)
'''

TABLE = '''
["fam/test_leaf[*]"]
"x.grad_fn" = false
"x.is_leaf" = true
"x.requires_grad" = true

["fam/test_sum"]
"y.grad_fn" = "SumBackward0"
"y.is_leaf" = false
"y.requires_grad" = true
'''


class Project:
    """A probe project inside pytester's directory: suites/test_fam.py and suites/expectations/fam.toml."""

    def __init__(self, pytester: pytest.Pytester) -> None:
        self.pytester = pytester
        self.root = Path(pytester.path)
        pytester.makeini(INI)
        pytester.makeconftest(CONFTEST)
        (self.root / "suites" / "expectations").mkdir(parents=True)
        self.probes(PROBES)
        self.table(TABLE)

    def probes(self, source: str, family: str = "fam") -> None:
        (self.root / "suites" / f"test_{family}.py").write_text(source)

    def table(self, text: str, family: str = "fam") -> Path:
        path = self.root / "suites" / "expectations" / f"{family}.toml"
        path.write_text(text)
        return path

    def table_text(self, family: str = "fam") -> str:
        return (self.root / "suites" / "expectations" / f"{family}.toml").read_text()

    def run(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest(*args)

    def run_subprocess(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest_subprocess(*args)

    def report_path(self, name: str | None = None) -> Path:
        return self.root / "reports" / f"{name or run_name()}.json"

    def report(self, name: str | None = None) -> dict:
        """The report as the JSON a user reads."""
        return json.loads(self.report_path(name).read_text())

    def loaded(self, name: str | None = None) -> Report:
        """The report as the harness reads it (validated, typed)."""
        return load(self.report_path(name))


def run_name(*parts: str, kind: str | None = None) -> str:
    """The report name a run of the project's suite gets: its torch, the other modes it ran, the suite's
    directory (``suites``), and ``.kind`` for a report that is not a full baseline."""
    import torch

    return "-".join([f"torch-{torch.__version__}", *parts, "suites"]) + (f".{kind}" if kind else "")


@pytest.fixture
def project(pytester: pytest.Pytester) -> Project:
    return Project(pytester)
