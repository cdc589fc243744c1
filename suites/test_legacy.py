"""Miscellaneous and version-sensitive autograd behaviour: the deprecated Variable API, optimizers' zero_grad,
tensor identity and hashing, complex (conjugate Wirtinger) gradients, linear-algebra gauge and degeneracy,
gradients of random ops, and ops whose second derivative is not implemented."""

import pytest
import torch
import torch.nn.functional as F
from torch.autograd import Variable


# The deprecated Variable API.
def test_variable_of_tensor(obs, device):
    """Variable(t) returns a plain Tensor: a new leaf sharing t's storage, without grad unless asked."""
    t = torch.ones(2, device=device)
    v = obs.outcome("variable", lambda: Variable(t))
    obs.facts_of("v", v, "is_leaf", "requires_grad", "grad_fn")
    obs.fact("v_type.name", type(v).__name__)
    obs.fact("v_is_t.same", v is t)
    obs.fact("shared_storage.same", v.data_ptr() == t.data_ptr())
    obs.fact("isinstance_variable.value", [isinstance(t, Variable), isinstance(v, Variable)])
    obs.fact("variable_class.name", f"{Variable.__module__}.{Variable.__name__}")


@pytest.mark.parametrize("source", [
    pytest.param("leaf-requiring-grad", id="leaf-requiring-grad"),
    pytest.param("non-leaf", id="non-leaf"),
])
def test_variable_detaches(obs, device, source):
    """Variable() of a tensor with history or requiring grad gives a detached leaf that shares the version counter."""
    x = torch.ones(2, device=device, requires_grad=True)
    src = x if source == "leaf-requiring-grad" else x * 2
    v = Variable(src)
    obs.facts_of("v", v, "is_leaf", "requires_grad", "grad_fn")
    with torch.no_grad():
        src.add_(1)
    obs.facts_of("v", v, "version")
    obs.fact("v_sees_change.same", torch.equal(v, src))


VARIABLE_CALLS = [
    pytest.param(lambda t: Variable(t, requires_grad=True), id="requires_grad-keyword"),
    pytest.param(lambda t: Variable(t, True), id="requires_grad-positional"),
    pytest.param(lambda t: Variable(t, volatile=True), id="volatile-keyword"),
    pytest.param(lambda t: Variable(), id="no-argument"),
    pytest.param(lambda t: Variable(None), id="None"),
    pytest.param(lambda t: Variable([1.0, 2.0]), id="list"),
    pytest.param(lambda t: Variable(t.long(), requires_grad=True), id="int64-requires_grad"),
]


@pytest.mark.parametrize("make", VARIABLE_CALLS)
def test_variable_constructor_arguments(obs, device, make):
    """Variable's legacy arguments: requires_grad works, volatile warns and is ignored, non-tensors are refused."""
    t = torch.ones(2, device=device)
    v = obs.outcome("variable", lambda: make(t))
    if v is not None:
        obs.facts_of("v", v, "is_leaf", "requires_grad", "shape")


def _set_volatile(t):
    t.volatile = True


@pytest.mark.parametrize("access", [pytest.param(lambda t: t.volatile, id="read"),
                                    pytest.param(_set_volatile, id="write")])
def test_volatile_attribute(obs, device, access):
    """Tensor.volatile is gone: reading warns and gives False, writing warns and has no effect."""
    t = torch.ones(2, device=device)
    value = obs.outcome("volatile", lambda: access(t))
    if value is not None:
        obs.fact("volatile.value", value)
    obs.facts_of("t", t, "requires_grad")


def test_variable_hook_like_tensor_hook(obs, device):
    """A tensor made by Variable(requires_grad=True) takes register_hook like any tensor; the handle removes it."""
    v = Variable(torch.tensor([1.0, 2.0], device=device), requires_grad=True)
    calls = []
    handle = v.register_hook(lambda g: calls.append(g.tolist()) or g * 10)
    (v * 3).sum().backward()
    obs.facts_of("v", v, "grad")
    handle.remove()
    v.grad = None
    (v * 3).sum().backward()
    obs.tensor("after_remove", v.grad)
    obs.fact("hook.calls", calls)
    obs.fact("handle.name", type(handle).__name__)


# Optimizers: zero_grad.
OPTIMIZERS = [
    pytest.param(lambda p: torch.optim.SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1), id="SGD-momentum"),
    pytest.param(lambda p: torch.optim.Adam([p], lr=0.1), id="Adam"),
    pytest.param(lambda p: torch.optim.AdamW([p], lr=0.1), id="AdamW"),
]

