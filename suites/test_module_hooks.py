"""nn.Module hooks: full backward (pre-)hooks' arguments, values and return values, global module hooks and their order
against local ones, the deprecated register_backward_hook, forward (pre-)hooks, hooks under no_grad or checkpoint."""

import contextlib
import inspect

import pytest
import torch
from torch import nn
from torch.nn.modules import module as nn_module
from torch.utils.checkpoint import checkpoint

from autograd_conformance.observe import require

F64 = torch.float64


def _linear(device):
    """nn.Linear(2, 2) in float64 with weight [[1, 2], [3, 4]] and bias [0.5, -0.5]."""
    lin = nn.Linear(2, 2).to(device=device, dtype=F64)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 4.0]]))
        lin.bias.copy_(torch.tensor([0.5, -0.5]))
    return lin


def _x(device, requires_grad=True):
    return torch.tensor([[1.0, -1.0]], device=device, dtype=F64, requires_grad=requires_grad)


def _vec(values, device, requires_grad=True):
    return torch.tensor(values, device=device, dtype=F64, requires_grad=requires_grad)


def _listed(grads):
    """A tuple of gradients as nested lists, "None" where an entry is None."""
    return ["None" if g is None else g.tolist() for g in grads]


def _keyword(fn, name):
    """Skip the probe on a torch whose ``fn`` has no keyword ``name``."""
    if name not in inspect.signature(fn).parameters:
        pytest.skip(f"{fn.__qualname__} has no {name!r} keyword in torch {torch.__version__}")


@contextlib.contextmanager
def _global_hooks():
    """Yields a list for global hook handles; on exit removes them and puts back the global backward hook kind, which
    registering a global (full) backward hook sets for the whole process and removing it does not reset."""
    handles = []
    kind = nn_module.__dict__.get("_global_is_full_backward_hook")
    try:
        yield handles
    finally:
        for handle in handles:
            handle.remove()
        if "_global_is_full_backward_hook" in nn_module.__dict__:
            nn_module._global_is_full_backward_hook = kind


class Product(nn.Module):
    """a * b + a: the gradient is b + 1 for a and a for b."""

    def forward(self, a, b):
        return a * b + a


# Python names a function by its module in some errors ("<module>.Product.forward() argument after ** must be a
# mapping"): the same name whether the suite is imported from a checkout or from the installed package.
Product.forward.__module__ = "test_module_hooks"


class Scale(nn.Module):
    """A tensor and two non-tensor arguments."""

    def forward(self, x, factor, negate):
        out = x * factor
        return -out if negate else out


class AddBias(nn.Module):
    """2 * x + bias, bias a keyword argument."""

    def forward(self, x, bias=None):
        return x * 2 + bias


class Split(nn.Module):
    def forward(self, x):
        return x * 2, x * 3


class WithFlag(nn.Module):
    def forward(self, x):
        return x * 2, True


class DictOut(nn.Module):
    def forward(self, x):
        return {"y": x * 2}


class ListOut(nn.Module):
    def forward(self, x):
        return [x * 2]


class AddOneInPlace(nn.Module):
    def forward(self, x):
        x.add_(1)
        return x * 2


class Cube(nn.Module):
    def forward(self, x):
        return x ** 3


class Negate(nn.Module):
    """One autograd node (NegBackward0)."""

    def forward(self, x):
        return -x


class Triple(nn.Module):
    """One autograd node (MulBackward0) whose second input is a Python number."""

    def forward(self, x):
        return x * 3


class SquarePlus(nn.Module):
    """Two autograd nodes: x * x, then + x (AddBackward0 is the last)."""

    def forward(self, x):
        return x * x + x


class Fails(nn.Module):
    def forward(self, x):
        raise ValueError("forward failed")


# register_full_backward_hook: arguments and values
def test_full_backward_hook_values(obs, device):
    """On Linear the hook gets 1-tuples: grad_input w.r.t. the input (not the weight) and grad_output."""
    lin = _linear(device)
    calls = []
    lin.register_full_backward_hook(lambda m, gi, go: calls.append([m is lin, _listed(gi), _listed(go)]))
    x = _x(device)
    out = lin(x)
    obs.facts_of("out", out, "grad_fn")
    out.backward(torch.tensor([[1.0, 10.0]], device=device, dtype=F64))
    obs.fact("hook.calls", calls)
    obs.facts_of("x", x, "grad")


