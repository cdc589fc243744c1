"""Forward-mode AD and torch.func: dual tensors, tangents through ops, functional transforms and their errors."""

import pytest
import torch
import torch.autograd.forward_ad as fwAD

func = pytest.importorskip("torch.func", reason="torch.func is not available in this torch")


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
