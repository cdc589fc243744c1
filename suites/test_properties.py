"""Autograd invariants over generated tensors, dtypes, grad modes and op chains drawn from the op registry.

Each probe runs one hypothesis property and observes whether it held; examples are plain data (shapes,
values, op ids) so a falsifying example reads as the scenario. The profile decides how many examples run.
"""

import math

import torch
from hypothesis import assume
from hypothesis import strategies as st

from autograd_conformance import registry
from autograd_conformance.invariants import check

DIFF = registry.of_class(registry.DIFFERENTIABLE)
FLOAT_DTYPES = ["float16", "bfloat16", "float32", "float64"]
SPECIAL = [0.0, -0.0, math.inf, -math.inf, math.nan]

shapes = st.lists(st.integers(0, 3), max_size=4).map(tuple)  # 0-d to 4-d, empty dims included
nonempty_shapes = st.lists(st.integers(1, 3), max_size=3).map(tuple)
grad_modes = st.sampled_from(["enabled", "no_grad", "inference_mode"])


def values(special: bool = False, low: float = -3.0, high: float = 3.0):
    finite = st.floats(low, high, allow_nan=False, allow_infinity=False)
    return st.one_of(finite, st.sampled_from(SPECIAL)) if special else finite


@st.composite
def cases(draw, shape=shapes, special=False, low=-3.0, high=3.0):
    """(shape, flat values) of a tensor to build."""
    size = draw(shape)
    n = math.prod(size)
    return size, draw(st.lists(values(special, low, high), min_size=n, max_size=n))


def chains(ops=None, max_size=3):
    return st.lists(st.sampled_from([op.id for op in (ops or DIFF)]), min_size=1, max_size=max_size)


def make(case, dtype="float64", requires_grad=True):
    size, flat = case
    return torch.tensor(flat, dtype=getattr(torch, dtype)).reshape(size).requires_grad_(requires_grad)


def apply(chain, x):
    for op_id in chain:
        x = registry.BY_ID[op_id](x)
    return x


def under(mode, body):
    if mode == "no_grad":
        with torch.no_grad():
            return body()
    if mode == "inference_mode":
        with torch.inference_mode():
            return body()
    return body()


def test_requires_grad_rule(obs):
    """output.requires_grad == grad mode on ∧ input requires grad ∧ op not non-differentiable ∧ floating output."""
    def body(op_id, case, dtype, requires_grad, mode):
        op = registry.BY_ID[op_id]
        x = make(case, dtype, requires_grad)
        out = under(mode, lambda: op(x))
        expected = (mode == "enabled" and requires_grad and op.klass != registry.NON_DIFFERENTIABLE
                    and (out.is_floating_point() or out.is_complex()))
        assert out.requires_grad == expected, f"{op_id} ({op.klass}): requires_grad={out.requires_grad}"

    check(obs, "requires_grad_rule", body, op_id=st.sampled_from(list(registry.BY_ID)), case=cases(),
          dtype=st.sampled_from(FLOAT_DTYPES), requires_grad=st.booleans(), mode=grad_modes)


def test_is_leaf_rule(obs):
    """Every tensor a chain produces: is_leaf == (not requires_grad) or (grad_fn is None)."""
    def body(chain, case, requires_grad, mode):
        x = make(case, requires_grad=requires_grad)
        tensors = [x]
        def run():
            for op_id in chain:
                tensors.append(registry.BY_ID[op_id](tensors[-1]))
        under(mode, run)
        for t in tensors:
            assert t.is_leaf == ((not t.requires_grad) or t.grad_fn is None), t

    check(obs, "is_leaf_rule", body, chain=chains(registry.of_class(registry.DIFFERENTIABLE, registry.ZERO_GRADIENT)),
          case=cases(), requires_grad=st.booleans(), mode=grad_modes)


def test_no_grad_and_inference_outputs(obs):
    """Nothing produced under no_grad or inference_mode requires grad; inference_mode outputs are inference tensors."""
    def body(chain, case, mode):
        x = make(case)
        out = under(mode, lambda: apply(chain, x))
        assert not out.requires_grad and out.is_leaf
        assert out.is_inference() == (mode == "inference_mode")

    check(obs, "no_grad_outputs", body, chain=chains(), case=cases(), mode=st.sampled_from(["no_grad", "inference_mode"]))


