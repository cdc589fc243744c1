"""torch.autograd.graph.allow_mutation_on_saved_tensors: in-place changes of tensors saved for backward inside
the context (through the tensor, a view, its base, detach(), out=, no_grad, a custom Function's saved input,
saved outputs) and the pre-mutation gradients backward then gives, which changes clone a saved tensor, what
stays forbidden (leaves, multi-output views), backward after the context exits or in another context (the
exact error), graphs recorded outside it, and nesting."""

import pytest
import torch

from autograd_conformance.observe import require


def _context():
    return require("torch.autograd.graph.allow_mutation_on_saved_tensors")


def _x(device):
    return torch.tensor([1.0, 2.0], device=device, requires_grad=True)


def _clone_count(state):
    """How many saved tensors the context has cloned (-1 where its state object has no ``cloned`` mapping)."""
    cloned = getattr(state, "cloned", None)
    return -1 if cloned is None else len(cloned)


def _setitem(t):
    t[0] = 5.0


def _out(t):
    torch.mul(torch.ones_like(t), 10, out=t.detach())


def _under_no_grad(t):
    with torch.no_grad():
        t.mul_(10)


MUTATIONS = [
    pytest.param(lambda b: b.sin_(), id="sin_"),
    pytest.param(lambda b: b.mul_(10), id="mul_"),
    pytest.param(lambda b: b.add_(1), id="add_"),
    pytest.param(lambda b: b.zero_(), id="zero_"),
    pytest.param(lambda b: b.copy_(torch.full_like(b, 7.0)), id="copy_"),
    pytest.param(_setitem, id="setitem"),
    pytest.param(lambda b: b.mul_(3).mul_(5), id="twice"),
    pytest.param(lambda b: b.view_as(b).sin_(), id="through-view_as"),
    pytest.param(lambda b: b[0:1].mul_(10), id="through-slice"),
    pytest.param(lambda b: b.detach().mul_(10), id="through-detach"),
    pytest.param(_out, id="out="),
    pytest.param(_under_no_grad, id="under-no_grad"),
]


@pytest.mark.parametrize("mutate", MUTATIONS)
def test_mutated_saved_input(obs, device, mutate):
    """A saved input changed in place inside the context: backward succeeds with the gradient of the original values."""
    allow = _context()
    x = _x(device)
    with allow():
        b = x.clone()
        out = (b * b).sum()
        mutate(b)
        obs.facts_of("b", b, "version", "grad_fn")
        obs.outcome("backward", out.backward)
    obs.facts_of("x", x, "grad")


@pytest.mark.parametrize("mutate", MUTATIONS)
def test_mutated_saved_input_without_context(obs, device, mutate):
    """The same change outside the context: backward raises the version error."""
    x = _x(device)
    b = x.clone()
    out = (b * b).sum()
    mutate(b)
    obs.outcome("backward", out.backward)


SAVES_OUTPUT = [
    pytest.param(lambda b: b.exp(), id="exp"),
    pytest.param(lambda b: b.sigmoid(), id="sigmoid"),
    pytest.param(lambda b: b.tanh(), id="tanh"),
    pytest.param(lambda b: b.sqrt(), id="sqrt"),
]


@pytest.mark.parametrize("through", [pytest.param(False, id="directly"), pytest.param(True, id="through-detach")])
@pytest.mark.parametrize("op", SAVES_OUTPUT)
def test_mutated_saved_output(obs, device, op, through):
    """An op's saved output changed in place inside the context: backward uses the original output."""
    allow = _context()
    x = _x(device)
    with allow():
        y = op(x.clone())
        loss = y.sum()
        (y.detach() if through else y).mul_(10)
        obs.outcome("backward", loss.backward)
    obs.facts_of("x", x, "grad")


def test_mutated_base_of_saved_view(obs, device):
    """A saved view whose base is changed in place inside the context: backward uses the view's original values."""
    allow = _context()
    x = _x(device)
    with allow():
        b = x.clone()
        v = b[0:1]
        out = (v * v).sum()
        b.mul_(10)
        obs.outcome("backward", out.backward)
    obs.facts_of("x", x, "grad")


