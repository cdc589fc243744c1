"""Tests of the expectations table: loading, validation, conditions and layered pattern resolution."""

from pathlib import Path

import pytest

from autograd_conformance.expectations import Table, TableError


def load(tmp_path: Path, text: str, version: str = "2.13.0+cpu", family: str = "fam") -> Table:
    (tmp_path / f"{family}.toml").write_text(text)
    return Table.load(tmp_path, version)



def test_exact_beats_pattern_and_facts_layer(tmp_path):
    table = load(tmp_path, '''
["fam/test_op[*]"]
"out.requires_grad" = true
"out.grad_fn" = "AddBackward0"

["fam/test_op[cpu-mul]"]
"out.grad_fn" = "MulBackward0"
''')
    mul = table.resolve("fam/test_op[cpu-mul]", "cpu", "2.13.0")
    assert mul.facts == {"out.requires_grad": True, "out.grad_fn": "MulBackward0"}
    assert mul.sources["out.requires_grad"].endswith("[fam/test_op[*]]")
    assert mul.sources["out.grad_fn"].endswith("[fam/test_op[cpu-mul]]")
    assert table.resolve("fam/test_op[cpu-add]", "cpu", "2.13.0").facts["out.grad_fn"] == "AddBackward0"
    assert table.resolve("fam/other", "cpu", "2.13.0") is None


def test_brackets_are_literal_and_question_mark_is_one_character(tmp_path):
    table = load(tmp_path, '["fam/test_op[c?u]"]\n"out.is_leaf" = true\n')
    assert table.resolve("fam/test_op[cpu]", "cpu", "2.13.0") is not None
    assert table.resolve("fam/test_opc", "cpu", "2.13.0") is None


def test_more_specific_pattern_wins(tmp_path):
    table = load(tmp_path, '''
["fam/*"]
"out.is_leaf" = true

["fam/test_op*"]
"out.is_leaf" = false
''')
    assert table.resolve("fam/test_op[cpu]", "cpu", "2.13.0").facts["out.is_leaf"] is False


def test_equally_specific_patterns_that_disagree_conflict(tmp_path):
    table = load(tmp_path, '''
["fam/test_a*"]
"out.is_leaf" = true

["fam/test_*b"]
"out.is_leaf" = false
''')
    with pytest.raises(TableError, match="conflicting rows for fam/test_ab"):
        table.resolve("fam/test_ab", "cpu", "2.13.0")


TWO_CONDITIONS = '''
["fam/test_x"]
"out.grad_fn" = "A"

[["fam/test_x".when]]
torch = ">=2.14"
reason = "renamed"
link = "https://github.com/pytorch/pytorch/pull/1"
"out.grad_fn" = "B"

[["fam/test_x".when]]
torch = ">=2.14"
device = "cuda"
"out.grad_fn" = "C"
'''


@pytest.mark.parametrize("version, device, expected", [
    ("2.13.0+cpu", "cpu", "A"), ("2.14.1", "cpu", "B"), ("2.15.0rc1", "cpu", "B"),
    ("2.14.1", "cuda", "C"), ("2.13.0", "cuda", "A"),
])
def test_most_specific_matching_block_wins(tmp_path, version, device, expected):
    table = load(tmp_path, TWO_CONDITIONS, version)
    resolved = table.resolve("fam/test_x", device, version)
    assert resolved.facts["out.grad_fn"] == expected


DEVICE_OVER_RANGE = '''
["fam/test_x"]
"out.grad_fn" = "A"

[["fam/test_x".when]]
torch = ">=2.14"
reason = "renamed"
"out.grad_fn" = "B"

[["fam/test_x".when]]
device = "cuda"
reason = "cuda kernel"
"out.grad_fn" = "C"
'''


@pytest.mark.parametrize("version, device, expected", [("2.13.0", "cpu", "A"), ("2.14.1", "cpu", "B"),
                                                       ("2.13.0", "cuda", "C"), ("2.14.1", "cuda", "C")])
