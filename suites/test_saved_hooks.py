"""Saved-tensor hooks: when pack and unpack run, save_on_cpu, disabling hooks, hooks on one node's saved tensor;
errors of pack/unpack hooks (wrong results, raising, registered inside backward, nesting), saved tensors after
backward freed them, register_hooks misuse, and allow_mutation_on_saved_tensors contexts."""

import pytest
import torch
from torch.autograd.graph import disable_saved_tensors_hooks, save_on_cpu, saved_tensors_hooks

from autograd_conformance.observe import require


def _leaf(device):
    return torch.tensor([1.0, 2.0], device=device, requires_grad=True)


class Log:
    """Pack/unpack hooks that log their calls in order."""

    def __init__(self):
        self.calls = []

    def pack(self, t):
        self.calls.append(["pack", list(t.shape)])
        return t

    def unpack(self, t):
        self.calls.append(["unpack", list(t.shape)])
        return t


SAVING = [
    pytest.param(lambda x: x * x, id="mul-self"),
    pytest.param(lambda x: x * 3, id="mul-scalar"),
    pytest.param(lambda x: x.exp(), id="exp"),
    pytest.param(lambda x: x + 1, id="add"),
    pytest.param(lambda x: x.pow(2).sin(), id="pow-sin"),
]


@pytest.mark.parametrize("op", SAVING)
def test_pack_and_unpack_calls(obs, device, op):
    """pack runs once per saved tensor during forward, unpack once per use during backward."""
    log = Log()
    x = _leaf(device)
    with saved_tensors_hooks(log.pack, log.unpack):
        y = op(x).sum()
    forward_calls = list(log.calls)
    y.backward()
    obs.fact("forward.calls", forward_calls)
    obs.fact("all.calls", log.calls)
    obs.facts_of("x", x, "grad")


def test_hooks_only_apply_inside_context(obs, device):
    """Tensors saved outside the context are not packed even if backward runs inside it."""
    log = Log()
    x = _leaf(device)
    y = (x * x).sum()
    with saved_tensors_hooks(log.pack, log.unpack):
        y.backward()
    obs.fact("hooks.calls", log.calls)


def test_nested_hooks_innermost_wins(obs, device):
    """With nested saved_tensors_hooks, only the innermost pair runs."""
    outer, inner = Log(), Log()
    x = _leaf(device)
    with saved_tensors_hooks(outer.pack, outer.unpack), saved_tensors_hooks(inner.pack, inner.unpack):
        y = (x * x).sum()
    y.backward()
    obs.fact("outer.calls", outer.calls)
    obs.fact("inner.count", len(inner.calls))


def test_unpack_can_change_the_value(obs, device):
    """What unpack returns is what backward uses: doubling it doubles the gradient of x*x."""
    x = _leaf(device)
    with saved_tensors_hooks(lambda t: t, lambda t: t * 2):
        y = (x * x).sum()
    y.backward()
    obs.facts_of("x", x, "grad")


def test_pack_to_non_tensor(obs, device):
    """pack may return any object (here a list) as long as unpack turns it back into a tensor."""
    x = _leaf(device)
    with saved_tensors_hooks(lambda t: t.tolist(), lambda data: torch.tensor(data, device=device)):
        y = (x * x).sum()
    obs.outcome("backward", y.backward)
    obs.facts_of("x", x, "grad")


def test_unpack_returning_wrong_shape(obs, device):
    """An unpack hook that returns a tensor of another shape: what backward does."""
    x = _leaf(device)
    with saved_tensors_hooks(lambda t: t, lambda t: t[:1]):
        y = (x * x).sum()
    obs.outcome("backward", y.backward)


def test_save_on_cpu(obs, device):
    """save_on_cpu keeps saved tensors on the CPU and backward gives the usual gradient."""
    x = _leaf(device)
    with save_on_cpu(pin_memory=False):
        y = (x * x).exp().sum()
    obs.outcome("backward", y.backward)
    obs.facts_of("x", x, "grad", "device")


def test_disable_saved_tensors_hooks(obs, device):
    """Inside disable_saved_tensors_hooks, registering saved_tensors_hooks raises with the given message."""
    with disable_saved_tensors_hooks("hooks are disabled by this probe"):
        obs.outcome("register", lambda: saved_tensors_hooks(lambda t: t, lambda t: t).__enter__())


def test_disable_saved_tensors_hooks_inside_hooks(obs, device):
    """Entering disable_saved_tensors_hooks while hooks are active raises."""
    with saved_tensors_hooks(lambda t: t, lambda t: t):
        obs.outcome("disable", lambda: disable_saved_tensors_hooks("no").__enter__())


