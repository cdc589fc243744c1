"""In-place operations and the version counter: what is allowed, what bumps _version, what backward then detects
(every variant of the version-counter message, with and without anomaly mode, ``increment_version``); in-place on
leaves under every grad mode; views taken under ``no_grad``/``inference_mode`` (and views of such views) changed
in place; multi-output views (``unbind``/``split``/``chunk``) and custom Function views changed in place; guards
(``apply_``/``map_``, expanded tensors, ``detach_()`` of saved tensors and views); hooks on tensors changed in
place."""

import pytest
import torch

from autograd_conformance.dimensions import GRAD_MODES
from autograd_conformance.observe import require

pytestmark = pytest.mark.modes("eager", "compile")


def _setitem(t):
    t[0] = 5.0


def _iadd(t):
    t += 1


INPLACE_OPS = [
    pytest.param(lambda t: t.add_(1), id="add_"),
    pytest.param(lambda t: t.sub_(1), id="sub_"),
    pytest.param(lambda t: t.mul_(2), id="mul_"),
    pytest.param(lambda t: t.div_(2), id="div_"),
    pytest.param(lambda t: t.zero_(), id="zero_"),
    pytest.param(lambda t: t.fill_(3.0), id="fill_"),
    pytest.param(lambda t: t.copy_(torch.full_like(t, 7.0)), id="copy_"),
    pytest.param(lambda t: t.clamp_(min=0.5), id="clamp_"),
    pytest.param(lambda t: t.exp_(), id="exp_"),
    pytest.param(_setitem, id="setitem"),
    pytest.param(_iadd, id="iadd"),
]

TARGETS = [
    pytest.param(lambda x: x, id="leaf"),
    pytest.param(lambda x: x[1:], id="view-of-leaf"),
]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("op", INPLACE_OPS)
def test_inplace_on_leaf_requiring_grad(obs, device, op, target):
    """In-place on a leaf that requires grad raises; on a view of it the error text differs; the version is unchanged."""
    x = torch.ones(3, device=device, requires_grad=True)
    obs.outcome("inplace", lambda: op(target(x)))
    obs.facts_of("x", x, "version", "is_leaf", "grad_fn")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("op", INPLACE_OPS)
def test_inplace_on_leaf_under_no_grad(obs, device, op, target):
    """Under no_grad the same in-place change of a leaf (or a view of it) is allowed and bumps the version."""
    x = torch.ones(3, device=device, requires_grad=True)
    with torch.no_grad():
        obs.outcome("inplace", lambda: op(target(x)))
    obs.facts_of("x", x, "version", "is_leaf", "requires_grad", "grad_fn")


def _index_put(t):
    t.index_put_((torch.tensor([0], device=t.device),), torch.tensor([9.0], device=t.device))


def _data_write(t):
    t.data.add_(1)


def _out(t):
    torch.add(torch.ones_like(t), 1, out=t)


VERSION_BUMPERS = [
    pytest.param(lambda t: t.add_(1), id="add_"),
    pytest.param(lambda t: t.add_(1).add_(1), id="add_-twice"),
    pytest.param(_setitem, id="setitem"),
    pytest.param(_index_put, id="index_put_"),
    pytest.param(lambda t: t.masked_fill_(t > 0, 0.0), id="masked_fill_"),
    pytest.param(_out, id="out="),
    pytest.param(_data_write, id="data-write"),
    pytest.param(lambda t: t[0:2].mul_(2), id="view-mul_"),
    pytest.param(lambda t: t.view(3).zero_(), id="view-zero_"),
    pytest.param(lambda t: t.detach().zero_(), id="detach-zero_"),
    pytest.param(lambda t: t.resize_(3), id="resize_-same-size"),
    pytest.param(lambda t: t.add(1), id="out-of-place-add"),
]


@pytest.mark.parametrize("change", VERSION_BUMPERS)
def test_version_counter_after(obs, device, change):
    """The _version of a plain tensor after each kind of change (out-of-place ops leave it alone)."""
    t = torch.ones(3, device=device)
    change(t)
    obs.facts_of("t", t, "version")


def test_detach_shares_version_counter(obs, device):
    """detach() shares storage and the version counter with its source: an in-place change through it is seen."""
    y = torch.ones(3, device=device, requires_grad=True) * 2
    d = y.detach()
    d.add_(1)
    obs.facts_of("y", y, "version")
    obs.facts_of("d", d, "version", "requires_grad", "is_leaf")
    obs.fact("shared_storage.same", d.data_ptr() == y.data_ptr())


