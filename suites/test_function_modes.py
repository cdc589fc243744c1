"""Custom autograd.Function under forward-mode AD and torch.func: jvp in both definition styles, save_for_forward,
the checks on what jvp returns, once_differentiable with forward AD, vmap support (generate_vmap_rule, a vmap
staticmethod) and the errors for a Function that supports neither, and torch.func transforms over both styles."""

import pytest
import torch
from torch.autograd import Function
from torch.autograd.function import once_differentiable

from autograd_conformance.observe import require


def _primal(device):
    return torch.tensor([1.0, 2.0], device=device)


def _tangent(device):
    return torch.tensor([1.0, 1.0], device=device)


def _forward_ad(fn, primal, tangent):
    """fn applied to a dual tensor; returns (primal, tangent) of its output (tangent None when it has none)."""
    fwAD = require("torch.autograd.forward_ad")
    with fwAD.dual_level():
        out = fn(fwAD.make_dual(primal, tangent))
        p, t = fwAD.unpack_dual(out)
        return p, t


def _record_dual(obs, name, result):
    if result is not None:
        obs.tensor(f"{name}_primal", result[0])
        obs.tensor(f"{name}_tangent", result[1])


# jvp


class SquareJvpCtx(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_forward(x)
        return x * x

    @staticmethod
    def jvp(ctx, tangent):
        (x,) = ctx.saved_tensors
        return 2 * x * tangent

    @staticmethod
    def backward(ctx, grad):
        raise AssertionError("not reached in forward AD")


class SquareJvpSetupContext(Function):
    @staticmethod
    def forward(x):
        return x * x

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def jvp(ctx, tangent):
        (x,) = ctx.saved_tensors
        return 2 * x * tangent

    @staticmethod
    def backward(ctx, grad):
        raise AssertionError("not reached in forward AD")


class SquareJvpAttribute(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.x = x
        return x * x

    @staticmethod
    def jvp(ctx, tangent):
        return 2 * ctx.x * tangent


class SquareNoJvp(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


@pytest.mark.parametrize("fn", [
    pytest.param(SquareJvpCtx, id="ctx-style-save_for_forward"),
    pytest.param(SquareJvpSetupContext, id="setup_context-save_for_forward"),
    pytest.param(SquareJvpAttribute, id="ctx-attribute"),
    pytest.param(SquareNoJvp, id="no-jvp"),
])
def test_forward_ad_through_function(obs, device, fn):
    """Forward AD through a custom Function uses its jvp; a Function without jvp raises."""
    result = obs.outcome("forward_ad", lambda: _forward_ad(fn.apply, _primal(device), _tangent(device)), warns=False)
    _record_dual(obs, "out", result)


class SaveForForwardNonTensor(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_forward(x, 3)
        return x * x

    @staticmethod
    def jvp(ctx, tangent):
        return tangent


def test_save_for_forward_non_tensor(obs, device):
    """save_for_forward with a non-tensor argument raises."""
    obs.outcome("forward_ad", lambda: _forward_ad(SaveForForwardNonTensor.apply, _primal(device), _tangent(device)),
                warns=False)


class SavesForBoth(Function):
    seen = {}

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_forward(x)
        ctx.save_for_backward(x * 10)
        return x * x

    @staticmethod
    def jvp(ctx, tangent):
        SavesForBoth.seen["jvp"] = [t.tolist() for t in ctx.saved_tensors]
        return tangent

    @staticmethod
    def backward(ctx, grad):
        SavesForBoth.seen["backward"] = [t.tolist() for t in ctx.saved_tensors]
        return grad


class SavesForForwardOnly(Function):
    seen = {}

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_forward(x)
        return x * x

    @staticmethod
    def jvp(ctx, tangent):
        SavesForForwardOnly.seen["jvp"] = [t.tolist() for t in ctx.saved_tensors]
        return tangent

    @staticmethod
    def backward(ctx, grad):
        SavesForForwardOnly.seen["backward"] = [t.tolist() for t in ctx.saved_tensors]
        return grad


@pytest.mark.parametrize("fn", [pytest.param(SavesForBoth, id="save_for_forward-and-save_for_backward"),
                                pytest.param(SavesForForwardOnly, id="save_for_forward-only")])
def test_saved_tensors_in_jvp_and_backward(obs, device, fn):
    """ctx.saved_tensors in jvp gives what save_for_forward saved; in backward, what save_for_backward saved."""
    fn.seen = {}
    x = _primal(device).requires_grad_()
    fwAD = require("torch.autograd.forward_ad")
    with fwAD.dual_level():
        out = fn.apply(fwAD.make_dual(x, _tangent(device)))
    obs.outcome("backward", lambda: out.sum().backward())
    obs.fact("saved.value", fn.seen)


class JvpReturning(Function):
    returned = None

    @staticmethod
    def forward(ctx, x):
        return x * x

    @staticmethod
    def jvp(ctx, tangent):
        return JvpReturning.returned(tangent)


@pytest.mark.parametrize("returned", [
    pytest.param(lambda t: t[:1], id="wrong-shape"),
    pytest.param(lambda t: (t, t), id="too-many"),
    pytest.param(lambda t: t.double(), id="wrong-dtype"),
    pytest.param(lambda t: t.sum(), id="scalar-for-vector"),
])
def test_jvp_returns(obs, device, returned):
    """What forward AD does when jvp returns a wrong shape, too many tangents, another dtype or a scalar."""
    JvpReturning.returned = returned
    result = obs.outcome("forward_ad", lambda: _forward_ad(JvpReturning.apply, _primal(device), _tangent(device)),
                         warns=False)
    if result is not None:
        obs.tensor("out_tangent", result[1])


def test_jvp_returns_none(obs, device):
    """jvp returning None for a differentiable float output raises (an internal assert in some releases)."""
    JvpReturning.returned = lambda t: None
    result, raised = None, None
    try:
        result = _forward_ad(JvpReturning.apply, _primal(device), _tangent(device))
    except Exception as exc:  # the message names a C++ source line: record stable parts only
        raised = exc
    obs.fact("forward_ad.raises", None if raised is None else type(raised).__name__)
    obs.fact("internal_assert.value", raised is not None and "INTERNAL ASSERT FAILED" in str(raised))
    if result is not None:
        obs.tensor("out_tangent", result[1])


class MulInPlaceJvp(Function):
    tangent_in_place = True

    @staticmethod
    def forward(ctx, x):
        x.mul_(2)
        ctx.mark_dirty(x)
        return x

    @staticmethod
    def jvp(ctx, tangent):
        return tangent.mul_(2) if MulInPlaceJvp.tangent_in_place else tangent * 2


@pytest.mark.parametrize("tangent_in_place", [pytest.param(True, id="jvp-in-place"),
                                              pytest.param(False, id="jvp-out-of-place")])
def test_jvp_of_in_place_function(obs, device, tangent_in_place):
    """A Function that modifies its input in place must modify the tangent in place in jvp too."""
    MulInPlaceJvp.tangent_in_place = tangent_in_place
    result = obs.outcome("forward_ad", lambda: _forward_ad(MulInPlaceJvp.apply, _primal(device), _tangent(device)),
                         warns=False)
    _record_dual(obs, "out", result)


class ViewJvp(Function):
    forward_fn = None
    jvp_fn = None

    @staticmethod
    def forward(ctx, x):
        return ViewJvp.forward_fn(x)

    @staticmethod
    def jvp(ctx, tangent):
        return ViewJvp.jvp_fn(tangent)


@pytest.mark.parametrize("forward_fn,jvp_fn", [
    pytest.param(lambda x: x[:1], lambda t: t[:1], id="view-and-view"),
    pytest.param(lambda x: x[:1], lambda t: t[:1].clone(), id="view-and-copy"),
    pytest.param(lambda x: x, lambda t: t, id="input-and-tangent"),
    pytest.param(lambda x: x, lambda t: t * 3, id="input-and-new-tangent"),
])
def test_jvp_of_view_returning_function(obs, device, forward_fn, jvp_fn):
    """A Function whose forward returns a view (or its input) must return a view from jvp too."""
    ViewJvp.forward_fn, ViewJvp.jvp_fn = forward_fn, jvp_fn
    result = obs.outcome("forward_ad", lambda: _forward_ad(ViewJvp.apply, _primal(device), _tangent(device)),
                         warns=False)
    _record_dual(obs, "out", result)


class SortJvp(Function):
    @staticmethod
    def forward(ctx, x):
        values, indices = x.sort()
        ctx.mark_non_differentiable(indices)
        ctx.save_for_forward(indices)
        return values, indices

    @staticmethod
    def jvp(ctx, tangent):
        (indices,) = ctx.saved_tensors
        return tangent.gather(0, indices), None


def test_jvp_with_non_differentiable_output(obs, device):
    """jvp returns None for an output marked non-differentiable; that output has no tangent."""
    fwAD = require("torch.autograd.forward_ad")
    with fwAD.dual_level():
        values, indices = SortJvp.apply(fwAD.make_dual(torch.tensor([2.0, 1.0], device=device),
                                                       torch.tensor([10.0, 20.0], device=device)))
        obs.tensor("values_tangent", fwAD.unpack_dual(values).tangent)
        obs.fact("indices_tangent.value", fwAD.unpack_dual(indices).tangent is None)


class OnceDifferentiableWithJvp(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_forward(x)
        return x * x

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        raise AssertionError("not reached in forward AD")

    @staticmethod
    def jvp(ctx, tangent):
        (x,) = ctx.saved_tensors
        return 2 * x * tangent


class OnceDifferentiableNoJvp(Function):
    @staticmethod
    def forward(ctx, x):
        return x * x

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        raise AssertionError("not reached in forward AD")


@pytest.mark.parametrize("fn", [pytest.param(OnceDifferentiableWithJvp, id="with-jvp"),
                                pytest.param(OnceDifferentiableNoJvp, id="without-jvp")])
def test_once_differentiable_with_forward_ad(obs, device, fn):
    """once_differentiable restricts backward only: forward AD uses jvp, or raises when there is none."""
    result = obs.outcome("forward_ad", lambda: _forward_ad(fn.apply, _primal(device), _tangent(device)), warns=False)
    _record_dual(obs, "out", result)


# vmap support


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


class SquareGenerateVmapRule(SquareSetupContext):
    generate_vmap_rule = True


class SquareVmapStaticmethod(SquareSetupContext):
    @staticmethod
    def vmap(info, in_dims, x):
        return x * x, in_dims[0]


class MulVmapStaticmethod(Function):
    info = None

    @staticmethod
    def forward(x, y, factor):
        return x * y * factor

    @staticmethod
    def setup_context(ctx, inputs, output):
        pass

    @staticmethod
    def backward(ctx, grad):
        raise AssertionError("not reached under vmap alone")

    @staticmethod
    def vmap(info, in_dims, x, y, factor):
        MulVmapStaticmethod.info = [info.batch_size, info.randomness, ["None" if d is None else d for d in in_dims]]
        x = x.movedim(in_dims[0], 0)
        return x * y * factor, 0


class SquareBothVmapWays(SquareSetupContext):
    generate_vmap_rule = True

    @staticmethod
    def vmap(info, in_dims, x):
        return x * x, in_dims[0]


class SquareCtxStyle(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2 * x * grad


class SquareCtxStyleGenerateVmapRule(SquareCtxStyle):
    generate_vmap_rule = True


VMAP_FUNCTIONS = [
    pytest.param(SquareSetupContext, id="no-vmap-support"),
    pytest.param(SquareGenerateVmapRule, id="generate_vmap_rule"),
    pytest.param(SquareVmapStaticmethod, id="vmap-staticmethod"),
    pytest.param(SquareBothVmapWays, id="both-ways"),
    pytest.param(SquareCtxStyle, id="ctx-style"),
    pytest.param(SquareCtxStyleGenerateVmapRule, id="ctx-style-with-rule"),
]


@pytest.mark.parametrize("fn", VMAP_FUNCTIONS)
def test_vmap_over_function(obs, device, fn):
    """vmap over a custom Function needs generate_vmap_rule or a vmap staticmethod (not both) and setup_context."""
    vmap = require("torch.func.vmap")
    xs = torch.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    out = obs.outcome("vmap", lambda: vmap(fn.apply)(xs), warns=False)
    if out is not None:
        obs.tensor("out", out)


@pytest.mark.parametrize("randomness", [pytest.param("error", id="randomness-error"),
                                        pytest.param("same", id="randomness-same")])
def test_vmap_staticmethod_info(obs, device, randomness):
    """The vmap staticmethod gets info.batch_size, info.randomness and each argument's in_dim (None: not batched)."""
    vmap = require("torch.func.vmap")
    MulVmapStaticmethod.info = None
    xs = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], device=device)
    y = torch.tensor([1.0, 10.0], device=device)
    out = vmap(MulVmapStaticmethod.apply, in_dims=(1, None, None), randomness=randomness)(xs, y, 2.0)
    obs.fact("info.value", MulVmapStaticmethod.info)
    obs.tensor("out", out)


class VmapReturning(SquareSetupContext):
    returned = None

    @staticmethod
    def vmap(info, in_dims, x):
        return VmapReturning.returned(x, in_dims)


@pytest.mark.parametrize("returned", [
    pytest.param(lambda x, in_dims: x * x, id="output-only"),
    pytest.param(lambda x, in_dims: (x * x, (0, 0)), id="out_dims-of-wrong-structure"),
])
def test_vmap_staticmethod_returns(obs, device, returned):
    """A vmap staticmethod must return (output, out_dims) with matching structure; otherwise vmap raises."""
    vmap = require("torch.func.vmap")
    VmapReturning.returned = returned
    xs = torch.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    obs.outcome("vmap", lambda: vmap(VmapReturning.apply)(xs), warns=False)


class GenerateVmapRuleInPlace(Function):
    generate_vmap_rule = True

    @staticmethod
    def forward(x):
        return x.mul_(2)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.mark_dirty(inputs[0])

    @staticmethod
    def backward(ctx, grad):
        return grad * 2


def test_generate_vmap_rule_with_mark_dirty(obs, device):
    """generate_vmap_rule with an in-place forward that marks its input dirty: what vmap does."""
    vmap = require("torch.func.vmap")
    xs = torch.tensor([[1.0, 2.0], [3.0, 4.0]], device=device)
    out = obs.outcome("vmap", lambda: vmap(GenerateVmapRuleInPlace.apply)(xs), warns=False)
    if out is not None:
        obs.tensor("out", out)


# torch.func transforms


class SquareSetupContextJvp(SquareGenerateVmapRule):
    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])
        ctx.save_for_forward(inputs[0])

    @staticmethod
    def jvp(ctx, tangent):
        (x,) = ctx.saved_tensors
        return 2 * x * tangent


def _func_grad(fn, device):
    grad = require("torch.func.grad")
    return grad(fn.apply)(torch.tensor(3.0, device=device))


def _func_jvp(fn, device):
    jvp = require("torch.func.jvp")
    return torch.stack(jvp(fn.apply, (torch.tensor(3.0, device=device),), (torch.tensor(1.0, device=device),)))


def _func_vjp(fn, device):
    vjp = require("torch.func.vjp")
    out, pullback = vjp(fn.apply, torch.tensor([1.0, 2.0], device=device))
    return pullback(torch.ones_like(out))[0]


def _func_jacrev(fn, device):
    jacrev = require("torch.func.jacrev")
    return jacrev(fn.apply)(torch.tensor([1.0, 2.0], device=device))


def _func_vmap_grad(fn, device):
    grad, vmap = require("torch.func.grad"), require("torch.func.vmap")
    return vmap(grad(fn.apply))(torch.tensor([1.0, 2.0], device=device))


TRANSFORMS = [
    pytest.param(_func_grad, id="grad"),
    pytest.param(_func_vjp, id="vjp"),
    pytest.param(_func_jacrev, id="jacrev"),
    pytest.param(_func_jvp, id="jvp"),
    pytest.param(_func_vmap_grad, id="grad-under-vmap"),
]

TRANSFORMED_FUNCTIONS = [
    pytest.param(SquareSetupContext, id="setup_context"),
    pytest.param(SquareSetupContextJvp, id="setup_context-with-jvp-and-rule"),
    pytest.param(SquareCtxStyle, id="ctx-style"),
]


@pytest.mark.parametrize("fn", TRANSFORMED_FUNCTIONS)
@pytest.mark.parametrize("transform", TRANSFORMS)
def test_func_transforms_over_function(obs, device, transform, fn):
    """torch.func transforms need setup_context; jvp needs a jvp; vmap of grad needs vmap support."""
    out = obs.outcome("transform", lambda: transform(fn, device), warns=False)
    if out is not None:
        obs.tensor("out", out)
