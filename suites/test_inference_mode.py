"""Inference mode and inference tensors throughout autograd: the mode flags under each form of
``torch.inference_mode`` (context manager, decorator, ``mode=False``, nesting with ``no_grad``/``enable_grad``,
threads), which results are inference tensors, inference tensors used later as inputs to ops that require grad
(saved for backward, ``out=``, leaves made with ``requires_grad=True``, ``requires_grad_``), ``_version`` of an
inference tensor, in-place changes of inference tensors and of views taken in inference mode (direct, indirect,
view of a view), and backward run inside inference mode (inference ``.grad``)."""

import threading

import pytest
import torch


def _inference_tensor(device, **kwargs):
    with torch.inference_mode():
        return torch.ones(2, device=device, **kwargs)


def _observe_inside(obs, device, x):
    """Record the mode flags and what a factory and an op on a tensor requiring grad give here."""
    obs.fact("inside.inference_mode", torch.is_inference_mode_enabled())
    obs.fact("inside.grad_enabled", torch.is_grad_enabled())
    obs.facts_of("made", torch.ones(2, device=device), "is_inference", "requires_grad")
    obs.facts_of("op", x * 2, "is_inference", "requires_grad", "grad_fn")


def _context(mode_args, mode_kwargs):
    def run(body):
        with torch.inference_mode(*mode_args, **mode_kwargs):
            body()
    return run


def _decorator(mode_args, mode_kwargs):
    def run(body):
        torch.inference_mode(*mode_args, **mode_kwargs)(body)()
    return run


FORMS = [
    pytest.param(_context((), {}), id="context-manager"),
    pytest.param(_context((True,), {}), id="context-manager-True"),
    pytest.param(_context((False,), {}), id="context-manager-False"),
    pytest.param(_context((), {"mode": False}), id="context-manager-mode-keyword-False"),
    pytest.param(_decorator((), {}), id="decorator-called"),
    pytest.param(_decorator((False,), {}), id="decorator-False"),
    pytest.param(_decorator((), {"mode": False}), id="decorator-mode-keyword-False"),
]


@pytest.mark.parametrize("form", FORMS)
def test_mode_flags_by_form(obs, device, form):
    """Each form of inference_mode sets is_inference_mode_enabled, turns grad off and makes inference tensors (or not)."""
    x = torch.ones(2, device=device, requires_grad=True)
    obs.fact("before.inference_mode", torch.is_inference_mode_enabled())
    form(lambda: _observe_inside(obs, device, x))
    obs.fact("after.inference_mode", torch.is_inference_mode_enabled())
    obs.fact("after.grad_enabled", torch.is_grad_enabled())


def test_bare_decorator(obs, device):
    """@torch.inference_mode without parentheses decorates the function with inference mode enabled."""
    @torch.inference_mode
    def f():
        return [torch.is_inference_mode_enabled(), torch.ones(1, device=device).is_inference()]

    result = obs.outcome("call", f)
    obs.fact("call.value", result if isinstance(result, list) else type(result).__name__)


@pytest.mark.parametrize("inner", [
    pytest.param(lambda: torch.inference_mode(False), id="context-manager"),
    pytest.param(None, id="decorator"),
])
def test_inference_mode_false_inside_inference_mode(obs, device, inner):
    """inference_mode(False) inside inference mode restores normal mode: grad on, normal tensors, graphs recorded."""
    x = torch.ones(2, device=device, requires_grad=True)
    with torch.inference_mode():
        if inner is None:
            torch.inference_mode(False)(lambda: _observe_inside(obs, device, x))()
        else:
            with inner():
                _observe_inside(obs, device, x)
        obs.fact("outer.inference_mode", torch.is_inference_mode_enabled())
        obs.facts_of("outer_made", torch.ones(2, device=device), "is_inference")


