"""requires_grad propagation: which dtypes may require grad, how grad modes and op kinds propagate it."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograd_conformance.dimensions import ALL_DTYPES, GRAD_MODES, dtype_params, grad_mode_left

pytestmark = pytest.mark.modes("eager", "compile")


def _data(dtype, device):
    return torch.ones(2, 3, device=device).to(dtype)


def _attribute(x):
    x.requires_grad = True
    return x


# The five ways to ask for a tensor that requires grad; integer and bool dtypes are refused with different texts.
REQUEST_PATHS = [
    pytest.param(lambda dtype, device: torch.ones(2, 3, dtype=dtype, device=device, requires_grad=True),
                 id="factory"),
    pytest.param(lambda dtype, device: torch.tensor([[1, 0, 1]], dtype=dtype, device=device, requires_grad=True),
                 id="torch.tensor"),
    pytest.param(lambda dtype, device: _data(dtype, device).requires_grad_(), id="requires_grad_"),
    pytest.param(lambda dtype, device: _attribute(_data(dtype, device)), id="attribute"),
    pytest.param(lambda dtype, device: nn.Parameter(_data(dtype, device)), id="nn.Parameter"),
]


@pytest.mark.parametrize("request_grad", REQUEST_PATHS)
@pytest.mark.parametrize("dtype", dtype_params(ALL_DTYPES))
def test_dtype_may_require_grad(obs, device, dtype, request_grad):
    """Floating and complex tensors may require grad; integer and bool tensors are refused (text depends on the path)."""
    x = obs.outcome("request", lambda: request_grad(dtype, device))
    if x is not None:
        obs.facts_of("x", x, "requires_grad", "is_leaf", "dtype")


@pytest.mark.parametrize("grad_mode", GRAD_MODES)
def test_grad_mode_propagation(obs, device, grad_mode):
    """Under each grad mode: whether grad is enabled, and whether an op on a leaf that requires grad records history."""
    x = torch.ones(2, device=device, requires_grad=True)

    def body():
        return torch.is_grad_enabled(), torch.is_inference_mode_enabled(), x * 2, torch.zeros(2, device=device)

    enabled, inference, y, fresh = grad_mode(body)
    obs.fact("mode.grad_enabled", enabled)
    obs.fact("mode.inference_mode", inference)
    obs.facts_of("y", y, "requires_grad", "is_leaf", "grad_fn", "is_inference")
    obs.facts_of("fresh", fresh, "requires_grad", "is_inference")
    obs.fact("after.grad_enabled", grad_mode_left(grad_mode))


def test_grad_mode_is_thread_local(obs):
    """A thread started inside no_grad runs with grad enabled, and disabling grad in it leaves the caller's mode alone."""
    import threading

    seen = {}

    def target():
        seen["start"] = torch.is_grad_enabled()
        torch.set_grad_enabled(False)
        seen["after_disable"] = torch.is_grad_enabled()

    with torch.no_grad():
        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
        obs.fact("caller_in_no_grad.grad_enabled", torch.is_grad_enabled())
    obs.fact("thread_start.grad_enabled", seen["start"])
    obs.fact("thread_after_disable.grad_enabled", seen["after_disable"])
    obs.fact("caller_after.grad_enabled", torch.is_grad_enabled())