def test_a_device_block_wins_over_a_release_range(tmp_path, version, device, expected):
    """A release range recorded on cpu does not compete with a cuda block (no conflict on cuda 2.14)."""
    assert load(tmp_path, DEVICE_OVER_RANGE, version).resolve("fam/test_x", device, version).facts == {
        "out.grad_fn": expected}


def test_block_source_names_its_condition(tmp_path):
    resolved = load(tmp_path, TWO_CONDITIONS).resolve("fam/test_x", "cuda", "2.14.1")
    assert 'when torch ">=2.14", device "cuda"' in resolved.sources["out.grad_fn"]


def test_null_is_written_false_for_nullable_facts(tmp_path):
    table = load(tmp_path, '["fam/t"]\n"x.grad_fn" = false\n"x.grad" = false\n"x.is_leaf" = false\n')
    assert table.resolve("fam/t", "cpu", "2.13.0").facts == {"x.grad_fn": None, "x.grad": None, "x.is_leaf": False}


def test_stale_keys(tmp_path):
    table = load(tmp_path, '["fam/a"]\n"x.is_leaf" = true\n["fam/b*"]\n"x.is_leaf" = true\n["fam/c"]\n"x.is_leaf" = true\n')
    assert [e.key for e in table.stale_keys({"fam/a", "fam/b[cpu]"})] == ["fam/c"]


def test_digest_changes_with_content(tmp_path):
    a = load(tmp_path, '["fam/a"]\n"x.is_leaf" = true\n').digest
    b = load(tmp_path, '["fam/a"]\n"x.is_leaf" = false\n').digest
    assert a != b and len(a) == 64


def test_missing_directory_is_an_empty_table(tmp_path):
    assert Table.load(tmp_path / "nope", "2.13.0").entries == []


@pytest.mark.parametrize("text, message", [
    ('["fam/a"]\n"x.is_leaf" = true\n[["fam/a".when]]\n"x.is_leaf" = false\n', "has no condition"),
    ('["fam/a"]\n"x.is_leaf" = true\n[["fam/a".when]]\ntorch = ">=2"\n', "names no fact"),
    ('["fam/a"]\n"x.is_leaf" = true\nwhen = 3\n', "must be an array of tables"),
    ('"fam/a" = 3\n', "must be a TOML table"),
    ('["fam/a"]\n"x.is_leaf" = true\n[["fam/a".when]]\ntorch = 2\n"x.is_leaf" = false\n', "must be a string"),
    ('["fam/a"]\n"x.values" = { dtype = "torch.float32", shape = [1], values = [1.0], rtol = "big" }\n',
     "rtol must be a number"),
    ('["fam/a"]\n"x.grad_fn" = { match = 3 }\n', "match must be a string"),
])
def test_validation_errors_name_file_and_key(tmp_path, text, message):
    with pytest.raises(TableError, match=message) as info:
        load(tmp_path, text)
    assert str(info.value).startswith(f"{tmp_path / 'fam.toml'}: [fam/a]: ")


def test_conflict_is_detected_at_load_for_the_running_version_only(tmp_path):
    text = '''
["fam/a"]
"x.is_leaf" = true

[["fam/a".when]]
torch = ">=2.14"
"x.is_leaf" = false

[["fam/a".when]]
torch = "<2.15"
"x.is_leaf" = true
'''
    load(tmp_path, text, "2.13.0")  # only the second block matches: no conflict
    with pytest.raises(TableError, match="conflicting rows for fact 'x.is_leaf' under torch 2.14.1"):
        load(tmp_path, text, "2.14.1")


def test_absent_marker_removes_a_fact_on_a_version(tmp_path):
    table = load(tmp_path, '''
["fam/t"]
"backward.raises" = "RuntimeError"
"backward.message" = "boom"

[["fam/t".when]]
torch = ">2.13.0"
"backward.raises" = false
"backward.message" = { absent = true }
''')
    assert table.resolve("fam/t", "cpu", "2.13.0").facts == {"backward.raises": "RuntimeError",
                                                             "backward.message": "boom"}
    newer = table.resolve("fam/t", "cpu", "2.14.1")
    assert newer.facts == {"backward.raises": None}
    assert "backward.message" not in newer.sources


