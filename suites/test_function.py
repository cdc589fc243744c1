"""Custom torch.autograd.Function: both definition styles, ctx methods, gradient checks and their error texts."""

import pytest
import torch
from torch.autograd import Function
from torch.autograd.function import once_differentiable


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
