"""Anomaly mode: NaN detection in backward, the forward traceback warning, and the version-error hint."""

import torch


def _nan_backward(device):
    """y = sqrt(x) at x=0 then * 0: backward of sqrt produces inf*0 = nan."""
    x = torch.tensor([0.0, 1.0], device=device, requires_grad=True)
    return x, (x.sqrt() * 0).sum()


def test_detect_anomaly_nan_in_backward(obs, device):
    """Under detect_anomaly, a backward producing NaN raises naming the node; a warning names the forward op."""
    with torch.autograd.detect_anomaly():
        x, y = _nan_backward(device)
        obs.outcome("backward", y.backward)


def test_nan_in_backward_without_anomaly(obs, device):
    """Without anomaly mode the same backward silently leaves NaN in x.grad."""
    x, y = _nan_backward(device)
    obs.outcome("backward", y.backward)
    obs.facts_of("x", x, "grad")


def test_detect_anomaly_check_nan_false(obs, device):
    """detect_anomaly(check_nan=False) does not raise on NaN."""
    with torch.autograd.detect_anomaly(check_nan=False):
        x, y = _nan_backward(device)
        obs.outcome("backward", y.backward)
    obs.facts_of("x", x, "grad")


def test_set_detect_anomaly(obs, device):
    """set_detect_anomaly(True) turns the mode on for its block and restores it after."""
    with torch.autograd.set_detect_anomaly(True):
        obs.fact("inside.value", [torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()])
        x, y = _nan_backward(device)
        obs.outcome("backward", y.backward)
    obs.fact("after.value", torch.is_anomaly_enabled())


def test_set_detect_anomaly_check_nan_false(obs):
    """set_detect_anomaly(True, check_nan=False) enables anomaly mode without the NaN check."""
    with torch.autograd.set_detect_anomaly(True, check_nan=False):
        obs.fact("inside.value", [torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()])


def test_detect_anomaly_warns_when_enabled(obs):
    """Creating and entering detect_anomaly warns that it slows things down."""
    held = []

    def enter():
        held.append(torch.autograd.detect_anomaly())
        held[0].__enter__()

    obs.outcome("enter", enter)
    held[0].__exit__(None, None, None)


def test_version_error_under_anomaly_mode(obs, device):
    """Under anomaly mode the version-counter error drops the 'enable anomaly detection' hint."""
    with torch.autograd.detect_anomaly():
        x = torch.tensor([1.0], device=device, requires_grad=True)
        y = x + 2
        z = y * y
        y.mul_(2)
        obs.outcome("backward", z.backward)


def test_version_error_without_anomaly_mode(obs, device):
    """Without anomaly mode the version-counter error ends with the hint to enable anomaly detection."""
    x = torch.tensor([1.0], device=device, requires_grad=True)
    y = x + 2
    z = y * y
    y.mul_(2)
    obs.outcome("backward", z.backward)


def test_anomaly_error_in_custom_backward(obs, device):
    """Under detect_anomaly, an exception in a custom backward is raised with a warning naming the forward call."""

    class Broken(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, grad):
            raise ValueError("broken backward")

    with torch.autograd.detect_anomaly():
        x = torch.ones(2, device=device, requires_grad=True)
        obs.outcome("backward", lambda: Broken.apply(x).sum().backward())
