"""``autograd-conformance init``: a team's own probe suite, scaffolded (its table directory, a starter probe,
and optionally the CI workflow), with the next steps in words."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from .errors import ConformanceError
from .files import write_atomic

#: Where ``init --ci`` writes the CI gate, relative to the repository's root (where ``init`` runs).
WORKFLOW = Path(".github") / "workflows" / "autograd-conformance.yml"

STARTER_PROBE = '''"""Our own assumptions about autograd: each probe records facts, the table says what we rely on."""

import torch


def test_detach_shares_storage(obs, device):
    """detach() returns a leaf without grad that shares storage and the version counter."""
    x = torch.ones(3, device=device, requires_grad=True)
    y = x.detach()
    y.add_(1)
    obs.facts_of("y", y, "is_leaf", "requires_grad", "version")
    obs.fact("storage.same", y.data_ptr() == x.data_ptr())
'''


TABLE_README = """# Our autograd expectations

One TOML file per probe family: what torch does for each of our probes (and, where we restate them, for probes
of the bundled suite). Written by `pytest --ac-record` and `autograd-conformance accept`, reviewed in diffs.
"""


class ScaffoldError(ConformanceError):
    """A suite that cannot be scaffolded where asked (something is already there); str() is one line."""


def init(directory: Path, family: str = "assumptions", ci: bool = False) -> list[str]:
    """Create ``directory/expectations/`` (the team's table), a starter probe if ``directory`` has no probe
    module yet, and with ``ci`` the workflow; returns what was done and what to do next, line by line."""
    table = directory / "expectations"
    if table.is_dir():
        raise ScaffoldError(f"{table}: a table is already there")
    if ci and WORKFLOW.exists():
        raise ScaffoldError(f"{WORKFLOW}: a workflow is already there")
    said = []
    try:
        table.mkdir(parents=True)
        if ci:
            text = resources.files(__package__).joinpath("templates", "conformance-workflow.yml").read_text()
            write_atomic(WORKFLOW, text.replace('PROBES: "tests/autograd"', f'PROBES: "{directory.as_posix()}"'))
            said.append(f"wrote {WORKFLOW} (set CURRENT_TORCH to your pin)")
        (table / "README.md").write_text(TABLE_README)  # git keeps the directory; a reader learns what it is
        ignore = Path(".gitignore")
        if not ignore.exists() or "reports/" not in ignore.read_text().split():
            with ignore.open("a") as fh:  # a run writes ./reports (about 24 MB): run output, not source
                fh.write("reports/\n")
            said.append("added reports/ to .gitignore")
        module = directory / f"test_{family}.py"
        if not module.exists() and not list(directory.glob("test_*.py")):
            module.write_text(STARTER_PROBE)
            said.append(f"wrote {module} (a starter probe: replace it with your own assumptions)")
    except OSError as exc:
        raise ScaffoldError(f"{exc.filename or directory}: cannot write: {exc.strerror or exc}") from None
    said += [f"created {table}", *configuration_lines(table), "then record what torch does and review it:",
             f"  pytest {directory.as_posix()} --ac-record", f"  git diff {table.as_posix()}"]
    return said


def configuration_lines(table: Path) -> list[str]:
    """What to add to the project's pytest configuration, in each file's own syntax."""
    where = table.as_posix()
    return ["next: tell pytest where your table is, in pyproject.toml:", "  [tool.pytest.ini_options]",
            f'  ac_expectations = ["{where}"]', "or in pytest.ini or tox.ini (under [pytest]) or setup.cfg (under "
            "[tool:pytest]):", f"  ac_expectations = {where}"]