def test_data_does_not_share_version_counter(obs, device):
    """x.data shares storage but not the version counter: changes through it are invisible to autograd."""
    y = torch.ones(3, device=device, requires_grad=True) * 2
    data = y.data
    data.add_(1)
    obs.facts_of("y", y, "version")
    obs.facts_of("data", data, "version", "requires_grad", "is_leaf")
    obs.fact("shared_storage.same", data.data_ptr() == y.data_ptr())


def test_data_write_silently_corrupts_gradient(obs, device):
    """Changing a saved tensor through .data is not detected: backward succeeds with a gradient computed from the new values."""
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * 1
    z = y * y
    y.data.mul_(10)
    obs.outcome("backward", lambda: z.sum().backward())
    obs.facts_of("x", x, "grad")


def test_detach_write_is_detected(obs, device):
    """Changing a saved tensor through detach() is detected: backward raises the version error."""
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * 1
    z = y * y
    y.detach().mul_(10)
    obs.outcome("backward", lambda: z.sum().backward())


SAVING_OPS = [
    pytest.param(lambda y: y * y, id="mul-saves-inputs"),
    pytest.param(lambda y: y.pow(2), id="pow-saves-input"),
    pytest.param(lambda y: y.sin(), id="sin-saves-input"),
    pytest.param(lambda y: 1 / y, id="reciprocal-saves-output"),
    pytest.param(lambda y: y.exp(), id="exp-saves-output"),
    pytest.param(lambda y: y.sigmoid(), id="sigmoid-saves-output"),
    pytest.param(lambda y: y.tanh(), id="tanh-saves-output"),
    pytest.param(lambda y: y.sqrt(), id="sqrt-saves-output"),
    pytest.param(lambda y: y.relu(), id="relu-saves-output"),
    pytest.param(lambda y: y @ y, id="matmul-saves-inputs"),
    pytest.param(lambda y: y + 2, id="add-saves-nothing"),
    pytest.param(lambda y: 2 * y, id="mul-by-constant-saves-nothing"),
    pytest.param(lambda y: y - 1, id="sub-saves-nothing"),
    pytest.param(lambda y: -y, id="neg-saves-nothing"),
    pytest.param(lambda y: y.sum(), id="sum-saves-nothing"),
    pytest.param(lambda y: y.view(2, 1), id="view-saves-nothing"),
]


@pytest.mark.parametrize("op", SAVING_OPS)
def test_modify_input_after_op(obs, device, op):
    """Modifying the op's input in place: backward raises the version error iff the op saved it, else gives the right grad."""
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * 1
    z = op(y)
    y.mul_(3)
    obs.outcome("backward", lambda: z.sum().backward())
    obs.facts_of("x", x, "grad")


@pytest.mark.parametrize("op", SAVING_OPS)
def test_modify_output_after_op(obs, device, op):
    """Modifying the op's output in place: backward raises iff the op saved its output (exp, sigmoid, tanh, ...)."""
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = x * 1
    z = op(y)
    obs.outcome("modify_output", lambda: z.add_(1))
    obs.outcome("backward", lambda: z.sum().backward())
    obs.facts_of("x", x, "grad")


def test_inplace_on_view_of_non_leaf(obs, device):
    """In-place on a view of a non-leaf rewrites history: the base gets CopySlices, the view AsStridedBackward0."""
    x = torch.ones(4, device=device, requires_grad=True)
    base = x * 2
    view = base[1:3]
    view.mul_(5)
    obs.facts_of("base", base, "grad_fn", "version")
    obs.facts_of("view", view, "grad_fn", "version")
    base.sum().backward()
    obs.facts_of("x", x, "grad")


def test_inplace_on_base_after_view(obs, device):
    """In-place on the base after a view was taken: the view's grad_fn is regenerated and shares the bumped version."""
    x = torch.ones(4, device=device, requires_grad=True)
    base = x * 2
    view = base[1:3]
    base.add_(1)
    obs.facts_of("view", view, "grad_fn", "version")
    obs.outcome("backward", lambda: view.sum().backward())
    obs.facts_of("x", x, "grad")


def test_view_made_under_no_grad_modified_with_grad(obs, device):
    """A view taken under no_grad of a tensor that requires grad, modified in place with grad on, raises."""
    x = torch.ones(4, device=device, requires_grad=True)
    base = x * 2
    with torch.no_grad():
        view = base[1:3]
    obs.outcome("inplace", lambda: view.mul_(2))


MULTI_VIEW = [
    pytest.param(lambda t: t.split(2)[0], id="split"),
    pytest.param(lambda t: t.chunk(2)[1], id="chunk"),
    pytest.param(lambda t: t.unbind(0)[0], id="unbind"),
    pytest.param(lambda t: t.split_with_sizes([1, 3])[1], id="split_with_sizes"),
]