def test_hooks_on_a_nodes_saved_tensor(obs, device):
    """register_hooks on one node's raw saved tensor packs immediately and unpacks at backward."""
    log = Log()
    x = _leaf(device)
    y = x * x
    y.grad_fn._raw_saved_self.register_hooks(log.pack, log.unpack)
    before = list(log.calls)
    y.sum().backward()
    obs.fact("register.calls", before)
    obs.fact("all.calls", log.calls)


def test_hooks_on_a_saved_tensor_twice(obs, device):
    """Registering hooks on the same saved tensor twice raises."""
    y = _leaf(device) * _leaf(device)
    y.grad_fn._raw_saved_self.register_hooks(lambda t: t, lambda t: t)
    obs.outcome("second", lambda: y.grad_fn._raw_saved_self.register_hooks(lambda t: t, lambda t: t))


def test_pack_hook_modifying_its_input(obs, device):
    """A pack hook that modifies the tensor it is given in place raises."""
    x = _leaf(device)

    def pack(t):
        t.add_(1)
        return t

    with saved_tensors_hooks(pack, lambda t: t):
        obs.outcome("forward", lambda: (x * 1) * (x * 1))


# errors of pack and unpack hooks
def _identity(t):
    return t


def _discarding(action):
    """``action`` with its result dropped (a tensor result has no truth value to chain on)."""
    def run():
        action()
    return run


def _entering(context):
    """Enter and exit ``context`` (a `with` block, so nothing stays active if entering works)."""
    def run():
        with context():
            pass
    return run


def test_pack_returning_none(obs, device):
    """pack may return None; backward then raises only because unpack hands that None back."""
    x = _leaf(device)
    with saved_tensors_hooks(lambda t: None, lambda packed: packed):
        y = (x * x).sum()
    obs.outcome("backward", y.backward)
    obs.facts_of("x", x, "grad")


UNPACK_RESULTS = [
    pytest.param(lambda t: t.double(), id="float64"),
    pytest.param(lambda t: t.half(), id="float16"),
    pytest.param(lambda t: t.long(), id="int64"),
    pytest.param(lambda t: t[:1], id="shorter-broadcastable"),
    pytest.param(lambda t: t.expand(3, 2), id="extra-dim-broadcastable"),
    pytest.param(lambda t: torch.ones(3, device=t.device), id="wrong-size"),
    pytest.param(lambda t: t.detach(), id="detached"),
    pytest.param(lambda t: 1, id="int"),
    pytest.param(lambda t: t.tolist(), id="list"),
    pytest.param(lambda t: None, id="none"),
]


@pytest.mark.parametrize("unpack", UNPACK_RESULTS)
def test_unpack_returning_wrong_thing(obs, device, unpack):
    """unpack returning another dtype or shape, a detached tensor or a non-tensor: whether backward raises; x.grad."""
    # Another device is left out: on a CPU-only machine only meta is at hand, and its first mixed-device op costs
    # seconds.
    x = _leaf(device)
    with saved_tensors_hooks(_identity, unpack):
        y = (x * x).sum()
    obs.outcome("backward", y.backward)
    obs.facts_of("x", x, "grad")


def test_pack_hook_taking_two_arguments(obs, device):
    """A two-argument pack hook: the TypeError via `*`, via torch.mul, and from register_hooks on a saved tensor."""
    def pack(t, extra):
        return t

    x = _leaf(device)
    with saved_tensors_hooks(pack, _identity):
        obs.outcome("forward", lambda: x * x)
        obs.outcome("forward_function", lambda: torch.mul(x, x))
    y = x * x
    obs.outcome("register_hooks", lambda: y.grad_fn._raw_saved_self.register_hooks(pack, _identity))


class CustomError(Exception):
    """An exception type of the probe's own, to see it propagate unchanged."""


def _raise_pack(t):
    raise CustomError("pack")


def _raise_unpack(t):
    raise CustomError("unpack")


def test_pack_hook_raises(obs, device):
    """An exception raised in pack propagates unchanged out of the forward op."""
    x = _leaf(device)
    with saved_tensors_hooks(_raise_pack, _identity):
        obs.outcome("forward", lambda: x.sin())


def test_unpack_hook_raises(obs, device):
    """An exception raised in unpack propagates unchanged out of backward."""
    x = _leaf(device)
    with saved_tensors_hooks(_identity, _raise_unpack):
        y = x.sin()
    obs.outcome("backward", lambda: y.sum().backward())
    obs.facts_of("x", x, "grad")


