"""Execution modes: the vocabulary, ids and record keys, the table's ``mode`` condition, recording a compile run,
and compile mode end to end through the plugin (real torch.compile, aot_eager)."""

from __future__ import annotations

import pytest

from autograd_conformance import modes
from autograd_conformance.expectations import Table
from autograd_conformance.ids import record_key, without_mode
from autograd_conformance.record import NEW, Recorder
from autograd_conformance.result import ProbeResult
from autograd_conformance.tablefile import TableError
from tests.conftest import run_name


def test_parse_orders_and_refuses_unknown_modes():
    assert modes.parse("compile, eager") == ("eager", "compile")
    assert modes.parse("compile") == ("compile",)
    with pytest.raises(ValueError, match="unknown mode 'jit'"):
        modes.parse("eager,jit")
    with pytest.raises(ValueError, match="none given"):
        modes.parse(" , ")


@pytest.mark.parametrize("name, mode, expected", [
    ("test_x[cpu]", "compile", "test_x[cpu-compile]"),
    ("test_y", "compile", "test_y[compile]"),
    ("test_x[cpu-a-b]", "eager", "test_x[cpu-a-b]"),
])
def test_item_names(name, mode, expected):
    assert modes.item_name(name, mode) == expected


def test_ids_without_the_mode_are_the_eager_twins_and_record_keys_drop_it():
    assert without_mode("leaf/test_x[cpu-compile]", "compile") == "leaf/test_x[cpu]"
    assert without_mode("leaf/test_y[compile]", "compile") == "leaf/test_y"
    assert without_mode("leaf/test_x[cpu]", "eager") == "leaf/test_x[cpu]"
    assert record_key("leaf/test_x[cpu-a-compile]", "cpu", "compile") == "leaf/test_x[*-a]"
    assert record_key("leaf/test_y[compile]", None, "compile") == "leaf/test_y"
    assert modes.in_params(["cpu", "a", "compile"]) == "compile" and modes.in_params(["cpu"]) == "eager"


TABLE = '''
["fam/test_x[*]"]
"y.grad_fn" = "MulBackward0"
"y.is_leaf" = false

[["fam/test_x[*]".when]]
device = "cuda"
reason = "cuda"
"y.is_leaf" = true

[["fam/test_x[*]".when]]
mode = "compile"
reason = "AOTAutograd puts the traced graph behind one node"
"y.grad_fn" = "CompiledFunctionBackward"
"y.is_leaf" = false
'''


def test_a_mode_block_applies_to_its_mode_and_wins_over_a_device_block():
    table = Table.from_texts({"fam.toml": TABLE}, "2.13.0")
    eager = table.resolve("fam/test_x[cpu]", "cpu", "2.13.0")
    compiled = table.resolve("fam/test_x[cpu-compile]", "cpu", "2.13.0", "compile")
    cuda_compiled = table.resolve("fam/test_x[cuda-compile]", "cuda", "2.13.0", "compile")
    assert eager.facts == {"y.grad_fn": "MulBackward0", "y.is_leaf": False}
    assert compiled.facts == {"y.grad_fn": "CompiledFunctionBackward", "y.is_leaf": False}
    assert cuda_compiled.facts["y.is_leaf"] is False  # equally few conditions: the mode block decides
    assert 'mode "compile"' in compiled.sources["y.grad_fn"]


def test_unknown_mode_and_a_mode_outside_a_when_block_are_table_errors():
    with pytest.raises(TableError, match="unknown mode 'jit'"):
        Table.from_texts({"fam.toml": '["fam/t"]\n"a.value" = 1\n[["fam/t".when]]\nmode = "jit"\n"a.value" = 2\n'},
                         "2.13.0")
    with pytest.raises(TableError, match="belongs in a"):
        Table.from_texts({"fam.toml": '["fam/t"]\nmode = "compile"\n"a.value" = 1\n'}, "2.13.0")


