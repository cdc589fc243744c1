"""Leaf semantics: which tensors are leaves, and which of them require grad."""

import pytest
import torch
from torch import nn

pytestmark = pytest.mark.modes("eager", "compile")

# Factories asked for requires_grad=True directly.
FACTORIES = [
    pytest.param(lambda d: torch.zeros(2, 3, device=d, requires_grad=True), id="zeros"),
    pytest.param(lambda d: torch.ones(2, 3, device=d, requires_grad=True), id="ones"),
    pytest.param(lambda d: torch.empty(2, 3, device=d, requires_grad=True), id="empty"),
    pytest.param(lambda d: torch.full((2, 3), 1.5, device=d, requires_grad=True), id="full"),
    pytest.param(lambda d: torch.rand(2, 3, device=d, requires_grad=True), id="rand"),
    pytest.param(lambda d: torch.randn(2, 3, device=d, requires_grad=True), id="randn"),
    pytest.param(lambda d: torch.arange(3.0, device=d, requires_grad=True), id="arange"),
    pytest.param(lambda d: torch.linspace(0, 1, 5, device=d, requires_grad=True), id="linspace"),
    pytest.param(lambda d: torch.eye(3, device=d, requires_grad=True), id="eye"),
    pytest.param(lambda d: torch.tensor([1.0, 2.0], device=d, requires_grad=True), id="tensor"),
    pytest.param(lambda d: torch.zeros_like(torch.ones(2, device=d), requires_grad=True), id="zeros_like"),
    pytest.param(lambda d: torch.ones(2, device=d).new_zeros(3, requires_grad=True), id="new_zeros"),
]

# Ops applied to a tensor that does not require grad.
OPS_WITHOUT_GRAD = [
    pytest.param(lambda x: x + 1, id="add"),
    pytest.param(lambda x: x * x, id="mul"),
    pytest.param(lambda x: x.sum(), id="sum"),
    pytest.param(lambda x: x.exp(), id="exp"),
    pytest.param(lambda x: x @ x.T, id="matmul"),
    pytest.param(lambda x: x.view(-1), id="view"),
    pytest.param(lambda x: x[0], id="index"),
]

# Ways of making a new tensor from a leaf that requires grad.
DERIVED_FROM_LEAF = [
    pytest.param(lambda x: x.clone(), id="clone"),
    pytest.param(lambda x: x.detach(), id="detach"),
    pytest.param(lambda x: x.data, id="data"),
    pytest.param(lambda x: x.view(-1), id="view"),
    pytest.param(lambda x: x.to(torch.float64), id="to-float64"),
    pytest.param(lambda x: x.to(torch.float32), id="to-same-dtype"),
    pytest.param(lambda x: x.to(x.device), id="to-same-device"),
    pytest.param(lambda x: x.float(), id="float-same-dtype"),
    pytest.param(lambda x: x.double(), id="double"),
    pytest.param(lambda x: torch.as_tensor(x), id="as_tensor"),
    pytest.param(lambda x: torch.zeros_like(x), id="zeros_like"),
    pytest.param(lambda x: x.new_ones(2), id="new_ones"),
    pytest.param(lambda x: x.contiguous(), id="contiguous"),
]


@pytest.mark.parametrize("make", FACTORIES)
def test_factory_with_requires_grad(obs, device, make):
    """A factory called with requires_grad=True returns a leaf that requires grad."""
    x = make(device)
    obs.facts_of("x", x, "is_leaf", "requires_grad", "grad_fn", "dtype")


@pytest.mark.parametrize("op", OPS_WITHOUT_GRAD)
def test_op_on_tensor_without_grad(obs, device, op):
    """An op on a tensor that does not require grad returns a leaf that does not require grad."""
    x = torch.ones(2, 2, device=device)
    obs.facts_of("output", op(x))


@pytest.mark.parametrize("derive", DERIVED_FROM_LEAF)
def test_derived_from_leaf(obs, device, derive):
    """Tensors derived from a float32 leaf that requires grad: leaf status, grad_fn, and whether it is the same object."""
    x = torch.ones(2, 2, device=device, requires_grad=True)
    y = derive(x)
    obs.facts_of("y", y)
    obs.fact("y_is_x.same", y is x)


