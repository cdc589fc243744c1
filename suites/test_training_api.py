"""The torch.nn utilities training loops lean on: gradient clipping, parameter vectors, functional_call,
parametrizations and weight norm, grad hygiene of modules and Parameters, and loss reduction conventions."""

import inspect

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from autograd_conformance.observe import require

F64 = torch.float64


def _keyword(fn, name):
    """Skip the probe when ``fn`` has no parameter ``name`` in this torch."""
    if name not in inspect.signature(fn).parameters:
        pytest.skip(f"{fn.__name__} has no {name!r} argument in torch {torch.__version__}")


def _t(values, device):
    return torch.tensor(values, device=device, dtype=F64)


def _with_grads(device, *grads):
    """float64 Parameters of ones whose .grad is the given values, filled by one backward."""
    params = [nn.Parameter(torch.ones(len(g), device=device, dtype=F64)) for g in grads]
    sum((p * _t(g, device)).sum() for p, g in zip(params, grads)).backward()
    return params


def _linear(device, n_in=3, n_out=2):
    """nn.Linear in float64 with weight arange/10 and bias [1, -1, ...]."""
    lin = nn.Linear(n_in, n_out, device=device, dtype=F64)
    with torch.no_grad():
        lin.weight.copy_(torch.arange(n_out * n_in, device=device, dtype=F64).reshape(n_out, n_in) / 10)
        lin.bias.copy_(torch.tensor([(-1.0) ** i for i in range(n_out)], device=device, dtype=F64))
    return lin


def _input(device, rows=2, cols=3):
    return torch.linspace(-1.0, 2.0, rows * cols, device=device, dtype=F64).reshape(rows, cols)


# clip_grad_norm_ / clip_grad_value_ / get_total_norm / clip_grads_with_norm_
# parametrize values stay JSON-safe (the report records them): norms and bad values as strings, not float('inf')
@pytest.mark.parametrize("norm_type", [pytest.param("2", id="norm-2"), pytest.param("inf", id="norm-inf"),
                                       pytest.param("1", id="norm-1"), pytest.param("0.5", id="norm-0.5")])
def test_clip_grad_norm(obs, device, norm_type):
    """clip_grad_norm_ returns the total norm over all grads and scales them in place by max_norm/(norm+1e-6)."""
    params = _with_grads(device, [3.0, -4.0], [12.0])
    grad_before = params[0].grad
    total = nn.utils.clip_grad_norm_(params, max_norm=1.0, norm_type=float(norm_type))
    obs.tensor("total_norm", total)
    obs.facts_of("total_norm", total, "requires_grad")
    obs.facts_of("p0", params[0], "grad")
    obs.facts_of("p1", params[1], "grad")
    obs.fact("grad_object_kept.same", params[0].grad is grad_before)


def test_clip_grad_norm_parameter_without_grad(obs, device):
    """A parameter whose .grad is None is left out of the norm and keeps .grad None."""
    params = _with_grads(device, [3.0, -4.0])
    params.append(nn.Parameter(torch.ones(2, device=device, dtype=F64)))
    total = nn.utils.clip_grad_norm_(params, max_norm=1.0)
    obs.tensor("total_norm", total)
    obs.facts_of("p0", params[0], "grad")
    obs.facts_of("p1", params[1], "grad")


def test_clip_grad_norm_below_max_norm(obs, device):
    """With max_norm above the total norm the grads keep their values; they are still multiplied in place (by 1)."""
    params = _with_grads(device, [3.0, -4.0], [12.0])
    grad_before = params[0].grad
    version_before = grad_before._version
    total = nn.utils.clip_grad_norm_(params, max_norm=100.0)
    obs.tensor("total_norm", total)
    obs.facts_of("p0", params[0], "grad")
    obs.facts_of("p1", params[1], "grad")
    obs.fact("grad_object_kept.same", params[0].grad is grad_before)
    obs.fact("grad_version_bumped.value", grad_before._version - version_before)


