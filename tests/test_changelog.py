"""The changelog, from the table alone: every stated change at each release boundary, with its reason."""

from __future__ import annotations

import json

import pytest

from autograd_conformance.changelog import ChangelogError, build, format_json, format_markdown, format_text, timeline
from autograd_conformance.cli import main
from autograd_conformance.expectations import Table

TABLE = '''
["fam/test_a[*]"]
"y.grad_fn" = "OldBackward0"
"b.message" = "old words"

[["fam/test_a[*]".when]]
torch = ">=2.2"
reason = "2.2 renamed the node"
link = "https://github.com/pytorch/pytorch/pull/1"
"y.grad_fn" = "NewBackward0"

[["fam/test_a[*]".when]]
torch = ">=2.3"
reason = "2.3 reworded the error"
"b.message" = "new words"

[["fam/test_a[*]".when]]
torch = ">=2.3"
device = "cuda"
reason = "only on cuda"
"y.grad_fn" = "CudaBackward0"

["fam/test_new[*]"]
torch = ">2.1.0"
reason = "added in 2.2"
"x.is_leaf" = true

["fam/test_steady[*]"]
"x.is_leaf" = true
'''


@pytest.fixture
def table(tmp_path) -> Table:
    (tmp_path / "fam.toml").write_text(TABLE)
    (tmp_path / "_releases.toml").write_text('described = ["2.1.0", "2.2.0", "2.3.0"]\n')
    return Table.load(tmp_path, "2.3.0")


def test_every_stated_change_at_its_boundary_with_its_reason(table):
    log = build(table)
    got = {(i.before_release, i.after_release, i.key, i.fact, i.device): (i.before, i.after, i.reason) for i in log.items}
    assert got == {
        ("2.1.0", "2.2.0", "fam/test_a[*]", "y.grad_fn", None): ("OldBackward0", "NewBackward0", "2.2 renamed the node"),
        ("2.1.0", "2.2.0", "fam/test_new[*]", "(probe exists)", None): (False, True, "added in 2.2"),
        ("2.2.0", "2.3.0", "fam/test_a[*]", "b.message", None): ("old words", "new words", "2.3 reworded the error"),
        ("2.2.0", "2.3.0", "fam/test_a[*]", "y.grad_fn", "cuda"): ("NewBackward0", "CudaBackward0", "only on cuda"),
    }
    assert log.semantic == 3


def test_a_range_of_releases_and_its_grouping(table):
    log = build(table, "2.2", "2.3")
    assert log.boundaries == [("2.2.0", "2.3.0")]
    assert [(i.fact, i.kind) for i in log.by_family()["fam"]] == [("y.grad_fn", "semantic"), ("b.message", "text")]
    with pytest.raises(ChangelogError, match="--from 2.3 comes after --to 2.1"):
        build(table, "2.3", "2.1")
    with pytest.raises(ChangelogError, match="--from two: not a torch version"):
        build(table, "two")


def test_release_notes_group_changes_by_cause_with_an_example_and_its_command(table):
    log = build(table)
    causes = log.causes()
    assert [(c.title, c.topic, c.probes) for c in causes[("2.1.0", "2.2.0")]] == [
        ("PR #1", "api", ["fam/test_a[*]"]), ("added in 2.2", "api", ["fam/test_new[*]"])]
    text = format_text(log)
    assert text.splitlines()[0] == ("autograd changelog: torch 2.1.0 → 2.3.0, eager mode (2 release boundaries): "
                                    "4 causes move 2 probes, 4 facts (3 of behaviour)")
    assert "by kind: api 3 causes (2 probes) · messages 1 cause (1 probe)" in text
    assert "[api] PR #1  (1 probe, 1 fact)\n    link: https://github.com/pytorch/pytorch/pull/1\n    why: 2.2 renamed the node" in text
    assert "    e.g. fam/test_a[*]  y.grad_fn: 'OldBackward0' → 'NewBackward0'\n" in text
    assert '         autograd-conformance run -k "test_a[cpu]"' in text
    assert 'y.grad_fn on cuda: \'NewBackward0\' → \'CudaBackward0\'\n         autograd-conformance run -k "test_a[cuda]"' in text
    assert "fam/test_new[*]  probe added" in text
    assert "- **api** — [PR #1](https://github.com/pytorch/pytorch/pull/1) — 1 probe, 1 fact" in format_markdown(log)
    data = json.loads(format_json(log))
    assert len(data["items"]) == 4 and len(data["causes"]) == 4 and data["summary"]["causes"] == 4
    assert data["causes"][0]["repro"] == 'autograd-conformance run -k "test_a[cpu]"'