@pytest.mark.parametrize("piece", MULTI_VIEW)
def test_multi_view_output_modified_in_place(obs, device, piece):
    """An output of a multi-view function (split, chunk, unbind) modified in place raises."""
    x = torch.ones(4, device=device, requires_grad=True)
    base = x * 2
    obs.outcome("inplace", lambda: piece(base).mul_(2))


def test_detach_in_place_on_view(obs, device):
    """detach_() on a view raises."""
    x = torch.ones(4, device=device, requires_grad=True)
    view = (x * 2)[1:]
    obs.outcome("detach_", view.detach_)


def test_inference_tensor_modified_outside_inference_mode(obs, device):
    """A tensor made in inference mode cannot be changed in place outside it."""
    with torch.inference_mode():
        t = torch.ones(2, device=device)
    obs.facts_of("t", t, "is_inference", "requires_grad")
    obs.outcome("inplace", lambda: t.add_(1))


def test_inference_tensor_saved_for_backward(obs, device):
    """An inference tensor used in an op that must save it for backward raises."""
    with torch.inference_mode():
        t = torch.ones(2, device=device)
    x = torch.ones(2, device=device, requires_grad=True)
    obs.outcome("mul", lambda: x * t)


def test_allow_mutation_on_saved_tensors(obs, device):
    """Inside allow_mutation_on_saved_tensors, modifying a saved tensor is allowed and backward uses the original value."""
    present = hasattr(torch.autograd.graph, "allow_mutation_on_saved_tensors")
    obs.fact("api.present", present)
    if not present:
        return
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    with torch.autograd.graph.allow_mutation_on_saved_tensors():
        y = x * 1
        z = y * y
        y.mul_(10)
        obs.outcome("backward", lambda: z.sum().backward())
    obs.facts_of("x", x, "grad")


def test_allow_mutation_backward_outside_context(obs, device):
    """Backward outside the allow_mutation_on_saved_tensors context that recorded the graph raises."""
    if not hasattr(torch.autograd.graph, "allow_mutation_on_saved_tensors"):
        obs.fact("api.present", False)
        return
    obs.fact("api.present", True)
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    with torch.autograd.graph.allow_mutation_on_saved_tensors():
        y = x * 1
        z = y * y
        y.mul_(10)
    obs.outcome("backward", lambda: z.sum().backward())


# Views created under no_grad / inference_mode, then modified in place: which text, by mode and base.
VIEW_CREATION_MODES = [
    pytest.param(torch.no_grad, id="view-in-no_grad"),
    pytest.param(lambda: torch.set_grad_enabled(False), id="view-in-set_grad_enabled-False"),
    pytest.param(torch.inference_mode, id="view-in-inference_mode"),
]

VIEW_BASES = [
    pytest.param(lambda d: torch.ones(4, device=d, requires_grad=True) * 2, id="non-leaf"),
    pytest.param(lambda d: torch.ones(4, device=d, requires_grad=True), id="leaf"),
    pytest.param(lambda d: torch.ones(4, device=d), id="without-grad"),
]

VIEW_KINDS = [
    pytest.param(lambda b: b[1:3], id="slice"),
    pytest.param(lambda b: b.view(2, 2), id="view"),
    pytest.param(lambda b: b.split(2)[0], id="split-output"),
]


@pytest.mark.parametrize("base", VIEW_BASES)
@pytest.mark.parametrize("kind", VIEW_KINDS)
@pytest.mark.parametrize("mode", VIEW_CREATION_MODES)
def test_view_made_under_mode_modified_with_grad(obs, device, mode, kind, base):
    """A view taken under no_grad / inference_mode and changed in place with grad on: each mode has its own text; allowed when nothing requires grad."""
    b = base(device)
    with mode():
        view = kind(b)
    obs.facts_of("view", view, "requires_grad", "is_leaf", "grad_fn")
    obs.outcome("inplace", lambda: view.mul_(2))


@pytest.mark.parametrize("base", VIEW_BASES)
@pytest.mark.parametrize("kind", VIEW_KINDS)
@pytest.mark.parametrize("mode", VIEW_CREATION_MODES)
def test_view_made_under_mode_modified_under_same_mode(obs, device, mode, kind, base):
    """A view taken and changed in place under the same no_grad / inference_mode block is allowed and not recorded."""
    b = base(device)
    with mode():
        view = kind(b)
        obs.outcome("inplace", lambda: view.mul_(2))
    obs.facts_of("b", b, "grad_fn", "version")


def test_view_made_under_no_grad_modified_with_grad_from_other(obs, device):
    """A view of a tensor without grad, taken under no_grad, changed in place with a tensor that requires grad, raises."""
    a = torch.ones(2, device=device)
    other = torch.ones(2, device=device, requires_grad=True)
    with torch.no_grad():
        view = a[:]
    obs.outcome("inplace", lambda: view.copy_(other))


