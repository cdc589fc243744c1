"""Attribute guards of Tensor: writing or deleting is_leaf, grad_fn, requires_grad (non-bool values, non-leaves),
assigning .grad (itself, an alias, wrong shape, dtype, device type or type, then backward into it), grad_dtype rules,
_is_view()/_base of views and detached views, .data assignment (shape, dtype, layout, version counter, a graph that
saved the tensor), retains_grad and retain_grad(), calling a grad_fn node, and backward formulas that refuse."""

import numpy as np
import pytest
import torch

from autograd_conformance.dimensions import COMPLEX_DTYPES, FLOATING_DTYPES, dtype_params
from autograd_conformance.observe import require


def _leaf(device, dtype=torch.float32):
    return torch.tensor([1.0, 2.0], device=device, dtype=dtype, requires_grad=True)


def _setter(t, attr, value):
    def run():
        setattr(t, attr, value)
    return run


def _deleter(t, attr):
    def run():
        delattr(t, attr)
    return run


# read-only attributes
READ_ONLY_WRITES = [
    pytest.param("is_leaf", "leaf", False, id="is_leaf-of-leaf-to-False"),
    pytest.param("is_leaf", "non-leaf", True, id="is_leaf-of-non-leaf-to-True"),
    pytest.param("grad_fn", "leaf", None, id="grad_fn-of-leaf-to-None"),
    pytest.param("grad_fn", "non-leaf", None, id="grad_fn-of-non-leaf-to-None"),
    pytest.param("grad_fn", "non-leaf", "other-node", id="grad_fn-of-non-leaf-to-another-node"),
    pytest.param("retains_grad", "non-leaf", True, id="retains_grad-of-non-leaf-to-True"),
    pytest.param("_base", "view", None, id="_base-of-view-to-None"),
]


@pytest.mark.parametrize(("attr", "target", "value"), READ_ONLY_WRITES)
def test_write_read_only_attribute(obs, device, attr, target, value):
    """is_leaf, grad_fn, retains_grad and _base cannot be assigned (exact error); the tensor is unchanged."""
    x = _leaf(device)
    t = {"leaf": x, "non-leaf": x * 2, "view": x[:1]}[target]
    if value == "other-node":
        value = (x * 3).grad_fn
    obs.outcome("write", _setter(t, attr, value))
    obs.facts_of("t", t)


DELETIONS = [
    pytest.param("grad", "leaf-without-grad", id="grad-of-leaf-without-grad"),
    pytest.param("grad", "leaf-with-grad", id="grad-of-leaf-with-grad"),
    pytest.param("grad", "non-leaf", id="grad-of-non-leaf"),
    pytest.param("requires_grad", "leaf-with-grad", id="requires_grad-of-leaf"),
    pytest.param("requires_grad", "plain", id="requires_grad-of-plain-tensor"),
    pytest.param("grad_fn", "non-leaf", id="grad_fn-of-non-leaf"),
    pytest.param("is_leaf", "leaf-with-grad", id="is_leaf-of-leaf"),
    pytest.param("retains_grad", "non-leaf", id="retains_grad-of-non-leaf"),
    pytest.param("data", "leaf-with-grad", id="data-of-leaf"),
    pytest.param("_base", "view", id="_base-of-view"),
]


@pytest.mark.parametrize(("attr", "target"), DELETIONS)
def test_delete_attribute(obs, device, attr, target):
    """del on an autograd attribute: only .grad may be deleted (it becomes None); the others raise (exact error)."""
    x = _leaf(device)
    t = {
        "leaf-without-grad": x,
        "leaf-with-grad": x,
        "non-leaf": x * 2,
        "plain": torch.ones(2, device=device),
        "view": x[:1],
    }[target]
    if target == "leaf-with-grad":
        x.grad = torch.ones(2, device=device)
    obs.outcome("delete", _deleter(t, attr))
    obs.facts_of("t", t, "is_leaf", "requires_grad", "grad_fn", "grad")


