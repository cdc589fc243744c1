"""Gradient hooks: Tensor.register_hook on leaves, non-leaves and views (order, return values, validation errors,
removal), register_post_accumulate_grad_hook, Node pre-hooks and hooks, the call order of all kinds on one backward,
register_multi_grad_hook ("all"/"any"), retain_grad with hooks, Module full backward (pre-)hooks, and hooks that raise."""

import inspect

import pytest
import torch

from autograd_conformance.observe import require

pytestmark = pytest.mark.modes("eager", "compile")


def _leaf(device):
    return torch.tensor([1.0, 2.0], device=device, requires_grad=True)


def _hooked(device, where):
    """(leaf, tensor to hook, loss maker): the tensor is the leaf itself or a non-leaf y = x * 3."""
    x = _leaf(device)
    t = x if where == "leaf" else x * 3
    return x, t, lambda: (t * torch.tensor([1.0, 2.0], device=device)).sum()


WHERE = [pytest.param("leaf", id="leaf"), pytest.param("non-leaf", id="non-leaf")]


def _listed(grads):
    return ["None" if g is None else g.tolist() for g in grads]


# Tensor.register_hook: order, return values
@pytest.mark.parametrize("where", WHERE)
def test_tensor_hooks_order_and_return_values(obs, device, where):
    """Hooks run in registration order; a returned tensor replaces the gradient for later hooks, None keeps it."""
    x, t, loss = _hooked(device, where)
    calls = []
    t.register_hook(lambda g: calls.append(["first", g.tolist()]) or g + 1)
    t.register_hook(lambda g: calls.append(["second", g.tolist()]))
    t.register_hook(lambda g: calls.append(["third", g.tolist()]) or g * 10)
    obs.outcome("backward", lambda: loss().backward())
    obs.fact("hooks.calls", calls)
    obs.facts_of("x", x, "grad")


@pytest.mark.parametrize("where", WHERE)
def test_tensor_hook_modifying_gradient_in_place(obs, device, where):
    """A hook that modifies its gradient argument in place and returns None: what reaches the leaf."""
    x, t, loss = _hooked(device, where)

    def scale_in_place(g):
        g.mul_(100)

    t.register_hook(scale_in_place)
    obs.outcome("backward", lambda: loss().backward())
    obs.facts_of("x", x, "grad")


def test_same_hook_registered_twice(obs, device):
    """The same function registered twice runs twice."""
    x = _leaf(device)
    calls = []

    def hook(g):
        calls.append(g.tolist())
        return g * 2

    x.register_hook(hook)
    x.register_hook(hook)
    (x * 1).sum().backward()
    obs.fact("hook.calls", calls)
    obs.facts_of("x", x, "grad")


def test_hook_on_non_leaf_used_twice(obs, device):
    """A hook on a non-leaf used by two ops runs once, with the summed gradient."""
    x = _leaf(device)
    y = x * 3
    calls = []
    y.register_hook(lambda g: calls.append(g.tolist()))
    (y * 2 + y * 5).sum().backward()
    obs.fact("hook.calls", calls)
    obs.facts_of("x", x, "grad")


def test_hook_runs_once_per_backward(obs, device):
    """With retain_graph, a hook runs again on every backward."""
    x = _leaf(device)
    y = x * 3
    calls = []
    y.register_hook(lambda g: calls.append(g.tolist()))
    z = (y * y).sum()
    z.backward(retain_graph=True)
    z.backward()
    obs.fact("hook.calls", calls)


# Tensor.register_hook: return validation
def _ones(n, **kw):
    return lambda g: torch.ones(n, device=g.device, **kw)


