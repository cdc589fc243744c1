"""What every OpInfo op computes, pinned by value: the forward outputs and the vector-Jacobian products of its first
float64 sample, on inputs of our own.

gradcheck only sees a disagreement between an op's two derivatives; a release that changes an op's forward and
backward together (a loss's normalisation, a tie-breaking rule, what a reduction does with NaN) passes it. These
probes pin the values themselves. The sample's structure (shapes, argument forms, kwargs) comes from OpInfo's
first float64 sample, but its floating-point values are replaced by a fixed sequence (the golden-ratio sequence,
scaled into the op's declared domain or [-2, 2]) computed in Python, so the numbers do not depend on torch's random
generator or on how a release's OpInfo draws them. The sample's first tensor starts the sequence at the middle of
the interval (a kink of many ops, pinned as such); each further tensor starts elsewhere, so a binary op does not
only see ties (``sub(x, x)`` would pin 0 whatever the order of its operands). Each output's cotangent is the same
kind of sequence in [-1, 1], started off 0 (a one-element output's cotangent would otherwise be 0 and pin no
gradient) and elsewhere for each output.

Each tensor is summarised by its element count, its sum and a weighted sum (weights 1 + frac(k * phi), distinct
per element): a change of any single element by more than the tolerance (rtol 1e-5 of the weighted sum, atol 1e-8)
moves the weighted sum. `sample.value` describes the sample, so a change of OpInfo's sample (the test database,
not torch's behaviour) shows as such. Ops whose sample holds integer tensors (indices drawn at random), random ops
(by name, or an output that changes with the seed), ops returning uninitialised memory, decompositions whose result
the LAPACK build chooses (QR, SVD, eigenvectors, LU) and non-float64 outputs are described, not pinned. A Python float in the sample (OpInfo draws some at random) is described to six digits.
"""

import pytest
import torch

from autograd_conformance import opdb, samples

try:
    OP_IDS = opdb.op_ids()
except Exception as exc:  # noqa: BLE001 - private API: any failure means "not available in this torch"
    pytest.skip(f"torch's OpInfo database is not importable here ({type(exc).__name__}: {exc})",
                allow_module_level=True)

pytestmark = [pytest.mark.numerics, pytest.mark.xdist_group("ops")]


def _describe(sample):
    def one(value):
        if isinstance(value, torch.Tensor):
            return f"{str(value.dtype).removeprefix('torch.')}{list(value.shape)}"
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, torch.Tensor) for v in value):
            return "[" + ", ".join(one(v) for v in value) + "]"
        if isinstance(value, float):
            return f"{value:.6g}"  # a scalar drawn at random: its last digits depend on the CPU's kernels
        return repr(value)
    args = ", ".join(one(a) for a in sample.args)
    kwargs = ", ".join(f"{k}={one(v)}" for k, v in sorted(sample.kwargs.items()))
    return f"input {one(sample.input)}" + (f"; args {args}" if args else "") + (f"; kwargs {kwargs}" if kwargs else "")


@pytest.mark.parametrize("op_id", OP_IDS, ids=OP_IDS)
def test_value_pin(obs, op_id):
    """The forward outputs and the vector-Jacobian products of the op's first float64 sample, on fixed inputs."""
    op = opdb.get(op_id)
    first = samples.first_sample(op)
    if first is None:
        return
    why = samples.unpinnable(op_id, op)
    if why:
        obs.fact("pinned.value", why)
        return
    obs.fact("sample.value", _describe(first))
    held = opdb.sample_tensors(first)
    if not samples.real_strided(held):
        obs.fact("pinned.value", "no: the sample holds integer, complex or sparse tensors")
        return
    sample = samples.with_ours(first, op, samples.MIDDLE)
    try:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            inputs, outs = samples.call(op, sample)
            torch.manual_seed(1)
            _, again = samples.call(op, sample)
    except Exception as exc:  # noqa: BLE001 - the op refuses our values: that is the pinned fact
        obs.fact("forward.raises", type(exc).__name__)
        return
    if any(o.dtype != torch.float64 for o in outs):
        obs.fact("pinned.value", "no: an output is not float64")
        return
    if len(outs) != len(again) or any(not torch.equal(a, b) for a, b in zip(outs, again) if a.isfinite().all()):
        obs.fact("pinned.value", "no: the output changes with the random seed")
        return
    obs.fact("out.value", [samples.summary(o) for o in outs])
    differentiable = [o for o in outs if o.requires_grad]
    if not op.supports_autograd or not inputs or not differentiable:
        return
    cotangents = samples.cotangents(differentiable)
    try:
        grads = torch.autograd.grad(differentiable, inputs, cotangents, allow_unused=True)
    except Exception as exc:  # noqa: BLE001 - backward refusing our values is the pinned fact
        obs.fact("vjp.raises", type(exc).__name__)
        return
    obs.fact("vjp.value", ["no gradient" if g is None else samples.summary(g) for g in grads])
