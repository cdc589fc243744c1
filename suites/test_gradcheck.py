"""torch.autograd.gradcheck and gradgradcheck on users' own functions and custom autograd.Functions: the verdict
(True, False or the exception) for correct functions (several inputs, tuple outputs, complex, custom Functions) and
for wrong backward, jvp and double-backward formulas, slow and fast mode; every failure text (Jacobian mismatch and
its complex real/imaginary-part wording, non-reentrant backward and nondet_tol, undefined output grads, wrong
layout, shape or dtype, batched gradients, outputs whose shape or dtype depend on the input values); the input
checks (no input requiring grad, the non-double warning, stride-0 inputs, sparse and MKLDNN inputs and outputs);
the options (atol/rtol, raise_exception, check_forward_ad/check_backward_ad, check_undefined_grad, masked) and
which options each release has. Fast-mode messages embed numbers computed from random projections: there every
number with five or more decimals (and every number before "The above quantities") is recorded as <float>."""

import inspect
import re

import pytest
import torch
from torch.autograd import Function
from torch.autograd.function import once_differentiable

from autograd_conformance.dimensions import dtype_params
from autograd_conformance.normalize import normalize_message
from autograd_conformance.observe import require, run_captured

gradcheck = torch.autograd.gradcheck
gradgradcheck = torch.autograd.gradgradcheck

FAST_MODES = [pytest.param(False, id="slow-mode"), pytest.param(True, id="fast-mode")]

_FAST_HEAD_NUMBER = re.compile(r"-?\d+\.\d*(?:e[-+]?\d+)?j?|-?\d+j")
_LONG_NUMBER = re.compile(r"-?\d+\.\d{5,}(?:e[-+]?\d+)?")
_FAST_NOTE = "The above quantities"


def _mask_fast_mode_numbers(message):
    """A fast-mode message with its run-dependent numbers replaced by <float>."""
    head, note, tail = message.partition(_FAST_NOTE)
    if not note:
        return _LONG_NUMBER.sub("<float>", message)
    head_lines = head.split("\n")
    head = "\n".join([head_lines[0]] + [_FAST_HEAD_NUMBER.sub("<float>", line) for line in head_lines[1:]])
    return head + note + _LONG_NUMBER.sub("<float>", tail)


def _check(obs, name, action, fast_mode=False, warns=True):
    """Run a gradcheck; record name.raises/.message/.warns and result.value (what it returned)."""
    if fast_mode:
        result, raised, warned = run_captured(action)
        obs.fact(f"{name}.raises", None if raised is None else type(raised).__name__)
        if raised is not None:
            obs.fact(f"{name}.message", _mask_fast_mode_numbers(normalize_message(str(raised))))
        if warned and warns:
            obs.fact(f"{name}.warns", warned)
    else:
        result = obs.outcome(name, action, warns=warns)
    if result is not None:
        obs.fact("result.value", result)
    return result


def _option_or_skip(fn, option):
    if option not in inspect.signature(fn).parameters:
        pytest.skip(f"{fn.__name__} has no {option!r} option in torch {torch.__version__}")


def _double(device, values=(1.0, 2.0)):
    return torch.tensor(values, device=device, dtype=torch.float64, requires_grad=True)