BAD_RETURNS = [
    pytest.param(_ones(3), id="wrong-size"),
    pytest.param(lambda g: g.reshape(1, 2), id="extra-dim"),
    pytest.param(lambda g: g.sum(), id="scalar"),
    pytest.param(lambda g: g.double(), id="float64"),
    pytest.param(lambda g: g.half(), id="float16"),
    pytest.param(lambda g: g.long(), id="int64"),
    pytest.param(lambda g: g.to(torch.complex64), id="complex64"),
    pytest.param(lambda g: 1, id="int"),
    pytest.param(lambda g: "gradient", id="str"),
    pytest.param(lambda g: (g,), id="tuple"),
    pytest.param(lambda g: g.tolist(), id="list"),
    pytest.param(lambda g: g.to("meta"), id="meta-device"),
    pytest.param(lambda g: torch.ones(1, device=g.device).expand(2), id="expanded-ok"),
    pytest.param(lambda g: g.detach().requires_grad_(), id="requires-grad-ok"),
]


@pytest.mark.parametrize("returns", BAD_RETURNS)
@pytest.mark.parametrize("where", WHERE)
def test_tensor_hook_return_validation(obs, device, where, returns):
    """A hook returning another size, dtype, device or a non-tensor makes backward raise naming the hook."""
    x, t, loss = _hooked(device, where)

    def bad_hook(g):
        return returns(g)

    t.register_hook(bad_hook)
    obs.outcome("backward", lambda: loss().backward())
    obs.facts_of("x", x, "grad")
    if x.grad is not None:
        obs.facts_of("x.grad", x.grad, "requires_grad")


# removal
def test_remove_one_of_several_hooks(obs, device):
    """Removing the middle of three hooks leaves the other two running; remove() a second time does nothing."""
    x = _leaf(device)
    calls = []
    handles = [x.register_hook(lambda g, i=i: calls.append(i)) for i in range(3)]
    handles[1].remove()
    obs.outcome("remove_again", handles[1].remove)
    (x * 1).sum().backward()
    obs.fact("hooks.calls", calls)


def test_remove_hook_inside_another_hook(obs, device):
    """A hook that removes a later hook during backward: whether the later one still runs this time and next time."""
    x = _leaf(device)
    calls, handles = [], {}

    def remover(g):
        calls.append("remover")
        handles["victim"].remove()

    handles["remover"] = x.register_hook(remover)
    handles["victim"] = x.register_hook(lambda g: calls.append("victim"))
    (x * 1).sum().backward()
    first = list(calls)
    obs.fact("first.calls", first)
    (x * 1).sum().backward()
    obs.fact("second.calls", calls[len(first):])


def test_remove_handle_after_tensor_is_gone(obs, device):
    """remove() on the handle of a hook whose tensor was deleted does not raise."""
    x = _leaf(device)
    handle = (x * 2).register_hook(lambda g: g)
    obs.outcome("remove", handle.remove)


# views and in-place
def test_hook_on_view_then_view_modified_in_place(obs, device):
    """A hook on a view of a non-leaf, then the view modified in place: which of the view's and base's hooks run."""
    x = torch.tensor([1.0, 2.0, 3.0, 4.0], device=device, requires_grad=True)
    base = x * 1
    view = base[:2]
    calls = []
    view.register_hook(lambda g: calls.append(["view", g.tolist()]))
    base.register_hook(lambda g: calls.append(["base", g.tolist()]))
    view.mul_(10)
    obs.facts_of("view", view, "grad_fn")
    obs.facts_of("base", base, "grad_fn")
    (base * torch.tensor([1.0, 2.0, 3.0, 4.0], device=device)).sum().backward()
    obs.fact("hooks.calls", calls)
    obs.facts_of("x", x, "grad")


def test_hook_on_view_then_base_modified_in_place(obs, device):
    """A hook on a view, then its base modified in place and backward through the view: does the hook run."""
    x = torch.tensor([1.0, 2.0, 3.0, 4.0], device=device, requires_grad=True)
    base = x * 1
    view = base[:2]
    calls = []
    view.register_hook(lambda g: calls.append(["view", g.tolist()]))
    base.mul_(2)
    obs.facts_of("view", view, "grad_fn")
    (view * torch.tensor([1.0, 2.0], device=device)).sum().backward()
    obs.fact("hooks.calls", calls)
    obs.facts_of("x", x, "grad")