@pytest.mark.parametrize("mode", [
    pytest.param(torch.no_grad, id="no_grad"),
    pytest.param(torch.inference_mode, id="inference_mode"),
])
def test_view_of_view_made_under_mode(obs, device, mode):
    """A view of a view taken under no_grad/inference_mode, after requires_grad_, changed in place: the view-of-a-view text."""
    x = torch.zeros(2, device=device)
    with mode():
        y = x.view(2)
    y.requires_grad_(True)
    z = y.view(2)
    obs.facts_of("z", z, "requires_grad", "grad_fn")

    def divide():
        nonlocal z
        z /= 2

    obs.outcome("inplace", divide)


def test_base_modified_after_no_grad_view(obs, device):
    """A view taken under no_grad whose base is then changed in place with grad on: reading the view's grad_fn raises."""
    x = torch.ones(4, device=device, requires_grad=True)
    base = x * 2
    with torch.no_grad():
        view = base[1:3]
    obs.outcome("base_inplace", lambda: base.mul_(3))
    obs.outcome("view_grad_fn", lambda: view.grad_fn)
    obs.facts_of("view", view, "requires_grad")
    obs.outcome("backward", lambda: view.sum().backward())


# Multi-output views (unbind / split / chunk) and in-place.
MULTI_VIEW_FNS = [
    pytest.param(lambda t: t.unbind(0), id="unbind"),
    pytest.param(lambda t: t.split(1), id="split"),
    pytest.param(lambda t: t.chunk(2), id="chunk"),
    pytest.param(lambda t: t.split_with_sizes([1, 1]), id="split_with_sizes"),
]


@pytest.mark.parametrize("index", [0, 1])
@pytest.mark.parametrize("fn", MULTI_VIEW_FNS)
def test_multi_view_output_each_index(obs, device, fn, index):
    """Each output of a multi-view function modified in place raises, naming its output index and the function."""
    base = torch.ones(2, 2, device=device, requires_grad=True).clone()
    pieces = fn(base)
    obs.facts_of("piece", pieces[index], "grad_fn")
    obs.outcome("inplace", lambda: pieces[index].add_(1))
    obs.facts_of("base", base, "version", "grad_fn")


@pytest.mark.parametrize("fn", MULTI_VIEW_FNS)
def test_view_of_multi_view_output_modified(obs, device, fn):
    """A view of an output of a multi-view function inherits the restriction: changing it in place raises."""
    base = torch.ones(2, 2, device=device, requires_grad=True).clone()
    piece = fn(base)[0]
    obs.outcome("inplace", lambda: piece.view(-1).mul_(2))


@pytest.mark.parametrize("fn", MULTI_VIEW_FNS)
def test_multi_view_output_modified_under_no_grad(obs, device, fn):
    """An output of a multi-view function changed in place under no_grad is allowed; then its grad_fn and the others' raise."""
    base = torch.ones(2, 2, device=device, requires_grad=True).clone()
    pieces = fn(base)
    with torch.no_grad():
        obs.outcome("inplace", lambda: pieces[1].mul_(2))
    obs.outcome("changed_grad_fn", lambda: pieces[1].grad_fn)
    obs.outcome("other_grad_fn", lambda: pieces[0].grad_fn)
    obs.outcome("backward", lambda: pieces[0].sum().backward())


@pytest.mark.parametrize("fn", MULTI_VIEW_FNS)
def test_multi_view_output_modified_through_detach(obs, device, fn):
    """An output of a multi-view function changed through detach() is allowed; then reading grad_fn of the outputs raises."""
    base = torch.ones(2, 2, device=device, requires_grad=True).clone()
    pieces = fn(base)
    obs.outcome("inplace", lambda: pieces[1].detach().mul_(2))
    obs.outcome("changed_grad_fn", lambda: pieces[1].grad_fn)
    obs.outcome("other_grad_fn", lambda: pieces[0].grad_fn)


@pytest.mark.parametrize("fn", MULTI_VIEW_FNS)
def test_multi_view_output_of_tensor_without_grad(obs, device, fn):
    """Outputs of a multi-view function on a tensor without grad: in place with a plain value is allowed, copying in a tensor that requires grad raises."""
    base = torch.ones(2, 2, device=device)
    pieces = fn(base)
    obs.outcome("plain_inplace", lambda: pieces[0].mul_(2))
    other = torch.ones(pieces[1].shape, device=device, requires_grad=True)
    obs.outcome("copy_requiring_grad", lambda: pieces[1].copy_(other))


