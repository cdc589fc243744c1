"""The Tensor autograd API: .grad, .requires_grad, .is_leaf, detach/detach_, retain_grad, hooks, zero_grad."""

import pytest
import torch
from torch import nn

pytestmark = pytest.mark.modes("eager", "compile")


def _leaf(device):
    return torch.tensor([1.0, 2.0], device=device, requires_grad=True)


# Tensor.grad
def test_grad_is_none_before_backward(obs, device):
    """A leaf that requires grad has .grad None until a backward reaches it."""
    obs.facts_of("x", _leaf(device), "grad")


def test_grad_read_on_non_leaf_warns(obs, device):
    """Reading .grad of a non-leaf returns None and warns (exact text)."""
    y = _leaf(device) * 2
    result = obs.outcome("read", lambda: y.grad)
    obs.fact("result_is_none.same", result is None)


def test_grad_read_on_non_leaf_with_retain_grad(obs, device):
    """Reading .grad of a non-leaf that retains grad does not warn."""
    y = _leaf(device) * 2
    y.retain_grad()
    obs.outcome("read", lambda: y.grad)


def _assign(t, value):
    def run():
        t.grad = value
    return run


GRAD_ASSIGNMENTS = [
    pytest.param(lambda d: torch.ones(2, device=d), id="right"),
    pytest.param(lambda d: None, id="None"),
    pytest.param(lambda d: torch.ones(3, device=d), id="wrong-shape"),
    pytest.param(lambda d: torch.ones(2, device=d, dtype=torch.float64), id="wrong-dtype"),
    pytest.param(lambda d: torch.ones(2, device="meta"), id="wrong-device-meta"),
    pytest.param(lambda d: [1.0, 1.0], id="wrong-type-list"),
    pytest.param(lambda d: torch.ones(2, device=d, dtype=torch.int64), id="integer"),
    pytest.param(lambda d: torch.ones(2, device=d).to_sparse(), id="sparse"),
]


@pytest.mark.parametrize("value", GRAD_ASSIGNMENTS)
def test_grad_assignment(obs, device, value):
    """Assigning x.grad checks shape, dtype, device and type, each with its own error text."""
    x = _leaf(device)
    obs.outcome("assign", _assign(x, value(device)))
    if x.grad is not None and x.grad.layout == torch.strided:
        obs.facts_of("x", x, "grad")


def test_grad_assignment_on_non_leaf(obs, device):
    """Assigning .grad on a non-leaf is allowed and the value is kept."""
    y = _leaf(device) * 2
    obs.outcome("assign", _assign(y, torch.ones(2, device=device)))
    obs.facts_of("y", y, "grad")


def test_grad_assignment_that_requires_grad(obs, device):
    """Assigning a .grad that itself requires grad is allowed."""
    x = _leaf(device)
    obs.outcome("assign", _assign(x, torch.ones(2, device=device, requires_grad=True)))
    obs.facts_of("x.grad", x.grad, "requires_grad", "is_leaf")


# requires_grad and is_leaf
def test_requires_grad_set_on_leaf(obs, device):
    """Setting requires_grad = True on a plain leaf makes backward reach it."""
    x = torch.ones(2, device=device)
    x.requires_grad = True
    (x * 2).sum().backward()
    obs.facts_of("x", x, "requires_grad", "is_leaf", "grad")


def test_requires_grad_true_on_non_leaf_without_grad(obs, device):
    """A result computed without grad is a leaf, so requires_grad_() on it works."""
    y = torch.ones(2, device=device) * 2
    obs.outcome("requires_grad_", y.requires_grad_)
    obs.facts_of("y", y)


def test_requires_grad_on_integer_tensor(obs, device):
    """requires_grad_() on an integer tensor raises."""
    obs.outcome("requires_grad_", torch.ones(2, device=device, dtype=torch.int64).requires_grad_)


