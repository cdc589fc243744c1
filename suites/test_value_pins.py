"""What every OpInfo op computes, pinned by value: the forward outputs and the vector-Jacobian products of its first
float64 sample, on inputs of our own.

gradcheck only sees a disagreement between an op's two derivatives; a release that changes an op's forward and
backward together (a loss's normalisation, a tie-breaking rule, what a reduction does with NaN) passes it. These
probes pin the values themselves. The sample's structure (shapes, argument forms, kwargs) comes from OpInfo's
first float64 sample, but its floating-point values are replaced by a fixed sequence (the golden-ratio sequence,
scaled into the op's declared domain or [-2, 2]) computed in Python, so the numbers do not depend on torch's random
generator or on how a release's OpInfo draws them. The cotangent is the same kind of sequence in [-1, 1].

Each tensor is summarised by its element count, its sum and a weighted sum (weights 1 + frac(k * phi), distinct
per element): a change of any single element by more than the tolerance (rtol 1e-5 of the weighted sum, atol 1e-8)
moves the weighted sum. `sample.value` describes the sample, so a change of OpInfo's sample (the test database,
not torch's behaviour) shows as such. Ops whose sample holds integer tensors (indices drawn at random), random ops
(by name, or an output that changes with the seed), ops returning uninitialised memory, decompositions whose result
the LAPACK build chooses (QR, SVD, eigenvectors, LU) and non-float64 outputs are described, not pinned. A Python float in the sample (OpInfo draws some at random) is described to six digits.
"""

import math
import re

import pytest
import torch

from autograd_conformance import opdb

try:
    OP_IDS = opdb.op_ids()
except Exception as exc:  # noqa: BLE001 - private API: any failure means "not available in this torch"
    pytest.skip(f"torch's OpInfo database is not importable here ({type(exc).__name__}: {exc})",
                allow_module_level=True)

pytestmark = [pytest.mark.numerics, pytest.mark.xdist_group("ops")]

PHI = (math.sqrt(5.0) - 1.0) / 2.0


def _sequence(n, low, high):
    """n values of the golden-ratio sequence in [low, high): fixed, evenly spread, no two equal."""
    return [low + (high - low) * ((0.5 + k * PHI) % 1.0) for k in range(n)]


def _domain(op):
    low, high = getattr(op, "domain", (None, None)) or (None, None)
    low = -2.0 if low is None else max(float(low), -2.0) + 0.25
    high = 2.0 if high is None else min(float(high), 2.0) - 0.25
    return (low, high) if low < high else (-2.0, 2.0)


def _ours(t, op):
    """A floating tensor of the sample replaced by our own values of its shape (a leaf as requires_grad was); a
    batch of square matrices gets (n + 1) on its diagonal, so that solves and inverses are well conditioned and
    their values do not depend on the LAPACK build."""
    values = torch.tensor(_sequence(t.numel(), *_domain(op)), dtype=torch.float64).reshape(t.shape)
    if t.dim() >= 2 and t.shape[-1] == t.shape[-2] and t.shape[-1] > 1:
        values = values + (t.shape[-1] + 1) * torch.eye(t.shape[-1], dtype=torch.float64)
    return values.to(t.dtype).requires_grad_(t.requires_grad)


#: Words of an op's name (split at "." and "_") whose result is unique only up to a sign, phase or basis choice
#: that the LAPACK build makes (QR, SVD, eigenvectors, LU pivoting, least squares by driver): described, not pinned.
GAUGED = {"geqrf", "qr", "svd", "eig", "eigh", "eigvals", "eigvalsh", "lu", "householder", "ormqr", "lstsq",
          "lowrank", "pinv", "rank"}
#: Words of an op's name that draw at random (OpInfo reseeds some of them itself): their values are the
#: generator's draws, not what the op computes from its inputs.
RANDOM = {"rand", "randn", "randint", "normal", "uniform", "exponential", "geometric", "cauchy", "bernoulli",
          "multinomial", "dropout", "dropout2d", "dropout3d", "rrelu"}
#: Ops whose OpInfo sample generator draws its kwargs from a set (their order follows Python's hash seed).
UNORDERED = ("meshgrid",)
#: Ops our values do not suit, by what they would pin: tensorinv's matrix is ill-conditioned (its gradient is of
#: order 1e15, what the LAPACK build makes of a near-singular matrix); the attention sample trains with dropout.
UNSUITED = {"linalg.tensorinv": "no: our values make its matrix ill-conditioned",
            "nn.functional.multi_head_attention_forward": "no: a random op (its sample trains with dropout)"}


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


