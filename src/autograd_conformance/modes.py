"""The execution-mode vocabulary, in one place: how a probe's scenario runs (``eager``, ``compile``), the
reference mode, and how a mode shows in probe ids.

``eager`` is torch as written; ``compile`` runs the probe's scenario under ``torch.compile`` (``compiled``
does it). A probe id says its mode as a parameter part (``leaf/test_x[cpu-compile]``, ``leaf/test_y[compile]``)
the way it says its device; the eager probe keeps its plain id, so tables and reports written before modes
existed stay valid. The table states a mode's differences in ``when`` blocks with ``mode = "compile"``.
"""

from __future__ import annotations

MODES = ("eager", "compile")
#: The mode every table row describes first: a ``mode`` block states how another mode differs from it.
REFERENCE = "eager"
#: The mode that runs a probe's scenario under ``torch.compile`` (with a backend, ``BACKENDS``).
COMPILE = "compile"
#: The torch.compile backends a run may ask for: ``aot_eager`` needs no C++ toolchain, ``inductor`` does.
BACKENDS = ("aot_eager", "eager", "inductor")
DEFAULT_BACKEND = "aot_eager"
#: The marker a probe module (or function) uses to say which modes its probes run in; eager-only by default.
MARKER = "modes"


def is_mode(name: str) -> bool:
    return name in MODES


def in_params(parts: list[str]) -> str:
    """The mode among a probe id's parameter parts (``[cpu-compile]``); eager when none is named."""
    return next((p for p in parts if p in MODES and p != REFERENCE), REFERENCE)


def item_name(name: str, mode: str) -> str:
    """A test item's name in ``mode``: ``test_x[cpu]`` -> ``test_x[cpu-compile]``, ``test_y`` -> ``test_y[compile]``."""
    if mode == REFERENCE:
        return name
    return f"{name[:-1]}-{mode}]" if name.endswith("]") and "[" in name else f"{name}[{mode}]"


def parse(text: str) -> tuple[str, ...]:
    """``--ac-modes`` as given (``eager,compile``) -> the modes in canonical order; ValueError names a bad one."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if not is_mode(n)]
    if unknown or not names:
        raise ValueError(f"unknown mode {', '.join(map(repr, unknown)) or '(none given)'} (known: {', '.join(MODES)})")
    return tuple(m for m in MODES if m in names)