def test_hook_on_base_then_base_modified_in_place(obs, device):
    """A hook registered before an in-place change sees the gradient of the old value; one registered after, the new."""
    x = torch.tensor([1.0, 2.0, 3.0, 4.0], device=device, requires_grad=True)
    base = x * 1
    calls = []
    base.register_hook(lambda g: calls.append(["before", g.tolist()]))
    base.mul_(2)
    base.register_hook(lambda g: calls.append(["after", g.tolist()]))
    (base * torch.tensor([1.0, 2.0, 3.0, 4.0], device=device)).sum().backward()
    obs.fact("hooks.calls", calls)
    obs.facts_of("x", x, "grad")


def test_hook_on_base_after_view_modified_in_place(obs, device):
    """A hook registered on the base after one of its views was modified in place sees the base's full gradient."""
    x = torch.tensor([1.0, 2.0, 3.0, 4.0], device=device, requires_grad=True)
    base = x * 1
    base[:2].mul_(10)
    calls = []
    base.register_hook(lambda g: calls.append(g.tolist()))
    (base * torch.tensor([1.0, 2.0, 3.0, 4.0], device=device)).sum().backward()
    obs.fact("hook.calls", calls)
    obs.facts_of("x", x, "grad")


def test_hook_on_view_of_leaf(obs, device):
    """A hook on a view of a leaf sees the view's gradient and can replace it."""
    x = torch.tensor([1.0, 2.0, 3.0, 4.0], device=device, requires_grad=True)
    view = x[1:3]
    calls = []
    view.register_hook(lambda g: calls.append(g.tolist()) or g * 10)
    (view * 2).sum().backward()
    obs.fact("hook.calls", calls)
    obs.facts_of("x", x, "grad")


# register_post_accumulate_grad_hook
def test_post_accumulate_grad_hook_sees_accumulated_grad(obs, device):
    """The hook gets the leaf itself after .grad was accumulated, on every backward."""
    require("torch.Tensor.register_post_accumulate_grad_hook")
    x = _leaf(device)
    calls = []
    x.register_post_accumulate_grad_hook(lambda t: calls.append([t is x, t.grad.tolist()]))
    (x * 2).sum().backward()
    (x * 3).sum().backward()
    obs.fact("hook.calls", calls)


def test_post_accumulate_grad_hook_on_non_leaf(obs, device):
    """register_post_accumulate_grad_hook on a non-leaf raises."""
    require("torch.Tensor.register_post_accumulate_grad_hook")
    y = _leaf(device) * 2
    obs.outcome("register", lambda: y.register_post_accumulate_grad_hook(lambda t: None))


def test_post_accumulate_grad_hook_on_tensor_without_grad(obs, device):
    """register_post_accumulate_grad_hook on a tensor that does not require grad raises."""
    require("torch.Tensor.register_post_accumulate_grad_hook")
    t = torch.ones(2, device=device)
    obs.outcome("register", lambda: t.register_post_accumulate_grad_hook(lambda t: None))


def test_post_accumulate_grad_hook_returning_value(obs, device):
    """A post-accumulate-grad hook that returns something makes backward raise."""
    require("torch.Tensor.register_post_accumulate_grad_hook")
    x = _leaf(device)
    x.register_post_accumulate_grad_hook(lambda t: t.grad)
    obs.outcome("backward", lambda: (x * 2).sum().backward())
    obs.facts_of("x", x, "grad")


def test_post_accumulate_grad_hook_clearing_grad(obs, device):
    """A post-accumulate-grad hook may consume and clear .grad (the optimizer-in-backward pattern)."""
    require("torch.Tensor.register_post_accumulate_grad_hook")
    x = _leaf(device)
    seen = []

    def step(t):
        seen.append(t.grad.tolist())
        with torch.no_grad():
            t.sub_(t.grad)
        t.grad = None

    x.register_post_accumulate_grad_hook(step)
    obs.outcome("backward", lambda: (x * 2).sum().backward())
    obs.fact("hook.calls", seen)
    obs.facts_of("x", x, "grad", "values", "version")