def test_recording_a_compile_probe_writes_a_mode_block_and_absent_facts():
    table = Table.from_texts({"fam.toml": '["fam/test_x[*]"]\n"y.grad_fn" = "MulBackward0"\n"b.message" = "no"\n'
                                          '"b.raises" = "RuntimeError"\n'}, "2.13.0")
    docs = {"fam.toml": {"fam/test_x[*]": {"y.grad_fn": "MulBackward0", "b.message": "no", "b.raises": "RuntimeError"}}}
    observed = {"y.grad_fn": "CompiledFunctionBackward", "b.raises": None, "scenario.raises": "TorchRuntimeError"}
    resolved = table.resolve("fam/test_x[cpu-compile]", "cpu", "2.13.0", "compile")
    recorder = Recorder(docs, NEW, "2.13.0")
    recorder.observe(ProbeResult("fam/test_x[cpu-compile]", "fam", "suites/test_fam.py::test_x[cpu-compile]", "pass",
                                 device="cpu", mode="compile", observation=observed), resolved)
    summary = recorder.summary
    block = docs["fam.toml"]["fam/test_x[*]"]["when"][0]
    assert block["mode"] == "compile" and "replace with why" in block["reason"]
    assert block["y.grad_fn"] == "CompiledFunctionBackward" and block["scenario.raises"] == "TorchRuntimeError"
    assert block["b.message"] == {"absent": True} and block["b.raises"] is None
    assert docs["fam.toml"]["fam/test_x[*]"]["y.grad_fn"] == "MulBackward0"  # eager's row is untouched
    assert not summary.kept_different


MODE_PROBES = '''
import pytest
import torch

pytestmark = pytest.mark.modes("eager", "compile")


def test_mul(obs, device):
    """x * 2 of a leaf: its grad_fn, and the gradient backward gives."""
    x = torch.ones(2, device=device, requires_grad=True)
    y = x * 2
    obs.facts_of("y", y)
    y.sum().backward()
    obs.tensor("x.grad", x.grad)


@pytest.mark.modes("eager")
def test_eager_only(obs):
    """A probe that opts out of compile mode."""
    obs.fact("one.value", 1)
'''

MODE_TABLE = '''
["fam/test_eager_only"]
"one.value" = 1

["fam/test_mul[*]"]
"x.grad.values" = { dtype = "torch.float32", shape = [2], values = [2.0, 2.0] }
"y.grad_fn" = "MulBackward0"
"y.is_leaf" = false
"y.requires_grad" = true
'''


def test_compile_twins_are_collected_selected_by_marker_and_eager_ids_unchanged(project):
    project.probes(MODE_PROBES)
    project.table(MODE_TABLE)
    result = project.run("--co", "-q", "--ac-modes=eager,compile")
    result.stdout.fnmatch_lines(["*test_mul[[]cpu[]]", "*test_mul[[]cpu-compile[]]", "*test_eager_only"])
    assert "test_eager_only[compile]" not in result.stdout.str()
    only = project.run("--co", "-q", "--ac-modes=eager,compile", "-m", "compile")
    assert "test_mul[cpu-compile]" in only.stdout.str() and "test_mul[cpu]\n" not in only.stdout.str()


def test_compile_mode_observes_compiled_autograd_and_the_table_states_it(project):
    project.probes(MODE_PROBES)
    project.table(MODE_TABLE)
    result = project.run_subprocess("--ac-modes=eager,compile")
    assert result.ret == 1, result.stdout.str()
    result.stdout.fnmatch_lines(["modes: 2 in eager mode, 1 in compile mode (torch.compile backend aot_eager; "
                                 "compiled artefacts kept in *)",
                                 "*fam/test_mul[[]cpu-compile[]]*y.grad_fn*'MulBackward0' → 'CompiledFunctionBackward'*"])
    assert "DEBUG    torch.__trace" not in result.stdout.str()
    report = project.report(run_name("compile"))
    assert report["run_info"]["modes"] == ["eager", "compile"] and report["run_info"]["compile_backend"] == "aot_eager"
    compiled = next(p for p in report["probes"] if p["id"] == "fam/test_mul[cpu-compile]")
    assert compiled["mode"] == "compile" and "mode='compile'" in compiled["repro"]
    assert compiled["observation"]["x.grad.values"]["values"] == [2.0, 2.0]  # the gradient is the same
    assert project.run_subprocess("--ac-modes=eager,compile", "--ac-record").ret == 0
    text = project.table_text()
    assert 'mode = "compile"' in text and '"y.grad_fn" = "CompiledFunctionBackward"' in text
    assert project.run_subprocess("--ac-modes=eager,compile").ret == 0
    assert project.run_subprocess().ret == 0  # eager alone still passes against the same rows