@pytest.mark.parametrize("bad, error", [pytest.param("inf", True, id="inf-error_if_nonfinite"),
                                        pytest.param("inf", False, id="inf-default"),
                                        pytest.param("nan", True, id="nan-error_if_nonfinite"),
                                        pytest.param("nan", False, id="nan-default")])
def test_clip_grad_norm_nonfinite(obs, device, bad, error):
    """A non-finite grad: error_if_nonfinite=True raises before touching grads; otherwise the grads are scaled."""
    params = _with_grads(device, [3.0, -4.0], [1.0])
    with torch.no_grad():
        params[1].grad.fill_(float(bad))
    total = obs.outcome("clip", lambda: nn.utils.clip_grad_norm_(params, max_norm=1.0, error_if_nonfinite=error))
    if total is not None:
        obs.tensor("total_norm", total)
    obs.facts_of("p0", params[0], "grad")
    obs.facts_of("p1", params[1], "grad")


@pytest.mark.parametrize("foreach", [pytest.param(True, id="foreach-True"), pytest.param(False, id="foreach-False")])
def test_clip_grad_norm_foreach(obs, device, foreach):
    """foreach=True and foreach=False give the same total norm and grads as the default implementation."""
    _keyword(nn.utils.clip_grad_norm_, "foreach")
    reference = _with_grads(device, [3.0, -4.0], [12.0, 0.5])
    ref_total = nn.utils.clip_grad_norm_(reference, max_norm=1.0)
    params = _with_grads(device, [3.0, -4.0], [12.0, 0.5])
    total = obs.outcome("clip", lambda: nn.utils.clip_grad_norm_(params, max_norm=1.0, foreach=foreach))
    if total is not None:
        obs.fact("total_norm_equal.same", torch.equal(total, ref_total))
        obs.fact("grads_equal.same", all(torch.equal(p.grad, r.grad) for p, r in zip(params, reference)))


@pytest.mark.parametrize("make", [pytest.param(lambda: [], id="empty-list"),
                                  pytest.param(lambda: (p for p in []), id="empty-generator")])
def test_clip_grad_norm_empty(obs, make):
    """clip_grad_norm_ of no parameters returns a zero norm (an empty generator warns on newer releases)."""
    total = obs.outcome("clip", lambda: nn.utils.clip_grad_norm_(make(), max_norm=1.0))
    if total is not None:
        obs.tensor("total_norm", total)


def test_clip_grad_value(obs, device):
    """clip_grad_value_ clamps every grad to [-clip, clip] in place, skips parameters without grad, returns None."""
    params = _with_grads(device, [3.0, -4.0, 0.5], [-1.5])
    params.append(nn.Parameter(torch.ones(1, device=device, dtype=F64)))
    grad_before = params[0].grad
    result = nn.utils.clip_grad_value_(params, clip_value=1.0)
    obs.fact("result.value", repr(result))
    obs.facts_of("p0", params[0], "grad")
    obs.facts_of("p1", params[1], "grad")
    obs.facts_of("p2", params[2], "grad")
    obs.fact("grad_object_kept.same", params[0].grad is grad_before)


def test_get_total_norm_then_clip_grads_with_norm(obs, device):
    """get_total_norm of the grads then clip_grads_with_norm_ equals clip_grad_norm_ in one call."""
    get_total_norm = require("torch.nn.utils.get_total_norm")
    clip_grads_with_norm_ = require("torch.nn.utils.clip_grads_with_norm_")
    reference = _with_grads(device, [3.0, -4.0], [12.0])
    ref_total = nn.utils.clip_grad_norm_(reference, max_norm=1.0)
    params = _with_grads(device, [3.0, -4.0], [12.0])
    total = get_total_norm([p.grad for p in params])
    obs.tensor("total_norm", total)
    clip_grads_with_norm_(params, 1.0, total)
    obs.fact("total_norm_equal.same", torch.equal(total, ref_total))
    obs.facts_of("p0", params[0], "grad")
    obs.fact("grads_equal.same", all(torch.equal(p.grad, r.grad) for p, r in zip(params, reference)))