SET_TO_NONE = [
    pytest.param(None, id="default"),
    pytest.param(True, id="set_to_none-True"),
    pytest.param(False, id="set_to_none-False"),
]


@pytest.mark.parametrize("set_to_none", SET_TO_NONE)
@pytest.mark.parametrize("make_optimizer", OPTIMIZERS)
def test_optimizer_step_after_zero_grad(obs, device, make_optimizer, set_to_none):
    """After zero_grad a step skips parameters whose .grad is None, but still moves them on zero gradients."""
    p = torch.nn.Parameter(torch.tensor([1.0, 2.0], device=device))
    optimizer = make_optimizer(p)
    (p * p).sum().backward()
    optimizer.step()
    before = p.detach().clone()
    if set_to_none is None:
        optimizer.zero_grad()
    else:
        optimizer.zero_grad(set_to_none=set_to_none)
    obs.facts_of("p", p, "grad")
    optimizer.step()
    obs.fact("step_moved_p.value", not torch.equal(before, p.detach()))


@pytest.mark.parametrize("set_to_none", SET_TO_NONE)
def test_zero_grad_of_grad_with_history(obs, device, set_to_none):
    """zero_grad on a .grad that has history (backward with create_graph): the tensor kept is detached in place."""
    p = torch.nn.Parameter(torch.tensor([1.0, 2.0], device=device))
    (p ** 3).sum().backward(create_graph=True)
    grad = p.grad
    obs.facts_of("grad_before", grad, "requires_grad", "grad_fn")
    optimizer = torch.optim.SGD([p], lr=0.1)
    if set_to_none is None:
        optimizer.zero_grad()
    else:
        optimizer.zero_grad(set_to_none=set_to_none)
    obs.facts_of("p", p, "grad")
    if p.grad is not None:
        obs.fact("same_object.same", p.grad is grad)
        obs.facts_of("grad_after", p.grad, "requires_grad", "grad_fn")
    p.grad = None


# Tensor identity and hashing.
def test_tensor_hash_is_identity(obs, device):
    """hash(t) is id-based: stable for one tensor, different for an equal one, and a set keeps both."""
    t = torch.ones(3, device=device)
    u = torch.ones(3, device=device)
    obs.fact("hash_stable.same", hash(t) == hash(t))
    obs.fact("hash_is_id.same", hash(t) == id(t))
    obs.fact("equal_tensors_hash.same", hash(t) == hash(u))
    obs.fact("set_size.value", len({t, u, t}))


def test_tensor_as_dict_key(obs):
    """A tensor key is found by identity only: an equal tensor is a miss (KeyError names the tensor's repr)."""
    t = torch.ones(3)
    table = {t: "value"}
    obs.outcome("same_tensor", lambda: table[t])
    obs.outcome("equal_tensor", lambda: table[torch.ones(3)])


COMPARISONS = [
    pytest.param(lambda t, u: type(t == u).__name__, id="eq-type"),
    pytest.param(lambda t, u: bool(t == u), id="bool-of-eq"),
    pytest.param(lambda t, u: t in [t], id="in-list-same"),
    pytest.param(lambda t, u: t in [u], id="in-list-equal"),
    pytest.param(lambda t, u: t[:1] in [u[:1]], id="in-list-one-element"),
    pytest.param(lambda t, u: [t] == [t], id="list-eq-same"),
    pytest.param(lambda t, u: [t] == [u], id="list-eq-equal"),
]


@pytest.mark.parametrize("compare", COMPARISONS)
def test_tensor_comparison_in_containers(obs, device, compare):
    """== gives a tensor; containers fall back to it after an identity check, which multi-element tensors refuse."""
    t = torch.ones(3, device=device, requires_grad=True)
    u = torch.ones(3, device=device, requires_grad=True)
    result = obs.outcome("compare", lambda: compare(t, u))
    if result is not None:
        obs.fact("result.value", result)


IDENTITY = [
    pytest.param(lambda x: x.detach(), id="detach"),
    pytest.param(lambda x: x.requires_grad_(), id="requires_grad_"),
    pytest.param(lambda x: x.data, id="data"),
    pytest.param(lambda x: x.view(2), id="view"),
    pytest.param(lambda x: x.view_as(x), id="view_as"),
    pytest.param(lambda x: x.reshape(2), id="reshape"),
    pytest.param(lambda x: x[...], id="ellipsis-index"),
    pytest.param(lambda x: x.to(torch.float32), id="to-same-dtype"),
    pytest.param(lambda x: x.float(), id="float"),
    pytest.param(lambda x: x.contiguous(), id="contiguous"),
    pytest.param(lambda x: x.cpu(), id="cpu"),
    pytest.param(lambda x: x.type(torch.float32), id="type-same"),
    pytest.param(lambda x: x.clone(), id="clone"),
]