REQUIRING = [
    pytest.param(("a", "b"), id="both-require-grad"),
    pytest.param(("a",), id="first-only"),
    pytest.param(("b",), id="second-only"),
]


@pytest.mark.parametrize("requiring", REQUIRING)
def test_full_backward_hook_two_inputs(obs, device, requiring):
    """With two inputs grad_input has two entries; an input that does not require grad gets zeros, not None."""
    a = _vec([1.0, 2.0], device, "a" in requiring)
    b = _vec([3.0, 4.0], device, "b" in requiring)
    mod = Product()
    calls = []
    mod.register_full_backward_hook(lambda m, gi, go: calls.append([_listed(gi), _listed(go)]))
    mod(a, b).sum().backward()
    obs.fact("hook.calls", calls)
    obs.facts_of("a", a, "grad")
    obs.facts_of("b", b, "grad")


def test_full_backward_hook_fires_once_per_backward(obs, device):
    """An output used twice fires the hook once with the summed grad_output; a second backward fires it again."""
    lin = _linear(device)
    calls = []
    lin.register_full_backward_hook(lambda m, gi, go: calls.append(_listed(go)))
    x = _x(device)
    out = lin(x)
    loss = (out * 2 + out * 3).sum()
    loss.backward(retain_graph=True)
    obs.fact("after_first.count", len(calls))
    loss.backward()
    obs.fact("hook.calls", calls)
    obs.facts_of("x", x, "grad")


GRAD_INPUT_RETURNS = [
    pytest.param(lambda gi: (gi[0] * 10, gi[1]), id="scale-first"),
    pytest.param(lambda gi: (gi[0], None), id="None-for-second"),
    pytest.param(lambda gi: [gi[1], gi[0]], id="swapped-list"),
    pytest.param(lambda gi: (gi[0],), id="one-for-two"),
    pytest.param(lambda gi: gi + (gi[0],), id="three-for-two"),
    pytest.param(lambda gi: gi[0], id="bare-tensor-of-length-two"),
    pytest.param(lambda gi: (gi[0][:1], gi[1]), id="too-small"),
    pytest.param(lambda gi: (gi[0].unsqueeze(0), gi[1]), id="extra-leading-dim"),
]


@pytest.mark.parametrize("returns", GRAD_INPUT_RETURNS)
def test_full_backward_hook_return_replaces_grad_input(obs, device, returns):
    """A returned tuple or list replaces grad_input entry by entry; a wrong count or shape makes backward raise."""
    a = _vec([1.0, 2.0], device)
    b = _vec([3.0, 4.0], device)
    mod = Product()
    mod.register_full_backward_hook(lambda m, gi, go: returns(gi))
    obs.outcome("backward", lambda: mod(a, b).sum().backward())
    obs.facts_of("a", a, "grad")
    obs.facts_of("b", b, "grad")


def test_full_backward_hook_non_tensor_arguments(obs, device):
    """Non-tensor positional arguments take a None slot in grad_input."""
    mod = Scale()
    calls = []
    mod.register_full_backward_hook(lambda m, gi, go: calls.append([_listed(gi), _listed(go)]))
    x = _vec([1.0, 2.0], device)
    mod(x, 3.0, True).sum().backward()
    obs.fact("hook.calls", calls)
    obs.facts_of("x", x, "grad")


def test_full_backward_hook_keyword_tensor(obs, device):
    """A tensor passed by keyword is not in grad_input, cannot be replaced by the hook, and still gets its gradient."""
    mod = AddBias()
    calls = []
    mod.register_full_backward_hook(lambda m, gi, go: calls.append(_listed(gi)) or tuple(g * 10 for g in gi))
    x = _vec([1.0, 2.0], device)
    bias = _vec([0.5, 0.5], device)
    mod(x, bias=bias).sum().backward()
    obs.fact("hook.calls", calls)
    obs.facts_of("x", x, "grad")
    obs.facts_of("bias", bias, "grad")


TUPLE_OUTPUTS = [
    pytest.param(Split, lambda o: o[0].sum() + o[1].sum(), id="both-used"),
    pytest.param(Split, lambda o: o[0].sum(), id="first-used"),
    pytest.param(Split, lambda o: o[1].sum(), id="second-used"),
    pytest.param(WithFlag, lambda o: o[0].sum(), id="tensor-and-bool"),
]


