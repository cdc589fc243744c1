"""Custom operators from torch.library and autograd: an op without an autograd formula, register_autograd with
setup_context, what backward may return, mutating ops (mutates_args) and the version counter, grad modes, forward
AD and torch.func over a custom op, opcheck's autograd checks, and Library ops without an Autograd kernel."""

import sys
import types

import pytest
import torch

from autograd_conformance.dimensions import GRAD_MODES
from autograd_conformance.observe import require

# Operators can be defined once per process: a second definition of the same name fails or replaces the first.
# They are defined on first use (torch.library.custom_op is newer than 2.0, so not at import) and kept in a
# process-wide registry, so that importing this module twice under two names does not define them twice.
_REGISTRY_NAME = "_acf_probe_custom_ops_registry"
_REGISTRY = sys.modules.setdefault(_REGISTRY_NAME, types.ModuleType(_REGISTRY_NAME))


def _define_custom_ops():
    custom_op = require("torch.library.custom_op")
    Tensor = torch.Tensor

    @custom_op("acf_probe::twice", mutates_args=())
    def twice(x: Tensor) -> Tensor:
        return x * 2

    @custom_op("acf_probe::mul", mutates_args=())
    def mul(x: Tensor, y: Tensor) -> Tensor:
        return x * y

    def mul_setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    def mul_backward(ctx, grad):
        x, y = ctx.saved_tensors
        return grad * y, grad * x

    mul.register_autograd(mul_backward, setup_context=mul_setup_context)

    @custom_op("acf_probe::scale", mutates_args=())
    def scale(x: Tensor, factor: float) -> Tensor:
        return x * factor

    def scale_setup_context(ctx, inputs, output):
        ctx.factor = inputs[1]

    scale.register_autograd(lambda ctx, grad: (grad * ctx.factor, None), setup_context=scale_setup_context)

    @custom_op("acf_probe::mul_one_grad", mutates_args=())
    def mul_one_grad(x: Tensor, y: Tensor) -> Tensor:
        return x * y

    mul_one_grad.register_autograd(lambda ctx, grad: grad)

    @custom_op("acf_probe::scale_grad_for_float", mutates_args=())
    def scale_grad_for_float(x: Tensor, factor: float) -> Tensor:
        return x * factor

    scale_grad_for_float.register_autograd(lambda ctx, grad: (grad, torch.ones((), device=grad.device)))

    @custom_op("acf_probe::square", mutates_args=())
    def square(x: Tensor) -> Tensor:
        return x * x

    def square_setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    def square_backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad

    square.register_autograd(square_backward, setup_context=square_setup_context)
    square.register_fake(lambda x: torch.empty_like(x))

    @custom_op("acf_probe::add_into", mutates_args=("buf",))
    def add_into(x: Tensor, buf: Tensor) -> None:
        buf.add_(x)

    @custom_op("acf_probe::double_in_place", mutates_args=("x",))
    def double_in_place(x: Tensor) -> Tensor:
        x.mul_(2)
        return x.clone()

    @custom_op("acf_probe::double_in_place_unregistered", mutates_args=("x",))
    def double_in_place_unregistered(x: Tensor) -> Tensor:
        x.mul_(2)
        return x.clone()

    @custom_op("acf_probe::returns_input", mutates_args=())
    def returns_input(x: Tensor) -> Tensor:
        return x

    return {name: op for name, op in locals().items() if not name.startswith("_") and hasattr(op, "register_fake")}


def _ops():
    """The custom ops of this module, defined on first use (skips the probe on a torch without custom_op)."""
    if not hasattr(_REGISTRY, "custom_ops"):
        _REGISTRY.custom_ops = _define_custom_ops()
    return _REGISTRY.custom_ops


def _library_ops():
    """Ops defined with torch.library.Library and one kernel each, none for Autograd (kept alive with the library)."""
    if not hasattr(_REGISTRY, "library"):
        lib = torch.library.Library("acf_probe_lib", "DEF")
        for key in ("CPU", "CompositeExplicitAutograd", "CompositeImplicitAutograd"):
            lib.define(f"twice_{key}(Tensor x) -> Tensor")
            lib.impl(f"twice_{key}", lambda x: x * 2, key)
        _REGISTRY.library = lib
    return torch.ops.acf_probe_lib


def _leaf(device):
    return torch.tensor([1.0, 2.0], device=device, requires_grad=True)


# autograd formulas


def test_custom_op_without_autograd_formula(obs, device):
    """A custom op without register_autograd records a node whose backward raises."""
    twice = _ops()["twice"]
    x = _leaf(device)
    out = obs.outcome("forward", lambda: twice(x), warns=False)
    obs.facts_of("out", out)
    obs.outcome("backward", lambda: out.sum().backward())
    obs.facts_of("x", x, "grad")