def test_saved_base_and_view_mutated(obs, device):
    """A base and its view both saved, the base changed in place: backward uses both original values."""
    allow = _context()
    x = _x(device)
    with allow():
        b = x.clone()
        v = b[0:1]
        out = (b * b).sum() + (v * v).sum()
        b.mul_(3)
        obs.outcome("backward", out.backward)
    obs.facts_of("x", x, "grad")


def test_saved_twice_at_two_versions(obs, device):
    """A tensor saved, changed, saved again and changed again: each saved use keeps the values it had when saved."""
    allow = _context()
    x = _x(device)
    with allow():
        b = x.clone()
        first = (b * b).sum()
        b.mul_(3)
        second = (b * b).sum()
        b.mul_(5)
        obs.outcome("backward", (first + second).backward)
    obs.facts_of("x", x, "grad")


def test_custom_function_saved_input_mutated(obs, device):
    """A custom Function's save_for_backward input changed in place inside the context: backward sees the original."""
    allow = _context()

    class Square(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * a

        @staticmethod
        def backward(ctx, grad):
            (a,) = ctx.saved_tensors
            return 2 * a * grad

    x = _x(device)
    with allow():
        b = x.clone()
        out = Square.apply(b).sum()
        b.mul_(3)
        obs.outcome("backward", out.backward)
    obs.facts_of("x", x, "grad")


def test_mutated_value_is_seen_by_forward(obs, device):
    """Inside the context the change itself happens as usual: the tensor has the new values, a bumped version and a new grad_fn."""
    allow = _context()
    x = _x(device)
    with allow():
        b = x.clone()
        (b * b).sum()
        b.mul_(2)
        obs.facts_of("b", b, "values", "version", "grad_fn")


CLONE_COUNTS = [
    pytest.param(lambda x: [], id="nothing-changed"),
    pytest.param(lambda x: [x.clone().mul_(3)], id="unsaved-changed"),
    pytest.param(lambda x: _changed_saved(x, 1), id="saved-changed-once"),
    pytest.param(lambda x: _changed_saved(x, 2), id="saved-changed-twice"),
    pytest.param(lambda x: _changed_saved(x, 1) + _changed_saved(x, 1), id="two-saved-changed"),
]


def _changed_saved(x, times):
    b = x.clone()
    out = b * b
    for _ in range(times):
        b.mul_(3)
    return [b, out]


@pytest.mark.parametrize("scenario", CLONE_COUNTS)
def test_clones_made(obs, device, scenario):
    """The context's state: one clone per saved tensor changed in place (none for unsaved ones, one for repeated changes), cleared on exit."""
    allow = _context()
    x = _x(device)
    with allow() as state:
        keep = scenario(x)
        obs.fact("clones.count", _clone_count(state))
    obs.fact("after_exit.count", _clone_count(state))
    del keep


def test_retain_graph_second_backward(obs, device):
    """With retain_graph, a second backward inside the context gives the same pre-mutation gradient again."""
    allow = _context()
    x = _x(device)
    with allow():
        b = x.clone()
        out = (b * b).sum()
        b.mul_(3)
        obs.outcome("first", lambda: out.backward(retain_graph=True))
        obs.facts_of("first", x, "grad")
        x.grad = None
        obs.outcome("second", out.backward)
        obs.facts_of("second", x, "grad")


def test_autograd_grad_and_double_backward(obs, device):
    """torch.autograd.grad inside the context uses the original value, also with create_graph and a second derivative."""
    allow = _context()
    x = _x(device)
    with allow():
        b = x.clone()
        out = (b * b * b).sum()
        b.mul_(3)
        grads = obs.outcome("grad", lambda: torch.autograd.grad(out, x, create_graph=True))
        obs.facts_of("first", grads[0], "values", "grad_fn")
        second = obs.outcome("second", lambda: torch.autograd.grad(grads[0].sum(), x))
        obs.tensor("second", second[0])


def test_backward_before_mutation(obs, device):
    """A tensor changed in place after backward already used it: nothing to clone, the gradient is unaffected."""
    allow = _context()
    x = _x(device)
    with allow() as state:
        b = x.clone()
        out = (b * b).sum()
        obs.outcome("backward", out.backward)
        obs.outcome("mutate", lambda: b.mul_(3))
        obs.fact("clones.count", _clone_count(state))
    obs.facts_of("x", x, "grad")


def test_leaf_requiring_grad_still_forbidden(obs, device):
    """In-place on a leaf that requires grad still raises inside the context."""
    allow = _context()
    x = _x(device)
    with allow():
        obs.outcome("inplace", lambda: x.mul_(2))
    obs.facts_of("x", x, "version", "values")


def test_multi_output_view_still_forbidden(obs, device):
    """In-place on an output of unbind still raises inside the context."""
    allow = _context()
    x = _x(device)
    with allow():
        pieces = x.clone().unbind(0)
        obs.outcome("inplace", lambda: pieces[0].mul_(2))


AFTER_EXIT = [
    pytest.param(lambda b: b.sin_(), True, id="mutated-saved"),
    pytest.param(lambda b: None, True, id="nothing-mutated"),
    pytest.param(lambda b: None, False, id="nothing-saved"),
]


@pytest.mark.parametrize("mutate,saves", AFTER_EXIT)
def test_backward_after_context_exits(obs, device, mutate, saves):
    """Backward after the context that recorded the graph has exited raises iff the graph saved a tensor."""
    allow = _context()
    x = _x(device)
    with allow():
        b = x.clone()
        out = (b * b).sum() if saves else (b + 1).sum()
        mutate(b)
    obs.outcome("backward", out.backward)
    obs.facts_of("x", x, "grad")


def test_backward_in_another_context(obs, device):
    """Backward inside a second context, not the one that recorded the graph, raises the same error."""
    allow = _context()
    x = _x(device)
    with allow():
        b = x.clone()
        out = (b * b).sum()
        b.sin_()
    with allow():
        obs.outcome("backward", out.backward)


def test_graph_recorded_outside_backward_inside(obs, device):
    """A graph recorded before the context, with nothing changed, runs backward inside it as usual."""
    allow = _context()
    x = _x(device)
    b = x.clone()
    out = (b * b).sum()
    with allow():
        obs.outcome("backward", out.backward)
    obs.facts_of("x", x, "grad")


def test_graph_recorded_outside_mutated_inside(obs, device):
    """A tensor saved before the context and changed inside it: the context does not help, backward raises the version error."""
    allow = _context()
    x = _x(device)
    b = x.clone()
    out = (b * b).sum()
    with allow():
        b.sin_()
        obs.outcome("backward", out.backward)


def test_nested_contexts(obs, device):
    """Entering the context inside itself raises; the outer context is left disabled, so its own backward then raises."""
    allow = _context()
    x = _x(device)

    def nest():
        with allow():
            pass

    with allow():
        b = x.clone()
        out = (b * b).sum()
        b.sin_()
        obs.outcome("nested", nest)
        obs.outcome("outer_backward", out.backward)
    obs.facts_of("x", x, "grad")


def test_sequential_contexts(obs, device):
    """A second context after the first exits works on its own graph."""
    allow = _context()
    x = _x(device)
    with allow():
        b = x.clone()
        (b * b).sum().backward()
    x.grad = None
    with allow():
        b = x.clone()
        out = (b * b).sum()
        b.mul_(10)
        obs.outcome("backward", out.backward)
    obs.facts_of("x", x, "grad")


def test_clone_then_mutate_clone(obs, device):
    """Changing a user-made clone of a saved tensor needs no protection: the saved tensor is untouched and no clone is made."""
    allow = _context()
    x = _x(device)
    with allow() as state:
        b = x.clone()
        out = (b * b).sum()
        c = b.clone()
        c.mul_(10)
        obs.fact("clones.count", _clone_count(state))
        obs.outcome("backward", out.backward)
    obs.facts_of("x", x, "grad")
    obs.facts_of("b", b, "version", "values")
