"""Samples beyond OpInfo's own: each op on other memory layouts, reductions over other dims, normalization over
several leading batch dims, non-square Jacobians, and `out=` with its version counter and autograd's refusal.

OpInfo's samples (and the one non-contiguous copy `numerics` checks) rarely hold transposed, permuted, expanded
(stride 0), channels-last or storage-offset tensors, several reduction dims at once or negative dims; a kernel
that goes wrong only there passes every other family. Inputs are the value pins' fixed values (see
`autograd_conformance.samples`).

- `test_layouts`: each OpInfo op's first float64 sample, every floating tensor in each layout that gives it other
  strides; the forward outputs and the vector-Jacobian products must equal those of the same values laid out
  contiguously (rtol 1e-9: another layout may take another kernel, whose float64 result differs in the last bits),
  and fast gradcheck must hold (on inputs of at most 4096 elements). An expanded tensor is the first slice of its
  first dim expanded back (its gradient is taken at the slice). The contiguous values are pinned by `value_pins`.
- `test_reduction_dims`, `test_dim_argument`: OpInfo's reductions and other dim-taking ops on a [3, 4, 6] tensor,
  pinned by value over the last dim, with keepdim, over two dims at once, over no dims (`dim=()`); a negative dim
  must give what its positive twin gives.
- `test_norm_batch_dims`: normalizations over inputs with several leading batch dims, by value, and gradcheck.
- `test_jacobian_shape`: Jacobian transforms of tall and wide functions: shapes and values.
- `test_out`: every op with an `out=` variant: the values written, the out tensors' versions, what the call
  returns, and what happens when an input or the out tensor requires grad.
"""


import pytest
import torch
import torch.nn.functional as F

from autograd_conformance import opdb, samples

try:
    OP_IDS, REDUCTION_IDS, OUT_IDS = opdb.op_ids(), opdb.op_ids("reductions"), opdb.op_ids("out")
except Exception as exc:  # noqa: BLE001 - private API: any failure means "not available in this torch"
    pytest.skip(f"torch's OpInfo database is not importable here ({type(exc).__name__}: {exc})",
                allow_module_level=True)

pytestmark = [pytest.mark.numerics, pytest.mark.xdist_group("ops")]

#: Two runs of the same values agree within this (rtol, atol): another layout may take another kernel (vectorised
#: or not, another summation order) whose float64 result differs in the last bits; a wrong result is far off.
RTOL, ATOL = 1e-9, 1e-12

LAYOUTS = ("transposed", "permuted", "channels_last", "storage_offset", "expanded")

#: Gradcheck runs where the sample's inputs that require grad hold at most this many elements: a fast gradcheck
#: that fails recomputes the whole Jacobian for its message (ctc_loss's 16000-element sample took a minute per
#: layout on torch 2.6). On 2.13 this leaves out 4 of the 676 ops (ctc_loss, slice_scatter, sort, msort).
GRADCHECK_ELEMENTS = 4096

#: torch's own gradcheck test of an op, (class, test), whose "skipped" declaration (the check may hang or crash)
#: we follow; class names before and after 2.1's split.
GRADCHECK_TESTS = (("TestBwdGradients", "test_fn_grad"), ("TestGradients", "test_fn_grad"))


def _tree(value, f):
    """The value with f applied to each tensor in it, through lists, tuples and dicts (in opdb.tensors' order)."""
    if isinstance(value, torch.Tensor):
        return f(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_tree(v, f) for v in value)
    if isinstance(value, dict):
        return {k: _tree(v, f) for k, v in value.items()}
    return value


def _call(op, sample, tensors):
    """The op's output tensors on the sample's structure with ``tensors`` in place of its own, in order."""
    it = iter(tensors)
    take = lambda _: next(it)  # noqa: E731
    first, args, kwargs = _tree(sample.input, take), _tree(list(sample.args), take), _tree(sample.kwargs, take)
    out = op.gradcheck_wrapper(op.get_op(), first, *args, **kwargs)
    if sample.output_process_fn_grad is not None:
        out = sample.output_process_fn_grad(out)
    return opdb.tensors(out)


def _same_strides(a, b):
    """Strides equal where the size is not 1 (a size-1 dim's stride says nothing about the layout)."""
    return all(x == y for x, y, n in zip(a.stride(), b.stride(), a.shape) if n != 1)


