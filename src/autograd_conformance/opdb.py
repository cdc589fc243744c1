"""torch's OpInfo database (``torch.testing._internal``): its op ids known cheaply, the database itself imported
only where an ops probe runs, and never with side effects on the host.

Importing the database costs about 1.3 s (it builds ~700 OpInfos) and registers hypothesis profiles of torch's
own ("dev", "debug", "pytorch_ci") and loads one. ``op_ids()`` reads the ids the ops family parametrizes
over from a cache file keyed by the torch build (made the first time, from the database), so collecting the
suite, and every xdist worker that runs no ops probe, never imports the database; ``get(op_id)`` imports it on
first use; hypothesis' profiles and the random streams are put back as they were (the import happens inside
the first probe that needs it, after that probe was seeded).
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from .files import write_atomic

#: Families whose probes exist per entry of the database: a probe that appears or goes there is the test
#: database's bookkeeping (an entry or a variant added), not an API of torch's.
FAMILIES = ("numerics", "ops", "value_pins", "sample_variants")
#: The profiles torch's test utilities register when imported.
TORCH_PROFILES = ("dev", "debug", "pytorch_ci")
#: Bumped when the selection of ops (``_selected``, ``KINDS``) or the id scheme changes, so old cache files are not
#: read.
SELECTION = 2


@contextlib.contextmanager
def hypothesis_profiles_kept() -> Iterator[None]:
    """Restore the current hypothesis profile, and the profiles of torch's names that existed, afterwards."""
    from hypothesis import settings
    from hypothesis.errors import InvalidArgument

    current = settings.get_current_profile_name()
    saved = {}
    for name in {current, *TORCH_PROFILES}:
        try:
            saved[name] = settings.get_profile(name)
        except InvalidArgument:
            pass
    try:
        yield
    finally:
        for name, profile in saved.items():
            settings.register_profile(name, profile)
        settings.load_profile(current)


@contextlib.contextmanager
def random_streams_kept() -> Iterator[None]:
    """Put torch's CPU generator and Python's and NumPy's global random streams back as they were: importing the
    database draws random numbers on some releases (on 2.1.2, the first ``linalg.det.singular`` sample of a
    process came out different from every later one, because the import ran after the probe was seeded)."""
    import random

    import numpy
    import torch

    saved = torch.random.get_rng_state(), random.getstate(), numpy.random.get_state()
    try:
        yield
    finally:
        torch.random.set_rng_state(saved[0])
        random.setstate(saved[1])
        numpy.random.set_state(saved[2])


@lru_cache(maxsize=1)
def load() -> list[Any]:
    """The OpInfo database (``op_db``); raises whatever the private import raises where it is unavailable."""
    with hypothesis_profiles_kept(), random_streams_kept():
        from torch.testing._internal.common_methods_invocations import op_db
    # The ~700 OpInfos (and what they hold) live as long as the process: freeze them out of the garbage
    # collector, which otherwise walks them at every full collection and, for ~0.8 s, at interpreter exit.
    gc.freeze()
    return op_db


def op_id(op: Any) -> str:
    """An OpInfo's id in probe ids: its name, and its variant after a dot (``nn.functional.conv2d.stride``)."""
    return op.name + (f".{op.variant_test_name}" if op.variant_test_name else "")


def tensors(value: Any) -> list[Any]:
    """The tensors in an op's arguments or outputs, in order, through nested lists, tuples and dicts."""
    import torch

    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in tensors(v)]
    return []


def sample_tensors(sample: Any) -> list[Any]:
    """The tensors an OpInfo sample holds, in order: its input's, its args' and its kwargs'."""
    return tensors([sample.input, list(sample.args), sample.kwargs])


def _selected(op: Any) -> bool:
    """The ops the family probes: those that run on CPU in float64."""
    import torch

    try:
        return torch.float64 in op.supported_dtypes("cpu")
    except Exception:  # noqa: BLE001 - an OpInfo whose dtype query breaks is left out
        return False


def cache_dir() -> Path:
    """Where the op ids are cached: $AUTOGRAD_CONFORMANCE_CACHE, else $XDG_CACHE_HOME/autograd-conformance."""
    explicit = os.environ.get("AUTOGRAD_CONFORMANCE_CACHE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "autograd-conformance"


def _cache_path() -> Path:
    import torch

    git = (getattr(torch.version, "git_version", None) or "unknown")[:12]
    return cache_dir() / f"opinfo-ids-{torch.__version__}-{git}-s{SELECTION}.json"


def _is_reduction(op: Any) -> bool:
    from torch.testing._internal.opinfo.core import ReductionOpInfo

    return isinstance(op, ReductionOpInfo)


#: The kinds of selected ops a probe may parametrize over: every one, the reductions (``ReductionOpInfo``: they
#: take ``dim`` and ``keepdim``), and those with an ``out=`` variant.
KINDS = {"all": lambda op: True, "reductions": _is_reduction, "out": lambda op: bool(op.supports_out)}


@lru_cache(maxsize=None)
def op_ids(kind: str = "all") -> tuple[str, ...]:
    """The ids of the selected ops of a kind (``KINDS``), in the database's order: from the cache, else from the
    database (and then cached; a cache that cannot be written only costs the import next time)."""
    path = _cache_path()
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(cached, dict) and all(isinstance(i, str) for ids in cached.values() for i in ids) \
                and set(cached) == set(KINDS):
            return tuple(cached[kind])
    except (OSError, ValueError, AttributeError):
        pass
    selected = [op for op in load() if _selected(op)]
    ids = {name: [op_id(op) for op in selected if keep(op)] for name, keep in KINDS.items()}
    with contextlib.suppress(OSError):
        write_atomic(path, json.dumps(ids))
    return tuple(ids[kind])


@lru_cache(maxsize=None)
def _by_id() -> dict[str, Any]:
    return {op_id(op): op for op in load() if _selected(op)}


def get(identifier: str) -> Any:
    """The OpInfo with this id (the database is imported on first use)."""
    return _by_id()[identifier]


def declared(op: Any, tests: tuple[tuple[str, str], ...], device: str, dtype: Any) -> str | None:
    """What the OpInfo declares about one of torch's own tests for this device and dtype: ``"expected
    failure"``, ``"skipped: <reason>"``, or None (nothing; the test is expected to pass). ``tests`` are
    (class, test) names, several where torch renamed the class (``TestGradients`` split into
    ``TestBwdGradients`` and ``TestFwdGradients`` in 2.1); a decorator counts where it is active for any."""
    for cls_name, test_name in tests:
        for entry in getattr(op, "decorators", ()) or ():
            if not hasattr(entry, "is_active"):
                continue  # a bare decorator applies to every test: none of torch's declare a failure
            try:
                active = entry.is_active(cls_name, test_name, device, dtype, {})
            except TypeError:  # torch < 2.1: no param_kwargs
                active = entry.is_active(cls_name, test_name, device, dtype)
            if not active:
                continue
            for decorator in entry.decorators:
                marked = _applied(decorator)
                if getattr(marked, "__unittest_expecting_failure__", False):
                    return "expected failure"
                if getattr(marked, "__unittest_skip__", False):
                    return f"skipped: {getattr(marked, '__unittest_skip_why__', '') or 'no reason given'}"
    return None


def _applied(decorator: Any) -> Any:
    """A decorator applied to a stand-in test, to read the unittest marks it sets (skip, expected failure)."""
    def stand_in() -> None:
        """A test."""
    try:
        return decorator(stand_in)
    except Exception:  # noqa: BLE001 - a decorator that needs a real test (a device check...): it declares nothing
        return stand_in