@pytest.mark.parametrize("op", IDENTITY)
def test_result_is_same_object(obs, op):
    """Which no-op-looking calls on a float32 CPU leaf that requires grad return the very same Python object."""
    x = torch.ones(2, requires_grad=True)
    y = op(x)
    obs.fact("result_is_x.same", y is x)
    obs.facts_of("result", y, "is_leaf", "requires_grad", "grad_fn")


@pytest.mark.parametrize("create_graph", [pytest.param(False, id="plain"), pytest.param(True, id="create_graph")])
def test_grad_object_kept_across_accumulation(obs, device, create_graph):
    """A second backward accumulates in place into the same .grad object, unless create_graph makes a new one."""
    x = torch.ones(2, device=device, requires_grad=True)
    (x * x).sum().backward(create_graph=create_graph)
    first = x.grad
    (x * x).sum().backward(create_graph=create_graph)
    obs.fact("grad_object.same", x.grad is first)
    obs.facts_of("x", x, "grad")
    x.grad = None


# Complex autograd: conjugate Wirtinger calculus; the gradient of a real loss L is dL/d(conj z) times 2.
def _z(device):
    return torch.tensor([1 + 2j, 3 - 1j], device=device, requires_grad=True)


REAL_LOSSES = [
    pytest.param(lambda z: (z.abs() ** 2).sum(), id="abs-squared"),
    pytest.param(lambda z: (z * z.conj()).real.sum(), id="z-times-conj-real"),
    pytest.param(lambda z: z.real.sum(), id="real"),
    pytest.param(lambda z: z.imag.sum(), id="imag"),
    pytest.param(lambda z: z.abs().sum(), id="abs"),
    pytest.param(lambda z: z.angle().sum(), id="angle"),
    pytest.param(lambda z: torch.view_as_real(z)[:, 1].sum(), id="view_as_real-imag-column"),
    pytest.param(lambda z: (z * z).real.sum(), id="z-squared-real"),
]


@pytest.mark.parametrize("loss", REAL_LOSSES)
def test_complex_gradient_of_real_loss(obs, device, loss):
    """The gradient of a real loss of complex z is the conjugate Wirtinger one: |z|^2 gives 2z, .imag gives 1j."""
    z = _z(device)
    obs.outcome("backward", lambda: loss(z).backward())
    obs.facts_of("z", z, "grad")


COMPLEX_OUTPUTS = [
    pytest.param(lambda z: (z * z).sum(), id="z-squared-sum"),
    pytest.param(lambda z: (z * z.conj()).sum(), id="z-times-conj-sum"),
]


@pytest.mark.parametrize("output", COMPLEX_OUTPUTS)
def test_complex_output_needs_gradient(obs, device, output):
    """backward() and autograd.grad of a complex scalar need an explicit gradient; with one, grad is conj-scaled."""
    z = _z(device)
    obs.outcome("backward", lambda: output(z).backward())
    obs.outcome("autograd_grad", lambda: torch.autograd.grad(output(z), z))
    grads = obs.outcome("autograd_grad_with_gradient",
                        lambda: torch.autograd.grad(output(z), z, grad_outputs=torch.tensor(1 + 0j, device=device)))
    if grads is not None:
        obs.tensor("grad_with_gradient", grads[0])


def test_real_input_through_complex(obs, device):
    """A real input through complex intermediates: a real loss gives a real gradient, the imaginary part dropped."""
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    ((x * (1 + 1j)).abs()).sum().backward()
    obs.facts_of("x", x, "grad")
    x.grad = None
    (x * (1 + 1j)).sum().backward(torch.tensor(1 + 1j, device=device))
    obs.tensor("complex_output_grad", x.grad)


