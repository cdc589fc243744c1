"""torch.func transforms and their misuse: grad/grad_and_value (argnums, has_aux, output checks), vjp, jvp, jacrev,
jacfwd, hessian, vmap (in_dims/out_dims, randomness, data-dependent ops, missing batching rules), functional_call,
linearize, and how the transforms meet torch.autograd (backward inside grad, grad modes)."""

import inspect
import warnings

import pytest
import torch
import torch.autograd.forward_ad as fwAD

from autograd_conformance.dimensions import GRAD_MODES
from autograd_conformance.observe import require

pytest.importorskip("torch.func", reason="torch.func is not available in this torch")

# The first make_dual in a process imports torch._decomp.decompositions_for_jvp (which warns about
# torch.jit.script on some releases) and the first torch.func transform imports torch._dynamo and its
# dependencies; do both here, silently, so that no probe's recorded warnings depend on test order.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    with fwAD.dual_level():
        fwAD.make_dual(torch.zeros(1), torch.zeros(1))
    torch.func.grad(lambda a: a.sum())(torch.zeros(1))


def _keyword(fn, name):
    """Skip the probe when ``fn`` (a torch.func API) has no parameter ``name`` in this torch."""
    if name not in inspect.signature(fn).parameters:
        pytest.skip(f"{fn.__name__} has no {name!r} argument in torch {torch.__version__}")


def _x(device):
    return torch.tensor([0.5, 1.0, 2.0], device=device, dtype=torch.float64)


def _ones(device, n=3):
    return torch.ones(n, device=device, dtype=torch.float64)


def _rows(device):
    return torch.arange(6.0, device=device, dtype=torch.float64).reshape(2, 3)


def _cube_sum(a):
    return (a ** 3).sum()


def _record(obs, name, value):
    """Record a transform's result: a tensor as ``name.values``, a tuple/dict element-wise as name_<i|key>."""
    if isinstance(value, torch.Tensor):
        obs.tensor(name, value)
    elif isinstance(value, (tuple, list)):
        obs.fact(f"{name}_length.value", len(value))
        for i, item in enumerate(value):
            _record(obs, f"{name}_{i}", item)
    elif isinstance(value, dict):
        obs.fact(f"{name}_keys.value", sorted(value))
        for key, item in sorted(value.items()):
            _record(obs, f"{name}_{key}", item)
    else:
        obs.fact(f"{name}.value", value if isinstance(value, (int, float, str, bool)) else type(value).__name__)


# grad
GRAD_OUTPUTS = [
    pytest.param(lambda a: a * 2, id="three-element-vector"),
    pytest.param(lambda a: a.sum().reshape(1), id="one-element-vector"),
    pytest.param(lambda a: a.sum(), id="float64-scalar"),
    pytest.param(lambda a: 3.0, id="python-float"),
    pytest.param(lambda a: (a.sum(), a.sum()), id="tuple"),
    pytest.param(lambda a: (a * 1j).sum(), id="complex-scalar"),
    pytest.param(lambda a: a.sum().long(), id="int64-scalar"),
    pytest.param(lambda a: torch.tensor(1.0, device=a.device, dtype=a.dtype), id="independent-of-input"),
]


@pytest.mark.parametrize("fn", GRAD_OUTPUTS)
def test_grad_output_kinds(obs, device, fn):
    """grad(f) needs f to return a real scalar Tensor: what it does for other outputs."""
    out = obs.outcome("grad", lambda: torch.func.grad(fn)(_x(device)))
    if out is not None:
        obs.tensor("grad", out)


HAS_AUX_OUTPUTS = [
    pytest.param(lambda a: (_cube_sum(a), a.max()), id="tensor-aux"),
    pytest.param(lambda a: (_cube_sum(a), {"m": a.max(), "t": (a.min(),)}), id="pytree-aux"),
    pytest.param(lambda a: _cube_sum(a), id="no-tuple"),
    pytest.param(lambda a: (_cube_sum(a), a, a), id="three-tuple"),
    pytest.param(lambda a: (_cube_sum(a), 1), id="int-aux"),
    pytest.param(lambda a: (_cube_sum(a), "aux"), id="str-aux"),
    pytest.param(lambda a: (_cube_sum(a), None), id="None-aux"),
]


@pytest.mark.parametrize("fn", HAS_AUX_OUTPUTS)
def test_grad_has_aux_structure(obs, device, fn):
    """grad(has_aux=True) needs (output, aux) with aux a pytree of tensors: accepted and refused structures."""
    out = obs.outcome("grad", lambda: torch.func.grad(fn, has_aux=True)(_x(device)))
    if out is not None:
        grad, aux = out
        obs.tensor("grad", grad)
        _record(obs, "aux", aux)


