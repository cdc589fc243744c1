"""Tests of the autograd-conformance command line."""

import pytest

from autograd_conformance.cli import main
from autograd_conformance.facts import vocabulary_markdown


def test_facts_prints_the_vocabulary(capsys):
    assert main(["facts"]) == 0
    assert capsys.readouterr().out.strip() == vocabulary_markdown()


def test_compact_rewrites_and_dry_run_writes_nothing(tmp_path, capsys):
    table = tmp_path / "fam.toml"
    table.write_text('["fam/t[*-a]"]\n"x.is_leaf" = true\n\n["fam/t[*-b]"]\n"x.is_leaf" = true\n')
    before = table.read_text()
    assert main(["compact", "--expectations", str(tmp_path), "--dry-run"]) == 0
    assert table.read_text() == before
    assert main(["compact", "--expectations", str(tmp_path)]) == 0
    assert table.read_text() == '["fam/t[*]"]\n"x.is_leaf" = true\n'
    assert "1 file(s) rewritten" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["compact", "--expectations", "/nonexistent/dir"], "no such table directory"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_compact_refuses_a_broken_table(tmp_path, capsys):
    table = tmp_path / "fam.toml"
    table.write_text('["fam/t"]\n"x.bogus" = 1\n')
    assert main(["compact", "--expectations", str(tmp_path)]) == 2
    assert "fam.toml: [fam/t]: fact 'x.bogus'" in capsys.readouterr().err
    assert table.read_text() == '["fam/t"]\n"x.bogus" = 1\n'


def test_unknown_command_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