@pytest.mark.parametrize("make, loss", TUPLE_OUTPUTS)
def test_full_backward_hook_tuple_output(obs, device, make, loss):
    """For a tuple output grad_output has one entry per element: None for an unused output or a non-tensor."""
    mod = make()
    calls = []
    mod.register_full_backward_hook(lambda m, gi, go: calls.append([_listed(gi), _listed(go)]))
    x = _vec([1.0, 2.0], device)
    loss(mod(x)).backward()
    obs.fact("hook.calls", calls)
    obs.facts_of("x", x, "grad")


@pytest.mark.parametrize("make", [pytest.param(DictOut, id="dict"), pytest.param(ListOut, id="list")])
def test_full_backward_hook_container_output(obs, device, make):
    """A module returning a dict or list warns at forward that its backward hooks will not be called; they are not."""
    mod = make()
    calls = []
    mod.register_full_backward_hook(lambda m, gi, go: calls.append("hook"))
    x = _vec([1.0, 2.0], device)
    out = obs.outcome("forward", lambda: mod(x))
    first = out["y"] if isinstance(out, dict) else out[0]
    first.sum().backward()
    obs.fact("hook.count", len(calls))
    obs.facts_of("x", x, "grad")


def _no_hook(mod):
    pass


def _full_hook(mod):
    mod.register_full_backward_hook(lambda m, gi, go: None)


def _pre_hook(mod):
    require("torch.nn.Module.register_full_backward_pre_hook")
    mod.register_full_backward_pre_hook(lambda m, go: None)


def _forward_hook(mod):
    mod.register_forward_hook(lambda m, args, out: None)


@pytest.mark.parametrize("register", [
    pytest.param(_full_hook, id="full-backward-hook"),
    pytest.param(_pre_hook, id="full-backward-pre-hook"),
    pytest.param(_forward_hook, id="forward-hook-only"),
    pytest.param(_no_hook, id="no-hook"),
])
def test_input_modified_in_place_in_forward(obs, device, register):
    """A forward that modifies its input in place raises once a backward (pre-)hook wraps the input in a view."""
    mod = AddOneInPlace()
    register(mod)
    x = _vec([1.0, 2.0], device)
    out = obs.outcome("forward", lambda: mod(x * 1))
    if out is not None:
        out.sum().backward()
        obs.facts_of("x", x, "grad")


def test_module_called_twice_in_one_graph(obs, device):
    """A module applied twice fires its hook once per call, the outer call first, each with its own gradients."""
    lin = _linear(device)
    calls = []
    lin.register_full_backward_hook(lambda m, gi, go: calls.append([_listed(gi), _listed(go)]))
    x = _x(device)
    lin(lin(x)).sum().backward()
    obs.fact("hook.calls", calls)
    obs.facts_of("x", x, "grad")


def test_hooks_of_nested_modules_order(obs, device):
    """In a Sequential, the parent's backward pre-hook fires first and its full backward hook last."""
    require("torch.nn.Module.register_full_backward_pre_hook")
    first, second = _linear(device), _linear(device)
    seq = nn.Sequential(first, second)
    order = []
    for name, mod in (("seq", seq), ("first", first), ("second", second)):
        mod.register_full_backward_pre_hook(lambda m, go, name=name: order.append(f"{name}-pre"))
        mod.register_full_backward_hook(lambda m, gi, go, name=name: order.append(f"{name}-hook"))
    seq(_x(device)).sum().backward()
    obs.fact("order.value", order)


def _register(kind):
    """(register method name, a hook maker taking the label to append) for one hook kind."""
    if kind == "forward-pre":
        return "register_forward_pre_hook", lambda calls, label: lambda m, args: calls.append(label)
    if kind == "forward":
        return "register_forward_hook", lambda calls, label: lambda m, args, out: calls.append(label)
    if kind == "full-backward-pre":
        require("torch.nn.Module.register_full_backward_pre_hook")
        return "register_full_backward_pre_hook", lambda calls, label: lambda m, go: calls.append(label)
    return "register_full_backward_hook", lambda calls, label: lambda m, gi, go: calls.append(label)


