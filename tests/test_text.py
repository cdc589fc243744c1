"""Text helpers: shortening keeps both ends, joining counts what does not fit."""

from autograd_conformance.text import counted, first_line, join_within, shorten


def test_shorten_keeps_both_ends():
    text = "a" * 50 + "MIDDLE" + "z" * 50
    out = shorten(text, 40)
    assert len(out) == 40 and out.startswith("aaa") and out.endswith("zzz") and "…" in out
    assert shorten("short", 40) == "short"


def test_join_within_counts_what_does_not_fit():
    assert join_within(["a" * 40, "b" * 40, "c" * 40], 100) == "a" * 40 + "; " + "b" * 40 + "; (+1 more)"


def test_first_line_and_counted():
    assert first_line("  boom\nat line 3") == "boom" and first_line(None) == "" and first_line("\n") == ""
    assert counted({"mismatch": 2, "drift": 1}) == "2 mismatch, 1 drift"