def test_a_backend_the_table_has_not_recorded_is_said_and_its_differences_are_unrecorded(project):
    """The table's compile rows state aot_eager (its default); under dynamo's eager backend no AOTAutograd node
    appears, so the compile probe differs: reported as unrecorded, not failing; recording it writes a block with
    a backend condition that only that backend resolves, and lists the backend as recorded."""
    project.probes(MODE_PROBES)
    project.table(MODE_TABLE + '\n[["fam/test_mul[*]".when]]\nmode = "compile"\nhazard = "cosmetic"\n'
                               'reason = "AOTAutograd wraps the region"\n"y.grad_fn" = "CompiledFunctionBackward"\n')
    args = ("--ac-modes=eager,compile", "--ac-compile-backend=eager", "--ac-compile-cache=cache")
    result = project.run_subprocess(*args)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([
        "*the table has no recording of compile mode under eager for torch*",
        "*fam/test_mul[[]cpu-compile[]]*y.grad_fn*unrecorded*'CompiledFunctionBackward' → 'MulBackward0'*",
        "*unrecorded: 1 probe differs where the table has no recording (compile under eager)*"])
    assert (project.root / "cache").is_dir()
    report = project.report(run_name("compile"))
    assert report["run_info"]["compile_cache"] == str(project.root / "cache")
    assert {p["id"]: p["verdict"] for p in report["probes"]}["fam/test_mul[cpu-compile]"] == "unrecorded"

    recorded = project.run_subprocess(*args, "--ac-record")
    assert recorded.ret == 0, recorded.stdout.str()
    table = (project.root / "suites" / "expectations" / "fam.toml").read_text()
    assert 'mode = "compile"\nbackend = "eager"\nhazard = ' not in table  # agrees with eager: no hazard to state
    assert 'backend = "eager"\nreason = "observed on torch' in table and '"y.grad_fn" = "MulBackward0"' in table
    assert "[backends]\neager = [" in (project.root / "suites" / "expectations" / "_releases.toml").read_text()
    again = project.run_subprocess(*args)
    assert again.ret == 0 and "no recording of compile mode under eager" not in again.stdout.str()
    assert {p["id"]: p["verdict"] for p in project.report(run_name("compile"))["probes"]}[
        "fam/test_mul[cpu-compile]"] == "pass"
    plain = project.run_subprocess("--ac-modes=eager,compile")  # aot_eager: the compile block without a backend
    assert plain.ret == 0, plain.stdout.str()


def test_a_compile_only_run_is_partial(project):
    project.probes(MODE_PROBES)
    project.table(MODE_TABLE)
    result = project.run_subprocess("--ac-modes=compile")
    result.stdout.fnmatch_lines(["*a partial run (--ac-modes=compile)*"])
    assert project.report_path(run_name("compile", kind="partial")).exists()


def test_a_bad_mode_option_stops_the_run(project):
    result = project.run("--ac-modes=jit")
    assert result.ret == 2  # a usage error
    result.stdout.fnmatch_lines(["*--ac-modes=jit: unknown mode 'jit'*"])