NESTINGS = [
    pytest.param((torch.no_grad, torch.inference_mode), id="inference_mode-in-no_grad"),
    pytest.param((torch.inference_mode, torch.no_grad), id="no_grad-in-inference_mode"),
    pytest.param((torch.inference_mode, torch.enable_grad), id="enable_grad-in-inference_mode"),
    pytest.param((torch.inference_mode, lambda: torch.set_grad_enabled(True)),
                 id="set_grad_enabled-True-in-inference_mode"),
    pytest.param((torch.enable_grad, torch.inference_mode), id="inference_mode-in-enable_grad"),
    pytest.param((torch.no_grad, lambda: torch.inference_mode(False)), id="inference_mode-False-in-no_grad"),
    pytest.param((torch.inference_mode, lambda: torch.inference_mode(False)),
                 id="inference_mode-False-in-inference_mode"),
]


@pytest.mark.parametrize("nesting", NESTINGS)
def test_nesting_with_grad_modes(obs, device, nesting):
    """Inference mode nested with grad-mode managers: the flags inside, what an op gives, and the flags after the inner exits."""
    x = torch.ones(2, device=device, requires_grad=True)
    outer, inner = nesting
    with outer():  # each manager is made only when entered: set_grad_enabled flips the mode when made
        with inner():
            _observe_inside(obs, device, x)
        obs.fact("between.inference_mode", torch.is_inference_mode_enabled())
        obs.fact("between.grad_enabled", torch.is_grad_enabled())
    obs.fact("after.inference_mode", torch.is_inference_mode_enabled())
    obs.fact("after.grad_enabled", torch.is_grad_enabled())


def test_new_thread_does_not_inherit_inference_mode(obs, device):
    """Inference mode is thread-local: a thread started inside it runs in normal mode."""
    seen = {}

    def target():
        seen["inference_mode"] = torch.is_inference_mode_enabled()
        seen["is_inference"] = torch.ones(1, device=device).is_inference()

    with torch.inference_mode():
        thread = threading.Thread(target=target)
        thread.start()
        thread.join()
    obs.fact("thread.inference_mode", seen["inference_mode"])
    obs.fact("thread_made.is_inference", seen["is_inference"])


def _inside(make):
    def run(device):
        normal = torch.ones(2, device=device)
        with torch.inference_mode():
            return make(normal, torch.ones(2, device=device))
    return run


def _outside(make):
    def run(device):
        normal = torch.ones(2, device=device)
        with torch.inference_mode():
            inference = torch.ones(2, device=device)
        return make(normal, inference)
    return run


RESULTS = [
    pytest.param(_inside(lambda n, i: i), id="inside-factory"),
    pytest.param(_inside(lambda n, i: n + 1), id="inside-op-on-normal"),
    pytest.param(_inside(lambda n, i: n + i), id="inside-op-mixing"),
    pytest.param(_inside(lambda n, i: n.view(2)), id="inside-view-of-normal"),
    pytest.param(_inside(lambda n, i: n[0:1]), id="inside-slice-of-normal"),
    pytest.param(_inside(lambda n, i: n.add_(1)), id="inside-inplace-on-normal"),
    pytest.param(_inside(lambda n, i: n.detach()), id="inside-detach-of-normal"),
    pytest.param(_inside(lambda n, i: torch.ones_like(n)), id="inside-ones_like-normal"),
    pytest.param(_outside(lambda n, i: i + 1), id="outside-op-on-inference"),
    pytest.param(_outside(lambda n, i: n + i), id="outside-op-mixing"),
    pytest.param(_outside(lambda n, i: i.view(2)), id="outside-view-of-inference"),
    pytest.param(_outside(lambda n, i: i[0:1]), id="outside-slice-of-inference"),
    pytest.param(_outside(lambda n, i: i.detach()), id="outside-detach-of-inference"),
    pytest.param(_outside(lambda n, i: i.clone()), id="outside-clone-of-inference"),
    pytest.param(_outside(lambda n, i: n.add_(i)), id="outside-inplace-on-normal-with-inference"),
    pytest.param(_outside(lambda n, i: torch.ones_like(i)), id="outside-ones_like-inference"),
    pytest.param(_outside(lambda n, i: i.to(torch.float64)), id="outside-to-float64"),
]


