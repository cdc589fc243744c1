"""Forward-mode AD and torch.func: dual tensors, tangents through ops, functional transforms and their errors."""

import warnings

import pytest
import torch
import torch.autograd.forward_ad as fwAD
from torch.autograd import Function

from autograd_conformance.dimensions import GRAD_MODES

func = pytest.importorskip("torch.func", reason="torch.func is not available in this torch")

# The first make_dual in a process imports torch._decomp.decompositions_for_jvp (which warns about
# torch.jit.script on some releases) and the first torch.func transform imports torch._dynamo and its
# dependencies; do both here, silently, so that no probe's recorded warnings depend on test order.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    with fwAD.dual_level():
        fwAD.make_dual(torch.zeros(1), torch.zeros(1))
    torch.func.grad(lambda a: a.sum())(torch.zeros(1))


def _primal(device):
    return torch.tensor([0.5, 1.0, 2.0], device=device, dtype=torch.float64)


TANGENT_OPS = [
    pytest.param(lambda x: x.sin(), id="sin"),
    pytest.param(lambda x: x.exp(), id="exp"),
    pytest.param(lambda x: x * x, id="mul"),
    pytest.param(lambda x: x.sum(), id="sum"),
    pytest.param(lambda x: x.view(3, 1), id="view"),
    pytest.param(lambda x: x.relu(), id="relu"),
    pytest.param(lambda x: x.outer(x), id="outer"),
    pytest.param(lambda x: torch.softmax(x, 0), id="softmax"),
    pytest.param(lambda x: x.pow(3), id="pow"),
    pytest.param(lambda x: x.cumsum(0), id="cumsum"),
]


@pytest.mark.parametrize("op", TANGENT_OPS)
def test_tangent_through_op(obs, device, op):
    """The tangent unpack_dual gives after the op, for primal [0.5, 1, 2] and tangent ones."""
    with fwAD.dual_level():
        dual = fwAD.make_dual(_primal(device), torch.ones(3, device=device, dtype=torch.float64))
        out = fwAD.unpack_dual(op(dual))
    obs.tensor("primal", out.primal)
    obs.tensor("tangent", out.tangent)


def test_unpack_dual_of_plain_tensor(obs, device):
    """unpack_dual of a tensor without a tangent gives tangent None."""
    with fwAD.dual_level():
        out = fwAD.unpack_dual(_primal(device))
    obs.fact("tangent_is_none.same", out.tangent is None)


def test_make_dual_outside_dual_level(obs, device):
    """make_dual outside a dual_level raises."""
    obs.outcome("make_dual", lambda: fwAD.make_dual(_primal(device), torch.ones(3, device=device,
                                                                                dtype=torch.float64)))


def test_make_dual_shape_mismatch(obs, device):
    """make_dual with a tangent of another shape raises."""
    with fwAD.dual_level():
        obs.outcome("make_dual", lambda: fwAD.make_dual(_primal(device), torch.ones(2, device=device,
                                                                                    dtype=torch.float64)))


NO_FORWARD_AD = [
    pytest.param(lambda x: torch.histc(x, bins=3), id="histc"),
    pytest.param(lambda x: torch.unique(x), id="unique"),
    pytest.param(lambda x: torch.special.zeta(x + 2, x + 1), id="special.zeta"),
    pytest.param(lambda x: torch.nextafter(x, x + 1), id="nextafter"),
    pytest.param(lambda x: torch.kthvalue(x, 1).values, id="kthvalue"),
    pytest.param(lambda x: torch.igamma(x, x), id="igamma"),
]


@pytest.mark.parametrize("op", NO_FORWARD_AD)
def test_op_with_or_without_forward_ad(obs, device, op):
    """Ops whose forward-mode derivative may be missing: does the op raise on a dual tensor, and with which text?"""
    with fwAD.dual_level():
        dual = fwAD.make_dual(_primal(device), torch.ones(3, device=device, dtype=torch.float64))
        out = obs.outcome("op", lambda: op(dual))
        if out is not None:
            obs.fact("has_tangent.same", fwAD.unpack_dual(out).tangent is not None)


def _f(x):
    return (x ** 3).sum()


def test_func_grad(obs, device):
    """torch.func.grad of sum(x**3) is 3x**2."""
    obs.tensor("grad", func.grad(_f)(_primal(device)))


def test_func_vjp(obs, device):
    """torch.func.vjp of x.sin() with cotangent ones is cos(x)."""
    _, vjp_fn = func.vjp(torch.sin, _primal(device))
    (g,) = vjp_fn(torch.ones(3, device=device, dtype=torch.float64))
    obs.tensor("vjp", g)


