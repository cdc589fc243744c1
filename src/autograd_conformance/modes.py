"""The execution-mode vocabulary, in one place: how a probe's scenario runs (``eager``, ``compile``), the
reference mode, and how a mode shows in probe ids.

``eager`` is torch as written; ``compile`` runs the probe's scenario under ``torch.compile`` (``compiled``
does it). A probe id says its mode as a parameter part (``leaf/test_x[cpu-compile]``, ``leaf/test_y[compile]``)
the way it says its device; the eager probe keeps its plain id, so tables and reports written before modes
existed stay valid. The table states a mode's differences in ``when`` blocks with ``mode = "compile"``.
"""

from __future__ import annotations

from typing import Any

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

#: How much a way in which another mode differs from eager matters to a user, most first: ``silent`` (other
#: gradient values, other flags or versions, or an error eager raises that the mode does not: nothing tells the
#: user), ``loud`` (the mode raises where eager does not, or at another point), ``cosmetic`` (node names, messages
#: and warnings only). The table states it on each ``mode`` block (``hazard = "silent"``).
HAZARDS = ("silent", "loud", "cosmetic")
#: The attributes whose difference alone is cosmetic (names and texts); any other fact's is behaviour.
_COSMETIC_ATTRS = ("grad_fn", "name", "message", "warns")


def hazard_of(eager: dict[str, Any], other: dict[str, Any], absent: Any) -> str | None:
    """The hazard class of the facts a mode states differently from eager (``absent``: the value of a fact not
    observed), or None where they agree. A raise that eager lacks makes what follows it part of the same loud
    difference, except process state it leaves changed (silent: code after it runs differently)."""
    differing = [f for f in other if other[f] != eager.get(f, absent)]
    if not differing:
        return None
    raises = [f for f in differing if f.rsplit(".", 1)[-1] == "raises"]
    raised = [f for f in raises if other[f] not in (None, False, absent)]  # the mode raises here
    if any(other[f] in (None, False) or (other[f] == absent and not raised) for f in raises):
        return "silent"  # eager raised and the mode does not: nothing tells the user
    # Whatever follows a raise the user sees (facts unobserved, a gradient not reached or not accumulated again)
    # is the same loud difference; process state the raise leaves changed (``*_state`` facts) is not.
    rest = [f for f in differing if f not in raises and not (raised and not f.split(".", 1)[0].endswith("_state"))]
    if any(f.rsplit(".", 1)[-1] not in _COSMETIC_ATTRS for f in rest):
        return "silent"
    return "loud" if raised else "cosmetic"


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