@pytest.mark.parametrize("scenario", RESULTS)
def test_result_is_inference(obs, device, scenario):
    """Which results are inference tensors: made or computed in inference mode, or views/detach of inference tensors."""
    result = scenario(device)
    obs.facts_of("result", result, "is_inference", "requires_grad")


@pytest.mark.parametrize("where", [pytest.param(False, id="outside"), pytest.param(True, id="inside")])
@pytest.mark.parametrize("make", [
    pytest.param(lambda t: t, id="inference-tensor"),
    pytest.param(lambda t: t.view(2), id="view-of-inference-tensor"),
])
def test_version_of_inference_tensor(obs, device, make, where):
    """Reading _version of an inference tensor raises, inside inference mode or outside."""
    t = make(_inference_tensor(device))
    if where:
        with torch.inference_mode():
            obs.outcome("version", lambda: t._version)
    else:
        obs.outcome("version", lambda: t._version)


def test_version_of_normal_view_made_in_inference_mode(obs, device):
    """A view of a normal tensor taken in inference mode is a normal tensor with a readable _version."""
    base = torch.ones(2, device=device)
    with torch.inference_mode():
        view = base.view(2)
        base.add_(1)
    obs.facts_of("view", view, "is_inference", "version")
    obs.facts_of("base", base, "is_inference", "version")


SET_REQUIRES_GRAD = [
    pytest.param(lambda t: t.requires_grad_(), id="requires_grad_"),
    pytest.param(lambda t: t.requires_grad_(True), id="requires_grad_-True"),
    pytest.param(lambda t: setattr(t, "requires_grad", True), id="attribute-True"),
    pytest.param(lambda t: t.requires_grad_(False), id="requires_grad_-False"),
]


@pytest.mark.parametrize("where", [pytest.param(False, id="outside"), pytest.param(True, id="inside")])
@pytest.mark.parametrize("change", SET_REQUIRES_GRAD)
def test_set_requires_grad_on_inference_tensor(obs, device, change, where):
    """Making an inference tensor require grad is refused outside inference mode and allowed inside it."""
    t = _inference_tensor(device)
    if where:
        with torch.inference_mode():
            obs.outcome("set", lambda: change(t))
    else:
        obs.outcome("set", lambda: change(t))
    obs.facts_of("t", t, "is_inference", "requires_grad", "is_leaf")


def test_leaf_requiring_grad_made_in_inference_mode(obs, device):
    """A factory with requires_grad=True in inference mode gives an inference leaf that requires grad."""
    with torch.inference_mode():
        c = torch.ones(2, device=device, requires_grad=True)
        inside = c * 2
    obs.facts_of("c", c, "is_inference", "requires_grad", "is_leaf", "grad_fn")
    obs.facts_of("inside", inside, "is_inference", "requires_grad", "grad_fn")


INFERENCE_LEAF_OPS = [
    pytest.param(lambda c, s: c * 2, id="mul-by-scalar"),
    pytest.param(lambda c, s: c + 1, id="add-scalar"),
    pytest.param(lambda c, s: c + s, id="add-normal-leaf"),
    pytest.param(lambda c, s: c * s, id="mul-normal-leaf"),
    pytest.param(lambda c, s: c * c, id="mul-itself"),
    pytest.param(lambda c, s: c.sin(), id="sin"),
    pytest.param(lambda c, s: c.exp(), id="exp"),
    pytest.param(lambda c, s: c.pow(2), id="pow"),
    pytest.param(lambda c, s: c.sum(), id="sum"),
    pytest.param(lambda c, s: c.view(2), id="view"),
    pytest.param(lambda c, s: c.clone(), id="clone"),
    pytest.param(lambda c, s: c.clone().sin(), id="clone-then-sin"),
]


