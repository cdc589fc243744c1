"""What probes use to observe torch: the Observation recorder and helpers that turn tensors and actions into facts.

Probes only observe; nothing here compares. An Observation works without pytest:

    obs = Observation()
    my_probe(obs, device="cpu")
    print(obs.facts)
"""

from __future__ import annotations

import contextlib
import os
import random
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

from . import devices
from .errors import ProbeError
from .facts import canonical, check_type
from .normalize import normalize_message

#: The facts ``facts_of`` records when a probe names none.
DEFAULT_TENSOR_FACTS = ("is_leaf", "requires_grad", "grad_fn")

_FLOAT_DIGITS = {torch.float16: 5, torch.bfloat16: 4, torch.float32: 8}


def _round(value: Any, digits: int | None) -> Any:
    if isinstance(value, list):
        return [_round(v, digits) for v in value]
    if isinstance(value, float) and digits is not None:
        return float(f"{value:.{digits}g}")
    return value


def tensor_fact(t: torch.Tensor | None) -> dict[str, Any] | None:
    """A tensor as a JSON fact: dtype, shape and values (complex as [re, im]; non-finite as strings)."""
    if t is None:
        return None
    t = t.detach()
    if getattr(t, "_is_zerotensor", lambda: False)():
        t = torch.zeros(t.shape, dtype=t.dtype)  # an efficient ZeroTensor has no storage to read
    if t.layout != torch.strided:
        t = t.to_dense()
    if t.is_complex():
        values = torch.view_as_real(t.resolve_conj()).cpu().tolist()
        digits = 8 if t.dtype == torch.complex64 else None
    else:
        values = t.cpu().tolist()
        digits = _FLOAT_DIGITS.get(t.dtype)
    return {"dtype": str(t.dtype), "shape": list(t.shape), "values": canonical(_round(values, digits))}


def grad_fn_name(t: torch.Tensor) -> str | None:
    """Class name of ``t.grad_fn`` or None."""
    return None if t.grad_fn is None else type(t.grad_fn).__name__


def _read(t: torch.Tensor, attr: str) -> Any:
    if attr == "is_leaf":
        return t.is_leaf
    if attr == "requires_grad":
        return t.requires_grad
    if attr == "grad_fn":
        return grad_fn_name(t)
    if attr == "dtype":
        return str(t.dtype)
    if attr == "shape":
        return list(t.shape)
    if attr == "device":
        return t.device.type
    if attr == "grad":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tensor_fact(t.grad)
    if attr == "values":
        return tensor_fact(t)
    if attr == "version":
        return t._version
    if attr == "retains_grad":
        return t.retains_grad
    if attr == "is_inference":
        return t.is_inference()
    raise ProbeError(f"facts_of cannot read {attr!r} from a tensor")


def _has_nested_null(value: Any) -> bool:
    items = value if isinstance(value, list) else value.values() if isinstance(value, dict) else ()
    return any(v is None or _has_nested_null(v) for v in items)


class Observation:
    """A flat mapping of fact name -> JSON value that a probe fills in."""

    def __init__(self) -> None:
        self.facts: dict[str, Any] = {}

    def fact(self, name: str, value: Any) -> None:
        """Record one fact; its name must be declared in the vocabulary and its value must fit the declared type."""
        value = canonical(value)
        try:
            problem = check_type(name, value)
        except ValueError as exc:
            raise ProbeError(str(exc)) from None
        if problem:
            raise ProbeError(problem)
        if _has_nested_null(value):
            raise ProbeError(f"fact {name!r}: a null inside a list or mapping cannot be written to the TOML table; "
                             f"record a string such as 'None' instead: {value!r}")
        if name in self.facts and self.facts[name] != value:
            raise ProbeError(f"fact {name!r} recorded twice with different values: {self.facts[name]!r}, {value!r}")
        self.facts[name] = value

    def facts_of(self, name: str, t: torch.Tensor, *attrs: str) -> None:
        """Record ``name.<attr>`` for each attr (default: is_leaf, requires_grad, grad_fn) of tensor ``t``."""
        for attr in attrs or DEFAULT_TENSOR_FACTS:
            self.fact(f"{name}.{attr}", _read(t, attr))

    def tensor(self, name: str, t: torch.Tensor | None) -> None:
        """Record the tensor's dtype, shape and values as ``name.values``."""
        self.fact(f"{name}.values", tensor_fact(t))

    def outcome(self, name: str, action: Callable[[], Any], warns: bool = True) -> Any:
        """Run ``action``; record ``name.raises`` (and ``name.message``, ``name.warns`` when there are any).

        ``warns=False`` leaves warnings out: for actions whose warnings are not the point and may depend on
        what already ran in the process (a lazy import that warns once). Returns the action's result, or None
        if it raised.
        """
        result, raised, warned = run_captured(action)
        self.fact(f"{name}.raises", None if raised is None else type(raised).__name__)
        if raised is not None:
            self.fact(f"{name}.message", normalize_message(str(raised)))
        if warned and warns:
            self.fact(f"{name}.warns", warned)
        return result


def require(path: str) -> Any:
    """The torch API at a dotted ``path`` (``"torch.autograd.graph.get_gradient_edge"``). A probe of an API this
    torch lacks is skipped, not failed: it does not exist on this release, and the table gives its row an
    entry-level torch range (the releases on which the probe exists)."""
    import importlib

    import pytest

    parts = path.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            break
        return obj
    pytest.skip(f"{path} does not exist in torch {torch.__version__}")


def run_captured(action: Callable[[], Any]) -> tuple[Any, BaseException | None, list[str]]:
    """Run ``action`` catching any Exception and every warning; return (result, exception, warnings)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result, raised = action(), None
        except Exception as exc:  # a probe observes any exception torch raises
            result, raised = None, exc
    warned = [f"{w.category.__name__}: {normalize_message(str(w.message))}" for w in caught]
    return result, raised, warned


def seed_everything(seed: int) -> None:
    """Seed torch's generators as ``torch.manual_seed`` does, for the devices this machine has: on a machine
    without CUDA, ``torch.manual_seed`` queues a lazy CUDA seeding with a captured stack trace each time (a
    millisecond per probe), which this skips."""
    torch.default_generator.manual_seed(seed)
    if devices.present("cuda"):
        torch.cuda.manual_seed_all(seed)
    if devices.present("mps"):
        torch.mps.manual_seed(seed)


@contextlib.contextmanager
def probe_context(seed: int = 0) -> Iterator[None]:
    """Isolate one probe: torch's process-wide state known before it and checked after it (``isolation``:
    a leak raises ``StateLeak`` once the state is put back), seeded RNGs, C++ warnings always on, and a probe
    that tries to end its process stopped with ``SystemExit`` instead.

    Warnings outside ``Observation.outcome`` are ignored: a probe records the warnings it means to observe.
    """
    from .isolation import isolated

    with isolated({"warn always": True}), _no_process_exit():
        seed_everything(seed)
        random.seed(seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield


@contextlib.contextmanager
def _no_process_exit() -> Iterator[None]:
    """``os._exit`` raises ``SystemExit`` while a probe runs, so a probe that ends its process gets a verdict
    (``crashed``) instead of ending the run without one."""
    real = os._exit

    def stopped(code: int) -> None:
        raise SystemExit(f"the probe called os._exit({code})")

    os._exit = stopped
    try:
        yield
    finally:
        os._exit = real
