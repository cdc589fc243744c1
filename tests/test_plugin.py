"""Black-box tests of the pytest plugin, run through pytester against the real torch."""

from __future__ import annotations

import json

import pytest

from autograd_conformance import report as report_mod
from autograd_conformance.report import comparable
from tests.conftest import run_name

from .conftest import INI, TABLE

RAISING_PROBE = '''
import torch

def test_raise(obs):
    """backward on a tensor without grad raises."""
    obs.outcome("backward", lambda: torch.ones(1).backward())
'''

# The probe's message is the real one; this row holds an older wording of it (a text-only difference).
RAISING_TABLE = '''
["fam/test_raise"]
"backward.raises" = "RuntimeError"
"backward.message" = "some older wording"
'''

VERSIONED_PROBE = '''
import torch

def test_versioned(obs):
    """Records a constant so only the table's version conditions decide the verdict."""
    obs.fact("probe.value", 1)
'''


def test_green_run_writes_a_schema_valid_report(project):
    result = project.run()
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["*autograd-conformance*", "*probes on torch*pass*0 stale rows*", "report: *"])
    report = project.report()
    report_mod.validate(report)
    by_id = {p["id"]: p for p in report["probes"]}
    assert by_id["fam/test_leaf[cpu]"]["verdict"] == "pass"
    assert by_id["fam/test_leaf[cpu]"]["expectation"]["sources"]["x.is_leaf"].endswith("[fam/test_leaf[*]]")
    assert by_id["fam/test_sum"]["observation"] == {
        "y.grad_fn": "SumBackward0", "y.is_leaf": False, "y.requires_grad": True}
    assert by_id["fam/test_sum"]["doc"] == "sum of a leaf that requires grad has SumBackward0."
    generated = [d for d, info in report["run_info"]["devices"].items() if info["generated"]]
    assert generated[0] == "cpu" and all(report["run_info"]["devices"][d]["available"] for d in generated)
    assert sorted(i for i in by_id if i.startswith("fam/test_leaf")) == sorted(f"fam/test_leaf[{d}]" for d in generated)
    assert report["summary"]["total"] == len(report["probes"]) == 1 + len(generated)
    assert report["sources"]["fam"]["file"] == "suites/test_fam.py"
    html = (project.root / "reports" / f"{report['run_info']['run_name']}.html").read_text()
    assert "fam/test_sum" in html


def test_no_html_option(project):
    assert project.run("--ac-no-html").ret == 0
    assert [p.suffix for p in (project.root / "reports").iterdir()] == [".json"]


def test_mismatch_fails_with_a_fact_diff(project):
    project.table(TABLE.replace('"y.grad_fn" = "SumBackward0"', '"y.grad_fn" = "MeanBackward0"'))
    result = project.run()
    assert result.ret == 1
    result.stdout.fnmatch_lines([
        "*fam/test_sum: mismatch — 1 fact(s) differ from the table",
        "*y.grad_fn:",
        "*expected 'MeanBackward0'",
        "*observed 'SumBackward0'",
        "*(row in force: suites/expectations/fam.toml [[]fam/test_sum[]])",
    ])
    probe = {p["id"]: p for p in project.report()["probes"]}["fam/test_sum"]
    assert probe["verdict"] == "mismatch"
    assert probe["mismatches"] == [{"fact": "y.grad_fn", "kind": "semantic", "expected": "MeanBackward0",
                                    "observed": "SumBackward0", "note": None,
                                    "source": "suites/expectations/fam.toml [fam/test_sum]"}]
    # The terminal summary lists it in one line: probe, fact, verdict, expected -> observed.
    result.stdout.fnmatch_lines(["fam/test_sum*y.grad_fn*mismatch*'MeanBackward0' → 'SumBackward0'"])


def test_text_only_difference_is_drift(project):
    project.probes(RAISING_PROBE)
    project.table(RAISING_TABLE)
    result = project.run()
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*fam/test_raise: drift*", "*backward.message [[]text[]]:*"])
    assert project.report()["probes"][0]["verdict"] == "drift"