# requires_grad
NON_BOOLS = [
    pytest.param(1, id="int-1"),
    pytest.param(0, id="int-0"),
    pytest.param(None, id="None"),
    pytest.param("yes", id="str-yes"),
    pytest.param("", id="empty-str"),
    pytest.param(1.0, id="float-1.0"),
    pytest.param("tensor-true", id="bool-tensor"),
]


def _set_attribute(device, value):
    t = torch.ones(2, device=device)
    t.requires_grad = value
    return t


def _requires_grad_(device, value):
    return torch.ones(2, device=device).requires_grad_(value)


REQUIRES_GRAD_PATHS = [
    pytest.param(_set_attribute, id="attribute"),
    pytest.param(_requires_grad_, id="requires_grad_"),
    pytest.param(lambda d, v: torch.ones(2, device=d, requires_grad=v), id="factory-ones"),
    pytest.param(lambda d, v: torch.tensor([1.0, 2.0], device=d, requires_grad=v), id="torch.tensor"),
]


@pytest.mark.parametrize("path", REQUIRES_GRAD_PATHS)
@pytest.mark.parametrize("value", NON_BOOLS)
def test_requires_grad_non_bool(obs, device, value, path):
    """requires_grad given a non-bool (1, 0, None, a string, a float, a bool tensor): refused or accepted per path."""
    if isinstance(value, str) and value == "tensor-true":
        value = torch.tensor(True)
    t = obs.outcome("set", lambda: path(device, value))
    if t is not None:
        obs.facts_of("t", t, "requires_grad", "is_leaf")


NON_LEAF_REQUIRES_GRAD = [
    pytest.param("attribute", True, id="attribute-True"),
    pytest.param("attribute", False, id="attribute-False"),
    pytest.param("requires_grad_", True, id="requires_grad_-True"),
    pytest.param("requires_grad_", False, id="requires_grad_-False"),
]


@pytest.mark.parametrize("target", [pytest.param(lambda x: x * 2, id="result"),
                                    pytest.param(lambda x: x[:1], id="leaf-slice")])
@pytest.mark.parametrize(("how", "flag"), NON_LEAF_REQUIRES_GRAD)
def test_requires_grad_on_non_leaf(obs, device, how, flag, target):
    """requires_grad of a non-leaf: the attribute refuses even True; requires_grad_(True) is a no-op, (False) raises."""
    t = target(_leaf(device))
    if how == "attribute":
        obs.outcome("set", _setter(t, "requires_grad", flag))
    else:
        obs.outcome("set", lambda: t.requires_grad_(flag))
    obs.facts_of("t", t)


def _int_attribute(device):
    t = torch.ones(2, device=device, dtype=torch.int64)
    t.requires_grad = True


@pytest.mark.parametrize("make", [
    pytest.param(_int_attribute, id="attribute"),
    pytest.param(lambda d: torch.ones(2, device=d, dtype=torch.int64).requires_grad_(), id="requires_grad_"),
    pytest.param(lambda d: torch.ones(2, device=d, dtype=torch.int64, requires_grad=True), id="factory"),
])
def test_requires_grad_on_integer_tensor(obs, device, make):
    """Asking an int64 tensor to require grad raises; the text depends on the path."""
    obs.outcome("set", lambda: make(device))


# .grad assignment
def test_grad_assign_itself(obs, device):
    """Assigning a tensor as its own .grad raises."""
    x = _leaf(device)
    obs.outcome("assign", _setter(x, "grad", x))
    obs.facts_of("x", x, "grad")


def test_grad_assign_alias_of_itself(obs, device):
    """Assigning x.detach() (same storage) as x.grad is allowed; backward then accumulates into x's own values."""
    x = _leaf(device)
    obs.outcome("assign", _setter(x, "grad", x.detach()))
    obs.outcome("backward", lambda: (x * 3).sum().backward())
    obs.facts_of("x", x, "values", "grad")
    obs.fact("storage.same", x.grad.data_ptr() == x.data_ptr())