@pytest.mark.parametrize("make", [
    pytest.param(lambda d: torch.ones(2, device=d), id="plain"),
    pytest.param(lambda d: torch.ones(2, device=d, requires_grad=True), id="requires-grad"),
    pytest.param(lambda d: torch.ones(2, device=d, requires_grad=True) * 2, id="result"),
    pytest.param(lambda d: (torch.ones(2, device=d, requires_grad=True) * 2).detach(), id="detached-result"),
    pytest.param(lambda d: nn.Linear(2, 2).to(d).weight, id="module-parameter"),
])
def test_is_leaf(obs, device, make):
    """is_leaf, requires_grad and grad_fn of common tensors."""
    obs.facts_of("t", make(device))


def test_backward_positional_gradient(obs, device):
    """Tensor.backward takes the gradient as its first positional argument."""
    x = _leaf(device)
    obs.outcome("backward", lambda: (x * 2).backward(torch.tensor([1.0, 3.0], device=device)))
    obs.facts_of("x", x, "grad")


# detach / detach_
def test_detach_properties(obs, device):
    """detach() gives a new leaf without grad that shares storage and version counter."""
    x = _leaf(device)
    y = x * 2
    d = y.detach()
    obs.facts_of("d", d, "is_leaf", "requires_grad", "grad_fn")
    obs.fact("storage.same", d.data_ptr() == y.data_ptr())
    obs.fact("object.same", d is y)
    d.zero_()
    obs.facts_of("y", y, "version")


def test_detach_in_place_on_non_leaf(obs, device):
    """detach_() turns a non-leaf into a leaf without grad, in place."""
    y = _leaf(device) * 2
    result = obs.outcome("detach_", y.detach_)
    obs.facts_of("y", y)
    obs.fact("returns_self.same", result is y)


def test_detach_in_place_on_view(obs, device):
    """detach_() on a view raises."""
    view = (_leaf(device) * 2)[:1]
    obs.outcome("detach_", view.detach_)


# retain_grad
def test_retain_grad_on_non_leaf(obs, device):
    """retain_grad() on a non-leaf sets retains_grad and backward fills its .grad."""
    y = _leaf(device) * 2
    y.retain_grad()
    obs.facts_of("y", y, "retains_grad")
    (y * y).sum().backward()
    obs.facts_of("y", y, "grad")


def test_retain_grad_on_leaf(obs, device):
    """retain_grad() on a leaf is a no-op: retains_grad stays False."""
    x = _leaf(device)
    obs.outcome("retain_grad", x.retain_grad)
    obs.facts_of("x", x, "retains_grad")


def test_retain_grad_on_tensor_without_grad(obs, device):
    """retain_grad() on a tensor that does not require grad raises."""
    obs.outcome("retain_grad", torch.ones(2, device=device).retain_grad)


# hooks
def test_register_hook_modifies_gradient(obs, device):
    """A hook that returns a tensor replaces the gradient flowing on."""
    x = _leaf(device)
    x.register_hook(lambda g: g * 10)
    (x * 2).sum().backward()
    obs.facts_of("x", x, "grad")


def test_register_hook_order(obs, device):
    """Several hooks on one tensor run in registration order, each seeing the previous one's result."""
    x = _leaf(device)
    calls = []
    x.register_hook(lambda g: calls.append(("first", g.tolist())) or g + 1)
    x.register_hook(lambda g: calls.append(("second", g.tolist())) or g * 2)
    (x * 2).sum().backward()
    obs.fact("hooks.calls", calls)
    obs.facts_of("x", x, "grad")


def test_register_hook_handle_remove(obs, device):
    """A removed hook no longer runs."""
    x = _leaf(device)
    calls = []
    handle = x.register_hook(lambda g: calls.append("hook"))
    handle.remove()
    (x * 2).sum().backward()
    obs.fact("hooks.count", len(calls))