def test_custom_op_register_autograd(obs, device):
    """register_autograd with setup_context: backward gives the formula's gradients for both inputs."""
    mul = _ops()["mul"]
    x, y = _leaf(device), torch.tensor([3.0, 4.0], device=device, requires_grad=True)
    out = mul(x, y)
    obs.facts_of("out", out, "requires_grad", "grad_fn", "values")
    obs.outcome("backward", lambda: out.sum().backward())
    obs.facts_of("x", x, "grad")
    obs.facts_of("y", y, "grad")


def test_custom_op_non_tensor_argument(obs, device):
    """A float argument reaches setup_context through inputs; backward returns None for it."""
    scale = _ops()["scale"]
    x = _leaf(device)
    out = scale(x, 3.0)
    obs.outcome("backward", lambda: out.sum().backward())
    obs.facts_of("x", x, "grad")


@pytest.mark.parametrize("case", [pytest.param("mul_one_grad", id="too-few-gradients"),
                                  pytest.param("scale_grad_for_float", id="gradient-for-float-argument")])
def test_custom_op_backward_returns(obs, device, case):
    """A registered backward returning too few gradients, or a tensor for a float argument, raises."""
    op = _ops()[case]
    x = _leaf(device)
    out = op(x, torch.ones(2, device=device)) if case == "mul_one_grad" else op(x, 3.0)
    obs.outcome("backward", lambda: out.sum().backward())
    obs.facts_of("x", x, "grad")


def test_custom_op_double_backward(obs, device):
    """A backward written with differentiable torch ops is itself differentiated under create_graph."""
    square = _ops()["square"]
    x = _leaf(device)
    (g,) = torch.autograd.grad(square(x).sum(), x, create_graph=True)
    obs.facts_of("g", g, "requires_grad", "grad_fn", "values")
    (gg,) = torch.autograd.grad(g.sum(), x)
    obs.tensor("gg", gg)


@pytest.mark.parametrize("mode", GRAD_MODES)
@pytest.mark.parametrize("name", [pytest.param("square", id="with-formula"),
                                  pytest.param("twice", id="without-formula")])
def test_custom_op_under_grad_modes(obs, device, name, mode):
    """Under each grad mode a custom op's output records a node or not, like a built-in op."""
    op = _ops()[name]
    x = _leaf(device)
    out = mode(lambda: op(x))
    obs.facts_of("out", out, "requires_grad", "grad_fn", "is_inference")


# mutating ops


def _plain(device):
    return torch.zeros(2, device=device)


def _leaf_requiring_grad(device):
    return torch.zeros(2, device=device, requires_grad=True)


def _non_leaf(device):
    return torch.zeros(2, device=device, requires_grad=True) * 1


@pytest.mark.parametrize("make_buf", [pytest.param(_plain, id="plain"),
                                      pytest.param(_leaf_requiring_grad, id="leaf-requiring-grad"),
                                      pytest.param(_non_leaf, id="non-leaf")])
@pytest.mark.parametrize("mode", [pytest.param(lambda body: body(), id="default"),
                                  pytest.param(lambda body: torch.no_grad()(body)(), id="no_grad")])
def test_mutating_custom_op_version_counter(obs, device, make_buf, mode):
    """A custom op that mutates an argument (mutates_args) bumps its version; what autograd says about it."""
    add_into = _ops()["add_into"]
    buf = make_buf(device)
    obs.outcome("call", lambda: mode(lambda: add_into(torch.ones(2, device=device), buf)), warns=False)
    obs.facts_of("buf", buf, "version", "values", "requires_grad", "grad_fn", "is_leaf")


def test_mutating_custom_op_on_a_view(obs, device):
    """A custom op mutating a view bumps the version counter it shares with its base."""
    add_into = _ops()["add_into"]
    base = torch.zeros(4, device=device)
    view = base[:2]
    add_into(torch.ones(2, device=device), view)
    obs.facts_of("view", view, "version")
    obs.facts_of("base", base, "version", "values")


def test_mutating_custom_op_with_input_requiring_grad(obs, device):
    """Adding a tensor that requires grad into a plain buffer through a custom op: the buffer gets no history."""
    add_into = _ops()["add_into"]
    x, buf = _leaf(device), _plain(device)
    add_into(x, buf)
    obs.facts_of("buf", buf, "requires_grad", "grad_fn", "values")


def test_mutating_custom_op_on_a_saved_tensor(obs, device):
    """A custom op mutating a tensor another op saved makes backward raise the version error."""
    add_into = _ops()["add_into"]
    x = _leaf(device)
    s = x * 1
    y = s.sin()
    add_into(torch.ones(2, device=device), s)
    obs.outcome("backward", lambda: y.sum().backward())


def test_register_autograd_on_mutating_op(obs):
    """register_autograd on an op that mutates an argument and returns a tensor raises."""
    op = _ops()["double_in_place_unregistered"]  # an op of its own: where registering works, no other probe sees it
    obs.outcome("register_autograd", lambda: op.register_autograd(lambda ctx, grad: grad * 2))


