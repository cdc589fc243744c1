"""Autocast (bfloat16) and autograd: per-op output and gradient dtypes under torch's cast policy, float32 parameters'
gradients, custom_fwd/custom_bwd, checkpoint, nesting, state queries, the cast cache and backward inside autocast."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from autograd_conformance.observe import require

BF16 = torch.bfloat16


def _autocast(device, **kwargs):
    return torch.autocast(device_type=device, dtype=kwargs.pop("dtype", BF16), **kwargs)


def _leaf(device, dtype, *shape, lo=-1.0, hi=1.0):
    """A leaf of ``shape`` holding evenly spaced values from lo to hi, made in float32 and then cast to ``dtype``."""
    values = torch.linspace(lo, hi, math.prod(shape), device=device).reshape(shape)
    return values.to(dtype).requires_grad_()


def _autocast_enabled(device):
    """Whether autocast is on for ``device``, through the device-argument API where this torch has it."""
    try:
        return bool(torch.is_autocast_enabled(device))
    except TypeError:  # torch < 2.4: no device argument
        return bool(torch.is_autocast_cpu_enabled() if device == "cpu" else torch.is_autocast_enabled())


def _scalar(out):
    """A real scalar to call backward on: complex outputs are summed through their real view."""
    return torch.view_as_real(out).sum() if out.is_complex() else out.sum()


def _long(t, values):
    return torch.tensor(values, device=t.device)


# (build the inputs on (device, dtype), the call): every input the builder returns is a leaf of that dtype,
# except where the id says "with-float32": there the first input is a float32 leaf and the second takes the dtype.
def _two(shape_a, shape_b):
    return lambda d, t: [_leaf(d, t, *shape_a), _leaf(d, t, *shape_b, lo=-0.5, hi=1.5)]


def _three(shape_a, shape_b, shape_c):
    return lambda d, t: [_leaf(d, t, *shape_a), _leaf(d, t, *shape_b, lo=-0.5, hi=1.5),
                         _leaf(d, t, *shape_c, lo=0.25, hi=2.0)]


def _one(*shape, lo=-1.0, hi=1.0):
    return lambda d, t: [_leaf(d, t, *shape, lo=lo, hi=hi)]


def _mixed(*shape):
    return lambda d, t: [_leaf(d, torch.float32, *shape), _leaf(d, t, *shape, lo=-0.5, hi=1.5)]


OPS = [
    # lower_precision_fp on CPU
    pytest.param(_two((2, 3), (3, 2)), torch.mm, id="mm"),
    pytest.param(_two((2, 3), (3, 2)), torch.matmul, id="matmul"),
    pytest.param(_two((2, 2, 3), (2, 3, 2)), torch.bmm, id="bmm"),
    pytest.param(_three((2, 2), (2, 3), (3, 2)), torch.addmm, id="addmm"),
    pytest.param(_three((2, 2, 2), (2, 2, 3), (2, 3, 2)), torch.baddbmm, id="baddbmm"),
    pytest.param(_three((2, 2), (2, 2, 3), (2, 3, 2)), torch.addbmm, id="addbmm"),
    pytest.param(_three((2, 3), (4, 3), (4,)), F.linear, id="linear"),
    pytest.param(_two((1, 2, 5), (3, 2, 3)), F.conv1d, id="conv1d"),
    pytest.param(_two((1, 2, 4, 4), (3, 2, 3, 3)), F.conv2d, id="conv2d"),
    pytest.param(_two((1, 2, 3, 3), (2, 3, 2, 2)), F.conv_transpose2d, id="conv_transpose2d"),
    pytest.param(_two((4,), (1,)), F.prelu, id="prelu"),
    pytest.param(_three((1, 2, 3), (1, 2, 3), (1, 2, 3)), F.scaled_dot_product_attention,
                 id="scaled_dot_product_attention"),
    # fp32 on CPU
    pytest.param(_two((2, 3), (2, 3)), F.mse_loss, id="mse_loss"),
    pytest.param(_two((2, 3), (2, 3)), F.l1_loss, id="l1_loss"),
    pytest.param(_two((2, 3), (2, 3)), F.smooth_l1_loss, id="smooth_l1_loss"),
    pytest.param(_one(2, 3), lambda x: F.nll_loss(x, _long(x, [0, 2])), id="nll_loss"),
    pytest.param(_one(2, 3), lambda x: F.cross_entropy(x, _long(x, [0, 2])), id="cross_entropy"),
    pytest.param(_one(2, 3), lambda x: F.binary_cross_entropy_with_logits(x, torch.full_like(x, 0.25)),
                 id="binary_cross_entropy_with_logits"),
    pytest.param(_one(2, 3, lo=0.125, hi=0.875), lambda x: F.binary_cross_entropy(x, torch.full_like(x, 0.5)),
                 id="binary_cross_entropy"),
    pytest.param(_one(2, 3), lambda x: F.kl_div(x, torch.full_like(x, 0.25), reduction="batchmean"), id="kl_div"),
    pytest.param(_two((2, 3), (3, 3)), torch.cdist, id="cdist"),
    pytest.param(_one(2, 3, lo=0.5, hi=1.75), torch.prod, id="prod"),
    pytest.param(_one(2, 2, lo=1.0, hi=4.0), torch.linalg.inv, id="linalg.inv"),
    pytest.param(_one(4), torch.fft.rfft, id="fft.rfft"),
    pytest.param(_one(1, 1, 4), lambda x: F.pad(x, (1, 1), mode="reflect"), id="reflection_pad1d"),
    # promote on CPU
    pytest.param(_mixed(3), lambda a, b: torch.cat([a, b]), id="cat-with-float32"),
    pytest.param(_mixed(3), lambda a, b: torch.stack([a, b]), id="stack-with-float32"),
    pytest.param(_mixed(2, 3), lambda a, b: a.index_copy(0, _long(a, [1, 0]), b), id="index_copy-into-float32"),
    # not listed for CPU: they run in their inputs' dtype
    pytest.param(_one(2, 3), torch.relu, id="relu"),
    pytest.param(_one(2, 3), torch.sum, id="sum"),
    pytest.param(_one(2, 3), lambda x: torch.softmax(x, -1), id="softmax"),
    pytest.param(_one(2, 3), lambda x: F.layer_norm(x, (3,)), id="layer_norm"),
    pytest.param(_mixed(3), torch.add, id="add-with-float32"),
    pytest.param(_mixed(3), lambda a, b: torch.addcmul(a, b, b), id="addcmul-with-float32"),
]

LEAF_DTYPES = [pytest.param(torch.float32, id="float32"), pytest.param(BF16, id="bfloat16")]


@pytest.mark.parametrize("dtype", LEAF_DTYPES)
@pytest.mark.parametrize("make, op", OPS)
def test_op_dtype_under_autocast(obs, device, make, op, dtype):
    """Under autocast an op's output dtype follows torch's cast policy; each leaf's .grad has the leaf's dtype."""
    inputs = make(device, dtype)
    with _autocast(device):
        out = obs.outcome("forward", lambda: op(*inputs))
    if out is None:
        return
    obs.facts_of("out", out, "dtype")
    obs.outcome("backward", lambda: _scalar(out).backward())
    obs.fact("grads.value", [str(t.grad.dtype) if t.grad is not None else "None" for t in inputs])


def _linear():
    m = torch.nn.Linear(3, 2)
    return m, (2, 3)


def _conv2d():
    m = torch.nn.Conv2d(2, 3, 2)
    return m, (1, 2, 3, 3)


@pytest.mark.parametrize("make", [pytest.param(_linear, id="Linear"), pytest.param(_conv2d, id="Conv2d")])
def test_module_parameters_under_autocast(obs, device, make):
    """A float32 module under autocast gives a bfloat16 output; backward outside gives float32 .grad everywhere."""
    module, shape = make()
    module.to(device)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.linspace(-0.5, 0.5, p.numel(), device=device).reshape(p.shape))
    x = _leaf(device, torch.float32, *shape)
    with _autocast(device):
        out = module(x)
    obs.facts_of("out", out, "dtype", "grad_fn")
    out.float().sum().backward()
    obs.facts_of("weight", module.weight, "dtype")
    obs.fact("weight_grad.dtype", str(module.weight.grad.dtype))
    obs.fact("bias_grad.dtype", str(module.bias.grad.dtype))
    obs.fact("x_grad.dtype", str(x.grad.dtype))


CUSTOM_FWD = [
    pytest.param(torch.float32, torch.float32, True, id="cast_inputs-float32"),
    pytest.param(torch.float32, BF16, True, id="cast_inputs-float32-bfloat16-input"),
    pytest.param(torch.float32, BF16, False, id="cast_inputs-float32-outside-autocast"),
    pytest.param(None, torch.float32, True, id="no-cast_inputs"),
]


@pytest.mark.parametrize("cast_inputs, x_dtype, in_autocast", CUSTOM_FWD)
def test_custom_fwd_and_bwd(obs, device, cast_inputs, x_dtype, in_autocast):
    """custom_fwd(cast_inputs) casts inputs and turns autocast off in forward, only under autocast; custom_bwd too."""
    custom_fwd = require("torch.amp.custom_fwd")
    custom_bwd = require("torch.amp.custom_bwd")
    seen = {}

    class MatMul(torch.autograd.Function):
        @staticmethod
        @custom_fwd(device_type=device, cast_inputs=cast_inputs)
        def forward(ctx, x, w):
            seen["forward_inputs"] = [str(x.dtype), str(w.dtype)]
            seen["forward_autocast"] = _autocast_enabled(device)
            ctx.save_for_backward(x, w)
            return torch.mm(x, w)

        @staticmethod
        @custom_bwd(device_type=device)
        def backward(ctx, grad):
            x, w = ctx.saved_tensors
            seen["backward_grad"] = str(grad.dtype)
            seen["backward_autocast"] = _autocast_enabled(device)
            gx, gw = torch.mm(grad, w.t()), torch.mm(x.t(), grad)
            seen["backward_returns"] = [str(gx.dtype), str(gw.dtype)]
            return gx, gw

    x = _leaf(device, x_dtype, 2, 3)
    w = _leaf(device, torch.float32, 3, 2, lo=-0.5, hi=1.5)
    with _autocast(device, enabled=in_autocast):
        out = obs.outcome("forward", lambda: MatMul.apply(x, w))
    obs.fact("forward_inputs.value", seen["forward_inputs"])
    obs.fact("forward_autocast.value", seen["forward_autocast"])
    if out is None:
        return
    obs.facts_of("out", out, "dtype", "grad_fn")
    obs.outcome("backward", lambda: out.sum().backward())
    if "backward_grad" in seen:
        obs.fact("backward_grad.dtype", seen["backward_grad"])
        obs.fact("backward_autocast.value", seen["backward_autocast"])
        obs.fact("backward_returns.value", seen["backward_returns"])
    obs.fact("grads.value", [str(t.grad.dtype) if t.grad is not None else "None" for t in (x, w)])


def _checkpointed_block(device, calls):
    def block(x, w):
        calls.append(_autocast_enabled(device))
        return F.mse_loss(torch.mm(x, w), torch.ones(2, 2, device=device), reduction="none") * 2
    return block


@pytest.mark.parametrize("use_reentrant", [pytest.param(False, id="use_reentrant-False"),
                                           pytest.param(True, id="use_reentrant-True")])
def test_checkpoint_under_autocast(obs, device, use_reentrant):
    """checkpoint inside autocast recomputes under the forward's autocast state: same dtypes and same gradients."""
    calls = []
    x = _leaf(device, torch.float32, 2, 3)
    w = _leaf(device, torch.float32, 3, 2, lo=-0.5, hi=1.5)
    with _autocast(device):
        out = checkpoint(_checkpointed_block(device, calls), x, w, use_reentrant=use_reentrant)
    obs.facts_of("out", out, "dtype")
    obs.outcome("backward", lambda: out.sum().backward())
    obs.fact("block_autocast.calls", calls)
    if x.grad is None:
        return
    obs.fact("x_grad.dtype", str(x.grad.dtype))

    plain_x = _leaf(device, torch.float32, 2, 3)
    plain_w = _leaf(device, torch.float32, 3, 2, lo=-0.5, hi=1.5)
    with _autocast(device):
        plain = _checkpointed_block(device, [])(plain_x, plain_w)
    plain.sum().backward()
    obs.fact("grad_matches_plain.same", torch.equal(x.grad, plain_x.grad) and torch.equal(w.grad, plain_w.grad))


