"""The map from PyTorch's asserted autograd messages to the probes that pin them is current, and pins enough."""

from __future__ import annotations

import json

from tests.pytorch_map import build


def test_the_map_is_generated_from_the_catalogue_and_the_table():
    catalogue = json.loads(build.CATALOGUE.read_text(encoding="utf-8"))
    expected = build.render(catalogue, build.build(catalogue, build.stated_texts()))
    assert build.MAP.read_text(encoding="utf-8") == expected, (
        "tests/pytorch_map/MAP.md is out of date: run `python tests/pytorch_map/build.py`")


def test_the_suite_pins_most_user_visible_messages_pytorch_asserts():
    catalogue = json.loads(build.CATALOGUE.read_text(encoding="utf-8"))
    pinned, _, visible_pinned, visible = build.counts(build.build(catalogue, build.stated_texts()))
    assert visible == 156 and catalogue["revision"] == "5c322af10e52e4d236104ceefd542f34e6dcf20a"
    assert visible_pinned / visible >= build.TARGET, f"{visible_pinned} of {visible} user-visible entries pinned"


def test_an_entry_is_pinned_only_by_a_text_that_matches_its_regex():
    catalogue = {"entries": [
        {"regex": r"leaf Variable that requires grad .* in-place", "exception": "RuntimeError", "area": "a",
         "user_visible": True},
        {"regex": "never stated", "exception": "RuntimeError", "area": "a", "user_visible": False}]}
    texts = {"a leaf Variable that requires grad is being used in an in-place operation.": {"inplace/test_x[*]"},
             "UserWarning: other": {"inplace/test_y"}}
    pinned = build.build(catalogue, texts)
    assert [p.probes for p in pinned] == [["inplace/test_x[*]"], []]
    assert build.counts(pinned) == (1, 2, 1, 1)