# parameters_to_vector / vector_to_parameters
def test_parameters_to_vector(obs, device):
    """parameters_to_vector concatenates flattened parameters into a non-leaf (CatBackward0) that backprops to them."""
    lin = _linear(device, 2, 2)
    vec = nn.utils.parameters_to_vector(lin.parameters())
    obs.tensor("vec", vec)
    obs.facts_of("vec", vec)
    (vec * torch.arange(6.0, device=device, dtype=F64)).sum().backward()
    obs.facts_of("weight", lin.weight, "grad")
    obs.facts_of("bias", lin.bias, "grad")


@pytest.mark.parametrize("vec_requires_grad", [pytest.param(False, id="plain-vector"),
                                               pytest.param(True, id="vector-with-history")])
def test_vector_to_parameters(obs, device, vec_requires_grad):
    """vector_to_parameters swaps each parameter's .data for a slice of the vector: leaves kept, storage shared."""
    lin = _linear(device, 2, 2)
    weight = lin.weight
    source = torch.arange(1.0, 7.0, device=device, dtype=F64, requires_grad=vec_requires_grad)
    vec = source * 2 if vec_requires_grad else source
    version_before = weight._version
    nn.utils.vector_to_parameters(vec, lin.parameters())
    obs.fact("weight_object_kept.same", lin.weight is weight)
    obs.facts_of("weight", lin.weight, "values", "is_leaf", "requires_grad", "grad_fn")
    obs.facts_of("bias", lin.bias, "values")
    obs.fact("weight_version_change.value", lin.weight._version - version_before)
    with torch.no_grad():
        vec.add_(100)
    obs.fact("vector_write_seen_by_bias.same", lin.bias[0].item() == vec[4].item())
    lin(torch.ones(1, 2, device=device, dtype=F64)).sum().backward()
    obs.facts_of("weight", lin.weight, "grad")
    obs.fact("source_grad_is_none.same", source.grad is None)


# functional_call
def test_functional_call_backward_to_passed_tensors(obs, device):
    """backward through torch.func.functional_call fills the passed tensors' .grad; the module's own stay None."""
    fc = require("torch.func.functional_call")
    lin = _linear(device)
    params = {"weight": torch.ones(2, 3, device=device, dtype=F64, requires_grad=True),
              "bias": torch.zeros(2, device=device, dtype=F64, requires_grad=True)}
    out = fc(lin, params, (_input(device),))
    obs.facts_of("out", out, "values", "grad_fn")
    F.cross_entropy(out, torch.tensor([0, 1], device=device)).backward()
    obs.facts_of("passed_weight", params["weight"], "grad")
    obs.facts_of("passed_bias", params["bias"], "grad")
    obs.facts_of("module_weight", lin.weight, "grad")


def test_func_grad_matches_backward_through_functional_call(obs, device):
    """torch.func.grad of a cross_entropy loss w.r.t. a parameter dict equals backward through functional_call."""
    fc = require("torch.func.functional_call")
    lin = _linear(device)
    x, target = _input(device), torch.tensor([0, 1], device=device)
    params = {k: v.detach() for k, v in lin.named_parameters()}
    grads = torch.func.grad(lambda p: F.cross_entropy(fc(lin, p, (x,)), target))(params)
    obs.tensor("grad_weight", grads["weight"])
    obs.tensor("grad_bias", grads["bias"])
    F.cross_entropy(lin(x), target).backward()
    obs.fact("equals_backward.same", all(torch.allclose(grads[k], p.grad, rtol=1e-12, atol=0)
                                         for k, p in lin.named_parameters()))


class _Tied(nn.Module):
    """Two Linear layers sharing one weight Parameter (like tied embeddings)."""

    def __init__(self, device):
        super().__init__()
        self.a = _linear(device, 2, 2)
        self.b = nn.Linear(2, 2, bias=False, device=device, dtype=F64)
        self.b.weight = self.a.weight

    def forward(self, x):
        return self.b(self.a(x))


