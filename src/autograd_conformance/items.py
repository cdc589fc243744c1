"""Pytest items as probes: which items are probes, and each probe's identity (id, device, params, source)."""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import Any

import pytest

from . import devices, modes
from .ids import plain_nodeid, probe_id
from .repro import call_line
from .result import Location, ProbeResult
from .probes import MODE, ProbeModule

#: The fixture that makes a test function a probe.
OBS = "obs"


_IS_PROBE = pytest.StashKey[bool]()


def is_probe(item: pytest.Item) -> bool:
    """A test of a probe-suite module that asks for ``obs`` (decided once per item: every hook asks)."""
    known = item.stash.get(_IS_PROBE, None)
    if known is None:
        known = item.stash[_IS_PROBE] = (OBS in getattr(item, "fixturenames", ())
                                         and isinstance(item.getparent(pytest.Module), ProbeModule))
    return known


def device_of(item: pytest.Item) -> str | None:
    """The device a probe runs on (the one a stand-in stands for: ``devices.StandIn``), None without one."""
    callspec = getattr(item, "callspec", None)
    argument = callspec.params.get("device") if callspec is not None else None
    return None if argument is None else devices.name_of(argument)


@functools.lru_cache(maxsize=None)
def _end_line(func: Any) -> int | None:
    """The last line of a probe function's code (from its code object: no source is read or parsed)."""
    code = getattr(func, "__code__", None)
    if code is None:
        return None
    return max((line for _, _, line in code.co_lines() if line is not None), default=None)


def _json_param(value: Any) -> Any:
    """A parameter as a short, stable JSON value: scalars as they are, objects by their name, never a repr."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # as facts write them ("inf", "nan"): JSON has no such numbers
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if type(value).__module__ == "torch" and type(value).__name__ == "dtype":
        return str(value)
    for attr in ("name", "id", "__name__"):
        named = getattr(value, attr, None)
        if isinstance(named, str):
            return named
    return f"<{type(value).__name__}>"


def _display_path(item: pytest.Item) -> str:
    return _display(Path(item.path), Path(item.config.rootpath))


@functools.lru_cache(maxsize=None)
def _display(path: Path, root: Path) -> str:
    """The module's path relative to the rootdir; for a module outside it (the installed bundled suite run
    from a project), relative to the directory above its suite: ``suites/test_leaf.py``."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.relative_to(path.parent.parent).as_posix()


def result_of(item: pytest.Item, verdict: str, observation: dict[str, Any] | None = None,
              message: str | None = None) -> ProbeResult:
    """A result for this probe with its identity filled in (the session fills in what the table expected)."""
    family, pid = probe_id(item.nodeid, item.path)
    device = device_of(item)
    mode = item.stash.get(MODE, modes.REFERENCE)
    callspec = getattr(item, "callspec", None)
    _, line, _ = item.location
    file = _display_path(item)
    func = getattr(item, "function", None)
    doc = (func.__doc__ or "").strip() or None if func is not None else None
    end_line = repro = None
    if func is not None:
        end_line = _end_line(func)
        indices = dict(getattr(callspec, "indices", {}) or {}) if callspec else {}
        repro = call_line(func.__name__, device, indices, mode)
    return ProbeResult(
        id=pid, family=family, nodeid=plain_nodeid(item.nodeid), verdict=verdict, device=device, mode=mode,
        params={k: device if k == "device" else _json_param(v) for k, v in sorted(callspec.params.items())}
        if callspec else {},
        observation=dict(observation or {}), location=Location(file, None if line is None else line + 1, end_line),
        doc=doc, message=message, repro=repro)
