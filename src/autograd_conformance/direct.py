"""Running probes without pytest: every probe module's functions, expanded over their parametrize marks.

This is the benchmark's floor (the same probes, no harness) and the proof that probes are plain functions.
"""

from __future__ import annotations

import gc
import importlib.util
import inspect
import itertools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import devices
from .observe import Observation, probe_context


def _axes(fn: Callable[..., Any]) -> list[list[dict[str, Any]]]:
    axes = []
    for mark in reversed(getattr(fn, "pytestmark", [])):
        if mark.name != "parametrize":
            continue
        names = mark.args[0].split(",") if isinstance(mark.args[0], str) else list(mark.args[0])
        names = [n.strip() for n in names]
        axis = []
        for value in mark.args[1]:
            values = getattr(value, "values", value if len(names) > 1 else (value,))
            axis.append(dict(zip(names, values)))
        axes.append(axis)
    return axes


def iter_probes(suites: Path, device: str = devices.REFERENCE) -> Iterator[tuple[str, Callable[..., Any], dict[str, Any]]]:
    """(family/function, probe, keyword arguments) for every probe and parametrization in ``suites``."""
    import pytest

    for path in sorted(Path(suites).glob("test_*.py")):
        name = f"_direct_{path.stem}"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except pytest.skip.Exception:
            continue  # a family that skips itself (e.g. its private torch API is missing)
        family = path.stem.removeprefix("test_")
        for fname, fn in list(vars(module).items()):
            if not (fname.startswith("test_") and inspect.isfunction(fn)) or fn.__module__ != name:
                continue
            params = inspect.signature(fn).parameters
            if "obs" not in params:
                continue
            for combo in itertools.product(*_axes(fn)):
                kwargs = {k: v for part in combo for k, v in part.items()}
                if "device" in params:
                    kwargs["device"] = device
                yield f"{family}/{fname}", fn, kwargs


def run_suites(suites: Path, part: int = 0, parts: int = 1) -> dict[str, int]:
    """Run every probe once (or every ``parts``-th from ``part``: one of several processes sharing the work, as
    xdist workers do), as the plugin would but without pytest; count probes and those that raised."""
    import pytest

    from .invariants import activate

    activate("ci")
    count = errors = 0
    probes = list(iter_probes(suites))[part::parts]  # every module imported first, then out of the collector's way
    gc.freeze()
    for _, fn, kwargs in probes:
        count += 1
        with probe_context():
            try:
                fn(Observation(), **kwargs)
            except pytest.skip.Exception:
                pass  # a probe of an API this torch lacks
            except Exception:  # noqa: BLE001 - the floor only counts; the suite reports errors
                errors += 1
    return {"probes": count, "errors": errors}