def _placed(layout, t):
    """(leaf, make) for one floating tensor: the leaf holding its values (or, expanded, its first slice) in the
    layout, and how the op's input is made from the leaf; None where the layout gives it no other strides."""
    v = t.detach()
    if layout == "expanded":
        dims = [d for d in range(v.dim()) if v.shape[d] > 1]  # the first: a batch expanded from one sample
        return (v.narrow(dims[0], 0, 1).clone(), lambda leaf, shape=v.shape: leaf.expand(shape)) if dims else None
    if layout == "transposed" and v.dim() >= 2:
        leaf = v.transpose(-1, -2).contiguous().transpose(-1, -2)
    elif layout == "permuted" and v.dim() >= 3:
        order = list(reversed(range(v.dim())))
        leaf = v.permute(order).contiguous().permute(order)
    elif layout == "channels_last" and v.dim() == 4:
        leaf = v.contiguous(memory_format=torch.channels_last)
    elif layout == "storage_offset" and v.numel() > 0:
        storage = torch.zeros(v.numel() + 3, dtype=v.dtype)
        storage[3:] = v.reshape(-1)
        return storage[3:].view(v.shape), lambda leaf: leaf
    else:
        return None
    return None if _same_strides(leaf, v.contiguous()) else (leaf, lambda leaf: leaf)


def _slots(sample, layout):
    """[(leaf, make)] for every tensor of the sample (unchanged where the layout does not apply), or None where
    it applies to none."""
    slots, placed_any = [], False
    for t in opdb.sample_tensors(sample):
        placed = _placed(layout, t) if t.is_floating_point() else None
        placed_any = placed_any or placed is not None
        leaf, make = placed or (t.detach(), lambda leaf: leaf)
        slots.append((leaf.detach().requires_grad_(t.requires_grad), make))
    return slots if placed_any else None


def _contiguous(slots):
    """The same values laid out contiguously: the baseline a layout must agree with."""
    return [(leaf.detach().contiguous().requires_grad_(leaf.requires_grad), lambda leaf, make=make: make(leaf).contiguous())
            for leaf, make in slots]


def _forward_and_vjp(op, sample, slots):
    """(outputs, gradients at the leaves that require grad) for the fixed cotangent, with the generator seeded."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        outs = _call(op, sample, [make(leaf) for leaf, make in slots])
    wrt = [leaf for leaf, _ in slots if leaf.requires_grad]
    differentiable = [o for o in outs if o.requires_grad]
    grads = []
    if wrt and differentiable:
        grads = torch.autograd.grad(differentiable, wrt, samples.cotangents(differentiable),
                                    allow_unused=True)
    return [o.detach() for o in outs], list(grads)


def _agree(a, b):
    """Whether two lists of tensors (or None) hold the same values, shapes and dtypes."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x is None or y is None:
            if (x is None) != (y is None):
                return False
        elif x.shape != y.shape or x.dtype != y.dtype:
            return False
        elif x.is_complex():
            if not _agree([torch.view_as_real(x.resolve_conj().to(torch.complex128))],
                          [torch.view_as_real(y.resolve_conj().to(torch.complex128))]):
                return False
        elif x.is_floating_point():
            if not torch.allclose(x, y, rtol=RTOL, atol=ATOL, equal_nan=True):
                return False
        elif not torch.equal(x, y):
            return False
    return True


def _gradcheck(op, sample, slots):
    """Whether fast gradcheck holds at the leaves that require grad (an exception counts as not holding)."""
    positions = [k for k, (leaf, _) in enumerate(slots) if leaf.requires_grad]

    def fn(*leaves):
        chosen = dict(zip(positions, leaves))
        return tuple(_call(op, sample, [make(chosen.get(k, leaf)) for k, (leaf, make) in enumerate(slots)]))

    try:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            return torch.autograd.gradcheck(fn, tuple(slots[k][0] for k in positions), fast_mode=True,
                                            nondet_tol=op.gradcheck_nondet_tol, check_batched_grad=False,
                                            raise_exception=False)
    except Exception:  # noqa: BLE001 - a check that cannot run on this variant does not hold
        return False


def _unreal(sample):
    """Why our real values cannot stand in the sample (it holds complex or sparse tensors), or None."""
    if any(t.is_complex() or t.layout != torch.strided for t in opdb.sample_tensors(sample)):
        return "no: the sample holds complex or sparse tensors"
    return None