NON_TENSORS = [
    pytest.param(0, id="int-0"),
    pytest.param(1.0, id="float"),
    pytest.param(True, id="bool"),
    pytest.param("cpu", id="device-string"),
    pytest.param((1.0, 1.0), id="tuple"),
    pytest.param(np.ones(2, dtype=np.float32), id="numpy-array"),
]


@pytest.mark.parametrize("value", NON_TENSORS)
def test_grad_assign_non_tensor(obs, device, value):
    """Assigning .grad anything but a Tensor or None raises TypeError naming the type."""
    x = _leaf(device)
    obs.outcome("assign", _setter(x, "grad", value))
    obs.facts_of("x", x, "grad")


def test_grad_assign_none_after_backward(obs, device):
    """Assigning None clears .grad; the next backward starts from a fresh gradient."""
    x = _leaf(device)
    (x * 2).sum().backward()
    obs.outcome("assign", _setter(x, "grad", None))
    obs.facts_of("cleared", x, "grad")
    (x * 3).sum().backward()
    obs.facts_of("x", x, "grad")


@pytest.mark.parametrize("shape", [
    pytest.param((3,), id="longer"),
    pytest.param((1, 2), id="extra-leading-dim"),
    pytest.param((2, 1), id="extra-trailing-dim"),
    pytest.param((), id="scalar"),
    pytest.param((0,), id="empty"),
])
def test_grad_assign_wrong_shape(obs, device, shape):
    """Assigning a .grad of another shape raises, naming both sizes (no broadcasting)."""
    x = _leaf(device)
    obs.outcome("assign", _setter(x, "grad", torch.ones(shape, device=device)))


@pytest.mark.parametrize("dtype", dtype_params(FLOATING_DTYPES + COMPLEX_DTYPES + [torch.int64, torch.bool]))
def test_grad_assign_dtype(obs, device, dtype):
    """Assigning a float32 leaf a .grad of each dtype: only float32 is accepted; the message names the dtype."""
    x = _leaf(device)
    obs.outcome("assign", _setter(x, "grad", torch.ones(2, device=device, dtype=dtype)))
    obs.facts_of("x", x, "grad")


@pytest.mark.parametrize("where", [pytest.param("grad-on-meta", id="grad-on-meta"),
                                   pytest.param("tensor-on-meta", id="tensor-on-meta")])
def test_grad_assign_device_type_mismatch(obs, device, where):
    """A .grad on another device type (meta vs the tensor's) raises, naming both device types."""
    if where == "grad-on-meta":
        x, g = _leaf(device), torch.ones(2, device="meta")
    else:
        x, g = torch.ones(2, device="meta", requires_grad=True), torch.ones(2, device=device)
    obs.outcome("assign", _setter(x, "grad", g))


def test_grad_assign_on_tensor_without_grad(obs, device):
    """A tensor that does not require grad accepts a .grad; backward elsewhere leaves it alone."""
    t = torch.ones(2, device=device)
    obs.outcome("assign", _setter(t, "grad", torch.full((2,), 5.0, device=device)))
    x = _leaf(device)
    (x * t).sum().backward()
    obs.facts_of("t", t, "requires_grad", "grad")


def test_grad_assign_on_non_leaf_then_backward(obs, device):
    """An assigned .grad on a non-leaf that does not retain grad is left untouched by backward."""
    x = _leaf(device)
    y = x * 2
    obs.outcome("assign", _setter(y, "grad", torch.full((2,), 5.0, device=device)))
    (y * 3).sum().backward()
    obs.facts_of("y", y, "grad", "retains_grad")
    obs.facts_of("x", x, "grad")


GRAD_KINDS = [
    pytest.param(lambda d: torch.ones(1, device=d).expand(2), id="expanded"),
    pytest.param(lambda d: torch.ones(2, 2, device=d)[:, 0], id="non-contiguous"),
    pytest.param(lambda d: torch.ones(2, device=d).to_sparse(), id="sparse"),
    pytest.param(lambda d: torch.ones(2, device=d, requires_grad=True), id="requires-grad"),
    pytest.param(lambda d: torch.ones(2, device=d, requires_grad=True) * 1, id="non-leaf"),
]


