"""Autograd through non-strided layouts: sparse COO leaves (torch.sparse.mm, to_dense, values, the gradient's layout,
which ops run, which raise), sparse gradients of dense leaves (Embedding(sparse=True)), sparse CSR where simple,
and torch.nested tensors (leaves with requires_grad, ops that work or raise, the nested gradient)."""

import pytest
import torch

from autograd_conformance.observe import require

_DISPATCH_TAIL = ". This could be because the operator doesn't exist for this backend"


def _short_dispatch_error(action):
    """Run ``action``; a dispatcher NotImplementedError is re-raised with its first sentence only, since the list of
    backends it names after that depends on the build (CPU-only or CUDA)."""
    def run():
        try:
            return action()
        except NotImplementedError as exc:
            text = str(exc)
            if _DISPATCH_TAIL in text:
                raise NotImplementedError(text.split(_DISPATCH_TAIL)[0] + ".") from None
            raise
    return run


def _layout(obs, name, t):
    """Record ``name.layout.name``: the layout's name, or None when there is no tensor."""
    obs.fact(f"{name}.layout.name", None if t is None else str(t.layout))


# sparse COO
def _coo(device):
    """A coalesced 2x3 sparse COO leaf that requires grad, built with the sparse-invariants warning silenced."""
    i = torch.tensor([[0, 1, 1], [2, 0, 2]], device=device)
    v = torch.tensor([3.0, 4.0, 5.0], device=device)
    return torch.sparse_coo_tensor(i, v, (2, 3)).coalesce().requires_grad_()


def test_sparse_coo_construction(obs, device):
    """Building a sparse COO tensor: whether it warns; requires_grad_() makes it a leaf that requires grad."""
    i = torch.tensor([[0, 1, 1], [2, 0, 2]], device=device)
    v = torch.tensor([3.0, 4.0, 5.0], device=device)
    s = obs.outcome("construct", lambda: torch.sparse_coo_tensor(i, v, (2, 3)))
    s = s.coalesce().requires_grad_()
    obs.facts_of("s", s)
    _layout(obs, "s", s)


def test_sparse_coo_requires_grad_argument(obs, device):
    """sparse_coo_tensor(..., requires_grad=True) gives a leaf that requires grad."""
    i = torch.tensor([[0, 1], [1, 0]], device=device)
    v = torch.tensor([1.0, 2.0], device=device)
    s = obs.outcome("construct", lambda: torch.sparse_coo_tensor(i, v, (2, 2), requires_grad=True), warns=False)
    obs.facts_of("s", s)


def test_sparse_mm_gradients(obs, device):
    """torch.sparse.mm(sparse, dense): a dense result; the sparse leaf gets a sparse gradient, the dense one a dense."""
    s = _coo(device)
    d = torch.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], device=device, requires_grad=True)
    out = torch.sparse.mm(s, d)
    obs.facts_of("out", out)
    _layout(obs, "out", out)
    obs.outcome("backward", lambda: out.sum().backward())
    obs.facts_of("s", s, "grad")
    _layout(obs, "s.grad", s.grad)
    obs.fact("s.grad.is_coalesced.value", s.grad.is_coalesced())
    obs.facts_of("d", d, "grad")
    _layout(obs, "d.grad", d.grad)


def test_sparse_to_dense_gradient(obs, device):
    """to_dense() of a sparse leaf: the gradient is sparse, with values only at the stored entries."""
    s = _coo(device)
    out = s.to_dense()
    obs.facts_of("out", out)
    weights = torch.arange(1.0, 7.0, device=device).reshape(2, 3)
    obs.outcome("backward", lambda: (out * weights).sum().backward())
    obs.facts_of("s", s, "grad")
    _layout(obs, "s.grad", s.grad)


def test_sparse_values_gradient(obs, device):
    """values() of a coalesced sparse leaf is differentiable; the gradient flows back as a sparse tensor."""
    s = _coo(device)
    values = s.values()
    obs.facts_of("values", values)
    obs.outcome("backward", lambda: (values * torch.tensor([1.0, 2.0, 3.0], device=device)).sum().backward())
    obs.facts_of("s", s, "grad")
    _layout(obs, "s.grad", s.grad)


