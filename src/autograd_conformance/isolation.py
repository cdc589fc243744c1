"""Torch's process-wide state around each probe: a known state before it, a check after it, the state put back.

PyTorch's own ``TestCase`` resets grad mode, the default dtype, deterministic flags and more around each test;
a probe that leaves such state behind changes the facts of every probe after it in its process, so verdicts
would depend on the order and on ``-n``. Each ``Piece`` here reads one part of that state, knows its known
value (or that it must merely be left as it was), and can put it back. ``isolated`` establishes the known
state before a probe, names every piece that differs after it (``StateLeak``: the probe's verdict is
``leaked``) and restores what was there before; ``around_import`` does the same for a probe module's import.

Every piece reads and writes through torch's public or long-standing private APIs, with fallbacks for the
releases that lack the newer spelling (2.0 ... 2.15).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from .errors import StateLeak

#: Guards this module keeps alive on purpose: a leaked inference-mode guard is undone by entering a
#: non-inference guard that is never exited (torch offers no other way to leave inference mode).
_KEPT: list[Any] = []
#: "Leave it as it was": the piece has no known value of its own (the thread count the session chose).
AS_BEFORE = object()


@dataclass(frozen=True)
class Piece:
    """One part of torch's process-wide state: how to read it, the known value before a probe (or
    ``AS_BEFORE``), and how to put a value back."""

    name: str
    read: Callable[[], Any]
    write: Callable[[Any], None]
    known: Any = AS_BEFORE
    #: Read as it is: a mode stack, or what lives on one (every other piece is read with the modes out of the
    #: way, so that reading never calls into a mode a probe left behind).
    stack: bool = False


def _first(*names: str) -> Callable[..., Any] | None:
    """The first of torch's functions by these dotted names that this release has."""
    for name in names:
        target: Any = torch
        for part in name.split("."):
            target = getattr(target, part, None)
            if target is None:
                break
        if target is not None:
            return target
    return None


# --- reading and writing each piece -------------------------------------------------------------------------

def _inference() -> bool:
    return bool(torch.is_inference_mode_enabled())


def _leave_inference(value: bool) -> None:
    if value or not torch.is_inference_mode_enabled():
        return
    guard = torch._C._InferenceMode(False)
    if hasattr(guard, "__enter__"):
        guard.__enter__()
    _KEPT.append(guard)


def _anomaly() -> tuple[bool, bool]:
    return bool(torch.is_anomaly_enabled()), bool(torch.is_anomaly_check_nan_enabled())


def _default_device() -> str:
    """The default device, read from where ``torch.set_default_device`` keeps it (its mode on the function-mode
    stack, or the global context), so that no tensor is made and no mode is called."""
    from torch.overrides import _get_current_function_mode_stack

    for mode in reversed(_get_current_function_mode_stack()):
        if type(mode).__name__ == "DeviceContext":
            return str(mode.device)
    context = getattr(torch, "_GLOBAL_DEVICE_CONTEXT", None)
    context = getattr(context, "device_context", context)  # a thread-local holder on newer releases
    device = getattr(context, "device", None)
    return str(device) if device is not None else "cpu"


def _set_default_device(value: str) -> None:
    if _default_device() != value:
        torch.set_default_device(None if value == "cpu" else value)


def _stack(length: str, at: str) -> Callable[[], list[str]]:
    """A mode stack as the names of its modes' types (the default device's own mode is the default device's
    piece, not a mode a probe entered)."""
    def read() -> list[str]:
        count, get = _first(length), _first(at)
        if count is None:
            return []
        names = [type(get(i)).__name__ if get is not None else "mode" for i in range(count())]
        return [n for n in names if n != "DeviceContext"]
    return read


def _pop_function_modes(value: list[str]) -> None:
    while len(_stack("_C._len_torch_function_stack", "_C._get_function_stack_at")()) > len(value):
        torch._C._pop_torch_function_stack()


def _pop_dispatch_modes(value: list[str]) -> None:
    from torch.utils._python_dispatch import _pop_mode

    while len(_stack("_C._len_torch_dispatch_stack", "_C._get_dispatch_stack_at")()) > len(value):
        _pop_mode()