@pytest.mark.parametrize("tie_weights, given", [
    pytest.param(True, "a", id="tied-pass-one-name"),
    pytest.param(False, "a", id="untied-pass-one-name"),
    pytest.param(True, "both-different", id="tied-pass-both-different"),
])
def test_functional_call_tie_weights(obs, device, tie_weights, given):
    """functional_call(tie_weights=True) uses a tensor given for one tied name for all; False: for that name only."""
    fc = require("torch.func.functional_call")
    _keyword(fc, "tie_weights")
    model = _Tied(device)
    w = torch.eye(2, device=device, dtype=F64).requires_grad_()
    params = {"a.weight": w}
    if given == "both-different":
        params["b.weight"] = 2 * torch.eye(2, device=device, dtype=F64)
    x = torch.tensor([[1.0, 2.0]], device=device, dtype=F64)
    out = obs.outcome("call", lambda: fc(model, params, (x,), tie_weights=tie_weights), warns=False)
    if out is not None:
        obs.tensor("out", out)
        out.sum().backward()
        obs.facts_of("w", w, "grad")


def test_functional_call_buffer_updated_in_place(obs, device):
    """A BatchNorm running_mean passed to functional_call in train mode is updated in place; the module's is not."""
    fc = require("torch.func.functional_call")
    bn = nn.BatchNorm1d(2, device=device, dtype=F64)
    running_mean = torch.zeros(2, device=device, dtype=F64)
    x = torch.tensor([[1.0, 2.0], [3.0, 6.0]], device=device, dtype=F64)
    fc(bn, {"running_mean": running_mean}, (x,))
    obs.tensor("passed_running_mean", running_mean)
    obs.tensor("module_running_mean", bn.running_mean)
    obs.tensor("module_num_batches_tracked", bn.num_batches_tracked)


def test_stateless_functional_call(obs, device):
    """torch.nn.utils.stateless.functional_call works like torch.func.functional_call and warns it is deprecated."""
    stateless_call = require("torch.nn.utils.stateless.functional_call")
    lin = _linear(device)
    params = {"weight": torch.ones(2, 3, device=device, dtype=F64)}
    out = obs.outcome("call", lambda: stateless_call(lin, params, (_input(device),)))
    if out is not None:
        obs.tensor("out", out)


# parametrizations
class _Symmetric(nn.Module):
    def forward(self, X):
        return X.triu() + X.triu(1).transpose(-1, -2)


class _Scale(nn.Module):
    def forward(self, X):
        return 2 * X

    def right_inverse(self, A):
        return A / 2


def _parametrized_linear(device, parametrization):
    lin = _linear(device, 3, 3)
    nn.utils.parametrize.register_parametrization(lin, "weight", parametrization)
    return lin


def test_parametrized_weight_grad_reaches_original(obs, device):
    """A parametrized weight is recomputed non-leaf; backward accumulates into parametrizations.weight.original."""
    lin = _parametrized_linear(device, _Symmetric())
    weight = lin.weight
    obs.facts_of("weight", weight, "is_leaf", "requires_grad", "grad_fn", "values")
    obs.fact("weight_is_parameter.value", isinstance(weight, nn.Parameter))
    obs.fact("recomputed_each_access.same", lin.weight is not weight)
    original = lin.parametrizations.weight.original
    obs.facts_of("original", original, "is_leaf", "requires_grad")
    obs.fact("parameter_names.value", sorted(n for n, _ in lin.named_parameters()))
    lin(_input(device, 2, 3)).sum().backward()
    obs.facts_of("original", original, "grad")