@pytest.mark.parametrize("fn", MULTI_VIEW_FNS)
def test_multi_view_output_made_under_no_grad(obs, device, fn):
    """Outputs of a multi-view function taken under no_grad, changed in place with grad on: the no_grad and multi-view texts combined."""
    base = torch.ones(2, 2, device=device, requires_grad=True).clone()
    with torch.no_grad():
        pieces = fn(base)
    obs.outcome("inplace", lambda: pieces[0].mul_(2))


def test_multi_view_output_modified_with_sibling(obs, device):
    """Multiplying one split output in place by another (s1.mul_(s2)) raises the multi-view error."""
    base = torch.ones(3, 3, device=device, requires_grad=True) * 2
    s1, s2, s3 = base.split(1)
    obs.outcome("inplace", lambda: s1.mul_(s2))


@pytest.mark.parametrize("fn", [
    pytest.param(lambda t: t.unsafe_split(1), id="unsafe_split"),
    pytest.param(lambda t: t.unsafe_chunk(2), id="unsafe_chunk"),
])
def test_unsafe_multi_view_output_modified(obs, device, fn):
    """Outputs of unsafe_split / unsafe_chunk may be changed in place; backward then runs through the change."""
    x = torch.ones(2, 2, device=device, requires_grad=True)
    base = x * 2
    pieces = fn(base)
    obs.outcome("inplace", lambda: pieces[0].mul_(3))
    obs.facts_of("piece", pieces[0], "grad_fn")
    obs.outcome("backward", lambda: sum(p.sum() for p in pieces).backward())
    obs.facts_of("x", x, "grad")


