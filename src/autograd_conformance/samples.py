"""Fixed inputs for OpInfo samples, and the summaries that pin a tensor's values.

The value pins and the sample variants share them: a sample keeps OpInfo's structure (shapes, argument forms,
kwargs), but its floating-point values are replaced by a fixed sequence (the golden-ratio sequence, scaled into
the op's declared domain or [-2, 2]) computed in Python, so the numbers depend neither on torch's random generator
nor on how a release's OpInfo draws them; each tensor of a sample, and each output's cotangent, starts the sequence
elsewhere. A tensor is pinned as [numel, sum, weighted sum] (weights 1 + frac(k*phi), distinct per element), so a
change of any single element beyond the tolerance moves the weighted sum.
"""

from __future__ import annotations

import itertools
import math
import re
from typing import Any

from . import opdb

PHI = (math.sqrt(5.0) - 1.0) / 2.0

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


#: Where the value pins' sequence starts for a sample's first tensor: the middle of the interval (0 for [-2, 2], a
#: kink of many ops, which the pins keep as part of what they pin).
MIDDLE = 0.5
#: Where the sample variants' sequence starts for a sample's first tensor: off every kink (an irrational step from
#: 0.1 never lands on a multiple of 1/4 of the interval), so gradcheck sees where each op is differentiable.
OFF_KINKS = 0.1
#: How far each further tensor of a sample starts from the one before (irrational, and unrelated to PHI): two
#: tensors of one shape would otherwise hold the same values, and a binary op would only ever see ties.
STEP = math.sqrt(2.0) - 1.0


def phase(k: int, start: float) -> float:
    """Where the sequence starts for a sample's k-th tensor: at ``start`` for the first, a step on for each further
    one."""
    return (start + k * STEP) % 1.0


def sequence(n: int, low: float, high: float, phase: float = MIDDLE) -> list[float]:
    """n values of the golden-ratio sequence in [low, high) from ``phase``: fixed, evenly spread, no two equal."""
    return [low + (high - low) * ((phase + k * PHI) % 1.0) for k in range(n)]


def domain(op: Any) -> tuple[float, float]:
    """The interval our values come from: the op's declared domain (a quarter inside its ends) within [-2, 2]."""
    low, high = getattr(op, "domain", (None, None)) or (None, None)
    low = -2.0 if low is None else max(float(low), -2.0) + 0.25
    high = 2.0 if high is None else min(float(high), 2.0) - 0.25
    return (low, high) if low < high else (-2.0, 2.0)


def ours(t: Any, op: Any, phase: float = MIDDLE, in_domain: bool = False) -> Any:
    """A floating tensor of the sample replaced by our own values of its shape (a leaf as requires_grad was); a
    batch of square matrices gets (n + 1) on its diagonal, so that solves and inverses are well conditioned and
    their values do not depend on the LAPACK build; ``in_domain``: not where the op declares a domain (the
    diagonal would leave it)."""
    import torch

    values = torch.tensor(sequence(t.numel(), *domain(op), phase), dtype=torch.float64).reshape(t.shape)
    bounded = in_domain and tuple(getattr(op, "domain", (None, None)) or (None, None)) != (None, None)
    if t.dim() >= 2 and t.shape[-1] == t.shape[-2] and t.shape[-1] > 1 and not bounded:
        values = values + (t.shape[-1] + 1) * torch.eye(t.shape[-1], dtype=torch.float64)
    return values.to(t.dtype).requires_grad_(t.requires_grad)


def with_ours(sample: Any, op: Any, start: float, in_domain: bool = False) -> Any:
    """The sample with our values in each floating tensor, the k-th tensor's sequence starting at phase(k, start),
    so that no two tensors of one shape hold the same values."""
    import torch

    count = itertools.count()
    return sample.transform(lambda t: ours(t, op, phase(next(count), start), in_domain)
                            if isinstance(t, torch.Tensor) and t.is_floating_point() else t)