@pytest.mark.parametrize("make", GRAD_KINDS)
def test_backward_into_assigned_grad(obs, device, make):
    """Backward into an assigned .grad of an unusual kind: accumulated in place (same object) or replaced, or it raises."""
    x = _leaf(device)
    g = make(device)
    obs.outcome("assign", _setter(x, "grad", g))
    obs.outcome("backward", lambda: (x * 3).sum().backward())
    obs.fact("grad.same", x.grad is g)
    obs.facts_of("x", x, "grad")
    obs.facts_of("x.grad", x.grad, "requires_grad")


# grad_dtype
@pytest.mark.parametrize("make", [
    pytest.param(lambda d: _leaf(d), id="leaf-float32"),
    pytest.param(lambda d: _leaf(d, torch.float64), id="leaf-float64"),
    pytest.param(lambda d: torch.ones(2, device=d), id="plain-float32"),
    pytest.param(lambda d: torch.ones(2, device=d, dtype=torch.int64), id="plain-int64"),
    pytest.param(lambda d: torch.nn.Parameter(torch.ones(2, device=d, dtype=torch.float16)), id="parameter-float16"),
])
def test_grad_dtype_default(obs, device, make):
    """grad_dtype of a leaf defaults to the tensor's own dtype (also when it does not require grad)."""
    require("torch.Tensor.grad_dtype")
    t = make(device)
    value = obs.outcome("read", lambda: t.grad_dtype)
    obs.fact("grad_dtype.value", str(value))


def test_grad_dtype_on_non_leaf(obs, device):
    """Reading or setting grad_dtype of a non-leaf raises (two texts)."""
    require("torch.Tensor.grad_dtype")
    y = _leaf(device) * 2
    obs.outcome("read", lambda: y.grad_dtype)
    obs.outcome("set", _setter(y, "grad_dtype", torch.float16))


@pytest.mark.parametrize("value", [
    pytest.param(torch.float64, id="float64"),
    pytest.param(torch.float16, id="float16"),
    pytest.param(torch.float32, id="own-dtype"),
    pytest.param(torch.int64, id="int64"),
    pytest.param(None, id="None"),
    pytest.param("float64", id="string"),
])
def test_grad_dtype_set(obs, device, value):
    """Setting grad_dtype on a leaf without .grad: any torch.dtype (even int64) or None; other values raise."""
    require("torch.Tensor.grad_dtype")
    x = _leaf(device)
    obs.outcome("set", _setter(x, "grad_dtype", value))
    obs.fact("grad_dtype.value", str(x.grad_dtype))


def test_grad_dtype_rejects_mismatching_grad(obs, device):
    """With grad_dtype float16, assigning a float32 .grad raises and a float16 one is kept."""
    require("torch.Tensor.grad_dtype")
    x = _leaf(device)
    x.grad_dtype = torch.float16
    obs.outcome("assign_float32", _setter(x, "grad", torch.ones(2, device=device)))
    obs.outcome("assign_float16", _setter(x, "grad", torch.ones(2, device=device, dtype=torch.float16)))
    obs.facts_of("x", x, "grad")


@pytest.mark.parametrize("value", [pytest.param(torch.float32, id="same-as-grad"),
                                   pytest.param(torch.float16, id="other"),
                                   pytest.param(None, id="None")])
def test_grad_dtype_set_with_existing_grad(obs, device, value):
    """Changing grad_dtype while a .grad exists raises unless it matches the .grad's dtype or is None."""
    require("torch.Tensor.grad_dtype")
    x = _leaf(device)
    x.grad = torch.ones(2, device=device)
    obs.outcome("set", _setter(x, "grad_dtype", value))
    obs.fact("grad_dtype.value", str(x.grad_dtype))
    obs.facts_of("x", x, "grad")


