"""The autograd engine as users meet it: reentrant backward from custom Functions (nesting depth, errors inside),
callbacks queued with queue_callback, backward from several Python threads (separate and shared graphs, concurrent
accumulation, thread-local grad mode), the layout and identity of .grad (strides, channels_last, gradient stealing,
in-place accumulation versus replacement), exceptions and warnings raised inside backward, and the errors of
backward()/autograd.grad calls the engine rejects."""

import threading
import warnings

import pytest
import torch
from torch.autograd import Function

from autograd_conformance.observe import require


def _engine():
    return torch.autograd.Variable._execution_engine


def _leaf(device, dtype=torch.float32):
    return torch.tensor([1.0, 2.0, 3.0], device=device, dtype=dtype, requires_grad=True)


def _run_threads(target, count=4):
    """Start ``count`` threads running ``target(i)`` and join them all; return the exceptions they raised, by index."""
    errors = {}

    def body(i):
        try:
            target(i)
        except Exception as exc:  # recorded, not lost in the thread
            errors[i] = exc

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


def _raising_function(exc):
    class Raising(Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            raise exc

    return Raising


# reentrant backward from custom Functions
class _CubeGradInBackward(Function):
    """Forward is the identity; backward multiplies by d/dx sum(x**3), computed with a reentrant autograd.grad."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        with torch.enable_grad():
            xd = x.detach().requires_grad_()
            (inner,) = torch.autograd.grad((xd ** 3).sum(), xd)
        return grad * inner


def test_reentrant_grad_inside_custom_backward(obs, device):
    """A custom backward may call torch.autograd.grad on a graph it builds under enable_grad."""
    x = _leaf(device)
    obs.outcome("backward", lambda: _CubeGradInBackward.apply(x).sum().backward())
    obs.facts_of("x", x, "grad")


def test_reentrant_grad_without_enable_grad(obs, device):
    """Inside backward grad mode is off: a reentrant autograd.grad on a graph built there without enable_grad raises."""
    class NoEnableGrad(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            xd = x.detach().requires_grad_()
            (inner,) = torch.autograd.grad((xd ** 3).sum(), xd)
            return grad * inner

    x = _leaf(device)
    obs.outcome("backward", lambda: NoEnableGrad.apply(x).sum().backward())
    obs.facts_of("x", x, "grad")


@pytest.mark.parametrize("create_graph", [pytest.param(False, id="plain"), pytest.param(True, id="create_graph")])
def test_grad_mode_inside_custom_backward(obs, device, create_graph):
    """A custom backward runs with grad mode off, or on when backward was called with create_graph=True."""
    seen = {}

    class Probe(Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            seen["enabled"] = torch.is_grad_enabled()
            return grad

    x = _leaf(device)
    torch.autograd.grad(Probe.apply(x).sum(), x, create_graph=create_graph)
    obs.fact("inside_backward.grad_enabled", seen["enabled"])


def test_reentrant_grad_on_graph_built_in_forward(obs, device):
    """A custom backward may differentiate a graph its forward built under enable_grad (the checkpoint pattern)."""
    class InnerGraph(Function):
        @staticmethod
        def forward(ctx, x):
            with torch.enable_grad():
                ctx.inner_input = x.detach().requires_grad_()
                ctx.inner_output = ctx.inner_input.sin() * ctx.inner_input
            return ctx.inner_output.detach()

        @staticmethod
        def backward(ctx, grad):
            (g,) = torch.autograd.grad(ctx.inner_output, ctx.inner_input, grad)
            return g

    x = _leaf(device, torch.float64)
    obs.outcome("backward", lambda: InnerGraph.apply(x).sum().backward())
    obs.facts_of("x", x, "grad")


def _nested_function(depth, caller, levels):
    class Nested(Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            entry = {"on_calling_thread": threading.current_thread() is caller}
            if depth > 0:
                with torch.enable_grad():
                    a = torch.ones(1, requires_grad=True)
                    _nested_function(depth - 1, caller, levels).apply(a * 2).sum().backward()
                    entry["inner_grad"] = a.grad.item()
            levels.append(entry)
            return grad

    return Nested


MULTITHREADING = [
    pytest.param(None, id="multithreading-default"),
    pytest.param(False, id="multithreading-disabled"),
]


@pytest.mark.parametrize("multithreading", MULTITHREADING)
@pytest.mark.parametrize("depth", [pytest.param(1, id="depth-1"), pytest.param(10, id="depth-10"),
                                   pytest.param(100, id="depth-100")])
def test_reentrant_backward_nesting_depth(obs, device, depth, multithreading):
    """Nested reentrant backwards in custom Functions work at any depth; past the engine's limit, off the thread."""
    x = _leaf(device)
    levels = []
    caller = threading.current_thread()

    def run():
        _nested_function(depth, caller, levels).apply(x).sum().backward()

    if multithreading is None:
        obs.outcome("backward", run)
    else:
        set_multithreading_enabled = require("torch.autograd.set_multithreading_enabled")
        with set_multithreading_enabled(multithreading):
            obs.outcome("backward", run)
    obs.fact("levels.count", len(levels))
    obs.fact("levels_on_calling_thread.count", sum(entry["on_calling_thread"] for entry in levels))
    obs.fact("inner_grads.value", sorted({entry["inner_grad"] for entry in levels if "inner_grad" in entry}))
    obs.facts_of("x", x, "grad")


class _SimulateBackwardError(Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        raise Exception("Simulate error")


def test_reentrant_child_error(obs, device):
    """An error in a backward run reentrantly from a custom backward propagates out of the outer backward as itself."""
    b = torch.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    reentrant_root = _SimulateBackwardError.apply(b * b).sum()

    class ReentrantFunc(Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            reentrant_root.backward()
            return grad

    a = _leaf(device)
    d = ReentrantFunc.apply(a * a)
    obs.outcome("backward", lambda: d.sum().backward())
    obs.facts_of("a", a, "grad")
    obs.facts_of("b", b, "grad")


def test_error_in_one_of_two_roots(obs, device):
    """backward over two roots where one graph raises: the error propagates; the other root's leaf may hold its grad."""
    t1 = _leaf(device)
    failing = _SimulateBackwardError.apply(t1 * t1)

    class Reentrant(Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            with torch.enable_grad():
                inner = torch.ones(3, requires_grad=True)
                (inner * 2).sum().backward()
            return grad

    t2 = _leaf(device)
    other = Reentrant.apply(t2) ** 2
    obs.outcome("backward", lambda: torch.autograd.backward([failing.sum(), other.sum()]))
    obs.facts_of("t1", t1, "grad")
    obs.facts_of("t2", t2, "grad")


@pytest.mark.parametrize("retain", [pytest.param(False, id="no-retain"), pytest.param(True, id="retain_graph")])
def test_reentrant_backward_on_the_running_graph(obs, device, retain):
    """A hook running backward on the graph being executed: without retain_graph the outer run then raises."""
    x = _leaf(device)
    y = x * x
    s = y.sum()
    inner = {}

    def hook(grad):
        if not inner:
            inner["started"] = True
            obs.outcome("inner_backward", lambda: s.backward(retain_graph=retain))
        return grad

    y.register_hook(hook)
    obs.outcome("outer_backward", lambda: s.backward(retain_graph=retain))
    obs.facts_of("x", x, "grad")


# queue_callback
def test_queue_callback_outside_backward(obs):
    """queue_callback outside a backward pass raises."""
    obs.outcome("queue_callback", lambda: _engine().queue_callback(lambda: None))


QUEUED_FROM = [pytest.param("tensor-hook", id="from-tensor-hook"),
               pytest.param("custom-backward", id="from-custom-backward")]
RUN_BY = [pytest.param("backward", id="backward"), pytest.param("autograd.grad", id="autograd.grad")]


@pytest.mark.parametrize("run_by", RUN_BY)
@pytest.mark.parametrize("queued_from", QUEUED_FROM)
def test_queue_callback_runs_after_backward(obs, device, queued_from, run_by):
    """Callbacks queued during backward run after every node and leaf accumulation, in the order queued."""
    calls = []
    x = _leaf(device)

    def queue():
        calls.append("queue")
        _engine().queue_callback(lambda: calls.append(["cb1", "None" if x.grad is None else x.grad.tolist()]))
        _engine().queue_callback(lambda: calls.append(["cb2"]))

    class Queueing(Function):
        @staticmethod
        def forward(ctx, t):
            return t.clone()

        @staticmethod
        def backward(ctx, grad):
            queue()
            return grad

    if queued_from == "tensor-hook":
        y = x * 3
        y.register_hook(lambda grad: queue())
    else:
        y = Queueing.apply(x) * 3
    x.register_hook(lambda grad: calls.append("leaf-hook"))
    if run_by == "backward":
        obs.outcome("backward", lambda: y.sum().backward())
    else:
        obs.outcome("grad", lambda: torch.autograd.grad(y.sum(), x))
    obs.fact("order.calls", calls)


def test_queue_callback_from_a_callback(obs, device):
    """A callback may queue another callback; it runs in the same backward, after the first."""
    calls = []
    x = _leaf(device)
    y = x * 3

    def callback():
        calls.append("first")
        _engine().queue_callback(lambda: calls.append("second"))

    y.register_hook(lambda grad: _engine().queue_callback(callback))
    obs.outcome("backward", lambda: y.sum().backward())
    obs.fact("order.calls", calls)


def test_queue_callback_raising(obs, device):
    """An exception raised by a queued callback propagates out of backward as itself; .grad is already filled."""
    x = _leaf(device)
    y = x * 3

    def callback():
        raise RuntimeError("blah")

    y.register_hook(lambda grad: _engine().queue_callback(callback))
    obs.outcome("backward", lambda: y.sum().backward())
    obs.facts_of("x", x, "grad")


def test_queue_callback_when_backward_raises(obs, device):
    """A callback queued before a later node raises does not run, in that backward or the next one."""
    calls = []
    x = _leaf(device)
    y = x * x
    z = y * 2
    z.register_hook(lambda grad: _engine().queue_callback(lambda: calls.append("callback")))

    def failing_hook(grad):
        raise ValueError("later failure")

    y.register_hook(failing_hook)
    obs.outcome("backward", lambda: z.sum().backward())
    obs.fact("after_failure.calls", list(calls))
    w = _leaf(device)
    (w * 2).sum().backward()
    obs.fact("after_next_backward.calls", list(calls))


def test_queue_callback_in_reentrant_backward(obs, device):
    """A callback queued inside a reentrant backward runs when that inner backward ends, before the outer's."""
    calls = []

    class Reentrant(Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            calls.append("outer-backward")
            _engine().queue_callback(lambda: calls.append("outer-callback"))
            with torch.enable_grad():
                a = torch.ones(1, requires_grad=True)
                b = a * 2

                def inner_hook(g):
                    calls.append("inner-hook")
                    _engine().queue_callback(lambda: calls.append("inner-callback"))

                b.register_hook(inner_hook)
                b.sum().backward()
            calls.append("outer-backward-end")
            return grad

    x = _leaf(device)
    obs.outcome("backward", lambda: Reentrant.apply(x).sum().backward())
    obs.fact("order.calls", calls)


# backward from several Python threads
def test_threads_separate_graphs(obs, device):
    """Threads each running backward on their own graph give each leaf its own gradient."""
    grads = {}

    def target(i):
        x = torch.full((3,), float(i + 1), device=device, requires_grad=True)
        (x * x).sum().backward()
        grads[i] = x.grad.tolist()

    errors = _run_threads(target)
    obs.fact("errors.count", len(errors))
    obs.fact("grads.value", [grads.get(i, "None") for i in range(4)])


def test_threads_shared_graph_retain_graph(obs, device):
    """Threads running backward(retain_graph=True) on one shared graph all succeed and their gradients add up."""
    x = _leaf(device)
    y = (x * x).sum()
    hook_calls = []
    y.register_hook(lambda grad: hook_calls.append(1))
    errors = _run_threads(lambda i: y.backward(retain_graph=True))
    obs.fact("errors.count", len(errors))
    obs.fact("hook.count", len(hook_calls))
    obs.facts_of("x", x, "grad")


def test_threads_accumulate_into_same_leaf(obs, device):
    """Threads each running backward several times into the same leaf: the final .grad is the full sum."""
    x = _leaf(device)

    def target(i):
        for _ in range(5):
            (x * (i + 1)).sum().backward()

    errors = _run_threads(target)
    obs.fact("errors.count", len(errors))
    obs.facts_of("x", x, "grad")


def test_threads_autograd_grad_on_shared_leaf(obs, device):
    """Threads calling autograd.grad on their own graphs of one leaf get their own results and leave .grad None."""
    x = _leaf(device)
    results = {}

    def target(i):
        (g,) = torch.autograd.grad((x ** (i + 1)).sum(), x)
        results[i] = g.tolist()

    errors = _run_threads(target)
    obs.fact("errors.count", len(errors))
    obs.fact("grads.value", [results.get(i, "None") for i in range(4)])
    obs.facts_of("x", x, "grad")


def test_threads_grad_mode_is_per_thread(obs, device):
    """Threads started inside no_grad build graphs and run backward (also inside their own no_grad)."""
    seen = {}
    prebuilt_x = _leaf(device)
    prebuilt = (prebuilt_x * prebuilt_x).sum()

    def target(i):
        if i == 0:
            x = _leaf(device)
            y = x * 2
            seen["worker_output_requires_grad"] = y.requires_grad
            y.sum().backward()
            seen["worker_grad"] = x.grad.tolist()
        else:
            with torch.no_grad():
                prebuilt.backward()

    with torch.no_grad():
        errors = _run_threads(target, count=2)
        obs.fact("caller.grad_enabled", torch.is_grad_enabled())
    obs.fact("errors.count", len(errors))
    obs.fact("worker_output.requires_grad", seen.get("worker_output_requires_grad", "None"))
    obs.fact("worker_grad.value", seen.get("worker_grad", "None"))
    obs.facts_of("prebuilt_x", prebuilt_x, "grad")


def test_threads_each_run_their_own_callbacks(obs, device):
    """A callback queued in a thread's backward runs in that thread's backward: each thread sees only its own."""
    seen = {}

    def target(i):
        mine = []
        x = torch.ones(2, device=device, requires_grad=True)
        y = x * (i + 1)
        y.register_hook(lambda grad: _engine().queue_callback(lambda: mine.append(i)))
        y.sum().backward()
        seen[i] = mine

    errors = _run_threads(target)
    obs.fact("errors.count", len(errors))
    obs.fact("callbacks.value", [seen.get(i, "None") for i in range(4)])


def test_set_multithreading_enabled_false(obs, device):
    """Inside set_multithreading_enabled(False) backward still runs and gives the same gradients."""
    set_multithreading_enabled = require("torch.autograd.set_multithreading_enabled")
    x = _leaf(device)
    with set_multithreading_enabled(False):
        obs.outcome("backward", lambda: (x.sin() * x).sum().backward())
    obs.facts_of("x", x, "grad")


# .grad layout and identity
def _channels_last():
    return torch.arange(24.0).reshape(1, 2, 3, 4).to(memory_format=torch.channels_last)


LEAVES = [
    pytest.param(lambda: torch.arange(6.0).reshape(2, 3), id="contiguous"),
    pytest.param(lambda: torch.arange(6.0).reshape(3, 2).t(), id="transposed"),
    pytest.param(_channels_last, id="channels_last"),
    pytest.param(lambda: torch.arange(3.0).reshape(3, 1).expand(3, 4), id="expanded"),
    pytest.param(lambda: torch.arange(12.0)[::2], id="strided-slice"),
    pytest.param(lambda: torch.tensor(2.0), id="0-d"),
]


def _layout(t):
    layout = {"strides": list(t.stride()), "is_contiguous": t.is_contiguous()}
    if t.dim() == 4:
        layout["channels_last"] = t.is_contiguous(memory_format=torch.channels_last)
    return layout


def _watch_incoming(x):
    """Hook x so that the gradient arriving at its AccumulateGrad is remembered by address and strides only."""
    seen = {}

    def hook(grad):
        seen["ptr"] = grad.data_ptr()
        seen["strides"] = list(grad.stride())

    x.register_hook(hook)
    return seen


@pytest.mark.parametrize("make", LEAVES)
def test_grad_layout_of_leaf(obs, device, make):
    """x.grad's strides and memory format after backward, and whether the incoming gradient became .grad uncopied."""
    x = make().to(device).detach().requires_grad_()
    obs.fact("leaf_layout.value", _layout(x))
    incoming = _watch_incoming(x)
    (x * 2).sum().backward()
    obs.fact("incoming_layout.value", incoming["strides"])
    obs.fact("x.grad_layout.value", _layout(x.grad))
    obs.fact("grad_strides_match_leaf.same", list(x.grad.stride()) == list(x.stride()))
    obs.fact("stolen.same", incoming["ptr"] == x.grad.data_ptr())
    obs.facts_of("x", x, "grad")


GRADIENT_LAYOUTS = [
    pytest.param(lambda: torch.ones(2, 3, requires_grad=True), lambda x: x.t(),
                 lambda: torch.arange(6.0).reshape(3, 2), id="contiguous-leaf-transposed-incoming"),
    pytest.param(lambda: torch.ones(3, 2).t().detach().requires_grad_(), lambda x: x.t(),
                 lambda: torch.arange(6.0).reshape(3, 2), id="transposed-leaf-matching-incoming"),
    pytest.param(lambda: torch.ones(2, 3, requires_grad=True), lambda x: x,
                 lambda: torch.arange(6.0).reshape(3, 2).t(), id="contiguous-leaf-transposed-gradient-given-directly"),
    pytest.param(lambda: torch.ones(3, 2).t().detach().requires_grad_(), lambda x: x,
                 lambda: torch.arange(6.0).reshape(3, 2).t(), id="transposed-leaf-matching-gradient-given-directly"),
    pytest.param(lambda: torch.ones(3, 2).t().detach().requires_grad_(), lambda x: x * 1,
                 lambda: torch.arange(6.0).reshape(2, 3), id="transposed-leaf-contiguous-incoming"),
    pytest.param(lambda: torch.ones(1, 2, 2, 3).requires_grad_(),
                 lambda x: x.contiguous(memory_format=torch.channels_last),
                 lambda: torch.arange(12.0).reshape(1, 2, 2, 3).contiguous(memory_format=torch.channels_last),
                 id="contiguous-leaf-channels_last-incoming"),
    pytest.param(lambda: torch.ones(1, 2, 2, 3).to(memory_format=torch.channels_last).requires_grad_(),
                 lambda x: x.contiguous(),
                 lambda: torch.arange(12.0).reshape(1, 2, 2, 3), id="channels_last-leaf-contiguous-incoming"),
    pytest.param(lambda: torch.ones(1, 2, 2, 3).to(memory_format=torch.channels_last).requires_grad_(),
                 lambda x: x * 1,
                 lambda: torch.arange(12.0).reshape(1, 2, 2, 3).contiguous(memory_format=torch.channels_last),
                 id="channels_last-leaf-channels_last-incoming"),
]


@pytest.mark.parametrize("make_leaf, forward, make_gradient", GRADIENT_LAYOUTS)
def test_grad_layout_from_incoming_strides(obs, make_leaf, forward, make_gradient):
    """A gradient arriving with strides unlike the leaf's is copied into the leaf's layout; a matching one is kept."""
    x = make_leaf()
    incoming = _watch_incoming(x)
    gradient = make_gradient()
    forward(x).backward(gradient)
    obs.fact("incoming_layout.value", incoming["strides"])
    obs.fact("x.grad_layout.value", _layout(x.grad))
    obs.fact("grad_strides_match_leaf.same", list(x.grad.stride()) == list(x.stride()))
    obs.fact("stolen.same", incoming["ptr"] == x.grad.data_ptr())
    obs.fact("aliases_gradient.same", x.grad.data_ptr() == gradient.data_ptr())
    obs.facts_of("x", x, "grad")


ALIASING = [
    pytest.param(lambda x: x, id="leaf-itself"),
    pytest.param(lambda x: x.view(3), id="view-of-leaf"),
    pytest.param(lambda x: x * 1, id="mul-by-one"),
]


@pytest.mark.parametrize("route", ALIASING)
def test_grad_aliases_user_gradient(obs, device, route):
    """Whether .grad shares memory with the gradient passed to backward, so changing that gradient changes .grad."""
    x = _leaf(device)
    gradient = torch.full((3,), 5.0, device=device)
    route(x).backward(gradient)
    obs.fact("aliases_gradient.same", x.grad.data_ptr() == gradient.data_ptr())
    obs.fact("grad_object_is_gradient.same", x.grad is gradient)
    gradient.add_(1)
    obs.facts_of("x_after_changing_gradient", x, "grad")


SECOND_BACKWARDS = [
    pytest.param(False, False, id="plain-then-plain"),
    pytest.param(False, True, id="plain-then-create_graph"),
    pytest.param(True, False, id="create_graph-then-plain"),
    pytest.param(True, True, id="create_graph-then-create_graph"),
]


@pytest.mark.parametrize("first_create, second_create", SECOND_BACKWARDS)
def test_grad_identity_after_second_backward(obs, device, first_create, second_create):
    """A second backward adds into .grad in place, unless it runs with create_graph, which replaces .grad."""
    x = _leaf(device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the create_graph reference-cycle warning, pinned in the backward family
        (x * x).sum().backward(create_graph=first_create)
        first, first_ptr = x.grad, x.grad.data_ptr()
        (x * x * x).sum().backward(create_graph=second_create)
    obs.fact("grad_object.same", x.grad is first)
    obs.fact("grad_storage.same", x.grad.data_ptr() == first_ptr)
    obs.facts_of("x.grad", x.grad, "requires_grad", "grad_fn", "values")
    obs.facts_of("first", first, "values")


def test_second_backward_with_other_incoming_strides(obs, device):
    """A second backward whose gradient arrives transposed adds into the existing .grad, keeping its strides."""
    x = torch.ones(2, 3, device=device, requires_grad=True)
    (x * 2).sum().backward()
    first = x.grad
    x.t().backward(torch.arange(6.0, device=device).reshape(3, 2))
    obs.fact("grad_object.same", x.grad is first)
    obs.fact("x.grad_layout.value", _layout(x.grad))
    obs.facts_of("x", x, "grad")


def test_two_paths_accumulate_before_leaf_hook(obs, device):
    """A leaf reached by two paths gets one summed gradient: its hook runs once, .grad is written once."""
    x = _leaf(device)
    calls = []
    x.register_hook(lambda grad: calls.append(grad.tolist()))
    (x * 2 + x * 3).sum().backward()
    obs.fact("leaf_hook.calls", calls)
    obs.facts_of("x", x, "grad")


# exceptions and warnings raised inside backward
class _MyError(Exception):
    pass


EXCEPTIONS = [
    pytest.param(lambda: ValueError("value failure in backward"), id="ValueError"),
    pytest.param(lambda: RuntimeError("runtime failure in backward"), id="RuntimeError"),
    pytest.param(lambda: KeyError("missing"), id="KeyError"),
    pytest.param(lambda: _MyError("my own failure", 42), id="user-exception-class"),
]


@pytest.mark.parametrize("make_exc", EXCEPTIONS)
def test_exception_in_custom_backward(obs, device, make_exc):
    """An exception raised in a custom backward propagates as the same object; the next backward works."""
    exc = make_exc()
    x = _leaf(device)
    caught = {}

    def run():
        try:
            _raising_function(exc).apply(x).sum().backward()
        except Exception as raised:
            caught["same"] = raised is exc
            caught["args"] = [str(a) for a in raised.args]
            raise

    obs.outcome("backward", run)
    obs.fact("exception_object.same", caught.get("same", False))
    obs.fact("exception_args.value", caught.get("args", "None"))
    obs.facts_of("x", x, "grad")
    w = _leaf(device)
    obs.outcome("next_backward", lambda: (w * 2).sum().backward())
    obs.facts_of("w", w, "grad")


@pytest.mark.parametrize("run_by", RUN_BY)
def test_exception_in_tensor_hook(obs, device, run_by):
    """An exception raised in a tensor hook during backward or autograd.grad propagates as itself."""
    x = _leaf(device)
    y = x * 2

    def hook(grad):
        raise ValueError("hook failed")

    y.register_hook(hook)
    if run_by == "backward":
        obs.outcome("backward", lambda: y.sum().backward())
    else:
        obs.outcome("grad", lambda: torch.autograd.grad(y.sum(), x))
    obs.facts_of("x", x, "grad")


HOOK_PLACES = [pytest.param("before-saved-node", id="error-before-saved-node-ran"),
               pytest.param("after-saved-node", id="error-after-saved-node-ran")]


@pytest.mark.parametrize("where", HOOK_PLACES)
def test_backward_again_after_an_error(obs, device, where):
    """Retrying a backward that failed midway works unless a node had already freed its saved tensors."""
    x = _leaf(device)
    y = x * x
    s = y.sum()

    def hook(grad):
        raise ValueError("failure during backward")

    handle = (y if where == "before-saved-node" else x).register_hook(hook)
    obs.outcome("first_backward", s.backward)
    handle.remove()
    obs.outcome("retry", s.backward)
    obs.facts_of("x", x, "grad")


def test_warning_in_custom_backward(obs, device):
    """A warning issued in a custom backward reaches the caller of backward."""
    class WarnsInBackward(Function):
        @staticmethod
        def forward(ctx, x):
            return x.clone()

        @staticmethod
        def backward(ctx, grad):
            warnings.warn("Warn from backward")
            return grad

    x = _leaf(device)
    obs.outcome("backward", lambda: WarnsInBackward.apply(x).sum().backward())
    obs.facts_of("x", x, "grad")


def test_error_through_copy_slices(obs, device):
    """An error in the backward of a tensor added in place into a view of a clone propagates to the right callers."""
    x = torch.zeros(2, 2, device=device, requires_grad=True)
    y = torch.ones(4, device=device, requires_grad=True)
    y_safe = _raising_function(RuntimeError("Boom!")).apply(y)
    out = x.clone().view(-1)
    out += y_safe
    obs.facts_of("out", out, "grad_fn")
    obs.outcome("backward", lambda: out.sum().backward(retain_graph=True))
    obs.facts_of("x", x, "grad")
    obs.outcome("grad_y", lambda: torch.autograd.grad(out.sum(), y, retain_graph=True))
    gx = obs.outcome("grad_x", lambda: torch.autograd.grad(out.sum(), x, retain_graph=True))
    if gx is not None:
        obs.tensor("grad_x", gx[0])


# calls the engine rejects (PyTorch's own asserted messages)
def _set_input_not_in_graph():
    x = torch.ones(2, requires_grad=True)
    out = x.clone()
    with torch.no_grad():
        x.set_(torch.full_like(x, 2.0))
    return torch.autograd.grad(out.sum(), x)


def _index_put_twice():
    b = torch.tensor([1.0, 2.0, 3.0], dtype=torch.double, requires_grad=True)
    c = torch.zeros(3, dtype=torch.double)
    c[[1, 2]] = b[[1, 1]]
    c.backward(torch.ones(3, dtype=torch.double))
    return c.backward(torch.ones(3, dtype=torch.double))


def _no_grad_input():
    x = torch.ones(1)
    return torch.autograd.grad(x ** 2, x)


def _no_grad_output():
    x = torch.ones(1)
    y = x ** 2
    return torch.autograd.grad(x, y)


def _grad_empty_inputs():
    x = torch.tensor([1.0], requires_grad=True)
    return torch.autograd.grad(2 * x, [], grad_outputs=torch.tensor([1.0]))


def _backward_function_empty_inputs():
    x = torch.ones(2, 2, dtype=torch.double, requires_grad=True)
    return torch.autograd.backward(x ** 2, torch.ones(2, 2, dtype=torch.double), inputs=[])


def _materialize_without_allow_unused():
    x = torch.tensor(0.5, requires_grad=True)
    y = x * torch.tensor(1.0, requires_grad=True)
    return torch.autograd.grad(y, x, allow_unused=False, materialize_grads=True)


def _batched_unbatched_grad_output():
    x = torch.ones(2, 2, requires_grad=True)
    return torch.autograd.grad(x.clone(), x, grad_outputs=torch.ones(2, 2), is_grads_batched=True)


def _batched_scalar_output():
    x = torch.ones(2, 2, requires_grad=True)
    return torch.autograd.grad(x.sum(), x, grad_outputs=torch.ones(2).unsqueeze(1), is_grads_batched=True)


def _complex_output_autograd_grad():
    a = torch.zeros(1, requires_grad=True)
    return torch.autograd.grad(a * 0.5j, a)


def _complex_grad_output_for_real_output():
    x = torch.ones(2, requires_grad=True)
    return torch.autograd.grad(x.sin().sum(), x, grad_outputs=torch.ones((), dtype=torch.complex64))


BAD_CALLS = [
    pytest.param(_set_input_not_in_graph, id="input-replaced-by-set_"),
    pytest.param(_index_put_twice, id="index_put-backward-twice"),
    pytest.param(_no_grad_input, id="grad-of-output-without-grad"),
    pytest.param(_no_grad_output, id="grad-wrt-tensor-without-grad"),
    pytest.param(_grad_empty_inputs, id="grad-empty-inputs"),
    pytest.param(_backward_function_empty_inputs, id="autograd.backward-empty-inputs"),
    pytest.param(_materialize_without_allow_unused, id="materialize_grads-allow_unused-False"),
    pytest.param(_batched_unbatched_grad_output, id="is_grads_batched-unbatched-grad_output"),
    pytest.param(_batched_scalar_output, id="is_grads_batched-scalar-output"),
    pytest.param(_complex_output_autograd_grad, id="grad-of-complex-output-implicit"),
    pytest.param(_complex_grad_output_for_real_output, id="complex-grad_output-for-real-output"),
]


@pytest.mark.parametrize("call", BAD_CALLS)
def test_engine_rejects_call(obs, call):
    """backward()/autograd.grad calls that PyTorch's own tests expect to fail: the exception and its message."""
    obs.outcome("call", call)


def _edge_nonscalar_grad(get_gradient_edge):
    x = torch.ones(4, requires_grad=True)
    tmp = x.sin().cos()
    return torch.autograd.grad(get_gradient_edge(tmp), (x,))


def _edge_nonscalar_backward(get_gradient_edge):
    x = torch.ones(4, requires_grad=True)
    tmp = x.sin().cos()
    return torch.autograd.backward(get_gradient_edge(tmp), inputs=(x,))


def _edge_shape_mismatch_grad(get_gradient_edge):
    x = torch.ones(4, requires_grad=True)
    tmp = x.sin().sum()
    return torch.autograd.grad(get_gradient_edge(tmp), (x,), grad_outputs=torch.tensor([1.0, 2.0, 3.0, 4.0]))


def _edge_shape_mismatch_backward(get_gradient_edge):
    x = torch.ones(4, requires_grad=True)
    tmp = x.sin().sum()
    return torch.autograd.backward(get_gradient_edge(tmp), inputs=(x,),
                                   grad_tensors=torch.tensor([1.0, 2.0, 3.0, 4.0]))


def _edge_complex_grad_output(get_gradient_edge):
    x = torch.ones(4, requires_grad=True)
    tmp = x.sin().sum()
    return torch.autograd.grad(get_gradient_edge(tmp), (x,), grad_outputs=torch.ones((), dtype=torch.complex64))


def _edge_input_with_materialize_grads(get_gradient_edge):
    x = torch.ones(2, requires_grad=True).clone()
    y = torch.ones(2, requires_grad=True).clone()
    return torch.autograd.grad(x.clone().sum(), (x, get_gradient_edge(y)), allow_unused=True,
                               materialize_grads=True)


def _edge_scalar_output(get_gradient_edge):
    x = torch.ones(4, requires_grad=True)
    tmp = (x * 2).sum()
    return torch.autograd.grad(get_gradient_edge(tmp), (x,), grad_outputs=torch.tensor(3.0))[0]


GRADIENT_EDGE_CALLS = [
    pytest.param(_edge_nonscalar_grad, id="grad-of-non-scalar-edge-implicit"),
    pytest.param(_edge_nonscalar_backward, id="backward-of-non-scalar-edge-implicit"),
    pytest.param(_edge_shape_mismatch_grad, id="grad-of-edge-shape-mismatch"),
    pytest.param(_edge_shape_mismatch_backward, id="backward-of-edge-shape-mismatch"),
    pytest.param(_edge_complex_grad_output, id="grad-of-edge-complex-grad_output"),
    pytest.param(_edge_input_with_materialize_grads, id="edge-input-with-materialize_grads"),
    pytest.param(_edge_scalar_output, id="grad-of-scalar-edge"),
]


@pytest.mark.parametrize("call", GRADIENT_EDGE_CALLS)
def test_gradient_edge_as_output(obs, call):
    """GradientEdges as the outputs (or inputs) of autograd.grad/backward: what works and the errors for bad ones."""
    get_gradient_edge = require("torch.autograd.graph.get_gradient_edge")
    result = obs.outcome("call", lambda: call(get_gradient_edge))
    if isinstance(result, torch.Tensor):
        obs.tensor("result", result)
