"""backward() and torch.autograd.grad options: gradient=, retain_graph, create_graph, inputs=, accumulation."""

import pytest
import torch

from autograd_conformance.dimensions import FLOATING_DTYPES, dtype_params

pytestmark = pytest.mark.modes("eager", "compile")


def _leaf(device, dtype=torch.float32):
    return torch.tensor([1.0, 2.0, 3.0], device=device, dtype=dtype, requires_grad=True)


# gradient=
def test_implicit_gradient_for_scalar(obs, device):
    """backward() without gradient works for a one-element output."""
    x = _leaf(device)
    obs.outcome("backward", (x * 2).sum().backward)
    obs.facts_of("x", x, "grad")


def test_implicit_gradient_for_one_element_non_scalar(obs, device):
    """backward() without gradient works for a one-element output of shape (1,)."""
    x = _leaf(device)
    obs.outcome("backward", (x * 2).sum().reshape(1).backward)
    obs.facts_of("x", x, "grad")


def test_implicit_gradient_for_vector(obs, device):
    """backward() without gradient on a multi-element output raises."""
    x = _leaf(device)
    obs.outcome("backward", (x * 2).backward)


@pytest.mark.parametrize("shape", [pytest.param((2,), id="too-short"), pytest.param((1,), id="broadcastable"),
                                   pytest.param((3, 1), id="extra-dim")])
def test_gradient_shape_mismatch(obs, device, shape):
    """A gradient whose shape differs from the output's raises (no broadcasting)."""
    x = _leaf(device)
    obs.outcome("backward", lambda: (x * 2).backward(torch.ones(shape, device=device)))


@pytest.mark.parametrize("dtype", dtype_params([torch.float64, torch.float16, torch.int64]))
def test_gradient_dtype_differs(obs, device, dtype):
    """A gradient of another real dtype is cast to the output's dtype; x.grad keeps x's dtype."""
    x = _leaf(device)
    obs.outcome("backward", lambda: (x * 2).backward(torch.ones(3, device=device, dtype=dtype)))
    obs.facts_of("x", x, "grad")


def test_complex_output_without_gradient(obs, device):
    """backward() on a complex scalar without gradient raises."""
    x = _leaf(device, torch.complex64)
    obs.outcome("backward", (x * 2).sum().backward)


def test_complex_output_with_gradient(obs, device):
    """backward(gradient) on a complex output works and fills a complex x.grad."""
    x = _leaf(device, torch.complex64)
    obs.outcome("backward", lambda: (x * 2).backward(torch.ones(3, device=device, dtype=torch.complex64)))
    obs.facts_of("x", x, "grad")


@pytest.mark.parametrize("dtype", dtype_params(FLOATING_DTYPES + [torch.complex128]))
def test_grad_dtype_matches_leaf(obs, device, dtype):
    """x.grad after backward has x's dtype and the right values."""
    x = _leaf(device, dtype)
    y = (x * x).sum()
    obs.outcome("backward", lambda: y.backward(torch.ones_like(y)))
    obs.facts_of("x", x, "grad")


# retain_graph
SECOND_BACKWARD = [
    pytest.param(lambda x: x + 1, id="add-constant"),
    pytest.param(lambda x: x * 2, id="mul-constant"),
    pytest.param(lambda x: x * x, id="mul-self"),
    pytest.param(lambda x: x.exp(), id="exp"),
    pytest.param(lambda x: x.sin(), id="sin"),
    pytest.param(lambda x: x.relu(), id="relu"),
    pytest.param(lambda x: x.view(3, 1), id="view"),
    pytest.param(lambda x: x.sum(), id="sum"),
    pytest.param(lambda x: x @ x, id="matmul"),
    pytest.param(lambda x: x.pow(2), id="pow"),
]


@pytest.mark.parametrize("op", SECOND_BACKWARD)
def test_second_backward_without_retain_graph(obs, device, op):
    """A second backward without retain_graph raises only if the graph saved tensors."""
    x = _leaf(device)
    y = op(x).sum()
    y.backward()
    obs.outcome("second_backward", y.backward)
    obs.facts_of("x", x, "grad")


def test_retain_graph_accumulates(obs, device):
    """With retain_graph=True a second backward works and the gradients accumulate."""
    x = _leaf(device)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    obs.outcome("second_backward", y.backward)
    obs.facts_of("x", x, "grad")