@pytest.mark.parametrize("coalesced", [pytest.param(True, id="coalesced"), pytest.param(False, id="uncoalesced")])
def test_sparse_private_values_not_differentiable(obs, device, coalesced):
    """_values() of a sparse leaf has no grad_fn, so backward from it raises."""
    i = torch.tensor([[0, 1, 1], [2, 0, 2]], device=device)
    v = torch.tensor([3.0, 4.0, 5.0], device=device)
    s = torch.sparse_coo_tensor(i, v, (2, 3))
    s = (s.coalesce() if coalesced else s).detach().requires_grad_()
    values = s._values()
    obs.facts_of("values", values)
    obs.outcome("backward", lambda: values.backward(torch.ones_like(values)))


def test_sparse_constructor_from_values_requiring_grad(obs, device):
    """sparse_coo_tensor built from values that require grad is differentiable back to the values."""
    i = torch.tensor([[0, 1, 1], [2, 0, 2]], device=device)
    v = torch.tensor([3.0, 4.0, 5.0], device=device, requires_grad=True)
    s = torch.sparse_coo_tensor(i, v, (2, 3))
    obs.facts_of("s", s)
    obs.outcome("backward", lambda: (s.to_dense() * 2).sum().backward())
    obs.facts_of("v", v, "grad")


def test_dense_to_sparse_gradient(obs, device):
    """to_sparse() of a dense leaf: the dense leaf gets a dense gradient."""
    x = torch.tensor([[0.0, 1.0], [2.0, 0.0]], device=device, requires_grad=True)
    s = x.to_sparse()
    obs.facts_of("s", s)
    _layout(obs, "s", s)
    obs.outcome("backward", lambda: (s.to_dense() * torch.tensor([[1.0, 2.0], [3.0, 4.0]], device=device))
                .sum().backward())
    obs.facts_of("x", x, "grad")
    _layout(obs, "x.grad", x.grad)


def test_sparse_gradient_accumulates(obs, device):
    """Two backward passes accumulate into a sparse .grad: its layout and values."""
    s = _coo(device)
    s.to_dense().sum().backward()
    obs.outcome("second", lambda: (s.to_dense() * 2).sum().backward())
    obs.facts_of("s", s, "grad")
    _layout(obs, "s.grad", s.grad)


SPARSE_OPS = [
    pytest.param(lambda s, d: s * 2, id="mul-number"),
    pytest.param(lambda s, d: s.sin(), id="sin"),
    pytest.param(lambda s, d: s.abs(), id="abs"),
    pytest.param(lambda s, d: s.log1p(), id="log1p"),
    pytest.param(lambda s, d: s.exp(), id="exp"),
    pytest.param(lambda s, d: s.sum(), id="sum"),
    pytest.param(lambda s, d: torch.sparse.sum(s), id="sparse.sum"),
    pytest.param(lambda s, d: s + s, id="add-sparse"),
    pytest.param(lambda s, d: s + torch.ones(2, 3, device=d), id="add-dense"),
    pytest.param(lambda s, d: torch.ones(2, 3, device=d) + s, id="dense-add"),
    pytest.param(lambda s, d: s * torch.ones(2, 3, device=d), id="mul-dense"),
    pytest.param(lambda s, d: s.view(3, 2), id="view"),
    pytest.param(lambda s, d: s.reshape(3, 2), id="reshape"),
    pytest.param(lambda s, d: s.t(), id="t"),
    pytest.param(lambda s, d: s[0], id="select"),
    pytest.param(lambda s, d: s[:, :2], id="slice"),
    pytest.param(lambda s, d: torch.mm(s, torch.ones(3, 2, device=d)), id="mm"),
    pytest.param(lambda s, d: s @ torch.ones(3, 2, device=d), id="matmul"),
    pytest.param(lambda s, d: torch.sparse.addmm(torch.zeros(2, 2, device=d), s, torch.ones(3, 2, device=d)),
                 id="sparse.addmm"),
    pytest.param(lambda s, d: torch.sparse.softmax(s, 1), id="sparse.softmax"),
    pytest.param(lambda s, d: torch.sparse.log_softmax(s, 1), id="sparse.log_softmax"),
    pytest.param(lambda s, d: s.coalesce(), id="coalesce"),
    pytest.param(lambda s, d: s.clone(), id="clone"),
    pytest.param(lambda s, d: s.to(torch.float64), id="to-float64"),
    pytest.param(lambda s, d: s.to_sparse_csr(), id="to_sparse_csr"),
]


