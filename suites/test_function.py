"""Custom torch.autograd.Function: both definition styles, ctx methods (save_for_backward, mark_dirty,
mark_non_differentiable, set_materialize_grads) and their misuse, definition errors, the checks on what backward
returns, the custom node, and how apply treats arguments and outputs."""

import warnings

import pytest
import torch
from torch.autograd import Function
from torch.autograd.function import once_differentiable

from autograd_conformance.observe import grad_fn_name, require, tensor_fact

pytestmark = pytest.mark.modes("eager", "compile")


class Square(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


class SquareSetupContext(Function):
    @staticmethod
    def forward(x):
        return x * x

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


class AddInPlace(Function):
    @staticmethod
    def forward(ctx, x):
        x.add_(1)
        ctx.mark_dirty(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        return grad


class AddInPlaceNotMarked(Function):
    @staticmethod
    def forward(ctx, x):
        x.add_(1)
        return x

    @staticmethod
    def backward(ctx, grad):
        return grad


class SortWithIndices(Function):
    @staticmethod
    def forward(ctx, x):
        values, indices = x.sort()
        ctx.mark_non_differentiable(indices)
        ctx.save_for_backward(indices)
        return values, indices

    @staticmethod
    def backward(ctx, grad_values, grad_indices):
        (indices,) = ctx.saved_tensors
        grad = torch.zeros_like(grad_values)
        grad.scatter_(0, indices, grad_values)
        return grad


class TwoOutputs(Function):
    materialize = True

    @staticmethod
    def forward(ctx, x):
        ctx.set_materialize_grads(TwoOutputs.materialize)
        return x.clone(), x.clone()

    @staticmethod
    def backward(ctx, g1, g2):
        ctx.seen = [g1 is None, g2 is None]
        TwoOutputs.seen = ctx.seen
        return (g1 if g1 is not None else 0) + (g2 if g2 is not None else 0)


class OnceDifferentiable(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


class ReturnView(Function):
    @staticmethod
    def forward(ctx, x):
        return x[:1]

    @staticmethod
    def backward(ctx, grad):
        out = torch.zeros(2, device=grad.device)
        out[:1] = grad
        return out


class ReturnInput(Function):
    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, grad):
        return grad * 5


def _grad_fn_returning(value):
    class Fixed(Function):
        @staticmethod
        def forward(ctx, x, y):
            return x * y

        @staticmethod
        def backward(ctx, grad):
            return value(grad)

    return Fixed


class NeedsInputGrad(Function):
    seen = None

    @staticmethod
    def forward(ctx, x, y, scale):
        return x * y * scale

    @staticmethod
    def backward(ctx, grad):
        NeedsInputGrad.seen = list(ctx.needs_input_grad)
        return grad, None, None


class Legacy(Function):
    def forward(self, x):
        return x * 2

    def backward(self, grad):
        return grad * 2


# torch's instantiation warning names the class with its module: keep that name the same however this module
# is imported (from a checkout as suites.test_function, installed, or run as a repro script).
Square.__module__ = Legacy.__module__ = "test_function"


def _leaf(device):
    return torch.tensor([1.0, 2.0], device=device, requires_grad=True)


@pytest.mark.parametrize("fn", [pytest.param(Square, id="forward-ctx"),
                                pytest.param(SquareSetupContext, id="setup_context")])
def test_custom_function_styles(obs, device, fn):
    """Both definition styles give a node named <Class>Backward and the gradient the backward computes."""
    x = _leaf(device)
    y = fn.apply(x)
    obs.facts_of("y", y)
    obs.fact("y.grad_fn.name", y.grad_fn.name())
    y.sum().backward()
    obs.facts_of("x", x, "grad")


def test_saved_tensors_after_graph_freed(obs, device):
    """Backward through a custom Function twice raises: its saved_tensors were freed."""
    x = _leaf(device)
    y = Square.apply(x).sum()
    y.backward()
    obs.outcome("second_backward", y.backward)


def test_saved_tensors_with_retain_graph(obs, device):
    """With retain_graph the custom Function's saved tensors survive and gradients accumulate."""
    x = _leaf(device)
    y = Square.apply(x).sum()
    y.backward(retain_graph=True)
    obs.outcome("second_backward", y.backward)
    obs.facts_of("x", x, "grad")


def test_mark_dirty(obs, device):
    """mark_dirty on an input modified in place: output is the input object, version bumped, grad flows."""
    x = _leaf(device)
    y = x * 1
    out = AddInPlace.apply(y)
    obs.fact("out_is_input.same", out is y)
    obs.facts_of("y", y, "grad_fn", "version")
    out.sum().backward()
    obs.facts_of("x", x, "grad")


def test_mark_dirty_on_leaf(obs, device):
    """A custom Function that marks a leaf requiring grad dirty raises."""
    obs.outcome("apply", lambda: AddInPlace.apply(_leaf(device)))


def test_inplace_without_mark_dirty(obs, device):
    """Modifying an input in place without mark_dirty and returning it: what torch does (no check)."""
    x = _leaf(device)
    y = x * 1
    out = obs.outcome("apply", lambda: AddInPlaceNotMarked.apply(y))
    if out is not None:
        obs.facts_of("out", out)
        obs.fact("out_is_input.same", out is y)


def test_mark_non_differentiable(obs, device):
    """Outputs marked non-differentiable do not require grad; the others do."""
    x = torch.tensor([3.0, 1.0, 2.0], device=device, requires_grad=True)
    values, indices = SortWithIndices.apply(x)
    obs.facts_of("values", values)
    obs.facts_of("indices", indices, "requires_grad", "dtype")
    values.sum().backward()
    obs.facts_of("x", x, "grad")


@pytest.mark.parametrize("materialize", [pytest.param(True, id="materialize"),
                                         pytest.param(False, id="no-materialize")])
def test_set_materialize_grads(obs, device, materialize):
    """With set_materialize_grads(False) an unused output's gradient arrives as None instead of zeros."""
    TwoOutputs.materialize = materialize
    x = _leaf(device)
    a, _ = TwoOutputs.apply(x)
    a.sum().backward()
    obs.fact("grad_is_none.calls", TwoOutputs.seen)
    obs.facts_of("x", x, "grad")


def test_once_differentiable_double_backward(obs, device):
    """A once_differentiable backward raises when differentiated again."""
    x = _leaf(device)
    (g,) = torch.autograd.grad(OnceDifferentiable.apply(x).sum(), x, create_graph=True)
    obs.facts_of("g", g)
    obs.outcome("double_backward", lambda: g.sum().backward())


def test_returning_a_view(obs, device):
    """A Function returning a view of its input: the output's grad_fn and the gradient."""
    x = _leaf(device)
    y = x * 1
    out = ReturnView.apply(y)
    obs.facts_of("out", out)
    obs.fact("out._is_view.same", out._is_view())
    out.sum().backward()
    obs.facts_of("x", x, "grad")


def test_returning_a_view_modified_in_place(obs, device):
    """Modifying in place the view a custom Function returned raises."""
    y = _leaf(device) * 1
    out = ReturnView.apply(y)
    obs.outcome("inplace", lambda: out.mul_(2))


def test_returning_an_input(obs, device):
    """A Function that returns its input unchanged: output is a new tensor object with the Function's node."""
    x = _leaf(device)
    out = ReturnInput.apply(x)
    obs.facts_of("out", out)
    obs.fact("out_is_input.same", out is x)
    out.sum().backward()
    obs.facts_of("x", x, "grad")


BAD_GRADIENTS = [
    pytest.param(lambda g: (g,), id="too-few"),
    pytest.param(lambda g: (g, g, g), id="too-many"),
    pytest.param(lambda g: (g, g[:1]), id="wrong-shape"),
    pytest.param(lambda g: (g, g.double()), id="wrong-dtype"),
    pytest.param(lambda g: (g, None), id="None-for-input-requiring-grad"),
    pytest.param(lambda g: (g, 3), id="not-a-tensor"),
    pytest.param(lambda g: (g, g.sum()), id="scalar-for-vector"),
]


@pytest.mark.parametrize("returned", BAD_GRADIENTS)
def test_backward_returns(obs, device, returned):
    """What torch does when backward returns too few/many gradients, a wrong shape, dtype, None or a non-tensor."""
    x, y = _leaf(device), _leaf(device)
    out = _grad_fn_returning(returned).apply(x, y)
    obs.outcome("backward", lambda: out.sum().backward())
    obs.facts_of("x", x, "grad")
    obs.facts_of("y", y, "grad")


def test_needs_input_grad(obs, device):
    """ctx.needs_input_grad says which inputs require grad (non-tensor inputs are False)."""
    x = _leaf(device)
    y = torch.ones(2, device=device)
    NeedsInputGrad.apply(x, y, 3.0).sum().backward()
    obs.fact("needs_input_grad.calls", NeedsInputGrad.seen)


def test_apply_under_no_grad(obs, device):
    """A custom Function applied under no_grad returns a tensor that does not require grad."""
    x = _leaf(device)
    with torch.no_grad():
        out = Square.apply(x)
    obs.facts_of("out", out)


def test_apply_to_inputs_without_grad(obs, device):
    """A custom Function applied to inputs that do not require grad returns a plain leaf."""
    out = Square.apply(torch.ones(2, device=device))
    obs.facts_of("out", out)


def test_legacy_non_static_function(obs, device):
    """Calling a legacy Function instance (non-static forward) raises."""
    obs.outcome("call", lambda: Legacy()(_leaf(device)))


def test_instantiating_a_function(obs):
    """Instantiating a new-style Function (which nobody needs to do) warns or not."""
    obs.outcome("instantiate", Square)


def test_apply_with_keyword_argument(obs, device):
    """Function.apply does not take keyword arguments."""
    obs.outcome("apply", lambda: Square.apply(x=_leaf(device)))


# ctx.save_for_backward and ctx.saved_tensors


class SaveExtra(Function):
    extra = None

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x, SaveExtra.extra(x))
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        SaveExtra.seen = ["None" if t is None else type(t).__name__ for t in ctx.saved_tensors]
        return grad * 2


@pytest.mark.parametrize("extra", [pytest.param(lambda x: 3, id="int"),
                                   pytest.param(lambda x: None, id="None"),
                                   pytest.param(lambda x: [x], id="list-of-tensors"),
                                   pytest.param(lambda x: x.detach(), id="detached-tensor")])
def test_save_for_backward_argument_kinds(obs, device, extra):
    """save_for_backward takes tensors and None; anything else raises at save time."""
    SaveExtra.extra, SaveExtra.seen = extra, None
    x = _leaf(device)
    out = obs.outcome("apply", lambda: SaveExtra.apply(x))
    if out is not None:
        out.sum().backward()
        obs.fact("saved.calls", SaveExtra.seen)
        obs.facts_of("x", x, "grad")


class SaveSameTwice(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x, x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        a, b = ctx.saved_tensors
        SaveSameTwice.same = a is b
        return a * grad + b * grad


def test_save_same_tensor_twice(obs, device):
    """Saving one tensor twice is allowed; both saved entries unpack to the same object."""
    x = _leaf(device)
    obs.outcome("backward", lambda: SaveSameTwice.apply(x).sum().backward())
    obs.fact("unpacked.same", SaveSameTwice.same)
    obs.facts_of("x", x, "grad")


class SaveCalledTwice(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        ctx.save_for_backward(x * 3)
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        SaveCalledTwice.count = len(ctx.saved_tensors)
        (s,) = ctx.saved_tensors
        return grad * s


def test_save_for_backward_called_twice(obs, device):
    """A second save_for_backward call replaces what the first one saved."""
    x = _leaf(device)
    obs.outcome("backward", lambda: SaveCalledTwice.apply(x).sum().backward())
    obs.fact("saved.count", SaveCalledTwice.count)
    obs.facts_of("x", x, "grad")


class AccessTwice(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        (b,) = ctx.saved_tensors
        AccessTwice.same = a is b
        return 2 * a * grad


def test_saved_tensors_accessed_twice(obs, device):
    """Reading ctx.saved_tensors twice in backward is allowed and gives the same objects."""
    x = _leaf(device)
    obs.outcome("backward", lambda: AccessTwice.apply(x).sum().backward())
    obs.fact("unpacked.same", AccessTwice.same)
    obs.facts_of("x", x, "grad")


class ClearOnAccess(Function):
    clear_saved_tensors_on_access = True
    reads = 1

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        for _ in range(ClearOnAccess.reads):
            (x,) = ctx.saved_tensors
        return 2 * x * grad


@pytest.mark.parametrize("reads", [pytest.param(1, id="read-once"), pytest.param(2, id="read-twice")])
def test_clear_saved_tensors_on_access(obs, device, reads):
    """With clear_saved_tensors_on_access=True saved_tensors can be read once; a second read raises."""
    require("torch.autograd.Function.clear_saved_tensors_on_access")
    ClearOnAccess.reads = reads
    x = _leaf(device)
    obs.outcome("backward", lambda: ClearOnAccess.apply(x).sum().backward())
    obs.facts_of("x", x, "grad")


def test_saved_tensors_read_through_grad_fn(obs, device):
    """grad_fn.saved_tensors of a custom Function: readable before backward, the freed-graph error after."""
    x = _leaf(device)
    y = Square.apply(x)
    before = obs.outcome("before", lambda: y.grad_fn.saved_tensors)
    obs.fact("before_is_input.same", before is not None and before[0] is x)
    y.sum().backward()
    obs.outcome("after", lambda: y.grad_fn.saved_tensors)


class StashCtx(Function):
    stashed = []

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        StashCtx.stashed.append(ctx)
        return grad


@pytest.mark.parametrize("retain_graph", [pytest.param(True, id="retain_graph"),
                                          pytest.param(False, id="graph-freed")])
def test_saved_tensors_of_ctx_stashed_in_backward(obs, device, retain_graph):
    """A ctx kept from backward: its saved_tensors after the output is deleted, with and without retain_graph."""
    StashCtx.stashed = []
    x = _leaf(device)
    out = StashCtx.apply(x)
    out.sum().backward(retain_graph=retain_graph)
    del out
    ctx = StashCtx.stashed.pop()
    saved = obs.outcome("saved_tensors", lambda: ctx.saved_tensors)
    if saved is not None:
        obs.fact("saved_is_input.same", saved[0] is x)


class SaveOutput(Function):
    @staticmethod
    def forward(ctx, x):
        out = x.exp()
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


def test_saved_output_modified_in_place(obs, device):
    """Modifying in place an output the Function saved makes backward raise the version error."""
    x = _leaf(device)
    out = SaveOutput.apply(x)
    out.mul_(2)
    obs.facts_of("out", out, "version", "grad_fn")
    obs.outcome("backward", lambda: out.sum().backward())


class SaveIntermediate(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x * 3)
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        (t,) = ctx.saved_tensors
        SaveIntermediate.unpacked = (t.requires_grad, grad_fn_name(t))
        return grad * 2


def test_save_intermediate_tensor(obs, device):
    """A tensor made inside forward (neither input nor output) can be saved; it unpacks without grad history."""
    x = _leaf(device)
    obs.outcome("backward", lambda: SaveIntermediate.apply(x).sum().backward())
    requires_grad, grad_fn = SaveIntermediate.unpacked
    obs.fact("unpacked.requires_grad", requires_grad)
    obs.fact("unpacked.grad_fn", grad_fn)
    obs.facts_of("x", x, "grad")


# mark_dirty, mark_non_differentiable and views


class DirtyUnmodified(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.mark_dirty(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        return grad * 3


def test_mark_dirty_unmodified_input(obs, device):
    """mark_dirty on an input forward did not modify: accepted, the version is bumped and the node rebased."""
    x = _leaf(device)
    y = x * 1
    out = obs.outcome("apply", lambda: DirtyUnmodified.apply(y))
    obs.fact("out_is_input.same", out is y)
    obs.facts_of("y", y, "version", "grad_fn")
    y.sum().backward()
    obs.facts_of("x", x, "grad")


class DirtyNonInput(Function):
    make = None

    @staticmethod
    def forward(ctx, x):
        out = DirtyNonInput.make(x)
        ctx.mark_dirty(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return grad


def _modified_clone(x):
    out = x.clone()
    out.add_(1)
    return out


@pytest.mark.parametrize("make", [pytest.param(_modified_clone, id="modified-clone"),
                                  pytest.param(lambda x: x.clone().view_as(x), id="view-of-clone")])
def test_mark_dirty_on_a_non_input(obs, device, make):
    """mark_dirty on a tensor that is not an input: a warning for a new tensor, an error for a view of one."""
    DirtyNonInput.make = make
    out = obs.outcome("apply", lambda: DirtyNonInput.apply(_leaf(device) * 1))
    if out is not None:
        obs.facts_of("out", out)


class DirtyNotReturned(Function):
    @staticmethod
    def forward(ctx, x):
        x.add_(1)
        ctx.mark_dirty(x)
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad


def test_mark_dirty_input_not_returned(obs, device):
    """An input marked dirty but not returned raises."""
    obs.outcome("apply", lambda: DirtyNotReturned.apply(_leaf(device) * 1))


class AddInPlaceTwoOutputs(Function):
    @staticmethod
    def forward(ctx, a, b):
        a.add_(b)
        ctx.mark_dirty(a)
        return a, a + b

    @staticmethod
    def backward(ctx, grad_a, grad_ab):
        return grad_a + grad_ab, grad_ab


@pytest.mark.parametrize("view", [pytest.param(False, id="input-not-a-view"), pytest.param(True, id="input-is-a-view")])
def test_mark_dirty_with_two_outputs(obs, device, view):
    """A Function that modifies an input in place and returns two tensors: fine, unless that input is a view."""
    a, b = _leaf(device), _leaf(device)
    target = a.clone().view_as(a) if view else a.clone()
    outs = obs.outcome("apply", lambda: AddInPlaceTwoOutputs.apply(target, b))
    if outs is not None:
        (outs[0] + outs[1]).sum().backward()
        obs.facts_of("a", a, "grad")
        obs.facts_of("b", b, "grad")


@pytest.mark.parametrize("target", [
    pytest.param(lambda x: x.view_as(x), id="view-of-leaf"),
    pytest.param(lambda x: x.split_with_sizes([1, 1], dim=0)[0], id="split-output-of-leaf"),
    pytest.param(lambda x: (x * 1).split_with_sizes([1, 1], dim=0)[0], id="split-output-of-non-leaf"),
])
def test_mark_dirty_on_restricted_views(obs, device, target):
    """mark_dirty on a view of a leaf requiring grad, or on an output of a multi-view op, raises (after forward ran)."""
    x = _leaf(device)
    obs.outcome("apply", lambda: AddInPlace.apply(target(x)))
    obs.facts_of("x", x, "version", "values")


def test_mark_dirty_on_view_of_non_leaf(obs, device):
    """mark_dirty on a plain view of a non-leaf rebases the view; the base gets CopySlices; gradients flow."""
    x = _leaf(device)
    base = x * 1
    view = base[:1]
    out = AddInPlace.apply(view)
    obs.fact("out_is_input.same", out is view)
    obs.facts_of("view", view, "grad_fn", "version")
    obs.fact("base.grad_fn.name", base.grad_fn.name())
    base.sum().backward()
    obs.facts_of("x", x, "grad")


class NonDifferentiableInput(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.mark_non_differentiable(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        return grad


def test_mark_non_differentiable_returned_input(obs, device):
    """An input returned as-is and marked non-differentiable: the output is a new tensor without grad."""
    x = _leaf(device)
    y = x * 1
    out = obs.outcome("apply", lambda: NonDifferentiableInput.apply(y))
    obs.facts_of("out", out)
    obs.fact("out_is_input.same", out is y)
    obs.facts_of("y", y, "requires_grad", "grad_fn")


class NonDifferentiableNotOutput(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.mark_non_differentiable(x * 1)
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return grad * 2


def test_mark_non_differentiable_on_a_non_output(obs, device):
    """mark_non_differentiable on a tensor that is not returned has no effect and no error."""
    x = _leaf(device)
    out = obs.outcome("apply", lambda: NonDifferentiableNotOutput.apply(x))
    obs.facts_of("out", out)


class SortGradSeen(Function):
    materialize = True

    @staticmethod
    def forward(ctx, x):
        ctx.set_materialize_grads(SortGradSeen.materialize)
        values, indices = x.sort()
        ctx.mark_non_differentiable(indices)
        return values, indices

    @staticmethod
    def backward(ctx, grad_values, grad_indices):
        SortGradSeen.seen = "None" if grad_indices is None else tensor_fact(grad_indices)
        return grad_values


@pytest.mark.parametrize("materialize", [pytest.param(True, id="materialize-True"),
                                         pytest.param(False, id="materialize-False")])
def test_gradient_of_non_differentiable_output(obs, device, materialize):
    """backward receives zeros of the output's (integer) dtype for a non-differentiable output, or None."""
    SortGradSeen.materialize = materialize
    x = torch.tensor([2.0, 1.0], device=device, requires_grad=True)
    values, _ = SortGradSeen.apply(x)
    values.sum().backward()
    obs.fact("grad_indices.value", SortGradSeen.seen)


class IdOneOutput(Function):
    @staticmethod
    def forward(ctx, a):
        return a.narrow(0, 0, 1)

    @staticmethod
    def backward(ctx, grad):
        res = torch.zeros(2, device=grad.device)
        res[:1] = grad
        return res


class IdTwoOutput(Function):
    @staticmethod
    def forward(ctx, a, b):
        a = a.narrow(0, 0, 1)
        return a, a + b[:1]

    @staticmethod
    def backward(ctx, grad_a, grad_ab):
        res = torch.zeros(2, device=grad_a.device)
        res[:1] = grad_a + grad_ab
        grad_b = torch.zeros(2, device=grad_a.device)
        grad_b[:1] = grad_ab
        return res, grad_b


class ViewOfTemp(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return a.clone().select(0, 0)

    @staticmethod
    def backward(ctx, grad):
        (a,) = ctx.saved_tensors
        res = torch.zeros_like(a)
        res.select(0, 0).copy_(grad)
        return res


@pytest.mark.parametrize("make", [
    pytest.param(lambda a, b: IdOneOutput.apply(a), id="view-of-input"),
    pytest.param(lambda a, b: IdTwoOutput.apply(a, b)[0], id="view-of-input-two-outputs"),
    pytest.param(lambda a, b: ViewOfTemp.apply(a), id="view-of-intermediate"),
])
def test_view_outputs_modified_in_place(obs, device, make):
    """In-place on a view a custom Function returned raises; the text depends on how the view was made."""
    a, b = _leaf(device) * 1, _leaf(device) * 1
    out = make(a, b)
    obs.fact("out._is_view.same", out._is_view())
    obs.outcome("inplace", lambda: out.add_(3))


# definition errors


class NoForward(Function):
    @staticmethod
    def backward(ctx, grad):
        return grad


class NoBackward(Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()


class BackwardAndVjp(Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad

    @staticmethod
    def vjp(ctx, grad):
        return grad


class VjpOnly(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def vjp(ctx, grad):
        return grad * 2


class NotStatic(Function):
    def forward(ctx, x):
        return x * 2

    def backward(ctx, grad):
        return grad * 2


class SetupContextWithCtxForward(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad):
        return grad * 2


@pytest.mark.parametrize("fn", [
    pytest.param(NoForward, id="no-forward"),
    pytest.param(NoBackward, id="no-backward"),
    pytest.param(BackwardAndVjp, id="backward-and-vjp"),
    pytest.param(VjpOnly, id="vjp-instead-of-backward"),
    pytest.param(NotStatic, id="methods-not-staticmethod"),
    pytest.param(SetupContextWithCtxForward, id="setup_context-with-ctx-in-forward"),
])
def test_definition_errors(obs, device, fn):
    """What apply and backward do for a Function missing forward/backward, defining both backward and vjp, ..."""
    x = _leaf(device)
    out = obs.outcome("apply", lambda: fn.apply(x))
    if out is not None:
        obs.outcome("backward", lambda: out.sum().backward())
        obs.facts_of("x", x, "grad")


class RaisesInBackward(Function):
    error = Exception

    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        raise RaisesInBackward.error("Simulate error on backward pass")


@pytest.mark.parametrize("error", [pytest.param(Exception, id="Exception"), pytest.param(ValueError, id="ValueError"),
                                   pytest.param(KeyError, id="KeyError")])
def test_exception_in_backward_propagates(obs, device, error):
    """An exception raised in a custom backward reaches the caller of backward() with its class and text."""
    RaisesInBackward.error = error
    x = _leaf(device)
    out = RaisesInBackward.apply((x + 1) * (x + 1))
    obs.outcome("backward", lambda: out.sum().backward())
    obs.facts_of("x", x, "grad")


# backward validation


class GradForNonTensor(Function):
    @staticmethod
    def forward(ctx, x, factor):
        return x * factor

    @staticmethod
    def backward(ctx, grad):
        return grad * 3, torch.ones((), device=grad.device)


def test_gradient_for_non_tensor_input(obs, device):
    """backward returning a tensor for a non-tensor input raises."""
    x = _leaf(device)
    out = GradForNonTensor.apply(x, 3.0)
    obs.outcome("backward", lambda: out.sum().backward())
    obs.facts_of("x", x, "grad")


GRADS_FOR_CONSTANT = [
    pytest.param(lambda g: g, id="right-shape"),
    pytest.param(lambda g: g[:1], id="wrong-shape"),
    pytest.param(lambda g: g.double(), id="wrong-dtype"),
]


@pytest.mark.parametrize("returned", GRADS_FOR_CONSTANT)
def test_gradient_for_input_not_requiring_grad(obs, device, returned):
    """A gradient returned for a tensor input that does not require grad is dropped without validation."""
    x, y = _leaf(device), torch.ones(2, device=device)
    out = _grad_fn_returning(lambda g: (g, returned(g))).apply(x, y)
    obs.outcome("backward", lambda: out.sum().backward())
    obs.facts_of("x", x, "grad")
    obs.facts_of("y", y, "grad")


# the custom node


class Tagged(Function):
    ctx = None

    @staticmethod
    def forward(ctx, x, factor):
        ctx.save_for_backward(x)
        ctx.factor = factor
        Tagged.ctx = ctx
        return x * factor

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.factor, None


def test_custom_node_introspection(obs, device):
    """The node of a custom Function: its class, name(), _forward_cls, next_functions, ctx attributes, metadata."""
    x = _leaf(device)
    out = Tagged.apply(x * 1, 3.0)
    node = out.grad_fn
    obs.fact("node.name", node.name())
    obs.fact("node_class.name", type(node).__name__)
    obs.fact("backward_cls.same", type(node) is Tagged._backward_cls)
    obs.fact("forward_cls.same", node._forward_cls is Tagged)
    obs.fact("ctx_is_node.same", Tagged.ctx is node)
    obs.fact("is_node.same", isinstance(node, torch.autograd.graph.Node))
    obs.fact("next.calls", [["None" if f is None else type(f).__name__, i] for f, i in node.next_functions])
    obs.fact("factor.value", node.factor)
    obs.fact("needs_input_grad.value", list(node.needs_input_grad))
    obs.fact("metadata.value", dict(node.metadata))
    Tagged.ctx = None


def test_custom_node_hooks(obs, device):
    """Hooks registered on a custom Function's node run: the pre-hook, then the hook with grad_inputs/outputs."""
    x = _leaf(device)
    out = Square.apply(x * 1)
    calls = []
    out.grad_fn.register_prehook(lambda grad_outputs: calls.append(["pre", len(grad_outputs)]))
    out.grad_fn.register_hook(lambda grad_inputs, grad_outputs: calls.append(
        ["post", tensor_fact(grad_inputs[0]), tensor_fact(grad_outputs[0])]))
    out.sum().backward()
    obs.fact("hooks.calls", calls)
    obs.facts_of("x", x, "grad")


class IdForInstance(Function):
    @staticmethod
    def forward(ctx, x):
        return x

    @staticmethod
    def backward(ctx, grad):
        return grad


class KeepCtx(Function):
    ctx = None

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        KeepCtx.ctx = ctx
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return grad * 2


@pytest.mark.parametrize("access", [
    pytest.param(lambda ctx: ctx.name(), id="name"),
    pytest.param(lambda ctx: [type(f).__name__ for f, _ in ctx.next_functions], id="next_functions"),
    pytest.param(lambda ctx: dict(ctx.metadata), id="metadata"),
    pytest.param(lambda ctx: len(ctx.saved_tensors), id="saved_tensors"),
    pytest.param(lambda ctx: ctx.register_hook(lambda grad_inputs, grad_outputs: None) and None, id="register_hook"),
])
def test_ctx_kept_after_output_deleted(obs, device, access):
    """A ctx kept from forward after its output (and so its graph) is deleted: whether node attributes still work."""
    x = _leaf(device)
    out = KeepCtx.apply(x)
    del out
    ctx, KeepCtx.ctx = KeepCtx.ctx, None
    result = obs.outcome("access", lambda: access(ctx), warns=False)
    if result is not None:
        obs.fact("access.value", result)


INSTANCE_ACCESS = [
    pytest.param(lambda f, x: f(x), id="call"),
    pytest.param(lambda f, x: f.name(), id="name"),
    pytest.param(lambda f, x: list(f.next_functions), id="next_functions"),
    pytest.param(lambda f, x: dict(f.metadata), id="metadata"),
    pytest.param(lambda f, x: f.register_hook(lambda grad_inputs, grad_outputs: None) and None, id="register_hook"),
]


@pytest.mark.parametrize("access", INSTANCE_ACCESS)
def test_instance_attribute_access(obs, device, access):
    """Node attributes of an instantiated Function (not a graph node): whether they raise, and what they return."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = IdForInstance()
    result = obs.outcome("access", lambda: access(f, _leaf(device)), warns=False)
    if result is not None:
        obs.fact("access.value", result)


# Function.apply arguments and outputs


class MixedOutputs(Function):
    @staticmethod
    def forward(ctx, x, factor, label):
        ctx.factor = factor
        return x * factor, factor, label

    @staticmethod
    def backward(ctx, grad, grad_factor, grad_label):
        MixedOutputs.seen = ["None" if g is None else type(g).__name__ for g in (grad, grad_factor, grad_label)]
        return grad * ctx.factor, None, None


def test_apply_with_non_tensor_arguments_and_outputs(obs, device):
    """Non-tensor arguments pass through to forward; non-tensor outputs come back as they are."""
    x = _leaf(device)
    out, factor, label = MixedOutputs.apply(x, 3.0, "s")
    obs.facts_of("out", out)
    obs.fact("non_tensor_outputs.value", [factor, label])
    out.sum().backward()
    obs.fact("grads.calls", MixedOutputs.seen)
    obs.facts_of("x", x, "grad")


class KeywordPositional(Function):
    @staticmethod
    def forward(ctx, x, scale=2.0):
        return x * scale

    @staticmethod
    def backward(ctx, grad):
        return grad * 2, None


class KeywordOnly(Function):
    @staticmethod
    def forward(ctx, x, *, scale=2.0):
        return x * scale

    @staticmethod
    def backward(ctx, grad):
        return grad * 2


class KeywordSetupContext(Function):
    @staticmethod
    def forward(x, scale=2.0):
        return x * scale

    @staticmethod
    def setup_context(ctx, inputs, output):
        KeywordSetupContext.inputs = [type(i).__name__ for i in inputs]
        ctx.scale = inputs[1]

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.scale, None


@pytest.mark.parametrize("call", [
    pytest.param(lambda x: KeywordPositional.apply(x, scale=5.0), id="ctx-style-scale=5"),
    pytest.param(lambda x: KeywordPositional.apply(x=x), id="ctx-style-x=tensor"),
    pytest.param(lambda x: KeywordOnly.apply(x, scale=5.0), id="ctx-style-keyword-only"),
    pytest.param(lambda x: KeywordSetupContext.apply(x, scale=5.0), id="setup_context-scale=5"),
    pytest.param(lambda x: KeywordSetupContext.apply(x), id="setup_context-default"),
])
def test_apply_maps_keyword_arguments(obs, device, call):
    """Function.apply with keyword arguments: mapped onto forward's parameters, or a TypeError."""
    x = _leaf(device)
    out = obs.outcome("apply", lambda: call(x))
    if out is not None:
        obs.facts_of("out", out, "requires_grad", "grad_fn", "values")


class TupleInput(Function):
    @staticmethod
    def forward(ctx, xs):
        return xs[0] * 2

    @staticmethod
    def backward(ctx, grad):
        return None


class ListOutput(Function):
    @staticmethod
    def forward(ctx, x):
        return [x * 2, x * 3]

    @staticmethod
    def backward(ctx, grad_a, grad_b):
        return grad_a


def test_tensors_inside_containers(obs, device):
    """Tensors inside a tuple argument or a returned list are not tracked: no graph is recorded for them."""
    x = _leaf(device)
    out = TupleInput.apply((x,))
    obs.facts_of("from_tuple", out)
    outs = ListOutput.apply(x)
    obs.fact("list_output.value", type(outs).__name__)
    obs.facts_of("list_item", outs[0])


class ReturnsNone(Function):
    @staticmethod
    def forward(ctx, x):
        return None

    @staticmethod
    def backward(ctx, grad):
        return grad


def test_forward_returning_none(obs, device):
    """A forward that returns None: apply returns None without error."""
    result = obs.outcome("apply", lambda: ReturnsNone.apply(_leaf(device)))
    obs.fact("result.value", "None" if result is None else type(result).__name__)


class NoMaterializeReturnsNone(Function):
    @staticmethod
    def forward(x):
        return x.clone(), x.clone()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.set_materialize_grads(False)

    @staticmethod
    def backward(ctx, grad_a, grad_b):
        NoMaterializeReturnsNone.seen = [grad_a is None, grad_b is None]
        return grad_b


@pytest.mark.parametrize("use", [pytest.param(0, id="used-output-a"), pytest.param(1, id="used-output-b")])
def test_no_materialize_backward_returns_none(obs, device, use):
    """set_materialize_grads(False) in setup_context: a None gradient returned for an input leaves its grad unset."""
    x = _leaf(device)
    outs = NoMaterializeReturnsNone.apply(x)
    obs.outcome("backward", lambda: outs[use].sum().backward())
    obs.fact("grad_is_none.calls", NoMaterializeReturnsNone.seen)
    obs.facts_of("x", x, "grad")


# Corners of the Function protocol (eager: the calls themselves, not a compiled region).
@pytest.mark.modes("eager")
@pytest.mark.parametrize("returned", [
    pytest.param(lambda g: (g, g, None), id="one-trailing-None"),
    pytest.param(lambda g: (g, g, None, None), id="two-trailing-None"),
    pytest.param(lambda g: (g, g, g.clone()), id="trailing-tensor"),
    pytest.param(lambda g: [g, g], id="a-list"),
    pytest.param(lambda g: g, id="a-bare-tensor-for-two-inputs"),
])
def test_backward_returns_extra_trailing_values(obs, device, returned):
    """backward returning trailing None (or a tensor) beyond its inputs, a list, or a bare tensor for two inputs."""
    x, y = _leaf(device), _leaf(device)
    out = _grad_fn_returning(returned).apply(x, y)
    obs.outcome("backward", lambda: out.sum().backward())
    obs.facts_of("x", x, "grad")
    obs.facts_of("y", y, "grad")


@pytest.mark.modes("eager")
def test_calling_forward_directly(obs, device):
    """Square.forward(ctx, x) called directly, not through apply: the output has no custom node."""
    x = _leaf(device)

    class Ctx:
        def save_for_backward(self, *tensors):
            self.saved = tensors

    out = obs.outcome("forward", lambda: Square.forward(Ctx(), x))
    if out is not None:
        obs.facts_of("out", out)
        obs.tensor("out", out)
    obs.outcome("forward_without_ctx", lambda: Square.forward(x))
