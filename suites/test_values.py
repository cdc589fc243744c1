"""Gradient values (float64) at ordinary points and where a convention decides the answer: kinks, ties, NaN, 0;
and forward and gradient values in bfloat16 and float16, where a fused or reordered computation rounds otherwise."""

import math

import pytest
import torch
import torch.nn.functional as F

INF, NAN = math.inf, math.nan

pytestmark = pytest.mark.modes("eager", "compile")


def t(values, device, requires_grad=True):
    return torch.tensor(values, dtype=torch.float64, device=device, requires_grad=requires_grad)


# (op of one input, input values): the docstring of the probe says which convention each point pins.
UNARY = [
    pytest.param(torch.abs, [-2.0, -0.0, 0.0, 2.0], id="abs-at-zero"),
    pytest.param(torch.relu, [-1.0, 0.0, 1.0], id="relu-at-zero"),
    pytest.param(lambda x: F.leaky_relu(x, 0.1), [-1.0, 0.0, 1.0], id="leaky_relu-at-zero"),
    pytest.param(F.hardtanh, [-2.0, -1.0, 0.0, 1.0, 2.0], id="hardtanh-at-bounds"),
    pytest.param(F.relu6, [-1.0, 0.0, 3.0, 6.0, 7.0], id="relu6-at-bounds"),
    pytest.param(lambda x: torch.clamp(x, -1.0, 1.0), [-2.0, -1.0, 0.0, 1.0, 2.0], id="clamp-scalar-bounds"),
    pytest.param(lambda x: torch.clamp_min(x, 0.0), [-1.0, 0.0, 1.0], id="clamp_min-at-bound"),
    pytest.param(lambda x: torch.clamp_max(x, 0.0), [-1.0, 0.0, 1.0], id="clamp_max-at-bound"),
    pytest.param(lambda x: torch.clip(x, -1.0, 1.0), [-2.0, -1.0, 1.0, 2.0], id="clip-at-bounds"),
    pytest.param(lambda x: torch.clamp(x, 1.0, -1.0), [-2.0, 0.0, 2.0], id="clamp-min-above-max"),
    pytest.param(lambda x: x.max(), [1.0, 3.0, 3.0], id="max-full-ties"),
    pytest.param(lambda x: x.min(), [1.0, 1.0, 3.0], id="min-full-ties"),
    pytest.param(lambda x: x.reshape(2, 2).max(dim=1).values, [1.0, 1.0, 2.0, 0.0], id="max-dim-ties"),
    pytest.param(lambda x: x.reshape(2, 2).min(dim=1).values, [1.0, 1.0, 0.0, 2.0], id="min-dim-ties"),
    pytest.param(lambda x: x.amax(), [1.0, 3.0, 3.0], id="amax-ties"),
    pytest.param(lambda x: x.amin(), [1.0, 1.0, 3.0], id="amin-ties"),
    pytest.param(lambda x: x.reshape(2, 2).amax(dim=1), [1.0, 1.0, 2.0, 0.0], id="amax-dim-ties"),
    pytest.param(lambda x: x.median(), [1.0, 2.0, 2.0, 3.0], id="median-ties"),
    pytest.param(lambda x: x.reshape(2, 3).median(dim=1).values, [1.0, 2.0, 2.0, 5.0, 5.0, 4.0], id="median-dim-ties"),
    pytest.param(lambda x: x.nanmedian(), [1.0, NAN, 2.0], id="nanmedian-with-nan"),
    pytest.param(lambda x: x.max(), [1.0, NAN, 2.0], id="max-with-nan"),
    pytest.param(lambda x: x.sort().values * torch.arange(1.0, 4.0, dtype=torch.float64, device=x.device),
                 [2.0, 1.0, 2.0], id="sort-ties"),
    pytest.param(lambda x: x.topk(2).values, [3.0, 3.0, 3.0], id="topk-ties"),
    pytest.param(lambda x: x.kthvalue(2).values, [2.0, 2.0, 1.0], id="kthvalue-ties"),
    pytest.param(lambda x: x.cummax(0).values, [1.0, 1.0, 0.0, 2.0], id="cummax-ties"),
    pytest.param(lambda x: x.norm(), [0.0, 0.0], id="norm-at-zero"),
    pytest.param(lambda x: x.norm(p=1), [0.0, 1.0], id="norm-p1-at-zero"),
    pytest.param(lambda x: x.norm(p=INF), [1.0, -1.0], id="norm-inf-ties"),
    pytest.param(torch.sqrt, [0.0, 4.0], id="sqrt-at-zero"),
    pytest.param(lambda x: x.pow(2), [0.0, -1.0], id="pow-2-at-zero"),
    pytest.param(lambda x: x.pow(0.5), [0.0, 4.0], id="pow-half-at-zero"),
    pytest.param(lambda x: x.pow(0), [0.0, 2.0], id="pow-0-at-zero"),
    pytest.param(lambda x: x.pow(-1), [0.0, 2.0], id="pow-minus-1-at-zero"),
    pytest.param(torch.log, [0.0, 1.0], id="log-at-zero"),
    pytest.param(lambda x: torch.where(x > 0, x.sqrt(), torch.zeros_like(x)), [-1.0, 4.0], id="where-sqrt-nan-branch"),
    pytest.param(lambda x: torch.where(x > 0, x.log(), torch.zeros_like(x)), [0.0, 1.0], id="where-log-inf-branch"),
    pytest.param(lambda x: torch.where(x > 0, x, x.new_tensor(NAN)), [-1.0, 2.0], id="where-constant-nan-branch"),
    pytest.param(lambda x: torch.xlogy(x, x), [0.0, 1.0], id="xlogy-self-at-zero"),
    pytest.param(lambda x: torch.special.xlog1py(x, x), [0.0, 1.0], id="xlog1py-at-zero"),
    pytest.param(lambda x: torch.remainder(x, 2.0), [-3.0, 2.0, 3.0], id="remainder-at-multiples"),
    pytest.param(lambda x: torch.fmod(x, 2.0), [-3.0, 2.0, 3.0], id="fmod-at-multiples"),
    pytest.param(lambda x: F.dropout(x, 0.5, training=False), [1.0, 2.0], id="dropout-eval"),
    pytest.param(lambda x: F.softmax(x, dim=0), [-INF, 0.0, 1.0], id="softmax-with-minus-inf"),
    pytest.param(lambda x: F.log_softmax(x, dim=0), [-INF, 0.0, 1.0], id="log_softmax-with-minus-inf"),
    pytest.param(lambda x: F.softmax(x, dim=0), [-INF, -INF], id="softmax-all-minus-inf"),
    pytest.param(lambda x: torch.logsumexp(x, dim=0), [-INF, -INF], id="logsumexp-all-minus-inf"),
    pytest.param(lambda x: x.prod(), [2.0, 0.0, 3.0], id="prod-one-zero"),
    pytest.param(lambda x: x.prod(), [0.0, 0.0, 3.0], id="prod-two-zeros"),
    pytest.param(lambda x: x.cumprod(0), [2.0, 0.0, 3.0], id="cumprod-with-zero"),
    pytest.param(lambda x: x.std(), [2.0, 2.0, 2.0], id="std-of-constant"),
    pytest.param(lambda x: x.var(), [2.0], id="var-of-one-element"),
    pytest.param(lambda x: x / 0.0, [1.0, 0.0], id="div-by-zero"),
    pytest.param(torch.sigmoid, [0.0, 40.0], id="sigmoid-saturated"),
    pytest.param(torch.tanh, [0.0, 30.0], id="tanh-saturated"),
    pytest.param(torch.sign, [-1.0, 0.0, 1.0], id="sign-at-zero"),
    pytest.param(F.elu, [-1.0, 0.0, 1.0], id="elu-at-zero"),
    pytest.param(F.gelu, [-1.0, 0.0, 1.0], id="gelu"),
    pytest.param(lambda x: F.gelu(x, approximate="tanh"), [-1.0, 0.0, 1.0], id="gelu-tanh"),
    pytest.param(F.silu, [-1.0, 0.0, 1.0], id="silu"),
    pytest.param(F.softplus, [-30.0, 0.0, 30.0], id="softplus-threshold"),
    pytest.param(lambda x: torch.atan2(x, torch.zeros_like(x)), [0.0, 1.0], id="atan2-zero-over-zero"),
    pytest.param(lambda x: x.mean(), [], id="mean-of-empty"),
    pytest.param(lambda x: torch.exp(x), [0.0, 1.0], id="exp-ordinary"),
    pytest.param(lambda x: torch.sin(x), [0.0, 1.0], id="sin-ordinary"),
]


