"""In-place operations and the version counter: what is allowed, what bumps _version, what backward then detects."""

import pytest
import torch


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