def _saved_hooks() -> bool:
    top = torch._C._autograd._top_saved_tensors_default_hooks
    try:
        return top(False) is not None
    except TypeError:  # releases whose top takes no argument
        return top() is not None


def _pop_saved_hooks(value: bool) -> None:
    while not value and _saved_hooks():
        torch._C._autograd._pop_saved_tensors_default_hooks()


def _saved_hooks_enabled() -> bool:
    check = getattr(torch._C._autograd, "_saved_tensors_hooks_is_enabled", None)
    return bool(check()) if check is not None else True


def _enable_saved_hooks(value: bool) -> None:
    if value and not _saved_hooks_enabled():
        torch._C._autograd._saved_tensors_hooks_enable()


def _dual_level() -> int:
    from torch.autograd import forward_ad

    return int(forward_ad._current_level)


def _exit_dual_levels(value: int) -> None:
    from torch.autograd import forward_ad

    while forward_ad._current_level > value:
        forward_ad.exit_dual_level()


def _new_autocast_api() -> bool:
    """Whether this release takes the device as an argument (2.4 on; the per-device spellings warn there)."""
    try:
        torch.is_autocast_enabled("cpu")
    except TypeError:
        return False
    return True


_DEVICE_ARG = _new_autocast_api()


def _autocast(device: str) -> tuple[bool, str]:
    if _DEVICE_ARG:
        return bool(torch.is_autocast_enabled(device)), str(torch.get_autocast_dtype(device))
    if device == "cpu":
        return bool(torch.is_autocast_cpu_enabled()), str(torch.get_autocast_cpu_dtype())
    return bool(torch.is_autocast_enabled()), str(torch.get_autocast_gpu_dtype())


def _set_autocast(device: str) -> Callable[[tuple[bool, str]], None]:
    def write(value: tuple[bool, str]) -> None:
        enabled, dtype = value[0], getattr(torch, value[1].removeprefix("torch."))
        if _DEVICE_ARG:
            torch.set_autocast_enabled(device, enabled)
            torch.set_autocast_dtype(device, dtype)
        elif device == "cpu":
            torch.set_autocast_cpu_enabled(enabled)
            torch.set_autocast_cpu_dtype(dtype)
        else:
            torch.set_autocast_enabled(enabled)
            torch.set_autocast_gpu_dtype(dtype)
    return write


def _deterministic() -> tuple[bool, bool]:
    return bool(torch.are_deterministic_algorithms_enabled()), bool(
        torch.is_deterministic_algorithms_warn_only_enabled())


def _private_flag(getter: str, setter: str, known: bool) -> list[Piece]:
    get, put = getattr(torch._C, getter, None), getattr(torch._C, setter, None)
    if get is None or put is None:
        return []
    return [Piece(f"torch._C.{getter}()", lambda: bool(get()), put, known)]


