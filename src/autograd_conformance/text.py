"""Text helpers shared by the terminal summary and the pages (the bottom layer: they know no harness type)."""

from __future__ import annotations


def shorten(text: str, width: int) -> str:
    """``text`` within ``width`` characters, its middle elided, so both of its ends stay visible."""
    if len(text) <= width:
        return text
    keep = width - 1
    return text[: keep - keep // 3] + "…" + text[len(text) - keep // 3:]


def join_within(parts: list[str], width: int) -> str:
    """Parts joined by '; ' as far as they fit in ``width``, then a count of the rest (each part whole)."""
    out = shorten(parts[0], width)
    for k, part in enumerate(parts[1:], 1):
        rest = len(parts) - k
        if len(out) + 2 + len(part) + (len(f"; (+{rest - 1} more)") if rest > 1 else 0) > width:
            return f"{out}; (+{rest} more)"
        out += "; " + part
    return out


def first_line(text: str | None) -> str:
    """The first line of a message ('' for none)."""
    stripped = (text or "").strip()
    return stripped.splitlines()[0] if stripped else ""


def counted(counts: dict[str, int]) -> str:
    """``{"mismatch": 2, "drift": 1}`` as ``2 mismatch, 1 drift`` (in the mapping's order)."""
    return ", ".join(f"{n} {name}" for name, n in counts.items())


def probes(n: int) -> str:
    """``1 probe``, ``2 probes``."""
    return many(n, "probe")


def many(n: int, noun: str) -> str:
    """``1 cause``, ``2 causes``: a count and its noun (a regular plural)."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def conform(n: int) -> str:
    """``1 probe conforms``, ``2 probes conform``."""
    return f"{probes(n)} conform{'s' if n == 1 else ''}"