ARGNUMS = [
    pytest.param(0, id="argnums=0"),
    pytest.param(1, id="argnums=1"),
    pytest.param(-1, id="argnums=-1"),
    pytest.param((0, 1), id="argnums=(0,1)"),
    pytest.param((1,), id="argnums=(1,)"),
    pytest.param(2, id="argnums=2-out-of-range"),
    pytest.param(-3, id="argnums=-3-out-of-range"),
    pytest.param((), id="argnums=()"),
    pytest.param((0, 0), id="argnums=(0,0)-duplicate"),
    pytest.param([0, 1], id="argnums-list"),
    pytest.param(0.0, id="argnums-float"),
]


@pytest.mark.parametrize("argnums", ARGNUMS)
def test_grad_argnums(obs, device, argnums):
    """grad(f, argnums) of f(a, b) = sum(a*b): which arguments it differentiates, and which argnums it refuses."""
    out = obs.outcome("grad", lambda: torch.func.grad(lambda a, b: (a * b).sum(), argnums=argnums)(
        _x(device), 2 * _x(device)))
    if out is not None:
        _record(obs, "grad", out)


def test_grad_without_positional_inputs(obs, device):
    """grad of a function called with no positional arguments raises (argnum 0 does not exist)."""
    obs.outcome("grad", lambda: torch.func.grad(lambda: torch.tensor(1.0, device=device))())


@pytest.mark.parametrize("arg", [pytest.param(lambda d: 3.0, id="python-float"),
                                 pytest.param(lambda d: torch.ones(3, device=d, dtype=torch.int64), id="int64-tensor"),
                                 pytest.param(lambda d: torch.ones(3, device=d, dtype=torch.float32), id="float32"),
                                 pytest.param(lambda d: {"a": _x(d), "b": 2 * _x(d)}, id="dict")])
def test_grad_input_kinds(obs, device, arg):
    """grad differentiates floating tensors and pytrees of them; a Python number or an integer tensor raises."""
    def fn(a):
        if isinstance(a, dict):
            return (a["a"] * a["b"]).sum()
        if isinstance(a, torch.Tensor):
            return (a * 2).sum()
        return torch.tensor(a) * 2

    out = obs.outcome("grad", lambda: torch.func.grad(fn)(arg(device)))
    if out is not None:
        _record(obs, "grad", out)


@pytest.mark.parametrize("has_aux", [pytest.param(False, id="plain"), pytest.param(True, id="has_aux")])
def test_grad_and_value(obs, device, has_aux):
    """grad_and_value returns (gradient, value); with has_aux the value is (output, aux)."""
    fn = (lambda a: (_cube_sum(a), a.max())) if has_aux else _cube_sum
    out = obs.outcome("grad_and_value", lambda: torch.func.grad_and_value(fn, has_aux=has_aux)(_x(device)))
    _record(obs, "result", out)


def test_grad_of_grad(obs, device):
    """grad(grad(sin)) of a scalar is -sin."""
    obs.tensor("second_derivative", torch.func.grad(torch.func.grad(torch.sin))(
        torch.tensor(1.0, device=device, dtype=torch.float64)))


def test_grad_of_input_requiring_grad(obs, device):
    """grad(f)(x) for x that requires grad: the result is differentiable w.r.t. x when grad mode is on."""
    x = _x(device).requires_grad_()
    g = torch.func.grad(_cube_sum)(x)
    obs.facts_of("g", g, "requires_grad", "is_leaf")
    obs.outcome("backward", lambda: g.sum().backward())
    obs.facts_of("x", x, "grad")


@pytest.mark.parametrize("mode", GRAD_MODES)
def test_grad_under_grad_mode(obs, device, mode):
    """torch.func.grad computes gradients under every outer grad mode; does its result keep a graph to x?"""
    x = _x(device).requires_grad_()
    g = obs.outcome("grad", lambda: mode(lambda: torch.func.grad(_cube_sum)(x)))
    if g is not None:
        obs.tensor("g", g)
        obs.facts_of("g", g, "requires_grad")


def test_no_grad_inside_grad(obs, device):
    """torch.no_grad inside the function is respected by grad: the no_grad part counts as a constant."""
    def fn(a):
        with torch.no_grad():
            c = a ** 2
        return (c * a).sum()

    obs.tensor("grad", torch.func.grad(fn)(_x(device)))