def test_register_hook_on_non_leaf(obs, device):
    """A hook on a non-leaf sees the gradient flowing through it and can change what reaches the leaf."""
    x = _leaf(device)
    y = x * 2
    seen = []
    y.register_hook(lambda g: seen.append(g.tolist()) or g * 0)
    (y * 3).sum().backward()
    obs.fact("hook.calls", seen)
    obs.facts_of("x", x, "grad")


def test_register_hook_on_tensor_without_grad(obs, device):
    """register_hook on a tensor that does not require grad raises."""
    obs.outcome("register_hook", lambda: torch.ones(2, device=device).register_hook(lambda g: g))


def test_post_accumulate_grad_hook(obs, device):
    """register_post_accumulate_grad_hook on a leaf runs after .grad was accumulated (where the API exists)."""
    x = _leaf(device)
    present = hasattr(x, "register_post_accumulate_grad_hook")
    obs.fact("api.present", present)
    if not present:
        return
    seen = []
    x.register_post_accumulate_grad_hook(lambda t: seen.append(t.grad.tolist()))
    (x * 2).sum().backward()
    (x * 2).sum().backward()
    obs.fact("hook.calls", seen)


def test_post_accumulate_grad_hook_on_non_leaf(obs, device):
    """register_post_accumulate_grad_hook on a non-leaf raises (where the API exists)."""
    y = _leaf(device) * 2
    present = hasattr(y, "register_post_accumulate_grad_hook")
    obs.fact("api.present", present)
    if present:
        obs.outcome("register", lambda: y.register_post_accumulate_grad_hook(lambda t: None))


# zero_grad
def _trained_linear(device):
    layer = nn.Linear(2, 1).to(device)
    layer(torch.ones(1, 2, device=device)).sum().backward()
    return layer


def test_optimizer_zero_grad_default(obs, device):
    """optimizer.zero_grad() by default sets .grad to None (set_to_none=True since torch 2.0)."""
    layer = _trained_linear(device)
    torch.optim.SGD(layer.parameters(), lr=0.1).zero_grad()
    obs.facts_of("weight", layer.weight, "grad")


def test_optimizer_zero_grad_set_to_none_false(obs, device):
    """optimizer.zero_grad(set_to_none=False) leaves zero tensors."""
    layer = _trained_linear(device)
    torch.optim.SGD(layer.parameters(), lr=0.1).zero_grad(set_to_none=False)
    obs.facts_of("weight", layer.weight, "grad")


def test_module_zero_grad_default(obs, device):
    """module.zero_grad() by default sets .grad to None."""
    layer = _trained_linear(device)
    layer.zero_grad()
    obs.facts_of("weight", layer.weight, "grad")
    obs.facts_of("bias", layer.bias, "grad")


def test_module_zero_grad_set_to_none_false(obs, device):
    """module.zero_grad(set_to_none=False) leaves zero tensors."""
    layer = _trained_linear(device)
    layer.zero_grad(set_to_none=False)
    obs.facts_of("bias", layer.bias, "grad")


def test_register_hook_returning_none(obs, device):
    """A hook that returns None leaves the gradient unchanged."""
    x = _leaf(device)
    seen = []
    x.register_hook(lambda g: seen.append(g.tolist()))
    (x * 2).sum().backward()
    obs.fact("hook.calls", seen)
    obs.facts_of("x", x, "grad")


def test_grad_dtype_attribute(obs, device):
    """Tensor.grad_dtype (where present) defaults to the tensor's dtype and lets .grad hold another dtype."""
    x = _leaf(device)
    present = hasattr(x, "grad_dtype")
    obs.fact("api.present", present)
    if not present:
        return
    obs.fact("default.value", str(x.grad_dtype))

    def widen():
        x.grad_dtype = torch.float64
        x.grad = torch.ones(2, device=device, dtype=torch.float64)

    obs.outcome("assign_float64", widen)
    obs.facts_of("x", x, "grad")