def test_semantic_gate_reports_drift_without_failing(project):
    project.probes(RAISING_PROBE)
    project.table(RAISING_TABLE)
    result = project.run("--ac-gate", "semantic")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*gate: semantic — 1 probe drifted only in wording*"])
    assert project.report()["probes"][0]["verdict"] == "drift"
    project.table(RAISING_TABLE.replace('"RuntimeError"', '"ValueError"'))
    assert project.run("--ac-gate", "semantic").ret == 1  # a semantic change still fails


def test_semantic_gate_from_ini(project):
    project.pytester.makeini(INI + "ac_gate = semantic\nac_min_probes = 2\n")
    assert project.run().ret == 0
    project.pytester.makeini(INI + "ac_gate = loose\n")
    assert project.run().ret == 2  # a usage error


@pytest.mark.parametrize("scenario, args, code", [
    ("green", [], 0),
    ("mismatch", [], 1),
    ("stale", [], 4),
    ("stale-and-mismatch", [], 4),
    ("green", ["--ac-min-probes", "3"], 5),
    ("green", ["--ac-min-probes", "2"], 0),
    ("mismatch", ["--ac-min-probes", "3"], 5),
    ("green", ["--ac-report-dir", "blocked"], 3),
])
def test_exit_status_contract(project, scenario, args, code):
    table = TABLE
    if "mismatch" in scenario:
        table = table.replace('"y.grad_fn" = "SumBackward0"', '"y.grad_fn" = "MeanBackward0"')
    if "stale" in scenario:
        table += '\n["fam/test_gone"]\n"z.is_leaf" = true\n'
    project.table(table)
    (project.root / "blocked").write_text("not a directory")
    result = project.run(*args)
    assert result.ret == code, result.stdout.str()[-2000:]
    # The last line states the verdict with the exit status, whatever pytest's own counts said before it.
    verdict = "PASS" if code == 0 else "FAIL"
    assert result.stdout.lines[-1].startswith(f"autograd-conformance: {verdict} (exit {code}): "), result.stdout.lines[-3:]
    if code == 5:
        result.stdout.fnmatch_lines(["*only 2 probes ran, fewer than the 3 required*"])
    if code == 4:
        assert "the table is broken: 1 stale rows" in result.stdout.lines[-1]


def test_missing_row_fails_unless_allowed(project):
    project.table(TABLE.split('["fam/test_sum"]')[0])
    result = project.run()
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*fam/test_sum: no expectation in the table for this probe*"])
    assert {p["id"]: p["verdict"] for p in project.report()["probes"]}["fam/test_sum"] == "missing"
    assert project.run("--ac-allow-missing").ret == 0


def test_fact_missing_from_a_row_is_a_mismatch(project):
    project.table(TABLE.replace('"y.is_leaf" = false\n', ""))
    result = project.run()
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*y.is_leaf: not in the table; observed False"])


def test_stale_rows_fail_a_full_run_only(project):
    project.table(TABLE + '\n["fam/test_gone"]\n"z.is_leaf" = true\n\n["fam/test_nothing_*"]\n"z.is_leaf" = true\n')
    result = project.run()
    assert result.ret == 4
    result.stdout.fnmatch_lines(["*2 stale rows*", "fam/test_gone*(stale row)*", "fam/test_nothing_*(stale row)*"])
    assert [s["key"] for s in project.report()["stale"]] == ["fam/test_gone", "fam/test_nothing_*"]
    for partial in (["-k", "leaf"], ["suites/test_fam.py::test_sum"], ["-m", "not slow"]):
        result = project.run(*partial)
        assert result.ret == 0, (partial, result.stdout.str())
        result.stdout.fnmatch_lines(["*(partial run: staleness not checked)*"])