def test_backward_inside_grad(obs, device):
    """Tensor.backward() called inside torch.func.grad raises; a captured tensor's .grad stays None."""
    captured = _x(device).requires_grad_()

    def fn(a):
        y = (a * captured).sum()
        y.backward()
        return y

    obs.outcome("grad", lambda: torch.func.grad(fn)(_x(device)))
    obs.facts_of("captured", captured, "grad")


@pytest.mark.parametrize("create_graph", [pytest.param(False, id="create_graph-False"),
                                          pytest.param(True, id="create_graph-True")])
def test_autograd_grad_inside_grad(obs, device, create_graph):
    """torch.autograd.grad inside torch.func.grad works; without create_graph its result is a constant for grad."""
    def fn(a):
        (g,) = torch.autograd.grad((a ** 2).sum(), a, create_graph=create_graph)
        return g.sum()

    out = obs.outcome("grad", lambda: torch.func.grad(fn)(_x(device)))
    if out is not None:
        obs.tensor("grad", out)


# vjp
def test_vjp_has_aux(obs, device):
    """vjp(has_aux=True) returns (output, vjp_fn, aux); vjp_fn may be called twice."""
    out, vjp_fn, aux = torch.func.vjp(lambda a: (a.sin(), a.max()), _x(device), has_aux=True)
    obs.tensor("output", out)
    obs.tensor("aux", aux)
    _record(obs, "first_call", vjp_fn(_ones(device)))
    _record(obs, "second_call", obs.outcome("second_call", lambda: vjp_fn(_ones(device))))


VJP_MISUSES = [
    pytest.param(lambda d: torch.func.vjp(torch.sin, _x(d), has_aux=True), id="has_aux-without-tuple"),
    pytest.param(lambda d: torch.func.vjp(lambda a: 3.0, _x(d)), id="python-float-output"),
    pytest.param(lambda d: torch.func.vjp(torch.sin, _x(d))[1](_ones(d, 2)), id="cotangent-wrong-shape"),
    pytest.param(lambda d: torch.func.vjp(torch.sin, _x(d))[1]((_ones(d), _ones(d))), id="cotangent-wrong-structure"),
    pytest.param(lambda d: torch.func.vjp(torch.sin, _x(d))[1](torch.ones(3, device=d)), id="cotangent-float32"),
]


@pytest.mark.parametrize("misuse", VJP_MISUSES)
def test_vjp_misuse(obs, device, misuse):
    """vjp with a bad has_aux output, a non-tensor output, or a cotangent of the wrong shape/structure/dtype."""
    out = obs.outcome("vjp", lambda: misuse(device))
    if out is not None:
        _record(obs, "result", out)


# jvp
JVP_CALLS = [
    pytest.param(lambda d: torch.func.jvp(torch.sin, (_x(d),), (_ones(d),)), id="tuples"),
    pytest.param(lambda d: torch.func.jvp(torch.sin, (_x(d),), _ones(d)), id="tangents-not-a-tuple"),
    pytest.param(lambda d: torch.func.jvp(torch.sin, _x(d), (_ones(d),)), id="primals-not-a-tuple"),
    pytest.param(lambda d: torch.func.jvp(torch.sin, [_x(d)], [_ones(d)]), id="lists"),
    pytest.param(lambda d: torch.func.jvp(torch.sin, (_x(d),), (_ones(d), _ones(d))), id="more-tangents"),
    pytest.param(lambda d: torch.func.jvp(torch.sin, (), ()), id="empty"),
    pytest.param(lambda d: torch.func.jvp(lambda p: p["a"].sin(), ({"a": _x(d)},), ({"a": _ones(d)},)),
                 id="dict-primal"),
    pytest.param(lambda d: torch.func.jvp(lambda p: p["a"].sin(), ({"a": _x(d)},), ({"b": _ones(d)},)),
                 id="dict-keys-differ"),
    pytest.param(lambda d: torch.func.jvp(torch.sin, (_x(d),), (_ones(d, 2),)), id="tangent-wrong-shape"),
    pytest.param(lambda d: torch.func.jvp(torch.sin, (_x(d),), (torch.ones(3, device=d),)), id="tangent-float32"),
    pytest.param(lambda d: torch.func.jvp(torch.sin, (_x(d),), (torch.ones(3, device=d, dtype=torch.int64),)),
                 id="tangent-int64"),
    pytest.param(lambda d: torch.func.jvp(lambda a: 3.0, (_x(d),), (_ones(d),)), id="python-float-output"),
    pytest.param(lambda d: torch.func.jvp(lambda a: (a.sin(), a.max()), (_x(d),), (_ones(d),), has_aux=True),
                 id="has_aux"),
    pytest.param(lambda d: torch.func.jvp(torch.sin, (_x(d),), (_ones(d),), has_aux=True),
                 id="has_aux-without-tuple"),
]


