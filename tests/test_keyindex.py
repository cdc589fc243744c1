"""Table keys: patterns (``*``, ``?``, a whole-parameter ``*``) and the index that finds a probe id's keys."""

from autograd_conformance.keyindex import KeyIndex, head, is_pattern, key_matches, used_by


def test_patterns_and_exact_keys():
    assert is_pattern("fam/test_x[*]") and not is_pattern("fam/test_x[cpu]")
    assert key_matches("fam/test_x[*]", "fam/test_x[cpu-leaf]")
    assert key_matches("fam/test_?", "fam/test_a") and not key_matches("fam/test_?", "fam/test_ab")
    assert key_matches("fam/test_x[cpu]", "fam/test_x[cpu]") and not key_matches("fam/test_x[cpu]", "fam/test_x")


def test_a_whole_parameter_star_stands_for_exactly_one_parameter():
    assert key_matches("fam/t[*-leaf]", "fam/t[cpu-leaf]")
    assert not key_matches("fam/t[*-leaf]", "fam/t[cpu-non-leaf]")


def test_the_index_tries_only_patterns_whose_head_the_id_starts_with():
    keys = ["fam/test_x[*]", "fam/*", "other/*", "fam/test_x[cpu]", "fam/test_y[cpu]"]
    index = KeyIndex(keys, lambda k: k)
    assert sorted(index.matching("fam/test_x[cpu]")) == ["fam/*", "fam/test_x[*]", "fam/test_x[cpu]"]
    assert head("fam/test_x[*]") == "fam/test_x" and head("fam/te?t") == "fam/te"


def test_used_by_finds_keys_that_name_a_probe():
    ids = {"fam/test_x[cpu]", "fam/test_y"}
    by_base = {"fam/test_x": ["fam/test_x[cpu]"], "fam/test_y": ["fam/test_y"]}
    assert used_by("fam/test_x[*]", ids, by_base) and used_by("fam/test_y", ids, by_base)
    assert not used_by("fam/test_z[*]", ids, by_base) and not used_by("fam/test_x[cuda]", ids, by_base)