def test_parametrize_cached(obs, device):
    """Inside parametrize.cached() the weight is computed once per access pattern; grads equal the uncached ones."""
    lin = _parametrized_linear(device, _Symmetric())
    x = _input(device, 2, 3)
    lin(x).sum().backward()
    uncached = lin.parametrizations.weight.original.grad.clone()
    lin.zero_grad()
    with nn.utils.parametrize.cached():
        first = lin.weight
        obs.fact("cached_same_object.same", lin.weight is first)
        (lin(x).sum() + lin(x).sum()).backward()
    obs.fact("grad_twice_uncached.same", torch.equal(lin.parametrizations.weight.original.grad, 2 * uncached))
    obs.fact("outside_same_object.same", lin.weight is lin.weight)


@pytest.mark.parametrize("parametrization", [pytest.param(_Scale, id="with-right_inverse"),
                                             pytest.param(_Symmetric, id="without-right_inverse")])
def test_parametrize_right_inverse(obs, device, parametrization):
    """Registering and assigning go through right_inverse: original = right_inverse(value); without it assign raises."""
    lin = _parametrized_linear(device, parametrization())
    obs.tensor("original_at_register", lin.parametrizations.weight.original)
    target = torch.eye(3, device=device, dtype=F64) * 4
    obs.outcome("assign", lambda: setattr(lin, "weight", target))
    obs.tensor("original_after_assign", lin.parametrizations.weight.original)
    obs.facts_of("original", lin.parametrizations.weight.original, "is_leaf", "requires_grad")
    obs.tensor("weight_after_assign", lin.weight)


@pytest.mark.parametrize("leave_parametrized", [pytest.param(True, id="leave_parametrized-True"),
                                                pytest.param(False, id="leave_parametrized-False")])
def test_remove_parametrizations(obs, device, leave_parametrized):
    """remove_parametrizations puts back a leaf Parameter: the parametrized value or the original."""
    lin = _parametrized_linear(device, _Scale())
    nn.utils.parametrize.remove_parametrizations(lin, "weight", leave_parametrized=leave_parametrized)
    obs.fact("weight_is_parameter.value", isinstance(lin.weight, nn.Parameter))
    obs.facts_of("weight", lin.weight, "is_leaf", "requires_grad", "values")
    lin(_input(device, 1, 3)).sum().backward()
    obs.facts_of("weight", lin.weight, "grad")


# weight norm and spectral norm
def _weight_norm_linear(device, kind):
    lin = _linear(device, 2, 2)
    if kind == "parametrizations":
        wn = require("torch.nn.utils.parametrizations.weight_norm")
        return lin, wn, ("parametrizations.weight.original0", "parametrizations.weight.original1")
    return lin, nn.utils.weight_norm, ("weight_g", "weight_v")


@pytest.mark.parametrize("kind", [pytest.param("parametrizations", id="parametrizations.weight_norm"),
                                  pytest.param("legacy", id="utils.weight_norm")])
def test_weight_norm_grads(obs, device, kind):
    """weight_norm splits weight into g (row norms) and v; backward gives both their gradients."""
    lin, weight_norm, (g_name, v_name) = _weight_norm_linear(device, kind)
    lin = obs.outcome("register", lambda: weight_norm(lin))
    named = dict(lin.named_parameters())
    g, v = named[g_name], named[v_name]
    obs.tensor("g", g)
    obs.tensor("v", v)
    obs.fact("parameter_names.value", sorted(named))
    obs.tensor("weight", lin.weight)
    out = lin(torch.tensor([[1.0, -2.0], [0.5, 3.0]], device=device, dtype=F64))
    (out * torch.tensor([[1.0, 2.0], [3.0, 4.0]], device=device, dtype=F64)).sum().backward()
    obs.facts_of("g", g, "grad")
    obs.facts_of("v", v, "grad")


