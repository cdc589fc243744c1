"""Anomaly mode: NaN detection in backward (built-in and custom nodes, nested double backward), the forward
traceback warning, the version-error hint, the mode's scope (threads, nesting, plain calls, forward-only or
backward-only) and check_nan=False."""

import threading
import warnings

import pytest
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


# scope of the mode
def _in_thread(body):
    """Run ``body`` in a new thread and return what it returned (joined before returning)."""
    out = {}
    thread = threading.Thread(target=lambda: out.update(value=body()))
    thread.start()
    thread.join()
    return out["value"]


def _flags():
    return [torch.is_anomaly_enabled(), torch.is_anomaly_check_nan_enabled()]


def test_anomaly_mode_seen_by_another_thread(obs):
    """A thread started while set_detect_anomaly(True) is active in the main thread: what it sees (the flag is global)."""
    with torch.autograd.set_detect_anomaly(True):
        obs.fact("thread.value", _in_thread(_flags))
    obs.fact("after.value", _flags())


def test_anomaly_mode_set_in_another_thread(obs):
    """set_detect_anomaly(True) called in another thread: whether the main thread sees it afterwards."""
    previous = _flags()
    try:
        _in_thread(lambda: torch.autograd.set_detect_anomaly(True))
        obs.fact("main.value", _flags())
    finally:
        torch.set_anomaly_enabled(*previous)


def test_backward_in_another_thread_under_anomaly_mode(obs):
    """A backward run in another thread while the main thread has anomaly mode on detects the NaN."""
    def body():
        x = torch.tensor([0.0, 1.0], requires_grad=True)
        obs.outcome("backward", (x.sqrt() * 0).sum().backward)

    with torch.autograd.set_detect_anomaly(True):
        _in_thread(body)


def test_detect_anomaly_inside_set_detect_anomaly_false(obs):
    """detect_anomaly nested inside set_detect_anomaly(False) turns the mode on, and off again when it exits."""
    with torch.autograd.set_detect_anomaly(False):
        obs.fact("outer.value", _flags())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with torch.autograd.detect_anomaly():
                obs.fact("inner.value", _flags())
        obs.fact("after_inner.value", _flags())


def test_set_detect_anomaly_false_inside_detect_anomaly(obs):
    """set_detect_anomaly(False) nested inside detect_anomaly turns the mode off for its block only."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.autograd.detect_anomaly():
            with torch.autograd.set_detect_anomaly(False):
                obs.fact("inner.value", _flags())
                x = torch.tensor([0.0, 1.0], requires_grad=True)
                obs.outcome("backward", (x.sqrt() * 0).sum().backward)
            obs.fact("after_inner.value", _flags())


def test_check_nan_nesting(obs):
    """detect_anomaly(check_nan=True) inside detect_anomaly(check_nan=False): the inner flag wins, then is restored."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.autograd.detect_anomaly(check_nan=False):
            obs.fact("outer.value", _flags())
            with torch.autograd.detect_anomaly(check_nan=True):
                obs.fact("inner.value", _flags())
            obs.fact("after_inner.value", _flags())


def test_set_detect_anomaly_as_plain_call(obs):
    """set_detect_anomaly(True) called without `with` turns the mode on until turned off."""
    previous = _flags()
    try:
        torch.autograd.set_detect_anomaly(True)
        obs.fact("after_call.value", _flags())
    finally:
        torch.set_anomaly_enabled(*previous)
    obs.fact("restored.value", _flags())


def test_anomaly_only_during_forward(obs, device):
    """Forward under detect_anomaly, backward outside it: the NaN is not detected."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.autograd.detect_anomaly():
            x, y = _nan_backward(device)
    obs.outcome("backward", y.backward)


def test_anomaly_only_during_backward(obs, device):
    """Backward under detect_anomaly of a forward recorded outside it: raises, with no forward traceback."""
    x, y = _nan_backward(device)

    def backward():
        with torch.autograd.detect_anomaly():
            y.backward()

    obs.outcome("backward", backward)


def test_nan_in_forward_not_detected(obs, device):
    """Anomaly mode checks only backward: a NaN produced in forward passes silently."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.autograd.detect_anomaly():
            x = torch.tensor([-1.0], device=device, requires_grad=True)
            obs.outcome("forward", lambda: x.log())


# warnings and errors raised during backward
class WarningBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 1

    @staticmethod
    def backward(ctx, grad):
        warnings.warn("warning from backward")
        return grad