def test_post_accumulate_grad_hook_with_autograd_grad(obs, device):
    """torch.autograd.grad does not accumulate .grad, so the post-accumulate hook does not run (tensor hooks do)."""
    require("torch.Tensor.register_post_accumulate_grad_hook")
    x = _leaf(device)
    calls = []
    x.register_hook(lambda g: calls.append("tensor_hook"))
    x.register_post_accumulate_grad_hook(lambda t: calls.append("post_accumulate"))
    torch.autograd.grad((x * 2).sum(), x)
    obs.fact("hooks.calls", calls)
    obs.facts_of("x", x, "grad")


def test_post_accumulate_grad_hook_removed(obs, device):
    """A removed post-accumulate-grad hook does not run; removing twice does not raise."""
    require("torch.Tensor.register_post_accumulate_grad_hook")
    x = _leaf(device)
    calls = []
    handle = x.register_post_accumulate_grad_hook(lambda t: calls.append("hook"))
    handle.remove()
    obs.outcome("remove_again", handle.remove)
    (x * 2).sum().backward()
    obs.fact("hook.count", len(calls))


# Node hooks
def test_node_hook_arguments(obs, device):
    """A node pre-hook gets grad_outputs; a node hook gets grad_inputs (None for inputs without grad) and grad_outputs."""
    x = _leaf(device)
    w = torch.tensor([3.0, 4.0], device=device)
    y = x * w
    calls = []
    y.grad_fn.register_prehook(lambda go: calls.append(["prehook", _listed(go)]))
    y.grad_fn.register_hook(lambda gi, go: calls.append(["hook", _listed(gi), _listed(go)]))
    (y * 2).sum().backward()
    obs.fact("hooks.calls", calls)


def test_node_prehook_return_replaces_grad_outputs(obs, device):
    """A node pre-hook returning a tuple replaces grad_outputs; the node's own hook then sees the new ones."""
    x = _leaf(device)
    y = x.exp()
    calls = []
    y.grad_fn.register_prehook(lambda go: (go[0] * 100,))
    y.grad_fn.register_hook(lambda gi, go: calls.append(_listed(go)))
    y.sum().backward()
    obs.fact("hook.calls", calls)
    obs.facts_of("x", x, "grad")


def test_node_hook_return_replaces_grad_inputs(obs, device):
    """A node hook returning a tuple replaces the gradients the node passes on."""
    x = _leaf(device)
    y = x.exp()
    y.grad_fn.register_hook(lambda gi, go: (gi[0] * 100,))
    y.sum().backward()
    obs.facts_of("x", x, "grad")


NODE_BAD_RETURNS = [
    pytest.param(lambda g: (g, g), id="too-many"),
    pytest.param(lambda g: (), id="empty-tuple"),
    pytest.param(lambda g: g, id="tensor-not-tuple"),
    pytest.param(lambda g: [g], id="list"),
    pytest.param(lambda g: (torch.ones(3, device=g.device),), id="wrong-size"),
    pytest.param(lambda g: (g.double(),), id="float64"),
    pytest.param(lambda g: (None,), id="none-entry"),
    pytest.param(lambda g: (1.0,), id="float-entry"),
]


@pytest.mark.parametrize("returns", NODE_BAD_RETURNS)
@pytest.mark.parametrize("kind", [pytest.param("prehook", id="prehook"), pytest.param("hook", id="hook")])
def test_node_hook_return_validation(obs, device, kind, returns):
    """A node (pre-)hook returning the wrong number, kind, size or dtype of gradients: what backward does."""
    x = _leaf(device)
    y = x.exp()
    if kind == "prehook":
        def bad_hook(go):
            return returns(go[0])
        y.grad_fn.register_prehook(bad_hook)
    else:
        def bad_hook(gi, go):
            return returns(gi[0])
        y.grad_fn.register_hook(bad_hook)
    obs.outcome("backward", lambda: y.sum().backward())
    obs.facts_of("x", x, "grad")


def test_node_hook_on_mul_by_python_number(obs, device):
    """x * 2 has a node with two inputs (the number is one): a node hook must return two gradients."""
    x = _leaf(device)
    y = x * 2
    calls = []
    y.grad_fn.register_hook(lambda gi, go: calls.append(_listed(gi)))
    obs.fact("next_functions.count", len(y.grad_fn.next_functions))
    y.sum().backward(retain_graph=True)
    obs.fact("hook.calls", calls)

    def one_gradient(gi, go):
        return (gi[0],)

    y.grad_fn.register_hook(one_gradient)
    obs.outcome("backward", lambda: y.sum().backward())


