"""Tests of recording several saved runs into the table (autograd-conformance record)."""

import copy

import pytest

from autograd_conformance.expectations import Table
from autograd_conformance.merge import MergeError, merge, record_reports, table_diff
from autograd_conformance.report import Report, RunInfo
from autograd_conformance.result import Location, ProbeResult
from autograd_conformance.synthetic import RUN_INFO
from autograd_conformance.tablefile import dumps_table, write_docs


def run(version, observations, device="cpu", verdict="pass"):
    """A report of one torch version: {probe id: facts}."""
    probes = []
    for pid, facts in observations.items():
        probes.append(ProbeResult(pid if device is None else f"{pid}[{device}]", "fam",
                                  f"suites/test_fam.py::{pid.split('/')[1]}", verdict, device=device,
                                  observation=facts, location=Location("suites/test_fam.py", 1)))
    info = copy.deepcopy(RUN_INFO)
    info.update(run_name=f"torch-{version}", torch_version=version)
    return Report(RunInfo.from_json(info), probes)


def passes(directory, reports):
    for report in reports:
        version = report.run_info.torch_version
        table = Table.load(directory, version)
        for p in report.probes:
            resolved = table.resolve(p.id, p.table_device, version)
            assert resolved is not None and resolved.facts == p.observation, (version, p.id)


def apply(tmp_path, reports):
    docs, summary = merge(tmp_path, reports)
    write_docs(tmp_path, docs, summary.files)
    return (tmp_path / "fam.toml").read_text(), summary


def test_agreeing_runs_give_unconditional_rows(tmp_path):
    reports = [run("2.13.0+cpu", {"fam/t": {"x.is_leaf": True}}), run("2.14.1", {"fam/t": {"x.is_leaf": True}})]
    text, summary = apply(tmp_path, reports)
    assert text == '["fam/t[*]"]\n"x.is_leaf" = true\n'
    assert summary.added_rows == ["fam/t[*]"]
    passes(tmp_path, reports)


def test_a_change_gets_an_open_range_and_a_revert_a_bounded_one(tmp_path):
    reports = [run("2.13.0+cpu", {"fam/t": {"y.grad_fn": "A", "x.is_leaf": True}}),
               run("2.14.1", {"fam/t": {"y.grad_fn": "B", "x.is_leaf": True}}),
               run("2.15.0", {"fam/t": {"y.grad_fn": "A", "x.is_leaf": True}}),
               run("2.16.0", {"fam/t": {"y.grad_fn": "C", "x.is_leaf": True}})]
    text, _ = apply(tmp_path, reports)
    assert 'torch = ">2.13.0,<2.15.0"\n' in text and '"y.grad_fn" = "B"' in text
    assert 'torch = ">2.15.0"\n' in text and '"y.grad_fn" = "C"' in text
    assert text.startswith('["fam/t[*]"]\n"x.is_leaf" = true\n"y.grad_fn" = "A"\n')
    passes(tmp_path, reports)


def test_a_fact_that_disappears_is_marked_absent(tmp_path):
    reports = [run("2.13.0", {"fam/t": {"b.raises": "RuntimeError", "b.message": "boom"}}),
               run("2.14.1", {"fam/t": {"b.raises": None}})]
    text, _ = apply(tmp_path, reports)
    assert '"b.message" = { absent = true }' in text
    passes(tmp_path, reports)


def test_round_trip_deleting_conditioned_rows_and_recording_again(tmp_path):
    reports = [run("2.13.0+cpu", {"fam/t": {"y.grad_fn": "A"}, "fam/u": {"z.count": 1}}),
               run("2.14.1+cu130", {"fam/t": {"y.grad_fn": "B"}, "fam/u": {"z.count": 1}})]
    first, _ = apply(tmp_path, reports)
    edited = first.replace("recorded from reports — replace with why torch differs", "renamed in 2.14")
    (tmp_path / "fam.toml").write_text(edited)
    assert apply(tmp_path, reports)[1].files == set()  # nothing to do: the table already predicts both runs
    stripped = edited.split('[["fam/t[*]".when]]')[0].rstrip() + "\n" + edited.split('"y.grad_fn" = "B"\n')[1]
    (tmp_path / "fam.toml").write_text(stripped)
    again, summary = apply(tmp_path, reports)
    assert summary.changed_rows == ["fam/t[*]"]
    assert again.replace("recorded from reports — replace with why torch differs", "renamed in 2.14") == edited


def test_existing_reason_and_link_are_kept(tmp_path):
    (tmp_path / "fam.toml").write_text(dumps_table({"fam/t[*]": {"y.grad_fn": "A", "when": [
        {"torch": ">2.13.0", "reason": "known", "link": "https://example.invalid/1", "y.grad_fn": "B"}]}}))
    reports = [run("2.13.0", {"fam/t": {"y.grad_fn": "A", "y.is_leaf": False}}),
               run("2.14.1", {"fam/t": {"y.grad_fn": "B", "y.is_leaf": True}})]
    text, _ = apply(tmp_path, reports)
    assert text.count("[[") == 1 and 'reason = "known"' in text and 'link = "https://example.invalid/1"' in text
    passes(tmp_path, reports)