def test_func_jvp(obs, device):
    """torch.func.jvp of x.sin() with tangent ones is cos(x)."""
    _, tangent = func.jvp(torch.sin, (_primal(device),), (torch.ones(3, device=device, dtype=torch.float64),))
    obs.tensor("jvp", tangent)


@pytest.mark.parametrize("transform", [pytest.param("jacrev", id="jacrev"), pytest.param("jacfwd", id="jacfwd")])
def test_func_jacobian(obs, device, transform):
    """jacrev and jacfwd of x*x give diag(2x)."""
    obs.tensor("jacobian", getattr(func, transform)(lambda x: x * x)(_primal(device)))


def test_func_hessian(obs, device):
    """torch.func.hessian of sum(x**3) is diag(6x)."""
    obs.tensor("hessian", func.hessian(_f)(_primal(device)))


def test_vmap_over_grad(obs, device):
    """vmap(grad(f)) computes per-row gradients."""
    rows = torch.tensor([[1.0, 2.0], [3.0, 4.0]], device=device, dtype=torch.float64)
    obs.tensor("grads", func.vmap(func.grad(_f))(rows))


def test_grad_of_item(obs, device):
    """Calling .item() inside torch.func.grad raises."""
    obs.outcome("grad", lambda: func.grad(lambda x: x.sum() * x.sum().item())(_primal(device)))


def test_vmap_inplace_on_captured_tensor(obs, device):
    """vmap of a function that writes in place into a captured tensor raises."""
    captured = torch.zeros(3, device=device, dtype=torch.float64)

    def f(x):
        captured.add_(x)
        return x

    obs.outcome("vmap", lambda: func.vmap(f)(torch.ones(2, 3, device=device, dtype=torch.float64)))


def test_grad_of_non_scalar(obs, device):
    """torch.func.grad of a function with a non-scalar output raises."""
    obs.outcome("grad", lambda: func.grad(lambda x: x * 2)(_primal(device)))


def test_func_grad_has_aux(obs, device):
    """grad(has_aux=True) returns (gradient, aux)."""
    g, aux = func.grad(lambda x: (_f(x), x.max()), has_aux=True)(_primal(device))
    obs.tensor("grad", g)
    obs.tensor("aux", aux)


def test_autograd_functional_jacobian(obs, device):
    """torch.autograd.functional.jacobian of x*x gives diag(2x)."""
    obs.tensor("jacobian", torch.autograd.functional.jacobian(lambda x: x * x, _primal(device)))


def test_autograd_functional_hessian(obs, device):
    """torch.autograd.functional.hessian of sum(x**3) gives diag(6x)."""
    obs.tensor("hessian", torch.autograd.functional.hessian(_f, _primal(device)))


def test_jacobian_of_empty_input(obs, device):
    """torch.autograd.functional.jacobian of a function of an empty tensor: does it return an empty Jacobian?"""
    x = torch.zeros(0, device=device, dtype=torch.float64)
    jac = obs.outcome("jacobian", lambda: torch.autograd.functional.jacobian(torch.sin, x))
    if jac is not None:
        obs.tensor("jacobian", jac)


def test_autograd_functional_vectorize(obs, device):
    """jacobian(vectorize=True) gives the same matrix, and warns or not about the prototype."""
    jac = obs.outcome("jacobian", lambda: torch.autograd.functional.jacobian(lambda x: x.sin(), _primal(device),
                                                                             vectorize=True))
    obs.tensor("jacobian", jac)


def _tangent(obs, name, tangent):
    """Record ``<name>_is_none.same`` and, when there is one, the tangent as ``<name>.values``."""
    obs.fact(f"{name}_is_none.same", tangent is None)
    if tangent is not None:
        obs.tensor(name, tangent)


# Dual levels
def _exit_all_levels():
    """Leave every forward AD level a probe left open (a misuse probe may have entered one)."""
    while True:
        try:
            fwAD.exit_dual_level()
        except RuntimeError:  # no level is open any more
            return


def test_enter_and_exit_dual_level(obs, device):
    """enter_dual_level() returns the new level (0 when none is open); exit_dual_level() closes it."""
    level = fwAD.enter_dual_level()
    try:
        obs.fact("level.value", level)
        dual = fwAD.make_dual(_primal(device), torch.ones(3, device=device, dtype=torch.float64))
        _tangent(obs, "tangent", fwAD.unpack_dual(dual.exp()).tangent)
    finally:
        obs.outcome("exit", fwAD.exit_dual_level)
    obs.outcome("make_dual_after_exit", lambda: fwAD.make_dual(_primal(device), torch.ones(
        3, device=device, dtype=torch.float64)))


NESTED_ENTRIES = [
    pytest.param(lambda: fwAD.enter_dual_level(), id="enter_dual_level"),
    pytest.param(lambda: fwAD.dual_level().__enter__(), id="dual_level-context"),
]