def test_node_hooks_on_accumulate_grad(obs, device):
    """Hooks on a leaf's AccumulateGrad node: the pre-hook sees the incoming gradient, the hook gets no grad_inputs."""
    x = _leaf(device)
    y = x * 3
    acc = y.grad_fn.next_functions[0][0]
    obs.fact("acc.name", type(acc).__name__)
    calls = []
    acc.register_prehook(lambda go: calls.append(["prehook", _listed(go)]))
    acc.register_hook(lambda gi, go: calls.append(["hook", _listed(gi), _listed(go)]))
    y.sum().backward()
    obs.fact("hooks.calls", calls)
    obs.facts_of("x", x, "grad")


def test_node_hook_removed(obs, device):
    """Node hook handles can be removed (twice without error); removed hooks do not run."""
    x = _leaf(device)
    y = x.exp()
    calls = []
    pre = y.grad_fn.register_prehook(lambda go: calls.append("prehook"))
    post = y.grad_fn.register_hook(lambda gi, go: calls.append("hook"))
    pre.remove()
    post.remove()
    obs.outcome("remove_again", lambda: (pre.remove(), post.remove()) and None)
    y.sum().backward()
    obs.fact("hooks.calls", calls)


# ordering of every kind on one backward
def test_order_of_all_hook_kinds(obs, device):
    """Tensor hooks, node pre-hooks, node hooks, retain_grad and post-accumulate hooks on one backward: the call order."""
    require("torch.Tensor.register_post_accumulate_grad_hook")
    x = _leaf(device)
    y = x * 2
    z = y.exp()
    calls = []
    y.register_hook(lambda g: calls.append("y.tensor_hook"))
    y.grad_fn.register_prehook(lambda go: calls.append("y.node_prehook"))
    y.grad_fn.register_hook(lambda gi, go: calls.append("y.node_hook"))
    y.retain_grad()
    z.register_hook(lambda g: calls.append("z.tensor_hook"))
    z.grad_fn.register_prehook(lambda go: calls.append("z.node_prehook"))
    z.grad_fn.register_hook(lambda gi, go: calls.append("z.node_hook"))
    x.register_hook(lambda g: calls.append("x.tensor_hook"))
    x.register_post_accumulate_grad_hook(lambda t: calls.append("x.post_accumulate_hook"))
    acc = y.grad_fn.next_functions[0][0]
    acc.register_prehook(lambda go: calls.append("x.accumulate_node_prehook"))
    acc.register_hook(lambda gi, go: calls.append("x.accumulate_node_hook"))
    z.sum().backward()
    obs.fact("hooks.calls", calls)


def test_order_tensor_hook_vs_node_prehook_registration(obs, device):
    """A node pre-hook registered before a tensor hook on the node's output: which runs first."""
    x = _leaf(device)
    y = x.exp()
    calls = []
    y.grad_fn.register_prehook(lambda go: calls.append("node_prehook"))
    y.register_hook(lambda g: calls.append("tensor_hook"))
    y.sum().backward()
    obs.fact("hooks.calls", calls)


# register_multi_grad_hook
def _multi_grad_hook_with_mode():
    fn = require("torch.autograd.graph.register_multi_grad_hook")
    if "mode" not in inspect.signature(fn).parameters:
        pytest.skip(f"register_multi_grad_hook has no mode= in torch {torch.__version__}")
    return fn


def test_multi_grad_hook_all(obs, device):
    """mode 'all' (the default) fires once per backward with every tensor's gradient, None for those not reached."""
    register = require("torch.autograd.graph.register_multi_grad_hook")
    a, b, c = _leaf(device), _leaf(device), _leaf(device)
    calls = []
    handle = register((a, b, c), lambda grads: calls.append(_listed(grads)))
    (a * 2 + b * 3).sum().backward()
    obs.fact("first.calls", list(calls))
    (a * 5).sum().backward(inputs=[a])
    obs.fact("second.calls", calls[1:])
    handle.remove()
    (a * 7).sum().backward()
    obs.fact("after_remove.count", len(calls) - 2)