def test_detach_shares_storage_and_version(obs):
    """detach() shares storage and the version counter, does not require grad, and is a leaf."""
    def body(chain, case):
        y = apply(chain, make(case))
        d = y.detach()
        assert d.data_ptr() == y.data_ptr() and not d.requires_grad and d.is_leaf
        before = y._version
        d.add_(1)
        assert y._version == before + 1 == d._version

    check(obs, "detach_shares", body, chain=chains(), case=cases())


def test_inplace_bumps_version_and_saved_tensors_are_checked(obs):
    """Every in-place op bumps _version; modifying what an op saved makes backward raise, anything else does not."""
    def body(op_id, case, modify):
        op = registry.BY_ID[op_id]
        x = make(case)
        y = x * 1
        z = op(y)
        target = y if modify == "input" else z
        before = target._version
        target.mul_(1)
        assert target._version == before + 1
        try:
            z.sum().backward()
            raised = False
        except RuntimeError as exc:
            assert "modified by an inplace operation" in str(exc), exc
            raised = True
        assert raised == (op.saves == modify), f"{op_id} saves {op.saves}; modified its {modify}: raised={raised}"

    check(obs, "inplace_saved_tensors", body, op_id=st.sampled_from([op.id for op in DIFF]),
          case=cases(nonempty_shapes), modify=st.sampled_from(["input", "output"]))


def test_retained_backwards_accumulate(obs):
    """k backward calls with retain_graph accumulate k times the single gradient."""
    def body(chain, case, k):
        x = make(case)
        y = apply(chain, x).sum()
        (single,) = torch.autograd.grad(y, x, retain_graph=True)
        for _ in range(k):
            y.backward(retain_graph=True)
        torch.testing.assert_close(x.grad, single * k, equal_nan=True)

    check(obs, "retained_accumulate", body, chain=chains(), case=cases(low=0.1), k=st.integers(1, 4))


def test_vjp_matches_jacobian(obs):
    """backward(gradient=g) equals Jᵀg from torch.autograd.functional.jacobian (float64)."""
    def body(chain, case, scale):
        x = make(case)
        assume(0 < x.numel() <= 12)  # jacobian() cannot stack an empty input (forward_ad/test_jacobian_of_empty_input)
        out = apply(chain, x)
        g = torch.linspace(-1, 1, out.numel(), dtype=torch.float64).reshape(out.shape) * scale
        out.backward(g)
        jac = torch.autograd.functional.jacobian(lambda t: apply(chain, t), x.detach())
        expected = (jac.reshape(out.numel(), x.numel()).T @ g.reshape(-1)).reshape(x.shape)
        torch.testing.assert_close(x.grad, expected, equal_nan=True)

    check(obs, "vjp_jacobian", body, chain=chains(), case=cases(low=0.1, high=2.0), scale=values(low=-2, high=2))


def test_gradient_argument_is_linear(obs):
    """The gradient backward computes is linear in gradient=: grad(a·g1 + b·g2) = a·grad(g1) + b·grad(g2)."""
    def body(chain, case, a, b):
        x = make(case)
        out = apply(chain, x)
        g1, g2 = torch.ones_like(out), torch.full_like(out, 0.5)
        (r1,) = torch.autograd.grad(out, x, g1, retain_graph=True)
        (r2,) = torch.autograd.grad(out, x, g2, retain_graph=True)
        (r,) = torch.autograd.grad(out, x, a * g1 + b * g2)
        torch.testing.assert_close(r, a * r1 + b * r2, equal_nan=True)

    check(obs, "gradient_linear", body, chain=chains(), case=cases(low=0.1, high=2.0),
          a=values(low=-2, high=2), b=values(low=-2, high=2))


def test_inputs_changes_exactly_the_listed_leaves(obs):
    """backward(inputs=...) fills .grad for exactly the listed leaves."""
    def body(chain, case, listed):
        a, b, c = make(case), make(case), make(case)
        leaves = {"a": a, "b": b, "c": c}
        (apply(chain, a) + apply(chain, b) + apply(chain, c)).sum().backward(inputs=[leaves[n] for n in listed])
        for name, leaf in leaves.items():
            assert (leaf.grad is not None) == (name in listed), name

    check(obs, "inputs_exact", body, chain=chains(), case=cases(low=0.1),
          listed=st.lists(st.sampled_from("abc"), min_size=1, max_size=3, unique=True))