# Ops applied to a float32 leaf ``x`` (2x3) that requires grad and a plain tensor ``c`` (2x3).
OPS = [
    pytest.param(lambda x, c: torch.sqrt(x), id="sqrt"),
    pytest.param(lambda x, c: torch.exp(x), id="exp"),
    pytest.param(lambda x, c: torch.sin(x), id="sin"),
    pytest.param(lambda x, c: x + c, id="add-one-requires-grad"),
    pytest.param(lambda x, c: x * x, id="mul-both-require-grad"),
    pytest.param(lambda x, c: c * c, id="mul-neither-requires-grad"),
    pytest.param(lambda x, c: torch.add(c, x, alpha=2), id="add-alpha-other-requires-grad"),
    pytest.param(lambda x, c: x.sum(), id="sum"),
    pytest.param(lambda x, c: x.mean(), id="mean"),
    pytest.param(lambda x, c: x.max(), id="max"),
    pytest.param(lambda x, c: x.max(dim=1).values, id="max-dim-values"),
    pytest.param(lambda x, c: x.view(3, 2), id="view"),
    pytest.param(lambda x, c: x.reshape(6), id="reshape"),
    pytest.param(lambda x, c: x.t(), id="transpose"),
    pytest.param(lambda x, c: x[:, 1:], id="slice"),
    pytest.param(lambda x, c: x[0].expand(4, 3), id="expand"),
    pytest.param(lambda x, c: x[...], id="ellipsis"),
    pytest.param(lambda x, c: x.unsqueeze(0), id="unsqueeze"),
    pytest.param(lambda x, c: x.flatten(), id="flatten"),
    pytest.param(lambda x, c: x.permute(1, 0), id="permute"),
    pytest.param(lambda x, c: x.narrow(1, 0, 2), id="narrow"),
    pytest.param(lambda x, c: torch.stack([x, c]), id="stack-with-plain"),
    pytest.param(lambda x, c: x.unbind(0)[1], id="unbind"),
    pytest.param(lambda x, c: x[[0, 1], [1, 2]], id="advanced-indexing"),
    pytest.param(lambda x, c: x.index_select(1, torch.tensor([0, 2], device=x.device)), id="index_select"),
    pytest.param(lambda x, c: x @ c.t(), id="matmul"),
    pytest.param(lambda x, c: x.to(torch.int64), id="to-int64"),
    pytest.param(lambda x, c: x.long(), id="long"),
    pytest.param(lambda x, c: x.half(), id="half"),
    pytest.param(lambda x, c: x.to(torch.complex64), id="to-complex64"),
    pytest.param(lambda x, c: x.to(torch.complex64).real, id="complex-real"),
    pytest.param(lambda x, c: x.to(torch.complex64).imag, id="complex-imag"),
    pytest.param(lambda x, c: torch.ones_like(x), id="ones_like"),
    pytest.param(lambda x, c: torch.rand_like(x), id="rand_like"),
    pytest.param(lambda x, c: x.new_zeros(2), id="new_zeros"),
    pytest.param(lambda x, c: x.new_tensor([1.0]), id="new_tensor"),
    pytest.param(lambda x, c: x.clone(), id="clone"),
    pytest.param(lambda x, c: x.detach(), id="detach"),
    pytest.param(lambda x, c: c.copy_(x), id="copy_-into-plain-tensor"),
    pytest.param(lambda x, c: torch.where(x > 1, x, c), id="where"),
    pytest.param(lambda x, c: torch.cat([x, c]), id="cat-with-plain"),
    pytest.param(lambda x, c: F.relu(x), id="F.relu"),
    pytest.param(lambda x, c: F.softmax(x, dim=1), id="F.softmax"),
    pytest.param(lambda x, c: F.mse_loss(x, c), id="F.mse_loss"),
    pytest.param(lambda x, c: F.cross_entropy(x, torch.tensor([0, 2], device=x.device)), id="F.cross_entropy"),
    pytest.param(lambda x, c: F.linear(c, x), id="F.linear-weight-requires-grad"),
]


@pytest.mark.parametrize("op", OPS)
def test_op_propagates_requires_grad(obs, device, op):
    """Whether the op's output requires grad, is a leaf, its grad_fn and dtype, and whether backward reaches x."""
    x = torch.full((2, 3), 2.0, device=device, requires_grad=True)
    c = torch.full((2, 3), 3.0, device=device)
    y = op(x, c)
    obs.facts_of("y", y, "requires_grad", "is_leaf", "grad_fn", "dtype")
    if y.requires_grad:
        target = y.real if y.is_complex() else y
        obs.outcome("backward", lambda: target.float().sum().backward())
        obs.facts_of("x", x, "grad")


def test_out_argument_with_input_requiring_grad(obs, device):
    """An op with out= whose input requires grad raises (out= functions don't support automatic differentiation)."""
    x = torch.ones(2, device=device, requires_grad=True)
    out = torch.empty(2, device=device)
    obs.outcome("mul_out", lambda: torch.mul(x, 2, out=out))
    obs.facts_of("out", out, "requires_grad", "grad_fn")


def test_out_argument_under_no_grad(obs, device):
    """Under no_grad, out= with an input that requires grad is allowed and the out tensor does not require grad."""
    x = torch.ones(2, device=device, requires_grad=True)
    out = torch.empty(2, device=device)
    with torch.no_grad():
        obs.outcome("mul_out", lambda: torch.mul(x, 2, out=out))
    obs.facts_of("out", out, "requires_grad", "grad_fn", "values")


def test_linear_module_parameters(obs, device):
    """nn.Linear's weight and bias are leaf Parameters that require grad; its output has AddmmBackward0 and backward fills both."""
    torch.manual_seed(0)
    layer = nn.Linear(3, 2).to(device)
    y = layer(torch.ones(4, 3, device=device))
    obs.facts_of("weight", layer.weight, "requires_grad", "is_leaf", "grad_fn")
    obs.facts_of("bias", layer.bias, "requires_grad", "is_leaf", "grad_fn")
    obs.facts_of("y", y, "requires_grad", "is_leaf", "grad_fn")
    y.sum().backward()
    obs.facts_of("bias", layer.bias, "grad")
    obs.fact("weight_grad_shape.value", list(layer.weight.grad.shape))


def test_linear_frozen_weight(obs, device):
    """Freezing nn.Linear's weight with requires_grad_(False) leaves the output requiring grad through the bias only."""
    layer = nn.Linear(3, 2).to(device)
    layer.weight.requires_grad_(False)
    y = layer(torch.ones(1, 3, device=device))
    y.sum().backward()
    obs.facts_of("y", y, "requires_grad", "grad_fn")
    obs.facts_of("weight", layer.weight, "grad")
    obs.facts_of("bias", layer.bias, "grad")