@pytest.mark.parametrize("op, values", UNARY)
def test_gradient_of_one_input(obs, device, op, values):
    """The forward value and x.grad (float64) at the op's convention points: kinks, ties, zeros, infinities and NaN."""
    x = t(values, device)
    out = op(x)
    obs.tensor("out", out)
    obs.outcome("backward", lambda: out.sum().backward())
    obs.facts_of("x", x, "grad")


# (op of two inputs, x values, y values)
BINARY = [
    pytest.param(torch.maximum, [1.0, 2.0, 3.0], [1.0, 1.0, 4.0], id="maximum-ties"),
    pytest.param(torch.minimum, [1.0, 2.0, 3.0], [1.0, 1.0, 4.0], id="minimum-ties"),
    pytest.param(torch.maximum, [NAN, 1.0], [1.0, NAN], id="maximum-nan"),
    pytest.param(torch.minimum, [NAN, 1.0], [1.0, NAN], id="minimum-nan"),
    pytest.param(torch.fmax, [1.0, 2.0, NAN], [1.0, NAN, 0.0], id="fmax-ties-and-nan"),
    pytest.param(torch.fmin, [1.0, 2.0, NAN], [1.0, NAN, 0.0], id="fmin-ties-and-nan"),
    pytest.param(lambda x, lo: torch.clamp(x, min=lo), [0.0, 1.0, 2.0], [1.0, 1.0, 1.0], id="clamp-tensor-min-ties"),
    pytest.param(lambda x, hi: torch.clamp(x, max=hi), [0.0, 1.0, 2.0], [1.0, 1.0, 1.0], id="clamp-tensor-max-ties"),
    pytest.param(torch.atan2, [0.0, 1.0], [0.0, 1.0], id="atan2-at-origin"),
    pytest.param(torch.xlogy, [0.0, 0.0, 1.0], [0.0, 1.0, 2.0], id="xlogy-x-zero"),
    pytest.param(torch.hypot, [0.0, 3.0], [0.0, 4.0], id="hypot-at-origin"),
    pytest.param(torch.pow, [0.0, 0.0, 2.0], [0.0, 2.0, 0.5], id="pow-zero-base"),
    pytest.param(torch.remainder, [5.0, -5.0], [3.0, 3.0], id="remainder-wrt-divisor"),
    pytest.param(torch.fmod, [5.0, -5.0], [3.0, 3.0], id="fmod-wrt-divisor"),
    pytest.param(lambda x, y: torch.div(x, y, rounding_mode="floor"), [5.0, -5.0], [3.0, 3.0], id="div-floor-wrt-both"),
    pytest.param(lambda x, y: F.mse_loss(x, y), [1.0, 2.0], [1.0, 4.0], id="mse_loss"),
    pytest.param(lambda x, y: F.l1_loss(x, y), [1.0, 2.0], [1.0, 4.0], id="l1_loss-at-equality"),
    pytest.param(lambda x, y: F.smooth_l1_loss(x, y, beta=1.0), [0.0, 0.0, 0.0], [0.5, 1.0, 2.0],
                 id="smooth_l1_loss-at-beta"),
    pytest.param(lambda x, y: F.huber_loss(x, y, delta=1.0), [0.0, 0.0], [1.0, 2.0], id="huber_loss-at-delta"),
    pytest.param(lambda x, y: torch.where(x > y, x, y), [1.0, 2.0], [1.0, 1.0], id="where-ties-go-to-other"),
]


