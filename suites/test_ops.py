"""An op-wide autograd fingerprint: every OpInfo in torch's own op database, on CPU in float64.

For each op's first sample input (requires_grad=True): whether the output requires grad, its grad_fn names,
what backward does, whether the gradient is finite, whether forward-mode AD works, what double backward does
(grad of grad with create_graph=True: works, the first derivative has no graph, or raises what),
forward-over-reverse, and what the OpInfo claims (supports_autograd, supports_forward_ad, ...), so a claim that
disagrees with reality is itself a fact. Beyond the first sample: a summary of the next two float64 samples
(the first three usually span the op's distinct kwargs and shapes) and of the first float32 sample (a second
dtype, where the op supports it). The
database is private torch API: if it cannot be imported, the family skips with one reason. Probes are
parametrized by op id (known without importing the database); the family is one xdist group, so only the
worker that runs it imports the database.
"""

import itertools

import pytest
import torch
import torch.autograd.forward_ad as fwAD

from autograd_conformance import opdb

try:
    OP_IDS = opdb.op_ids()
except Exception as exc:  # noqa: BLE001 - private API: any failure means "not available in this torch"
    pytest.skip(f"torch's OpInfo database is not importable here ({type(exc).__name__}: {exc}); "
                f"it needs numpy and expecttest", allow_module_level=True)

pytestmark = [pytest.mark.ops, pytest.mark.xdist_group("ops")]

CLAIMS = ("supports_autograd", "supports_forward_ad", "supports_fwgrad_bwgrad", "supports_inplace_autograd")




#: Float64 samples fingerprinted per op (the first in full, the others summarised).
SAMPLES = 3


def _samples(op, dtype=torch.float64, count=1):
    # sample_inputs_func directly: OpInfo.sample_inputs wraps it in a tracker that walks the whole call stack
    # for every sample (inspect.stack), which costs ~50 ms a probe under pytest. The probe context seeds RNGs.
    return list(itertools.islice(op.sample_inputs_func(op, "cpu", dtype, True), count))


def _first_sample(op):
    return next(iter(_samples(op)), None)


def _differentiable(outputs):
    return [t for t in outputs if t.requires_grad and (t.is_floating_point() or t.is_complex())]


def _total(outputs):
    return sum(t.real.sum() if t.is_complex() else t.sum() for t in outputs)


def _summary(op, sample):
    """One sample's fingerprint in a line: the outputs' grad_fn names, then what backward does."""
    try:
        outputs = opdb.tensors(op(sample.input, *sample.args, **sample.kwargs))
    except Exception as exc:  # noqa: BLE001 - the summary names what the forward raised
        return f"forward raises {type(exc).__name__}"
    calls = ",".join(type(t.grad_fn).__name__ if t.grad_fn is not None else "None" for t in outputs)
    inputs = [t for t in opdb.sample_tensors(sample) if t.requires_grad]
    differentiable = _differentiable(outputs)
    if not (differentiable and inputs):
        return f"{calls} | no backward"
    try:
        torch.autograd.grad(_total(differentiable), inputs, allow_unused=True)
    except Exception as exc:  # noqa: BLE001
        return f"{calls} | backward raises {type(exc).__name__}"
    return f"{calls} | backward ok"


@pytest.mark.parametrize("op_id", OP_IDS, ids=OP_IDS)
def test_op(obs, op_id):
    """The op's autograd fingerprint on its first float64 sample, next to what its OpInfo claims."""
    op = opdb.get(op_id)
    obs.fact("claims.value", {c: bool(getattr(op, c, False)) for c in CLAIMS})
    # Warnings are not part of the fingerprint, and some fire once per process (lazy imports): leave them out.
    sample = obs.outcome("sample", lambda: _first_sample(op), warns=False)
    if sample is None:
        return
    inputs = [t for t in opdb.sample_tensors(sample) if t.requires_grad]
    out = obs.outcome("forward", lambda: op(sample.input, *sample.args, **sample.kwargs), warns=False)
    outputs = opdb.tensors(out)
    if not outputs:
        return
    obs.fact("outputs.calls", [type(t.grad_fn).__name__ if t.grad_fn is not None else "None" for t in outputs])
    obs.fact("output.requires_grad", any(t.requires_grad for t in outputs))
    differentiable = _differentiable(outputs)
    if differentiable and inputs:
        def backward():
            return torch.autograd.grad(_total(differentiable), inputs, allow_unused=True)
        grads = obs.outcome("backward", backward, warns=False)
        if grads is not None:
            present = [g for g in grads if g is not None]
            dense = [g.to_dense() if g.layout != torch.strided else g for g in present]
            obs.fact("grad.finite", all(bool(torch.isfinite(g).all()) for g in dense))
            double = obs.outcome("double", lambda: _double_backward(op, sample, inputs), warns=False)
            if double is not None:
                obs.fact("double.value", double)
    floating_input = sample.input.__class__ is torch.Tensor and sample.input.is_floating_point()
    if floating_input:
        def jvp():
            with fwAD.dual_level():
                dual = fwAD.make_dual(sample.input.detach(), torch.ones_like(sample.input))
                result = op(dual, *sample.args, **sample.kwargs)
                return [fwAD.unpack_dual(t).tangent is not None for t in opdb.tensors(result)]
        obs.outcome("jvp", jvp, warns=False)
        if differentiable:
            over = obs.outcome("fwd_over_rev", lambda: _forward_over_reverse(op, sample), warns=False)
            if over is not None:
                obs.fact("fwd_over_rev.value", over)
    more = _samples(op, count=SAMPLES)[1:]
    if more:
        obs.fact("samples.calls", [_summary(op, s) for s in more])
    if torch.float32 in op.supported_dtypes("cpu"):
        first32 = _samples(op, torch.float32)
        obs.fact("float32.value", _summary(op, first32[0]) if first32 else "no sample")


def _double_backward(op, sample, inputs):
    """Grad of grad: 'works', or 'first derivative has no graph' when the gradient does not require grad."""
    outputs = _differentiable(opdb.tensors(op(sample.input, *sample.args, **sample.kwargs)))
    grads = torch.autograd.grad(_total(outputs), inputs, allow_unused=True, create_graph=True)
    live = [g for g in grads if g is not None and g.requires_grad]
    if not live:
        return "first derivative has no graph"
    torch.autograd.grad(_total(live), inputs, allow_unused=True)
    return "works"


def _forward_over_reverse(op, sample):
    """The gradient of the op's sum computed under a forward-mode tangent: whether the gradient carries one."""
    x = sample.input.detach().requires_grad_(True)
    with fwAD.dual_level():
        dual = fwAD.make_dual(x, torch.ones_like(x))
        outputs = _differentiable(opdb.tensors(op(dual, *sample.args, **sample.kwargs)))
        if not outputs:
            return "no differentiable output"
        (grad,) = torch.autograd.grad(_total(outputs), x, allow_unused=True, create_graph=True)
        if grad is None:
            return "no gradient"
        return "tangent" if fwAD.unpack_dual(grad).tangent is not None else "no tangent"