@pytest.mark.parametrize("call", JVP_CALLS)
def test_jvp_structure(obs, device, call):
    """jvp(f, primals, tangents) needs primals as a tuple and tangents of the same pytree structure and shapes."""
    out = obs.outcome("jvp", lambda: call(device))
    if out is not None:
        _record(obs, "result", out)


@pytest.mark.parametrize("fn", [pytest.param(torch.sin, id="dependent-output"),
                                pytest.param(lambda a: torch.ones(3, dtype=torch.float64, device=a.device),
                                             id="independent-output")])
def test_jvp_strict(obs, device, fn):
    """jvp(strict=True) refuses a function whose output does not depend on its inputs."""
    _keyword(torch.func.jvp, "strict")
    out = obs.outcome("jvp", lambda: torch.func.jvp(fn, (_x(device),), (_ones(device),), strict=True))
    if out is not None:
        _record(obs, "result", out)


def test_jvp_inside_dual_level(obs, device):
    """torch.func.jvp called inside an open fwAD.dual_level(): nested forward AD."""
    with fwAD.dual_level():
        out = obs.outcome("jvp", lambda: torch.func.jvp(torch.sin, (_x(device),), (_ones(device),)))
    if out is not None:
        _record(obs, "result", out)


class _CtxForward(torch.autograd.Function):
    """Old-style custom Function: forward takes ctx, no setup_context, no jvp."""

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return grad * 2


class _SetupContextNoJvp(torch.autograd.Function):
    """Custom Function with setup_context (usable by torch.func) and a backward but no jvp."""

    @staticmethod
    def forward(x):
        return x * 2

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad):
        return grad * 2


class _SetupContextWithJvp(_SetupContextNoJvp):
    @staticmethod
    def jvp(ctx, x_t):
        return x_t * 2


CUSTOM_TRANSFORMS = [
    pytest.param(lambda fn, d: torch.func.jvp(fn.apply, (_x(d),), (_ones(d),)), id="jvp"),
    pytest.param(lambda fn, d: torch.func.grad(lambda a: fn.apply(a).sum())(_x(d)), id="grad"),
    pytest.param(lambda fn, d: torch.func.vmap(fn.apply)(_rows(d)), id="vmap"),
]


@pytest.mark.parametrize("transform", CUSTOM_TRANSFORMS)
@pytest.mark.parametrize("fn", [pytest.param(_CtxForward, id="forward-with-ctx"),
                                pytest.param(_SetupContextNoJvp, id="setup_context-without-jvp"),
                                pytest.param(_SetupContextWithJvp, id="setup_context-with-jvp")])
def test_custom_function_under_transform(obs, device, fn, transform):
    """torch.func transforms need custom Functions with setup_context (and jvp for jvp); vmap needs a batching rule."""
    out = obs.outcome("transform", lambda: transform(fn, device))
    if out is not None:
        _record(obs, "result", out)


# jacrev / jacfwd / hessian
JACOBIAN_CALLS = [
    pytest.param(lambda J, d: J(lambda a, b: a * b, argnums=(0, 1))(_x(d), 2 * _x(d)), id="argnums-tuple"),
    pytest.param(lambda J, d: J(lambda a, b: a * b, argnums=1)(_x(d), 2 * _x(d)), id="argnums-1"),
    pytest.param(lambda J, d: J(lambda a, b: a * b, argnums=2)(_x(d), 2 * _x(d)), id="argnums-out-of-range"),
    pytest.param(lambda J, d: J(lambda a: (a * a, a.max()), has_aux=True)(_x(d)), id="has_aux"),
    pytest.param(lambda J, d: J(lambda a: a * a, has_aux=True)(_x(d)), id="has_aux-without-tuple"),
    pytest.param(lambda J, d: J(lambda a: 3.0)(_x(d)), id="python-float-output"),
    pytest.param(lambda J, d: J(lambda a: a * 2)(torch.ones(3, device=d, dtype=torch.int64)), id="int64-input"),
    pytest.param(lambda J, d: J(lambda a: {"sq": a * a, "sum": a.sum()})(_x(d)), id="dict-output"),
]