def test_op_under_no_grad(obs, device):
    """An op on a leaf that requires grad, under no_grad, returns a leaf that does not require grad."""
    x = torch.ones(2, device=device, requires_grad=True)
    with torch.no_grad():
        y = x * 2
    obs.facts_of("y", y)


def test_factory_with_requires_grad_under_no_grad(obs, device):
    """A factory asked for requires_grad=True under no_grad still returns a leaf that requires grad."""
    with torch.no_grad():
        x = torch.zeros(2, device=device, requires_grad=True)
    obs.facts_of("x", x)


def test_requires_grad_false_on_leaf(obs, device):
    """requires_grad_(False) on a leaf that requires grad is allowed and leaves a plain leaf."""
    x = torch.ones(2, device=device, requires_grad=True)
    obs.outcome("requires_grad_", lambda: x.requires_grad_(False))
    obs.facts_of("x", x)


def test_requires_grad_false_on_non_leaf(obs, device):
    """requires_grad_(False) on a non-leaf that requires grad raises."""
    y = torch.ones(2, device=device, requires_grad=True) * 2
    obs.outcome("requires_grad_", lambda: y.requires_grad_(False))
    obs.facts_of("y", y)


def test_requires_grad_true_on_non_leaf(obs, device):
    """requires_grad_(True) on a non-leaf that already requires grad is a no-op."""
    y = torch.ones(2, device=device, requires_grad=True) * 2
    obs.outcome("requires_grad_", lambda: y.requires_grad_(True))
    obs.facts_of("y", y)


def test_requires_grad_attribute_on_non_leaf(obs, device):
    """Assigning requires_grad = False to a non-leaf raises."""
    y = torch.ones(2, device=device, requires_grad=True) * 2

    def assign():
        y.requires_grad = False

    obs.outcome("assign", assign)


def test_torch_tensor_copy_of_tensor(obs, device):
    """torch.tensor(existing) copies into a new leaf without grad and warns to use clone().detach()."""
    x = torch.ones(2, device=device, requires_grad=True)
    y = obs.outcome("copy", lambda: torch.tensor(x))
    obs.facts_of("y", y)


def test_integer_factory_with_requires_grad(obs, device):
    """An integer factory asked for requires_grad=True raises."""
    obs.outcome("factory", lambda: torch.zeros(2, dtype=torch.int64, device=device, requires_grad=True))


def test_parameter_is_leaf(obs, device):
    """nn.Parameter is a leaf that requires grad by default; requires_grad=False makes a plain leaf."""
    p = nn.Parameter(torch.ones(2, device=device))
    q = nn.Parameter(torch.ones(2, device=device), requires_grad=False)
    obs.facts_of("p", p)
    obs.facts_of("q", q)


def test_detach_of_non_leaf(obs, device):
    """detach() of a non-leaf gives a leaf without grad that shares its version counter."""
    y = torch.ones(2, device=device, requires_grad=True) * 2
    d = y.detach()
    d.add_(1)
    obs.facts_of("d", d, "is_leaf", "requires_grad", "grad_fn", "version")
    obs.facts_of("y", y, "version")


def test_leaf_modified_under_no_grad(obs, device):
    """An in-place change of a leaf that requires grad under no_grad keeps it a leaf and bumps its version."""
    x = torch.ones(2, device=device, requires_grad=True)
    with torch.no_grad():
        x.mul_(2)
    obs.facts_of("x", x, "is_leaf", "requires_grad", "grad_fn", "version")


def test_view_of_leaf(obs, device):
    """A view of a leaf that requires grad is not a leaf; it has ViewBackward0."""
    x = torch.ones(4, device=device, requires_grad=True)
    v = x.view(2, 2)
    obs.facts_of("v", v)


def test_non_leaf_grad_is_none_after_backward(obs, device):
    """After backward, a non-leaf has no .grad (reading it warns) while the leaf has one."""
    x = torch.ones(2, device=device, requires_grad=True)
    y = x * 3
    y.sum().backward()
    obs.outcome("read_grad", lambda: y.grad)
    obs.facts_of("x", x, "grad")


def test_retain_grad_non_leaf(obs, device):
    """retain_grad() on a non-leaf makes backward fill its .grad."""
    x = torch.ones(2, device=device, requires_grad=True)
    y = x * 3
    y.retain_grad()
    y.sum().backward()
    obs.facts_of("y", y, "is_leaf", "retains_grad", "grad")