@pytest.mark.parametrize("value", [pytest.param(torch.float64, id="float64"),
                                   pytest.param(torch.float16, id="float16"),
                                   pytest.param(None, id="None")])
def test_grad_dtype_backward(obs, device, value):
    """Backward casts the accumulated gradient to grad_dtype; with None it keeps the incoming gradient's dtype."""
    require("torch.Tensor.grad_dtype")
    x = _leaf(device)
    x.grad_dtype = value
    obs.outcome("backward", lambda: (x * 2).sum().backward())
    obs.facts_of("x", x, "grad")


def test_grad_dtype_after_data_assignment(obs, device):
    """After x.data = float64 data, grad_dtype follows the new dtype but an older graph still accumulates float32."""
    require("torch.Tensor.grad_dtype")
    x = _leaf(device)
    z = (x * 2).sum()
    x.data = torch.ones(2, device=device, dtype=torch.float64)
    obs.fact("grad_dtype.value", str(x.grad_dtype))
    obs.outcome("backward", z.backward)
    obs.facts_of("x", x, "dtype", "grad")


# views: _is_view() and _base
VIEWS = [
    pytest.param(lambda x, y: x, id="leaf-itself"),
    pytest.param(lambda x, y: x[1:], id="slice-of-leaf"),
    pytest.param(lambda x, y: x[1:][1:], id="slice-of-slice"),
    pytest.param(lambda x, y: x.view(2, 2), id="view"),
    pytest.param(lambda x, y: x.reshape(2, 2), id="reshape-viewable"),
    pytest.param(lambda x, y: x.view_as(x), id="view_as-self"),
    pytest.param(lambda x, y: x[...], id="ellipsis"),
    pytest.param(lambda x, y: x.expand(2, 4), id="expand"),
    pytest.param(lambda x, y: x.unsqueeze(0).T, id="unsqueeze-then-T"),
    pytest.param(lambda x, y: x.unbind()[0], id="unbind"),
    pytest.param(lambda x, y: x.split(2)[0], id="split"),
    pytest.param(lambda x, y: x.as_strided((2,), (1,)), id="as_strided"),
    pytest.param(lambda x, y: x.view(torch.int32), id="view-as-int32"),
    pytest.param(lambda x, y: x.flatten(), id="flatten-1d"),
    pytest.param(lambda x, y: x.contiguous(), id="contiguous"),
    pytest.param(lambda x, y: x.real, id="real-of-real"),
    pytest.param(lambda x, y: x[[0, 1]], id="advanced-index"),
    pytest.param(lambda x, y: x.clone(), id="clone"),
    pytest.param(lambda x, y: x.detach(), id="detach-of-leaf"),
    pytest.param(lambda x, y: x.data, id="data-of-leaf"),
    pytest.param(lambda x, y: x.detach()[1:], id="slice-of-detached-leaf"),
    pytest.param(lambda x, y: x[1:].detach(), id="slice-of-leaf-detached"),
    pytest.param(lambda x, y: y[1:], id="slice-of-non-leaf"),
    pytest.param(lambda x, y: y.detach(), id="detach-of-non-leaf"),
    pytest.param(lambda x, y: y[1:].detach(), id="slice-of-non-leaf-detached"),
    pytest.param(lambda x, y: y.detach()[1:], id="slice-of-detached-non-leaf"),
]


@pytest.mark.parametrize("make", VIEWS)
def test_view_base(obs, device, make):
    """_is_view() and what _base is (the leaf x, the non-leaf y, another tensor or None) for views and detached views."""
    x = torch.tensor([1.0, 2.0, 3.0, 4.0], device=device, requires_grad=True)
    y = x * 2
    v = make(x, y)
    obs.fact("is_view.value", v._is_view())
    base = v._base
    obs.fact("base.value", "None" if base is None else "x" if base is x else "y" if base is y else "other")
    if base is not None and base is not x and base is not y:
        obs.facts_of("base", base, "is_leaf", "requires_grad")
    obs.fact("result_is_source.same", v is x)
    obs.facts_of("v", v)