def _our_sample(obs, op, op_id, values_pinned):
    """The op's first sample with our values (off the kinks, in its domain), or None after recording why there is
    none (no sample: nothing); ``values_pinned``: also refuse ops whose values are no fact of what they compute."""
    first = samples.first_sample(op)
    if first is None:
        return None
    why = (values_pinned and samples.unpinnable(op_id, op)) or _unreal(first)
    if why:
        obs.fact("pinned.value", why)
        return None
    return samples.with_ours(first, op, samples.OFF_KINKS, in_domain=True)


@pytest.mark.parametrize("op_id", OP_IDS, ids=OP_IDS)
def test_layouts(obs, op_id):
    """The op on transposed, permuted, channels-last, storage-offset and expanded inputs computes what it computes on the same values laid out contiguously, forward and backward, and passes gradcheck there."""
    op = opdb.get(op_id)
    sample = _our_sample(obs, op, op_id, values_pinned=True)
    if sample is None:
        return
    contiguous = [(t.detach().requires_grad_(t.requires_grad), lambda leaf: leaf)
                  for t in opdb.sample_tensors(sample)]
    try:
        _forward_and_vjp(op, sample, contiguous)
    except Exception as exc:  # noqa: BLE001 - the op refuses our values: that is the pinned fact
        obs.fact("forward.raises", type(exc).__name__)
        return
    check = op.supports_autograd and not (opdb.declared(op, GRADCHECK_TESTS, "cpu", torch.float64) or "").startswith("skipped")
    elements = sum(leaf.numel() for leaf, _ in contiguous if leaf.requires_grad)
    if check and elements > GRADCHECK_ELEMENTS:
        obs.fact("gradcheck.value", f"not run: the inputs that require grad hold {elements} elements")
        check = False
    checked, differing, refused, failing = [], [], [], []
    if check and any(leaf.requires_grad for leaf, _ in contiguous) and not _gradcheck(op, sample, contiguous):
        failing.append("contiguous")
    for layout in LAYOUTS:
        slots = _slots(sample, layout)
        if slots is None:
            continue
        checked.append(layout)
        try:
            ours = _forward_and_vjp(op, sample, slots)
        except Exception as exc:  # noqa: BLE001 - the op refuses the layout: the pinned fact
            refused.append(f"{layout}: {type(exc).__name__}")
            continue
        if not all(map(_agree, ours, _forward_and_vjp(op, sample, _contiguous(slots)))):
            differing.append(layout)
        if check and any(leaf.requires_grad for leaf, _ in slots) and not _gradcheck(op, sample, slots):
            failing.append(layout)
    obs.fact("layouts.value", checked)
    obs.fact("differing.value", differing)
    obs.fact("refused.value", refused)
    obs.fact("gradcheck_failing.value", failing)


# --- dims -------------------------------------------------------------------------------------------------------

#: The dims a reduction is asked for, by the subject its facts carry: (kwargs, the subject whose result it must
#: equal, or None). Input shape [3, 4, 6].
DIMS = {
    "last": (dict(dim=-1), None),
    "last_positive": (dict(dim=2), "last"),
    "last_keepdim": (dict(dim=-1, keepdim=True), None),
    "two": (dict(dim=(0, -1)), None),
    "two_positive": (dict(dim=(0, 2)), "two"),
    "two_keepdim": (dict(dim=(0, -1), keepdim=True), None),
    "no_dims": (dict(dim=()), None),
}
SHAPE = (3, 4, 6)


def _pin_dims(obs, call, dims, low=-2.0, high=2.0, differentiable=True):
    """Pin ``call(x, **kwargs)`` for each dims variant: its outputs and VJP by value (``<subject>.value``), or what
    it raises; a positive twin by whether it equals its negative form (``<subject>.same``)."""
    results = {}
    for subject, (kwargs, twin) in dims.items():
        x = torch.tensor(samples.sequence(3 * 4 * 6, low, high, samples.OFF_KINKS), dtype=torch.float64).reshape(SHAPE)
        x.requires_grad_(differentiable)
        try:
            outs = opdb.tensors(call(x, **kwargs))
            wrt = [o for o in outs if o.requires_grad]
            grads = torch.autograd.grad(wrt, x, samples.cotangents(wrt)) if wrt else ()
        except Exception as exc:  # noqa: BLE001 - a dims form the op refuses: the pinned fact
            results[subject] = None
            obs.fact(f"{subject}.raises", type(exc).__name__)
            continue
        results[subject] = {"out": [samples.summary(o) for o in outs], "vjp": [samples.summary(g) for g in grads]}
        if twin is None:
            obs.fact(f"{subject}.value", results[subject])
        else:
            obs.fact(f"{subject}.same", results[subject] == results[twin])