def cotangent(t: Any, k: int = 0) -> Any:
    """The fixed cotangent for an op's k-th output: the sequence in [-1, 1] from phase(k, OFF_KINKS), in the output's
    shape and dtype. Off the middle, so that a one-element output's cotangent is not 0 (which would pin no gradient
    of a loss or a full reduction), and another for each output."""
    import torch

    values = sequence(t.numel(), -1.0, 1.0, phase(k, OFF_KINKS))
    return torch.tensor(values, dtype=torch.float64).reshape(t.shape).to(t.dtype)


def cotangents(outs: list[Any]) -> list[Any]:
    """The fixed cotangents for an op's outputs, in order."""
    return [cotangent(t, k) for k, t in enumerate(outs)]


def unpinnable(op_id: str, op: Any) -> str | None:
    """Why the op's values are not a fact of what it computes (a ``pinned.value`` reason), or None."""
    if op.name in UNORDERED:
        return "no: which sample comes first depends on Python's hash seed"
    if "empty" in op.name:
        return "no: the output is uninitialised memory"
    if op_id in UNSUITED:
        return UNSUITED[op_id]
    words = set(re.split(r"[._]", op_id))
    if words & GAUGED:
        return "no: the result is unique only up to a choice the LAPACK build makes"
    if words & RANDOM and not op_id.startswith("signal."):  # a window function is no draw
        return "no: a random op (its values are the generator's draws)"
    return None


def real_strided(held: list[Any]) -> bool:
    """Whether every tensor a sample holds is a real floating-point, strided tensor (our values can replace it)."""
    import torch

    return all(t.is_floating_point() and t.layout == torch.strided for t in held)


def first_sample(op: Any) -> Any:
    """The op's first float64 sample (None where its generator yields none)."""
    import torch

    return next(iter(op.sample_inputs_func(op, "cpu", torch.float64, op.supports_autograd)), None)


def call(op: Any, sample: Any) -> tuple[list[Any], list[Any]]:
    """(the sample's tensors that require grad, the op's output tensors) for one call of the op on the sample."""
    inputs = [t for t in opdb.sample_tensors(sample) if t.requires_grad]
    out = op.gradcheck_wrapper(op.get_op(), sample.input, *sample.args, **sample.kwargs)
    if sample.output_process_fn_grad is not None:
        out = sample.output_process_fn_grad(out)
    return inputs, opdb.tensors(out)


def summary(t: Any) -> list[Any]:
    """[numel, sum, weighted sum] of a tensor (non-finite values as strings, as facts write them). The sums are
    exact (math.fsum, whatever the order) and kept to 12 digits of the largest element (a sum that cancels to
    about 0 is 0): an op's own last bits move with the number of threads its reductions use, which is not a change
    of what it computes."""
    import torch

    t = t.detach()
    if getattr(t, "_is_zerotensor", lambda: False)():
        t = torch.zeros(t.shape, dtype=t.dtype)  # an efficient ZeroTensor has no storage to read
    flat = t.reshape(-1).double().tolist()
    weights = [1.0 + (k * PHI) % 1.0 for k in range(len(flat))]

    def num(values: list[float]) -> Any:
        if not all(math.isfinite(v) for v in values):
            return str(float(sum(values)))  # inf, -inf or nan, as facts write them
        scale = max((abs(v) for v in values), default=0.0)
        if scale == 0.0:
            return 0.0
        quantum = 10.0 ** (math.floor(math.log10(scale)) - 11)  # 12 digits of the largest element, not of the sum
        if quantum == 0.0:  # a subnormal largest element (nextafter from 0): fewer than 12 digits to keep
            return float(f"{math.fsum(values):.12g}") + 0.0
        return float(f"{round(math.fsum(values) / quantum) * quantum:.12g}") + 0.0  # + 0.0: no -0.0

    return [len(flat), num(flat), num([v * w for v, w in zip(flat, weights)])]