def test_multi_grad_hook_all_return_value(obs, device):
    """What a mode 'all' multi-grad hook returns is ignored: the gradients are unchanged."""
    register = require("torch.autograd.graph.register_multi_grad_hook")
    a, b = _leaf(device), _leaf(device)
    register((a, b), lambda grads: tuple(g * 100 for g in grads))
    obs.outcome("backward", lambda: (a * 2 + b).sum().backward())
    obs.facts_of("a", a, "grad")


def test_multi_grad_hook_on_non_leaves(obs, device):
    """A multi-grad hook on non-leaves gets their gradients, None for the one not used by the loss."""
    register = require("torch.autograd.graph.register_multi_grad_hook")
    x = _leaf(device)
    y1, y2 = x * 2, x * 3
    calls = []
    register((y1, y2), lambda grads: calls.append(_listed(grads)))
    (y1 * 4).sum().backward()
    obs.fact("hook.calls", calls)


def test_multi_grad_hook_any(obs, device):
    """mode 'any' fires once per backward, with the first gradient computed among the tensors."""
    register = _multi_grad_hook_with_mode()
    a, b, c = _leaf(device), _leaf(device), _leaf(device)
    calls = []
    handle = register((a, b, c), lambda g: calls.append(g.tolist()), mode="any")
    (a * 2 + b * 3).sum().backward()
    obs.fact("first.calls", list(calls))
    (c * 5).sum().backward()
    obs.fact("second.calls", calls[1:])
    handle.remove()
    (a * 7).sum().backward()
    obs.fact("after_remove.count", len(calls) - 2)


def test_multi_grad_hook_any_return_value(obs, device):
    """What a mode 'any' multi-grad hook returns: whether it replaces the gradient."""
    register = _multi_grad_hook_with_mode()
    a, b = _leaf(device), _leaf(device)
    register((a, b), lambda g: g * 100, mode="any")
    obs.outcome("backward", lambda: (a * 2 + b).sum().backward())
    obs.facts_of("a", a, "grad")
    obs.facts_of("b", b, "grad")


def test_multi_grad_hook_invalid_mode(obs, device):
    """register_multi_grad_hook with an unknown mode raises ValueError."""
    register = _multi_grad_hook_with_mode()
    a, b = _leaf(device), _leaf(device)
    obs.outcome("register", lambda: register((a, b), lambda grads: None, mode="foo"))