def _summary(t):
    """[numel, sum, weighted sum] of a float64 tensor (non-finite values as strings, as facts write them). The sums
    are exact (math.fsum, whatever the order) and kept to 12 digits of the largest element (a sum that cancels to
    about 0 is 0): an op's own last bits move with the number of threads its reductions use, which is not a change
    of what it computes."""
    t = t.detach()
    if getattr(t, "_is_zerotensor", lambda: False)():
        t = torch.zeros(t.shape, dtype=t.dtype)  # an efficient ZeroTensor has no storage to read
    flat = t.reshape(-1).double().tolist()
    weights = [1.0 + (k * PHI) % 1.0 for k in range(len(flat))]

    def num(values):
        if not all(math.isfinite(v) for v in values):
            return str(float(sum(values)))  # inf, -inf or nan, as facts write them
        scale = max((abs(v) for v in values), default=0.0)
        if scale == 0.0:
            return 0.0
        quantum = 10.0 ** (math.floor(math.log10(scale)) - 11)  # 12 digits of the largest element, not of the sum
        return float(f"{round(math.fsum(values) / quantum) * quantum:.12g}") + 0.0  # + 0.0: no -0.0

    return [len(flat), num(flat), num([v * w for v, w in zip(flat, weights)])]


def _call(op, sample):
    inputs = [t for t in opdb.tensors([sample.input, list(sample.args), sample.kwargs]) if t.requires_grad]
    out = op.gradcheck_wrapper(op.get_op(), sample.input, *sample.args, **sample.kwargs)
    if sample.output_process_fn_grad is not None:
        out = sample.output_process_fn_grad(out)
    return inputs, opdb.tensors(out)


@pytest.mark.parametrize("op_id", OP_IDS, ids=OP_IDS)
def test_value_pin(obs, op_id):
    """The forward outputs and the vector-Jacobian products of the op's first float64 sample, on fixed inputs."""
    op = opdb.get(op_id)
    first = next(iter(op.sample_inputs_func(op, "cpu", torch.float64, op.supports_autograd)), None)
    if first is None:
        return
    if op.name in UNORDERED:
        obs.fact("pinned.value", "no: which sample comes first depends on Python's hash seed")
        return
    if "empty" in op.name:
        obs.fact("pinned.value", "no: the output is uninitialised memory")
        return
    if op_id in UNSUITED:
        obs.fact("pinned.value", UNSUITED[op_id])
        return
    words = set(re.split(r"[._]", op_id))
    if words & GAUGED:
        obs.fact("pinned.value", "no: the result is unique only up to a choice the LAPACK build makes")
        return
    if words & RANDOM and not op_id.startswith("signal."):  # a window function is no draw
        obs.fact("pinned.value", "no: a random op (its values are the generator's draws)")
        return
    obs.fact("sample.value", _describe(first))
    held = opdb.tensors([first.input, list(first.args), first.kwargs])
    if any(not (t.is_floating_point() or t.is_complex()) for t in held) or any(t.is_complex() for t in held) or \
            any(t.layout != torch.strided for t in held):
        obs.fact("pinned.value", "no: the sample holds integer, complex or sparse tensors")
        return
    sample = first.transform(lambda t: _ours(t, op) if isinstance(t, torch.Tensor) else t)
    try:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            inputs, outs = _call(op, sample)
            torch.manual_seed(1)
            _, again = _call(op, sample)
    except Exception as exc:  # noqa: BLE001 - the op refuses our values: that is the pinned fact
        obs.fact("forward.raises", type(exc).__name__)
        return
    if any(o.dtype != torch.float64 for o in outs):
        obs.fact("pinned.value", "no: an output is not float64")
        return
    if len(outs) != len(again) or any(not torch.equal(a, b) for a, b in zip(outs, again) if a.isfinite().all()):
        obs.fact("pinned.value", "no: the output changes with the random seed")
        return
    obs.fact("out.value", [_summary(o) for o in outs])
    differentiable = [o for o in outs if o.requires_grad]
    if not op.supports_autograd or not inputs or not differentiable:
        return
    cotangents = [torch.tensor(_sequence(o.numel(), -1.0, 1.0), dtype=torch.float64).reshape(o.shape)
                  for o in differentiable]
    try:
        grads = torch.autograd.grad(differentiable, inputs, cotangents, allow_unused=True)
    except Exception as exc:  # noqa: BLE001 - backward refusing our values is the pinned fact
        obs.fact("vjp.raises", type(exc).__name__)
        return
    obs.fact("vjp.value", ["no gradient" if g is None else _summary(g) for g in grads])