def test_spectral_norm_structure(obs, device):
    """parametrizations.spectral_norm: weight is a non-leaf, the original a leaf, u/v are buffers without grad."""
    spectral_norm = require("torch.nn.utils.parametrizations.spectral_norm")
    lin = spectral_norm(_linear(device, 2, 2))
    obs.facts_of("weight", lin.weight, "is_leaf", "requires_grad")
    obs.fact("parameter_names.value", sorted(n for n, _ in lin.named_parameters()))
    obs.fact("buffer_names.value", sorted(n for n, _ in lin.named_buffers()))
    u = lin.parametrizations.weight[0]._u
    obs.facts_of("u", u, "is_leaf", "requires_grad", "shape")
    lin.eval()
    obs.fact("eval_weight_stable.same", torch.equal(lin.weight, lin.weight))
    lin(torch.ones(1, 2, device=device, dtype=F64)).sum().backward()
    obs.facts_of("original", lin.parametrizations.weight.original, "requires_grad")
    obs.fact("original_has_grad.value", lin.parametrizations.weight.original.grad is not None)


# module and Parameter grad hygiene
def test_module_zero_grad_set_to_none_false_keeps_tensor(obs, device):
    """module.zero_grad(set_to_none=False) zeroes each .grad in place, keeping the same tensor object."""
    lin = _linear(device)
    lin(_input(device)).sum().backward()
    grad = lin.weight.grad
    lin.zero_grad(set_to_none=False)
    obs.fact("grad_object_kept.same", lin.weight.grad is grad)
    obs.facts_of("weight", lin.weight, "grad")


@pytest.mark.parametrize("frozen", [pytest.param("first", id="first-layer-frozen"),
                                    pytest.param("all", id="all-frozen")])
def test_module_requires_grad_false(obs, device, frozen):
    """module.requires_grad_(False) freezes its parameters: backward fills only the others; all frozen: no backward."""
    model = nn.Sequential(_linear(device, 3, 2), _linear(device, 2, 1))
    (model if frozen == "all" else model[0]).requires_grad_(False)
    out = model(_input(device))
    obs.facts_of("out", out, "requires_grad", "grad_fn")
    obs.outcome("backward", lambda: out.sum().backward())
    obs.facts_of("first_weight", model[0].weight, "requires_grad", "grad")
    obs.facts_of("second_weight", model[1].weight, "requires_grad", "grad")


PARAMETER_SOURCES = [
    pytest.param(lambda d: torch.ones(2, device=d), id="plain-tensor"),
    pytest.param(lambda d: torch.ones(2, device=d, requires_grad=True) * 2, id="non-leaf"),
    pytest.param(lambda d: torch.ones(2, device=d, dtype=torch.int64), id="int64"),
    pytest.param(lambda d: nn.Parameter(torch.ones(2, device=d)), id="parameter"),
]


@pytest.mark.parametrize("no_grad", [pytest.param(False, id="grad-enabled"), pytest.param(True, id="no_grad")])
@pytest.mark.parametrize("make", PARAMETER_SOURCES)
def test_parameter_of_tensor(obs, device, make, no_grad):
    """nn.Parameter(t) is a leaf requiring grad that shares t's storage, whatever t's history or the grad mode."""
    source = make(device)
    if no_grad:
        with torch.no_grad():
            p = obs.outcome("parameter", lambda: nn.Parameter(source))
    else:
        p = obs.outcome("parameter", lambda: nn.Parameter(source))
    if p is not None:
        obs.facts_of("p", p)
        obs.fact("p_is_source.same", p is source)
        obs.fact("shared_storage.same", p.data_ptr() == source.data_ptr())


DERIVED = [
    pytest.param(lambda p: p.detach(), id="detach"),
    pytest.param(lambda p: p.data, id="data"),
    pytest.param(lambda p: p * 2, id="mul"),
    pytest.param(lambda p: p.clone(), id="clone"),
    pytest.param(lambda p: p.view(2), id="view"),
    pytest.param(lambda p: p[0], id="index"),
    pytest.param(lambda p: p.to(F64), id="to-float64"),
    pytest.param(lambda p: p.to(torch.float32), id="to-same-dtype"),
    pytest.param(lambda p: p.requires_grad_(False), id="requires_grad_-False"),
]