def test_detail_lists_every_fact_and_long_strings_show_where_they_differ(tmp_path):
    before, after = "x" * 80 + " will raise an error", "x" * 80 + " raises an error"
    (tmp_path / "fam.toml").write_text(f'["fam/t[*]"]\n"b.message" = "{before}"\n\n[["fam/t[*]".when]]\n'
                                       f'torch = ">2.1.0"\nreason = "reworded"\n"b.message" = "{after}"\n')
    (tmp_path / "_releases.toml").write_text('described = ["2.1.0", "2.2.0"]\n')
    log = build(Table.load(tmp_path, "2.2.0"))
    assert "probes: fam/t[*]" in format_text(log) and "\n    fam/t[*]  b.message" not in format_text(log)
    detail = format_text(log, detail=True)
    assert "\n    fam/t[*]  b.message: differ from char 81: " in detail and "will raise" in detail
    assert "x" * 60 not in detail  # the span around the difference, not both strings whole


def test_a_fact_an_ending_block_stated_takes_the_reason_of_the_block_that_begins_there(tmp_path):
    """A block whose range ends where another begins: the facts only the ending one stated change for the new
    block's reason (the change of that boundary), in the changelog and in a probe's timeline alike."""
    (tmp_path / "fam.toml").write_text(
        '["fam/t[*]"]\n"a.declared" = "skipped"\n\n'
        '[["fam/t[*]".when]]\ntorch = ">2.1.0,<2.3.0"\nreason = "2.2 declared b skipped"\n"b.declared" = "skipped"\n\n'
        '[["fam/t[*]".when]]\ntorch = ">2.2.0"\nreason = "2.3 moved the skips out"\n'
        'link = "https://github.com/pytorch/pytorch/pull/7"\n"a.declared" = { absent = true }\n')
    (tmp_path / "_releases.toml").write_text('described = ["2.1.0", "2.2.0", "2.3.0"]\n')
    table = Table.load(tmp_path, "2.3.0")
    why = {(i.after_release, i.fact): i.reason for i in build(table).items}
    assert why == {("2.2.0", "b.declared"): "2.2 declared b skipped", ("2.3.0", "a.declared"): "2.3 moved the skips out",
                   ("2.3.0", "b.declared"): "2.3 moved the skips out"}
    steps = {(c.after_release, c.fact): (c.reason, c.link) for c in timeline(table, "fam/t[cpu]", "cpu")}
    assert steps[("2.3.0", "b.declared")] == ("2.3 moved the skips out", "https://github.com/pytorch/pytorch/pull/7")
    assert steps[("2.2.0", "b.declared")] == ("2.2 declared b skipped", None)