@pytest.mark.parametrize("enter", NESTED_ENTRIES)
def test_nested_dual_level(obs, device, enter):
    """Entering a second forward AD level inside an open one raises (nested forward AD is unsupported)."""
    try:
        with fwAD.dual_level():
            level = obs.outcome("nested", enter)
            if level is not None:
                obs.fact("nested_level.value", level)
                fwAD.exit_dual_level(level=level)
    finally:
        _exit_all_levels()


def _exit_without_level():
    fwAD.exit_dual_level()


def _exit_wrong_level():
    level = fwAD.enter_dual_level()
    fwAD.exit_dual_level(level=level + 1)


def _exit_twice():
    level = fwAD.enter_dual_level()
    fwAD.exit_dual_level(level=level)
    fwAD.exit_dual_level(level=level)


EXIT_MISUSES = [
    pytest.param(_exit_without_level, id="exit-without-level"),
    pytest.param(_exit_wrong_level, id="exit-another-level"),
    pytest.param(_exit_twice, id="exit-twice"),
]


@pytest.mark.parametrize("misuse", EXIT_MISUSES)
def test_exit_dual_level_misuse(obs, device, misuse):
    """exit_dual_level without an open level, with another level's number, or twice: what it raises."""
    try:
        obs.outcome("exit", misuse)
    finally:
        _exit_all_levels()


def test_make_dual_at_level_not_entered(obs, device):
    """make_dual(level=N) for a level that was never entered raises; unpack_dual(level=N) gives tangent None."""
    with fwAD.dual_level():
        obs.outcome("make_dual", lambda: fwAD.make_dual(_primal(device), torch.ones(3, device=device,
                                                                                    dtype=torch.float64), level=3))
        dual = fwAD.make_dual(_primal(device), torch.ones(3, device=device, dtype=torch.float64))
        unpacked = obs.outcome("unpack_dual", lambda: fwAD.unpack_dual(dual, level=3))
        if unpacked is not None:
            _tangent(obs, "tangent_at_level_3", unpacked.tangent)


def test_dual_after_level_exit(obs, device):
    """A dual tensor loses its tangent when its level exits; it stays usable and a new level sees no tangent."""
    with fwAD.dual_level():
        dual = fwAD.make_dual(_primal(device), torch.ones(3, device=device, dtype=torch.float64))
    _tangent(obs, "tangent_after_exit", fwAD.unpack_dual(dual).tangent)
    obs.tensor("doubled", obs.outcome("op_after_exit", lambda: dual * 2))
    with fwAD.dual_level():
        _tangent(obs, "tangent_in_new_level", fwAD.unpack_dual(dual).tangent)


def test_unpack_dual_outside_level(obs, device):
    """unpack_dual outside any dual_level returns the tensor itself as primal and tangent None."""
    x = _primal(device)
    out = obs.outcome("unpack_dual", lambda: fwAD.unpack_dual(x))
    _tangent(obs, "tangent", out.tangent)
    obs.fact("primal_is_input.same", out.primal is x)


# make_dual argument checks
@pytest.mark.parametrize("shape", [pytest.param((), id="0-d"), pytest.param((1,), id="one-element"),
                                   pytest.param((3, 1), id="extra-dim"), pytest.param((1, 3), id="leading-dim")])
def test_make_dual_tangent_shape(obs, device, shape):
    """A tangent of another shape (even one that broadcasts or has the same numel) raises the size error."""
    with fwAD.dual_level():
        obs.outcome("make_dual", lambda: fwAD.make_dual(_primal(device), torch.ones(shape, device=device,
                                                                                    dtype=torch.float64)))


TANGENT_DTYPES = [torch.float32, torch.float16, torch.complex128, torch.int64, torch.bool]


@pytest.mark.parametrize("dtype", [pytest.param(d, id=str(d).removeprefix("torch.")) for d in TANGENT_DTYPES])
def test_make_dual_tangent_dtype(obs, device, dtype):
    """A float64 primal with a tangent of another dtype: integral tangents raise; others keep their own dtype."""
    with fwAD.dual_level():
        dual = obs.outcome("make_dual", lambda: fwAD.make_dual(_primal(device), torch.ones(3, device=device,
                                                                                           dtype=dtype)))
        if dual is not None:
            obs.facts_of("tangent", fwAD.unpack_dual(dual).tangent, "dtype")
            obs.facts_of("sin_tangent", fwAD.unpack_dual(dual.sin()).tangent, "dtype")