def test_patterns_are_respected_and_only_wrong_facts_rewritten(tmp_path):
    (tmp_path / "fam.toml").write_text('["fam/t*"]\n"x.is_leaf" = true\n"y.grad_fn" = "A"\n')
    reports = [run("2.13.0", {"fam/t": {"x.is_leaf": True, "y.grad_fn": "A"}}),
               run("2.14.1", {"fam/t": {"x.is_leaf": True, "y.grad_fn": "B"}})]
    text, summary = apply(tmp_path, reports)
    assert summary.facts_written == 1
    own = text.split('["fam/t[*]"]')[1]
    assert "x.is_leaf" not in own and '"y.grad_fn" = "A"' in own
    passes(tmp_path, reports)


def test_device_differences_get_a_device_condition(tmp_path):
    reports = [run("2.13.0", {"fam/t": {"y.grad_fn": "A"}}),
               run("2.13.0", {"fam/t": {"y.grad_fn": "CudaA"}}, device="cuda")]
    text, _ = apply(tmp_path, reports)
    assert 'device = "cuda"' in text and '"y.grad_fn" = "CudaA"' in text
    passes(tmp_path, reports)


def test_runs_with_broken_probes_are_refused(tmp_path):
    with pytest.raises(MergeError, match="probe\\(s\\) broke"):
        merge(tmp_path, [run("2.13.0", {"fam/t": {"x.is_leaf": True}}, verdict="error")])
    assert not (tmp_path / "fam.toml").exists()


def test_dry_run_diff_shows_the_change(tmp_path):
    docs, summary = merge(tmp_path, [run("2.13.0", {"fam/t": {"x.is_leaf": True}})])
    diff = table_diff(tmp_path, docs, summary.files)
    assert '+["fam/t[*]"]' in diff and not (tmp_path / "fam.toml").exists()


def test_a_probe_on_some_releases_only_gets_a_torch_range(tmp_path):
    reports = [run("2.13.0+cpu", {"fam/old": {"x.is_leaf": True}, "fam/both": {"x.is_leaf": True}}),
               run("2.14.1", {"fam/new": {"x.is_leaf": False}, "fam/both": {"x.is_leaf": True}})]
    text, _ = apply(tmp_path, reports)
    assert '["fam/old[*]"]\ntorch = "<2.14.1"\n' in text
    assert '["fam/new[*]"]\ntorch = ">2.13.0"\n' in text
    assert '["fam/both[*]"]\n"x.is_leaf" = true\n' in text
    passes(tmp_path, reports)
    for report in reports:
        version = report.run_info.torch_version
        ids = {p.id for p in report.probes}
        assert Table.load(tmp_path, version).stale_keys(ids, version) == []


def with_compile(version, eager, compiled):
    """A report with eager probes and their compile-mode twins."""
    report = run(version, eager)
    for pid, facts in compiled.items():
        report.probes.append(ProbeResult(f"{pid}[cpu-compile]", "fam", f"suites/test_fam.py::{pid.split('/')[1]}",
                                         "pass", device="cpu", mode="compile", observation=facts,
                                         location=Location("suites/test_fam.py", 1)))
    return report


def test_compile_runs_get_mode_blocks_and_a_compile_change_its_own_range(tmp_path):
    reports = [with_compile("2.13.0", {"fam/t": {"y.grad_fn": "MulBackward0"}},
                            {"fam/t": {"y.grad_fn": "CompiledFunctionBackward"}}),
               with_compile("2.14.1", {"fam/t": {"y.grad_fn": "MulBackward0"}},
                            {"fam/t": {"y.grad_fn": "CompiledFunctionBackward", "scenario.raises": "X"}})]
    text, _ = apply(tmp_path, reports)
    assert text.startswith('["fam/t[*]"]\n"y.grad_fn" = "MulBackward0"\n')
    assert 'mode = "compile"\nhazard = "cosmetic"\nreason = "observed on torch 2.13.0, 2.14.1 in compile mode' in text
    assert 'torch = ">2.13.0"\nmode = "compile"' in text and '"scenario.raises" = "X"' in text
    table = Table.load(tmp_path, "2.14.1")
    assert table.resolve("fam/t[cpu-compile]", "cpu", "2.14.1", "compile").facts == {
        "y.grad_fn": "CompiledFunctionBackward", "scenario.raises": "X"}
    assert table.resolve("fam/t[cpu]", "cpu", "2.14.1").facts == {"y.grad_fn": "MulBackward0"}