@pytest.mark.parametrize("kind", ["forward-pre", "forward", "full-backward-pre", "full-backward"])
def test_hook_prepend_order(obs, device, kind):
    """Hooks of one kind fire in registration order; prepend=True puts a hook before all registered so far."""
    method, make = _register(kind)
    lin = _linear(device)
    register = getattr(lin, method)
    _keyword(register, "prepend")
    order = []
    register(make(order, "A"))
    register(make(order, "B"), prepend=True)
    register(make(order, "C"))
    register(make(order, "D"), prepend=True)
    lin(_x(device)).sum().backward()
    obs.fact("order.value", order)


# register_full_backward_pre_hook
def test_full_backward_pre_hook_feeds_full_hook(obs, device):
    """A backward pre-hook's grad_output is what the full backward hook sees and what reaches input and weight."""
    require("torch.nn.Module.register_full_backward_pre_hook")
    lin = _linear(device)
    calls = []
    lin.register_full_backward_hook(lambda m, gi, go: calls.append(["hook", _listed(gi), _listed(go)]))
    lin.register_full_backward_pre_hook(lambda m, go: calls.append(["pre", _listed(go)]) or (go[0] * 10,))
    x = _x(device)
    lin(x).backward(torch.tensor([[1.0, 10.0]], device=device, dtype=F64))
    obs.fact("hooks.calls", calls)
    obs.facts_of("x", x, "grad")
    obs.facts_of("weight", lin.weight, "grad")


def test_full_backward_pre_hook_fills_unused_output(obs, device):
    """A pre-hook may replace the None grad_output of an unused output with a tensor, which then flows to the input."""
    require("torch.nn.Module.register_full_backward_pre_hook")
    mod = Split()
    calls = []
    mod.register_full_backward_pre_hook(
        lambda m, go: calls.append(_listed(go)) or (go[0], torch.ones_like(go[0])))
    x = _vec([1.0, 2.0], device)
    obs.outcome("backward", lambda: mod(x)[0].sum().backward())
    obs.fact("pre_hook.calls", calls)
    obs.facts_of("x", x, "grad")


# Global module hooks
def test_global_and_local_hooks_order(obs, device):
    """Global hooks of each kind fire before the module's own, even when registered after them."""
    require("torch.nn.modules.module.register_module_full_backward_pre_hook")
    require("torch.nn.Module.register_full_backward_pre_hook")
    lin = _linear(device)
    order = []
    lin.register_forward_pre_hook(lambda m, args: order.append("local-forward-pre"))
    lin.register_forward_hook(lambda m, args, out: order.append("local-forward"))
    lin.register_full_backward_pre_hook(lambda m, go: order.append("local-backward-pre"))
    lin.register_full_backward_hook(lambda m, gi, go: order.append("local-backward"))
    with _global_hooks() as handles:
        handles.append(nn_module.register_module_forward_pre_hook(
            lambda m, args: order.append("global-forward-pre")))
        handles.append(nn_module.register_module_forward_hook(
            lambda m, args, out: order.append("global-forward")))
        handles.append(nn_module.register_module_full_backward_pre_hook(
            lambda m, go: order.append("global-backward-pre")))
        handles.append(nn_module.register_module_full_backward_hook(
            lambda m, gi, go: order.append("global-backward")))
        lin(_x(device)).sum().backward()
    obs.fact("order.value", order)


def test_global_hooks_fire_for_every_module(obs, device):
    """Global hooks fire for every module of a model, containers included: children before their parent."""
    seq = nn.Sequential(_linear(device), nn.ReLU(), _linear(device))
    forward, backward = [], []
    with _global_hooks() as handles:
        handles.append(nn_module.register_module_forward_hook(
            lambda m, args, out: forward.append(type(m).__name__)))
        handles.append(nn_module.register_module_full_backward_hook(
            lambda m, gi, go: backward.append(type(m).__name__)))
        seq(_x(device)).sum().backward()
    obs.fact("forward.calls", forward)
    obs.fact("backward.calls", backward)


def test_global_hooks_removed_by_handle(obs, device):
    """handle.remove() stops a global hook; removing it a second time does nothing."""
    lin = _linear(device)
    calls = []
    with _global_hooks() as handles:
        forward = nn_module.register_module_forward_hook(lambda m, args, out: calls.append("forward"))
        backward = nn_module.register_module_full_backward_hook(lambda m, gi, go: calls.append("backward"))
        handles += [forward, backward]
        lin(_x(device)).sum().backward()
        forward.remove()
        backward.remove()
        obs.outcome("remove_again", backward.remove)
        lin(_x(device)).sum().backward()
    obs.fact("hooks.calls", calls)