@pytest.mark.parametrize("primal_dtype", [pytest.param(torch.int64, id="int64"), pytest.param(torch.bool, id="bool")])
@pytest.mark.parametrize("tangent_dtype", [pytest.param(torch.float64, id="float-tangent"),
                                           pytest.param(torch.int64, id="int64-tangent")])
def test_make_dual_integer_primal(obs, device, primal_dtype, tangent_dtype):
    """make_dual on an integer or bool primal raises, whatever the tangent's dtype."""
    with fwAD.dual_level():
        obs.outcome("make_dual", lambda: fwAD.make_dual(torch.ones(3, device=device, dtype=primal_dtype),
                                                        torch.ones(3, device=device, dtype=tangent_dtype)))


def test_make_dual_tangent_on_meta_device(obs, device):
    """A tangent on the meta device for a primal on this device: does make_dual check the device?"""
    with fwAD.dual_level():
        dual = obs.outcome("make_dual", lambda: fwAD.make_dual(_primal(device), torch.ones(
            3, device="meta", dtype=torch.float64)))
        if dual is not None:
            obs.facts_of("primal", fwAD.unpack_dual(dual).primal, "device")
            obs.facts_of("tangent", fwAD.unpack_dual(dual).tangent, "device")


def test_make_dual_of_non_tensor(obs, device):
    """make_dual and unpack_dual of a Python float raise."""
    with fwAD.dual_level():
        obs.outcome("make_dual", lambda: fwAD.make_dual(2.0, torch.ones(3, device=device, dtype=torch.float64)))
        obs.outcome("unpack_dual", lambda: fwAD.unpack_dual(2.0))


@pytest.mark.parametrize("role", [pytest.param("tangent", id="dual-as-tangent"),
                                  pytest.param("primal", id="dual-as-primal")])
def test_make_dual_from_dual(obs, device, role):
    """make_dual with a dual tensor (of the same level) as its tangent or as its primal raises."""
    ones = torch.ones(3, device=device, dtype=torch.float64)
    with fwAD.dual_level():
        dual = fwAD.make_dual(_primal(device), ones)
        if role == "tangent":
            obs.outcome("make_dual", lambda: fwAD.make_dual(_primal(device), dual))
        else:
            obs.outcome("make_dual", lambda: fwAD.make_dual(dual, ones * 2))


@pytest.mark.parametrize("tangent_kind", [pytest.param("contiguous", id="contiguous-tangent"),
                                          pytest.param("strided", id="strided-tangent")])
def test_make_dual_aliasing(obs, device, tangent_kind):
    """The dual is a view of the primal; a tangent of the primal's layout is stored as-is, another one is copied."""
    x = _primal(device)
    tangent = torch.ones(3, device=device, dtype=torch.float64)
    if tangent_kind == "strided":
        tangent = torch.ones(6, device=device, dtype=torch.float64)[::2]
    with fwAD.dual_level():
        dual = fwAD.make_dual(x, tangent)
        unpacked = fwAD.unpack_dual(dual)
        obs.fact("dual_is_primal.same", dual is x)
        obs.fact("dual_shares_storage.same", dual.data_ptr() == x.data_ptr())
        obs.fact("dual_base_is_primal.same", dual._base is x)
        obs.fact("unpacked_primal_is_primal.same", unpacked.primal is x)
        obs.fact("unpacked_tangent_is_tangent.same", unpacked.tangent is tangent)
        obs.fact("tangent_stride.value", list(unpacked.tangent.stride()))


def test_unpacked_dual_tensor_fields(obs, device):
    """unpack_dual returns the named tuple UnpackedDualTensor(primal, tangent), which unpacks like a pair."""
    x = _primal(device).requires_grad_()
    with fwAD.dual_level():
        unpacked = fwAD.unpack_dual(fwAD.make_dual(x, torch.ones(3, device=device, dtype=torch.float64)))
        primal, tangent = unpacked
        obs.fact("type.name", type(unpacked).__name__)
        obs.fact("fields.value", list(unpacked._fields))
        obs.fact("is_tuple.same", isinstance(unpacked, tuple))
        obs.fact("length.value", len(unpacked))
        obs.fact("primal_by_index.same", unpacked[0] is unpacked.primal and primal is unpacked.primal)
        obs.fact("tangent_by_index.same", unpacked[1] is unpacked.tangent and tangent is unpacked.tangent)
        obs.facts_of("primal", unpacked.primal)
        obs.facts_of("tangent", unpacked.tangent)


# In-place on duals and views of duals
def _setitem_first(t):
    t[0] = 5.0


INPLACE_ON_DUAL = [
    pytest.param(lambda d: d.mul_(2), id="mul_"),
    pytest.param(lambda d: d.add_(1), id="add_-scalar"),
    pytest.param(lambda d: d.sin_(), id="sin_"),
    pytest.param(lambda d: d.zero_(), id="zero_"),
    pytest.param(lambda d: d.copy_(torch.full_like(d, 7.0)), id="copy_-plain"),
    pytest.param(_setitem_first, id="setitem"),
]