# Custom Functions: right and wrong formulas.
class Square(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


class SquareWrongBackward(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 3 * x * grad


class SquareDetachedBackward(Function):
    """First derivative right, but computed from a detached x: the second derivative is lost."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x.detach() * grad


class SquareOnceDifferentiable(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


class ScaledBackward(Function):
    """Doubles its input; backward returns the right gradient times ``scale``."""

    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return grad * 2 * ctx.scale, None


class NonDeterministic(Function):
    """Identity whose backward multiplies by (1 + rand * jitter), recursively (so double backward is random too)."""

    @staticmethod
    def forward(ctx, x, jitter):
        ctx.jitter = jitter
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return NonDeterministic.apply(grad, ctx.jitter) * (1 + torch.rand_like(grad) * ctx.jitter), None


class SparseGrad(Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad.to_sparse()


class WrongShapeGrad(Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return torch.cat([grad, grad])


class WrongDtypeGrad(Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, grad):
        return grad.float()


class NoBackward(Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()


class TwoOutputsUnmaterialized(Function):
    """Two outputs with set_materialize_grads(False); backward does not handle a None gradient."""

    @staticmethod
    def forward(ctx, x):
        ctx.set_materialize_grads(False)
        return x * 2, x * 3

    @staticmethod
    def backward(ctx, grad_a, grad_b):
        return grad_a * 2 + grad_b * 3


class ItemInBackward(Function):
    """Correct gradient, but backward calls .item(), which vmap (batched gradients) cannot run."""

    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return grad * 2 * (grad.sum().item() / grad.sum().item())


class DoubleWithJvp(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return grad * 2

    @staticmethod
    def jvp(ctx, tangent):
        return tangent * 2


class DoubleWithoutJvp(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return grad * 2


class WrongJvpForSecondInput(Function):
    """x * 2 + y * 3: backward right, jvp uses 4 instead of 3 for y."""

    @staticmethod
    def forward(ctx, x, y):
        return x * 2 + y * 3

    @staticmethod
    def backward(ctx, grad):
        return grad * 2, grad * 3

    @staticmethod
    def jvp(ctx, tangent_x, tangent_y):
        return tangent_x * 2 + tangent_y * 4


class FailingBackwardAndJvp(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        raise RuntimeError("FAIL BWD")

    @staticmethod
    def jvp(ctx, tangent):
        raise RuntimeError("FAIL FWD")


class RandomInJvp(Function):
    @staticmethod
    def forward(ctx, x):
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        return grad * 2

    @staticmethod
    def jvp(ctx, tangent):
        torch.randn_like(tangent)
        return tangent * 2


def _hooked_clone(x):
    """Identity whose backward adds 1e-2 to the incoming gradient (wrong and not linear in grad_output)."""
    y = x.clone()
    y.register_hook(lambda g: g + 1e-2)
    return y


def _raise_on_undefined_grad(x):
    def hook(g):
        if g is None:
            raise RuntimeError("x is undefined")

    y = x.clone()
    y.register_hook(hook)
    return y


# Which options exist.
GRADCHECK_OPTIONS = ["eps", "atol", "rtol", "raise_exception", "nondet_tol", "check_undefined_grad",
                     "check_grad_dtypes", "check_batched_grad", "check_batched_forward_grad", "check_forward_ad",
                     "check_backward_ad", "fast_mode", "masked", "check_sparse_nnz"]
GRADGRADCHECK_OPTIONS = ["grad_outputs", "gen_non_contig_grad_outputs", "raise_exception", "nondet_tol",
                         "check_undefined_grad", "check_grad_dtypes", "check_batched_grad", "check_fwd_over_rev",
                         "check_rev_over_rev", "fast_mode", "masked"]


@pytest.mark.parametrize("option", [pytest.param(o, id=o) for o in GRADCHECK_OPTIONS])
def test_gradcheck_option_present(obs, option):
    """Which keyword options torch.autograd.gradcheck accepts (masked replaced check_sparse_nnz)."""
    obs.fact("option.present", option in inspect.signature(gradcheck).parameters)


@pytest.mark.parametrize("option", [pytest.param(o, id=o) for o in GRADGRADCHECK_OPTIONS])
def test_gradgradcheck_option_present(obs, option):
    """Which keyword options torch.autograd.gradgradcheck accepts."""
    obs.fact("option.present", option in inspect.signature(gradgradcheck).parameters)


def test_gradcheck_error_class(obs):
    """GradcheckError, raised for failed checks, is a RuntimeError subclass importable from torch.autograd.gradcheck."""
    error = require("torch.autograd.gradcheck.GradcheckError")
    obs.fact("error.value", [cls.__name__ for cls in error.__mro__])


# Passing cases.
def _two_inputs(device):
    return _double(device), _double(device, (3.0, -1.0))


PASSING = [
    pytest.param(lambda x: x.sin(), lambda d: (_double(d),), id="sin-one-input"),
    pytest.param(lambda x: x.sin(), lambda d: _double(d), id="single-tensor-not-a-tuple"),
    pytest.param(lambda x, y: x * y + x.exp(), _two_inputs, id="two-inputs"),
    pytest.param(lambda x, y: (x.sin(), x * y), _two_inputs, id="tuple-of-outputs"),
    pytest.param(lambda x, y: x @ y.unsqueeze(1), _two_inputs, id="matmul"),
    pytest.param(lambda x, k: x * k, lambda d: (_double(d), 3.0), id="non-tensor-argument"),
    pytest.param(lambda x, y: x * y, lambda d: (_double(d), _double(d).detach()), id="input-without-grad"),
    pytest.param(lambda x: (x * 2, x.argmax()), lambda d: (_double(d),), id="integer-second-output"),
    pytest.param(Square.apply, lambda d: (_double(d),), id="custom-function"),
    pytest.param(lambda z: z * z, lambda d: (_double(d).detach().to(torch.complex128).requires_grad_(),),
                 id="complex-to-complex"),
    pytest.param(lambda z: (z * z.conj()).real, lambda d: (_double(d).detach().to(torch.complex128).requires_grad_(),),
                 id="complex-to-real"),
    pytest.param(lambda x: torch.complex(x, x * 2), lambda d: (_double(d),), id="real-to-complex"),
]


@pytest.mark.parametrize("fast_mode", FAST_MODES)
@pytest.mark.parametrize("fn, make_inputs", PASSING)
def test_gradcheck_passes(obs, device, fn, make_inputs, fast_mode):
    """gradcheck returns True, silently, for correct float64 (or complex128) functions."""
    inputs = make_inputs(device)
    _check(obs, "check", lambda: gradcheck(fn, inputs, fast_mode=fast_mode), fast_mode)


@pytest.mark.parametrize("fast_mode", FAST_MODES)
@pytest.mark.parametrize("fn", [pytest.param(lambda x: x.sin(), id="sin"),
                                pytest.param(Square.apply, id="custom-function")])
def test_gradcheck_batched_grad_of_correct_function(obs, device, fn, fast_mode):
    """check_batched_grad=True on a correct function (builtin op or custom Function) passes."""
    x = _double(device)
    _check(obs, "check", lambda: gradcheck(fn, (x,), check_batched_grad=True, fast_mode=fast_mode), fast_mode)


GRADGRAD_PASSING = [
    pytest.param(lambda x: x.sin(), {}, id="sin"),
    pytest.param(lambda x, y: x * y.exp(), {"two": True}, id="two-inputs"),
    pytest.param(Square.apply, {}, id="custom-function"),
    pytest.param(Square.apply, {"grad_outputs": True}, id="explicit-grad-outputs"),
    pytest.param(lambda x: x.pow(3), {"gen_non_contig_grad_outputs": True}, id="non-contiguous-grad-outputs"),
    pytest.param(lambda x: x.pow(3), {"check_batched_grad": True}, id="batched-grad"),
]


@pytest.mark.parametrize("fast_mode", FAST_MODES)
@pytest.mark.parametrize("fn, options", GRADGRAD_PASSING)
def test_gradgradcheck_passes(obs, device, fn, options, fast_mode):
    """gradgradcheck returns True for functions whose double backward is right."""
    options = dict(options)
    inputs = _two_inputs(device) if options.pop("two", False) else (_double(device),)
    args = (fn, inputs)
    if options.pop("grad_outputs", False):
        args += ((torch.ones(2, device=device, dtype=torch.float64, requires_grad=True),),)
    _check(obs, "check", lambda: gradgradcheck(*args, fast_mode=fast_mode, **options), fast_mode)


# Jacobian mismatches.
@pytest.mark.parametrize("fast_mode", FAST_MODES)
def test_jacobian_mismatch_custom_function(obs, device, fast_mode):
    """A custom Function whose backward is wrong (3x instead of 2x): GradcheckError 'Jacobian mismatch ...'."""
    x = _double(device)
    _check(obs, "check", lambda: gradcheck(SquareWrongBackward.apply, (x,), fast_mode=fast_mode), fast_mode)


@pytest.mark.parametrize("fast_mode", FAST_MODES)
def test_jacobian_mismatch_from_hook(obs, device, fast_mode):
    """A hook adding 1e-2 to the gradient of a 2x2 identity: the mismatch message prints both Jacobians."""
    x = torch.ones(2, 2, device=device, dtype=torch.float64, requires_grad=True)
    _check(obs, "check", lambda: gradcheck(_hooked_clone, (x,), fast_mode=fast_mode), fast_mode)


@pytest.mark.parametrize("fast_mode", FAST_MODES)
def test_jacobian_mismatch_second_input_second_output(obs, device, fast_mode):
    """The mismatch message names the output and input index that failed."""
    x, y = _two_inputs(device)
    _check(obs, "check", lambda: gradcheck(lambda a, b: (a * 2, a + SquareWrongBackward.apply(b)), (x, y),
                                           fast_mode=fast_mode), fast_mode)


@pytest.mark.parametrize("fast_mode", FAST_MODES)
def test_backward_not_multiplied_by_grad_output(obs, device, fast_mode):
    """A backward off by a constant (not linear in grad_output), within atol: 'backward not multiplied by grad_output'."""
    x = torch.ones(1, device=device, dtype=torch.float64, requires_grad=True)
    _check(obs, "check", lambda: gradcheck(_hooked_clone, (x,), atol=1e-1, fast_mode=fast_mode), fast_mode)


COMPLEX_CASES = [
    pytest.param(lambda x: _hooked_clone(x), torch.complex128, id="complex-to-complex"),
    pytest.param(lambda x: _hooked_clone(torch.real(x)), torch.complex128, id="complex-to-real"),
    pytest.param(lambda x: _hooked_clone(torch.complex(x, x)), torch.float64, id="real-to-complex"),
]


@pytest.mark.parametrize("fast_mode", FAST_MODES)
@pytest.mark.parametrize("fn, dtype", COMPLEX_CASES)
def test_complex_jacobian_mismatch(obs, device, fn, dtype, fast_mode):
    """Complex functions are checked as real and imaginary parts; the message says which part failed."""
    x = torch.ones(2, 2, device=device, dtype=dtype, requires_grad=True)
    _check(obs, "check", lambda: gradcheck(fn, (x,), fast_mode=fast_mode), fast_mode)


# raise_exception and tolerances.
@pytest.mark.parametrize("fast_mode", FAST_MODES)
def test_raise_exception_false_returns_false(obs, device, fast_mode):
    """raise_exception=False turns a failed check into a False return value, without a warning."""
    x = _double(device)
    _check(obs, "check", lambda: gradcheck(SquareWrongBackward.apply, (x,), raise_exception=False,
                                           fast_mode=fast_mode), fast_mode)


def _raise_plain_runtime_error(x):
    raise RuntimeError("Not a GradcheckError!")


@pytest.mark.parametrize("raise_exception", [pytest.param(True, id="raise_exception-true"),
                                             pytest.param(False, id="raise_exception-false")])
def test_error_from_function_is_not_swallowed(obs, device, raise_exception):
    """An error raised by the checked function itself propagates even with raise_exception=False."""
    x = _double(device)
    _check(obs, "check", lambda: gradcheck(_raise_plain_runtime_error, (x,), raise_exception=raise_exception))


@pytest.mark.parametrize("raise_exception", [pytest.param(True, id="raise_exception-true"),
                                             pytest.param(False, id="raise_exception-false")])
def test_error_from_backward_is_not_swallowed(obs, device, raise_exception):
    """An error raised inside a custom Function's backward propagates even with raise_exception=False."""
    x = _double(device)
    _check(obs, "check", lambda: gradcheck(FailingBackwardAndJvp.apply, (x,), raise_exception=raise_exception))


TOLERANCES = [
    pytest.param(1.0001, {}, id="error-1e-4-defaults"),
    pytest.param(1.01, {}, id="error-1e-2-defaults"),
    pytest.param(1.01, {"atol": 0.1}, id="error-1e-2-atol-0.1"),
    pytest.param(1.01, {"rtol": 0.1}, id="error-1e-2-rtol-0.1"),
    pytest.param(1.01, {"atol": 0.0, "rtol": 0.1}, id="error-1e-2-rtol-only"),
    pytest.param(1.0001, {"atol": 0.0, "rtol": 0.0}, id="error-1e-4-exact"),
    pytest.param(1.0, {"atol": 0.0, "rtol": 0.0}, id="no-error-exact"),
    pytest.param(1.0, {"eps": 1e-3}, id="no-error-eps-1e-3"),
]


@pytest.mark.parametrize("fast_mode", FAST_MODES)
@pytest.mark.parametrize("scale, tolerances", TOLERANCES)
def test_tolerances(obs, device, scale, tolerances, fast_mode):
    """Whether a backward off by a relative error passes, under default and given atol/rtol/eps (raise_exception=False)."""
    x = _double(device)
    _check(obs, "check", lambda: gradcheck(ScaledBackward.apply, (x, scale), raise_exception=False,
                                           fast_mode=fast_mode, **tolerances), fast_mode)


# Input validation.
@pytest.mark.parametrize("raise_exception", [pytest.param(True, id="raise_exception-true"),
                                             pytest.param(False, id="raise_exception-false")])
def test_no_input_requires_grad(obs, device, raise_exception):
    """No input requiring grad is a ValueError, also with raise_exception=False."""
    x = torch.ones(2, device=device, dtype=torch.float64)
    _check(obs, "check", lambda: gradcheck(lambda a: a * 2, (x,), raise_exception=raise_exception))


@pytest.mark.parametrize("dtype", dtype_params([torch.float32, torch.float16, torch.bfloat16, torch.complex64]))
def test_non_double_input_warns(obs, device, dtype):
    """A low-precision input requiring grad warns 'Input #0 ... is not a double precision ...'; x*3 with atol=0.1."""
    x = torch.ones(2, device=device, dtype=dtype, requires_grad=True)
    _check(obs, "check", lambda: gradcheck(lambda a: a * 3, (x,), atol=1e-1))


def test_float32_input_default_tolerances(obs, device):
    """A correct float32 function (x*3) checked with the default eps and tolerances."""
    x = torch.ones(2, device=device, dtype=torch.float32, requires_grad=True)
    _check(obs, "check", lambda: gradcheck(lambda a: a * 3, (x,)))


def test_non_double_second_input_warns(obs, device):
    """The warning names the index of the low-precision input."""
    x = _double(device)
    y = torch.ones(2, device=device, dtype=torch.float32, requires_grad=True)
    _check(obs, "check", lambda: gradcheck(lambda a, b: a * b.double(), (x, y), atol=1e-1))


OVERLAPPING = [
    pytest.param(lambda d: torch.ones(1, device=d, dtype=torch.float64, requires_grad=True).expand(2, 2),
                 id="expand-stride-0"),
    pytest.param(lambda d: torch.ones(3, device=d, dtype=torch.float64).as_strided((2, 2), (1, 1)).requires_grad_(),
                 id="as_strided-overlapping"),
    pytest.param(lambda d: torch.ones(2, 2, device=d, dtype=torch.float64).t().requires_grad_(),
                 id="transposed-not-overlapping"),
]


@pytest.mark.parametrize("fast_mode", FAST_MODES)
@pytest.mark.parametrize("make_input", OVERLAPPING)
def test_overlapping_memory_input(obs, device, make_input, fast_mode):
    """An input with a stride-0 dimension raises before checking (also with raise_exception=False)."""
    x = make_input(device)
    _check(obs, "check", lambda: gradcheck(lambda a: a * 2, (x,), raise_exception=False, fast_mode=fast_mode),
           fast_mode)


@pytest.mark.parametrize("fast_mode", FAST_MODES)
def test_output_rebuilt_without_grad(obs, device, fast_mode):
    """An output rebuilt with torch.tensor (not differentiable) whose value does depend on the input."""
    x = torch.ones(1, device=device, dtype=torch.float64, requires_grad=True)
    _check(obs, "check", lambda: gradcheck(lambda a: torch.tensor([a.item()], dtype=torch.float64), (x,),
                                           fast_mode=fast_mode), fast_mode)


@pytest.mark.parametrize("fast_mode", FAST_MODES)
def test_output_shape_depends_on_input_values(obs, device, fast_mode):
    """A function whose output shape changes when an input is perturbed fails with an AssertionError."""
    a = torch.ones(1, device=device, dtype=torch.float64, requires_grad=True)
    _check(obs, "check", lambda: gradcheck(lambda x: torch.cat([x, x]) if torch.all(x >= 1) else x, (a,),
                                           fast_mode=fast_mode), fast_mode)


@pytest.mark.parametrize("fast_mode", FAST_MODES)
def test_output_dtype_depends_on_input_values(obs, device, fast_mode):
    """A function whose output dtype changes when an input is perturbed fails with an AssertionError."""
    a = torch.ones(1, device=device, dtype=torch.float64, requires_grad=True)
    _check(obs, "check", lambda: gradcheck(lambda x: x.to(torch.float32) if torch.all(x >= 1) else x, (a,),
                                           fast_mode=fast_mode), fast_mode)


# Backward that is non-deterministic, malformed, missing or does not handle undefined grads.
@pytest.mark.parametrize("fast_mode", FAST_MODES)
@pytest.mark.parametrize("nondet_tol", [pytest.param(0.0, id="nondet_tol-0"), pytest.param(1e-5, id="nondet_tol-1e-5")])
def test_nondeterministic_backward(obs, device, nondet_tol, fast_mode):
    """A backward with 1e-6 random jitter: 'Backward is not reentrant' unless nondet_tol covers it."""
    x = _double(device)
    _check(obs, "check", lambda: gradcheck(lambda a: NonDeterministic.apply(a, 1e-6), (x,), nondet_tol=nondet_tol,
                                           fast_mode=fast_mode), fast_mode)


@pytest.mark.parametrize("fast_mode", FAST_MODES)
@pytest.mark.parametrize("nondet_tol", [pytest.param(0.0, id="nondet_tol-0"), pytest.param(1e-5, id="nondet_tol-1e-5")])
def test_nondeterministic_double_backward(obs, device, nondet_tol, fast_mode):
    """gradgradcheck of a function whose double backward has 1e-12 random jitter."""
    x = _double(device)
    _check(obs, "check", lambda: gradgradcheck(lambda a: NonDeterministic.apply(a, 1e-12), (x,),
                                               nondet_tol=nondet_tol, fast_mode=fast_mode), fast_mode)


@pytest.mark.parametrize("fast_mode", FAST_MODES)
def test_backward_returns_sparse_grad(obs, device, fast_mode):
    """A backward returning a sparse gradient for a dense input: 'grad is incorrect layout'."""
    x = _double(device)
    _check(obs, "check", lambda: gradcheck(SparseGrad.apply, (x,), fast_mode=fast_mode), fast_mode)


@pytest.mark.parametrize("fast_mode", FAST_MODES)
def test_backward_returns_wrong_shape(obs, device, fast_mode):
    """A backward returning a gradient of the wrong shape: the engine's invalid-gradient error, not a GradcheckError."""
    x = _double(device)
    _check(obs, "check", lambda: gradcheck(WrongShapeGrad.apply, (x,), fast_mode=fast_mode), fast_mode)


@pytest.mark.parametrize("check_grad_dtypes", [pytest.param(False, id="default"),
                                               pytest.param(True, id="check_grad_dtypes")])
def test_backward_returns_wrong_dtype(obs, device, check_grad_dtypes):
    """A backward returning a float32 gradient for a float64 input (the engine casts it back)."""
    x = _double(device)
    _check(obs, "check", lambda: gradcheck(WrongDtypeGrad.apply, (x,), check_grad_dtypes=check_grad_dtypes))


def test_backward_not_implemented(obs, device):
    """A custom Function without backward: NotImplementedError from gradcheck."""
    x = _double(device)
    _check(obs, "check", lambda: gradcheck(NoBackward.apply, (x,)))


def test_op_without_derivative(obs, device):
    """An op whose derivative is not implemented (zeta w.r.t. its first argument): NotImplementedError."""
    x = _double(device, (3.0, 4.0))
    _check(obs, "check", lambda: gradcheck(lambda a: torch.special.zeta(a, torch.full_like(a, 2.0)), (x,)))


@pytest.mark.parametrize("fast_mode", FAST_MODES)
@pytest.mark.parametrize("check_undefined_grad", [pytest.param(True, id="checked"),
                                                  pytest.param(False, id="unchecked")])
def test_backward_rejects_undefined_grad(obs, device, check_undefined_grad, fast_mode):
    """A backward (hook) raising on an undefined output grad fails check_undefined_grad, with a warning that it is new."""
    x = torch.ones(1, device=device, dtype=torch.float64, requires_grad=True)
    _check(obs, "check", lambda: gradcheck(_raise_on_undefined_grad, (x,), check_undefined_grad=check_undefined_grad,
                                           fast_mode=fast_mode), fast_mode)


@pytest.mark.parametrize("check_undefined_grad", [pytest.param(True, id="checked"),
                                                  pytest.param(False, id="unchecked")])
def test_unmaterialized_grads_not_handled(obs, device, check_undefined_grad):
    """A two-output Function with set_materialize_grads(False) whose backward does not handle None."""
    x = _double(device)
    _check(obs, "check", lambda: gradcheck(TwoOutputsUnmaterialized.apply, (x,),
                                           check_undefined_grad=check_undefined_grad))


@pytest.mark.parametrize("fast_mode", FAST_MODES)
def test_batched_grad_failure(obs, device, fast_mode):
    """check_batched_grad=True with a backward that vmap cannot run (.item()) fails with the batched-gradient text."""
    x = _double(device)
    _check(obs, "check", lambda: gradcheck(ItemInBackward.apply, (x,), check_batched_grad=True, fast_mode=fast_mode),
           fast_mode)


# Forward-mode AD checks (warns=False: the first forward-AD use in a process loads decompositions, which warns).
@pytest.mark.parametrize("fast_mode", FAST_MODES)
@pytest.mark.parametrize("fn", [pytest.param(lambda x: x.sin(), id="sin"),
                                pytest.param(DoubleWithJvp.apply, id="custom-function-with-jvp")])
def test_forward_ad_passes(obs, device, fn, fast_mode):
    """check_forward_ad=True on functions with a right forward-mode derivative returns True."""
    x = _double(device)
    _check(obs, "check", lambda: gradcheck(fn, (x,), check_forward_ad=True, fast_mode=fast_mode), fast_mode,
           warns=False)


@pytest.mark.parametrize("fast_mode", FAST_MODES)
@pytest.mark.parametrize("check_backward_ad", [pytest.param(True, id="backward-too"),
                                               pytest.param(False, id="forward-only")])
def test_forward_ad_wrong_jvp(obs, device, check_backward_ad, fast_mode):
    """check_forward_ad=True with a jvp wrong for the second input: a forward-mode mismatch naming input 1."""
    x, y = _two_inputs(device)
    _check(obs, "check", lambda: gradcheck(WrongJvpForSecondInput.apply, (x, y), check_forward_ad=True,
                                           check_backward_ad=check_backward_ad, fast_mode=fast_mode),
           fast_mode, warns=False)


def test_wrong_jvp_unchecked_by_default(obs, device):
    """Without check_forward_ad a wrong jvp goes unnoticed: gradcheck returns True."""
    x, y = _two_inputs(device)
    _check(obs, "check", lambda: gradcheck(WrongJvpForSecondInput.apply, (x, y)), warns=False)


@pytest.mark.parametrize("check_backward_ad", [pytest.param(True, id="backward-too"),
                                               pytest.param(False, id="forward-only")])
def test_forward_ad_without_jvp(obs, device, check_backward_ad):
    """check_forward_ad=True on a custom Function without jvp: NotImplementedError naming jvp."""
    x = _double(device)
    _check(obs, "check", lambda: gradcheck(DoubleWithoutJvp.apply, (x,), check_forward_ad=True,
                                           check_backward_ad=check_backward_ad), warns=False)


def test_neither_forward_nor_backward_checked(obs, device):
    """check_forward_ad=False with check_backward_ad=False: AssertionError 'Expected at least one of ...'."""
    x = _double(device)
    _check(obs, "check", lambda: gradcheck(DoubleWithJvp.apply, (x,), check_forward_ad=False,
                                           check_backward_ad=False))


@pytest.mark.parametrize("check_backward_ad", [pytest.param(True, id="backward-too"),
                                               pytest.param(False, id="forward-only")])
def test_jvp_and_backward_raise(obs, device, check_backward_ad):
    """A Function whose jvp and backward both raise: backward is checked first; forward-only reaches the jvp error."""
    x = _double(device)
    _check(obs, "check", lambda: gradcheck(FailingBackwardAndJvp.apply, (x,), check_forward_ad=True,
                                           check_backward_ad=check_backward_ad, check_undefined_grad=False),
           warns=False)


@pytest.mark.parametrize("batched", [pytest.param(True, id="batched-forward-grad"),
                                     pytest.param(False, id="unbatched")])
def test_random_op_in_jvp(obs, device, batched):
    """A jvp that draws random numbers fails check_batched_forward_grad (vmap refuses random ops)."""
    x = _double(device)
    _check(obs, "check", lambda: gradcheck(RandomInJvp.apply, (x,), check_forward_ad=True,
                                           check_batched_forward_grad=batched), warns=False)


# gradgradcheck failures.
@pytest.mark.parametrize("fast_mode", FAST_MODES)
@pytest.mark.parametrize("fn", [pytest.param(SquareDetachedBackward.apply, id="detached-backward"),
                                pytest.param(SquareOnceDifferentiable.apply, id="once_differentiable")])
def test_gradgradcheck_wrong_double_backward(obs, device, fn, fast_mode):
    """gradgradcheck of a Function whose backward is not differentiable through x: mismatch, analytical Jacobian 0."""
    x = _double(device)
    grad_out = torch.ones(2, device=device, dtype=torch.float64, requires_grad=True)
    _check(obs, "check", lambda: gradgradcheck(fn, (x,), (grad_out,), fast_mode=fast_mode), fast_mode)


@pytest.mark.parametrize("fn", [pytest.param(lambda x: x.sin(), id="sin"),
                                pytest.param(DoubleWithJvp.apply, id="custom-function-with-jvp"),
                                pytest.param(DoubleWithoutJvp.apply, id="custom-function-without-jvp")])
def test_gradgradcheck_forward_over_reverse(obs, device, fn):
    """gradgradcheck with check_fwd_over_rev=True (forward AD through the backward graph)."""
    _option_or_skip(gradgradcheck, "check_fwd_over_rev")
    x = _double(device)
    _check(obs, "check", lambda: gradgradcheck(fn, (x,), check_fwd_over_rev=True), warns=False)


def test_gradgradcheck_once_differentiable_grad_outputs_without_grad(obs, device):
    """gradgradcheck of a once_differentiable Function with grad_outputs that do not require grad."""
    x = _double(device)
    grad_out = torch.ones(2, device=device, dtype=torch.float64)
    _check(obs, "check", lambda: gradgradcheck(SquareOnceDifferentiable.apply, (x,), (grad_out,)))


def test_gradcheck_once_differentiable(obs, device):
    """gradcheck (first derivative only) of a once_differentiable Function passes."""
    x = _double(device)
    _check(obs, "check", lambda: gradcheck(SquareOnceDifferentiable.apply, (x,)))


def test_once_differentiable_gradient_differentiated(obs, device):
    """Backward through a once_differentiable gradient taken with grad_outputs requiring grad raises 'twice'."""
    x = _double(device)
    grad_out = torch.ones(2, device=device, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(SquareOnceDifferentiable.apply(x), x, grad_out, create_graph=True)
    obs.facts_of("g", g, "requires_grad", "grad_fn")
    obs.outcome("double_backward", lambda: g.sum().backward())


def test_gradgradcheck_raise_exception_false(obs, device):
    """gradgradcheck with raise_exception=False returns False for a wrong double backward."""
    x = _double(device)
    grad_out = torch.ones(2, device=device, dtype=torch.float64, requires_grad=True)
    _check(obs, "check", lambda: gradgradcheck(SquareDetachedBackward.apply, (x,), (grad_out,),
                                               raise_exception=False))


# Sparse and MKLDNN inputs and outputs (warns=False: sparse invariant checks warn once per process).
def _sparse_input():
    return torch.tensor([1.0, 0.0, 2.0], dtype=torch.float64).to_sparse().requires_grad_()


@pytest.mark.parametrize("fast_mode", FAST_MODES)
@pytest.mark.parametrize("masked", [pytest.param(False, id="masked-false"), pytest.param(True, id="masked-true")])
def test_sparse_input_dense_output(obs, masked, fast_mode):
    """A sparse COO input densified by the function: passes with masked=False and masked=True."""
    _option_or_skip(gradcheck, "masked")
    x = _sparse_input()
    _check(obs, "check", lambda: gradcheck(lambda a: a.to_dense(), (x,), masked=masked, fast_mode=fast_mode),
           fast_mode, warns=False)


def test_sparse_input_batched_grad(obs):
    """check_batched_grad=True with a sparse input (masked=True) fails: first sentence, and the batched-grad text."""
    _option_or_skip(gradcheck, "masked")
    x = _sparse_input()
    result, raised, _ = run_captured(lambda: gradcheck(lambda a: a.to_dense(), (x,), masked=True,
                                                       check_batched_grad=True))
    obs.fact("check.raises", None if raised is None else type(raised).__name__)
    if raised is None:
        obs.fact("result.value", result)
        return
    message = str(raised)
    obs.fact("first_sentence.value", message.split("\n")[0].split(". ")[0])
    obs.fact("batched_explanation.value",
             "gradcheck or gradgradcheck failed while testing batched gradient computation" in message)


def test_sparse_output(obs):
    """A function returning a sparse tensor with masked=True: ValueError 'Sparse output is not supported ...'."""
    _option_or_skip(gradcheck, "masked")
    x = _sparse_input()
    _check(obs, "check", lambda: gradcheck(lambda a: a, (x,), masked=True, raise_exception=False), warns=False)


def _sparse_grad_wrong_sparse_dim(x):
    y = x.clone()
    y.register_hook(lambda g: g.to_dense().to_sparse(1) if g is not None else g)
    return y.to_dense()


def test_sparse_grad_with_wrong_sparse_dim(obs):
    """A hook giving a 2-D sparse input a gradient with sparse_dim 1 fails: 'incorrect sparse_dim'."""
    _option_or_skip(gradcheck, "masked")
    x = torch.ones(2, 2, dtype=torch.float64).to_sparse().requires_grad_()
    _check(obs, "check", lambda: gradcheck(_sparse_grad_wrong_sparse_dim, (x,), atol=1e-1, masked=True),
           warns=False)


def test_mkldnn_output(obs):
    """A function returning an MKLDNN tensor: ValueError 'MKLDNN output is not supported at gradcheck yet'."""
    obs.fact("mkldnn.present", torch.backends.mkldnn.is_available())
    x = torch.ones(2, dtype=torch.float32, requires_grad=True)
    _check(obs, "check", lambda: gradcheck(lambda a: a.to_mkldnn(), (x,), raise_exception=False))


@pytest.mark.parametrize("check_forward_ad", [pytest.param(False, id="backward-only"),
                                              pytest.param(True, id="check_forward_ad")])
def test_mkldnn_input(obs, check_forward_ad):
    """An MKLDNN input: checked in backward mode; check_forward_ad=True is a ValueError."""
    obs.fact("mkldnn.present", torch.backends.mkldnn.is_available())
    x = obs.outcome("to_mkldnn", lambda: torch.ones(1).to_mkldnn().requires_grad_())
    if x is None:
        return
    _check(obs, "check", lambda: gradcheck(lambda a: a.to_dense(), (x,), check_forward_ad=check_forward_ad,
                                           atol=1e-1, rtol=1e-1, raise_exception=False), warns=False)


# The deprecated Jacobian helpers of torch.autograd.gradcheck.
def _linear_pair(inputs):
    x, y = inputs[0], inputs[1]
    return 2 * x + y, x + 2 * y


def test_get_numerical_jacobian(obs):
    """torch.autograd.gradcheck.get_numerical_jacobian warns FutureWarning (private API) and still returns Jacobians."""
    get_numerical_jacobian = require("torch.autograd.gradcheck.get_numerical_jacobian")
    a = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([3.0, 4.0], dtype=torch.float64, requires_grad=True)
    jacobians = obs.outcome("jacobian", lambda: get_numerical_jacobian(_linear_pair, (a, b), target=a, eps=1e-6))
    if jacobians is not None:
        obs.fact("jacobian.count", len(jacobians))
        obs.tensor("first", jacobians[0])


def test_get_numerical_jacobian_grad_out(obs):
    """get_numerical_jacobian with grad_out other than 1.0 raises ValueError."""
    get_numerical_jacobian = require("torch.autograd.gradcheck.get_numerical_jacobian")
    a = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([3.0, 4.0], dtype=torch.float64, requires_grad=True)
    obs.outcome("jacobian", lambda: get_numerical_jacobian(_linear_pair, (a, b), eps=1e-6, grad_out=2.0))


def test_get_analytical_jacobian(obs):
    """get_analytical_jacobian warns FutureWarning and returns (jacobians, reentrant, sizes ok, types ok)."""
    get_analytical_jacobian = require("torch.autograd.gradcheck.get_analytical_jacobian")
    a = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    b = torch.tensor([3.0, 4.0], dtype=torch.float64, requires_grad=True)
    out = obs.outcome("jacobian", lambda: get_analytical_jacobian((a, b), _linear_pair((a, b))[0]))
    if out is not None:
        jacobians, *flags = out
        obs.fact("flags.value", flags)
        obs.tensor("first", jacobians[0])
        obs.tensor("second", jacobians[1])
