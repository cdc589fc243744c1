"""Repro snippets run with nothing but torch and pytest, and print the probe's facts."""

import subprocess
import sys

from autograd_conformance.report import Report
from autograd_conformance.repro import call_line, module_source, snippet

from .conftest import PROBES


def test_call_line():
    assert call_line("test_x", "cpu", {"device": 0, "op": 3}) == "run_probe(test_x, device='cpu', op=3)\n"
    assert call_line("test_y", None, {}) == "run_probe(test_y)\n"


def test_module_source_embeds_the_harness_modules_it_imports(tmp_path):
    """The probe module's imports stay as written; the modules they name (and theirs) are embedded."""
    path = tmp_path / "test_m.py"
    path.write_text("from autograd_conformance.dimensions import GRAD_MODES\n"
                    "from autograd_conformance.observe import require\n"
                    "print(len(GRAD_MODES), require('torch.autograd.grad').__name__)\n")
    text = module_source(path)
    assert text.endswith(path.read_text())
    assert "_embed('facts'," in text and "_embed('observe'," in text and "_embed('dimensions'," in text
    done = run_snippet(tmp_path, text)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["13", "grad"]


def run_snippet(tmp_path, code):
    path = tmp_path / "repro.py"
    path.write_text(code)
    return subprocess.run([sys.executable, "-I", str(path)], capture_output=True, text=True, timeout=120,
                          cwd=tmp_path)


def test_snippet_of_a_real_report_reproduces_the_facts(project, tmp_path):
    project.probes(PROBES + '''

import pytest

@pytest.mark.parametrize("op", [pytest.param(lambda x: x * 2, id="mul"), pytest.param(lambda x: x.exp(), id="exp")])
def test_op(obs, device, op):
    """grad_fn of an op on a leaf."""
    obs.facts_of("y", op(torch.ones(2, device=device, requires_grad=True)))
''')
    assert project.run("--ac-allow-missing").ret == 0
    report = Report.from_json(project.report())
    probe = next(p for p in report.probes if p.id == "fam/test_op[cpu-exp]")
    assert probe.repro == "run_probe(test_op, device='cpu', op=1)\n"
    done = run_snippet(tmp_path, snippet(report, probe))
    assert done.returncode == 0, done.stderr
    assert "y.grad_fn = 'ExpBackward0'" in done.stdout
    assert "y.requires_grad = True" in done.stdout