@pytest.mark.parametrize("version, expected", [
    ("2.13.0+cpu", "base"),
    ("2.13.0", "base"),
    ("2.14.1", "from-2.14"),
    ("2.14.1+cu130", "from-2.14"),
    ("2.15.0rc1", "from-2.15"),
    ("2.15.0", "from-2.15"),
])
def test_version_conditions_pick_the_row(project, version, expected):
    project.probes(VERSIONED_PROBE)
    project.table('''
["fam/test_versioned"]
"probe.value" = "base"

[["fam/test_versioned".when]]
torch = ">=2.14,<2.15"
reason = "changed in 2.14"
"probe.value" = "from-2.14"

[["fam/test_versioned".when]]
torch = ">=2.15.0rc1"
reason = "changed again in 2.15"
"probe.value" = "from-2.15"
''')
    result = project.run("--ac-torch-version", version)
    (report,) = (project.root / "reports").glob("*.json")  # named for the release it is resolved as
    assert report.name == f"{run_name(*(['as-' + version] if version != _installed() else []))}.json"
    probe = json.loads(report.read_text())["probes"][0]
    assert probe["expectation"]["facts"]["probe.value"] == expected
    assert result.ret == 1  # the probe observed 1, never the strings above
    assert probe["mismatches"][0]["observed"] == 1


def test_device_condition_overrides_only_named_facts(project):
    project.table(TABLE + '''
[["fam/test_leaf[*]".when]]
device = "cuda"
reason = "pretend cuda differs"
"x.is_leaf" = false
''')
    result = project.run()
    assert result.ret == 0  # cpu probes use the base facts; cuda is skipped or also passes on a GPU machine
    probe = {p["id"]: p for p in project.report()["probes"]}["fam/test_leaf[cpu]"]
    assert probe["expectation"]["facts"]["x.is_leaf"] is True


@pytest.mark.parametrize("table, message", [
    ('["fam/test_sum"\n"y.is_leaf" = true\n', "*fam.toml: TOML syntax error:*"),
    ('["fam/test_sum"]\n"y.is_leaf" = true\n"y.is_leaf" = false\n', "*fam.toml: TOML syntax error*"),
    ('["fam/test_sum"]\n"y.bogus" = true\n', "*fam.toml: [[]fam/test_sum[]]: fact 'y.bogus': unknown attribute 'bogus'*"),
    ('["fam/test_sum"]\n"y.is_leaf" = "yes"\n', "*fam.toml: [[]fam/test_sum[]]: fact 'y.is_leaf' expects a bool*"),
    ('["fam/test_sum"]\n"y.is_leaf" = true\n[["fam/test_sum".when]]\ntorch = "~=2"\n"y.is_leaf" = false\n',
     "*fam.toml: [[]fam/test_sum[]]: invalid PEP 440 specifier torch = '~=2'*"),
    ('["fam/test_sum"]\n"y.is_leaf" = true\n[["fam/test_sum".when]]\ndevice = "tpu"\n"y.is_leaf" = false\n',
     "*fam.toml: [[]fam/test_sum[]]: unknown device 'tpu'*"),
    ('["fam/test_sum"]\n"y.is_leaf" = true\n[["fam/test_sum".when]]\ntorch = ">=2"\n"y.is_leaf" = false\n'
     '[["fam/test_sum".when]]\ntorch = ">=1"\n"y.is_leaf" = true\n',
     "*fam.toml: [[]fam/test_sum[]]: conflicting rows for fact 'y.is_leaf'*"),
    ('["other/test_sum"]\n"y.is_leaf" = true\n', "*fam.toml: [[]other/test_sum[]]: key does not belong to family 'fam'*"),
    ('["fam/test_sum"]\n"y.grad_fn" = { match = "(" }\n', "*fam.toml: [[]fam/test_sum[]]: fact 'y.grad_fn': regex '(' is not one the linear-time matcher (RE2) accepts: missing )*"),
    ('["fam/test_sum"]\n"y.is_leaf" = true\nreason = "x"\n', "*fam.toml: [[]fam/test_sum[]]: 'reason' belongs in a*"),
])
def test_bad_table_fails_at_start_with_one_line(project, table, message):
    path = project.table(table)
    before = path.read_text()
    result = project.run()
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"ERROR: autograd-conformance: suites/expectations/{message.lstrip('*')}"])
    assert "Traceback" not in result.stderr.str() + result.stdout.str()
    assert path.read_text() == before
    assert not (project.root / "reports").exists()


def test_record_round_trip(project):
    project.table("")
    result = project.run("--ac-record")
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines(["RECORD MODE (--ac-record=new): the gate was off for this run*",
                                 "*wrote 2 new rows, 6 facts added*",
                                 "autograd-conformance: RECORDED (exit 0): * the gate was off"])
    text = project.table_text()
    assert '["fam/test_leaf[*]"]' in text and '["fam/test_sum"]' in text
    assert '"x.grad_fn" = false' in text
    assert project.run().ret == 0
    # A second record changes nothing: the file stays byte-identical.
    assert project.run("--ac-record").ret == 0
    assert project.table_text() == text