@pytest.mark.parametrize("op, xs, ys", BINARY)
def test_gradient_of_two_inputs(obs, device, op, xs, ys):
    """The forward value and both inputs' gradients at ties, NaN and the origin, where conventions split them."""
    x, y = t(xs, device), t(ys, device)
    out = op(x, y)
    obs.tensor("out", out)
    obs.outcome("backward", lambda: out.sum().backward())
    obs.facts_of("x", x, "grad")
    obs.facts_of("y", y, "grad")


def test_reference_mse_gradient(obs, device):
    """The reference scenario's MSELoss gradient in float64: d/dout mean((sqrt(x) - target)^2) broadcast over rows."""
    x = torch.tensor([[4.0] * 4, [9.0] * 4], dtype=torch.float64, device=device)
    out = torch.sqrt(x).requires_grad_()
    target = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64, device=device)
    torch.nn.MSELoss()(out, target.expand(2, 4)).backward()
    obs.facts_of("out", out, "grad")


def test_cross_entropy_with_label_smoothing(obs, device):
    """cross_entropy gradient with label_smoothing=0.1 (the smoothing convention spreads mass to all classes)."""
    logits = t([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]], device)
    F.cross_entropy(logits, torch.tensor([2, 0], device=device), label_smoothing=0.1).backward()
    obs.facts_of("logits", logits, "grad")


