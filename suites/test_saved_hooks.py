"""Saved-tensor hooks: when pack and unpack run, save_on_cpu, disabling hooks, hooks on one node's saved tensor."""

import pytest
import torch
from torch.autograd.graph import disable_saved_tensors_hooks, save_on_cpu, saved_tensors_hooks


def _leaf(device):
    return torch.tensor([1.0, 2.0], device=device, requires_grad=True)


class Log:
    """Pack/unpack hooks that log their calls in order."""

    def __init__(self):
        self.calls = []

    def pack(self, t):
        self.calls.append(["pack", list(t.shape)])
        return t

    def unpack(self, t):
        self.calls.append(["unpack", list(t.shape)])
        return t


SAVING = [
    pytest.param(lambda x: x * x, id="mul-self"),
    pytest.param(lambda x: x * 3, id="mul-scalar"),
    pytest.param(lambda x: x.exp(), id="exp"),
    pytest.param(lambda x: x + 1, id="add"),
    pytest.param(lambda x: x.pow(2).sin(), id="pow-sin"),
]


@pytest.mark.parametrize("op", SAVING)
def test_pack_and_unpack_calls(obs, device, op):
    """pack runs once per saved tensor during forward, unpack once per use during backward."""
    log = Log()
    x = _leaf(device)
    with saved_tensors_hooks(log.pack, log.unpack):
        y = op(x).sum()
    forward_calls = list(log.calls)
    y.backward()
    obs.fact("forward.calls", forward_calls)
    obs.fact("all.calls", log.calls)
    obs.facts_of("x", x, "grad")


def test_hooks_only_apply_inside_context(obs, device):
    """Tensors saved outside the context are not packed even if backward runs inside it."""
    log = Log()
    x = _leaf(device)
    y = (x * x).sum()
    with saved_tensors_hooks(log.pack, log.unpack):
        y.backward()
    obs.fact("hooks.calls", log.calls)


def test_nested_hooks_innermost_wins(obs, device):
    """With nested saved_tensors_hooks, only the innermost pair runs."""
    outer, inner = Log(), Log()
    x = _leaf(device)
    with saved_tensors_hooks(outer.pack, outer.unpack), saved_tensors_hooks(inner.pack, inner.unpack):
        y = (x * x).sum()
    y.backward()
    obs.fact("outer.calls", outer.calls)
    obs.fact("inner.count", len(inner.calls))


def test_unpack_can_change_the_value(obs, device):
    """What unpack returns is what backward uses: doubling it doubles the gradient of x*x."""
    x = _leaf(device)
    with saved_tensors_hooks(lambda t: t, lambda t: t * 2):
        y = (x * x).sum()
    y.backward()
    obs.facts_of("x", x, "grad")


def test_pack_to_non_tensor(obs, device):
    """pack may return any object (here a list) as long as unpack turns it back into a tensor."""
    x = _leaf(device)
    with saved_tensors_hooks(lambda t: t.tolist(), lambda data: torch.tensor(data, device=device)):
        y = (x * x).sum()
    obs.outcome("backward", y.backward)
    obs.facts_of("x", x, "grad")


def test_unpack_returning_wrong_shape(obs, device):
    """An unpack hook that returns a tensor of another shape: what backward does."""
    x = _leaf(device)
    with saved_tensors_hooks(lambda t: t, lambda t: t[:1]):
        y = (x * x).sum()
    obs.outcome("backward", y.backward)


def test_save_on_cpu(obs, device):
    """save_on_cpu keeps saved tensors on the CPU and backward gives the usual gradient."""
    x = _leaf(device)
    with save_on_cpu(pin_memory=False):
        y = (x * x).exp().sum()
    obs.outcome("backward", y.backward)
    obs.facts_of("x", x, "grad", "device")


def test_disable_saved_tensors_hooks(obs, device):
    """Inside disable_saved_tensors_hooks, registering saved_tensors_hooks raises with the given message."""
    with disable_saved_tensors_hooks("hooks are disabled by this probe"):
        obs.outcome("register", lambda: saved_tensors_hooks(lambda t: t, lambda t: t).__enter__())


def test_disable_saved_tensors_hooks_inside_hooks(obs, device):
    """Entering disable_saved_tensors_hooks while hooks are active raises."""
    with saved_tensors_hooks(lambda t: t, lambda t: t):
        obs.outcome("disable", lambda: disable_saved_tensors_hooks("no").__enter__())


def test_hooks_on_a_nodes_saved_tensor(obs, device):
    """register_hooks on one node's raw saved tensor packs immediately and unpacks at backward."""
    log = Log()
    x = _leaf(device)
    y = x * x
    y.grad_fn._raw_saved_self.register_hooks(log.pack, log.unpack)
    before = list(log.calls)
    y.sum().backward()
    obs.fact("register.calls", before)
    obs.fact("all.calls", log.calls)


def test_hooks_on_a_saved_tensor_twice(obs, device):
    """Registering hooks on the same saved tensor twice raises."""
    y = _leaf(device) * _leaf(device)
    y.grad_fn._raw_saved_self.register_hooks(lambda t: t, lambda t: t)
    obs.outcome("second", lambda: y.grad_fn._raw_saved_self.register_hooks(lambda t: t, lambda t: t))


def test_pack_hook_modifying_its_input(obs, device):
    """A pack hook that modifies the tensor it is given in place raises."""
    x = _leaf(device)

    def pack(t):
        t.add_(1)
        return t

    with saved_tensors_hooks(pack, lambda t: t):
        obs.outcome("forward", lambda: (x * 1) * (x * 1))