# Custom Function outputs that are views.
def _custom_view_function():
    class ViewOf(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a.view_as(a)

        @staticmethod
        def backward(ctx, grad):
            return grad

    return ViewOf


def _custom_select_function():
    class ComplexView(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a, idx):
            res = a.narrow(0, idx, 1)
            res = a.select(0, idx)
            ctx.save_for_backward(a)
            ctx.idx = idx
            return res

        @staticmethod
        def backward(ctx, grad):
            (a,) = ctx.saved_tensors
            res = torch.zeros_like(a)
            res.select(0, ctx.idx).copy_(grad)
            return res, None

    return ComplexView


def test_custom_function_view_output_modified(obs, device):
    """A view returned by a custom Function, modified in place, raises the custom-Function text naming the Function."""
    fn = _custom_select_function()
    out = fn.apply(torch.ones(2, device=device, requires_grad=True).clone(), 1)
    obs.facts_of("out", out, "grad_fn")

    def add():
        nonlocal out
        out += 1

    obs.outcome("inplace", add)


@pytest.mark.parametrize("change", [
    pytest.param("iadd", id="iadd"),
    pytest.param("copy_", id="copy_"),
])
def test_custom_function_view_of_tensor_without_grad(obs, device, change):
    """A custom Function view of a tensor without grad, changed in place with a tensor that requires grad: the no_grad and custom-Function texts."""
    fn = _custom_view_function()
    view = fn.apply(torch.ones(1, 2, device=device))
    other = torch.ones(1, device=device, requires_grad=True)

    def modify():
        nonlocal view
        if change == "iadd":
            view += other
        else:
            view.copy_(other)

    obs.outcome("inplace", modify)


def test_custom_function_view_made_under_no_grad(obs, device):
    """A custom Function returning a view, applied under no_grad, then changed in place with grad on raises."""
    class Alias(torch.autograd.Function):
        @staticmethod
        def forward(ctx, a):
            return a[:]

        @staticmethod
        def backward(ctx, grad):
            return grad

    inp = torch.ones(2, device=device, requires_grad=True)
    with torch.no_grad():
        out = Alias.apply(inp)
    obs.outcome("inplace", out.zero_)


# In-place guards.
APPLY_TARGETS = [
    pytest.param(lambda x: x, id="leaf"),
    pytest.param(lambda x: x * 1, id="non-leaf"),
    pytest.param(lambda x: x.detach(), id="detached"),
]


@pytest.mark.parametrize("under_no_grad", [pytest.param(False, id="grad"), pytest.param(True, id="no_grad")])
@pytest.mark.parametrize("target", APPLY_TARGETS)
def test_apply_on_tensor_requiring_grad(obs, target, under_no_grad):
    """Tensor.apply_ refuses a tensor that requires grad, even under no_grad; on detach() it runs and changes the source."""
    x = torch.ones(2, requires_grad=True)  # apply_ and map_ run Python per element: CPU tensors only
    t = target(x)
    if under_no_grad:
        with torch.no_grad():
            obs.outcome("apply_", lambda: t.apply_(lambda v: v * 3))
    else:
        obs.outcome("apply_", lambda: t.apply_(lambda v: v * 3))
    obs.facts_of("x", x, "values", "version")


def test_map_on_tensor_requiring_grad(obs):
    """Tensor.map_ refuses a tensor that requires grad."""
    x = torch.ones(2, requires_grad=True)
    obs.outcome("map_", lambda: x.map_(torch.ones(2), lambda a, b: a + b))


def test_inplace_on_expanded_tensor(obs, device):
    """In-place on an expanded tensor (several elements share memory) raises; on its clone it works."""
    t = torch.ones(1, device=device).expand(3)
    obs.outcome("inplace", lambda: t.add_(1))
    obs.outcome("clone_inplace", lambda: t.clone().add_(1))


SAVED_DETACHED = [
    pytest.param(lambda a: a.sin(), id="sin-saves-input"),
    pytest.param(lambda a: a * a, id="mul-saves-input"),
    pytest.param(lambda a: a.pow(2), id="pow-saves-input"),
]


@pytest.mark.parametrize("op", SAVED_DETACHED)
def test_detach_in_place_of_saved_input(obs, device, op):
    """detach_() on a non-leaf saved for backward is allowed; backward then raises that the saved tensor was detached."""
    a = torch.tensor(1.0, device=device, requires_grad=True).clone()
    b = op(a)
    obs.outcome("detach_", a.detach_)
    obs.facts_of("a", a, "requires_grad", "is_leaf", "grad_fn")
    obs.outcome("backward", b.backward)


def test_detach_in_place_of_saved_output(obs, device):
    """detach_() on an output that its own op saved (exp) is allowed; backward of a later use still works."""
    x = torch.tensor(1.0, device=device, requires_grad=True)
    c = x.exp()
    d = c * 2
    obs.outcome("detach_", c.detach_)
    obs.outcome("backward", d.backward)
    obs.facts_of("x", x, "grad")


def test_detach_in_place_of_saved_leaf(obs, device):
    """detach_() on a leaf that requires grad and was saved: allowed, and backward no longer reaches it."""
    x = torch.tensor(1.0, device=device, requires_grad=True)
    b = x.sin()
    obs.outcome("detach_", x.detach_)
    obs.facts_of("x", x, "requires_grad", "is_leaf")
    obs.outcome("backward", b.backward)
    obs.facts_of("x", x, "grad")


DETACH_VIEWS = [
    pytest.param(lambda x: x.narrow(0, 1, 2), id="narrow-of-leaf"),
    pytest.param(lambda x: x.view(2, 2), id="view-of-leaf"),
    pytest.param(lambda x: (x * 2).unbind(0)[0], id="unbind-output"),
    pytest.param(lambda x: (x * 2).split(2)[1], id="split-output"),
    pytest.param(lambda x: torch.ones(4)[1:], id="slice-without-grad"),
]


@pytest.mark.parametrize("make", DETACH_VIEWS)
def test_detach_in_place_of_view(obs, device, make):
    """detach_() on any view raises, whether or not it requires grad."""
    x = torch.ones(4, device=device, requires_grad=True)
    view = make(x)
    obs.outcome("detach_", view.detach_)
    obs.facts_of("view", view, "requires_grad")


def test_detach_in_place_of_base_with_views(obs, device):
    """detach_() on a base that has a view is allowed; the view keeps requiring grad."""
    x = torch.ones(4, device=device, requires_grad=True)
    base = x * 2
    view = base[1:3]
    obs.outcome("detach_", base.detach_)
    obs.facts_of("base", base, "requires_grad", "grad_fn")
    obs.facts_of("view", view, "requires_grad", "grad_fn")


# Hooks on tensors changed in place.
HOOK_TIMES = [pytest.param("before", id="hook-before-inplace"), pytest.param("after", id="hook-after-inplace")]


VIEW_HOOK_CASES = [
    pytest.param("before", "view", id="hook-before-inplace-view-changed"),
    pytest.param("after", "view", id="hook-after-inplace-view-changed"),
    pytest.param("before", "base", id="hook-before-inplace-base-changed"),
    pytest.param("after-reading-grad_fn", "base", id="hook-after-inplace-base-changed"),
]


@pytest.mark.parametrize("when,changed", VIEW_HOOK_CASES)
def test_hook_on_view_modified_in_place(obs, device, when, changed):
    """A hook registered on a view before its base or itself is changed in place never fires; one registered after fires."""
    x = torch.ones(4, device=device, requires_grad=True)
    base = x * 1
    view = base[1:3]
    calls = []

    def register():
        view.register_hook(lambda g: calls.append(g.tolist()))

    if when == "before":
        register()
    (view if changed == "view" else base).mul_(5)
    if when == "after-reading-grad_fn":
        # register_hook on a view whose base was changed in place, before anything has read the view's
        # grad_fn, crashes the process (segfault on 2.13 and 2.14); reading grad_fn first regenerates it.
        view.grad_fn
    if when != "before":
        register()
    obs.outcome("backward", lambda: (view * torch.tensor([1.0, 2.0], device=device)).sum().backward())
    obs.fact("hook.calls", calls)
    obs.facts_of("x", x, "grad")


@pytest.mark.parametrize("when", HOOK_TIMES)
def test_retain_grad_on_view_modified_in_place(obs, device, when):
    """retain_grad on a view, before or after changing it in place, gives the gradient with respect to the changed view."""
    x = torch.ones(4, device=device, requires_grad=True)
    base = x * 1
    view = base[1:3]
    if when == "before":
        view.retain_grad()
    view.mul_(5)
    if when == "after":
        view.retain_grad()
    obs.outcome("backward", lambda: (view * torch.tensor([1.0, 2.0], device=device)).sum().backward())
    obs.facts_of("view", view, "grad", "retains_grad")
    obs.facts_of("x", x, "grad")


@pytest.mark.parametrize("when", HOOK_TIMES)
def test_hook_on_base_when_view_modified(obs, device, when):
    """A hook on a base whose view is changed in place: registered before, it sees the gradient of the old base; after, of the new."""
    x = torch.ones(4, device=device, requires_grad=True)
    base = x * 1
    calls = []

    def register():
        base.register_hook(lambda g: calls.append(g.tolist()))

    if when == "before":
        register()
    base[1:3].mul_(5)
    if when == "after":
        register()
    obs.outcome("backward", lambda: (base * torch.arange(4.0, device=device)).sum().backward())
    obs.fact("hook.calls", calls)
    obs.facts_of("x", x, "grad")


@pytest.mark.parametrize("when", HOOK_TIMES)
def test_hook_on_non_view_modified_in_place(obs, device, when):
    """A hook on a non-view tensor changed in place: registered before, it sees the gradient of the old value; after, of the new."""
    x = torch.ones(2, device=device, requires_grad=True)
    y = x * 1
    calls = []

    def register():
        y.register_hook(lambda g: calls.append(g.tolist()))

    if when == "before":
        register()
    y.mul_(3)
    if when == "after":
        register()
    obs.outcome("backward", lambda: (y * torch.tensor([1.0, 2.0], device=device)).sum().backward())
    obs.fact("hook.calls", calls)
    obs.facts_of("x", x, "grad")


# Every variant of the version-counter message.
def _leaf_changed_under_no_grad(x):
    z = (x * x).sum()
    with torch.no_grad():
        x.mul_(2)
    return z


def _leaf_changed_through_detach(x):
    z = (x ** 2).sum()
    x.detach().zero_()
    return z


def _saved_nonleaf(x):
    y = x * 1
    z = (y * y).sum()
    y.add_(1)
    return z


def _saved_nonleaf_twice(x):
    y = x * 1
    z = (y * y).sum()
    y.add_(1).add_(1)
    return z


def _saved_view_base_changed(x):
    base = x * 1
    view = base[0:1]
    z = (view * view).sum()
    base.mul_(3)
    return z


def _saved_view_changed(x):
    base = x * 1
    view = base[0:1]
    z = (view * view).sum()
    view.mul_(3)
    return z


def _saved_base_changed_through_view(x):
    base = x * 1
    z = (base * base).sum()
    base[0:1].mul_(3)
    return z


def _saved_output_changed(x):
    y = (x * 1).exp()
    z = y.sum()
    y.add_(1)
    return z


def _saved_output_changed_through_detach(x):
    y = (x * 1).sigmoid()
    z = y.sum()
    y.detach().mul_(2)
    return z


def _saved_changed_under_no_grad(x):
    y = x * 1
    z = (y * y).sum()
    with torch.no_grad():
        y.mul_(2)
    return z


def _saved_changed_by_out(x):
    y = x * 1
    z = (y * y).sum()
    torch.add(torch.ones(2, device=x.device), 1, out=y.detach())
    return z


def _increment_version(x):
    increment_version = require("torch.autograd.graph.increment_version")
    y = x * 1
    z = (y * y).sum()
    increment_version(y)
    return z


VERSION_ERRORS = [
    pytest.param(_leaf_changed_under_no_grad, id="saved-leaf-changed-under-no_grad"),
    pytest.param(_leaf_changed_through_detach, id="saved-leaf-changed-through-detach"),
    pytest.param(_saved_nonleaf, id="saved-non-leaf"),
    pytest.param(_saved_nonleaf_twice, id="saved-non-leaf-changed-twice"),
    pytest.param(_saved_view_base_changed, id="saved-view-base-changed"),
    pytest.param(_saved_view_changed, id="saved-view-changed"),
    pytest.param(_saved_base_changed_through_view, id="saved-base-changed-through-view"),
    pytest.param(_saved_output_changed, id="saved-output-changed"),
    pytest.param(_saved_output_changed_through_detach, id="saved-output-changed-through-detach"),
    pytest.param(_saved_changed_under_no_grad, id="saved-changed-under-no_grad"),
    pytest.param(_saved_changed_by_out, id="saved-changed-by-out="),
    pytest.param(_increment_version, id="increment_version"),
]


@pytest.mark.parametrize("scenario", VERSION_ERRORS)
def test_version_error_message(obs, device, scenario):
    """Each way of changing a saved tensor gives its own variant of the version-counter message."""
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    z = scenario(x)
    obs.outcome("backward", z.backward)


@pytest.mark.parametrize("scenario", [
    pytest.param(_saved_nonleaf, id="saved-non-leaf"),
    pytest.param(_saved_view_base_changed, id="saved-view-base-changed"),
    pytest.param(_leaf_changed_under_no_grad, id="saved-leaf-changed-under-no_grad"),
])
def test_version_error_hint_with_anomaly_mode(obs, device, scenario):
    """With anomaly mode on during backward only, the version error ends in the 'Good luck!' hint and warns without a forward trace."""
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=True)
    z = scenario(x)

    def backward():
        with torch.autograd.set_detect_anomaly(True):
            z.backward()

    obs.outcome("backward", backward)