def test_record_keeps_differing_facts_unless_all(project):
    project.table(TABLE.replace('"y.grad_fn" = "SumBackward0"', '"y.grad_fn" = "MeanBackward0"')
                  .replace('"y.is_leaf" = false\n', ""))
    result = project.run("--ac-record")
    assert result.ret == 1  # a record run that leaves differences unwritten is not green
    result.stdout.fnmatch_lines(["*1 facts added*", "*kept unwritten: 1 facts differ from existing rows*",
                                 "autograd-conformance: FAIL (exit 1): record mode kept 1 differing facts unwritten"])
    text = project.table_text()
    assert '"y.grad_fn" = "MeanBackward0"' in text and '"y.is_leaf" = false' in text
    result = project.run("--ac-record=all")
    result.stdout.fnmatch_lines(["*1 facts changed*"])
    assert '"y.grad_fn" = "SumBackward0"' in project.table_text()
    assert project.run().ret == 0


def test_record_all_updates_the_conditioned_block_in_force(project):
    project.probes(VERSIONED_PROBE)
    project.table('''
["fam/test_versioned"]
"probe.value" = 1

[["fam/test_versioned".when]]
torch = ">=2.0"
reason = "kept"
"probe.value" = 2
''')
    assert project.run("--ac-record=all").ret == 0
    text = project.table_text()
    assert text.count('"probe.value" = 1') == 2 and 'reason = "kept"' in text


def test_xdist_report_matches_serial(project):
    assert project.run_subprocess("-n", "0").ret == 0
    serial = comparable(project.loaded())
    assert project.run_subprocess("-n", "2").ret == 0
    parallel = project.loaded()
    assert parallel.run_info.workers == 2
    assert comparable(parallel) == serial


def test_record_under_xdist_writes_once_on_the_controller(project):
    project.table("")
    result = project.run_subprocess("-n", "2", "--ac-record")
    assert result.ret == 0, result.stdout.str()
    assert project.table_text().count('["fam/test_sum"]') == 1
    assert project.run_subprocess("-n", "2").ret == 0


def test_probe_error_is_its_own_verdict(project):
    project.probes('''
def test_broken(obs):
    """A probe that breaks before observing."""
    raise ValueError("probe bug at 0x7f00deadbeef")

def test_undeclared(obs):
    """A probe that emits an undeclared fact."""
    obs.fact("x.not_a_fact", 1)
''')
    project.table("")
    result = project.run("--ac-allow-missing")
    assert result.ret == 1
    probes = {p["id"]: p for p in project.report()["probes"]}
    assert probes["fam/test_broken"]["verdict"] == "error"
    assert probes["fam/test_broken"]["message"] == "ValueError: probe bug at 0x…"
    assert probes["fam/test_undeclared"]["message"].startswith("probe error: fact 'x.not_a_fact': unknown attribute")


def test_report_name_and_directory_options(project):
    assert project.run("--ac-run-name", "mine", "--ac-report-dir", "out").ret == 0
    assert json.loads((project.root / "out" / "mine.json").read_text())["run_info"]["run_name"] == "mine"
    result = project.run("--ac-run-name", "../escape")
    assert result.ret == 2  # a usage error


def test_unwritable_report_dir_is_an_error_with_one_line(project):
    (project.root / "blocked").write_text("a file where the report directory should be")
    result = project.run("--ac-report-dir", "blocked")
    assert result.ret == 3
    result.stdout.fnmatch_lines(["autograd-conformance: FAIL (exit 3): the harness broke: cannot write report "
                                 "*blocked/*.json: *"])
    assert (project.root / "blocked").read_text() == "a file where the report directory should be"


def test_no_probes_writes_no_report(project):
    project.probes("def test_plain():\n    assert 1 + 1 == 2\n")
    project.table("")
    assert project.run().ret == 0
    assert not (project.root / "reports").exists()


def _installed() -> str:
    import torch

    return torch.__version__