def test_mutating_op_returning_a_tensor(obs, device):
    """A mutating custom op (no autograd formula) that returns a tensor: its output node, and backward."""
    double_in_place = _ops()["double_in_place"]
    x = _leaf(device)
    y = x * 1
    out = obs.outcome("call", lambda: double_in_place(y), warns=False)
    obs.facts_of("out", out)
    obs.facts_of("y", y, "version", "grad_fn", "values")
    obs.outcome("backward", lambda: out.sum().backward())


# definition and call errors


def test_custom_op_returning_its_input(obs, device):
    """A custom op whose output is its input raises when called (the message names the op's module)."""
    returns_input = _ops()["returns_input"]
    result, raised = None, None
    try:
        result = returns_input(_leaf(device))
    except Exception as exc:  # the message embeds a file path: record stable parts only
        raised = exc
    obs.fact("call.raises", None if raised is None else type(raised).__name__)
    obs.fact("names_aliasing.value", raised is not None and "may not alias any inputs" in str(raised))
    obs.fact("result.value", "None" if result is None else type(result).__name__)


def _no_annotation(x):
    return x


def _annotated(x: torch.Tensor) -> torch.Tensor:
    return x.clone()


@pytest.mark.parametrize("define", [
    pytest.param(lambda custom_op: custom_op("acf_probe::no_annotation", mutates_args=())(_no_annotation),
                 id="parameter-without-annotation"),
    pytest.param(lambda custom_op: custom_op("acf_probe::no_mutates_args")(_annotated), id="mutates_args-missing"),
])
def test_custom_op_definition_errors(obs, define):
    """custom_op rejects a function with an unannotated parameter, and a definition without mutates_args."""
    custom_op = require("torch.library.custom_op")
    obs.outcome("define", lambda: define(custom_op) and None)


# forward AD, torch.func and opcheck


@pytest.mark.parametrize("name", [pytest.param("square", id="with-formula"),
                                  pytest.param("twice", id="without-formula")])
def test_custom_op_under_forward_ad(obs, device, name):
    """Forward AD through a custom op (no jvp can be registered): whether it raises or the tangent is dropped."""
    fwAD = require("torch.autograd.forward_ad")
    op = _ops()[name]

    def run():
        with fwAD.dual_level():
            out = op(fwAD.make_dual(torch.tensor([1.0, 2.0], device=device), torch.ones(2, device=device)))
            return fwAD.unpack_dual(out).tangent

    tangent = obs.outcome("forward_ad", run, warns=False)
    obs.fact("tangent_is_none.value", tangent is None)


def _func_grad(op, device):
    return require("torch.func.grad")(lambda x: op(x).sum())(torch.tensor([1.0, 2.0], device=device))


def _func_vmap(op, device):
    return require("torch.func.vmap")(op)(torch.tensor([[1.0, 2.0], [3.0, 4.0]], device=device))


@pytest.mark.parametrize("transform", [pytest.param(_func_grad, id="grad"), pytest.param(_func_vmap, id="vmap")])
def test_func_transforms_over_custom_op(obs, device, transform):
    """torch.func.grad and vmap over a custom op that has a registered autograd formula."""
    square = _ops()["square"]
    out = obs.outcome("transform", lambda: transform(square, device), warns=False)
    if out is not None:
        obs.tensor("out", out)


@pytest.mark.parametrize("name", [pytest.param("square", id="with-formula"),
                                  pytest.param("twice", id="without-formula")])
@pytest.mark.parametrize("requires_grad", [pytest.param(True, id="input-requires-grad"),
                                           pytest.param(False, id="input-without-grad")])
def test_opcheck_schema_and_autograd_registration(obs, device, name, requires_grad):
    """opcheck's test_schema and test_autograd_registration on a small op: which checks ran and their results."""
    opcheck = require("torch.library.opcheck")
    op = _ops()[name]
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=requires_grad)
    result = obs.outcome("opcheck", lambda: opcheck(op, (x,), test_utils=("test_schema", "test_autograd_registration"),
                                                    raise_exception=False), warns=False)
    if result is not None:
        obs.fact("results.value", {k: v if isinstance(v, str) else type(v).__name__ for k, v in result.items()})


# torch.library.Library ops without an Autograd kernel


@pytest.mark.parametrize("key", [pytest.param("CPU", id="CPU-kernel"),
                                 pytest.param("CompositeExplicitAutograd", id="CompositeExplicitAutograd-kernel"),
                                 pytest.param("CompositeImplicitAutograd", id="CompositeImplicitAutograd-kernel")])
def test_library_op_without_autograd_kernel(obs, device, key):
    """An op with a backend or composite kernel but no Autograd kernel: its node, and the warning backward gives."""
    op = getattr(_library_ops(), f"twice_{key}")
    x = _leaf(device)
    out = obs.outcome("forward", lambda: op(x), warns=False)
    if out is not None:
        obs.facts_of("out", out)
        obs.outcome("backward", lambda: out.sum().backward())
        obs.facts_of("x", x, "grad")