def test_create_graph_implies_retain(obs, device):
    """create_graph=True keeps the graph: a second backward works."""
    x = _leaf(device)
    y = (x * x).sum()
    obs.outcome("first_backward", lambda: y.backward(create_graph=True))
    obs.outcome("second_backward", y.backward)


def test_create_graph_with_retain_false(obs, device):
    """create_graph=True with an explicit retain_graph=False frees the graph: a second backward raises."""
    x = _leaf(device)
    y = (x * x).sum()
    obs.outcome("first_backward", lambda: y.backward(create_graph=True, retain_graph=False))
    obs.outcome("second_backward", y.backward)


# create_graph
def test_create_graph_grad_has_grad_fn(obs, device):
    """After backward(create_graph=True), x.grad requires grad and has a grad_fn (and it warns about a cycle)."""
    x = _leaf(device)
    obs.outcome("backward", lambda: (x ** 3).sum().backward(create_graph=True))
    obs.facts_of("x.grad", x.grad, "requires_grad", "grad_fn", "is_leaf", "values")


def test_second_derivative_of_cube(obs, device):
    """d2/dx2 of x**3 via autograd.grad(create_graph=True) twice is 6x."""
    x = _leaf(device)
    (g,) = torch.autograd.grad((x ** 3).sum(), x, create_graph=True)
    (h,) = torch.autograd.grad(g.sum(), x)
    obs.tensor("first", g)
    obs.tensor("second", h)


def test_autograd_grad_create_graph_under_no_grad(obs, device):
    """torch.autograd.grad with create_graph=True builds a graph even when called under no_grad."""
    x = _leaf(device)
    y = (x ** 2).sum()
    with torch.no_grad():
        (g,) = torch.autograd.grad(y, x, create_graph=True)
    obs.facts_of("g", g, "requires_grad", "grad_fn")


def test_autograd_grad_under_no_grad_without_create_graph(obs, device):
    """torch.autograd.grad under no_grad still computes gradients of a graph built before."""
    x = _leaf(device)
    y = (x ** 2).sum()
    with torch.no_grad():
        (g,) = torch.autograd.grad(y, x)
    obs.facts_of("g", g, "requires_grad", "grad_fn", "values")


# inputs=
INPUTS_FORMS = [
    pytest.param(lambda a, b: [a], id="list"),
    pytest.param(lambda a, b: (a,), id="tuple"),
    pytest.param(lambda a, b: a, id="tensor"),
    pytest.param(lambda a, b: [a, b], id="both-list"),
]


@pytest.mark.parametrize("inputs", INPUTS_FORMS)
def test_inputs_selects_leaves(obs, device, inputs):
    """backward(inputs=...) fills .grad only for the listed leaves, whatever the container."""
    a, b = _leaf(device), _leaf(device)
    obs.outcome("backward", lambda: (a * b).sum().backward(inputs=inputs(a, b)))
    obs.facts_of("a", a, "grad")
    obs.facts_of("b", b, "grad")


def test_inputs_with_non_leaf(obs, device):
    """A non-leaf listed in inputs= gets .grad (and retains it); the leaf behind it gets none."""
    x = _leaf(device)
    y = x * 2
    obs.outcome("backward", lambda: (y * y).sum().backward(inputs=[y]))
    obs.facts_of("y", y, "grad", "retains_grad")
    obs.facts_of("x", x, "grad")


def test_inputs_not_requiring_grad(obs, device):
    """A tensor that does not require grad listed in inputs= raises."""
    x = _leaf(device)
    c = torch.ones(3, device=device)
    obs.outcome("backward", lambda: (x * c).sum().backward(inputs=[c]))


def test_inputs_empty(obs, device):
    """An empty inputs= list raises."""
    x = _leaf(device)
    obs.outcome("backward", lambda: (x * 2).sum().backward(inputs=[]))


def test_inputs_unreachable_leaf(obs, device):
    """A leaf listed in inputs= that the output does not depend on gets no .grad and no error."""
    x, other = _leaf(device), _leaf(device)
    obs.outcome("backward", lambda: (x * 2).sum().backward(inputs=[other]))
    obs.facts_of("other", other, "grad")
    obs.facts_of("x", x, "grad")