@pytest.mark.parametrize("op", INFERENCE_LEAF_OPS)
def test_inference_leaf_requiring_grad_used_outside(obs, device, op):
    """An inference leaf with requires_grad=True used outside inference mode: some ops raise, some drop grad silently, some record a graph."""
    with torch.inference_mode():
        c = torch.ones(2, device=device, requires_grad=True)
    s = torch.full((2,), 3.0, device=device, requires_grad=True)
    result = obs.outcome("op", lambda: op(c, s))
    if result is None:
        return
    obs.facts_of("result", result, "is_inference", "requires_grad", "grad_fn")
    if result.requires_grad:
        obs.outcome("backward", lambda: result.sum().backward())
        obs.facts_of("c", c, "grad")


INPUT_OPS = [
    pytest.param(lambda x, t: x * t, id="mul-saves-it"),
    pytest.param(lambda x, t: t * x, id="mul-saves-it-reversed"),
    pytest.param(lambda x, t: x @ t, id="matmul-saves-it"),
    pytest.param(lambda x, t: torch.where(t > 0, x, t), id="where-condition-and-other"),
    pytest.param(lambda x, t: x + t, id="add-saves-nothing"),
    pytest.param(lambda x, t: x - t, id="sub-saves-nothing"),
    pytest.param(lambda x, t: torch.cat([x, t]), id="cat"),
    pytest.param(lambda x, t: torch.stack([x, t]), id="stack"),
    pytest.param(lambda x, t: torch.maximum(x, t), id="maximum-saves-it"),
    pytest.param(lambda x, t: x.clone().mul_(t), id="inplace-mul_-saves-it"),
    pytest.param(lambda x, t: x.clone().add_(t), id="inplace-add_-saves-nothing"),
    pytest.param(lambda x, t: x.clone().copy_(t), id="inplace-copy_"),
    pytest.param(lambda x, t: torch.nn.functional.mse_loss(x, t), id="mse_loss-target"),
    pytest.param(lambda x, t: torch.nn.functional.linear(x, t.expand(2, 2)), id="linear-weight"),
]


@pytest.mark.parametrize("op", INPUT_OPS)
def test_inference_tensor_as_input_with_grad(obs, device, op):
    """An inference tensor as the other input of an op on a tensor requiring grad: raises iff the op saves it for backward."""
    t = _inference_tensor(device)
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    result = obs.outcome("op", lambda: op(x, t))
    if result is None:
        return
    obs.facts_of("result", result, "is_inference", "requires_grad", "grad_fn")
    obs.outcome("backward", lambda: result.sum().backward())
    obs.facts_of("x", x, "grad")


