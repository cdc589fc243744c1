"""Numerical cross-checks over torch's OpInfo database: are the gradients right, not only the grad_fn names?

For every OpInfo that runs on CPU in float64 and claims autograd support, over its first eight float64 sample inputs, a
non-contiguous copy of the first sample and an empty variant of it (where the op accepts one): gradcheck
(backward against finite differences), forward-mode gradcheck where the OpInfo claims forward AD, gradgradcheck
where it claims second derivatives, forward-over-reverse where it claims that, and torch.func's jacfwd against
jacrev on the first sample; complex ops also in complex128 (the conjugate-Wirtinger convention). For float32,
bfloat16 and float16: the gradient agrees with the float64 gradient cast down within a tolerance per dtype, has
the input's dtype, and keeps the strides of a permuted and of a channels_last leaf.

Each check is a fact `<check>.holds`; `<check>.examples` counts the samples checked and `<check>.falsifying`
names the first failing sample (shape, strides, kwargs) and its worst element — kept for the reader, not compared.
Marked `numerics` (`-m "not numerics"` leaves it out). Gradchecks run in fast mode (a random projection of the
Jacobian) to keep the family to about a minute on two cores.
"""

import itertools

import pytest
import torch
import torch.autograd.forward_ad as fwAD

from autograd_conformance import opdb

try:
    OP_IDS = opdb.op_ids()
except Exception as exc:  # noqa: BLE001 - private API: any failure means "not available in this torch"
    pytest.skip(f"torch's OpInfo database is not importable here ({type(exc).__name__}: {exc})",
                allow_module_level=True)

pytestmark = [pytest.mark.numerics, pytest.mark.xdist_group("ops")]

#: The tolerance a low-precision gradient must meet against the float64 gradient cast down: (rtol, atol).
LOW_PRECISION = {torch.float32: (1e-4, 1e-5), torch.bfloat16: (1.6e-2, 1e-2), torch.float16: (1e-3, 1e-3)}
LOW_NAMES = tuple(str(dtype).removeprefix("torch.") for dtype in LOW_PRECISION)


def _describe(sample):
    """A sample as a reader identifies it: input shape and strides, other tensors' shapes, the kwargs."""
    def one(value):
        if isinstance(value, torch.Tensor):
            return f"tensor{list(value.shape)} strides {list(value.stride())}"
        if isinstance(value, (list, tuple)) and value and all(isinstance(v, torch.Tensor) for v in value):
            return "[" + ", ".join(one(v) for v in value) + "]"
        return repr(value)
    args = ", ".join(one(a) for a in sample.args)
    kwargs = ", ".join(f"{k}={one(v)}" for k, v in sorted(sample.kwargs.items()))
    return f"input {one(sample.input)}" + (f"; args {args}" if args else "") + (f"; kwargs {kwargs}" if kwargs else "")


def _recompose(op, sample):
    """(fn, inputs): the op as a function of the sample's tensors that require grad (as PyTorch's own tests do)."""
    holders = [sample.input, *sample.args, *sample.kwargs.values()]
    inputs = tuple(t for h in holders for t in (h if isinstance(h, (list, tuple)) else [h])
                   if isinstance(t, torch.Tensor) and t.requires_grad)

    def fill(value, it):
        if isinstance(value, (list, tuple)) and any(isinstance(v, torch.Tensor) and v.requires_grad for v in value):
            return type(value)(next(it) if isinstance(v, torch.Tensor) and v.requires_grad else v for v in value)
        if isinstance(value, torch.Tensor) and value.requires_grad:
            return next(it)
        return value

    def fn(*tensors):
        it = iter(tensors)
        first = fill(sample.input, it)
        args = [fill(a, it) for a in sample.args]
        kwargs = {k: fill(v, it) for k, v in sample.kwargs.items()}
        out = op.gradcheck_wrapper(op.get_op(), first, *args, **kwargs)
        return sample.output_process_fn_grad(out) if sample.output_process_fn_grad is not None else out

    return fn, inputs