@pytest.mark.parametrize("op", INPLACE_ON_DUAL)
def test_inplace_on_dual(obs, device, op):
    """An in-place op on a dual tensor updates its primal and its tangent; the version counter moves."""
    with fwAD.dual_level():
        dual = fwAD.make_dual(_primal(device), torch.ones(3, device=device, dtype=torch.float64))
        obs.outcome("inplace", lambda: op(dual))
        out = fwAD.unpack_dual(dual)
        obs.tensor("primal", out.primal)
        _tangent(obs, "tangent", out.tangent)
        obs.facts_of("dual", dual, "version")


def test_inplace_on_view_of_dual(obs, device):
    """mul_ on a slice of a dual tensor updates the slice's and the base's primal and tangent."""
    with fwAD.dual_level():
        dual = fwAD.make_dual(_primal(device), torch.ones(3, device=device, dtype=torch.float64))
        view = dual[1:]
        view.mul_(3)
        obs.tensor("base_primal", fwAD.unpack_dual(dual).primal)
        _tangent(obs, "base_tangent", fwAD.unpack_dual(dual).tangent)
        _tangent(obs, "view_tangent", fwAD.unpack_dual(view).tangent)


def test_inplace_on_dual_of_a_view(obs, device):
    """make_dual of a slice, then mul_ on the dual: the slice's base gets the new values but no tangent."""
    base = torch.arange(4.0, device=device, dtype=torch.float64)
    with fwAD.dual_level():
        dual = fwAD.make_dual(base[1:], torch.ones(3, device=device, dtype=torch.float64))
        dual.mul_(2)
        obs.tensor("base_primal", fwAD.unpack_dual(base).primal)
        _tangent(obs, "base_tangent", fwAD.unpack_dual(base).tangent)
        _tangent(obs, "dual_tangent", fwAD.unpack_dual(dual).tangent)


def test_inplace_plain_tensor_with_dual_operand(obs, device):
    """plain.mul_(dual) gives the plain tensor a tangent (product rule with a zero tangent for plain)."""
    plain = _primal(device)
    with fwAD.dual_level():
        dual = fwAD.make_dual(_primal(device), torch.ones(3, device=device, dtype=torch.float64))
        obs.outcome("mul_", lambda: plain.mul_(dual))
        obs.tensor("primal", fwAD.unpack_dual(plain).primal)
        _tangent(obs, "tangent", fwAD.unpack_dual(plain).tangent)


@pytest.mark.parametrize("target", [pytest.param(lambda b: b[0], id="row"),
                                    pytest.param(lambda b: b[:, 0], id="column")])
def test_copy_dual_into_view_of_plain(obs, device, target):
    """copy_ of a dual into a view of a plain tensor gives the base a tangent, zero outside the view."""
    base = torch.zeros(2, 2, device=device, dtype=torch.float64)
    with fwAD.dual_level():
        dual = fwAD.make_dual(torch.ones(2, device=device, dtype=torch.float64),
                              torch.full((2,), 5.0, device=device, dtype=torch.float64))
        obs.outcome("copy_", lambda: target(base).copy_(dual))
        obs.tensor("base_primal", fwAD.unpack_dual(base).primal)
        _tangent(obs, "base_tangent", fwAD.unpack_dual(base).tangent)


def test_inplace_float32_with_float64_dual(obs, device):
    """float32 plain add_ a float64 dual: the primal stays float32; which dtype does its new tangent get?"""
    plain = torch.zeros(3, device=device, dtype=torch.float32)
    with fwAD.dual_level():
        dual = fwAD.make_dual(_primal(device), torch.ones(3, device=device, dtype=torch.float64))
        obs.outcome("add_", lambda: plain.add_(dual))
        obs.facts_of("primal", fwAD.unpack_dual(plain).primal, "dtype")
        _tangent(obs, "tangent", fwAD.unpack_dual(plain).tangent)


def _dual(device):
    return fwAD.make_dual(_primal(device).clone(), torch.ones(3, device=device, dtype=torch.float64))


INPLACE_ERRORS = [
    pytest.param(lambda d, p: torch.add(p, p, out=d), id="out=-into-dual"),
    pytest.param(lambda d, p: torch.add(d, p, out=p), id="out=-from-dual"),
    pytest.param(lambda d, p: d.resize_(5), id="resize_"),
    pytest.param(lambda d, p: d.set_(p), id="set_"),
    pytest.param(lambda d, p: d.detach_(), id="detach_"),
    pytest.param(lambda d, p: torch.ones(3, device=p.device, dtype=torch.int64).add_(d), id="int64-add_-dual"),
    pytest.param(lambda d, p: torch.zeros(3, device=p.device, dtype=torch.float64, requires_grad=True).add_(d),
                 id="leaf-requiring-grad-add_-dual"),
]


