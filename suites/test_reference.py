"""The six reference scenarios: the autograd behaviours every upgrade check starts from."""

import pytest
import torch
from torch import nn

pytestmark = pytest.mark.modes("eager", "compile")


def _sqrt_mse_inputs(device):
    x = torch.tensor([[4.0] * 4, [9.0] * 4], device=device)
    target = torch.tensor([1.0, 2.0, 3.0, 4.0], device=device)
    return x, target


def test_sqrt_mse_without_grad(obs, device):
    """sqrt and MSELoss of tensors that do not require grad give leaves that do not require grad."""
    x, target = _sqrt_mse_inputs(device)
    output = torch.sqrt(x)
    loss = obs.outcome("loss", lambda: nn.MSELoss()(output, target))
    obs.facts_of("input", x, "is_leaf", "requires_grad")
    obs.facts_of("output", output, "is_leaf", "requires_grad")
    obs.facts_of("target", target, "is_leaf", "requires_grad")
    obs.facts_of("loss", loss, "is_leaf", "requires_grad")


def test_sqrt_output_requires_grad_then_mse(obs, device):
    """requires_grad_() on the sqrt output makes it a leaf; MSELoss then has MseLossBackward0 and backward fills its grad."""
    x, target = _sqrt_mse_inputs(device)
    output = torch.sqrt(x)
    output.requires_grad_(True)
    loss = obs.outcome("loss", lambda: nn.MSELoss()(output, target))
    obs.facts_of("input", x, "is_leaf", "requires_grad")
    obs.facts_of("output", output)
    obs.facts_of("loss", loss)
    obs.outcome("backward", loss.backward)
    obs.facts_of("output", output, "grad")


def test_unique_backward(obs, device):
    """unique of a tensor that requires grad gives an output that requires grad whose backward raises."""
    x = torch.rand(1, requires_grad=True, device=device)
    output = torch.unique(x, sorted=True)
    obs.facts_of("output", output)
    obs.outcome("backward", output.backward)


def test_ne_backward(obs, device):
    """ne of two float tensors that require grad is a bool tensor without grad; backward on it raises."""
    a = torch.ones(2, 4, requires_grad=True, device=device)
    b = torch.zeros(2, 4, requires_grad=True, device=device)
    output = torch.ne(a, b)
    obs.facts_of("output", output, "dtype", "requires_grad", "is_leaf", "grad_fn")
    obs.outcome("backward", lambda: output.backward(torch.ones_like(output)))


def test_add_then_setitem_on_inputs(obs, device):
    """After add, writing into the input without grad is allowed, into the leaf that requires grad raises; backward still works."""
    a = torch.ones(2, 2, requires_grad=True, device=device)
    b = torch.ones(2, 2, device=device)
    output = torch.add(a, b)
    obs.facts_of("output", output)

    def set_b():
        b[0][0] = 10

    def set_a():
        a[0][0] = 10

    obs.outcome("set_b", set_b)
    obs.outcome("set_a", set_a)
    obs.outcome("backward", lambda: output.backward(torch.ones_like(output)))
    obs.facts_of("a", a, "grad", "version")
    obs.facts_of("b", b, "version")


def test_inplace_after_unsaved_use(obs, device):
    """y = x + 2, z = 2 * y, then y[0] = -2: mul by a constant saves nothing, so backward succeeds with x.grad == 2."""
    x = torch.tensor([1.0], requires_grad=True, device=device)
    y = x + 2
    z = 2 * y
    y[0] = -2.0
    obs.facts_of("y", y, "grad_fn", "version")
    obs.outcome("backward", z.backward)
    obs.facts_of("x", x, "grad")


def test_inplace_after_saved_use(obs, device):
    """y = x + 2, z = y * y, then y[0] = -2: the mul saved y, so backward raises the version-counter error."""
    x = torch.tensor([1.0], requires_grad=True, device=device)
    y = x + 2
    z = y * y
    y[0] = -2.0
    obs.facts_of("y", y, "grad_fn", "version")
    obs.outcome("backward", z.backward)
    obs.facts_of("x", x, "grad")