@pytest.mark.parametrize("derive", DERIVED)
def test_tensor_derived_from_parameter(obs, device, derive):
    """What type a tensor derived from a Parameter has: only calls that return the Parameter itself keep the type."""
    p = nn.Parameter(torch.ones(2, device=device))
    result = derive(p)
    obs.fact("result_type.name", type(result).__name__)
    obs.fact("result_is_p.same", result is p)
    obs.facts_of("result", result)


@pytest.mark.parametrize("convert", [pytest.param(lambda m: m.to(F64), id="to-float64"),
                                     pytest.param(lambda m: m.double(), id="double"),
                                     pytest.param(lambda m: m.to(torch.float32), id="to-same-dtype")])
def test_module_dtype_conversion_keeps_grad(obs, device, convert):
    """Module dtype conversion keeps the Parameter objects and converts an existing .grad along with them."""
    lin = nn.Linear(2, 1, device=device)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[1.0, 2.0]]))
    lin(torch.tensor([[0.5, -1.0]], device=device)).sum().backward()
    weight, grad = lin.weight, lin.weight.grad
    convert(lin)
    obs.fact("weight_object_kept.same", lin.weight is weight)
    obs.fact("grad_object_kept.same", lin.weight.grad is grad)
    obs.facts_of("weight", lin.weight, "dtype", "is_leaf", "requires_grad", "grad")
    obs.fact("weight_is_parameter.value", isinstance(lin.weight, nn.Parameter))


def test_gradient_accumulation_across_backward(obs, device):
    """Two backward calls on half-batch losses accumulate into .grad: the sum equals the full-batch gradient."""
    lin = _linear(device)
    x = _input(device, 4, 3)
    target = torch.tensor([0, 1, 1, 0], device=device)
    for chunk in range(2):
        rows = slice(2 * chunk, 2 * chunk + 2)
        (F.cross_entropy(lin(x[rows]), target[rows]) / 2).backward()
    obs.facts_of("weight", lin.weight, "grad")
    obs.facts_of("bias", lin.bias, "grad")
    accumulated = lin.weight.grad.clone()
    lin.zero_grad()
    F.cross_entropy(lin(x), target).backward()
    obs.fact("equals_full_batch.same", torch.allclose(accumulated, lin.weight.grad, rtol=1e-12, atol=1e-15))


# loss reduction conventions
def _logits(device):
    return _t([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0], [2.0, 2.0, 2.0]], device)


def _targets(device, values):
    return torch.tensor(values, device=device)


def _ctc(device, zero_infinity, target_length):
    def loss(log_probs):
        targets = torch.tensor([[1, 2, 1, 2]], device=device)
        return F.ctc_loss(log_probs.log_softmax(2), targets, torch.tensor([2]), torch.tensor([target_length]),
                          zero_infinity=zero_infinity)
    return loss