@pytest.mark.parametrize("op", INPLACE_ERRORS)
def test_inplace_with_dual_errors(obs, device, op):
    """In-place and out= forms that forward AD refuses (out=, resize_, set_, detach_ of the dual view, ...)."""
    with fwAD.dual_level():
        obs.outcome("op", lambda: op(_dual(device), _primal(device)))


# Dual tensors and backward
def test_forward_over_reverse(obs, device):
    """autograd.grad(create_graph=True) of a dual output: the gradient's tangent is the Hessian-vector product."""
    x = _primal(device).requires_grad_()
    with fwAD.dual_level():
        dual = fwAD.make_dual(x, torch.ones(3, device=device, dtype=torch.float64))
        y = (dual ** 3).sum()
        obs.facts_of("y", y)
        _tangent(obs, "y_tangent", fwAD.unpack_dual(y).tangent)
        (g,) = torch.autograd.grad(y, x, create_graph=True)
        obs.tensor("grad", g)
        _tangent(obs, "grad_tangent", fwAD.unpack_dual(g).tangent)


def test_backward_through_dual(obs, device):
    """backward() of a dual output fills x.grad with a plain gradient (no tangent) while the level is open."""
    x = _primal(device).requires_grad_()
    with fwAD.dual_level():
        dual = fwAD.make_dual(x, torch.ones(3, device=device, dtype=torch.float64))
        obs.facts_of("dual", dual)
        obs.outcome("backward", lambda: (dual ** 3).sum().backward())
        obs.facts_of("x", x, "grad")
        _tangent(obs, "x_grad_tangent", fwAD.unpack_dual(x.grad).tangent)


def test_backward_after_level_exit(obs, device):
    """A graph built through a dual tensor can still be backpropagated after its level exits."""
    x = _primal(device).requires_grad_()
    with fwAD.dual_level():
        y = (fwAD.make_dual(x, torch.ones(3, device=device, dtype=torch.float64)) ** 2).sum()
    obs.outcome("backward", y.backward)
    obs.facts_of("x", x, "grad")


def test_reverse_over_forward(obs, device):
    """A tangent that requires grad makes output tangents differentiable: backward of a tangent reaches it."""
    tangent = torch.ones(3, device=device, dtype=torch.float64, requires_grad=True)
    with fwAD.dual_level():
        out_tangent = fwAD.unpack_dual(fwAD.make_dual(_primal(device), tangent).sin()).tangent
        obs.facts_of("out_tangent", out_tangent, "requires_grad")
        obs.outcome("backward", lambda: out_tangent.sum().backward())
    obs.facts_of("tangent", tangent, "grad")