@pytest.mark.parametrize("transform", [pytest.param("jacrev", id="jacrev"), pytest.param("jacfwd", id="jacfwd")])
@pytest.mark.parametrize("call", JACOBIAN_CALLS)
def test_jacobian_transforms(obs, device, transform, call):
    """jacrev and jacfwd with argnums, has_aux and bad outputs/inputs: results and errors."""
    jac = getattr(torch.func, transform)
    out = obs.outcome("jacobian", lambda: call(jac, device))
    if out is not None:
        _record(obs, "result", out)


@pytest.mark.parametrize("chunk_size", [pytest.param(1, id="chunk_size=1"), pytest.param(2, id="chunk_size=2"),
                                        pytest.param(0, id="chunk_size=0"), pytest.param(-1, id="chunk_size=-1")])
def test_jacrev_chunk_size(obs, device, chunk_size):
    """jacrev(chunk_size=n) gives the same Jacobian for n >= 1 and refuses n <= 0."""
    _keyword(torch.func.jacrev, "chunk_size")
    out = obs.outcome("jacrev", lambda: torch.func.jacrev(lambda a: a * a, chunk_size=chunk_size)(_x(device)))
    if out is not None:
        obs.tensor("jacobian", out)


@pytest.mark.parametrize("randomness", [pytest.param(None, id="default"), pytest.param("error", id="error"),
                                        pytest.param("different", id="different"), pytest.param("same", id="same")])
def test_jacfwd_randomness(obs, device, randomness):
    """jacfwd of a function calling torch.rand: refused by default and with randomness='error'."""
    kwargs = {}
    if randomness is not None:
        _keyword(torch.func.jacfwd, "randomness")
        kwargs["randomness"] = randomness

    def fn(a):
        return a * torch.rand(3, device=a.device, dtype=a.dtype)

    out = obs.outcome("jacfwd", lambda: torch.func.jacfwd(fn, **kwargs)(_x(device)))
    if out is not None:
        obs.facts_of("jacobian", out, "shape")


HESSIAN_CALLS = [
    pytest.param(lambda d: torch.func.hessian(lambda a: a.sin().sum())(_x(d)), id="sum-sin"),
    pytest.param(lambda d: torch.func.hessian(lambda a, b: (a * a * b).sum(), argnums=1)(_x(d), 2 * _x(d)),
                 id="argnums-1-linear"),
    pytest.param(lambda d: torch.func.hessian(lambda a, b: (a * a * b).sum(), argnums=(0, 1))(_x(d), 2 * _x(d)),
                 id="argnums-tuple"),
    pytest.param(lambda d: torch.func.hessian(lambda a: a ** 3)(_x(d)), id="vector-output"),
    pytest.param(lambda d: torch.func.hessian(lambda a: 3.0)(_x(d)), id="python-float-output"),
]


@pytest.mark.parametrize("call", HESSIAN_CALLS)
def test_hessian(obs, device, call):
    """hessian = jacfwd(jacrev(f)): values, argnums (nested tuple result), a vector output (3-d result), errors."""
    out = obs.outcome("hessian", lambda: call(device))
    if out is not None:
        _record(obs, "result", out)


# vmap
VMAP_IN_DIMS = [
    pytest.param(lambda d: torch.func.vmap(lambda a: a.sum(), in_dims=1)(_rows(d)), id="in_dims-1"),
    pytest.param(lambda d: torch.func.vmap(lambda a: a.sum(), in_dims=-1)(_rows(d)), id="in_dims-minus-1"),
    pytest.param(lambda d: torch.func.vmap(lambda a: a, in_dims=2)(_rows(d)), id="in_dims-out-of-range"),
    pytest.param(lambda d: torch.func.vmap(lambda a, b: a + b, in_dims=(0,))(_rows(d), _rows(d)),
                 id="in_dims-too-short"),
    pytest.param(lambda d: torch.func.vmap(lambda a, b: a + b, in_dims=[0, 0])(_rows(d), _rows(d)),
                 id="in_dims-list"),
    pytest.param(lambda d: torch.func.vmap(lambda a: a, in_dims=0.5)(_rows(d)), id="in_dims-float"),
    pytest.param(lambda d: torch.func.vmap(lambda a: a, in_dims=None)(_rows(d)), id="in_dims-None"),
    pytest.param(lambda d: torch.func.vmap(lambda a, n: a * n, in_dims=(0, 0))(_rows(d), 2.0),
                 id="in_dim-for-python-float"),
    pytest.param(lambda d: torch.func.vmap(lambda a, n: a * n, in_dims=(0, None))(_rows(d), 2.0),
                 id="None-for-python-float"),
    pytest.param(lambda d: torch.func.vmap(lambda a, b: a + b)(_rows(d), torch.ones(3, 3, device=d,
                                                                                     dtype=torch.float64)),
                 id="batch-sizes-differ"),
    pytest.param(lambda d: torch.func.vmap(lambda a: a)(torch.tensor(1.0, device=d)), id="0-d-input"),
    pytest.param(lambda d: torch.func.vmap(lambda: torch.ones(2, device=d))(), id="no-inputs"),
]