# accumulation
def test_two_backwards_accumulate_and_keep_identity(obs, device):
    """Two backwards add into .grad, and the .grad tensor object stays the same one."""
    x = _leaf(device)
    (x * 2).sum().backward()
    first = x.grad
    (x * 3).sum().backward()
    obs.facts_of("x", x, "grad")
    obs.fact("grad_object.same", x.grad is first)


def test_zero_grad_in_place_then_backward(obs, device):
    """x.grad.zero_() keeps the tensor and the next backward writes into it."""
    x = _leaf(device)
    (x * 2).sum().backward()
    first = x.grad
    x.grad.zero_()
    (x * 3).sum().backward()
    obs.facts_of("x", x, "grad")
    obs.fact("grad_object.same", x.grad is first)


def test_grad_set_to_none_then_backward(obs, device):
    """Setting x.grad = None makes the next backward allocate a fresh .grad."""
    x = _leaf(device)
    (x * 2).sum().backward()
    first = x.grad
    x.grad = None
    (x * 3).sum().backward()
    obs.facts_of("x", x, "grad")
    obs.fact("grad_object.same", x.grad is first)


# torch.autograd.grad
def test_grad_allow_unused_false(obs, device):
    """autograd.grad with an input the output does not use raises, naming the input's index."""
    x, unused = _leaf(device), _leaf(device)
    obs.outcome("grad", lambda: torch.autograd.grad((x * 2).sum(), [x, unused]))


def test_grad_allow_unused_true(obs, device):
    """allow_unused=True returns None for the unused input."""
    x, unused = _leaf(device), _leaf(device)
    grads = torch.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)
    obs.tensor("grad0", grads[0])
    obs.fact("grad1_is_none.same", grads[1] is None)


def test_grad_materialize_grads(obs, device):
    """materialize_grads=True returns zeros instead of None for the unused input (where the argument exists)."""
    x, unused = _leaf(device), _leaf(device)
    grads = obs.outcome("grad", lambda: torch.autograd.grad((x * 2).sum(), [x, unused], materialize_grads=True))
    if grads is not None:
        obs.tensor("grad1", grads[1])


def test_grad_outputs(obs, device):
    """grad_outputs weights the vector-Jacobian product."""
    x = _leaf(device)
    (g,) = torch.autograd.grad(x * x, x, grad_outputs=torch.tensor([1.0, 0.5, 0.0], device=device))
    obs.tensor("g", g)


def test_grad_only_inputs_false(obs, device):
    """only_inputs=False is deprecated: it warns and is ignored."""
    x = _leaf(device)
    result = obs.outcome("grad", lambda: torch.autograd.grad((x * 2).sum(), x, only_inputs=False))
    if result is not None:
        obs.tensor("g", result[0])
        obs.facts_of("x", x, "grad")


def test_grad_is_grads_batched(obs, device):
    """is_grads_batched=True computes one vector-Jacobian product per row of grad_outputs."""
    x = _leaf(device)
    result = obs.outcome("grad", lambda: torch.autograd.grad(
        x * x, x, grad_outputs=torch.eye(3, device=device), is_grads_batched=True))
    if result is not None:
        obs.tensor("g", result[0])


def test_grad_length_mismatch(obs, device):
    """outputs and grad_outputs of different lengths raise."""
    x = _leaf(device)
    y = x * 2
    obs.outcome("grad", lambda: torch.autograd.grad([y, y], x, grad_outputs=[torch.ones(3, device=device)]))


def test_grad_does_not_touch_dot_grad(obs, device):
    """autograd.grad returns gradients without accumulating into x.grad."""
    x = _leaf(device)
    torch.autograd.grad((x * 2).sum(), x)
    obs.facts_of("x", x, "grad")


# what cannot be backpropagated
def test_backward_on_tensor_without_grad(obs, device):
    """backward on a tensor that does not require grad raises."""
    obs.outcome("backward", torch.ones(1, device=device).backward)


def test_backward_on_integer_output(obs, device):
    """backward on an integer output raises."""
    obs.outcome("backward", torch.ones(1, device=device, dtype=torch.int64).backward)


def test_backward_through_freed_graph_via_autograd_grad(obs, device):
    """autograd.grad frees the graph by default: a later backward raises."""
    x = _leaf(device)
    y = (x * x).sum()
    torch.autograd.grad(y, x)
    obs.outcome("backward", y.backward)


