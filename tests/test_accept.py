"""Accepting a candidate run's differences into a team's own table: when blocks from the candidate's release on,
with the team's reason; the candidate is green afterwards, and the team's earlier rows are unchanged."""

from __future__ import annotations

import pytest

from autograd_conformance.accept import AcceptError, accept
from autograd_conformance.cli import main
from autograd_conformance.report import load

PROBES = '''
import torch


def test_count(obs):
    """A fact the candidate observes differently."""
    obs.fact("x.count", 2)


def test_same(obs):
    """A fact that does not change."""
    obs.fact("y.count", 1)
'''


def test_accepting_makes_the_candidate_green_and_keeps_the_earlier_rows(project, capsys):
    project.probes(PROBES)
    project.table('["fam/test_count"]\n"x.count" = 1\n\n["fam/test_same"]\n"y.count" = 1\n')
    assert project.run().ret == 1
    table = project.root / "suites" / "expectations"
    candidate = str(project.report_path())
    assert main(["accept", candidate, "--expectations", str(table), "--reason", "the candidate counts two",
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "accepted 1 probe as of torch" in out and "+torch = " in out and "dry run: nothing written" in out
    assert '"x.count" = 1' in project.table_text() and "when" not in project.table_text()
    assert main(["accept", candidate, "--expectations", str(table), "--reason", "the candidate counts two",
                 "--link", "https://example.org/pr/1"]) == 0
    text = project.table_text()
    assert '["fam/test_count"]\n"x.count" = 1\n' in text  # what the current pin says stays
    assert 'reason = "the candidate counts two"' in text and 'link = "https://example.org/pr/1"' in text
    assert project.run().ret == 0


def test_accept_needs_a_reason_and_never_writes_the_installed_table(project, tmp_path):
    project.probes(PROBES)
    project.table('["fam/test_count"]\n"x.count" = 1\n\n["fam/test_same"]\n"y.count" = 1\n')
    project.run()
    candidate = load(project.report_path())
    with pytest.raises(AcceptError, match="--reason is required"):
        accept(tmp_path / "mine", candidate, " ")
    import autograd_conformance.suites as bundled
    from pathlib import Path

    installed = Path(bundled.__file__).parent / "expectations"
    if "site-packages" in str(installed):
        with pytest.raises(AcceptError, match="never written"):
            accept(installed, candidate, "a reason")
    with pytest.raises(AcceptError, match="no probe of"):
        accept(tmp_path / "mine", candidate, "a reason", selected=["other/*"])