@pytest.mark.parametrize("call", VMAP_IN_DIMS)
def test_vmap_in_dims(obs, device, call):
    """vmap in_dims: accepted forms and the errors for out-of-range, mismatched or non-tensor mapped inputs."""
    out = obs.outcome("vmap", lambda: call(device))
    if out is not None:
        _record(obs, "result", out)


VMAP_OUT_DIMS = [
    pytest.param(lambda d: torch.func.vmap(lambda a: a * 2, out_dims=1)(_rows(d)), id="out_dims-1"),
    pytest.param(lambda d: torch.func.vmap(lambda a: a * 2, out_dims=2)(_rows(d)), id="out_dims-out-of-range"),
    pytest.param(lambda d: torch.func.vmap(lambda a: (a, a), out_dims=(0, 0, 0))(_rows(d)),
                 id="out_dims-too-long"),
    pytest.param(lambda d: torch.func.vmap(lambda a: a, out_dims=0.5)(_rows(d)), id="out_dims-float"),
    pytest.param(lambda d: torch.func.vmap(lambda a: a, out_dims=None)(_rows(d)), id="None-for-batched-output"),
    pytest.param(lambda d: torch.func.vmap(lambda a: torch.ones(2, device=d), out_dims=None)(_rows(d)),
                 id="None-for-unbatched-output"),
    pytest.param(lambda d: torch.func.vmap(lambda a: torch.ones(2, device=d))(_rows(d)),
                 id="out_dims-0-unbatched-output"),
    pytest.param(lambda d: torch.func.vmap(lambda a: 3.0)(_rows(d)), id="python-float-output"),
]


@pytest.mark.parametrize("call", VMAP_OUT_DIMS)
def test_vmap_out_dims(obs, device, call):
    """vmap out_dims: where the batch dimension goes, and the errors for bad out_dims or non-tensor outputs."""
    out = obs.outcome("vmap", lambda: call(device))
    if out is not None:
        _record(obs, "result", out)


RANDOM_CALLS = [
    pytest.param(lambda a: a * 0 + torch.rand(16, device=a.device, dtype=a.dtype), id="rand"),
    pytest.param(lambda a: torch.rand_like(a), id="rand_like"),
    pytest.param(lambda a: torch.nn.functional.dropout(torch.ones_like(a), 0.5), id="dropout"),
]


@pytest.mark.parametrize("randomness", [pytest.param(None, id="default"), pytest.param("error", id="error"),
                                        pytest.param("different", id="different"), pytest.param("same", id="same"),
                                        pytest.param("sometimes", id="invalid")])
@pytest.mark.parametrize("fn", RANDOM_CALLS)
def test_vmap_randomness(obs, device, fn, randomness):
    """vmap randomness: 'error' (the default) refuses random ops; 'different' gives distinct rows, 'same' equal rows."""
    kwargs = {} if randomness is None else {"randomness": randomness}
    out = obs.outcome("vmap", lambda: torch.func.vmap(fn, **kwargs)(torch.zeros(4, 16, device=device,
                                                                                 dtype=torch.float64)))
    if out is not None:
        obs.facts_of("result", out, "shape")
        obs.fact("rows_equal.value", bool((out == out[0]).all()))


DATA_DEPENDENT = [
    pytest.param(lambda a: a.sum().item(), id="item"),
    pytest.param(lambda a: a.tolist(), id="tolist"),
    pytest.param(lambda a: a if a.sum() > 0 else -a, id="if-on-tensor"),
    pytest.param(lambda a: a.nonzero(), id="nonzero"),
    pytest.param(lambda a: torch.unique(a), id="unique"),
    pytest.param(lambda a: a[a > 1], id="boolean-mask-index"),
]


@pytest.mark.parametrize("fn", DATA_DEPENDENT)
def test_vmap_data_dependent(obs, device, fn):
    """.item(), Python control flow on a tensor and dynamic-shape ops inside vmap raise: with which texts?"""
    out = obs.outcome("vmap", lambda: torch.func.vmap(fn)(_rows(device)))
    if out is not None:
        _record(obs, "result", out)


