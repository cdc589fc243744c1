"""Probe identity: ids derived from pytest node ids, and the device- and mode-agnostic key record mode writes."""

from __future__ import annotations

import re
from pathlib import Path

from . import modes

#: pytest-xdist's ``--dist loadgroup`` appends ``@<group>`` to the node ids of grouped tests.
_XDIST_GROUP = re.compile(r"@[\w.-]+$")


def plain_nodeid(nodeid: str) -> str:
    """A node id without pytest-xdist's ``@group`` suffix: the same probe has the same id with any ``-n``."""
    return _XDIST_GROUP.sub("", nodeid) if "@" in nodeid else nodeid


def probe_id(nodeid: str, path: Path | None = None) -> tuple[str, str]:
    """(family, probe id) from a node id: ``suites/test_leaf.py::test_x[cpu]`` -> (``leaf``, ``leaf/test_x[cpu]``).

    The family comes from the module's file name: ``path`` when given (a node id of a module collected outside
    the rootdir may not name its file), else the node id's file part.
    """
    file, _, rest = plain_nodeid(nodeid).partition("::")
    stem = Path(path).stem if path is not None else Path(file).stem
    family = stem[len("test_"):] if stem.startswith("test_") else stem
    return family, f"{family}/{rest.replace('::', '.')}"


def record_key(pid: str, device: str | None, mode: str = modes.REFERENCE) -> str:
    """The key record mode writes: the device's part of the parameter id becomes ``*`` and the mode's part is
    dropped (the table states devices and modes in ``when`` blocks, not in keys)."""
    if not pid.endswith("]") or "[" not in pid:
        return pid
    head, _, params = pid[:-1].partition("[")
    parts = params.split("-")
    if mode != modes.REFERENCE and parts and parts[-1] == mode:
        parts.pop()
    if device is not None and device in parts:
        parts[parts.index(device)] = "*"
    return f"{head}[{'-'.join(parts)}]" if parts else head


def without_mode(pid: str, mode: str) -> str:
    """The id of a probe's eager twin: ``leaf/test_x[cpu-compile]`` -> ``leaf/test_x[cpu]`` (the table's keys
    name eager ids; a mode is a condition)."""
    if mode == modes.REFERENCE:
        return pid
    if pid.endswith(f"[{mode}]"):
        return pid[:-len(mode) - 2]
    return pid[:-len(mode) - 2] + "]" if pid.endswith(f"-{mode}]") else pid
