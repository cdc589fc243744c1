"""The history command's release loop (the per-release install and run are replaced: they need the registry)."""

from __future__ import annotations

from autograd_conformance import history
from autograd_conformance.cli import main


def _runner(tmp_path, calls, failing=()):
    def run_release(plan, release):
        calls.append(release)
        if release in failing:
            raise history.HistoryError(f"torch {release}: install: `uv pip install …` exited 1")
        return history.Outcome(release, tmp_path / "reports" / f"torch-{release}.json", 10, 1.0, 1.0, "numpy 2")
    return run_release


def _history(tmp_path, *args):
    return main(["history", "--work", str(tmp_path / "work"), "--reports", str(tmp_path / "reports"), *args])


def test_a_failed_release_does_not_stop_the_others_and_nothing_is_recorded(tmp_path, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(history, "run_release", _runner(tmp_path, calls, failing={"2.1.2"}))
    monkeypatch.setattr(history, "record", lambda *a: (_ for _ in ()).throw(AssertionError("recorded")))
    assert _history(tmp_path, "--releases", "2.0.1,2.1.2,2.2.2") == 2
    assert calls == ["2.0.1", "2.1.2", "2.2.2"]
    out, err = capsys.readouterr()
    assert "torch 2.1.2: FAILED: torch 2.1.2: install" in out and "torch 2.2.2: 10 probes" in out
    assert "1 releases failed (2.1.2) and 0 probe runs broke" in err and "nothing recorded" in err


def test_reuse_keeps_the_reports_already_there(tmp_path, monkeypatch, capsys):
    calls = []
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "torch-2.0.1.json").write_text("{}")
    monkeypatch.setattr(history, "run_release", _runner(tmp_path, calls))
    assert _history(tmp_path, "--releases", "2.0.1,2.1.2", "--reuse", "--no-record") == 0
    assert calls == ["2.1.2"]
    assert "torch 2.0.1: kept the report already there" in capsys.readouterr().out