#: First-order checks run on this many samples (plus the variants): a few ops' generators yield dozens of large
#: samples (slice_scatter, grid_sampler_3d) whose checks take seconds each without covering more behaviour.
FIRST_ORDER_SAMPLES = 8

#: Second-order checks (gradgradcheck, forward-over-reverse) run on this many samples (plus the non-contiguous
#: and empty variants): they cost ten to a hundred times a gradcheck, and the first samples span the op's kwargs.
SECOND_ORDER_SAMPLES = 3

#: Variants whose check crashes the process on some torch release: left out here, pinned by test_known_crash
#: (which runs them in a subprocess and records how the process ended).
_EMPTY_BATCH_NORM = ("x = torch.zeros(0, 5, 5, dtype=torch.float64)\n"
                     "w, b, rm, rv = (torch.ones(5, dtype=torch.float64) for _ in range(4))\n"
                     "torch.{}(x, w, b, rm, rv, True, 0.5, 0.6)")
CRASHES = {("nn.functional.pdist", "empty sample 0"): (
    "torch.nn.functional.pdist(torch.zeros(0, 1, dtype=torch.float64, requires_grad=True)).sum().backward()"),
    ("native_batch_norm", "empty sample 0"): _EMPTY_BATCH_NORM.format("native_batch_norm"),
    ("_native_batch_norm_legit", "empty sample 0"): _EMPTY_BATCH_NORM.format("_native_batch_norm_legit"),
    # Hooking a view whose base changed in place, before anything read the view's regenerated grad_fn.
    ("Tensor.register_hook", "view of a base changed in place"): (
        "x = torch.ones(4, requires_grad=True)\nbase = x * 1\nview = base[1:3]\nbase.mul_(5)\n"
        "view.register_hook(lambda g: None)\n(view * 2).sum().backward()"),
    # Deleting a leaf's grad_dtype (an attribute added in 2.13): an AttributeError where it does not exist.
    ("Tensor.grad_dtype", "del"): "x = torch.ones(2, requires_grad=True)\ndel x.grad_dtype\nx.grad_dtype"}


def _forward_works(op, sample):
    try:
        fn, inputs = _recompose(op, sample)
        return opdb.tensors(fn(*inputs))
    except Exception:  # noqa: BLE001 - a variant the op does not accept: nothing to check
        return None


def _variants(op, dtype, op_id=None):
    """Every sample, then a non-contiguous copy of the first and an empty variant of it, as (label, sample).
    A variant is kept where the op accepts it; the empty one where its outputs are empty too (a reduction of
    an empty input has a non-empty output whose Jacobian gradcheck cannot form)."""
    samples = list(itertools.islice(op.sample_inputs_func(op, "cpu", dtype, True), FIRST_ORDER_SAMPLES))
    out = [(f"sample {k}", s) for k, s in enumerate(samples)]
    if not samples:
        return out
    first = samples[0]
    try:
        noncontiguous = first.noncontiguous()
    except Exception:  # noqa: BLE001 - e.g. sparse inputs have no non-contiguous form
        noncontiguous = None
    if noncontiguous is not None and _forward_works(op, noncontiguous) is not None:
        out.append(("non-contiguous sample 0", noncontiguous))
    if isinstance(first.input, torch.Tensor) and first.input.layout == torch.strided and first.input.dim() > 0 \
            and first.input.shape[0] > 0 and (op_id, "empty sample 0") not in CRASHES:
        empty = first.transform(lambda t: t[:0].detach().requires_grad_(t.requires_grad)
                                if isinstance(t, torch.Tensor) and t is first.input else t)
        outputs = _forward_works(op, empty)
        if outputs and all(t.numel() == 0 for t in outputs):
            out.append(("empty sample 0", empty))
    return out


def _second_order(variants):
    return [v for v in variants if not v[0].startswith("sample ") or int(v[0].split()[1]) < SECOND_ORDER_SAMPLES]