@pytest.mark.parametrize("args, message", [
    (["--from", "2.44"], "--from 2.44: torch 2.44 is newer than the newest release the table describes "
                         "(2.1.0, 2.2.0, 2.3.0); name one of them, or its minor version (e.g. 2.3)"),
    (["--from", "1.13"], "--from 1.13: torch 1.13 is older than the oldest release the table describes"),
    (["--to", "2.16"], "--to 2.16: torch 2.16 is newer than the newest release"),
    (["--from", "2.1", "--to", "2.9"], "--to 2.9: torch 2.9 is newer than the newest release"),
    (["--kind", "speed"], "--kind speed: use one of values, errors, api, messages, test-database"),
    (["--mode", "fast"], "--mode fast: use one of eager, compile or all"),
    (["--pytorch", "somewhere"], "--pytorch goes with --check-links"),
])
def test_a_release_the_table_does_not_describe_is_a_one_line_error(table, tmp_path, capsys, args, message):
    assert main(["changelog", "--expectations", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_a_minor_version_or_a_patch_of_a_described_minor_names_its_release(table):
    assert (build(table, "2.2").start, build(table, "2.1.7", "2.2.5").end) == ("2.2.0", "2.2.0")


def test_kind_family_and_mode_select(table, tmp_path):
    assert {c.fact for c in build(table, kinds=["messages"]).items} == {"b.message"}
    assert build(table, families=["other"]).items == []
    (tmp_path / "fam.toml").write_text('["fam/t[*]"]\n"y.grad_fn" = "A"\n\n[["fam/t[*]".when]]\nmode = "compile"\n'
                                       'torch = ">2.1.0"\nreason = "compiled"\n"y.grad_fn" = "B"\n')
    (tmp_path / "_releases.toml").write_text('described = ["2.1.0", "2.2.0"]\n')
    moded = Table.load(tmp_path, "2.2.0")
    assert build(moded).items == []  # eager by default
    assert [(i.fact, i.mode) for i in build(moded, mode="compile").items] == [("y.grad_fn", "compile")]
    assert len(build(moded, mode="all").items) == 1


def test_the_command_needs_no_torch_and_writes_html(table, tmp_path, capsys):
    directory = str(tmp_path)
    assert main(["changelog", "--expectations", directory, "--from", "2.2", "--semantic-only"]) == 0
    out = capsys.readouterr().out
    assert "y.grad_fn" in out and "b.message" not in out
    assert main(["changelog", "--expectations", directory, "--format", "html", "-o", str(tmp_path / "c.html")]) == 0
    page = (tmp_path / "c.html").read_text()
    assert "Autograd changelog: torch <code>2.1.0</code> → <code>2.3.0</code>" in page and "2.2 renamed the node" in page


def test_a_table_without_described_releases_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "fam.toml").write_text(TABLE)
    assert main(["changelog", "--expectations", str(tmp_path)]) == 2
    assert "describes fewer than two torch releases" in capsys.readouterr().err


def test_mode_differences_only_where_the_mode_was_recorded(tmp_path):
    """A compile block recorded on 2.2.0 says nothing about compile on 2.1.0 or 2.3.0."""
    (tmp_path / "fam.toml").write_text('["fam/t[*]"]\n"y.grad_fn" = "MulBackward0"\n\n[["fam/t[*]".when]]\n'
                                       'mode = "compile"\nreason = "compiled"\n"y.grad_fn" = "CompiledFunctionBackward"\n')
    (tmp_path / "_releases.toml").write_text('described = ["2.1.0", "2.2.0", "2.3.0"]\n[modes]\ncompile = ["2.2.0"]\n')
    assert build(Table.load(tmp_path, "2.3.0")).mode_differences == {}  # eager mode: no comparison
    log = build(Table.load(tmp_path, "2.3.0"), mode="all")
    assert log.mode_differences == {"2.2.0": {"compile": (1, 1)}}
    assert "on torch 2.2.0, compile mode differs from eager in 1 facts of 1 rows" in format_text(log)


def test_a_probes_timeline_across_described_releases(tmp_path):
    (tmp_path / "fam.toml").write_text('["fam/t[*]"]\n"y.grad_fn" = "A"\n\n[["fam/t[*]".when]]\n'
                                       'torch = ">2.13"\nreason = "r"\n"y.grad_fn" = "B"\n')
    (tmp_path / "_releases.toml").write_text('described = ["2.13.0", "2.14.1"]\n')
    (change,) = timeline(Table.load(tmp_path, "2.13.0"), "fam/t[cpu]", "cpu")
    assert (change.before_release, change.after_release, change.fact, change.before, change.after, change.reason) == (
        "2.13.0", "2.14.1", "y.grad_fn", "A", "B", "r")
    assert (change.family, change.key, change.kind, change.device, change.mode) == (
        "fam", "fam/t[cpu]", "semantic", None, None)  # the same Change the changelog lists
    assert change.timeline_json() == {"before_release": "2.13.0", "after_release": "2.14.1", "fact": "y.grad_fn",
                                      "before": "A", "after": "B", "reason": "r", "link": None}


BACKEND_TABLE = '''
["fam/test_c[*]"]
"y.requires_grad" = true

[["fam/test_c[*]".when]]
mode = "compile"
hazard = "cosmetic"
reason = "compiled"
"y.grad_fn" = "CompiledFunctionBackward"

[["fam/test_c[*]".when]]
torch = ">2.2.0"
mode = "compile"
backend = "inductor"
hazard = "silent"
reason = "inductor's fused kernel keeps no graph from 2.3"
"y.requires_grad" = false
'''


def test_compile_changes_under_a_backend_are_its_own(tmp_path):
    """The inductor block's change shows in compile mode under inductor only; aot_eager's compile mode is steady."""
    (tmp_path / "fam.toml").write_text(BACKEND_TABLE)
    (tmp_path / "_releases.toml").write_text('described = ["2.1.0", "2.2.0", "2.3.0"]\n\n[modes]\n'
                                             'compile = ["2.1.0", "2.2.0", "2.3.0"]\n\n[backends]\n'
                                             'inductor = ["2.1.0", "2.2.0", "2.3.0"]\n')
    table = Table.load(tmp_path, "2.3.0")
    assert build(table, mode="compile").items == []
    items = build(table, mode="compile", backend="inductor").items
    assert [(i.after_release, i.fact, i.before, i.after, i.hazard) for i in items] == [
        ("2.3.0", "y.requires_grad", True, False, "silent")]
    with pytest.raises(ChangelogError, match="--backend tvm"):
        build(table, mode="compile", backend="tvm")