def test_global_backward_hook_kind_sticks_after_remove(obs, device):
    """Once a global full backward hook was registered, a global regular one is refused even after it was removed."""
    with _global_hooks() as handles:
        handles.append(nn_module.register_module_full_backward_hook(lambda m, gi, go: None))
        handles[0].remove()
        handle = obs.outcome("register_regular",
                             lambda: nn_module.register_module_backward_hook(lambda m, gi, go: None))
        if handle is not None:
            handles.append(handle)


def _global_full_local_regular(lin, calls):
    handle = nn_module.register_module_full_backward_hook(lambda m, gi, go: calls.append("global-full"))
    lin.register_backward_hook(lambda m, gi, go: calls.append("local-regular"))
    return handle


def _global_regular_local_full(lin, calls):
    handle = nn_module.register_module_backward_hook(lambda m, gi, go: calls.append("global-regular"))
    lin.register_full_backward_hook(lambda m, gi, go: calls.append("local-full"))
    return handle


@pytest.mark.parametrize("register", [
    pytest.param(_global_full_local_regular, id="global-full-local-regular"),
    pytest.param(_global_regular_local_full, id="global-regular-local-full"),
])
def test_global_and_local_backward_hook_kinds_mixed(obs, device, register):
    """A global backward hook of one kind and a module hook of the other are both accepted and both fire."""
    lin = _linear(device)
    calls = []
    with _global_hooks() as handles:
        handle = obs.outcome("register", lambda: register(lin, calls))
        if handle is not None:
            handles.append(handle)
        x = _x(device) * 1
        obs.outcome("forward_backward", lambda: lin(x).sum().backward(), warns=False)
    obs.fact("hooks.calls", calls)


# The deprecated register_backward_hook
REGULAR = [
    pytest.param(Negate, "leaf", None, id="one-node-leaf-input"),
    pytest.param(Negate, "non-leaf", None, id="one-node-non-leaf-input"),
    pytest.param(Triple, "non-leaf", None, id="mul-by-python-number"),
    pytest.param(SquarePlus, "non-leaf", None, id="two-nodes"),
    pytest.param(SquarePlus, "non-leaf", lambda gi: (gi[0] * 10, gi[1]), id="two-nodes-scale-first"),
]


@pytest.mark.parametrize("make, source, returns", REGULAR)
def test_regular_backward_hook_sees_last_node(obs, device, make, source, returns):
    """register_backward_hook gets the last autograd node's grad_input, not the module input's; it warns when unsure."""
    mod = make()
    calls = []
    mod.register_backward_hook(lambda m, gi, go: calls.append([_listed(gi), _listed(go)]) or (returns and returns(gi)))
    x = _vec([1.0, 2.0], device)
    obs.outcome("forward_backward", lambda: mod(x if source == "leaf" else x * 1).sum().backward())
    obs.fact("hook.calls", calls)
    obs.facts_of("x", x, "grad")


class ListInput(nn.Module):
    def forward(self, pair):
        return pair[0].clone(), pair[1].clone()


class ListOutput(nn.Module):
    def forward(self, a, b):
        return [a.clone(), b.clone()]


class TwoNodes(nn.Module):
    def forward(self, a, b):
        return a.clone(), b.clone()


class Chained(nn.Module):
    def forward(self, a, b):
        return a.clone().clone()


REGULAR_WARNINGS = [
    pytest.param(ListInput, lambda m, a, b: m([a, b]), id="list-input"),
    pytest.param(ListOutput, lambda m, a, b: m(a, b), id="list-output"),
    pytest.param(TwoNodes, lambda m, a, b: m(a, b), id="outputs-from-two-nodes"),
    pytest.param(Chained, lambda m, a, b: m(a, b), id="two-chained-nodes"),
]


@pytest.mark.parametrize("make, call", REGULAR_WARNINGS)
def test_regular_backward_hook_forward_warnings(obs, device, make, call):
    """At forward, a module with a regular backward hook warns when it would miss some grad_input or grad_output."""
    mod = make()
    mod.register_backward_hook(lambda m, gi, go: None)
    a = _vec([1.0, 2.0], device) * 1
    b = _vec([3.0, 4.0], device) * 1
    obs.outcome("forward", lambda: call(mod, a, b))