def test_multi_grad_hook_with_failing_backward(obs, device):
    """An exception in a custom backward while a multi-grad hook waits propagates; a later backward still fires it."""
    register = require("torch.autograd.graph.register_multi_grad_hook")
    t1, t2, t3 = _leaf(device), _leaf(device), _leaf(device)
    calls = []
    register((t1, t2, t3), lambda grads: calls.append(_listed(grads)))

    class Func(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1

        @staticmethod
        def backward(ctx, g):
            raise RuntimeError("error message")

    out = Func.apply(t2) * t3
    obs.outcome("failing", lambda: out.sum().backward(inputs=(t2, t3), retain_graph=True))
    obs.fact("failing.calls", list(calls))
    (t1 * 2 + t3).sum().backward()
    obs.fact("later.calls", calls)


# retain_grad and hooks
@pytest.mark.parametrize("hook_first", [pytest.param(True, id="hook-then-retain_grad"),
                                        pytest.param(False, id="retain_grad-then-hook")])
def test_retain_grad_with_hook(obs, device, hook_first):
    """.grad of a non-leaf that retains grad holds the gradient after its hooks, whichever was registered first."""
    x = _leaf(device)
    y = x * 2
    if hook_first:
        y.register_hook(lambda g: g * 10)
        y.retain_grad()
    else:
        y.retain_grad()
        y.register_hook(lambda g: g * 10)
    (y * 1).sum().backward()
    obs.facts_of("y", y, "grad", "retains_grad")
    obs.facts_of("x", x, "grad")


def test_retain_grad_hook_sees_grad_unset(obs, device):
    """Inside a tensor hook of a non-leaf that retains grad, .grad is not yet filled in."""
    x = _leaf(device)
    y = x * 2
    y.retain_grad()
    seen = []
    y.register_hook(lambda g: seen.append("None" if y.grad is None else y.grad.tolist()))
    (y * 1).sum().backward()
    obs.fact("hook.calls", seen)


def test_leaf_hook_result_is_what_grad_holds(obs, device):
    """A leaf's hook result is what .grad accumulates; .grad is not yet set while the hook runs."""
    x = _leaf(device)
    seen = []
    x.register_hook(lambda g: seen.append("None" if x.grad is None else x.grad.tolist()) or g + 1)
    (x * 2).sum().backward()
    (x * 2).sum().backward()
    obs.fact("hook.calls", seen)
    obs.facts_of("x", x, "grad")


# Module full backward hooks
def _shapes(grads):
    return ["None" if g is None else list(g.shape) for g in grads]


@pytest.mark.parametrize("input_requires_grad", [pytest.param(True, id="input-requires-grad"),
                                                 pytest.param(False, id="input-without-grad")])
def test_module_full_backward_hooks_arguments(obs, device, input_requires_grad):
    """Module backward pre-hook gets grad_output, full backward hook grad_input and grad_output (shapes)."""
    require("torch.nn.Module.register_full_backward_pre_hook")
    lin = torch.nn.Linear(2, 3).to(device)
    calls = []
    lin.register_full_backward_pre_hook(lambda m, go: calls.append(["pre", m is lin, _shapes(go)]))
    lin.register_full_backward_hook(lambda m, gi, go: calls.append(["hook", m is lin, _shapes(gi), _shapes(go)]))
    x = torch.ones(4, 2, device=device, requires_grad=input_requires_grad)
    out = lin(x)
    obs.outcome("backward", lambda: out.sum().backward())
    obs.fact("hooks.calls", calls)


def test_module_full_backward_pre_hook_replaces_grad_output(obs, device):
    """A module backward pre-hook returning a tuple replaces grad_output for the whole module (input and weight)."""
    require("torch.nn.Module.register_full_backward_pre_hook")
    lin = torch.nn.Linear(2, 1).to(device)
    lin.register_full_backward_pre_hook(lambda m, go: (go[0] * 0,))
    x = torch.ones(1, 2, device=device, requires_grad=True)
    lin(x).sum().backward()
    obs.facts_of("x", x, "grad")
    obs.tensor("weight_grad", lin.weight.grad)


def test_module_full_backward_hook_replaces_grad_input(obs, device):
    """A module full backward hook returning a tuple replaces grad_input only; the weight's gradient is unchanged."""
    lin = torch.nn.Linear(2, 1).to(device)
    with torch.no_grad():
        lin.weight.fill_(1.0)
    lin.register_full_backward_hook(lambda m, gi, go: (gi[0] * 0,))
    x = torch.ones(1, 2, device=device, requires_grad=True)
    lin(x).sum().backward()
    obs.facts_of("x", x, "grad")
    obs.tensor("weight_grad", lin.weight.grad)


def test_module_full_backward_hook_wrong_count(obs, device):
    """A module full backward hook returning the wrong number of gradients makes backward raise."""
    lin = torch.nn.Linear(2, 2).to(device)
    lin.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    x = torch.ones(2, device=device, requires_grad=True)
    obs.outcome("backward", lambda: lin(x).sum().backward())


def test_module_full_backward_pre_hook_wrong_count(obs, device):
    """A module backward pre-hook returning the wrong number of gradients makes backward raise."""
    require("torch.nn.Module.register_full_backward_pre_hook")
    lin = torch.nn.Linear(2, 2).to(device)
    lin.register_full_backward_pre_hook(lambda m, go: (go[0], go[0]))
    x = torch.ones(2, device=device, requires_grad=True)
    obs.outcome("backward", lambda: lin(x).sum().backward())


def test_module_full_backward_hook_with_inplace_relu(obs, device):
    """ReLU(inplace=True) with a full backward hook: its output is modified in place, which raises."""
    relu = torch.nn.ReLU(inplace=True).to(device)
    relu.register_full_backward_hook(lambda m, gi, go: None)
    x = _leaf(device)
    obs.outcome("forward_backward", lambda: relu(x * 1).sum().backward())


def test_module_full_backward_hook_output_modified_in_place(obs, device):
    """Modifying the output of a module with a full backward hook in place raises."""
    ident = torch.nn.Identity()
    ident.register_full_backward_hook(lambda m, gi, go: None)
    x = _leaf(device)
    out = ident(x * 1)
    obs.outcome("inplace", lambda: out.mul_(2))


def test_module_full_backward_hook_input_modified_in_place(obs, device):
    """Modifying a module's input in place after a forward with a full backward hook raises at backward."""
    lin = torch.nn.Linear(2, 2).to(device)
    lin.register_full_backward_hook(lambda m, gi, go: None)
    x = _leaf(device) * 1
    out = lin(x)
    obs.outcome("inplace", lambda: x.add_(1))
    obs.outcome("backward", lambda: out.sum().backward())


def test_module_regular_and_full_backward_hooks_mixed(obs, device):
    """A module cannot have both register_backward_hook and register_full_backward_hook hooks."""
    a = torch.nn.Linear(2, 2)
    a.register_full_backward_hook(lambda m, gi, go: None)
    obs.outcome("regular_after_full", lambda: a.register_backward_hook(lambda m, gi, go: None))
    b = torch.nn.Linear(2, 2)
    b.register_backward_hook(lambda m, gi, go: None)
    obs.outcome("full_after_regular", lambda: b.register_full_backward_hook(lambda m, gi, go: None))


def test_module_regular_backward_hook_deprecation(obs, device):
    """register_backward_hook on a module whose forward has several nodes warns at backward that it is deprecated."""
    lin = torch.nn.Linear(2, 2).to(device)
    calls = []
    lin.register_backward_hook(lambda m, gi, go: calls.append(_shapes(gi)))
    x = torch.ones(2, device=device, requires_grad=True)
    obs.outcome("backward", lambda: lin(x).sum().backward())
    obs.fact("hook.calls", calls)


# hooks that raise
def _raise_in_hook(*args):
    raise ValueError("hook failed")


def _tensor_hook(x, y):
    y.register_hook(_raise_in_hook)


def _leaf_hook(x, y):
    x.register_hook(_raise_in_hook)


def _node_prehook(x, y):
    y.grad_fn.register_prehook(_raise_in_hook)


def _node_hook(x, y):
    y.grad_fn.register_hook(_raise_in_hook)


def _post_accumulate_hook(x, y):
    require("torch.Tensor.register_post_accumulate_grad_hook")
    x.register_post_accumulate_grad_hook(_raise_in_hook)


def _multi_grad_hook(x, y):
    require("torch.autograd.graph.register_multi_grad_hook")((x, y), _raise_in_hook)


RAISING = [
    pytest.param(_tensor_hook, id="non-leaf-tensor-hook"),
    pytest.param(_leaf_hook, id="leaf-tensor-hook"),
    pytest.param(_node_prehook, id="node-prehook"),
    pytest.param(_node_hook, id="node-hook"),
    pytest.param(_post_accumulate_hook, id="post-accumulate-hook"),
    pytest.param(_multi_grad_hook, id="multi-grad-hook"),
]


@pytest.mark.parametrize("register", RAISING)
def test_hook_that_raises(obs, device, register):
    """An exception raised in a hook propagates unchanged out of backward; what .grad holds afterwards."""
    x = _leaf(device)
    y = x * 2
    register(x, y)
    obs.outcome("backward", lambda: (y * 3).sum().backward())
    obs.facts_of("x", x, "grad")


def test_module_hook_that_raises(obs, device):
    """An exception raised in a module full backward hook propagates unchanged out of backward."""
    lin = torch.nn.Linear(2, 2).to(device)
    lin.register_full_backward_hook(_raise_in_hook)
    x = _leaf(device)
    obs.outcome("backward", lambda: lin(x).sum().backward())