def _worst(fn, inputs):
    """The worst element of the backward Jacobian against central finite differences, in words."""
    try:
        analytical = torch.autograd.functional.jacobian(lambda *x: _flat_out(fn(*x)), inputs)
        worst = (0.0, "")
        for k, x in enumerate(inputs):
            flat = x.detach().reshape(-1)
            for i in range(min(flat.numel(), 64)):
                def at(delta):
                    perturbed = [t.detach().clone() for t in inputs]
                    perturbed[k].view(-1)[i] += delta
                    return _flat_out(fn(*perturbed)).detach()
                numerical = (at(1e-6) - at(-1e-6)) / 2e-6
                a = analytical[k].reshape(numerical.numel(), -1)[:, i]
                diff = (a - numerical).abs().max().item()
                if diff > worst[0]:
                    j = int((a - numerical).abs().argmax())
                    worst = (diff, f"worst element: d out[{j}] / d input {k}[{i}]: analytical {a[j].item():.6g}, "
                                   f"numerical {numerical[j].item():.6g}")
        return worst[1] or "no element differs by more than 0"
    except Exception as exc:  # noqa: BLE001 - the worst element is for the reader; say why it is missing
        return f"worst element not computed ({type(exc).__name__})"


def _flat_out(out):
    tensors = [t for t in opdb.tensors(out) if t.is_floating_point() or t.is_complex()]
    return torch.cat([torch.view_as_real(t.resolve_conj()).reshape(-1) if t.is_complex() else t.reshape(-1) for t in tensors])


def _check(obs, name, runs):
    """Record one check over its (label, callable) runs: holds, how many samples, the first failure."""
    count, failure = 0, None
    for label, run in runs:
        count += 1
        try:
            ok = run()
        except Exception as exc:  # noqa: BLE001 - a failing check is a fact, named for the reader
            ok, why = False, f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}"
        else:
            why = "returned False"
        if not ok and failure is None:
            failure = f"{label}: {why}"
    obs.fact(f"{name}.holds", failure is None)
    obs.fact(f"{name}.examples", count)
    obs.fact(f"{name}.falsifying", failure)


def _backward_runs(op, variants):
    for label, sample in variants:
        fn, inputs = _recompose(op, sample)
        if inputs:
            def run(fn=fn, inputs=inputs, label=label, sample=sample):
                try:
                    return torch.autograd.gradcheck(fn, inputs, fast_mode=True, check_grad_dtypes=True, nondet_tol=op.gradcheck_nondet_tol,
                                                    check_undefined_grad=True, check_batched_grad=False)
                except Exception as exc:
                    raise type(exc)(f"{_describe(sample)}; {str(exc).strip().splitlines()[0]}; "
                                    f"{_worst(fn, inputs)}") from None
            yield label, run


def _forward_runs(op, variants):
    for label, sample in variants:
        fn, inputs = _recompose(op, sample)
        if inputs:
            yield label, lambda fn=fn, inputs=inputs, sample=sample: _annotated(sample, lambda: torch.autograd.gradcheck(
                fn, inputs, fast_mode=True, check_grad_dtypes=True, check_forward_ad=True, check_backward_ad=False,
                check_undefined_grad=False, check_batched_grad=False, nondet_tol=op.gradcheck_nondet_tol))


def _gradgrad_runs(op, variants, forward_over_reverse):
    for label, sample in variants:
        fn, inputs = _recompose(op, sample)
        if inputs:
            kwargs = dict(check_fwd_over_rev=True, check_rev_over_rev=False,
                          check_undefined_grad=False) if forward_over_reverse else {}
            yield label, lambda fn=fn, inputs=inputs, sample=sample, kwargs=kwargs: _annotated(
                sample, lambda: torch.autograd.gradgradcheck(fn, inputs, fast_mode=True, check_grad_dtypes=True, check_batched_grad=False,
                                                              nondet_tol=op.gradcheck_nondet_tol, **kwargs))


