"""Tests of the table files' TOML writing: values, sorting, round trips."""

import tomllib

import pytest

from autograd_conformance.tablefile import dumps_table, toml_value


@pytest.mark.parametrize("value, text", [
    (None, "false"), (True, "true"), (3, "3"), (0.5, "0.5"), (1e-20, "1e-20"), (float("nan"), '"nan"'),
    ('say "hi"\n', '"say \\"hi\\"\\n"'), ([1, "a"], '[1, "a"]'),
    ({"dtype": "torch.float32", "shape": [1]}, '{ dtype = "torch.float32", shape = [1] }'),
    ({"a key": 1}, '{ "a key" = 1 }'),
])
def test_toml_value(value, text):
    assert toml_value(value) == text


def test_dumps_is_sorted_and_parses_back():
    doc = {"fam/b": {"z.is_leaf": True, "a.grad_fn": None, "when": [
        {"torch": ">=2.14", "reason": "r", "a.grad_fn": "X"}]},
           "fam/a": {"x.message": "tab\there ünïcode \x7f"}}
    text = dumps_table(doc)
    assert text.index('["fam/a"]') < text.index('["fam/b"]')
    assert text.index('"a.grad_fn"') < text.index('"z.is_leaf"')
    parsed = tomllib.loads(text)
    assert parsed["fam/a"]["x.message"] == "tab\there ünïcode \x7f"
    assert parsed["fam/b"]["when"][0]["a.grad_fn"] == "X"
    assert dumps_table(parsed) == text