def test_autocast_disabled_inside_enabled(obs, device):
    """autocast(enabled=False) inside autocast runs mm in float32 and refuses a bfloat16/float32 mix; outer resumes."""
    a = _leaf(device, torch.float32, 2, 3)
    b = _leaf(device, torch.float32, 3, 2, lo=-0.5, hi=1.5)
    with _autocast(device):
        outer = torch.mm(a, b)
        with _autocast(device, enabled=False):
            obs.fact("inner_autocast.value", _autocast_enabled(device))
            inner = torch.mm(a, b)
            obs.outcome("inner_mixed_mm", lambda: torch.mm(outer, outer.float()))
        obs.fact("after_inner_autocast.value", _autocast_enabled(device))
        after = torch.mm(a, b)
    obs.facts_of("outer", outer, "dtype")
    obs.facts_of("inner", inner, "dtype", "grad_fn")
    obs.facts_of("after", after, "dtype")
    obs.fact("outside_autocast.value", _autocast_enabled(device))


STATE_QUERIES = [
    pytest.param(None, lambda: torch.is_autocast_cpu_enabled(), id="is_autocast_cpu_enabled"),
    pytest.param(None, lambda: torch.is_autocast_enabled("cpu"), id="is_autocast_enabled-cpu"),
    pytest.param(None, lambda: str(torch.get_autocast_cpu_dtype()), id="get_autocast_cpu_dtype"),
    pytest.param("torch.get_autocast_dtype", lambda: str(torch.get_autocast_dtype("cpu")),
                 id="get_autocast_dtype-cpu"),
]