@pytest.mark.parametrize("anomaly", [pytest.param(True, id="anomaly"), pytest.param(False, id="no-anomaly")])
def test_warning_in_backward(obs, device, anomaly):
    """A warning raised inside a custom backward reaches the caller as it is, with or without anomaly mode."""
    x = torch.ones(2, device=device, requires_grad=True)

    def backward():
        with torch.autograd.set_detect_anomaly(anomaly):
            WarningBackward.apply(x).sum().backward()

    obs.outcome("backward", backward)


def test_version_error_in_autograd_grad_under_anomaly_mode(obs, device):
    """torch.autograd.grad hitting the version error under detect_anomaly warns with the forward op's node name."""
    def run():
        with torch.autograd.detect_anomaly():
            a = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
            d1 = a + 1
            d2 = d1 ** 2
            d1 += 1
            torch.autograd.grad(d2.sum(), a)

    obs.outcome("grad", run)


def test_check_nan_false_still_reports_errors(obs, device):
    """detect_anomaly(check_nan=False) still adds the forward-traceback warning to backward errors."""
    def run():
        with torch.autograd.detect_anomaly(check_nan=False):
            x = torch.tensor([1.0], device=device, requires_grad=True)
            y = x + 2
            z = y * y
            y.mul_(2)
            z.backward()

    obs.outcome("backward", run)


# NaN in custom Function outputs
class MyFunc(torch.autograd.Function):
    """Returns a NaN gradient for its first or second input."""

    @staticmethod
    def forward(ctx, inp1, inp2, fail_0th):
        ctx.fail_0th = fail_0th
        return inp1 * 1 + inp2 * 1

    @staticmethod
    def backward(ctx, grad):
        nan = grad * float("nan")
        return (nan, grad, None) if ctx.fail_0th else (grad, nan, None)


@pytest.mark.parametrize("fail_0th", [pytest.param(True, id="0th"), pytest.param(False, id="1th")])
def test_custom_function_nan_gradient(obs, device, fail_0th):
    """A custom backward returning NaN for one input raises naming the Function and the output's index."""
    a = torch.ones(2, device=device, requires_grad=True)
    b = torch.ones(2, device=device, requires_grad=True)

    def run():
        with torch.autograd.detect_anomaly():
            MyFunc.apply(a, b, fail_0th).sum().backward()

    obs.outcome("backward", run)


def test_custom_function_nan_check_nan_toggled(obs, device):
    """The same NaN backward passes under check_nan=False and raises once a nested detect_anomaly checks NaN."""
    a = torch.ones(2, device=device, requires_grad=True)
    b = torch.ones(2, device=device, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with torch.autograd.detect_anomaly(check_nan=False):
            out = MyFunc.apply(a, b, True).sum()
            obs.outcome("unchecked", lambda: out.backward(retain_graph=True))
            with torch.autograd.detect_anomaly(check_nan=True):
                obs.outcome("checked", lambda: out.backward(retain_graph=True))


class MyFunc2(torch.autograd.Function):
    """The Function the outer backward calls: its own backward returns a NaN for one of its inputs."""

    @staticmethod
    def forward(ctx, grad, x, fail_0th):
        ctx.fail_0th = fail_0th
        return grad * 1, x * 1

    @staticmethod
    def backward(ctx, grad_grad, grad_x):
        nan_0 = grad_grad * float("nan")
        nan_1 = grad_x * float("nan")
        return (nan_0, grad_x, None) if ctx.fail_0th else (grad_grad, nan_1, None)


class Outer(torch.autograd.Function):
    """Its backward is differentiable through MyFunc2."""

    @staticmethod
    def forward(ctx, x, fail_0th):
        ctx.save_for_backward(x)
        ctx.fail_0th = fail_0th
        return x * 1

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        a, b = MyFunc2.apply(grad, x, ctx.fail_0th)
        return a * b, None


@pytest.mark.parametrize("fail_0th", [pytest.param(True, id="0th"), pytest.param(False, id="1th")])
def test_nested_nan_in_double_backward(obs, device, fail_0th):
    """A NaN in a node created by a backward: the error names it and a second warning names the backward that made it."""
    def run():
        with torch.autograd.detect_anomaly():
            x = torch.ones(2, device=device, requires_grad=True)
            (g,) = torch.autograd.grad(Outer.apply(x, fail_0th).sum(), x, create_graph=True)
            g.sum().backward()

    obs.outcome("backward", run)