def test_view_under_no_grad_base(obs, device):
    """A view of a leaf taken under no_grad is a view with x as _base, yet a leaf without grad_fn that requires grad."""
    x = _leaf(device)
    with torch.no_grad():
        v = x[:1]
    obs.fact("is_view.value", v._is_view())
    obs.fact("base.same", v._base is x)
    obs.facts_of("v", v)


# .data assignment
DATA_VALUES = [
    pytest.param(lambda d: torch.ones(2, device=d), id="same-shape"),
    pytest.param(lambda d: torch.ones(3, device=d), id="other-shape"),
    pytest.param(lambda d: torch.ones(2, 2, device=d), id="other-ndim"),
    pytest.param(lambda d: torch.ones(2, device=d, dtype=torch.float64), id="float64"),
    pytest.param(lambda d: torch.ones(2, device=d, dtype=torch.float16), id="float16"),
    pytest.param(lambda d: torch.ones(2, device=d, dtype=torch.complex64), id="complex64"),
    pytest.param(lambda d: torch.ones(2, device=d, dtype=torch.int64), id="int64"),
    pytest.param(lambda d: torch.tensor(3, device=d), id="int64-scalar"),
    pytest.param(lambda d: torch.ones(2, device=d, dtype=torch.bool), id="bool"),
    pytest.param(lambda d: torch.ones(2, device=d).to_sparse(), id="sparse"),
    pytest.param(lambda d: torch.ones(2, device="meta"), id="meta"),
    pytest.param(lambda d: torch.ones(2, device=d, requires_grad=True), id="requiring-grad"),
    pytest.param(lambda d: torch.ones(2, device=d, requires_grad=True) * 2, id="non-leaf"),
    pytest.param(lambda d: [1.0, 2.0], id="list"),
    pytest.param(lambda d: None, id="None"),
]


@pytest.mark.parametrize("target", [pytest.param(True, id="leaf-requiring-grad"),
                                    pytest.param(False, id="plain")])
@pytest.mark.parametrize("make", DATA_VALUES)
def test_data_assignment(obs, device, make, target):
    """Assigning .data: other shapes and dtypes pass, integer ones only without grad; other layouts and non-tensors raise."""
    x = torch.tensor([1.0, 2.0], device=device, requires_grad=target)
    obs.outcome("assign", _setter(x, "data", make(device)))
    obs.facts_of("x", x, "is_leaf", "requires_grad", "grad_fn", "dtype", "shape", "device", "version")


def test_data_assignment_version_counter(obs, device):
    """After x.data = new, x shares new's storage but keeps its own version counter: in-place changes of new are not seen."""
    x = _leaf(device)
    new = torch.tensor([5.0, 6.0], device=device)
    new.add_(1)
    x.data = new
    obs.facts_of("assigned", x, "version")
    obs.fact("storage.same", x.data_ptr() == new.data_ptr())
    new.add_(1)
    obs.facts_of("x", x, "version", "values")
    obs.facts_of("new", new, "version")


GRAPH_AFTER_DATA = [
    pytest.param("saves-x", lambda d: torch.tensor([10.0, 20.0], device=d), id="saved-leaf-same-shape"),
    pytest.param("saves-x", lambda d: torch.tensor([10.0, 20.0, 30.0], device=d), id="saved-leaf-other-shape"),
    pytest.param("saves-x", lambda d: torch.tensor([10.0, 20.0], device=d, dtype=torch.float64),
                 id="saved-leaf-float64"),
    pytest.param("saves-nothing", lambda d: torch.tensor([10.0, 20.0, 30.0], device=d),
                 id="unsaved-leaf-other-shape"),
    pytest.param("saves-nothing", lambda d: torch.tensor([10.0, 20.0], device=d, dtype=torch.float64),
                 id="unsaved-leaf-float64"),
]