def test_absent_marker_must_be_exact(tmp_path):
    with pytest.raises(TableError, match="absent = true"):
        load(tmp_path, '["fam/t"]\n"x.is_leaf" = { absent = false }\n')


def test_an_entry_torch_range_limits_where_the_probe_exists(tmp_path):
    table = load(tmp_path, '["fam/t"]\ntorch = "<2.14"\nreason = "removed from op_db in 2.14"\n"x.is_leaf" = true\n')
    assert table.resolve("fam/t", "cpu", "2.13.0").facts == {"x.is_leaf": True}
    assert table.resolve("fam/t", "cpu", "2.14.1") is None
    assert [e.key for e in table.stale_keys(set(), "2.13.0")] == ["fam/t"]
    assert table.stale_keys(set(), "2.14.1") == []


def test_an_entry_torch_range_does_not_override_when_blocks(tmp_path):
    table = load(tmp_path, '''
["fam/t"]
torch = ">=2.0"
"x.grad_fn" = "A"

[["fam/t".when]]
torch = ">2.13.0"
"x.grad_fn" = "B"
''')
    assert table.resolve("fam/t", "cpu", "2.14.1").facts == {"x.grad_fn": "B"}


@pytest.mark.parametrize("modes_table, error", [
    ('[modes]\nturbo = ["2.13.0"]\n', "unknown mode 'turbo' in \\[modes\\]"),
    ('[modes]\ncompile = "2.13.0"\n', "\\[modes\\] compile must be a list of torch versions"),
    ('[modes]\ncompile = ["two"]\n', "\\[modes\\] compile: not a torch version"),
    ('[devices]\ntpu = ["2.13.0"]\n', "unknown device 'tpu' in \\[devices\\]"),
    ('[devices]\ncuda = "2.13.0"\n', "\\[devices\\] cuda must be a list of torch versions"),
    ('devices = 3\n', "'devices' must be a table"),
])
def test_a_bad_modes_table_names_the_file(tmp_path, modes_table, error):
    (tmp_path / "_releases.toml").write_text('described = ["2.13.0"]\n' + modes_table)
    with pytest.raises(TableError, match=f"_releases.toml.*{error}"):
        Table.load(tmp_path, "2.13.0")


BACKEND_ROW = '''
["fam/t"]
"x.grad_fn" = "MulBackward0"

[["fam/t".when]]
mode = "compile"
hazard = "cosmetic"
"x.grad_fn" = "CompiledFunctionBackward"

[["fam/t".when]]
mode = "compile"
backend = "inductor"
hazard = "silent"
"x.requires_grad" = false
'''


def test_a_backend_block_states_how_that_backend_differs_from_compile_modes_rows(tmp_path):
    """Compile mode's block holds for every backend; the inductor block adds to it under inductor only."""
    table = load(tmp_path, BACKEND_ROW)
    assert table.resolve("fam/t", "cpu", "2.13.0").facts == {"x.grad_fn": "MulBackward0"}
    assert table.resolve("fam/t[compile]", "cpu", "2.13.0", "compile").facts == {
        "x.grad_fn": "CompiledFunctionBackward"}
    under = table.resolve("fam/t[compile]", "cpu", "2.13.0", "compile", "inductor")
    assert under.facts == {"x.grad_fn": "CompiledFunctionBackward", "x.requires_grad": False}
    assert under.sources["x.requires_grad"].endswith('when mode "compile", backend "inductor"')


@pytest.mark.parametrize("block, error", [
    ('backend = "inductor"\n"x.grad_fn" = "A"\n', "'backend' belongs in a block with mode = \"compile\""),
    ('mode = "compile"\nbackend = "tvm"\nhazard = "loud"\n"x.grad_fn" = "A"\n', "unknown backend 'tvm'"),
])
def test_a_bad_backend_condition_names_the_row(tmp_path, block, error):
    with pytest.raises(TableError, match=f"fam.toml: \\[fam/t\\]: {error}"):
        load(tmp_path, f'["fam/t"]\n"x.grad_fn" = "B"\n\n[["fam/t".when]]\n{block}')