def _annotated(sample, check):
    try:
        return check()
    except Exception as exc:
        raise type(exc)(f"{_describe(sample)}; {str(exc).strip().splitlines()[0]}") from None


#: Each check as torch's own gradient tests name it, (class, test). What the OpInfo declares about that test on
#: CPU is a fact (`<check>.declared`): a check declared an expected failure still runs (torch's CI runs it too,
#: and `holds` says whether it still fails); one declared skipped does not run (torch's CI never runs it: it may
#: be slow, hang or crash), and the declaration with its reason is the fact.
TORCH_TESTS = {
    "gradcheck": (("TestBwdGradients", "test_fn_grad"), ("TestGradients", "test_fn_grad")),
    "forward": (("TestFwdGradients", "test_forward_mode_AD"), ("TestGradients", "test_forward_mode_AD")),
    "gradgradcheck": (("TestBwdGradients", "test_fn_gradgrad"), ("TestGradients", "test_fn_gradgrad")),
    "fwd_over_rev": (("TestFwdGradients", "test_fn_fwgrad_bwgrad"), ("TestGradients", "test_fn_fwgrad_bwgrad")),
}


def _skipped(obs, op, check, dtype):
    """Record what the OpInfo declares about this check's torch test; whether it declares the test skipped."""
    tests = TORCH_TESTS["gradcheck" if check in ("complex", *LOW_NAMES) else check]
    declared = opdb.declared(op, tests, "cpu", dtype)
    if declared is not None:
        obs.fact(f"{check}.declared", declared)
    return declared is not None and declared.startswith("skipped")


#: The largest Jacobian (entries) jacfwd and jacrev are compared on: slice_scatter's smallest sample has 80 million.
JACOBIAN_LIMIT = 1_000_000


def _jacobians(op, variants):
    """jacfwd against jacrev on the smallest sample whose tensors are all non-empty: "agree", "differ", or "not
    computed: <error>" where torch.func cannot transform the op (a random op, an op without a batching rule);
    "not checked" where no sample has a non-empty Jacobian of at most JACOBIAN_LIMIT entries."""
    from torch.func import jacfwd, jacrev

    candidates = []
    for _, sample in variants:
        fn, inputs = _recompose(op, sample)
        outputs = _forward_works(op, sample)
        if inputs and outputs and all(t.numel() for t in (*inputs, *outputs)):
            size = sum(t.numel() for t in inputs) * sum(t.numel() for t in outputs)
            candidates.append((size, len(candidates), fn, inputs))
    size, _, fn, inputs = min(candidates, key=lambda c: c[:2], default=(None, 0, None, ()))
    if size is None or size > JACOBIAN_LIMIT:
        return "not checked"
    argnums = tuple(range(len(inputs)))
    single = lambda *x: _flat_out(fn(*x))  # noqa: E731 - one flat output, so the two Jacobians line up
    try:
        forward = jacfwd(single, argnums=argnums)(*[t.detach() for t in inputs])
        reverse = jacrev(single, argnums=argnums)(*[t.detach() for t in inputs])
    except Exception as exc:  # noqa: BLE001 - torch.func's limits are facts too, named by their error
        return f"not computed: {type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}"
    agree = all(torch.allclose(f, r, rtol=1e-7, atol=1e-7) for f, r in zip(forward, reverse))
    return "agree" if agree else "differ"


#: Ops whose checks legitimately take longer than the default per-probe limit on some release, with their own
#: limit in seconds: on torch 2.0-2.7 ctc_loss fails gradcheck's fast mode, and torch then recomputes the whole
#: Jacobian in slow mode for its error message (~90 s on two cores).
SLOW = {"nn.functional.ctc_loss": 600}


@pytest.mark.parametrize("op_id", [pytest.param(i, marks=pytest.mark.timeout(SLOW[i], method="signal")) if i in SLOW
                                   else i for i in OP_IDS], ids=OP_IDS)