NO_BATCHING_RULE = [
    pytest.param(lambda a: torch.histc(a, bins=3), id="histc"),
    pytest.param(lambda a: a.clone().put_(torch.tensor([0], device=a.device), torch.ones(1, device=a.device,
                                                                                          dtype=a.dtype)),
                 id="put_"),
    pytest.param(lambda a: torch.bincount(a.long()), id="bincount"),
    pytest.param(lambda a: a.nanmedian(), id="nanmedian"),
    pytest.param(lambda a: a.cummax(0).values, id="cummax"),
    pytest.param(lambda a: torch.special.zeta(a + 2, a + 1), id="special.zeta"),
]


@pytest.mark.parametrize("fn", NO_BATCHING_RULE)
def test_vmap_op_without_batching_rule(obs, device, fn):
    """Ops that may lack a batching rule: a slow-fallback performance warning, an error, or nothing."""
    out = obs.outcome("vmap", lambda: torch.func.vmap(fn)(_rows(device)))
    if out is not None:
        obs.tensor("result", out)


@pytest.mark.parametrize("chunk_size", [pytest.param(1, id="chunk_size=1"), pytest.param(0, id="chunk_size=0")])
def test_vmap_chunk_size(obs, device, chunk_size):
    """vmap(chunk_size=1) gives the same result; chunk_size=0 raises."""
    _keyword(torch.func.vmap, "chunk_size")
    out = obs.outcome("vmap", lambda: torch.func.vmap(lambda a: a * 2, chunk_size=chunk_size)(_rows(device)))
    if out is not None:
        obs.tensor("result", out)


def test_vmap_of_grad_with_aux(obs, device):
    """vmap(grad(f, has_aux=True)) gives per-row gradients and per-row aux."""
    grads, aux = torch.func.vmap(torch.func.grad(lambda a: (_cube_sum(a), a.max()), has_aux=True))(_rows(device))
    obs.tensor("grads", grads)
    obs.tensor("aux", aux)


def test_vmap_over_make_dual(obs, device):
    """fwAD.make_dual with a batched tangent inside torch.func.vmap: is there a batching rule for _make_dual?"""
    def fn(tangent):
        with fwAD.dual_level():
            return fwAD.unpack_dual(fwAD.make_dual(_x(device), tangent).sin()).tangent

    out = obs.outcome("vmap", lambda: torch.func.vmap(fn)(torch.eye(3, device=device, dtype=torch.float64)))
    if out is not None:
        obs.tensor("tangents", out)


def test_vmap_over_jvp(obs, device):
    """vmap over torch.func.jvp with a batch of tangents gives one Jacobian-vector product per tangent."""
    def fn(tangent):
        return torch.func.jvp(torch.sin, (_x(device),), (tangent,))[1]

    obs.tensor("tangents", torch.func.vmap(fn)(torch.eye(3, device=device, dtype=torch.float64)))


# functional_call
def _linear(device):
    lin = torch.nn.Linear(3, 2, device=device, dtype=torch.float64)
    with torch.no_grad():
        lin.weight.copy_(torch.arange(6.0, device=device, dtype=torch.float64).reshape(2, 3))
        lin.bias.fill_(1.0)
    return lin


def _params(device):
    return {"weight": torch.ones(2, 3, device=device, dtype=torch.float64),
            "bias": torch.zeros(2, device=device, dtype=torch.float64)}


FUNCTIONAL_CALLS = [
    pytest.param(lambda fc, m, p, x: fc(m, p, (x,)), id="all-parameters"),
    pytest.param(lambda fc, m, p, x: fc(m, p, x), id="single-tensor-args"),
    pytest.param(lambda fc, m, p, x: fc(m, p, (), {"input": x}), id="kwargs"),
    pytest.param(lambda fc, m, p, x: fc(m, {"bias": p["bias"]}, (x,)), id="bias-only"),
    pytest.param(lambda fc, m, p, x: fc(m, {**p, "extra": p["bias"]}, (x,)), id="extra-key"),
    pytest.param(lambda fc, m, p, x: fc(m, ({"weight": p["weight"]}, {"bias": p["bias"]}), (x,)),
                 id="tuple-of-dicts"),
    pytest.param(lambda fc, m, p, x: fc(m, (p, {"bias": p["bias"]}), (x,)), id="key-in-two-dicts"),
    pytest.param(lambda fc, m, p, x: fc(m, {"weight": torch.ones(3, 3, device=x.device, dtype=x.dtype)}, (x,)),
                 id="wrong-shape"),
    pytest.param(lambda fc, m, p, x: fc(m, {"weight": 1.0}, (x,)), id="python-float-value"),
]


