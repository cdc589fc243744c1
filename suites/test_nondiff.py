"""Non-differentiable ops: outputs that never require grad, outputs whose backward raises, and zero gradients."""

import pytest
import torch
import torch.nn.functional as F

from autograd_conformance import registry

pytestmark = pytest.mark.modes("eager", "compile")


def _x(device):
    """A float32 leaf that requires grad, with ties, negatives and fractional parts."""
    return torch.tensor([[1.5, -2.25, 3.0], [0.5, 3.0, -0.75]], device=device, requires_grad=True)


def _y(device):
    return torch.tensor([[1.5, 2.0, -3.0], [0.25, 3.0, 1.0]], device=device, requires_grad=True)


# 1. Ops whose result is an integer or bool tensor: it never requires grad, and backward on it raises.
NO_GRAD_OUTPUT = [
    pytest.param(lambda x, y: torch.eq(x, y), id="eq"),
    pytest.param(lambda x, y: torch.ne(x, y), id="ne"),
    pytest.param(lambda x, y: torch.lt(x, y), id="lt"),
    pytest.param(lambda x, y: torch.le(x, y), id="le"),
    pytest.param(lambda x, y: torch.gt(x, y), id="gt"),
    pytest.param(lambda x, y: torch.ge(x, y), id="ge"),
    pytest.param(lambda x, y: x == y, id="eq-operator"),
    pytest.param(lambda x, y: torch.isclose(x, y), id="isclose"),
    pytest.param(lambda x, y: torch.isnan(x), id="isnan"),
    pytest.param(lambda x, y: torch.isfinite(x), id="isfinite"),
    pytest.param(lambda x, y: torch.isinf(x), id="isinf"),
    pytest.param(lambda x, y: torch.isin(x, y), id="isin"),
    pytest.param(lambda x, y: torch.signbit(x), id="signbit"),
    pytest.param(lambda x, y: torch.logical_and(x, y), id="logical_and"),
    pytest.param(lambda x, y: torch.logical_or(x, y), id="logical_or"),
    pytest.param(lambda x, y: torch.logical_xor(x, y), id="logical_xor"),
    pytest.param(lambda x, y: torch.logical_not(x), id="logical_not"),
    pytest.param(lambda x, y: torch.argmax(x), id="argmax"),
    pytest.param(lambda x, y: torch.argmin(x, dim=1), id="argmin-dim"),
    pytest.param(lambda x, y: torch.argsort(x, dim=1), id="argsort"),
    pytest.param(lambda x, y: torch.sort(x, dim=1).indices, id="sort-indices"),
    pytest.param(lambda x, y: torch.topk(x.flatten(), 2).indices, id="topk-indices"),
    pytest.param(lambda x, y: torch.max(x, dim=1).indices, id="max-dim-indices"),
    pytest.param(lambda x, y: torch.nonzero(x), id="nonzero"),
    pytest.param(lambda x, y: torch.count_nonzero(x), id="count_nonzero"),
    pytest.param(lambda x, y: torch.searchsorted(torch.sort(x.flatten()).values, y.flatten()), id="searchsorted"),
    pytest.param(lambda x, y: torch.bucketize(x, torch.tensor([0.0, 1.0, 2.0], device=x.device)), id="bucketize"),
    pytest.param(lambda x, y: torch.bincount(torch.tensor([0, 1, 1, 2], device=x.device)), id="bincount"),
    pytest.param(lambda x, y: F.one_hot(torch.tensor([0, 2, 1], device=x.device), 3), id="one_hot"),
    pytest.param(lambda x, y: torch.multinomial(x.abs().flatten(), 2), id="multinomial"),
    pytest.param(lambda x, y: x.int(), id="cast-int"),
    pytest.param(lambda x, y: x.bool(), id="cast-bool"),
]


@pytest.mark.parametrize("op", NO_GRAD_OUTPUT)
def test_integer_or_bool_result(obs, device, op):
    """The op's integer/bool result does not require grad, has no grad_fn, and backward on it raises."""
    out = op(_x(device), _y(device))
    obs.facts_of("output", out, "dtype", "requires_grad", "is_leaf", "grad_fn")
    obs.outcome("backward", lambda: out.backward(torch.ones_like(out)))


