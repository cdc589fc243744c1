"""Cross-cutting dimensions shared by probe families: dtypes and grad modes as pytest parametrize lists."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

FLOATING_DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
COMPLEX_DTYPES = [torch.complex64, torch.complex128]
INTEGRAL_DTYPES = [torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64, torch.bool]
ALL_DTYPES = FLOATING_DTYPES + COMPLEX_DTYPES + INTEGRAL_DTYPES


def dtype_id(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def dtype_params(dtypes: list[torch.dtype]) -> list[Any]:
    """``pytest.param`` per dtype with the short name as id (``float32``)."""
    return [pytest.param(d, id=dtype_id(d)) for d in dtypes]


def _grad_mode_decorated(make_decorator: Callable[[], Any]) -> Callable[[Callable], Any]:
    """The decorator form; built only when run, since set_grad_enabled(False) flips the mode when constructed.
    The grad mode the decorated call leaves behind (torch 2.0 and 2.1 leave ``set_grad_enabled(False)``'s off)
    is kept for the probe to read (``grad_mode_left``), and the caller's mode put back: the probe leaves torch
    as it found it."""
    def run(body: Callable[[], Any]) -> Any:
        caller = torch.is_grad_enabled()
        try:
            return make_decorator()(body)()
        finally:
            run.left = torch.is_grad_enabled()  # type: ignore[attr-defined]
            torch.set_grad_enabled(caller)
    return run


def grad_mode_left(grad_mode: Callable[[Callable], Any]) -> bool:
    """Whether grad is enabled after ``grad_mode`` ran a body: what the decorator form left behind, or, for the
    other forms, what is in force now."""
    return getattr(grad_mode, "left", torch.is_grad_enabled())


@contextlib.contextmanager
def _set_grad_enabled_call(flag: bool) -> Iterator[None]:
    previous = torch.is_grad_enabled()
    torch.set_grad_enabled(flag)  # the function-call form, not the context manager
    try:
        yield
    finally:
        torch.set_grad_enabled(previous)


@contextlib.contextmanager
def _nested(outer: Callable[[], Any], inner: Callable[[], Any]) -> Iterator[None]:
    with outer(), inner():
        yield


def _in_context(factory: Callable[[], Any]) -> Callable[[Callable], Any]:
    def run(body: Callable[[], Any]) -> Any:
        with factory():
            return body()
    return run


def _in_fresh_thread(body: Callable[[], Any]) -> Any:
    """Run ``body`` in a new thread started while grad is disabled in the calling thread."""
    out: dict[str, Any] = {}

    def target() -> None:
        out["result"] = body()

    with torch.no_grad():
        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
    return out["result"]


#: Grad modes: each runs a body callable under the mode and returns its result.
GRAD_MODES = [
    pytest.param(lambda body: body(), id="default"),
    pytest.param(_in_context(torch.no_grad), id="no_grad"),
    pytest.param(_grad_mode_decorated(torch.no_grad), id="no_grad-decorator"),
    pytest.param(_in_context(lambda: _nested(torch.no_grad, torch.enable_grad)), id="enable_grad-in-no_grad"),
    pytest.param(_in_context(lambda: torch.set_grad_enabled(False)), id="set_grad_enabled-False-cm"),
    pytest.param(_in_context(lambda: _nested(torch.no_grad, lambda: torch.set_grad_enabled(True))),
                 id="set_grad_enabled-True-in-no_grad"),
    pytest.param(_in_context(lambda: _set_grad_enabled_call(False)), id="set_grad_enabled-False-call"),
    pytest.param(_grad_mode_decorated(lambda: torch.set_grad_enabled(False)), id="set_grad_enabled-False-decorator"),
    pytest.param(_in_context(torch.inference_mode), id="inference_mode"),
    pytest.param(_in_context(lambda: torch.inference_mode(False)), id="inference_mode-False"),
    pytest.param(_in_context(lambda: _nested(torch.inference_mode, torch.enable_grad)),
                 id="enable_grad-in-inference_mode"),
    pytest.param(_grad_mode_decorated(torch.inference_mode), id="inference_mode-decorator"),
    pytest.param(_in_fresh_thread, id="new-thread-from-no_grad"),
]