PIECES: list[Piece] = [
    # The mode stacks first: a mode left behind would intercept the calls that put the other pieces back.
    Piece("torch-function modes", _stack("_C._len_torch_function_stack", "_C._get_function_stack_at"),
          _pop_function_modes, [], stack=True),
    Piece("dispatch modes", _stack("_C._len_torch_dispatch_stack", "_C._get_dispatch_stack_at"),
          _pop_dispatch_modes, [], stack=True),
    # Inference mode before grad mode: leaving it resets grad mode, which its own piece then puts right.
    Piece("inference mode", _inference, _leave_inference, False),
    Piece("grad mode", lambda: bool(torch.is_grad_enabled()), torch.set_grad_enabled, True),
    Piece("anomaly mode (enabled, check_nan)", _anomaly, lambda v: torch.set_anomaly_enabled(*v), (False, True)),
    Piece("default dtype", lambda: str(torch.get_default_dtype()),
          lambda v: torch.set_default_dtype(getattr(torch, v.removeprefix("torch."))), "torch.float32"),
    Piece("default device", _default_device, _set_default_device, "cpu", stack=True),
    # Releases without a way to read the hooks stack (2.0) leave this piece unchecked.
    *([Piece("saved-tensors default hooks", _saved_hooks, _pop_saved_hooks, False)]
      if hasattr(torch._C._autograd, "_top_saved_tensors_default_hooks") else []),
    Piece("saved-tensors hooks enabled", _saved_hooks_enabled, _enable_saved_hooks, True),
    Piece("forward-AD dual level", _dual_level, _exit_dual_levels, -1),
    Piece("CPU autocast (enabled, dtype)", lambda: _autocast("cpu"), _set_autocast("cpu"),
          (False, "torch.bfloat16")),
    Piece("CUDA autocast (enabled, dtype)", lambda: _autocast("cuda"), _set_autocast("cuda"),
          (False, "torch.float16")),
    Piece("autocast cache enabled", lambda: bool(torch.is_autocast_cache_enabled()),
          torch.set_autocast_cache_enabled, True),
    Piece("deterministic algorithms (enabled, warn_only)", _deterministic,
          lambda v: torch.use_deterministic_algorithms(v[0], warn_only=v[1]), (False, False)),
    Piece("float32 matmul precision", torch.get_float32_matmul_precision, torch.set_float32_matmul_precision,
          "highest"),
    Piece("warn always", lambda: bool(torch.is_warn_always_enabled()), torch.set_warn_always),
    Piece("intra-op threads", torch.get_num_threads, torch.set_num_threads),
    *_private_flag("_is_multithreading_enabled", "_set_multithreading_enabled", True),
    *_private_flag("_is_view_replay_enabled", "_set_view_replay_enabled", False),
]


# --- the state as a whole -----------------------------------------------------------------------------------

State = dict[str, Any]


@contextlib.contextmanager
def _modes_out_of_the_way() -> Iterator[None]:
    """Torch-function and dispatch modes off, so reading the state never calls into a mode a probe left."""
    from torch.utils._python_dispatch import _disable_current_modes

    with torch._C.DisableTorchFunction(), _disable_current_modes():
        yield


def snapshot() -> State:
    """Every piece's value now."""
    state = {piece.name: piece.read() for piece in PIECES if piece.stack}
    with _modes_out_of_the_way():
        state.update((piece.name, piece.read()) for piece in PIECES if not piece.stack)
    return {piece.name: state[piece.name] for piece in PIECES}


def known(before: State) -> State:
    """The state a probe starts from: each piece's known value, or its value ``before`` the probe."""
    return {p.name: before[p.name] if p.known is AS_BEFORE else p.known for p in PIECES}


def apply(state: State) -> None:
    """Put every piece that differs from ``state`` back to it (in the order of ``PIECES``: the mode stacks
    first, so the rest is written with no mode left in the way)."""
    now = snapshot()
    for piece in PIECES:
        if now[piece.name] != state[piece.name]:
            piece.write(state[piece.name])


def changed(expected: State, now: State) -> list[str]:
    """The names of the pieces that differ."""
    return [name for name in expected if now[name] != expected[name]]


def differences(expected: State, now: State) -> list[str]:
    """The pieces that differ, in words: ``grad mode: False (expected True)``."""
    return [f"{name}: {now[name]!r} (expected {expected[name]!r})" for name in expected if now[name] != expected[name]]


@contextlib.contextmanager
def isolated(overrides: State | None = None) -> Iterator[None]:
    """Run a probe from the known state (with ``overrides``, e.g. warnings always on), then check it left that
    state as it found it; the state from before is restored either way, and a leak raises ``StateLeak``."""
    before = snapshot()
    start = {**known(before), **(overrides or {})}
    apply(start)
    leaks: list[str] = []
    try:
        yield
    finally:
        leaks = differences(start, snapshot())
        apply(before)
    if leaks:
        raise StateLeak(leaks)


def around_import(load: Callable[[], Any]) -> list[str]:
    """Run ``load`` (a probe module's import) and name what it changed of the state; the state is restored."""
    before = snapshot()
    try:
        load()
    finally:
        leaks = differences(before, snapshot())
        apply(before)
    return leaks