# Linear algebra: degenerate spectra and the complex gauge (phase) of eigen/singular vectors.
LINALG = [
    pytest.param(lambda A: torch.linalg.eigh(A)[0].sum(), "identity", id="eigh-values-degenerate"),
    pytest.param(lambda A: torch.linalg.eigh(A)[1].abs().sum(), "identity", id="eigh-vectors-degenerate"),
    pytest.param(lambda A: torch.linalg.svdvals(A).sum(), "identity", id="svdvals-degenerate"),
    pytest.param(lambda A: torch.linalg.svd(A)[0].abs().sum(), "identity", id="svd-U-degenerate"),
    pytest.param(lambda A: torch.linalg.eigh(A)[1].real.sum(), "hermitian", id="eigh-complex-phase-dependent"),
    pytest.param(lambda A: torch.linalg.eigh(A)[1].abs().sum(), "hermitian", id="eigh-complex-phase-invariant"),
    pytest.param(lambda A: torch.linalg.svd(A)[0].real.sum(), "hermitian", id="svd-complex-phase-dependent"),
    pytest.param(lambda A: torch.linalg.svd(A)[0].abs().sum(), "hermitian", id="svd-complex-phase-invariant"),
    pytest.param(lambda A: torch.linalg.eig(A)[1].real.sum(), "hermitian", id="eig-complex-phase-dependent"),
    pytest.param(lambda A: torch.linalg.eig(A)[1].abs().sum(), "hermitian", id="eig-complex-phase-invariant"),
    pytest.param(lambda A: torch.linalg.eig(A)[1].real.sum(), "real", id="eig-real-input-phase-dependent"),
    pytest.param(lambda A: torch.linalg.svd(A, full_matrices=True)[0].abs().sum(), "tall",
                 id="svd-full_matrices-tall-U"),
]

MATRICES = {
    "identity": [[1.0, 0.0], [0.0, 1.0]],
    "hermitian": [[2.0, 1j], [-1j, 3.0]],
    "real": [[2.0, 1.0], [0.5, 3.0]],
    "tall": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
}


@pytest.mark.parametrize("loss, matrix", LINALG)
def test_linalg_backward_degeneracy_and_gauge(obs, device, loss, matrix):
    """eigh/svd/eig backward: degenerate spectra give non-finite gradients, phase-dependent complex losses raise."""
    dtype = torch.complex128 if matrix == "hermitian" else torch.float64
    A = torch.tensor(MATRICES[matrix], device=device, dtype=dtype, requires_grad=True)
    obs.outcome("backward", lambda: loss(A).backward())
    if A.grad is not None:
        obs.fact("grad.finite", bool(torch.isfinite(A.grad).all()))
        if torch.isfinite(A.grad).all():
            obs.facts_of("A", A, "grad")


# Random ops.
def test_normal_is_not_reparameterized(obs, device):
    """torch.normal(mean, std) with both requiring grad records NormalBackward3 whose gradients are zeros."""
    mean = torch.tensor([0.0, 1.0], device=device, dtype=torch.float64, requires_grad=True)
    std = torch.tensor([1.0, 2.0], device=device, dtype=torch.float64, requires_grad=True)
    sample = torch.normal(mean, std)
    obs.facts_of("sample", sample)
    sample.sum().backward()
    obs.facts_of("mean", mean, "grad")
    obs.facts_of("std", std, "grad")


def test_normal_rsample_is_reparameterized(obs, device):
    """torch.distributions.Normal(mean, std).rsample() gives the reparameterized gradients: 1 and (x-mean)/std."""
    mean = torch.tensor([0.0, 1.0], device=device, dtype=torch.float64, requires_grad=True)
    std = torch.tensor([1.0, 2.0], device=device, dtype=torch.float64, requires_grad=True)
    sample = torch.distributions.Normal(mean, std).rsample()
    sample.sum().backward()
    obs.facts_of("mean", mean, "grad")
    obs.fact("std_grad_is_noise.same", torch.allclose(std.grad, ((sample - mean) / std).detach()))


RANDOM_OPS = [
    pytest.param(torch.rand_like, id="rand_like"),
    pytest.param(torch.randn_like, id="randn_like"),
    pytest.param(lambda p: torch.randint_like(p, 5), id="randint_like"),
    pytest.param(torch.bernoulli, id="bernoulli"),
    pytest.param(torch.poisson, id="poisson"),
    pytest.param(lambda p: torch.multinomial(p, 2), id="multinomial"),
    pytest.param(lambda p: (p * 1).normal_(), id="normal_-in-place"),
    pytest.param(lambda p: (p * 1).uniform_(), id="uniform_-in-place"),
    pytest.param(lambda p: (p * 1).bernoulli_(0.5), id="bernoulli_-in-place"),
    pytest.param(lambda p: F.dropout(p, 0.5, training=True), id="dropout-train"),
    pytest.param(lambda p: F.dropout(p, 0.5, training=False), id="dropout-eval"),
]