# (op of one input in a low-precision dtype): reductions, normalizations and fused activations, where the order
# and width of intermediate arithmetic decide the last bits of a bfloat16 or float16 result.
LOW_PRECISION_OPS = [
    pytest.param(lambda x: x.sum(dim=1), id="sum"),
    pytest.param(lambda x: x.mean(dim=1), id="mean"),
    pytest.param(lambda x: x.var(dim=1), id="var"),
    pytest.param(lambda x: x.cumsum(dim=1), id="cumsum"),
    pytest.param(lambda x: F.softmax(x, dim=1), id="softmax"),
    pytest.param(lambda x: F.log_softmax(x, dim=1), id="log_softmax"),
    pytest.param(lambda x: F.layer_norm(x, x.shape[1:]), id="layer_norm"),
    pytest.param(lambda x: x @ x.t(), id="matmul"),
    pytest.param(F.gelu, id="gelu"),
    pytest.param(F.silu, id="silu"),
    pytest.param(torch.exp, id="exp"),
    pytest.param(torch.sigmoid, id="sigmoid"),
    pytest.param(lambda x: torch.tanh(x) * x.sin(), id="tanh-times-sin"),
    pytest.param(lambda x: F.mse_loss(x, x.flip(1).detach()), id="mse_loss"),
]


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bfloat16", "float16"])
@pytest.mark.parametrize("op", LOW_PRECISION_OPS)
def test_low_precision_values(obs, device, op, dtype):
    """The forward value and x.grad of a reduction, normalization or activation computed in bfloat16 or float16."""
    x = torch.linspace(-3.0, 3.0, 48, dtype=torch.float64, device=device).reshape(3, 16).sin().mul(2.5)
    x = x.to(dtype).requires_grad_()
    try:
        out = op(x)
    except RuntimeError as exc:  # a kernel this release has no low-precision CPU version of
        obs.fact("forward.raises", type(exc).__name__)
        obs.fact("forward.message", str(exc))
        return
    obs.tensor("out", out)
    obs.outcome("backward", lambda: out.backward(torch.linspace(0.5, 1.5, out.numel(), dtype=torch.float64,
                                                                device=device).reshape(out.shape).to(dtype)))
    obs.facts_of("x", x, "grad")


# (expression, input values): compositions whose gradient at a point follows from the parts' conventions.
COMPOSITE = [
    pytest.param(lambda x: (x > 0).float() * x, [-1.0, 0.0, 2.0], id="bool-mask-cast-back-times-x"),
    pytest.param(lambda x: (x > 0).to(x.dtype), [-1.0, 2.0], id="bool-result-cast-back"),
    pytest.param(lambda x: x.clamp(min=0).sqrt(), [-1.0, 0.0, 4.0], id="clamp-min-0-then-sqrt"),
    pytest.param(lambda x: x * torch.log(x), [0.0, 1.0], id="x-times-log-x-at-zero"),
    pytest.param(lambda x: torch.sign(x) * x, [-2.0, 0.0, 2.0], id="sign-times-x"),
    pytest.param(lambda x: torch.trace(x.reshape(2, 3)), [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], id="trace-non-square"),
    pytest.param(lambda x: (x * 1).asinh_(), [0.0, 1.0], id="asinh_-in-place"),
    pytest.param(lambda x: (x * 1).acosh_(), [1.0, 2.0], id="acosh_-in-place-at-one"),
    pytest.param(lambda x: (x * 1).atanh_(), [0.0, 0.5], id="atanh_-in-place"),
    pytest.param(lambda x: torch.where(x != 0, 1 / x, x), [0.0, 2.0], id="where-reciprocal-at-zero"),
    pytest.param(lambda x: x.abs().pow(1.5), [0.0, -1.0], id="abs-pow-1.5-at-zero"),
]


@pytest.mark.modes("eager")
@pytest.mark.parametrize("op, values", COMPOSITE)
def test_gradient_of_a_composite_expression(obs, device, op, values):
    """The forward value and x.grad of a composition at the point where one part's convention decides it."""
    x = t(values, device)
    out = obs.outcome("forward", lambda: op(x))
    obs.tensor("out", out)
    if out is not None:
        obs.outcome("backward", lambda: out.sum().backward())
    obs.facts_of("x", x, "grad")