@pytest.mark.parametrize("api, query", STATE_QUERIES)
def test_autocast_state_queries(obs, api, query):
    """The CPU autocast state queries outside, inside bfloat16 autocast and inside a nested disabled one."""
    if api is not None:
        require(api)

    def record(name):
        value = obs.outcome(name, query)
        if obs.facts[f"{name}.raises"] is None:
            obs.fact(f"{name}.value", value)

    record("outside")
    with _autocast("cpu"):
        record("inside")
        with _autocast("cpu", enabled=False):
            record("nested_disabled")


@pytest.mark.parametrize("dtype", [pytest.param(BF16, id="bfloat16"), pytest.param(torch.float16, id="float16"),
                                   pytest.param(torch.float64, id="float64")])
def test_autocast_target_dtype(obs, device, dtype):
    """autocast with a target dtype other than bfloat16: float16 is used or refused by release, float64 disables it."""
    a = _leaf(device, torch.float32, 2, 3)
    b = _leaf(device, torch.float32, 3, 2, lo=-0.5, hi=1.5)

    def run():
        with _autocast(device, dtype=dtype):
            return _autocast_enabled(device), str(torch.mm(a, b).dtype)

    result = obs.outcome("autocast", run)
    if result is not None:
        obs.fact("enabled.value", result[0])
        obs.fact("mm_out.dtype", result[1])