@pytest.mark.parametrize("op", RANDOM_OPS)
def test_random_op_gradient(obs, device, op):
    """Random ops on an input that requires grad: *_like and multinomial cut the graph, samplers give zero gradients."""
    p = torch.full((4,), 0.5, device=device, requires_grad=True)
    out = op(p)
    obs.facts_of("out", out, "requires_grad", "grad_fn", "dtype")
    if out.requires_grad:
        obs.outcome("backward", lambda: out.sum().backward())
        grad = p.grad
        obs.fact("grad_zero.same", bool((grad == 0).all()))


def test_dropout_gradient_is_scaled_mask(obs, device):
    """Dropout's gradient in train mode is the kept mask scaled by 1/(1-p); reseeding replays the same mask."""
    def run():
        torch.manual_seed(3)
        x = torch.ones(16, device=device, requires_grad=True)
        out = F.dropout(x, 0.25, training=True)
        out.sum().backward()
        return out.detach(), x.grad

    out, grad = run()
    _, again = run()
    obs.fact("grad_matches_mask.same", torch.equal(grad, (out != 0).to(grad.dtype) / 0.75))
    obs.fact("grad_values.value", sorted(set(round(v, 6) for v in grad.tolist())))
    obs.fact("reseeded_equal.same", torch.equal(grad, again))


# Ops whose second derivative is not implemented.
def _ctc(log_probs):
    return F.ctc_loss(log_probs, torch.tensor([[1]]), torch.tensor([3]), torch.tensor([1]))


def _log_probs(device):
    logits = torch.tensor([[[0.1, 0.2, 0.3, 0.4]], [[0.4, 0.3, 0.2, 0.1]], [[0.2, 0.2, 0.3, 0.3]]],
                          device=device, dtype=torch.float64)
    return logits.log_softmax(2)


def _data(device):
    return torch.tensor([[0.1, 0.5], [0.3, 0.9]], device=device, dtype=torch.float64)


def _prod_input(device):
    return torch.tensor([0.0, 0.0, 3.0, 4.0], device=device, dtype=torch.float64)


def _scatter_prod(x):
    index = torch.tensor([0, 0, 1, 1], device=x.device)
    return torch.zeros(2, device=x.device, dtype=x.dtype).scatter_reduce(0, index, x, "prod", include_self=False)


def _index_prod_input(device):
    return torch.tensor([[0.0, 2.0], [0.0, 4.0]], device=device, dtype=torch.float64)


def _index_prod(x):
    index = torch.tensor([0, 0], device=x.device)
    return torch.ones(2, 2, device=x.device, dtype=x.dtype).index_reduce(0, index, x, "prod", include_self=False)


DOUBLE_BACKWARD = [
    pytest.param(lambda x: torch.cdist(x, x.flip(0) + 1), _data, id="cdist"),
    pytest.param(F.pdist, _data, id="pdist"),
    pytest.param(lambda x: F.multi_margin_loss(x, torch.tensor([0, 1], device=x.device)), _data,
                 id="multi_margin_loss"),
    pytest.param(lambda x: F.multilabel_margin_loss(x, torch.tensor([[0, -1], [1, -1]], device=x.device)), _data,
                 id="multilabel_margin_loss"),
    pytest.param(lambda x: torch.segment_reduce(x.flatten(), "max", lengths=torch.tensor([2, 2], device=x.device)),
                 _data, id="segment_reduce-max"),
    pytest.param(_ctc, _log_probs, id="ctc_loss"),
    pytest.param(_scatter_prod, _prod_input, id="scatter_reduce-prod-two-zeros"),
    pytest.param(_index_prod, _index_prod_input, id="index_reduce-prod-two-zeros"),
    pytest.param(lambda x: (x ** 3).sum(), _data, id="pow-control"),
]


@pytest.mark.parametrize("op, make_input", DOUBLE_BACKWARD)
def test_double_backward_not_implemented(obs, device, op, make_input):
    """The first derivative with create_graph=True works; differentiating it again raises for these ops."""
    # warnings (index_reduce's beta notice, once per call) are not the point and are left out
    x = make_input(device).requires_grad_()
    first = obs.outcome("first", lambda: torch.autograd.grad(op(x).sum(), x, create_graph=True), warns=False)
    if first is None:
        return
    (g,) = first
    obs.facts_of("g", g, "requires_grad", "grad_fn")
    if g.requires_grad:
        obs.outcome("second", lambda: torch.autograd.grad(g.sum(), x), warns=False)