@pytest.mark.parametrize("op_id", REDUCTION_IDS, ids=REDUCTION_IDS)
def test_reduction_dims(obs, op_id):
    """The reduction over the last dim, with keepdim, over two dims at once and over no dims, by value; a positive dim gives what its negative form gives."""
    op = opdb.get(op_id)
    x = torch.zeros(SHAPE, dtype=torch.float64)
    args, kwargs = next(iter(op.generate_args_kwargs(x, dim=-1, keepdim=False)), ((), {}))
    dims = DIMS if op.supports_multiple_dims else {k: v for k, v in DIMS.items() if not k.startswith("two")}
    if not op.supports_multiple_dims:
        dims = {k: v for k, v in dims.items() if k != "no_dims"}
    with torch.random.fork_rng():
        torch.manual_seed(0)
        _pin_dims(obs, lambda t, **dim: op.op(t, *args, **dim, **kwargs), dims, *samples.domain(op),
                  differentiable=op.supports_autograd)


def _values(out):
    return out.values if hasattr(out, "values") and not isinstance(out, torch.Tensor) else out


#: Dim-taking ops that are not OpInfo reductions: name -> (call(x, dim, keepdim), takes keepdim, takes several dims).
DIM_OPS = {
    "softmax": (lambda x, dim, keepdim=False: torch.softmax(x, dim), False, False),
    "log_softmax": (lambda x, dim, keepdim=False: torch.log_softmax(x, dim), False, False),
    "cumsum": (lambda x, dim, keepdim=False: torch.cumsum(x, dim), False, False),
    "cumprod": (lambda x, dim, keepdim=False: torch.cumprod(x, dim), False, False),
    "logcumsumexp": (lambda x, dim, keepdim=False: torch.logcumsumexp(x, dim), False, False),
    "cummax": (lambda x, dim, keepdim=False: torch.cummax(x, dim).values, False, False),
    "logsumexp": (lambda x, dim, keepdim=False: torch.logsumexp(x, dim, keepdim=keepdim), True, True),
    "norm": (lambda x, dim, keepdim=False: torch.norm(x, 2, dim, keepdim=keepdim), True, True),
    "linalg.norm": (lambda x, dim, keepdim=False: torch.linalg.norm(x, dim=dim, keepdim=keepdim), True, True),
    "max": (lambda x, dim, keepdim=False: torch.max(x, dim, keepdim=keepdim).values, True, False),
    "median": (lambda x, dim, keepdim=False: torch.median(x, dim, keepdim=keepdim).values, True, False),
    "kthvalue": (lambda x, dim, keepdim=False: torch.kthvalue(x, 2, dim, keepdim=keepdim).values, True, False),
    "mode": (lambda x, dim, keepdim=False: torch.mode(x, dim, keepdim=keepdim).values, True, False),
    "topk": (lambda x, dim, keepdim=False: torch.topk(x, 2, dim).values, False, False),
    "sort": (lambda x, dim, keepdim=False: torch.sort(x, dim).values, False, False),
    "var_mean": (lambda x, dim, keepdim=False: torch.var_mean(x, dim, keepdim=keepdim), True, True),
    "std_mean": (lambda x, dim, keepdim=False: torch.std_mean(x, dim, keepdim=keepdim), True, True),
    "aminmax": (lambda x, dim, keepdim=False: torch.aminmax(x, dim=dim, keepdim=keepdim), True, False),
    "flip": (lambda x, dim, keepdim=False: torch.flip(x, dim if isinstance(dim, tuple) else (dim,)), False, True),
    "roll": (lambda x, dim, keepdim=False: torch.roll(x, (1,) * len(dim) if isinstance(dim, tuple) else 1, dim),
             False, True),
    "diff": (lambda x, dim, keepdim=False: torch.diff(x, dim=dim), False, False),
    "glu": (lambda x, dim, keepdim=False: F.glu(x, dim), False, False),
    "normalize": (lambda x, dim, keepdim=False: F.normalize(x, dim=dim), False, True),
    "trapezoid": (lambda x, dim, keepdim=False: torch.trapezoid(x, dim=dim), False, False),
    "count_nonzero": (lambda x, dim, keepdim=False: torch.count_nonzero(x, dim), False, True),
    "unbind": (lambda x, dim, keepdim=False: torch.unbind(x, dim), False, False),
    "movedim": (lambda x, dim, keepdim=False: torch.movedim(x, dim, (1, 0) if isinstance(dim, tuple) else 0),
                False, True),
}