def test_gradients_are_right(obs, op_id):
    """gradcheck, forward-mode gradcheck, gradgradcheck, forward-over-reverse and jacfwd == jacrev hold on the float64 samples of every check the OpInfo claims and does not declare failing."""
    op = opdb.get(op_id)
    obs.fact("claims.value", {"supports_autograd": bool(op.supports_autograd),
                              "supports_forward_ad": bool(op.supports_forward_ad),
                              "supports_gradgrad": bool(op.supports_gradgrad),
                              "supports_fwgrad_bwgrad": bool(op.supports_fwgrad_bwgrad)})
    if not (op.supports_autograd or op.supports_forward_ad) or torch.float64 not in op.supported_backward_dtypes("cpu"):
        return
    variants = _variants(op, torch.float64, op_id)
    f64 = torch.float64
    if op.supports_autograd and not _skipped(obs, op, "gradcheck", f64):
        _check(obs, "gradcheck", _backward_runs(op, variants))
    if op.supports_forward_ad and not _skipped(obs, op, "forward", f64):
        _check(obs, "forward", _forward_runs(op, variants))
    if op.supports_gradgrad and not _skipped(obs, op, "gradgradcheck", f64):
        _check(obs, "gradgradcheck", _gradgrad_runs(op, _second_order(variants), forward_over_reverse=False))
    if op.supports_fwgrad_bwgrad and not _skipped(obs, op, "fwd_over_rev", f64):
        _check(obs, "fwd_over_rev", _gradgrad_runs(op, _second_order(variants), forward_over_reverse=True))
    if op.supports_forward_ad and op.supports_autograd:
        obs.fact("jacobians.value", _jacobians(op, variants))
    if torch.complex128 in op.supported_backward_dtypes("cpu") and op.supports_autograd \
            and not _skipped(obs, op, "complex", torch.complex128):
        _check(obs, "complex", _backward_runs(op, _variants(op, torch.complex128, op_id)[:1]))


def _cast(sample, dtype):
    """The sample with its floating-point tensors in ``dtype`` (leaves again, requiring grad as before)."""
    return sample.transform(lambda t: t.detach().to(dtype).requires_grad_(t.requires_grad)
                            if isinstance(t, torch.Tensor) and t.is_floating_point() else t)


def _grads(op, sample):
    """The gradients of a fixed projection of the op's floating outputs (not a plain sum, whose gradient can
    vanish) with respect to the sample's tensors that require grad, by ``backward`` into ``.grad``."""
    fn, inputs = _recompose(op, sample)
    for t in inputs:
        t.grad = None  # the sample's leaves are reused: start from no gradient, not an accumulated one
    out = _flat_out(fn(*inputs))
    out.backward(torch.linspace(-1, 1, out.numel(), dtype=out.dtype).reshape(out.shape))
    return [t.grad for t in inputs]


def _agrees(op, sample, dtype):
    rtol, atol = LOW_PRECISION[dtype]
    low_sample = _cast(sample, dtype)
    # The reference is the float64 gradient at the same point: the inputs rounded to ``dtype`` first (at the
    # original float64 inputs, sin's gradient at x = 9 already moves by 2% when x is rounded to bfloat16).
    reference = _grads(op, _cast(low_sample, torch.float64))
    low = _grads(op, low_sample)
    for k, (g64, g) in enumerate(zip(reference, low)):
        if g64 is None or g is None:
            if (g64 is None) != (g is None):
                raise AssertionError(f"input {k}: gradient {'None' if g is None else 'present'} in {dtype}, "
                                     f"{'None' if g64 is None else 'present'} in float64")
            continue
        if g.dtype != dtype:
            raise AssertionError(f"input {k}: gradient is {g.dtype}, its input is {dtype}")
        scale = max(1.0, g64[g64.isfinite()].abs().max().item()) if g64.isfinite().any() else 1.0
        expected = g64.to(dtype).double()
        error = torch.where(g.double() == expected, 0.0, (g.double() - expected).abs())  # inf == inf agrees
        limit = atol * scale + rtol * expected.abs()
        if error.numel() and not bool((error <= limit).all()):
            worst = int((error - limit).argmax())
            raise AssertionError(f"input {k}: worst element [{worst}]: {g.reshape(-1)[worst].item():.6g} in {dtype}, "
                                 f"{g64.reshape(-1)[worst].item():.6g} in float64 (rtol {rtol}, atol {atol} x {scale:.3g})")
    return True