def test_increment_version_bumps_version(obs, device):
    """torch.autograd.graph.increment_version bumps _version by one without changing values."""
    increment_version = require("torch.autograd.graph.increment_version")
    t = torch.ones(2, device=device)
    increment_version(t)
    obs.facts_of("t", t, "version", "values")


# In-place on leaves that require grad, under every grad mode.

@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("mode", GRAD_MODES)
def test_inplace_on_leaf_under_grad_mode(obs, device, mode, target):
    """In-place on a leaf that requires grad (or a view of it) is refused exactly where grad mode is on and inference mode off."""
    x = torch.ones(3, device=device, requires_grad=True)

    def body():
        obs.fact("mode.grad_enabled", torch.is_grad_enabled())
        obs.fact("mode.inference_mode", torch.is_inference_mode_enabled())
        obs.outcome("inplace", lambda: target(x).mul_(2))

    mode(body)
    obs.facts_of("x", x, "version", "is_leaf", "requires_grad", "grad_fn", "is_inference")


# Corners of views of plain tensors and in-place ops on views (eager).
@pytest.mark.modes("eager")
def test_requires_grad_on_a_view_of_a_plain_tensor(obs, device):
    """requires_grad_() on a view of a tensor that does not require grad: allowed or refused, and what backward reaches."""
    base = torch.ones(4, device=device)
    view = base[1:3]
    obs.outcome("requires_grad_", lambda: view.requires_grad_())
    obs.facts_of("view", view, "is_leaf", "requires_grad", "grad_fn")
    obs.facts_of("base", base, "requires_grad")
    obs.outcome("backward", lambda: (view * 2).sum().backward())
    obs.facts_of("view", view, "grad")