@pytest.mark.parametrize("name", sorted(DIM_OPS))
def test_dim_argument(obs, name):
    """The op over the last dim (and with keepdim and two dims where it takes them), by value; a positive dim gives what its negative form gives."""
    call, keepdim, several = DIM_OPS[name]
    dims = {k: v for k, v in DIMS.items() if k != "no_dims" and (keepdim or "keepdim" not in k)
            and (several or not k.startswith("two"))}
    _pin_dims(obs, lambda x, dim, keepdim=False: call(x, dim, keepdim), dims)


# --- normalization over several batch dims ------------------------------------------------------------------------

def _seq(*shape, low=-2.0, high=2.0):
    n = 1
    for s in shape:
        n *= s
    return torch.tensor(samples.sequence(n, low, high, samples.OFF_KINKS), dtype=torch.float64).reshape(shape).requires_grad_()


#: name -> (input shape, other tensors' shapes (weight, bias...), call(x, *others)).
NORMS = {
    "layer_norm-last-dim": ((2, 3, 4, 6), [(6,), (6,)], lambda x, w, b: F.layer_norm(x, (6,), w, b)),
    "layer_norm-last-two-dims": ((2, 3, 4, 6), [(4, 6), (4, 6)], lambda x, w, b: F.layer_norm(x, (4, 6), w, b)),
    "group_norm": ((2, 3, 4, 6), [(4,), (4,)], lambda x, w, b: F.group_norm(x.transpose(1, 2), 2, w, b)),
    "batch_norm-training": ((2, 3, 4, 6), [(3,), (3,)],
                            lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True)),
    "batch_norm-eval": ((2, 3, 4, 6), [(3,), (3,)], lambda x, w, b: F.batch_norm(
        x, torch.linspace(-0.5, 0.5, 3, dtype=torch.float64), torch.linspace(0.5, 1.5, 3, dtype=torch.float64),
        w, b, training=False)),
    "instance_norm": ((2, 3, 4, 6), [(3,), (3,)], lambda x, w, b: F.instance_norm(x, weight=w, bias=b)),
    "rms_norm": ((2, 3, 4, 6), [(4, 6)], lambda x, w: F.rms_norm(x, (4, 6), w)),
    "local_response_norm": ((2, 3, 4, 6), [], lambda x: F.local_response_norm(x, 2)),
    "normalize": ((2, 3, 4, 6), [], lambda x: F.normalize(x, dim=-1)),
}


@pytest.mark.parametrize("name", sorted(NORMS))
def test_norm_batch_dims(obs, name):
    """A normalization of an input with several leading batch dims: output and gradients (input and weights) by value, and gradcheck."""
    shape, others, call = NORMS[name]
    if name == "rms_norm":
        obs.fact("rms_norm.present", hasattr(F, "rms_norm"))
        if not hasattr(F, "rms_norm"):
            return
    tensors = [_seq(*shape)] + [_seq(*s, low=0.5, high=1.5) for s in others]
    out = call(*tensors)
    obs.fact("out.value", samples.summary(out))
    grads = torch.autograd.grad(out, tensors, samples.cotangent(out))
    obs.fact("vjp.value", [samples.summary(g) for g in grads])
    obs.fact("gradcheck.holds", torch.autograd.gradcheck(call, tuple(tensors), fast_mode=True, raise_exception=False))


# --- Jacobians of non-square functions ----------------------------------------------------------------------------

def _tall(x):
    """R^2 -> R^5."""
    return torch.stack([x[0].sin(), x[1].cos(), x[0] * x[1], x.exp().sum(), (x * x).sum().sqrt()])


def _wide(x):
    """R^[2, 3] -> R^2."""
    return torch.stack([(x.sin() * x[0].unsqueeze(0)).sum(), x.tanh().prod()])


def _scalar(x):
    return (_wide(x) * torch.tensor([0.7, -1.3], dtype=torch.float64)).sum()