@pytest.mark.parametrize("op", SPARSE_OPS)
def test_sparse_coo_op(obs, device, op):
    """An op on a sparse COO leaf: whether it runs, the result's grad_fn and layout, the gradient after backward."""
    s = _coo(device)
    out = obs.outcome("op", _short_dispatch_error(lambda: op(s, device)), warns=False)
    if out is None:
        return
    obs.facts_of("out", out)
    _layout(obs, "out", out)
    dense = out.to_dense() if out.layout != torch.strided else out
    obs.outcome("backward", _short_dispatch_error(lambda: dense.sum().backward()), warns=False)
    obs.facts_of("s", s, "grad")
    _layout(obs, "s.grad", s.grad)


# sparse gradients of dense leaves
def test_embedding_sparse_gradient(obs, device):
    """Embedding(sparse=True) gives its dense weight a sparse COO gradient (uncoalesced, one row per lookup)."""
    emb = torch.nn.Embedding(4, 2, sparse=True).to(device)
    idx = torch.tensor([0, 2, 0], device=device)
    emb(idx).sum().backward()
    _layout(obs, "weight.grad", emb.weight.grad)
    obs.fact("weight.grad.is_coalesced.value", emb.weight.grad.is_coalesced())
    obs.fact("weight.grad.nnz.value", emb.weight.grad._nnz())
    obs.facts_of("weight", emb.weight, "grad")


def test_embedding_sparse_then_dense_gradient(obs, device):
    """A sparse gradient accumulated onto a dense one (and the other way round): the layout .grad ends with."""
    weight = torch.ones(3, 2, device=device, requires_grad=True)
    idx = torch.tensor([1], device=device)
    torch.nn.functional.embedding(idx, weight, sparse=True).sum().backward()
    first = str(weight.grad.layout)
    obs.outcome("dense_after_sparse", lambda: (weight * 2).sum().backward())
    obs.fact("order.value", [first, str(weight.grad.layout)])
    obs.facts_of("weight", weight, "grad")
    other = torch.ones(3, 2, device=device, requires_grad=True)
    (other * 2).sum().backward()
    obs.outcome("sparse_after_dense",
                lambda: torch.nn.functional.embedding(idx, other, sparse=True).sum().backward())
    _layout(obs, "other.grad", other.grad)
    obs.facts_of("other", other, "grad")


# sparse CSR
def _csr(device):
    return torch.tensor([[0.0, 1.0], [2.0, 0.0]], device=device).to_sparse_csr().requires_grad_()


def test_sparse_csr_construction(obs, device):
    """Converting to sparse CSR: whether it warns (beta); requires_grad_() makes a leaf that requires grad."""
    x = torch.tensor([[0.0, 1.0], [2.0, 0.0]], device=device)
    c = obs.outcome("construct", lambda: x.to_sparse_csr())
    c.requires_grad_()
    obs.facts_of("c", c)
    _layout(obs, "c", c)


def test_sparse_csr_to_dense_gradient(obs, device):
    """to_dense() of a CSR leaf: the gradient keeps the CSR layout."""
    c = _csr(device)
    obs.outcome("backward", lambda: (c.to_dense() * torch.tensor([[1.0, 2.0], [3.0, 4.0]], device=device))
                .sum().backward(), warns=False)
    obs.facts_of("c", c, "grad")
    _layout(obs, "c.grad", c.grad)


def test_sparse_csr_mm_gradient(obs, device):
    """torch.mm(csr, dense): the layout and values of the CSR leaf's gradient and of the dense one's."""
    c = _csr(device)
    d = torch.tensor([[1.0, 2.0], [3.0, 4.0]], device=device, requires_grad=True)
    out = torch.mm(c, d)
    obs.facts_of("out", out)
    obs.outcome("backward", lambda: out.sum().backward(), warns=False)
    obs.facts_of("c", c, "grad")
    _layout(obs, "c.grad", c.grad)
    obs.facts_of("d", d, "grad")