def _layouts(op, sample):
    """Whether ``.grad`` keeps the strides of a permuted and of a channels_last leaf (AccumulateGrad's layout
    contract: a dense leaf's .grad has the leaf's strides), for the sample's first input."""
    first = sample.input
    if not (isinstance(first, torch.Tensor) and first.requires_grad and first.layout == torch.strided
            and first.dim() >= 2 and first.numel() > 1):
        return None
    leaves = {"permuted": first.detach().transpose(0, 1).contiguous().transpose(0, 1)}
    if first.dim() == 4:
        leaves["channels_last"] = first.detach().contiguous(memory_format=torch.channels_last)
    kept = {}
    for name, leaf in leaves.items():
        leaf.requires_grad_(True)
        swapped = sample.transform(lambda t, leaf=leaf: leaf if t is first else t)
        try:
            _grads(op, swapped)
        except Exception:  # noqa: BLE001 - an op that does not take this layout: nothing to say about it
            kept[name] = "not accepted"
            continue
        kept[name] = "no gradient" if leaf.grad is None else _same_layout(leaf.grad, leaf)
    return kept


def _same_layout(grad, leaf):
    """Strides equal where the size is not 1 (a size-1 dimension's stride is arbitrary), as the contract reads."""
    return all(g == s for g, s, n in zip(grad.stride(), leaf.stride(), leaf.shape) if n != 1)


@pytest.mark.parametrize("op_id", OP_IDS, ids=OP_IDS)
def test_low_precision_gradients(obs, op_id):
    """The gradient in float32, bfloat16 and float16 agrees with the float64 gradient cast down and has the input's dtype; .grad keeps a permuted or channels_last leaf's strides."""
    op = opdb.get(op_id)
    if not op.supports_autograd or torch.float64 not in op.supported_backward_dtypes("cpu"):
        return
    samples = [s for s in itertools.islice(op.sample_inputs_func(op, "cpu", torch.float64, True), 1)]
    if not samples or _forward_works(op, samples[0]) is None:
        return
    supported = op.supported_backward_dtypes("cpu")
    for dtype in LOW_PRECISION:
        if dtype in supported and not _skipped(obs, op, str(dtype).removeprefix("torch."), dtype):
            _check(obs, str(dtype).removeprefix("torch."), [("sample 0", lambda dtype=dtype: _agrees(op, samples[0], dtype))])
    fresh = next(iter(op.sample_inputs_func(op, "cpu", torch.float64, True)))
    layouts = _layouts(op, fresh)
    if layouts is not None:
        obs.fact("layout.value", layouts)


@pytest.mark.parametrize("case", sorted(CRASHES), ids=[f"{op}-{variant.replace(' ', '-')}" for op, variant in sorted(CRASHES)])
def test_known_crash(obs, case):
    """A gradient computation that crashed the process on some release, run in a subprocess: how the process ends."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", f"import torch\n{CRASHES[case]}\n"], capture_output=True, timeout=120)
    obs.fact("process.value", "exited 0" if done.returncode == 0 else
             f"killed by signal {-done.returncode}" if done.returncode < 0 else f"exited {done.returncode}")
    if done.returncode > 0:  # a Python exception: its last line says which
        obs.fact("process.message", done.stderr.decode(errors="replace").strip().splitlines()[-1])
