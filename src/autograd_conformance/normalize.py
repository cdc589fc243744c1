"""Message normalisation: strip build-specific noise so a CPU and a CUDA build give identical observations."""

from __future__ import annotations

import re

_TRIGGERED = re.compile(r"\s*\(Triggered internally at [^)]*\)\.?")
_CPP_TRACE = re.compile(r"\n?Exception raised from .*", re.DOTALL)
_PY_FRAME = re.compile(r'^\s*File "[^"]*", line \d+.*$\n?(^\s{4,}\S.*$\n?)?', re.MULTILINE)
_TRACEBACK_HEAD = re.compile(r"^Traceback \(most recent call last\):$\n?", re.MULTILINE)
_HEX = re.compile(r"0x[0-9a-fA-F]+")


def normalize_message(text: str) -> str:
    """Return ``text`` without the Triggered-internally suffix, C++/Python traceback lines and hex addresses."""
    text = _TRIGGERED.sub("", text)
    text = _CPP_TRACE.sub("", text)
    text = _TRACEBACK_HEAD.sub("", text)
    text = _PY_FRAME.sub("", text)
    text = _HEX.sub("0x…", text)
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return "\n".join(lines)