def test_module_output_from_inference_mode_fed_back(obs, device):
    """A module's output computed in inference mode cannot feed a recorded forward through the module; its clone can."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(2, 2).to(device)
    with torch.inference_mode():
        out = linear(torch.ones(1, 2, device=device))
    obs.facts_of("out", out, "is_inference", "requires_grad")
    obs.facts_of("weight", linear.weight, "is_inference", "requires_grad")
    obs.outcome("again", lambda: linear(out))
    again = obs.outcome("again_clone", lambda: linear(out.clone()))
    obs.facts_of("again_clone", again, "is_inference", "requires_grad", "grad_fn")


OUT_ARGS = [
    pytest.param(True, id="inputs-require-grad"),
    pytest.param(False, id="inputs-without-grad"),
]


@pytest.mark.parametrize("requires_grad", OUT_ARGS)
def test_inference_tensor_as_out_argument(obs, device, requires_grad):
    """An inference tensor as out=: the out= autograd error when an input requires grad, else the inference in-place error."""
    t = _inference_tensor(device)
    s = torch.ones(2, device=device, requires_grad=requires_grad)
    obs.outcome("mul_out", lambda: torch.mul(s, s, out=t))
    obs.tensor("t", t)


def _setitem(t):
    t[0] = 5.0


INPLACE_ON_INFERENCE = [
    pytest.param(lambda t: t.add_(1), id="add_"),
    pytest.param(lambda t: t.mul_(2), id="mul_"),
    pytest.param(lambda t: t.zero_(), id="zero_"),
    pytest.param(lambda t: t.copy_(torch.full_like(t, 7.0)), id="copy_"),
    pytest.param(_setitem, id="setitem"),
    pytest.param(lambda t: t.unsqueeze_(0), id="unsqueeze_"),
    pytest.param(lambda t: t.t_(), id="t_"),
    pytest.param(lambda t: t.resize_(1), id="resize_-smaller"),
]


@pytest.mark.parametrize("op", INPLACE_ON_INFERENCE)
def test_inplace_on_inference_tensor_outside(obs, device, op):
    """An in-place change (data or metadata) of an inference tensor outside inference mode raises; whether the change happened anyway."""
    t = _inference_tensor(device)
    obs.outcome("inplace", lambda: op(t))
    obs.tensor("t", t)


@pytest.mark.parametrize("op", INPLACE_ON_INFERENCE)
def test_inplace_on_inference_tensor_inside(obs, device, op):
    """The same in-place change of an inference tensor inside inference mode is allowed and it stays an inference tensor."""
    t = _inference_tensor(device)
    with torch.inference_mode():
        obs.outcome("inplace", lambda: op(t))
    obs.facts_of("t", t, "is_inference", "requires_grad")
    obs.tensor("t", t)


VIEWS = [
    pytest.param(lambda a: a.view(-1), id="view"),
    pytest.param(lambda a: a.view_as(a), id="view_as"),
    pytest.param(lambda a: a[0], id="select"),
    pytest.param(lambda a: a.transpose(0, 1), id="transpose"),
    pytest.param(lambda a: a.unbind(0)[0], id="unbind-output"),
]

CHANGES = [
    pytest.param(lambda v: v.add_(2), id="add_"),
    pytest.param(lambda v: v.transpose_(0, -1), id="transpose_"),
]

BASES = [
    pytest.param(lambda d: torch.ones(2, 3, device=d, requires_grad=True).clone(), id="non-leaf"),
    pytest.param(lambda d: torch.ones(2, 3, device=d, requires_grad=True), id="leaf"),
    pytest.param(lambda d: torch.ones(2, 3, device=d), id="without-grad"),
]


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("change", CHANGES)
@pytest.mark.parametrize("view", VIEWS)
def test_view_made_in_inference_mode_modified_outside(obs, device, view, change, base):
    """A view of a normal tensor taken in inference mode and changed in place outside it raises iff its base requires grad."""
    a = base(device)
    with torch.inference_mode():
        v = view(a)
    obs.facts_of("v", v, "is_inference", "requires_grad")
    obs.outcome("inplace", lambda: change(v))


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("view", VIEWS)
def test_view_made_in_inference_mode_base_modified(obs, device, view, base):
    """A view taken in inference mode whose base is then changed in place outside it: reading its grad_fn raises."""
    a = base(device)
    with torch.inference_mode():
        v = view(a)
    target = a if not a.is_leaf else a.detach()
    obs.outcome("base_inplace", lambda: target.add_(2))
    obs.outcome("view_grad_fn", lambda: v.grad_fn)
    obs.outcome("backward", lambda: v.sum().backward())


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("view", VIEWS)
def test_view_made_in_inference_mode_modified_inside(obs, device, view, base):
    """A view taken in inference mode may be changed in place inside inference mode; the change is not recorded by autograd."""
    a = base(device)
    with torch.inference_mode():
        v = view(a)
        obs.outcome("inplace", lambda: v.add_(2))
    obs.facts_of("a", a, "grad_fn", "version")
    obs.outcome("backward", lambda: a.sum().backward())
    obs.facts_of("a", a, "grad")


@pytest.mark.parametrize("make_view", [
    pytest.param(lambda x: x.view(2), id="view"),
    pytest.param(lambda x: x[:], id="slice"),
])
def test_view_of_view_made_in_inference_mode(obs, device, make_view):
    """A view of a view made in inference mode, after requires_grad_ on the first view, modified in place raises."""
    x = torch.zeros(2, device=device)
    with torch.inference_mode():
        y = make_view(x)
    obs.outcome("requires_grad_", lambda: y.requires_grad_(True))
    z = y.view(2)
    obs.facts_of("z", z, "is_inference", "requires_grad", "grad_fn")

    def divide():
        nonlocal z
        z /= 2

    obs.outcome("inplace", divide)


def test_backward_inside_inference_mode(obs, device):
    """backward() of a graph recorded outside inference mode runs inside it, and the new .grad is an inference tensor."""
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (x * x).sum()
    with torch.inference_mode():
        obs.outcome("backward", y.backward)
    obs.facts_of("x", x, "grad")
    obs.facts_of("x.grad", x.grad, "is_inference")
    obs.outcome("second_backward", lambda: (x * x).sum().backward())
    obs.facts_of("after_second", x, "grad")
    obs.facts_of("after_second.grad", x.grad, "is_inference")


def test_backward_inside_inference_mode_accumulates_into_normal_grad(obs, device):
    """backward() inside inference mode into an existing normal .grad accumulates in place and keeps it normal."""
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    (x * x).sum().backward()
    y = (x * x).sum()
    with torch.inference_mode():
        obs.outcome("backward", y.backward)
    obs.facts_of("x", x, "grad")
    obs.facts_of("x.grad", x.grad, "is_inference")


def test_autograd_grad_inside_inference_mode(obs, device):
    """torch.autograd.grad inside inference mode returns inference tensors; create_graph=True records nothing."""
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (x * x).sum()
    with torch.inference_mode():
        grads = obs.outcome("grad", lambda: torch.autograd.grad(y, x, create_graph=True))
    obs.facts_of("g", grads[0], "is_inference", "requires_grad", "grad_fn", "values")


def test_graph_recorded_inside_inference_mode(obs, device):
    """Ops on a tensor requiring grad inside inference mode record nothing: backward of the result raises."""
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    with torch.inference_mode():
        y = (x * x).sum()
    obs.facts_of("y", y, "is_inference", "requires_grad", "grad_fn")
    obs.outcome("backward", y.backward)


def test_inference_tensor_as_backward_gradient(obs, device):
    """An inference tensor passed as backward's gradient is accepted and the .grad made is a normal tensor."""
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    go = _inference_tensor(device)
    y = x * x
    obs.outcome("backward", lambda: y.backward(go))
    obs.facts_of("x", x, "grad")
    obs.facts_of("x.grad", x.grad, "is_inference")