def test_second_derivatives_match_the_hessian(obs):
    """create_graph second derivatives equal torch.autograd.functional.hessian, which is symmetric."""
    def body(chain, case):
        x = make(case)
        assume(0 < x.numel() <= 6)
        def f(t):
            return apply(chain, t).sum()
        (g,) = torch.autograd.grad(f(x), x, create_graph=True)
        hessian = torch.autograd.functional.hessian(f, x.detach()).reshape(x.numel(), x.numel())
        if not g.requires_grad:  # a linear chain: its gradient is constant and has no graph to differentiate
            assert bool((hessian == 0).all()), hessian
            return
        rows = [torch.autograd.grad(g.reshape(-1)[i], x, retain_graph=True, allow_unused=True,
                                    materialize_grads=True)[0].reshape(-1) for i in range(x.numel())]
        torch.testing.assert_close(torch.stack(rows), hessian, equal_nan=True)
        torch.testing.assert_close(hessian, hessian.T, equal_nan=True)

    check(obs, "hessian", body, chain=chains(max_size=2), case=cases(nonempty_shapes, low=0.2, high=2.0))


def test_zero_gradient_and_non_differentiable_classes(obs):
    """Zero-gradient ops give exactly zero gradients for any input; non-differentiable ops never require grad."""
    def body(op_id, case, dtype):
        op = registry.BY_ID[op_id]
        x = make(case, dtype)
        out = op(x)
        if op.klass == registry.NON_DIFFERENTIABLE:
            assert not out.requires_grad
            return
        out.sum().backward()
        assert x.grad is not None and bool((x.grad == 0).all()), f"{op_id}: {x.grad}"

    ops = registry.of_class(registry.ZERO_GRADIENT, registry.NON_DIFFERENTIABLE)
    check(obs, "zero_gradient_class", body, op_id=st.sampled_from([op.id for op in ops]),
          case=cases(special=True), dtype=st.sampled_from(["float32", "float64"]))


def test_gradcheck_of_differentiable_ops(obs):
    """gradcheck (float64) passes for every differentiable registry op at generated points in its smooth range."""
    def body(op_id, data):
        op = registry.BY_ID[op_id]
        low, high = op.smooth
        x = make(data.draw(cases(nonempty_shapes, low=low, high=high), label="case"))
        assert torch.autograd.gradcheck(op.fn, (x,), eps=1e-6, atol=1e-5)

    check(obs, "gradcheck", body, op_id=st.sampled_from([op.id for op in DIFF]), data=st.data())


def test_second_backward_raises_iff_something_was_saved(obs):
    """Backward through a chain twice without retain_graph raises iff some op in the chain saved a tensor."""
    def body(chain, case):
        y = apply(chain, make(case)).sum()
        y.backward()
        try:
            y.backward()
            raised = False
        except RuntimeError as exc:
            assert "backward through the graph a second time" in str(exc), exc
            raised = True
        saved = any(registry.BY_ID[i].saves != "none" for i in chain)
        assert raised == saved, f"chain {chain}: saved={saved}, raised={raised}"

    check(obs, "second_backward", body, chain=chains(), case=cases(low=0.1))


def test_same_chain_same_facts(obs):
    """The same chain on the same input gives the same facts and values every time (no hidden state)."""
    def body(chain, case):
        def facts():
            x = make(case)
            out = apply(chain, x)
            out.sum().backward()
            return (out.requires_grad, type(out.grad_fn).__name__, out.detach().tolist(), x.grad.tolist())
        first, second = facts(), facts()
        assert repr(first) == repr(second)

    check(obs, "no_hidden_state", body, chain=chains(), case=cases(low=0.1))


def test_empty_tensors_get_empty_gradients(obs):
    """A chain on a tensor with an empty dimension backpropagates an empty gradient of the same shape."""
    def body(chain, size):
        x = torch.zeros(size, dtype=torch.float64, requires_grad=True)
        apply(chain, x).sum().backward()
        assert x.grad is not None and x.grad.shape == x.shape and x.grad.numel() == 0

    check(obs, "empty_gradients", body, chain=chains(),
          size=st.lists(st.integers(0, 3), min_size=1, max_size=4).filter(lambda s: 0 in s).map(tuple))