@pytest.mark.parametrize("call", FUNCTIONAL_CALLS)
def test_functional_call(obs, device, call):
    """functional_call runs nn.Linear with the given tensors in place of its parameters; the module is unchanged."""
    fc = require("torch.func.functional_call")
    lin = _linear(device)
    out = obs.outcome("call", lambda: call(fc, lin, _params(device), _x(device)))
    if out is not None:
        obs.facts_of("output", out, "values", "requires_grad")
    obs.tensor("weight_after", lin.weight)
    obs.fact("weight_is_parameter.same", isinstance(lin.weight, torch.nn.Parameter))


@pytest.mark.parametrize("params", [pytest.param("all", id="all-parameters"),
                                    pytest.param("missing", id="missing-key"),
                                    pytest.param("extra", id="unexpected-key")])
def test_functional_call_strict(obs, device, params):
    """functional_call(strict=True) refuses missing and unexpected keys."""
    fc = require("torch.func.functional_call")
    _keyword(fc, "strict")
    p = _params(device)
    given = {"all": p, "missing": {"bias": p["bias"]}, "extra": {**p, "extra": p["bias"]}}[params]
    out = obs.outcome("call", lambda: fc(_linear(device), given, (_x(device),), strict=True))
    if out is not None:
        obs.tensor("output", out)


def test_grad_of_functional_call(obs, device):
    """grad w.r.t. a dict of parameters through functional_call returns a dict of gradients; module grads stay None."""
    fc = require("torch.func.functional_call")
    lin = _linear(device)
    grads = torch.func.grad(lambda p, x: fc(lin, p, (x,)).sum())(_params(device), _x(device))
    _record(obs, "grads", grads)
    obs.facts_of("weight", lin.weight, "grad")


def test_vmap_of_functional_call(obs, device):
    """vmap over stacked parameter dicts runs an ensemble of the same module."""
    fc = require("torch.func.functional_call")
    stacked = {k: torch.stack([v, 2 * v + 1]) for k, v in _params(device).items()}
    obs.tensor("outputs", torch.func.vmap(fc, in_dims=(None, 0, None))(_linear(device), stacked, (_x(device),)))


# linearize
LINEARIZE_TANGENTS = [
    pytest.param(lambda d: (_ones(d),), id="matching"),
    pytest.param(lambda d: (_ones(d, 2),), id="wrong-shape"),
    pytest.param(lambda d: (torch.ones(3, device=d),), id="float32"),
    pytest.param(lambda d: (_ones(d), _ones(d)), id="two-tangents"),
]


@pytest.mark.parametrize("tangents", LINEARIZE_TANGENTS)
def test_linearize(obs, device, tangents):
    """linearize(f, x) returns f(x) and a jvp function that checks its tangents' structure, shape and dtype."""
    linearize = require("torch.func.linearize")
    linearized = obs.outcome("linearize", lambda: linearize(torch.sin, _x(device)))
    if linearized is None:
        return
    out, jvp_fn = linearized
    obs.tensor("output", out)
    result = obs.outcome("jvp_fn", lambda: jvp_fn(*tangents(device)))
    if result is not None:
        obs.tensor("jvp", result)


@pytest.mark.parametrize("call", ["requires_grad_", "retain_grad", "requires_grad-setter", "backward-hook"])
@pytest.mark.parametrize("transform", ["grad", "vmap"])
def test_autograd_state_calls_inside_a_transform(obs, device, call, transform):
    """requires_grad_(), retain_grad(), setting requires_grad or register_hook on a tensor inside grad or vmap."""
    x = torch.tensor([1.0, 2.0], dtype=torch.float64, device=device)

    def fn(t):
        y = t * 2
        if call == "requires_grad_":
            y.requires_grad_()
        elif call == "retain_grad":
            y.retain_grad()
        elif call == "requires_grad-setter":
            y.requires_grad = True
        else:
            y.register_hook(lambda g: g)
        return (y * y).sum()

    if transform == "grad":
        result = obs.outcome("transform", lambda: torch.func.grad(fn)(x))
    else:
        result = obs.outcome("transform", lambda: torch.func.vmap(fn)(x.reshape(2, 1)))
    if result is not None:
        obs.tensor("result", result)
