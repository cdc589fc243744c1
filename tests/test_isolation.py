"""torch's process-wide state around a probe: every piece is known before it, a change is named, and put back."""

from __future__ import annotations

import pytest
import torch

from autograd_conformance import isolation
from autograd_conformance.errors import StateLeak

KEPT: list = []


def _enter(cm) -> None:
    KEPT.append(cm)
    cm.__enter__()


class _RaisingFunctionMode(torch.overrides.TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        raise NotImplementedError("a mode left behind")


class _RaisingDispatchMode(torch.utils._python_dispatch.TorchDispatchMode):
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        raise NotImplementedError("a mode left behind")


LEAKS = {
    "grad mode: False": lambda: torch.set_grad_enabled(False),
    "inference mode: True": lambda: _enter(torch.inference_mode()),
    "anomaly mode (enabled, check_nan): (True, True)": lambda: torch.autograd.set_detect_anomaly(True),
    "default dtype: 'torch.float64'": lambda: torch.set_default_dtype(torch.float64),
    "default device: 'meta'": lambda: torch.set_default_device("meta"),
    "torch-function modes: ['_RaisingFunctionMode']": lambda: _enter(_RaisingFunctionMode()),
    "dispatch modes: ['_RaisingDispatchMode']": lambda: _enter(_RaisingDispatchMode()),
    "saved-tensors default hooks: True": lambda: _enter(torch.autograd.graph.save_on_cpu()),
    "saved-tensors hooks enabled: False": lambda: _enter(torch.autograd.graph.disable_saved_tensors_hooks("no")),
    "forward-AD dual level: 0": lambda: _enter(torch.autograd.forward_ad.dual_level()),
    "CPU autocast (enabled, dtype): (True, 'torch.bfloat16')": lambda: _enter(torch.autocast("cpu")),
    "deterministic algorithms (enabled, warn_only): (True, False)": lambda: torch.use_deterministic_algorithms(True),
    "float32 matmul precision: 'medium'": lambda: torch.set_float32_matmul_precision("medium"),
    "intra-op threads: 1": lambda: torch.set_num_threads(1),
}


@pytest.mark.parametrize("named", sorted(LEAKS))
def test_a_leak_of_each_piece_is_named_and_put_back(named):
    before = isolation.snapshot()
    with pytest.raises(StateLeak) as leak:
        with isolation.isolated():
            LEAKS[named]()
    assert any(line.startswith(named) for line in leak.value.leaks), leak.value.leaks
    assert isolation.snapshot() == before
    x = torch.ones(2, requires_grad=True)  # torch works as before: no mode, hook or device left behind
    assert (x * 2).grad_fn is not None and (x * 2).device.type == "cpu" and (x * 2).dtype == torch.float32


def test_a_probe_starts_from_the_known_state_whatever_was_set_before_it():
    torch.set_default_dtype(torch.float64)
    try:
        with isolation.isolated():
            assert torch.get_default_dtype() == torch.float32 and torch.is_grad_enabled()
        assert torch.get_default_dtype() == torch.float64  # the host's own setting is put back after
    finally:
        torch.set_default_dtype(torch.float32)


def test_an_import_that_changes_torch_is_named_and_put_back():
    leaks = isolation.around_import(lambda: torch.set_grad_enabled(False))
    assert leaks == ["grad mode: False (expected True)"] and torch.is_grad_enabled()