LOSSES = [
    pytest.param(lambda d: lambda x: F.cross_entropy(x, _targets(d, [0, -100, 2])), _logits,
                 id="cross_entropy-ignore_index-mean"),
    pytest.param(lambda d: lambda x: F.cross_entropy(x, _targets(d, [0, 1, 2]), weight=_t([1.0, 2.0, 4.0], d)),
                 _logits, id="cross_entropy-class-weights-mean"),
    pytest.param(lambda d: lambda x: F.cross_entropy(x, _targets(d, [0, 1, -100]), weight=_t([1.0, 2.0, 4.0], d)),
                 _logits, id="cross_entropy-class-weights-ignore_index"),
    pytest.param(lambda d: lambda x: F.cross_entropy(x, _targets(d, [0, -100, 2]), label_smoothing=0.2), _logits,
                 id="cross_entropy-label_smoothing-ignore_index"),
    pytest.param(lambda d: lambda x: F.cross_entropy(x, _targets(d, [0, 1, 2]), weight=_t([1.0, 2.0, 4.0], d),
                                                     label_smoothing=0.2),
                 _logits, id="cross_entropy-label_smoothing-class-weights"),
    pytest.param(lambda d: lambda x: F.cross_entropy(x, F.one_hot(_targets(d, [0, 1, 2]), 3).to(F64),
                                                     weight=_t([1.0, 2.0, 4.0], d)),
                 _logits, id="cross_entropy-probability-targets-class-weights"),
    pytest.param(lambda d: lambda x: F.cross_entropy(x, _targets(d, [0, -100, 2]), reduction="none"), _logits,
                 id="cross_entropy-ignore_index-none"),
    pytest.param(lambda d: lambda x: F.nll_loss(x.log_softmax(1), _targets(d, [-100, -100, -100])), _logits,
                 id="nll_loss-all-ignored-mean"),
    pytest.param(lambda d: lambda x: F.nll_loss(x.log_softmax(1), _targets(d, [-100, -100, -100]), reduction="sum"),
                 _logits, id="nll_loss-all-ignored-sum"),
    pytest.param(lambda d: lambda x: F.cross_entropy(x, _targets(d, [-100, -100, -100]), label_smoothing=0.2),
                 _logits, id="cross_entropy-all-ignored-label_smoothing"),
    pytest.param(lambda d: _ctc(d, False, 4), lambda d: torch.linspace(-1.0, 1.0, 6, device=d, dtype=F64)
                 .reshape(2, 1, 3), id="ctc_loss-impossible-alignment"),
    pytest.param(lambda d: _ctc(d, True, 4), lambda d: torch.linspace(-1.0, 1.0, 6, device=d, dtype=F64)
                 .reshape(2, 1, 3), id="ctc_loss-impossible-alignment-zero_infinity"),
    pytest.param(lambda d: _ctc(d, False, 1), lambda d: torch.linspace(-1.0, 1.0, 6, device=d, dtype=F64)
                 .reshape(2, 1, 3), id="ctc_loss-mean-divides-by-target-length"),
    pytest.param(lambda d: lambda x: F.binary_cross_entropy_with_logits(x, _t([1.0, 0.0, 1.0], d),
                                                                        pos_weight=_t([3.0, 3.0, 0.5], d)),
                 lambda d: _t([0.5, -1.0, 2.0], d), id="bce_with_logits-pos_weight"),
    pytest.param(lambda d: lambda x: F.binary_cross_entropy(x, _t([1.0, 0.0, 1.0], d)),
                 lambda d: _t([0.0, 1.0, 0.5], d), id="binary_cross_entropy-log-clamped"),
    pytest.param(lambda d: lambda x: F.smooth_l1_loss(x, _t([1.0, 0.0, 1.0], d), beta=0.0),
                 lambda d: _t([1.0, 0.5, -2.0], d), id="smooth_l1_loss-beta-0"),
    pytest.param(lambda d: lambda x: F.kl_div(x.log_softmax(1), _t([[0.2, 0.3, 0.5]] * 3, d), reduction="batchmean"),
                 _logits, id="kl_div-batchmean"),
    pytest.param(lambda d: lambda x: F.kl_div(x.log_softmax(1), _t([[0.2, 0.3, 0.5]] * 3, d), reduction="mean"),
                 _logits, id="kl_div-mean"),
    pytest.param(lambda d: lambda x: F.kl_div(x.log_softmax(1), _t([[0.2, 0.3, 0.5]] * 3, d).log(),
                                              reduction="batchmean", log_target=True),
                 _logits, id="kl_div-batchmean-log_target"),
    pytest.param(lambda d: lambda x: F.mse_loss(x, _t([1.0, 2.0], d)), lambda d: _t([[0.0], [3.0]], d),
                 id="mse_loss-broadcast-target"),
]


@pytest.mark.parametrize("make_loss, make_input", LOSSES)
def test_loss_reduction_convention(obs, device, make_loss, make_input):
    """A loss's forward value and input gradient under the reduction convention training code relies on."""
    x = make_input(device).requires_grad_()
    loss_fn = make_loss(device)
    loss = obs.outcome("loss", lambda: loss_fn(x))
    if loss is None:
        return
    obs.tensor("loss", loss)
    obs.outcome("backward", lambda: loss.sum().backward())
    obs.facts_of("x", x, "grad")