# Custom Functions and forward AD
class _NoJvp(Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad


class _NoJvpNoBackward(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2


@pytest.mark.parametrize("fn", [pytest.param(_NoJvp, id="with-backward"),
                                pytest.param(_NoJvpNoBackward, id="without-backward")])
def test_custom_function_without_jvp(obs, device, fn):
    """A custom Function without jvp applied to a dual tensor raises; on a plain tensor it runs."""
    with fwAD.dual_level():
        obs.outcome("apply_dual", lambda: fn.apply(fwAD.make_dual(_primal(device), torch.ones(
            3, device=device, dtype=torch.float64))))
        obs.outcome("apply_plain", lambda: fn.apply(_primal(device)))


class _SinWithJvp(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_forward(x)
        return x.sin()

    @staticmethod
    def jvp(ctx, x_t):
        (x,) = ctx.saved_tensors
        return x_t * x.cos()


def test_custom_function_with_jvp(obs, device):
    """A custom Function with jvp (using save_for_forward) propagates the tangent; a plain input gets none."""
    with fwAD.dual_level():
        out = _SinWithJvp.apply(fwAD.make_dual(_primal(device), torch.ones(3, device=device, dtype=torch.float64)))
        _tangent(obs, "tangent", fwAD.unpack_dual(out).tangent)
        _tangent(obs, "plain_tangent", fwAD.unpack_dual(_SinWithJvp.apply(_primal(device))).tangent)


class _InplaceMul(Function):
    @staticmethod
    def forward(ctx, x, mode):
        ctx.mode = mode
        ctx.mark_dirty(x)
        return x.mul_(2)

    @staticmethod
    def jvp(ctx, x_t, _):
        if ctx.mode == "new-tensor":
            return x_t * 2
        if ctx.mode == "as-is":
            return x_t
        return x_t.mul_(2)

    @staticmethod
    def backward(ctx, grad):
        return grad * 2, None


@pytest.mark.parametrize("mode", [pytest.param("new-tensor", id="jvp-returns-new-tensor"),
                                  pytest.param("as-is", id="jvp-returns-tangent-as-is"),
                                  pytest.param("in-place", id="jvp-modifies-tangent-in-place")])
def test_custom_function_inplace_jvp(obs, device, mode):
    """An in-place custom Function (mark_dirty) must update the tangent in place in its jvp."""
    with fwAD.dual_level():
        dual = fwAD.make_dual(_primal(device).clone(), torch.ones(3, device=device, dtype=torch.float64))
        out = obs.outcome("apply", lambda: _InplaceMul.apply(dual, mode))
        if out is not None:
            _tangent(obs, "tangent", fwAD.unpack_dual(out).tangent)


class _ReturnsInput(Function):
    @staticmethod
    def forward(ctx, x, y, mode):
        ctx.mode = mode
        return x + y, x

    @staticmethod
    def jvp(ctx, x_t, y_t, _):
        if ctx.mode == "new-tensor":
            return x_t + y_t, x_t * 2
        if ctx.mode == "as-is":
            return x_t + y_t, x_t
        return x_t + y_t, x_t.view_as(x_t)


@pytest.mark.parametrize("mode", [pytest.param("new-tensor", id="jvp-returns-new-tensor"),
                                  pytest.param("as-is", id="jvp-returns-tangent-as-is"),
                                  pytest.param("view", id="jvp-returns-view-of-tangent")])
def test_custom_function_returning_input(obs, device, mode):
    """A custom Function whose forward returns an input as-is must return a view of its tangent from jvp."""
    with fwAD.dual_level():
        dual = fwAD.make_dual(_primal(device), torch.ones(3, device=device, dtype=torch.float64))
        out = obs.outcome("apply", lambda: _ReturnsInput.apply(dual, _primal(device), mode))
        if out is not None:
            _tangent(obs, "second_tangent", fwAD.unpack_dual(out[1]).tangent)


class _Narrow(Function):
    @staticmethod
    def forward(ctx, x, mode):
        ctx.mode = mode
        return x.narrow(0, 0, 2)

    @staticmethod
    def jvp(ctx, x_t, _):
        if ctx.mode == "not-a-view":
            return x_t.narrow(0, 0, 2).clone()
        if ctx.mode == "view-of-a-copy":
            return x_t.clone().narrow(0, 0, 2)
        return x_t.narrow(0, 0, 2)


@pytest.mark.parametrize("input_kind", [pytest.param("dual", id="dual-input"),
                                        pytest.param("view", id="view-of-dual-input")])
@pytest.mark.parametrize("mode", [pytest.param("view", id="jvp-returns-view"),
                                  pytest.param("not-a-view", id="jvp-returns-copy"),
                                  pytest.param("view-of-a-copy", id="jvp-returns-view-of-copy")])
def test_custom_function_view_jvp(obs, device, mode, input_kind):
    """A custom Function whose forward returns a view must return a view of the input's tangent (same base)."""
    with fwAD.dual_level():
        dual = fwAD.make_dual(_primal(device), torch.ones(3, device=device, dtype=torch.float64))
        inp = dual if input_kind == "dual" else dual.view_as(dual)
        out = obs.outcome("apply", lambda: _Narrow.apply(inp, mode))
        if out is not None:
            _tangent(obs, "tangent", fwAD.unpack_dual(out).tangent)


class _NonDifferentiableOutput(Function):
    @staticmethod
    def forward(ctx, x, y, mode):
        ctx.mode = mode
        out = y.clone()
        ctx.mark_non_differentiable(out)
        return x.clone(), out

    @staticmethod
    def jvp(ctx, x_t, y_t, _):
        return x_t, (None if ctx.mode == "none" else x_t.clone())


@pytest.mark.parametrize("mode", [pytest.param("tensor", id="jvp-returns-tensor"),
                                  pytest.param("none", id="jvp-returns-None")])
def test_custom_function_jvp_for_non_differentiable_output(obs, device, mode):
    """jvp returning a tangent for an output marked non-differentiable raises; None there is accepted."""
    with fwAD.dual_level():
        dual = fwAD.make_dual(torch.tensor(2.0, device=device, dtype=torch.float64),
                              torch.tensor(1.0, device=device, dtype=torch.float64))
        out = obs.outcome("apply", lambda: _NonDifferentiableOutput.apply(dual, torch.tensor(3, device=device), mode))
        if out is not None:
            _tangent(obs, "second_tangent", fwAD.unpack_dual(out[1]).tangent)


class _BadJvp(Function):
    @staticmethod
    def forward(ctx, x, mode):
        ctx.mode = mode
        return x * 2

    @staticmethod
    def jvp(ctx, x_t, _):
        if ctx.mode == "two":
            return x_t, x_t
        if ctx.mode == "wrong-shape":
            return x_t[:2]
        return None


@pytest.mark.parametrize("mode", [pytest.param("two", id="two-tangents-for-one-output"),
                                  pytest.param("wrong-shape", id="tangent-of-wrong-shape"),
                                  pytest.param("none", id="None-for-differentiable-output")])
def test_custom_function_bad_jvp(obs, device, mode):
    """jvp returning too many tangents, a tangent of the wrong shape, or None for a differentiable output."""
    with fwAD.dual_level():
        dual = fwAD.make_dual(_primal(device), torch.ones(3, device=device, dtype=torch.float64))
        try:
            out = _BadJvp.apply(dual, mode)
        except Exception as exc:  # an internal assert embeds a build path and line: keep its stable part
            obs.fact("apply.raises", type(exc).__name__)
            text = str(exc)
            obs.fact("apply.value", "INTERNAL ASSERT FAILED" if "INTERNAL ASSERT FAILED" in text else text)
        else:
            obs.fact("apply.raises", None)
            _tangent(obs, "tangent", fwAD.unpack_dual(out).tangent)


# Grad modes
@pytest.mark.parametrize("mode", GRAD_MODES)
def test_tangent_under_grad_mode(obs, device, mode):
    """Does a tangent propagate through an op run under each grad mode (dual made outside, and inside, the mode)?"""
    ones = torch.ones(3, device=device, dtype=torch.float64)
    with fwAD.dual_level():
        dual = fwAD.make_dual(_primal(device), ones)
        _tangent(obs, "tangent", mode(lambda: fwAD.unpack_dual(dual.sin()).tangent))
        _tangent(obs, "inner_tangent",
                 mode(lambda: fwAD.unpack_dual(fwAD.make_dual(_primal(device), ones).sin()).tangent))


@pytest.mark.parametrize("primal", ["leaf-requiring-grad", "plain", "non-leaf"])
def test_dual_tensor_leafness(obs, device, primal):
    """make_dual of a leaf requiring grad, a plain tensor or a non-leaf: the dual's leafness, grad and grad_fn."""
    x = torch.ones(2, dtype=torch.float64, device=device, requires_grad=primal != "plain")
    p = x * 2 if primal == "non-leaf" else x
    with fwAD.dual_level():
        dual = fwAD.make_dual(p, torch.ones_like(p))
        obs.facts_of("dual", dual, "is_leaf", "requires_grad", "grad_fn")
        obs.fact("dual_is_primal.same", dual is p)
        obs.facts_of("primal", fwAD.unpack_dual(dual).primal, "is_leaf", "requires_grad", "grad_fn")


@pytest.mark.parametrize("op", [
    pytest.param(lambda d: d.index_reduce_(0, torch.tensor([0, 0], device=d.device),
                                           torch.ones(2, dtype=d.dtype, device=d.device), "prod"), id="index_reduce_"),
    pytest.param(lambda d: d.igamma_(torch.ones(2, dtype=d.dtype, device=d.device)), id="igamma_"),
    pytest.param(lambda d: d.cumprod_(0), id="cumprod_"),
])
def test_inplace_op_without_forward_formula(obs, device, op):
    """An in-place op on a dual tensor where torch may lack the forward formula: the error, and the tangent left."""
    with fwAD.dual_level():
        d = fwAD.make_dual(torch.tensor([0.5, 0.25], dtype=torch.float64, device=device),
                           torch.ones(2, dtype=torch.float64, device=device)) * 1
        obs.outcome("op", lambda: op(d))
        unpacked = fwAD.unpack_dual(d)
        obs.tensor("primal", unpacked.primal)
        obs.tensor("tangent", unpacked.tangent)


@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_autograd_functional_jvp_values(obs, device, strict):
    """autograd.functional.jvp: the output and the Jacobian-vector product, and strict mode on an output independent of the input."""
    x = torch.tensor([1.0, 2.0], dtype=torch.float64, device=device)
    v = torch.tensor([0.5, -1.0], dtype=torch.float64, device=device)
    result = obs.outcome("jvp", lambda: torch.autograd.functional.jvp(lambda t: t ** 3 + t.sin(), x, v, strict=strict))
    if result is not None:
        obs.tensor("out", result[0])
        obs.tensor("jvp", result[1])
    obs.outcome("jvp_independent", lambda: torch.autograd.functional.jvp(lambda t: torch.ones_like(t) * 2, x, v,
                                                                          strict=strict))