def test_dense_to_sparse_csr_gradient(obs, device):
    """to_sparse_csr() of a dense leaf is differentiable: the dense leaf gets a dense gradient."""
    x = torch.tensor([[0.0, 1.0], [2.0, 0.0]], device=device, requires_grad=True)
    c = x.to_sparse_csr()
    obs.facts_of("c", c)
    obs.outcome("backward", lambda: (c.to_dense() * 3).sum().backward(), warns=False)
    obs.facts_of("x", x, "grad")
    _layout(obs, "x.grad", x.grad)


CSR_OPS = [
    pytest.param(lambda c: c * 2, id="mul-number"),
    pytest.param(lambda c: c.sin(), id="sin"),
    pytest.param(lambda c: c.exp(), id="exp"),
    pytest.param(lambda c: c.sum(), id="sum"),
    pytest.param(lambda c: c.values(), id="values"),
    pytest.param(lambda c: c.t(), id="t"),
    pytest.param(lambda c: c + c, id="add-sparse"),
]


@pytest.mark.parametrize("op", CSR_OPS)
def test_sparse_csr_op(obs, device, op):
    """An op on a CSR leaf: whether it runs, the result's grad_fn and layout, the gradient after backward."""
    c = _csr(device)
    out = obs.outcome("op", _short_dispatch_error(lambda: op(c)), warns=False)
    if out is None:
        return
    obs.facts_of("out", out)
    _layout(obs, "out", out)
    dense = out.to_dense() if out.layout != torch.strided else out
    obs.outcome("backward", _short_dispatch_error(lambda: dense.sum().backward()), warns=False)
    obs.facts_of("c", c, "grad")
    _layout(obs, "c.grad", c.grad)


# torch.nested
def _nested(device):
    return torch.nested.nested_tensor([torch.tensor([1.0, 2.0], device=device),
                                       torch.tensor([3.0, 4.0, 5.0], device=device)], requires_grad=True)


def _components(t):
    """A nested tensor's components as lists (nested tensors have no tolist or dense form)."""
    return None if t is None else [c.tolist() for c in t.unbind()]


def test_nested_tensor_construction(obs, device):
    """nested_tensor(..., requires_grad=True) gives a nested leaf that requires grad (and warns it is a prototype)."""
    require("torch.nested.nested_tensor")
    nt = obs.outcome("construct", lambda: _nested(device))
    obs.facts_of("nt", nt)
    obs.fact("nt.is_nested.value", nt.is_nested)
    _layout(obs, "nt", nt)


NESTED_OPS = [
    pytest.param(lambda nt: nt * 2, id="mul-number"),
    pytest.param(lambda nt: nt + nt, id="add-nested"),
    pytest.param(lambda nt: nt.sin(), id="sin"),
    pytest.param(lambda nt: nt.exp(), id="exp"),
    pytest.param(lambda nt: nt.relu(), id="relu"),
    pytest.param(lambda nt: nt.sum(), id="sum"),
    pytest.param(lambda nt: nt.sum(-1), id="sum-last-dim"),
    pytest.param(lambda nt: nt.view(-1), id="view"),
    pytest.param(lambda nt: nt.reshape(-1), id="reshape"),
    pytest.param(lambda nt: nt[0], id="select"),
    pytest.param(lambda nt: nt.unbind()[1], id="unbind"),
    pytest.param(lambda nt: nt.clone(), id="clone"),
    pytest.param(lambda nt: torch.nested.to_padded_tensor(nt, 0.0), id="to_padded_tensor"),
]


@pytest.mark.parametrize("op", NESTED_OPS)
def test_nested_op(obs, device, op):
    """An op on a nested leaf: whether it runs, the result's grad_fn and whether it is nested."""
    require("torch.nested.nested_tensor")
    nt = _nested(device)
    out = obs.outcome("op", _short_dispatch_error(lambda: op(nt)), warns=False)
    if out is None:
        return
    obs.facts_of("out", out)
    obs.fact("out.is_nested.value", out.is_nested)