def test_hooks_registered_inside_backward(obs, device):
    """saved_tensors_hooks entered inside a custom backward pack what that backward saves (only with create_graph)."""
    log = Log()

    class Func(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * 2

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            with saved_tensors_hooks(log.pack, log.unpack):
                return g * a.sin()

    x = _leaf(device)
    Func.apply(x).sum().backward()
    obs.fact("plain.calls", list(log.calls))
    log.calls.clear()
    x = _leaf(device)
    (g,) = torch.autograd.grad(Func.apply(x).sum(), x, create_graph=True)
    obs.fact("create_graph.calls", list(log.calls))
    log.calls.clear()
    g.sum().backward()
    obs.fact("double_backward.calls", log.calls)


def test_hooks_active_during_create_graph_backward(obs, device):
    """Tensors that a create_graph backward saves are packed by the saved_tensors_hooks active around it."""
    log = Log()
    x = _leaf(device)
    y = (x ** 3).sum()
    with saved_tensors_hooks(log.pack, log.unpack):
        torch.autograd.grad(y, x, create_graph=True)
    obs.fact("hooks.calls", log.calls)


def test_outer_hooks_apply_again_after_inner_exits(obs, device):
    """After an inner saved_tensors_hooks block exits, tensors are packed by the outer pair again."""
    order = []
    x = _leaf(device)
    with saved_tensors_hooks(lambda t: order.append("outer") or t, _identity):
        with saved_tensors_hooks(lambda t: order.append("inner") or t, _identity):
            x * x
        x * x
    obs.fact("pack.calls", order)


def test_hooks_apply_to_custom_function_saves(obs, device):
    """Tensors saved with ctx.save_for_backward go through the pack and unpack hooks too."""
    log = Log()

    class Func(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * 2

        @staticmethod
        def backward(ctx, g):
            (a,) = ctx.saved_tensors
            return g * a

    x = _leaf(device)
    with saved_tensors_hooks(log.pack, log.unpack):
        out = Func.apply(x)
    out.sum().backward()
    obs.fact("hooks.calls", log.calls)
    obs.facts_of("x", x, "grad")


# attributes of saved tensors
def test_saved_tensor_attributes(obs, device):
    """grad_fn._saved_self is the input itself; _saved_result equals the output but is another object."""
    x = _leaf(device)
    y = x * x
    obs.fact("saved_self.same", y.grad_fn._saved_self is x)
    obs.fact("raw_saved_self.name", type(y.grad_fn._raw_saved_self).__name__)
    z = x.exp()
    obs.fact("saved_result.same", z.grad_fn._saved_result is z)
    obs.fact("saved_result_equal.value", bool(z.grad_fn._saved_result.equal(z)))
    obs.facts_of("saved_result", z.grad_fn._saved_result)


@pytest.mark.parametrize("read", [
    pytest.param(lambda y: y.grad_fn._saved_self, id="_saved_self"),
    pytest.param(lambda y: y.grad_fn._raw_saved_self, id="_raw_saved_self"),
    pytest.param(lambda y: y.grad_fn._raw_saved_self.register_hooks(_identity, _identity), id="register_hooks"),
])
def test_saved_tensor_after_backward(obs, device, read):
    """Reading a saved tensor, or registering hooks on it, after backward freed it."""
    x = _leaf(device)
    y = x * x
    y.sum().backward()
    obs.outcome("read", _discarding(lambda: read(y)))


def test_saved_tensor_with_hooks_after_backward(obs, device):
    """register_hooks again on a saved tensor that had hooks, after backward freed it, raises the freed error."""
    x = _leaf(device)
    y = x * x
    y.grad_fn._raw_saved_self.register_hooks(_identity, _identity)
    y.sum().backward()
    obs.outcome("register_hooks", lambda: y.grad_fn._raw_saved_self.register_hooks(_identity, _identity))


def test_custom_function_saved_tensors_after_backward(obs, device):
    """A custom Function's saved_tensors and _raw_saved_tensors after backward freed them."""
    class Func(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            ctx.save_for_backward(a)
            return a * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    y = Func.apply(_leaf(device))
    y.sum().backward()
    obs.outcome("saved_tensors", _discarding(lambda: y.grad_fn.saved_tensors))
    obs.outcome("raw_saved_tensors", _discarding(lambda: y.grad_fn._raw_saved_tensors))


def test_register_hooks_on_saved_none(obs, device):
    """register_hooks on a saved value that is None (indexing's unused index, a None in save_for_backward) raises."""
    a = torch.ones(2, 2, device=device, requires_grad=True)
    out = a[:, torch.tensor([0, 1], device=device)]
    obs.outcome("index", lambda: out.grad_fn._raw_saved_indices[0].register_hooks(_identity, _identity))

    class Func(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x, None)
            return x * 1

        @staticmethod
        def backward(ctx, g):
            return g

    y = Func.apply(_leaf(device))
    obs.outcome("custom_function", lambda: y.grad_fn._raw_saved_tensors[1].register_hooks(_identity, _identity))


@pytest.mark.parametrize("args", [
    pytest.param((_identity,), id="one-hook"),
    pytest.param((1, 1), id="not-callable"),
])
def test_register_hooks_bad_arguments(obs, device, args):
    """register_hooks on a saved tensor needs two callables: anything else raises TypeError."""
    x = _leaf(device)
    y = x * x
    obs.outcome("register_hooks", lambda: y.grad_fn._raw_saved_self.register_hooks(*args))


def test_register_hooks_unpack_returning_non_tensor(obs, device):
    """An unpack hook on one saved tensor returning a non-tensor raises when the saved value is read and at backward."""
    x = _leaf(device)
    y = x * x
    y.grad_fn._raw_saved_self.register_hooks(_identity, lambda t: 1)
    obs.outcome("read", _discarding(lambda: y.grad_fn._saved_self))
    obs.outcome("backward", lambda: y.sum().backward())


def test_register_hooks_pack_modifying_input(obs, device):
    """register_hooks with a pack hook that modifies its input in place raises."""
    def double_in_place(t):
        t *= 2
        return t

    y = _leaf(device).exp()
    obs.outcome("register_hooks", lambda: y.grad_fn._raw_saved_result.register_hooks(double_in_place, _identity))


def test_register_hooks_on_tensor_saved_under_hooks(obs, device):
    """register_hooks on a saved tensor already packed by saved_tensors_hooks raises (only one pair at a time)."""
    x = _leaf(device)
    with saved_tensors_hooks(_identity, _identity):
        y = x * x
    obs.outcome("register_hooks", lambda: y.grad_fn._raw_saved_self.register_hooks(_identity, _identity))


# disable_saved_tensors_hooks
def test_disable_saved_tensors_hooks_nested(obs, device):
    """With nested disable_saved_tensors_hooks the innermost message is raised, and the outer one after it exits."""
    with disable_saved_tensors_hooks("outer"):
        with disable_saved_tensors_hooks("inner"):
            obs.outcome("inside_inner", _entering(lambda: saved_tensors_hooks(_identity, _identity)))
        obs.outcome("inside_outer", _entering(lambda: saved_tensors_hooks(_identity, _identity)))
    x = _leaf(device)
    with saved_tensors_hooks(_identity, _identity):
        obs.outcome("after", lambda: x * x)


# save_on_cpu
def test_save_on_cpu_saved_tensor(obs, device):
    """Under save_on_cpu, reading a saved input gives a CPU copy, not the input itself."""
    x = _leaf(device)
    with save_on_cpu():
        y = x * x
    saved = y.grad_fn._saved_self
    obs.fact("saved_self.same", saved is x)
    obs.facts_of("saved_self", saved, "device", "requires_grad", "is_leaf")


def test_save_on_cpu_inside_saved_tensors_hooks(obs, device):
    """save_on_cpu nested inside saved_tensors_hooks replaces the outer pair while active."""
    log = Log()
    x = _leaf(device)
    with saved_tensors_hooks(log.pack, log.unpack):
        with save_on_cpu():
            y = (x * x).sum()
    y.backward()
    obs.fact("outer.calls", log.calls)
    obs.facts_of("x", x, "grad")


def test_save_on_cpu_retain_graph(obs, device):
    """With save_on_cpu a retained graph can be backpropagated twice; the gradients accumulate."""
    x = _leaf(device)
    with save_on_cpu():
        y = (x * x).exp().sum()
    y.backward(retain_graph=True)
    obs.outcome("second", y.backward)
    obs.facts_of("x", x, "grad")


# allow_mutation_on_saved_tensors
def test_allow_mutation_backward_outside_context(obs, device):
    """Backward of a graph recorded inside allow_mutation_on_saved_tensors, run after the context exits, raises."""
    allow_mutation = require("torch.autograd.graph.allow_mutation_on_saved_tensors")
    with allow_mutation():
        a = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
        out = (a ** 2).sum()
    obs.outcome("backward", out.backward)


def test_allow_mutation_backward_in_another_context(obs, device):
    """Backward inside a different allow_mutation_on_saved_tensors context than the one that recorded it raises."""
    allow_mutation = require("torch.autograd.graph.allow_mutation_on_saved_tensors")
    with allow_mutation():
        a = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
        out = (a ** 2).sum()
    with allow_mutation():
        obs.outcome("backward", out.backward)


def test_allow_mutation_nested(obs, device):
    """allow_mutation_on_saved_tensors contexts cannot be nested."""
    allow_mutation = require("torch.autograd.graph.allow_mutation_on_saved_tensors")
    with allow_mutation():
        obs.outcome("nested", _entering(allow_mutation))