def test_inference_tensor_assigned_as_grad(obs, device):
    """An inference tensor may be assigned to .grad; a later backward accumulating into it outside inference mode raises."""
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    obs.outcome("assign", lambda: setattr(x, "grad", _inference_tensor(device)))
    obs.facts_of("x.grad", x.grad, "is_inference")
    obs.outcome("backward", lambda: (x * x).sum().backward())
    obs.facts_of("x", x, "grad")


def test_parameter_updated_in_inference_mode(obs, device):
    """An in-place update of a parameter inside inference mode is allowed, bumps its version and keeps it a normal leaf."""
    p = torch.nn.Parameter(torch.ones(2, device=device))
    with torch.inference_mode():
        obs.outcome("update", lambda: p.add_(1))
    obs.facts_of("p", p, "is_inference", "requires_grad", "is_leaf", "version", "values")
    obs.outcome("backward", lambda: (p * p).sum().backward())
    obs.facts_of("p", p, "grad")


@pytest.mark.parametrize("mode", [
    pytest.param(lambda: torch.inference_mode(), id="inference_mode"),
    pytest.param(lambda: torch.no_grad(), id="no_grad"),
])
def test_inplace_on_leaf_requiring_grad(obs, device, mode):
    """In-place on a leaf that requires grad: allowed in inference mode as under no_grad; the leaf stays a normal tensor."""
    x = torch.ones(2, device=device, requires_grad=True)
    with mode():
        obs.outcome("inplace", lambda: x.mul_(2))
    obs.facts_of("x", x, "is_inference", "requires_grad", "is_leaf", "grad_fn", "version")