def test_nested_backward_through_to_padded(obs, device):
    """Backward through to_padded_tensor gives the nested leaf a nested gradient without the padding."""
    require("torch.nested.to_padded_tensor")
    nt = _nested(device)
    padded = torch.nested.to_padded_tensor(nt * 2, 0.0)
    obs.facts_of("padded", padded, "grad_fn", "shape")
    obs.outcome("backward", lambda: padded.sum().backward(), warns=False)
    obs.fact("nt.grad.is_nested.value", "None" if nt.grad is None else nt.grad.is_nested)
    obs.fact("nt.grad.value", _components(nt.grad))


def test_nested_backward_through_unbind(obs, device):
    """Backward through unbind() reaches each component of the nested leaf."""
    require("torch.nested.nested_tensor")
    nt = _nested(device)
    first, second = nt.unbind()
    obs.outcome("backward", lambda: (first.sum() + 2 * second.sum()).backward(), warns=False)
    obs.fact("nt.grad.value", _components(nt.grad))


def test_nested_backward_with_nested_gradient(obs, device):
    """backward(gradient=nested) on a nested output works; the leaf's gradient is nested."""
    require("torch.nested.nested_tensor")
    nt = _nested(device)
    out = nt * 2
    grad = torch.nested.nested_tensor([torch.ones(2, device=device), torch.ones(3, device=device)])
    obs.outcome("backward", lambda: out.backward(grad), warns=False)
    obs.fact("nt.grad.value", _components(nt.grad))


def test_nested_backward_without_gradient(obs, device):
    """backward() without gradient on a nested output raises (it is not a scalar)."""
    require("torch.nested.nested_tensor")
    nt = _nested(device)
    out = nt * 2
    obs.outcome("backward", lambda: out.backward(), warns=False)


def test_nested_tensor_from_tensors_requiring_grad(obs, device):
    """nested_tensor copies its inputs without their graph; as_nested_tensor keeps it, so gradients reach them."""
    as_nested = require("torch.nested.as_nested_tensor")
    a = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = torch.tensor([3.0, 4.0, 5.0], device=device, requires_grad=True)
    copied = obs.outcome("nested_tensor", lambda: torch.nested.nested_tensor([a, b]), warns=False)
    obs.facts_of("copied", copied)
    kept = obs.outcome("as_nested_tensor", lambda: as_nested([a, b]), warns=False)
    obs.facts_of("kept", kept)
    obs.outcome("backward", lambda: torch.nested.to_padded_tensor(kept * 2, 0.0).sum().backward(), warns=False)
    obs.facts_of("a", a, "grad")
    obs.facts_of("b", b, "grad")


def test_nested_linear(obs, device):
    """F.linear on a nested input works and backward reaches the weight and the nested input."""
    require("torch.nested.nested_tensor")
    nt = torch.nested.nested_tensor([torch.ones(2, 3, device=device), torch.ones(1, 3, device=device)],
                                    requires_grad=True)
    weight = torch.ones(4, 3, device=device, requires_grad=True)
    out = obs.outcome("linear", lambda: torch.nn.functional.linear(nt, weight), warns=False)
    if out is None:
        return
    obs.facts_of("out", out)
    obs.outcome("backward", lambda: torch.nested.to_padded_tensor(out, 0.0).sum().backward(), warns=False)
    obs.facts_of("weight", weight, "grad")
    obs.fact("nt.grad.value", _components(nt.grad))


def test_jagged_nested_gradient(obs, device):
    """A jagged-layout nested leaf: ops keep a graph and its gradient is a jagged nested tensor."""
    jagged = require("torch.jagged")
    nt = torch.nested.nested_tensor([torch.ones(2, 3, device=device), torch.ones(1, 3, device=device)],
                                    layout=jagged, requires_grad=True)
    obs.facts_of("nt", nt)
    _layout(obs, "nt", nt)
    out = obs.outcome("op", lambda: (nt * 2).sin(), warns=False)
    if out is None:
        return
    obs.facts_of("out", out)
    obs.outcome("backward", lambda: torch.nested.to_padded_tensor(out, 0.0).sum().backward(), warns=False)
    _layout(obs, "nt.grad", nt.grad)
    obs.fact("nt.grad.value", "None" if nt.grad is None else [[[round(v, 5) for v in row] for row in c.tolist()]
                                                            for c in nt.grad.unbind()])