LEAKY_THEN_PLAIN = '''
import pytest
import torch

pytestmark = pytest.mark.modes("eager", "compile")


def test_a_leaky(obs):
    """A view taken under inference_mode of a non-leaf, changed in place: the failed compile can leave state."""
    b = torch.ones(4, requires_grad=True) * 2
    with torch.inference_mode():
        view = b[1:3]
    obs.outcome("inplace", lambda: view.mul_(2))


def test_b_plain(obs):
    """x ** 2 summed: its grad_fn."""
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    obs.facts_of("y", (x ** 2).sum())
'''


def test_compile_probes_do_not_depend_on_what_ran_before(project):
    """The proof for compile mode: a probe observes the same facts after a probe whose failed compile leaves
    the dispatcher's state changed (put back, and recorded as dispatcher_state.same) as when run alone."""
    project.probes(LEAKY_THEN_PLAIN)
    project.table("")
    args = ("--ac-modes=eager,compile", "--ac-allow-missing", "-p", "no:randomly")
    assert project.run_subprocess(*args).ret == 0
    together = {p["id"]: p["observation"] for p in project.report(run_name("compile"))["probes"]}
    assert project.run_subprocess(*args, "-k", "test_b_plain").ret == 0
    alone = project.report(run_name("compile", kind="partial"))["probes"]
    assert {p["id"]: p["observation"] for p in alone} == {k: v for k, v in together.items() if "test_b" in k}
    assert together["fam/test_b_plain[compile]"]["y.grad_fn"] == "CompiledFunctionBackward"


def _torch_version() -> str:
    import torch

    return torch.__version__


@pytest.mark.parametrize("eager, compiled, hazard", [
    ({"y.grad_fn": "MulBackward0"}, {"y.grad_fn": "CompiledFunctionBackward"}, "cosmetic"),
    ({"e.message": "a", "e.raises": "RuntimeError"}, {"e.message": "b"}, "cosmetic"),
    ({"x.version": 1}, {"x.version": 2}, "silent"),  # version counters functionalized
    ({"e.raises": "RuntimeError", "e.message": "m"}, {"e.raises": None, "e.message": None}, "silent"),  # check gone
    ({"second.raises": None, "x.grad": [2.0]}, {"second.raises": "RuntimeError", "x.grad": [1.0]}, "loud"),
    ({"b.raises": None, "b.grad_fn": "MulBackward0"}, {"c.raises": "BackendCompilerFailed", "b.grad_fn": "ABSENT"},
     "loud"),  # what the raise leaves unobserved is part of it
    ({"c.raises": None, "dispatcher_state.same": True}, {"c.raises": "BackendCompilerFailed",
                                                         "dispatcher_state.same": False}, "silent"),  # state left
    ({"y.grad_fn": "A"}, {"y.grad_fn": "A"}, None),
])
def test_hazard_of_a_modes_difference(eager, compiled, hazard):
    assert modes.hazard_of(eager, compiled, "ABSENT") == hazard


WARNING_PROBES = '''
import pytest
import torch

pytestmark = pytest.mark.modes("eager", "compile")


def test_copy(obs):
    """torch.tensor of a tensor warns once per call."""
    x = torch.ones(2)
    obs.outcome("copy", lambda: torch.tensor(x) * 2)
'''


def test_a_compiled_outcome_records_each_warning_once(project):
    """Dynamo and AOTAutograd both trace the region, so the code's warning is raised twice while compiling (and
    once when the compiled code comes from a cache): compile mode records it once, as eager does."""
    project.probes(WARNING_PROBES)
    project.table("")
    result = project.run_subprocess("--ac-modes=eager,compile", "--ac-record")
    assert result.ret == 0, result.stdout.str()
    observed = {p["id"]: p["observation"] for p in project.report(run_name("compile", kind="record"))["probes"]}
    eager, compiled = observed["fam/test_copy"], observed["fam/test_copy[compile]"]
    assert len(compiled["copy.warns"]) == 1 and compiled["copy.warns"] == eager["copy.warns"]
