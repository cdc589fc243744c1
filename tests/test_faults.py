"""Fault injection with real processes: probes that leak torch's state or end their process, probe modules that
change torch at import, record runs killed or run side by side, a full disk, bad tables and bad input. Each
case gets its verdict or one clear line with the right exit status, and nothing good is lost."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from autograd_conformance.cli import main
from autograd_conformance.files import JOURNAL, recover, remove_stale_temporaries, replace_pair, write_together
from tests.conftest import run_name

LEAKERS = '''
import torch

KEEP = []


def test_a_clean(obs):
    """A probe before the leaking ones."""
    obs.facts_of("x", torch.ones(1, requires_grad=True) * 2)


def test_b_inference_mode(obs):
    """Enters inference_mode and keeps it."""
    KEEP.append(torch.inference_mode())
    KEEP[-1].__enter__()


def test_c_saved_tensors_hooks(obs):
    """Enters save_on_cpu and keeps it."""
    KEEP.append(torch.autograd.graph.save_on_cpu())
    KEEP[-1].__enter__()


def test_d_dual_level(obs):
    """Enters a forward-AD dual level and keeps it."""
    KEEP.append(torch.autograd.forward_ad.dual_level())
    KEEP[-1].__enter__()


def test_e_default_device(obs):
    """Sets the default device to meta."""
    torch.set_default_device("meta")


def test_f_default_dtype(obs):
    """Sets the default dtype to float64."""
    torch.set_default_dtype(torch.float64)


def test_g_clean(obs):
    """A probe after the leaking ones: its facts are those of a fresh process."""
    x = torch.ones(1, requires_grad=True)
    y = x * 2
    obs.facts_of("y", y)
    obs.fact("dtype.value", str(y.dtype))
    obs.fact("device.value", str(y.device))
'''

LEAKED = {"fam/test_b_inference_mode": "inference mode: True", "fam/test_c_saved_tensors_hooks":
          "saved-tensors default hooks: True", "fam/test_d_dual_level": "forward-AD dual level: 0",
          "fam/test_e_default_device": "default device: 'meta'", "fam/test_f_default_dtype":
          "default dtype: 'torch.float64'"}


def _verdicts(report: dict) -> dict[str, str]:
    return {p["id"]: p["verdict"] for p in report["probes"]}


@pytest.mark.parametrize("args", [("-n", "0"), ("-n", "2"), ("-n", "2", "--dist", "loadfile")],
                         ids=["n0", "n2", "n2-loadfile"])
def test_a_leaking_probe_is_named_and_changes_no_other_verdict(project, args):
    project.probes(LEAKERS)
    project.table("")
    result = project.run_subprocess("--ac-allow-missing", *args)
    assert result.ret == 1
    report = project.report()
    verdicts = _verdicts(report)
    assert {pid for pid, v in verdicts.items() if v == "leaked"} == set(LEAKED)
    for pid, state in LEAKED.items():
        message = next(p["message"] for p in report["probes"] if p["id"] == pid)
        assert state in message, message
    assert verdicts["fam/test_a_clean"] == verdicts["fam/test_g_clean"] == "missing"
    clean = next(p for p in report["probes"] if p["id"] == "fam/test_g_clean")["observation"]
    assert clean["dtype.value"] == "torch.float32" and clean["device.value"] == "cpu"
    assert clean["y.grad_fn"] == "MulBackward0"
    result.stdout.fnmatch_lines(["*fam/test_e_default_device*leaked*default device: 'meta'*",
                                 "autograd-conformance: FAIL (exit 1):*5 leaked*"])


IMPORT_LEAK = '''
import torch

torch.set_default_dtype(torch.float64)
torch.set_grad_enabled(False)


def test_own(obs):
    """A team probe module that changes torch at import."""
    obs.fact("dtype.value", str(torch.ones(1).dtype))
'''


def test_a_module_that_changes_torch_at_import_is_named_and_changes_no_verdict(project):
    project.probes(IMPORT_LEAK, family="aaa")  # collected first
    project.table('["aaa/test_own"]\n"dtype.value" = "torch.float32"\n', family="aaa")
    result = project.run_subprocess("-n", "2")
    assert result.ret == 1
    report = project.report()
    assert set(_verdicts(report).values()) == {"pass"}  # the bundled-like probes and its own: as in a fresh process
    (leak,) = report["run_info"]["import_leaks"]
    assert leak.startswith("suites/test_aaa.py: importing it left torch's state changed: grad mode: False")
    assert "default dtype: 'torch.float64'" in leak
    result.stdout.fnmatch_lines(["problem: probe module leak: suites/test_aaa.py*", "autograd-conformance: FAIL (exit 1)*"])


EXITS = '''
import os
import sys

import torch


def test_a_os_exit(obs):
    """Ends its process with os._exit."""
    os._exit(0)


def test_b_sys_exit(obs):
    """Ends its process with sys.exit."""
    sys.exit(0)


def test_c_after(obs):
    """Runs after them."""
    obs.facts_of("x", torch.ones(1, requires_grad=True))
'''


def test_a_probe_that_ends_its_process_is_crashed_and_the_run_goes_on(project):
    project.probes(EXITS)
    project.table('["fam/test_c_after"]\n"x.grad_fn" = false\n"x.is_leaf" = true\n"x.requires_grad" = true\n')
    result = project.run_subprocess("-n", "0")
    assert result.ret == 1
    report = project.report(run_name(kind="crashed"))
    assert _verdicts(report) == {"fam/test_a_os_exit": "crashed", "fam/test_b_sys_exit": "crashed",
                                 "fam/test_c_after": "pass"}
    result.stdout.fnmatch_lines(["autograd-conformance: FAIL (exit 1)*2 crashed*"])


_BODY = {True: "os.abort()", False: 'obs.fact("x.count", 1)'}
ABORTS = "import os\nimport torch\n\n" + "".join(
    f'def test_{i:02d}(obs):\n    """Probe {i}."""\n    {_BODY[i == 3]}\n\n\n' for i in range(12))


@pytest.mark.parametrize("dist", ["loadfile", "loadscope"])
def test_every_collected_probe_has_a_verdict_after_a_worker_dies(project, dist):
    project.probes(ABORTS)
    project.table("".join(f'["fam/test_{i:02d}"]\n"x.count" = 1\n\n' for i in range(12) if i != 3))
    result = project.run_subprocess("-n", "2", "--dist", dist)
    assert result.ret == 1
    report = project.report(run_name(kind="crashed"))
    verdicts = _verdicts(report)
    assert len(verdicts) == 12, sorted(verdicts)
    assert verdicts["fam/test_03"] == "crashed"
    assert set(verdicts.values()) <= {"pass", "crashed", "not-run"}


def _torch() -> str:
    import torch

    return torch.__version__


# --- record runs ---------------------------------------------------------------------------------------------

BROKEN = '''
import time

import torch


def test_a_times_out(obs):
    """Records one fact, then runs past its limit."""
    obs.fact("x.count", 2)
    time.sleep(30)


def test_b_new(obs):
    """A probe without a row."""
    obs.fact("x.count", 3)
'''


def test_record_all_leaves_the_rows_of_probes_that_did_not_finish(project):
    project.probes(BROKEN)
    project.table('["fam/test_a_times_out"]\n"x.count" = 1\n"y.count" = 5\n')
    result = project.run_subprocess("--ac-record=all", "--ac-timeout=2")
    assert result.ret == 1  # a probe timed out: the run says so, and records what the others observed
    text = project.table_text()
    assert '["fam/test_a_times_out"]\n"x.count" = 1\n"y.count" = 5\n' in text  # not rewritten from a part
    assert '["fam/test_b_new"]\n"x.count" = 3' in text
    result.stdout.fnmatch_lines(["*left as they were: the rows of 1 probe *fam/test_a_times_out*"])


RECORD_PROBES = "import torch\n\n" + "".join(
    f'def test_{name}(obs):\n    """Probe {name}."""\n    obs.fact("x.count", {i})\n\n\n'
    for i, name in enumerate(["one", "two", "three", "four"]))


def test_concurrent_record_runs_lose_no_row(project):
    project.probes(RECORD_PROBES)
    project.table("")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    runs = [subprocess.Popen([sys.executable, "-m", "pytest", "--ac-record", "-k", name, "-p", "no:randomly",
                              f"--ac-run-name=run-{name}"], cwd=project.root, env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for name in ("one", "two", "three", "four")]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0, 0], outputs
    text = project.table_text()
    assert all(f'["fam/test_{name}"]' in text for name in ("one", "two", "three", "four")), text
    assert not list((project.root / "suites" / "expectations").glob(".*"))  # no temporary file, no journal


def test_an_interrupted_commit_is_completed_by_the_next_run(project):
    table = project.root / "suites" / "expectations"
    new = (table / "fam.toml").read_text()
    (table / "fam.toml").write_text("# the old text, from before the commit\n")
    tmp = table / f".fam.toml.{999999}.1.tmp"  # written by the killed run; its journal names it
    tmp.write_text(new)
    (table / JOURNAL).write_text(json.dumps({"fam.toml": tmp.name}))
    result = project.run_subprocess()
    assert result.ret == 0
    assert (table / "fam.toml").read_text() == new and not list(table.glob(".*"))
    result.stdout.fnmatch_lines(["*completed a record run's commit that was interrupted: suites/expectations/fam.toml*"])


def test_files_committed_together_are_all_new_or_all_old(tmp_path):
    (tmp_path / "a.toml").write_text("old a")
    (tmp_path / "b.toml").write_text("old b")
    write_together(tmp_path, {"a.toml": "new a", "b.toml": "new b"})
    assert [(tmp_path / n).read_text() for n in ("a.toml", "b.toml")] == ["new a", "new b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.toml", "b.toml"]
    stale = tmp_path / f".c.toml.{_dead_pid()}.5.tmp"
    stale.write_text("left by a killed writer")
    assert remove_stale_temporaries(tmp_path) == [stale] and recover(tmp_path) == []


def test_a_report_and_its_page_are_replaced_so_no_new_report_sits_beside_an_old_page(tmp_path):
    report, page = tmp_path / "r.json", tmp_path / "r.html"
    report.write_text("old report")
    page.write_text("old page")
    replace_pair(report, "new report", page, "new page")
    assert (report.read_text(), page.read_text()) == ("new report", "new page")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "r.json"]


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# --- bad tables and bad input --------------------------------------------------------------------------------

def test_a_catastrophic_regex_cannot_hang_a_run_or_a_record(project):
    project.probes('def test_m(obs):\n    """A long message."""\n    obs.fact("b.message", "a" * 20000 + "b")\n')
    project.table('["fam/test_m"]\n"b.message" = { match = "(a+)+$" }\n')
    started = time.monotonic()
    result = project.run_subprocess("-p", "no:randomly")
    assert result.ret == 1 and time.monotonic() - started < 60
    result.stdout.fnmatch_lines(["fam/test_m*b.message*drift*"])
    report = project.report_path()
    started = time.monotonic()
    assert main(["record", "--expectations", str(project.root / "suites" / "expectations"), str(report)]) == 0
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("table, message", [
    ('["fam/test_leaf[*]"]\n"x.message" = { match = "(a)\\\\1" }\n', "*fam.toml: [[]fam/test_leaf[[]*[]][]]*RE2*"),
    ('["fam/test_su*"]\n"y.is_leaf" = false\n\n["fam/test_?um"]\n"y.is_leaf" = true\n',
     "*conflicting rows for fam/test_sum*"),
])
def test_a_broken_table_stops_the_run_before_any_probe_and_keeps_the_baseline(project, table, message):
    assert project.run().ret == 0
    baseline = project.report_path().read_text()
    project.table(table)
    result = project.run_subprocess()
    assert result.ret == 4
    result.stderr.fnmatch_lines([message])
    assert project.report_path().read_text() == baseline


def test_a_table_file_that_is_not_utf8_names_the_file(project):
    (project.root / "suites" / "expectations" / "fam.toml").write_bytes(b'["fam/test_sum"]\n"y.message" = "caf\xe9"\n')
    result = project.run_subprocess()
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*suites/expectations/fam.toml: not UTF-8 text: byte 0xe9*"])


def test_a_full_disk_while_streaming_is_one_problem_line_not_an_internal_error(project):
    """RLIMIT_FSIZE stands in for a full disk: every write past it fails with EFBIG."""
    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200, 200))

    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:randomly"], cwd=project.root, env=env,
                          capture_output=True, text=True, preexec_fn=limited, timeout=120)
    assert "INTERNALERROR" not in done.stdout + done.stderr
    assert done.returncode == 3, done.stdout[-2000:]
    assert "problem: cannot stream results to" in done.stdout and "problem: cannot write report" in done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("autograd-conformance: FAIL (exit 3): the harness broke")


def test_a_lone_surrogate_in_a_message_is_kept_legible(project):
    project.probes('def test_s(obs):\n    """Raises with an undecodable byte."""\n    raise ValueError("bad \\udc80 byte")\n')
    project.table("")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "pytest", "--ac-allow-missing"], cwd=project.root, env=env,
                          capture_output=True, timeout=120)
    out = done.stdout.decode("utf-8", "replace")  # pytest's own lines print the raw surrogate
    assert done.returncode == 1 and "INTERNALERROR" not in out
    assert out.strip().splitlines()[-1].startswith("autograd-conformance: FAIL (exit 1)")
    (probe,) = project.report()["probes"]
    assert probe["verdict"] == "error" and probe["message"] == "ValueError: bad \\udc80 byte"


def test_commands_say_one_line_for_bad_input(tmp_path, capsys):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000 + "]" * 100000)
    assert main(["html", str(deep)]) == 2
    assert capsys.readouterr().err.strip().endswith("nested too deep to read)")
    conflicted = tmp_path / "table"
    conflicted.mkdir()
    (conflicted / "fam.toml").write_text('<<<<<<< HEAD\n["fam/t"]\n"x.count" = 1\n=======\n>>>>>>> theirs\n')
    assert main(["record", "--expectations", str(conflicted), str(deep)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "deep.json" in lines[0]
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    assert main(["init", str(blocked / "autograd")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_a_terminal_that_cannot_show_a_character_gets_its_escape(tmp_path):
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-m", "autograd_conformance.cli", "changelog", "--from", "2.13",
                           "--to", "2.14"], capture_output=True, text=True, env=env, cwd=Path(__file__).parents[1])
    assert done.returncode == 0 and "Traceback" not in done.stderr
    assert "\\u2192" in done.stdout  # the arrow, escaped


def test_the_report_dir_option_works_in_both_forms(project, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    spaced = project.run_subprocess("--ac-report-dir", str(outside))
    assert spaced.ret == 2  # a usage error
    assert (f"--ac-report-dir {outside}: pytest took {outside} for a path" in spaced.stdout.str() + spaced.stderr.str()
            and f"write --ac-report-dir={outside}" in spaced.stdout.str() + spaced.stderr.str())
    joined = project.run_subprocess(f"--ac-report-dir={outside}")
    assert joined.ret == 0 and (outside / f"{run_name()}.json").exists()
    inside = project.run_subprocess("--ac-report-dir", "out")
    assert inside.ret == 0 and (project.root / "out" / f"{run_name()}.json").exists()