@pytest.mark.parametrize(("graph", "make"), GRAPH_AFTER_DATA)
def test_data_assignment_after_graph_built(obs, device, graph, make):
    """Assigning x.data after a graph used x: never detected; saved values are the new data, .grad keeps the old metadata."""
    x = _leaf(device)
    z = (x * x).sum() if graph == "saves-x" else (x * 2).sum()
    x.data = make(device)
    obs.outcome("backward", z.backward)
    obs.facts_of("x", x, "grad", "dtype", "shape")


def test_data_assignment_of_saved_non_leaf(obs, device):
    """Replacing the .data of a saved non-leaf changes the gradient silently (no version error)."""
    x = _leaf(device)
    y = x * 1
    z = (y * y).sum()
    y.data = torch.tensor([10.0, 20.0], device=device)
    obs.outcome("backward", z.backward)
    obs.facts_of("x", x, "grad")
    obs.facts_of("y", y, "version", "grad_fn")


@pytest.mark.parametrize("make", [
    pytest.param(lambda d: torch.ones(3, device=d), id="other-shape"),
    pytest.param(lambda d: torch.ones(2, device=d, dtype=torch.float64), id="float64"),
])
def test_data_assignment_with_existing_grad(obs, device, make):
    """x.data of another shape or dtype leaves an existing .grad as it was; the next backward then accumulates or raises."""
    x = _leaf(device)
    x.grad = torch.ones(2, device=device)
    obs.outcome("assign", _setter(x, "data", make(device)))
    obs.facts_of("assigned", x, "grad", "dtype", "shape")
    obs.outcome("backward", lambda: (x * 2).sum().backward())
    obs.facts_of("x", x, "grad")


def test_data_assignment_on_non_leaf(obs, device):
    """A non-leaf's .data may be replaced; it keeps its grad_fn."""
    y = _leaf(device) * 2
    obs.outcome("assign", _setter(y, "data", torch.ones(3, device=device)))
    obs.facts_of("y", y, "is_leaf", "requires_grad", "grad_fn", "shape")


def test_data_assignment_on_view(obs, device):
    """A view's .data may be replaced by a larger tensor; it stays a view and its base is untouched."""
    x = _leaf(device)
    v = x[:1]
    obs.outcome("assign", _setter(v, "data", torch.ones(3, device=device)))
    obs.fact("is_view.value", v._is_view())
    obs.facts_of("v", v, "shape", "grad_fn")
    obs.facts_of("x", x, "values")


# retains_grad / retain_grad()
RETAINS = [
    pytest.param(lambda x: x, id="leaf"),
    pytest.param(lambda x: x * 2, id="result"),
    pytest.param(lambda x: x[:1], id="leaf-slice"),
    pytest.param(lambda x: torch.ones(2, device=x.device), id="plain"),
    pytest.param(lambda x: torch.nn.Parameter(torch.ones(2, device=x.device)), id="parameter"),
]


@pytest.mark.parametrize("make", RETAINS)
def test_retain_grad(obs, device, make):
    """retains_grad before and after retain_grad(): a no-op on leaves, set on non-leaves and views, raises without grad."""
    t = make(_leaf(device))
    obs.facts_of("before", t, "retains_grad")
    obs.outcome("retain_grad", t.retain_grad)
    obs.facts_of("after", t, "retains_grad")


def test_retain_grad_twice(obs, device):
    """Calling retain_grad() twice is harmless and backward fills .grad once."""
    x = _leaf(device)
    y = x * 2
    y.retain_grad()
    obs.outcome("retain_grad", y.retain_grad)
    (y * 3).sum().backward()
    obs.facts_of("y", y, "retains_grad", "grad")


def test_retain_grad_under_no_grad(obs, device):
    """retain_grad() of a non-leaf works under no_grad; a result computed under no_grad cannot retain grad."""
    x = _leaf(device)
    y = x * 2
    with torch.no_grad():
        obs.outcome("retain_grad", y.retain_grad)
        w = x * 2
        obs.outcome("retain_grad_no_grad_result", w.retain_grad)
    obs.facts_of("y", y, "retains_grad")