def test_compile_runs_without_their_eager_twins_cannot_state_a_row(tmp_path):
    report = with_compile("2.13.0", {}, {"fam/t": {"y.grad_fn": "CompiledFunctionBackward"}})
    with pytest.raises(MergeError, match="no run observed the reference variant"):
        merge(tmp_path, [report])


def compiled_under(backend, version, compiled):
    """A report of compile-mode probes only (``--ac-modes=compile``), run under ``backend``."""
    report = with_compile(version, {}, compiled)
    report.run_info.compile_backend = backend
    report.run_info.partial, report.run_info.partial_reason = True, "--ac-modes=compile"
    return report


BACKEND_TABLE = ('["fam/t[*]"]\n"y.grad_fn" = "MulBackward0"\n"y.requires_grad" = true\n\n'
                 '[["fam/t[*]".when]]\ntorch = "<2.5"\nreason = "old"\n"y.requires_grad" = false\n\n'
                 '[["fam/t[*]".when]]\nmode = "compile"\nhazard = "cosmetic"\nreason = "aot"\n'
                 '"y.grad_fn" = "CompiledFunctionBackward"\n')


def test_runs_under_another_backend_state_its_differences_in_backend_blocks(tmp_path):
    """Compile-only runs under inductor on two releases: the row's base, its release blocks and compile mode's
    own block stay; inductor's differences from compile mode's rows get blocks with its backend condition (a
    range where only one release differs), each with its hazard against eager, and inductor is listed as
    recorded on both releases."""
    (tmp_path / "fam.toml").write_text(BACKEND_TABLE)
    (tmp_path / "_releases.toml").write_text('described = ["2.0.1", "2.13.0", "2.14.1"]\n')
    reports = [compiled_under("inductor", "2.13.0", {"fam/t": {"y.grad_fn": "CompiledFunctionBackward",
                                                                "y.requires_grad": False}}),
               compiled_under("inductor", "2.14.1", {"fam/t": {"y.grad_fn": "MulBackward0", "y.requires_grad": False}})]
    text = record_reports(tmp_path, reports)
    assert "compile mode under inductor listed as recorded on torch 2.13.0" in text
    doc = (tmp_path / "fam.toml").read_text()
    assert 'torch = "<2.5"\nreason = "old"\n"y.requires_grad" = false' in doc and 'reason = "aot"' in doc
    assert 'mode = "compile"\nbackend = "inductor"\nhazard = "silent"\n' in doc  # another gradient value
    assert 'torch = ">2.13.0"\nmode = "compile"\nbackend = "inductor"\n' in doc
    assert "inductor = [\"2.13.0\", \"2.14.1\"]" in (tmp_path / "_releases.toml").read_text()
    for version in ("2.13.0", "2.14.1"):
        table = Table.load(tmp_path, version)
        assert table.resolve("fam/t[cpu]", "cpu", version).facts == {"y.grad_fn": "MulBackward0", "y.requires_grad": True}
        assert table.resolve("fam/t[cpu-compile]", "cpu", version, "compile").facts == {
            "y.grad_fn": "CompiledFunctionBackward", "y.requires_grad": True}
    table = Table.load(tmp_path, "2.14.1")
    assert table.resolve("fam/t[cpu-compile]", "cpu", "2.14.1", "compile", "inductor").facts == {
        "y.grad_fn": "MulBackward0", "y.requires_grad": False}
    assert table.resolve("fam/t[cpu]", "cpu", "2.0.1").facts["y.requires_grad"] is False


def test_blocks_of_variants_no_run_observed_are_kept(tmp_path):
    """Recording eager-only runs of two releases leaves the compile and cuda blocks of a row as they were."""
    (tmp_path / "fam.toml").write_text(
        '["fam/t[*]"]\n"y.grad_fn" = "MulBackward0"\n\n'
        '[["fam/t[*]".when]]\nmode = "compile"\nreason = "compiled"\n"y.grad_fn" = "CompiledFunctionBackward"\n\n'
        '[["fam/t[*]".when]]\ndevice = "cuda"\nreason = "cuda"\n"y.grad_fn" = "CudaBackward"\n')
    reports = [run("2.0.1", {"fam/t": {"y.grad_fn": "MulBackward"}}),
               run("2.13.0", {"fam/t": {"y.grad_fn": "MulBackward0"}})]
    text, _ = apply(tmp_path, reports)
    assert 'torch = ">2.0.1"' in text
    table = Table.load(tmp_path, "2.13.0")
    assert table.resolve("fam/t[cpu-compile]", "cpu", "2.13.0", "compile").facts == {
        "y.grad_fn": "CompiledFunctionBackward"}
    assert table.resolve("fam/t[cuda]", "cuda", "2.13.0").facts == {"y.grad_fn": "CudaBackward"}
    passes(tmp_path, reports)