# 2. Ops with a float result whose derivative torch may not implement: the unique family, special functions,
#    histograms. Some outputs require grad and backward raises (NotImplementedError or RuntimeError), some
#    silently do not require grad; the "-implemented" ids are controls that differentiate normally.
FLOAT_RESULT = [
    pytest.param(lambda x, y: torch.unique(x, sorted=True), id="unique-sorted"),
    pytest.param(lambda x, y: torch.unique(x, sorted=False), id="unique-unsorted"),
    pytest.param(lambda x, y: torch.unique(x, return_inverse=True)[0], id="unique-return_inverse"),
    pytest.param(lambda x, y: torch.unique(x, return_counts=True)[0], id="unique-return_counts"),
    pytest.param(lambda x, y: torch.unique(x, dim=0), id="unique-dim"),
    pytest.param(lambda x, y: torch.unique_consecutive(x), id="unique_consecutive"),
    pytest.param(lambda x, y: x.unique(), id="Tensor.unique"),
    pytest.param(lambda x, y: torch.histc(x, bins=4), id="histc"),
    pytest.param(lambda x, y: torch.histogram(x.cpu(), bins=4).hist, id="histogram"),
    pytest.param(lambda x, y: torch.nextafter(x, y), id="nextafter"),
    pytest.param(lambda x, y: torch.special.zeta(x.abs() + 2, y.abs() + 1), id="special.zeta"),
    pytest.param(lambda x, y: torch.igamma(x.abs() + 1, y.abs() + 1), id="igamma"),
    pytest.param(lambda x, y: torch.igammac(x.abs() + 1, y.abs() + 1), id="igammac"),
    pytest.param(lambda x, y: torch.special.bessel_j0(x), id="special.bessel_j0"),
    pytest.param(lambda x, y: torch.special.bessel_y1(x.abs() + 1), id="special.bessel_y1"),
    pytest.param(lambda x, y: torch.special.modified_bessel_i0(x), id="special.modified_bessel_i0"),
    pytest.param(lambda x, y: torch.special.scaled_modified_bessel_k0(x.abs() + 1), id="special.scaled_modified_bessel_k0"),
    pytest.param(lambda x, y: torch.special.airy_ai(x), id="special.airy_ai"),
    pytest.param(lambda x, y: torch.special.spherical_bessel_j0(x), id="special.spherical_bessel_j0"),
    pytest.param(lambda x, y: torch.special.chebyshev_polynomial_t(x, 3), id="special.chebyshev_polynomial_t"),
    pytest.param(lambda x, y: torch.special.hermite_polynomial_h(x, 2), id="special.hermite_polynomial_h"),
    pytest.param(lambda x, y: torch.special.laguerre_polynomial_l(x, 2), id="special.laguerre_polynomial_l"),
    pytest.param(lambda x, y: torch.special.legendre_polynomial_p(x, 2), id="special.legendre_polynomial_p"),
    pytest.param(lambda x, y: torch.polygamma(2, x.abs() + 1), id="polygamma-implemented"),
    pytest.param(lambda x, y: torch.special.i1e(x), id="special.i1e-implemented"),
    pytest.param(lambda x, y: torch.fmod(x, y), id="fmod-both-require-grad"),
    pytest.param(lambda x, y: torch.mode(x, dim=1).values, id="mode-values"),
    pytest.param(lambda x, y: torch.kthvalue(x, 2, dim=1).values, id="kthvalue-values"),
    pytest.param(lambda x, y: torch.linalg.matrix_norm(x, ord="nuc"), id="matrix_norm-nuc"),
    pytest.param(lambda x, y: torch.cummax(x, dim=1).values, id="cummax-values"),
    pytest.param(lambda x, y: torch.take_along_dim(x, torch.argsort(x, dim=1), dim=1), id="take_along_dim"),
]


@pytest.mark.parametrize("op", FLOAT_RESULT)
def test_backward_of_float_result(obs, device, op):
    """The op's float result: does it require grad, which grad_fn, and does backward raise (and with which class)?"""
    x, y = _x(device), _y(device)
    out = obs.outcome("forward", lambda: op(x, y))
    if out is None:
        return
    obs.facts_of("output", out, "dtype", "requires_grad", "is_leaf", "grad_fn")
    if out.requires_grad:
        obs.outcome("backward", lambda: out.sum().backward())
        obs.facts_of("x", x, "grad")


# 3. Ops that are differentiable with a zero gradient almost everywhere, and ops people assume are: the
#    registry's zero-gradient ops, its not-implemented rounding ops, and frac/remainder/fmod.
ZERO_GRAD = registry.params([
    "floor", "ceil", "round", "round-decimals", "trunc", "fix", "sign", "sgn", "div-floor", "div-trunc",
    "floor_divide", "floordiv-operator", "heaviside", "frac", "remainder", "fmod", "mod-operator",
])


@pytest.mark.parametrize("op", ZERO_GRAD)
def test_zero_or_unexpected_gradient(obs, device, op):
    """Whether the op's output requires grad, whether backward succeeds, and the gradient values it leaves in x.grad."""
    x = _x(device)
    out = obs.outcome("forward", lambda: op(x))
    if out is None:
        return
    obs.facts_of("output", out, "requires_grad", "grad_fn")
    if out.requires_grad:
        obs.outcome("backward", lambda: out.sum().backward())
        obs.facts_of("x", x, "grad")


# Secondary outputs of multi-output ops: values carry grad, index tensors never do.
MULTI_OUTPUT = [
    pytest.param(lambda x: torch.unique(x, return_inverse=True, return_counts=True), id="unique-inverse-counts"),
    pytest.param(lambda x: torch.max(x, dim=1), id="max-dim"),
    pytest.param(lambda x: torch.min(x, dim=0), id="min-dim"),
    pytest.param(lambda x: torch.sort(x, dim=1), id="sort"),
    pytest.param(lambda x: torch.topk(x, 2, dim=1), id="topk"),
    pytest.param(lambda x: torch.kthvalue(x, 2, dim=1), id="kthvalue"),
    pytest.param(lambda x: torch.mode(x, dim=1), id="mode"),
    pytest.param(lambda x: torch.median(x, dim=1), id="median-dim"),
    pytest.param(lambda x: torch.cummax(x, dim=1), id="cummax"),
    pytest.param(lambda x: torch.aminmax(x, dim=1), id="aminmax"),
    pytest.param(lambda x: torch.frexp(x), id="frexp"),
]


@pytest.mark.parametrize("op", MULTI_OUTPUT)
def test_secondary_outputs(obs, device, op):
    """For each output of a multi-output op: dtype, requires_grad and grad_fn (indices never require grad)."""
    outs = op(_x(device))
    for i, out in enumerate(outs):
        obs.facts_of(f"out{i}", out, "dtype", "requires_grad", "grad_fn")