@pytest.mark.parametrize("cache_enabled", [pytest.param(True, id="cache-enabled"),
                                           pytest.param(False, id="cache-disabled")])
def test_autocast_cast_cache(obs, device, cache_enabled):
    """A Parameter used twice under autocast is cast once with the cache on; both uses reach one float32 .grad."""
    w = torch.nn.Parameter(torch.tensor([[1.0, 2.0], [3.0, 4.0]], device=device))
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0]], device=device)
    with _autocast(device, cache_enabled=cache_enabled):
        first = torch.mm(x, w)
        second = torch.mm(x, w)
    obs.facts_of("first", first, "dtype")
    cast_first, cast_second = first.grad_fn.next_functions[1][0], second.grad_fn.next_functions[1][0]
    obs.fact("cast_node.name", type(cast_first).__name__)
    obs.fact("cast_node_shared.same", cast_first is cast_second)
    (first + second).sum().backward()
    obs.facts_of("w", w, "grad")


def _forward_in_autocast(x, w, device):
    with _autocast(device):
        return F.mse_loss(torch.mm(x, w), torch.zeros(2, 2, device=device))


def _forward_float32(x, w, device):
    return F.mse_loss(torch.mm(x, w), torch.zeros(2, 2, device=device))


@pytest.mark.parametrize("forward", [pytest.param(_forward_in_autocast, id="forward-in-autocast"),
                                     pytest.param(_forward_float32, id="forward-float32")])
def test_backward_inside_autocast(obs, device, forward):
    """Backward inside autocast runs backward ops under autocast: a float32 forward's gradients then differ."""
    x = _leaf(device, torch.float32, 2, 3, lo=0.1, hi=0.9)
    w = _leaf(device, torch.float32, 3, 2, lo=-0.7, hi=0.3)
    loss = forward(x, w, device)
    outside = torch.autograd.grad(loss, (x, w), retain_graph=True)
    with _autocast(device):
        inside = obs.outcome("backward_inside", lambda: torch.autograd.grad(loss, (x, w)))
    obs.fact("grads_outside.value", [str(g.dtype) for g in outside])
    if inside is not None:
        obs.fact("grads_inside.value", [str(g.dtype) for g in inside])
        obs.fact("grads_inside_outside.same", all(torch.equal(a, b) for a, b in zip(outside, inside)))