# Forward hooks
PRE_HOOK_RETURNS = [
    pytest.param(lambda args: None, id="None"),
    pytest.param(lambda args: args[0] * 2, id="bare-tensor"),
    pytest.param(lambda args: (args[0] * 2,), id="tuple"),
    pytest.param(lambda args: args[0].detach() * 2, id="detached"),
]


@pytest.mark.parametrize("returns", PRE_HOOK_RETURNS)
def test_forward_pre_hook_replaces_input(obs, device, returns):
    """A forward pre-hook's return (a tensor or a tuple) replaces the input, and gradients follow the replacement."""
    lin = _linear(device)
    lin.register_forward_pre_hook(lambda m, args: returns(args))
    x = _x(device)
    out = lin(x)
    obs.tensor("out", out)
    obs.facts_of("out", out, "requires_grad")
    if out.requires_grad:
        out.sum().backward()
    obs.facts_of("x", x, "grad")
    obs.facts_of("weight", lin.weight, "grad")


@pytest.mark.parametrize("returns", [pytest.param(lambda out: out * 3, id="scaled"),
                                     pytest.param(lambda out: out.detach(), id="detached")])
def test_forward_hook_replaces_output(obs, device, returns):
    """A forward hook's return replaces the output before the full backward hook wraps it, which sees its gradient."""
    lin = _linear(device)
    calls = []
    lin.register_forward_hook(lambda m, args, out: returns(out))
    lin.register_full_backward_hook(lambda m, gi, go: calls.append([_listed(gi), _listed(go)]))
    x = _x(device)
    out = lin(x)
    obs.facts_of("out", out, "requires_grad", "grad_fn")
    obs.outcome("backward", lambda: out.sum().backward())
    obs.fact("hook.calls", calls)
    obs.facts_of("x", x, "grad")


def test_forward_hooks_with_kwargs(obs, device):
    """with_kwargs=True hooks get the keyword arguments; a pre-hook may replace them, the forward hook sees that."""
    mod = AddBias()
    _keyword(mod.register_forward_pre_hook, "with_kwargs")
    calls = []

    def pre_hook(m, args, kwargs):
        calls.append(["pre", len(args), sorted(kwargs)])
        return args, {"bias": kwargs["bias"] * 2}

    def hook(m, args, kwargs, out):
        calls.append(["forward", len(args), sorted(kwargs)])
        return out + kwargs["bias"]

    mod.register_forward_pre_hook(pre_hook, with_kwargs=True)
    mod.register_forward_hook(hook, with_kwargs=True)
    x = _vec([1.0, 2.0], device)
    bias = _vec([0.5, 0.5], device)
    out = mod(x, bias=bias)
    obs.tensor("out", out)
    out.sum().backward()
    obs.fact("hooks.calls", calls)
    obs.facts_of("x", x, "grad")
    obs.facts_of("bias", bias, "grad")


PRE_HOOK_KWARGS_RETURNS = [
    pytest.param(lambda args, kwargs: args, 1, id="args-only-one-positional"),
    pytest.param(lambda args, kwargs: args, 2, id="args-only-two-positional"),
    pytest.param(lambda args, kwargs: (args, kwargs, None), 1, id="three-tuple"),
    pytest.param(lambda args, kwargs: (args, kwargs), 1, id="args-and-kwargs"),
]


@pytest.mark.parametrize("returns, positional", PRE_HOOK_KWARGS_RETURNS)
def test_forward_pre_hook_with_kwargs_return(obs, device, returns, positional):
    """A with_kwargs pre-hook must return None or (args, kwargs); any 2-tuple is taken as that pair."""
    mod = Product()
    _keyword(mod.register_forward_pre_hook, "with_kwargs")
    mod.register_forward_pre_hook(lambda m, args, kwargs: returns(args, kwargs), with_kwargs=True)
    a = _vec([1.0, 2.0], device)
    b = _vec([3.0, 4.0], device)
    out = obs.outcome("forward", lambda: mod(a, b) if positional == 2 else mod(a, b=b))
    if out is not None:
        obs.tensor("out", out)


