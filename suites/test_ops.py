"""An op-wide autograd fingerprint: every OpInfo in torch's own op database, on CPU in float64.

For each op's first sample input (requires_grad=True): whether the output requires grad, its grad_fn names,
what backward does, whether the gradient is finite, whether forward-mode AD works, and what the OpInfo claims
(supports_autograd, supports_forward_ad, ...), so a claim that disagrees with reality is itself a fact. The
database is private torch API: if it cannot be imported, the family skips with one reason. Probes are
parametrized by op id (known without importing the database); the family is one xdist group, so only the
worker that runs it imports the database.
"""

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




def _tensors(value):
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


def _first_sample(op):
    # sample_inputs_func directly: OpInfo.sample_inputs wraps it in a tracker that walks the whole call stack
    # for every sample (inspect.stack), which costs ~50 ms a probe under pytest. The probe context seeds RNGs.
    return next(iter(op.sample_inputs_func(op, "cpu", torch.float64, True)), None)


@pytest.mark.parametrize("op_id", OP_IDS, ids=OP_IDS)
def test_op(obs, op_id):
    """The op's autograd fingerprint on its first float64 sample, next to what its OpInfo claims."""
    op = opdb.get(op_id)
    obs.fact("claims.value", {c: bool(getattr(op, c, False)) for c in CLAIMS})
    # Warnings are not part of the fingerprint, and some fire once per process (lazy imports): leave them out.
    sample = obs.outcome("sample", lambda: _first_sample(op), warns=False)
    if sample is None:
        return
    inputs = [t for t in _tensors([sample.input, sample.args, sample.kwargs]) if t.requires_grad]
    out = obs.outcome("forward", lambda: op(sample.input, *sample.args, **sample.kwargs), warns=False)
    outputs = _tensors(out)
    if not outputs:
        return
    obs.fact("outputs.calls", [type(t.grad_fn).__name__ if t.grad_fn is not None else "None" for t in outputs])
    obs.fact("output.requires_grad", any(t.requires_grad for t in outputs))
    differentiable = [t for t in outputs if t.requires_grad and (t.is_floating_point() or t.is_complex())]
    if differentiable and inputs:
        def backward():
            total = sum(t.real.sum() if t.is_complex() else t.sum() for t in differentiable)
            return torch.autograd.grad(total, inputs, allow_unused=True)
        grads = obs.outcome("backward", backward, warns=False)
        if grads is not None:
            present = [g for g in grads if g is not None]
            dense = [g.to_dense() if g.layout != torch.strided else g for g in present]
            obs.fact("grad.finite", all(bool(torch.isfinite(g).all()) for g in dense))
    if sample.input.__class__ is torch.Tensor and sample.input.is_floating_point():
        def jvp():
            with fwAD.dual_level():
                dual = fwAD.make_dual(sample.input.detach(), torch.ones_like(sample.input))
                result = op(dual, *sample.args, **sample.kwargs)
                return [fwAD.unpack_dual(t).tangent is not None for t in _tensors(result)]
        obs.outcome("jvp", jvp, warns=False)
