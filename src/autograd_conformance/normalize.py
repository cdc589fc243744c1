"""Message normalisation: strip build-specific noise so a CPU and a CUDA build give identical observations."""

from __future__ import annotations

import re

_TRIGGERED = re.compile(r"\s*\(Triggered internally at [^)]*\)\.?")
_CPP_TRACE = re.compile(r"\n?Exception raised from .*", re.DOTALL)
_PY_FRAME = re.compile(r'^\s*File "[^"]*", line \d+.*$\n?(^\s{4,}\S.*$\n?)?', re.MULTILINE)
#: Python 3.11's position markers under a traceback's code line (``    ^^^^^^``).
_CARETS = re.compile(r"^\s*[\^~]+\s*$\n?", re.MULTILINE)
_TRACEBACK_HEAD = re.compile(r"^Traceback \(most recent call last\):$\n?", re.MULTILINE)
_HEX = re.compile(r"0x[0-9a-fA-F]+")
#: torch.compile's tail: the user frames it was compiling (paths and line numbers of the probe file) and hints
#: on how to get more logs.
_DYNAMO_TAIL = re.compile(r"\n\s*(from user code:|Set TORCHDYNAMO_VERBOSE=1|You can suppress this exception).*",
                          re.DOTALL)
#: torch.compile names the backend that raised (``backend='aot_eager' raised:``): the run says which backend it
#: used, and a message that differs only by that name is the same error.
_BACKEND = re.compile(r"backend='[A-Za-z0-9_.]+' raised:")


def normalize_message(text: str) -> str:
    """Return ``text`` without the Triggered-internally suffix, C++/Python traceback lines, torch.compile's
    user-frame tail and the name of its backend, and hex addresses."""
    text = _TRIGGERED.sub("", text)
    text = _DYNAMO_TAIL.sub("", text)
    text = _CPP_TRACE.sub("", text)
    text = _TRACEBACK_HEAD.sub("", text)
    text = _PY_FRAME.sub("", text)
    text = _CARETS.sub("", text)
    text = _HEX.sub("0x…", text)
    text = _BACKEND.sub("backend=<backend> raised:", text)
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return legible("\n".join(lines))


def legible(text: str) -> str:
    """``text`` as UTF-8 can carry it: a lone surrogate (an undecodable byte in an exception message) becomes
    its escape (``\\udc80``) instead of breaking every file and stream the text is written to."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text
