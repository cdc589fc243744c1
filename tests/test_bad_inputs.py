"""Bad input of every kind: one clear line naming the file and entry, a documented exit status, nothing destroyed.

Exit statuses: pytest runs exit 4 for a broken table (3 when the report cannot be written); the command line
exits 2 for bad input.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autograd_conformance.cli import main
from autograd_conformance.synthetic import make_report

GOOD_ROW = '["fam/test_sum"]\n"y.grad_fn" = "SumBackward0"\n"y.is_leaf" = false\n"y.requires_grad" = true\n'
LEAF_ROW = '["fam/test_leaf[*]"]\n"x.grad_fn" = false\n"x.is_leaf" = true\n"x.requires_grad" = true\n'

# (id, table text, extra pytest args, exit status, what the one error line must contain)
TABLE_CASES = [
    ("toml-syntax", '["fam/test_sum"\n', [], 4, "fam.toml: TOML syntax error"),
    ("duplicate-key", GOOD_ROW + '"y.is_leaf" = true\n', [], 4, "fam.toml: TOML syntax error: Cannot overwrite"),
    ("duplicate-table", GOOD_ROW + GOOD_ROW, [], 4, "fam.toml: TOML syntax error"),
    ("unknown-fact", '["fam/test_sum"]\n"y.colour" = "red"\n', [], 4, "[fam/test_sum]: fact 'y.colour': unknown attribute"),
    ("fact-without-subject", '["fam/test_sum"]\n"is_leaf" = true\n', [], 4, "[fam/test_sum]: fact 'is_leaf' is not of the form"),
    ("wrong-type-bool", '["fam/test_sum"]\n"y.is_leaf" = 1\n', [], 4, "[fam/test_sum]: fact 'y.is_leaf' expects a bool"),
    ("wrong-type-list", '["fam/test_sum"]\n"y.warns" = "one"\n', [], 4, "[fam/test_sum]: fact 'y.warns' expects a list[str]"),
    ("wrong-type-tensor", '["fam/test_sum"]\n"y.values" = [1, 2]\n', [], 4, "[fam/test_sum]: fact 'y.values' expects a tensor"),
    ("bad-specifier", GOOD_ROW + '[["fam/test_sum".when]]\ntorch = "2.14+"\n"y.is_leaf" = true\n', [], 4,
     "[fam/test_sum]: invalid PEP 440 specifier torch = '2.14+'"),
    ("unknown-device", GOOD_ROW + '[["fam/test_sum".when]]\ndevice = "xpu"\n"y.is_leaf" = true\n', [], 4,
     "[fam/test_sum]: unknown device 'xpu'"),
    ("conflicting-rows", GOOD_ROW + '[["fam/test_sum".when]]\ntorch = ">=1"\n"y.is_leaf" = true\n'
     '[["fam/test_sum".when]]\ntorch = ">=2"\n"y.is_leaf" = false\n', [], 4, "[fam/test_sum]: conflicting rows"),
    ("bad-regex", '["fam/test_sum"]\n"y.grad_fn" = { match = "Sum[" }\n', [], 4, "[fam/test_sum]: fact 'y.grad_fn': regex"),
    ("other-family", '["leaf/test_sum"]\n"y.is_leaf" = false\n', [], 4, "[leaf/test_sum]: key does not belong to family 'fam'"),
    ("when-without-condition", GOOD_ROW + '[["fam/test_sum".when]]\n"y.is_leaf" = true\n', [], 4, "has no condition"),
    ("when-without-fact", GOOD_ROW + '[["fam/test_sum".when]]\ntorch = ">=2"\nreason = "x"\n', [], 4, "names no fact"),
    ("reason-outside-when", GOOD_ROW + 'reason = "why"\n', [], 4, "'reason' belongs in a"),
    ("entry-not-a-table", '"fam/test_sum" = 3\n', [], 4, "[fam/test_sum]: each probe id must be a TOML table"),
    ("bad-absent-marker", '["fam/test_sum"]\n"y.is_leaf" = { absent = "yes" }\n', [], 4, "absent = true"),
    ("bad-tolerance", '["fam/test_sum"]\n"y.values" = { dtype = "torch.float32", shape = [], rtol = "tight" }\n', [], 4,
     "rtol must be a number"),
    ("pattern-matching-nothing", GOOD_ROW + LEAF_ROW + '["fam/test_nothing_*"]\n"z.count" = 1\n', [], 4,
     "stale row"),
    ("bad-torch-version-option", GOOD_ROW + LEAF_ROW, ["--ac-torch-version", "two.fourteen"], 2,
     "not a PEP 440 version: 'two.fourteen'"),
    ("bad-run-name-option", GOOD_ROW + LEAF_ROW, ["--ac-run-name", "a/b"], 2, "--ac-run-name 'a/b'"),
    ("unwritable-report-dir", GOOD_ROW + LEAF_ROW, ["--ac-report-dir", "blocker"], 3, "cannot write report"),
]


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and ".pytest_cache" not in p.parts}


@pytest.mark.parametrize("table, args, status, line", [pytest.param(*c[1:], id=c[0]) for c in TABLE_CASES])
def test_bad_table_or_option(project, table, args, status, line):
    # A complete earlier report exists; it must survive.
    assert project.run().ret == 0
    (project.root / "blocker").write_text("a file where a directory should be")
    project.table(table)
    before = snapshot(project.root)
    result = project.run(*args)
    assert result.ret == status, result.stdout.str()[-1500:] + result.stderr.str()[-1500:]
    output = result.stdout.str() + result.stderr.str()
    assert "Traceback" not in output
    if status == 4 and line != "stale row":
        errors = [x for x in result.stderr.lines if x.startswith("ERROR:")]
        assert len(errors) == 1 and line in errors[0], result.stderr.str()
    if status == 2:  # a usage error: pytest's one line, then the verdict line with the status in words
        assert line in output and result.stdout.lines[-1].startswith("autograd-conformance: FAIL (exit 2): a usage error")
        assert snapshot(project.root) == before  # nothing written, nothing destroyed
    elif line == "stale row":
        result.stdout.fnmatch_lines(["fam/test_nothing_*(stale row)*"])
        assert (project.root / "suites/expectations/fam.toml").read_text() == table
    else:  # the run's last line names the problem
        last = result.stdout.lines[-1]
        assert last.startswith(f"autograd-conformance: FAIL (exit {status}): ") and line in last, last
        assert {k: v for k, v in snapshot(project.root).items() if k.startswith("reports/")} == {
            k: v for k, v in before.items() if k.startswith("reports/")}


def _report_file(tmp_path: Path, content: str | None, name: str = "bad.json") -> Path:
    path = tmp_path / name
    if content == "<dir>":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    return path


GOOD = json.dumps(make_report(3).to_json())
REPORT_CASES = [
    ("truncated", GOOD[: len(GOOD) // 2], "not valid JSON"),
    ("not-json", "<html>nope</html>", "not valid JSON"),
    ("empty", "", "not valid JSON"),
    ("wrong-schema-version", GOOD.replace('"schema_version": 4', '"schema_version": 99'), "schema_version 99 is not supported"),
    ("wrong-shape", json.dumps({"schema_version": 1, "probes": []}), "does not fit the report schema"),
    ("bad-verdict", GOOD.replace('"verdict": "pass"', '"verdict": "fine"', 1), "does not fit the report schema at probes/"),
    ("missing", None, "no such report"),
    ("directory", "<dir>", "is a directory"),
]


@pytest.mark.parametrize("content, line", [pytest.param(*c[1:], id=c[0]) for c in REPORT_CASES])
@pytest.mark.parametrize("command", ["html", "diff", "record"])
def test_bad_report(tmp_path, capsys, command, content, line):
    good = tmp_path / "good.json"
    good.write_text(GOOD)
    table = tmp_path / "expectations"
    table.mkdir()
    bad = _report_file(tmp_path, content)
    before = snapshot(tmp_path)
    argv = {"html": ["html", str(bad)], "diff": ["diff", str(good), str(bad)],
            "record": ["record", "--expectations", str(table), str(good), str(bad)]}[command]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("autograd-conformance: error: ") and line in err[0]
    assert str(bad) in err[0]
    assert snapshot(tmp_path) == before


STREAM_CASES = [
    ("no-header", '{"event": "result", "probe": {}}\n', "no run header"),
    ("garbage-line", '{"event": "run", "run_info": {}}\nnot json\n{"event": "interrupted"}\n', "line 2 is not JSON"),
]


@pytest.mark.parametrize("content, line", [pytest.param(*c[1:], id=c[0]) for c in STREAM_CASES])
def test_bad_stream(tmp_path, capsys, content, line):
    bad = _report_file(tmp_path, content, "run.jsonl")
    assert main(["html", str(bad)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and line in err[0] and str(bad) in err[0]


CLI_CASES = [
    ("unknown-command", ["frobnicate"], "invalid choice: 'frobnicate'"),
    ("no-command", [], "the following arguments are required: COMMAND"),
    ("diff-one-report", ["diff", "a.json"], "the following arguments are required: after"),
    ("bad-format", ["diff", "a.json", "b.json", "--format", "pdf"], "invalid choice: 'pdf'"),
    ("record-no-reports", ["record"], "the following arguments are required: reports"),
    ("compact-missing-dir", ["compact", "--expectations", "/nonexistent"], "no such table directory"),
]


@pytest.mark.parametrize("argv, line", [pytest.param(*c[1:], id=c[0]) for c in CLI_CASES])
def test_bad_command_line(capsys, argv, line):
    with pytest.raises(SystemExit) as info:
        code = main(argv)
        raise SystemExit(code)
    assert info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and line in err[0], err


def test_record_refuses_a_run_with_broken_probes(tmp_path, capsys):
    report = make_report(30)
    assert any(p.verdict == "error" for p in report.probes)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(report.to_json()))
    (tmp_path / "exp").mkdir()
    assert main(["record", "--expectations", str(tmp_path / "exp"), str(path)]) == 2
    err = capsys.readouterr().err
    assert "probe(s) broke" in err and err.count("\n") == 1
    assert not list((tmp_path / "exp").iterdir())


def test_the_table_loader_never_executes_content(project, tmp_path):
    marker = tmp_path / "executed"
    project.table(f'["fam/test_sum"]\n"y.grad_fn" = "__import__(\'pathlib\').Path(\'{marker}\').touch()"\n')
    project.run()
    assert not marker.exists()