TRANSFORMS = {
    "func.jacrev": lambda f, x: torch.func.jacrev(f)(x),
    "func.jacfwd": lambda f, x: torch.func.jacfwd(f)(x),
    "autograd.functional.jacobian": lambda f, x: torch.autograd.functional.jacobian(f, x),
    "autograd.functional.jacobian-vectorize": lambda f, x: torch.autograd.functional.jacobian(f, x, vectorize=True),
    "autograd.functional.jacobian-forward-mode": lambda f, x: torch.autograd.functional.jacobian(
        f, x, vectorize=True, strategy="forward-mode"),
    "vmap-jacrev": lambda f, x: torch.func.vmap(torch.func.jacrev(f))(torch.stack([x, 2 * x])),
}
FUNCTIONS = {"tall": (_tall, (2,)), "wide": (_wide, (2, 3))}


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
def test_jacobian_shape(obs, transform, function):
    """A Jacobian transform of a tall (R^2 -> R^5) or wide (R^[2,3] -> R^2) function: the Jacobian's shape and values."""
    f, shape = FUNCTIONS[function]
    x = _seq(*shape).detach()
    jacobian = obs.outcome("jacobian", lambda: TRANSFORMS[transform](f, x), warns=False)
    if jacobian is not None:
        obs.fact("jacobian.shape", list(jacobian.shape))
        obs.fact("jacobian.value", samples.summary(jacobian))


@pytest.mark.parametrize("transform", ["func.hessian", "autograd.functional.hessian"])
def test_hessian_shape(obs, transform):
    """The Hessian of a scalar function of a [2, 3] input: shape [2, 3, 2, 3] and its values."""
    x = _seq(2, 3).detach()
    call = torch.func.hessian(_scalar) if transform == "func.hessian" else \
        (lambda x: torch.autograd.functional.hessian(_scalar, x))
    hessian = call(x)
    obs.fact("hessian.shape", list(hessian.shape))
    obs.fact("hessian.value", samples.summary(hessian))


# --- out= ---------------------------------------------------------------------------------------------------------

def _out_like(result):
    """Fresh out tensors in the structure the op returns (a tensor, or a tuple of them)."""
    if isinstance(result, torch.Tensor):
        return torch.zeros_like(result)
    return tuple(torch.zeros_like(r) for r in result)


@pytest.mark.parametrize("op_id", OUT_IDS, ids=OUT_IDS)
def test_out(obs, op_id):
    """op(..., out=) writes what the op returns, bumps each out tensor's version, returns the out tensors, and refuses (or not) an input or out tensor that requires grad."""
    op = opdb.get(op_id)
    sample = _our_sample(obs, op, op_id, values_pinned=False)
    if sample is None:
        return
    plain = sample.transform(lambda t: t.detach() if isinstance(t, torch.Tensor) else t)

    def call(s, **out):
        with torch.random.fork_rng():
            torch.manual_seed(0)
            return op.op(s.input, *s.args, **out, **s.kwargs)

    try:
        expected = call(plain)
        out = _out_like(expected)
    except Exception as exc:  # noqa: BLE001 - the op refuses our values: the pinned fact
        obs.fact("forward.raises", type(exc).__name__)
        return
    returned = obs.outcome("out", lambda: call(plain, out=out), warns=False)
    outs = opdb.tensors(out)
    obs.fact("version.value", [t._version for t in outs])
    if returned is None:
        return
    obs.fact("returned.same", all(a is b for a, b in zip(opdb.tensors(returned), outs))
             and len(opdb.tensors(returned)) == len(outs))
    if samples.unpinnable(op_id, op) is None:
        obs.fact("written.same", _agree(outs, opdb.tensors(expected)))
    if any(t.requires_grad for t in opdb.sample_tensors(sample)):
        obs.outcome("input_requires_grad", lambda: call(sample, out=_out_like(expected)), warns=False)
        with torch.no_grad():
            under = _out_like(expected)
            obs.outcome("no_grad", lambda: call(sample, out=under), warns=False)
        obs.fact("no_grad_out.requires_grad", any(t.requires_grad for t in opdb.tensors(under)))
    leaf = _out_like(expected)
    floating = [t for t in opdb.tensors(leaf) if t.is_floating_point()]
    if floating:
        for t in floating:
            t.requires_grad_()
        obs.outcome("out_requires_grad", lambda: call(plain, out=leaf), warns=False)
