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


def _write(tmp_path, name, report):
    import json

    path = tmp_path / name
    path.write_text(json.dumps(report if isinstance(report, dict) else report.to_json()))
    return str(path)


def test_html_writes_beside_the_report(tmp_path):
    from autograd_conformance.synthetic import make_report

    path = _write(tmp_path, "r.json", make_report(5))
    assert main(["html", path]) == 0
    assert (tmp_path / "r.html").read_text().startswith("<!doctype html>")
    assert main(["html", path, "-o", str(tmp_path / "x.html")]) == 0
    assert (tmp_path / "x.html").exists()


def test_diff_exit_codes_and_formats(tmp_path, capsys):
    import copy

    from autograd_conformance.synthetic import make_report

    before = make_report(10)
    after = copy.deepcopy(before)
    a, b = _write(tmp_path, "a.json", before), _write(tmp_path, "b.json", after)
    assert main(["diff", a, b]) == 0
    target = next(p for p in after.probes if p.verdict == "pass")
    target.observation["backward.message"] = "reworded"
    b = _write(tmp_path, "b.json", after)
    assert main(["diff", a, b]) == 1
    assert main(["diff", a, b, "--fail-on", "semantic"]) == 0
    assert main(["diff", a, b, "--ignore", "*.message"]) == 0
    for fmt in ("text", "markdown", "json", "html"):
        out = tmp_path / f"d.{fmt}"
        assert main(["diff", a, b, "--format", fmt, "-o", str(out)]) == 1
        assert out.stat().st_size > 100


@pytest.mark.parametrize("content", [None, "", "{not json", '{"schema_version": 1}', '{"schema_version": 7}', "dir"])
def test_diff_and_html_bad_reports_exit_2_with_one_line(tmp_path, capsys, content):
    from autograd_conformance.synthetic import make_report

    good = _write(tmp_path, "good.json", make_report(3))
    bad = tmp_path / "bad.json"
    if content == "dir":
        bad.mkdir()
    elif content is not None:
        bad.write_text(content)
    capsys.readouterr()
    assert main(["diff", good, str(bad)]) == 2
    assert main(["html", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("autograd-conformance: error: ") and str(bad) in line
                                 for line in err)


def test_version(capsys):
    from autograd_conformance import __version__

    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"autograd-conformance {__version__}"


def test_record_writes_a_new_table_only_when_asked(tmp_path, capsys):
    from autograd_conformance.synthetic import make_report

    report = make_report(20)
    report.probes = [p for p in report.probes if p.verdict in ("pass", "mismatch", "drift", "missing")]
    path = _write(tmp_path, "r.json", report)
    table = tmp_path / "new-table"
    assert main(["record", "--expectations", str(table), path]) == 2
    assert "no such table directory (pass --init to create one)" in capsys.readouterr().err
    assert not table.exists()
    assert main(["record", "--expectations", str(table), "--init", path]) == 0
    assert sorted(p.name for p in table.iterdir()) == sorted({f"{p.family}.toml" for p in report.probes})