@pytest.mark.modes("eager")
def test_squeeze_in_place_on_a_view(obs, device):
    """squeeze_() on a view of a non-leaf changes the view's shape and records a view grad_fn."""
    x = torch.ones(1, 3, device=device, requires_grad=True)
    base = x * 2
    view = base[:, :]
    obs.outcome("squeeze_", lambda: view.squeeze_(0))
    obs.facts_of("view", view, "shape", "grad_fn", "version")
    obs.outcome("backward", lambda: (view * torch.tensor([1.0, 2.0, 3.0], device=device)).sum().backward())
    obs.facts_of("x", x, "grad")


@pytest.mark.modes("eager")
def test_index_put_accumulate_on_a_non_leaf(obs, device):
    """index_put_(accumulate=True) on a non-leaf with repeated indices: the values and the gradients of both inputs."""
    x = torch.ones(4, device=device, requires_grad=True)
    v = torch.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    y = x * 1
    idx = torch.tensor([0, 0, 2], device=device)
    obs.outcome("index_put_", lambda: y.index_put_((idx,), v * 1, accumulate=True))
    obs.tensor("y", y)
    obs.facts_of("y", y, "grad_fn", "version")
    obs.outcome("backward", lambda: (y * torch.arange(1.0, 5.0, device=device)).sum().backward())
    obs.facts_of("x", x, "grad")
    obs.facts_of("v", v, "grad")