def test_retained_grad_accumulates(obs, device):
    """A retained non-leaf .grad accumulates over two backward calls (a new tensor each time)."""
    x = _leaf(device)
    y = x * 2
    y.retain_grad()
    z = (y * y).sum()
    z.backward(retain_graph=True)
    first = y.grad
    obs.facts_of("first", y, "grad")
    z.backward()
    obs.facts_of("second", y, "grad")
    obs.fact("grad.same", y.grad is first)


def test_retain_grad_then_in_place(obs, device):
    """After retain_grad() then an in-place op, .grad is the gradient of the modified tensor."""
    x = _leaf(device)
    y = x * 2
    y.retain_grad()
    y.mul_(3)
    (y * y).sum().backward()
    obs.facts_of("y", y, "retains_grad", "grad", "grad_fn")


def test_retains_grad_after_detach_(obs, device):
    """detach_() of a non-leaf that retains grad: it becomes a leaf without grad, and retains_grad is reported."""
    y = _leaf(device) * 2
    y.retain_grad()
    y.detach_()
    obs.facts_of("y", y, "is_leaf", "requires_grad", "retains_grad")


def test_retains_grad_of_detached(obs, device):
    """detach() of a tensor that retains grad does not retain grad."""
    y = _leaf(device) * 2
    y.retain_grad()
    obs.facts_of("d", y.detach(), "retains_grad", "requires_grad")


# grad_fn nodes: calling one, and backward formulas that refuse
@pytest.mark.parametrize("call", [
    pytest.param(lambda node, g: node(), id="no-argument"),
    pytest.param(lambda node, g: node(g), id="one-argument"),
    pytest.param(lambda node, g: node(g, g), id="two-arguments"),
    pytest.param(lambda node, g: node(grad=g), id="keyword"),
])
def test_grad_fn_call(obs, device, call):
    """Calling a grad_fn node directly computes its backward; the wrong number of arguments raises TypeError."""
    x = torch.ones(1, device=device, requires_grad=True)
    y = x ** 2
    result = obs.outcome("call", lambda: call(y.grad_fn, torch.ones(1, device=device)))
    if isinstance(result, tuple):
        obs.fact("result.count", len(result))
        result = result[0]
    if isinstance(result, torch.Tensor):
        obs.facts_of("result", result, "values", "requires_grad")


@pytest.mark.parametrize("op", [
    pytest.param(lambda a: torch.nextafter(a, a), id="nextafter"),
    pytest.param(lambda a: torch.igamma(a, torch.ones_like(a)), id="igamma-input"),
    pytest.param(lambda a: torch.igamma(torch.ones_like(a), a), id="igamma-other"),
])
def test_backward_formula_not_implemented(obs, device, op):
    """Ops without a derivative for an input still record a grad_fn; backward raises NotImplementedError (or has one now)."""
    a = _leaf(device)
    y = op(a)
    obs.facts_of("y", y)
    obs.outcome("backward", lambda: y.sum().backward())
    obs.facts_of("a", a, "grad")


@pytest.mark.parametrize("name", [pytest.param("torch.scatter_reduce", id="scatter_reduce"),
                                  pytest.param("torch.index_reduce", id="index_reduce")])
def test_prod_reduction_double_backward(obs, device, name):
    """Double backward of scatter_reduce/index_reduce "prod" w.r.t. src with two zeros scattered together raises."""
    fn = require(name)
    inp = torch.tensor([1.0], device=device, dtype=torch.float64, requires_grad=True)
    src = torch.tensor([0.0, 0.0], device=device, dtype=torch.float64, requires_grad=True)
    idx = torch.tensor([0, 0], device=device)

    def double_backward():
        out = fn(inp, 0, idx, src, "prod")
        g, = torch.autograd.grad(out.sum(), src, create_graph=True)
        return torch.autograd.grad(g.sum(), src)

    obs.outcome("double_backward", double_backward, warns=False)