@pytest.mark.parametrize("scope", [pytest.param("local", id="local"), pytest.param("global", id="global")])
def test_forward_hook_always_call(obs, device, scope):
    """A forward hook with always_call=True runs (with output None) when forward raises; a plain one does not."""
    mod = Fails()
    register = mod.register_forward_hook if scope == "local" else nn_module.register_module_forward_hook
    _keyword(register, "always_call")
    calls = []
    with _global_hooks() as handles:
        if scope == "local":
            mod.register_forward_hook(lambda m, args, out: calls.append(["always", out is None]), always_call=True)
            mod.register_forward_hook(lambda m, args, out: calls.append(["plain", out is None]))
        else:
            handles.append(nn_module.register_module_forward_hook(
                lambda m, args, out: calls.append(["global-always", out is None]), always_call=True))
        obs.outcome("forward", lambda: mod(_vec([1.0, 2.0], device)))
    obs.fact("hooks.calls", calls)


# Inputs without grad, no_grad, checkpoint, double backward
FULL_HOOK_RETURNS = [
    pytest.param(lambda gi: None, id="None"),
    pytest.param(lambda gi: (None,), id="tuple-of-None"),
    pytest.param(lambda gi: (torch.ones(1, 2, dtype=F64),), id="tensor"),
]


@pytest.mark.parametrize("returns", FULL_HOOK_RETURNS)
def test_full_backward_hook_input_without_grad(obs, device, returns):
    """With no input requiring grad the hook fires from grad_output with grad_input all None, and must return None."""
    lin = _linear(device)
    calls = []
    lin.register_full_backward_hook(lambda m, gi, go: calls.append([_listed(gi), _listed(go)]) or returns(gi))
    out = lin(_x(device, requires_grad=False))
    obs.outcome("backward", lambda: out.sum().backward())
    obs.fact("hook.calls", calls)
    obs.facts_of("weight", lin.weight, "grad")


def test_full_backward_hooks_under_no_grad(obs, device):
    """Under no_grad forward hooks still fire but no backward hook is set up: the output has no graph."""
    require("torch.nn.Module.register_full_backward_pre_hook")
    lin = _linear(device)
    calls = []
    lin.register_forward_hook(lambda m, args, out: calls.append("forward"))
    lin.register_full_backward_pre_hook(lambda m, go: calls.append("backward-pre"))
    lin.register_full_backward_hook(lambda m, gi, go: calls.append("backward"))
    x = _x(device)
    with torch.no_grad():
        out = obs.outcome("forward", lambda: lin(x))
    obs.facts_of("out", out, "requires_grad", "grad_fn")
    obs.fact("hooks.calls", calls)


CHECKPOINTS = [
    pytest.param(True, True, id="use_reentrant-True"),
    pytest.param(False, True, id="use_reentrant-False"),
    pytest.param(False, False, id="use_reentrant-False-no-early-stop"),
]


@pytest.mark.parametrize("use_reentrant, early_stop", CHECKPOINTS)
def test_full_backward_hook_in_checkpoint(obs, device, use_reentrant, early_stop):
    """Checkpointed, the full backward hook fires once; forward hooks rerun on recompute unless early stop cuts it."""
    stop = contextlib.nullcontext()
    if not early_stop:
        stop = require("torch.utils.checkpoint.set_checkpoint_early_stop")(False)
    lin = _linear(device)
    calls = []
    lin.register_forward_hook(lambda m, args, out: calls.append("forward"))
    lin.register_full_backward_hook(lambda m, gi, go: calls.append(["backward", _listed(gi), _listed(go)]))
    x = _x(device)
    with stop:
        out = checkpoint(lin, x, use_reentrant=use_reentrant)
        obs.outcome("backward", lambda: out.sum().backward(), warns=False)
    obs.fact("hooks.calls", calls)
    obs.facts_of("x", x, "grad")
    obs.facts_of("weight", lin.weight, "grad")


def test_full_backward_hook_in_double_backward(obs, device):
    """The hook fires for autograd.grad with create_graph, but not when that gradient is differentiated again."""
    mod = Cube()
    calls = []
    mod.register_full_backward_hook(lambda m, gi, go: calls.append([_listed(gi), _listed(go)]))
    x = _vec([1.0, 2.0], device)
    (g,) = torch.autograd.grad(mod(x).sum(), x, create_graph=True)
    obs.fact("first.calls", calls)
    obs.tensor("g", g)
    g.sum().backward()
    obs.fact("hook.calls", calls)
    obs.facts_of("x", x, "grad")