def test_torch_autograd_backward_function(obs, device):
    """torch.autograd.backward with several tensors and grad_tensors sums their contributions."""
    x = _leaf(device)
    obs.outcome("backward", lambda: torch.autograd.backward(
        [x * 2, x * 3], grad_tensors=[torch.ones(3, device=device), torch.full((3,), 2.0, device=device)]))
    obs.facts_of("x", x, "grad")


# Argument forms at their edges (eager: what the call accepts, not what a compiled region does with it).
@pytest.mark.modes("eager")
@pytest.mark.parametrize("form", ["dict", "dict-values", "generator"])
def test_inputs_given_as_a_mapping_or_generator(obs, device, form):
    """autograd.grad and backward with inputs= given as a dict, its values() or a generator."""
    x = _leaf(device)
    make = {"dict": lambda: {"x": x}, "dict-values": lambda: {"x": x}.values(), "generator": lambda: (t for t in [x])}
    y = (x * 2).sum()
    grads = obs.outcome("grad", lambda: torch.autograd.grad(y, make[form](), retain_graph=True))
    if grads is not None:
        obs.fact("grad.value", [g.tolist() if isinstance(g, torch.Tensor) else type(g).__name__ for g in grads])
    obs.outcome("backward", lambda: y.backward(inputs=make[form]()))
    obs.facts_of("x", x, "grad")


@pytest.mark.modes("eager")
def test_deprecated_grad_variables_keyword(obs, device):
    """torch.autograd.backward(grad_variables=...) (the old name of grad_tensors)."""
    x = _leaf(device)
    y = x * 2
    obs.outcome("backward", lambda: torch.autograd.backward(y, grad_variables=torch.ones_like(y)))
    obs.facts_of("x", x, "grad")


@pytest.mark.modes("eager")
@pytest.mark.parametrize("output", ["leaf", "non-leaf"])
def test_grad_of_a_tensor_with_respect_to_itself(obs, device, output):
    """autograd.grad(t, t) with an explicit gradient: the gradient itself, for a leaf and for a non-leaf."""
    x = _leaf(device)
    t = x if output == "leaf" else x * 2
    grads = obs.outcome("grad", lambda: torch.autograd.grad(t, t, torch.full_like(t, 3.0)))
    if grads is not None:
        obs.fact("grad.value", grads[0].tolist())


@pytest.mark.modes("eager")
def test_grad_with_respect_to_a_zero_dim_intermediate(obs, device):
    """The gradient with respect to a 0-d intermediate, and through it to the leaf."""
    x = _leaf(device)
    s = (x * x).sum()
    y = s * 3 + s ** 2
    grads = obs.outcome("grad", lambda: torch.autograd.grad(y, [s, x]))
    if grads is not None:
        obs.fact("grad.value", [g.tolist() for g in grads])
        obs.fact("grad.shape", list(grads[0].shape))


@pytest.mark.modes("eager")
@pytest.mark.parametrize("gradient", [
    pytest.param(2.0, id="python-float"), pytest.param([1.0, 1.0, 1.0], id="list"), pytest.param(1, id="python-int"),
    pytest.param("tensor-int", id="integer-tensor"), pytest.param("tensor-bool", id="bool-tensor"),
])
def test_gradient_that_is_not_a_float_tensor(obs, device, gradient):
    """backward(gradient=...) given a Python number, a list, or an integer or bool tensor."""
    x = _leaf(device)
    y = x * 2
    if gradient == "tensor-int":
        gradient = torch.ones(3, dtype=torch.int64, device=device)
    elif gradient == "tensor-bool":
        gradient = torch.ones(3, dtype=torch.bool, device=device)
    obs.outcome("backward", lambda: y.backward(gradient))
    obs.facts_of("x", x, "grad")


@pytest.mark.modes("eager")
def test_second_backward_from_another_thread_without_retain_graph(obs, device):
    """One thread runs backward on a graph, then another thread runs it again without retain_graph."""
    import threading

    x = _leaf(device)
    y = (x * x).sum()
    raised = []

    def run():
        try:
            y.backward()
            raised.append("no error")
        except RuntimeError as exc:
            raised.append(type(exc).__name__)

    for _ in range(2):
        worker = threading.Thread(target=run)
        worker.start()
        worker.join()
    obs.fact("threads.value", raised)
    obs.facts_of("x", x, "grad")
