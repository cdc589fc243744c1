"""Constructing and copying tensors that require grad: torch.asarray (aliasing, the requires_grad default and its
warning, changing the source's flag), torch.tensor / new_tensor / torch.Tensor / as_tensor of a tensor, copy.copy and
copy.deepcopy, pickle and torch.save/torch.load round trips (requires_grad, .grad, hooks, views, Parameters),
conversions to Python scalars, lists and NumPy, clone and copy_ (gradient flow, into leaves, slices, other dtypes),
out= into tensors that require grad, and from_numpy followed by requires_grad_()."""

import copy
import io
import pickle

import numpy as np
import pytest
import torch


def _leaf(device, dtype=torch.float32):
    return torch.tensor([1.0, 2.0], device=device, dtype=dtype, requires_grad=True)


# "result" is a non-leaf (x * 2). Ids avoid one being a "-"-suffix of another ("leaf" / "non-leaf"): the table's
# device wildcard would make the row of one match the other.
SOURCES = [
    pytest.param("leaf", id="leaf"),
    pytest.param("result", id="result"),
    pytest.param("plain", id="plain"),
]


def _source(kind, device):
    """The tensor a construction starts from: a leaf requiring grad, a non-leaf result of it, or a tensor without grad."""
    if kind == "plain":
        return torch.tensor([1.0, 2.0], device=device)
    x = _leaf(device)
    return x if kind == "leaf" else x * 2


def _record_result(obs, src, result):
    obs.facts_of("result", result, "is_leaf", "requires_grad", "grad_fn", "dtype")
    obs.fact("result_is_source.same", result is src)
    obs.fact("storage.same", result.data_ptr() == src.data_ptr())


# torch.asarray
ASARRAY_KWARGS = [
    pytest.param({}, id="default"),
    pytest.param({"requires_grad": True}, id="requires_grad-True"),
    pytest.param({"requires_grad": False}, id="requires_grad-False"),
    pytest.param({"copy": True}, id="copy-True"),
    pytest.param({"copy": True, "requires_grad": False}, id="copy-True-requires_grad-False"),
    pytest.param({"copy": False}, id="copy-False"),
    pytest.param({"dtype": torch.float64}, id="dtype-float64"),
    pytest.param({"dtype": torch.float64, "copy": False}, id="dtype-float64-copy-False"),
]


@pytest.mark.parametrize("kwargs", ASARRAY_KWARGS)
@pytest.mark.parametrize("kind", SOURCES)
def test_asarray_of_tensor(obs, device, kind, kwargs):
    """torch.asarray(tensor, ...): whether it aliases, requires grad, keeps the graph, warns, changes the source's flag."""
    src = _source(kind, device)
    result = obs.outcome("asarray", lambda: torch.asarray(src, **kwargs))
    if result is not None:
        _record_result(obs, src, result)
    obs.facts_of("source", src)


@pytest.mark.parametrize("obj", [
    pytest.param(lambda: [1.0, 2.0], id="float-list"),
    pytest.param(lambda: [1, 2], id="int-list"),
    pytest.param(lambda: np.ones(2), id="numpy-float64"),
    pytest.param(lambda: 3.0, id="python-float"),
])
def test_asarray_of_non_tensor_with_requires_grad(obs, obj):
    """torch.asarray(obj, requires_grad=True) of a list, NumPy array or scalar gives a leaf; integer data is refused."""
    result = obs.outcome("asarray", lambda: torch.asarray(obj(), requires_grad=True))
    if result is not None:
        obs.facts_of("result", result, "is_leaf", "requires_grad", "grad_fn", "dtype")


def test_asarray_of_sequence_without_copy(obs):
    """torch.asarray(list, copy=False) raises: a sequence cannot be aliased."""
    obs.outcome("asarray", lambda: torch.asarray([1.0, 2.0], copy=False))


# torch.tensor, new_tensor, torch.Tensor, as_tensor
@pytest.mark.parametrize("requires_grad", [pytest.param(False, id="requires_grad-False"),
                                           pytest.param(True, id="requires_grad-True")])
@pytest.mark.parametrize("kind", SOURCES)
def test_torch_tensor_of_tensor(obs, device, kind, requires_grad):
    """torch.tensor(tensor) copies into a new leaf (no graph), warns to use detach().clone() and honours requires_grad."""
    src = _source(kind, device)
    result = obs.outcome("tensor", lambda: torch.tensor(src, requires_grad=requires_grad))
    _record_result(obs, src, result)


@pytest.mark.parametrize("kind", SOURCES)
def test_new_tensor_of_tensor(obs, device, kind):
    """t.new_tensor(tensor) copies into a new leaf without grad and warns with its own text."""
    src = _source(kind, device)
    result = obs.outcome("new_tensor", lambda: src.new_tensor(src))
    _record_result(obs, src, result)


@pytest.mark.parametrize("kind", SOURCES)
def test_new_tensor_of_list_from_tensor_requiring_grad(obs, device, kind):
    """t.new_tensor(list) does not warn and never inherits requires_grad from t."""
    src = _source(kind, device)
    result = obs.outcome("new_tensor", lambda: src.new_tensor([3.0, 4.0]))
    obs.facts_of("result", result, "is_leaf", "requires_grad", "grad_fn", "dtype")


@pytest.mark.parametrize("kind", SOURCES)
def test_legacy_tensor_constructor_of_tensor(obs, device, kind):
    """torch.Tensor(tensor) returns an alias that stays in the graph (AliasBackward0 where the source requires grad)."""
    src = _source(kind, device)
    result = obs.outcome("Tensor", lambda: torch.Tensor(src))
    _record_result(obs, src, result)


@pytest.mark.parametrize("dtype", [pytest.param(None, id="same-dtype"), pytest.param(torch.float64, id="float64")])
@pytest.mark.parametrize("kind", SOURCES)
def test_as_tensor_of_tensor(obs, device, kind, dtype):
    """torch.as_tensor(tensor) returns the tensor itself; with another dtype a converted copy that stays in the graph."""
    src = _source(kind, device)
    result = obs.outcome("as_tensor", lambda: torch.as_tensor(src, dtype=dtype))
    _record_result(obs, src, result)


# copy.copy and copy.deepcopy
def _deepcopy_source(kind, device):
    x = _leaf(device)
    if kind == "leaf-with-grad":
        x.grad = torch.tensor([3.0, 4.0], device=device)
        return x
    if kind == "leaf-slice":
        return x[:1]
    if kind == "leaf-slice-under-no_grad":
        with torch.no_grad():
            return x[:1]
    if kind == "parameter":
        return torch.nn.Parameter(torch.ones(2, device=device))
    if kind == "parameter-frozen":
        return torch.nn.Parameter(torch.ones(2, device=device), requires_grad=False)
    return _source(kind, device)


COPY_SOURCES = SOURCES + [
    pytest.param("leaf-with-grad", id="leaf-with-grad"),
    pytest.param("leaf-slice", id="leaf-slice"),
    pytest.param("leaf-slice-under-no_grad", id="leaf-slice-under-no_grad"),
    pytest.param("parameter", id="parameter"),
    pytest.param("parameter-frozen", id="parameter-frozen"),
]


@pytest.mark.parametrize("kind", COPY_SOURCES)
def test_deepcopy(obs, device, kind):
    """copy.deepcopy of a leaf copies storage, requires_grad, .grad and class; of a non-leaf (or view of a leaf) it raises."""
    src = _deepcopy_source(kind, device)
    result = obs.outcome("deepcopy", lambda: copy.deepcopy(src))
    if result is not None:
        _record_result(obs, src, result)
        obs.facts_of("result", result, "grad")
        obs.fact("class.name", type(result).__name__)
        obs.fact("is_view.value", result._is_view())


def test_deepcopy_keeps_identity_within_container(obs, device):
    """deepcopy of [x, x] gives one copy twice; of [x, view of x taken under no_grad] the copy is no longer its view."""
    x = _leaf(device)
    with torch.no_grad():
        v = x[:1]
    pair = copy.deepcopy([x, x])
    obs.fact("pair.same", pair[0] is pair[1])
    base_and_view = copy.deepcopy([x, v])
    obs.fact("view_base.same", base_and_view[1]._base is base_and_view[0])
    obs.fact("view_storage.same", base_and_view[1].data_ptr() == base_and_view[0].data_ptr())


@pytest.mark.parametrize("kind", COPY_SOURCES)
def test_shallow_copy(obs, device, kind):
    """copy.copy shares storage but drops .grad and the graph: a non-leaf comes back as a leaf that requires grad."""
    src = _deepcopy_source(kind, device)
    result = obs.outcome("copy", lambda: copy.copy(src))
    if result is not None:
        _record_result(obs, src, result)
        obs.facts_of("result", result, "grad")
        obs.fact("class.name", type(result).__name__)


# pickle and torch.save / torch.load
def _pickle_round_trip(t):
    return pickle.loads(pickle.dumps(t))


def _save_load(weights_only):
    def run(t):
        buffer = io.BytesIO()
        torch.save(t, buffer)
        buffer.seek(0)
        return torch.load(buffer, weights_only=weights_only)
    return run


ROUND_TRIPS = [
    pytest.param(_pickle_round_trip, id="pickle"),
    pytest.param(_save_load(False), id="torch.save-weights_only-False"),
    pytest.param(_save_load(True), id="torch.save-weights_only-True"),
]


@pytest.mark.parametrize("kind", COPY_SOURCES)
@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
def test_serialization_round_trip(obs, device, round_trip, kind):
    """pickle and torch.save/load keep requires_grad and the class, not .grad or the graph: non-leaves come back as leaves."""
    src = _deepcopy_source(kind, device)
    result = obs.outcome("round_trip", lambda: round_trip(src))
    if result is not None:
        obs.facts_of("result", result, "is_leaf", "requires_grad", "grad_fn", "grad", "values")
        obs.fact("class.name", type(result).__name__)
        obs.fact("is_view.value", result._is_view())


@pytest.mark.parametrize("round_trip", ROUND_TRIPS)
def test_serialization_with_hook(obs, device, round_trip):
    """Serializing a tensor with a backward hook warns that the hook is not serialized; the copy has no hook."""
    x = _leaf(device)
    calls = []
    x.register_hook(lambda g: calls.append("hook"))
    result = obs.outcome("round_trip", lambda: round_trip(x))
    if result is not None:
        (result * 2).sum().backward()
        obs.fact("hook.count", len(calls))
        obs.facts_of("result", result, "grad")


def test_save_view_with_its_base(obs, device):
    """torch.save of [x, view of x] keeps the shared storage, but the loaded view is a plain leaf, not a view of x."""
    x = _leaf(device)
    v = x[1:]
    loaded = _save_load(False)([x, v])
    obs.facts_of("view", loaded[1], "is_leaf", "requires_grad", "grad_fn", "values")
    obs.fact("view_base.same", loaded[1]._base is loaded[0])
    obs.fact("shared_storage.same", loaded[1].untyped_storage().data_ptr() == loaded[0].untyped_storage().data_ptr())


# conversions to Python and NumPy
CONVERSIONS = [
    pytest.param(lambda t: float(t[0]), id="float"),
    pytest.param(lambda t: int(t[0]), id="int"),
    pytest.param(lambda t: bool(t[0]), id="bool"),
    pytest.param(lambda t: complex(t[0]), id="complex"),
    pytest.param(lambda t: t[0].item(), id="item"),
    pytest.param(lambda t: t.tolist(), id="tolist"),
    pytest.param(lambda t: f"{t[0]:.1f}", id="format-spec"),
    pytest.param(lambda t: float(t), id="float-of-two-elements"),
    pytest.param(lambda t: bool(t), id="bool-of-two-elements"),
]


@pytest.mark.parametrize("convert", CONVERSIONS)
@pytest.mark.parametrize("kind", SOURCES)
def test_python_conversion(obs, device, kind, convert):
    """Converting a tensor requiring grad to a Python number or list works (some paths warn); multi-element tensors raise."""
    src = _source(kind, device)
    value = obs.outcome("convert", lambda: convert(src))
    if value is not None:
        obs.fact("type.name", type(value).__name__)
        obs.fact("result.value", [value.real, value.imag] if isinstance(value, complex) else value)


NUMPY_PATHS = [
    pytest.param(lambda t: t.numpy(), True, id="numpy"),
    pytest.param(lambda t: t.numpy(force=True), True, id="numpy-force"),
    pytest.param(lambda t: t.__array__(), True, id="__array__"),
    pytest.param(lambda t: t.detach().numpy(), True, id="detach-numpy"),
    pytest.param(lambda t: np.asarray(t), False, id="np.asarray"),
    pytest.param(lambda t: np.array(t), False, id="np.array"),
]


@pytest.mark.parametrize(("convert", "warns"), NUMPY_PATHS)
@pytest.mark.parametrize("kind", SOURCES)
def test_numpy_conversion(obs, device, kind, convert, warns):
    """numpy(), __array__, np.asarray and np.array refuse a tensor requiring grad; numpy(force=True) and detach().numpy() work."""
    # NumPy's own warnings (its __array__ copy-keyword deprecation) depend on the NumPy version, not on torch.
    src = _source(kind, device)
    result = obs.outcome("convert", lambda: convert(src), warns=warns)
    if result is not None:
        obs.fact("result.value", result.tolist())
        obs.fact("storage.same", result.ctypes.data == src.data_ptr())


def test_numpy_of_detached_shares_memory(obs, device):
    """x.detach().numpy() shares memory with x: writing the array changes x without bumping its version."""
    x = _leaf(device)
    array = x.detach().numpy()
    array[0] = 9.0
    obs.facts_of("x", x, "values", "version")


# clone and copy_
@pytest.mark.parametrize("kind", SOURCES)
def test_clone(obs, device, kind):
    """clone() of a tensor requiring grad is a non-leaf with CloneBackward0; under no_grad a leaf without grad."""
    src = _source(kind, device)
    obs.facts_of("clone", src.clone())
    with torch.no_grad():
        obs.facts_of("no_grad_clone", src.clone())
    obs.facts_of("detach_clone", src.detach().clone())


def test_clone_gradient(obs, device):
    """Gradients flow through clone() unchanged, and the clone's storage is independent."""
    x = _leaf(device)
    c = x.clone()
    c.detach().zero_()
    (c * torch.tensor([3.0, 4.0], device=device)).sum().backward()
    obs.facts_of("x", x, "values", "grad")


@pytest.mark.parametrize("target", [
    pytest.param(lambda d: torch.zeros(2, device=d), id="plain"),
    pytest.param(lambda d: torch.zeros(2, device=d, dtype=torch.float64), id="plain-float64"),
    pytest.param(lambda d: torch.zeros(2, 2, device=d), id="plain-broadcast"),
    pytest.param(lambda d: torch.zeros(2, device=d, requires_grad=True), id="leaf-requiring-grad"),
    pytest.param(lambda d: torch.zeros(2, device=d, requires_grad=True) * 1, id="non-leaf"),
])
def test_copy_into(obs, device, target):
    """dst.copy_(x) with x requiring grad: dst joins the graph (CopyBackwards) unless it is a leaf requiring grad (raises)."""
    x = _leaf(device)
    dst = target(device)
    obs.outcome("copy_", lambda: dst.copy_(x))
    obs.facts_of("dst", dst, "is_leaf", "requires_grad", "grad_fn", "dtype", "version")
    if dst.requires_grad:
        obs.outcome("backward", lambda: (dst * 2).sum().backward())
        obs.facts_of("x", x, "grad")


def test_copy_into_non_leaf_overwrites_gradient_path(obs, device):
    """After w.copy_(x) the overwritten values of w get zero gradient; x gets the gradient."""
    x = _leaf(device)
    y = torch.zeros(2, device=device, requires_grad=True)
    w = y * 1
    w.copy_(x)
    w.sum().backward()
    obs.facts_of("x", x, "grad")
    obs.facts_of("y", y, "grad")


def test_copy_into_slice(obs, device):
    """copy_ into a slice of a non-leaf records CopySlices; only the untouched part passes gradient to the old values."""
    x = _leaf(device)
    y = torch.zeros(3, device=device, requires_grad=True)
    w = y * 1
    w[:2].copy_(x)
    obs.facts_of("w", w, "grad_fn", "version")
    w.sum().backward()
    obs.facts_of("x", x, "grad")
    obs.facts_of("y", y, "grad")


def test_copy_from_tensor_without_grad_under_no_grad(obs, device):
    """Under no_grad, copy_ into a leaf that requires grad is allowed, bumps its version and keeps it a leaf."""
    x = _leaf(device)
    with torch.no_grad():
        obs.outcome("copy_", lambda: x.copy_(torch.tensor([5.0, 6.0], device=device)))
    obs.facts_of("x", x, "is_leaf", "requires_grad", "grad_fn", "values", "version")


# out=
@pytest.mark.parametrize("which", [pytest.param("inputs", id="inputs-require-grad"),
                                   pytest.param("out", id="out-requires-grad"),
                                   pytest.param("neither", id="neither")])
def test_out_argument(obs, device, which):
    """torch.mul(..., out=t) raises when an input or the out tensor requires grad (the out= text names the op)."""
    a = torch.ones(2, device=device, requires_grad=which == "inputs")
    out = torch.zeros(2, device=device, requires_grad=which == "out")
    obs.outcome("mul", lambda: torch.mul(a, a, out=out))
    obs.facts_of("out", out, "is_leaf", "requires_grad", "grad_fn", "values")


# from_numpy
def test_from_numpy_then_requires_grad(obs):
    """from_numpy then requires_grad_(): a leaf sharing the array's memory; backward fills .grad; numpy() then refuses."""
    array = np.ones(2, dtype=np.float32)
    t = torch.from_numpy(array)
    obs.outcome("requires_grad_", t.requires_grad_)
    obs.facts_of("t", t)
    array[0] = 5.0
    obs.facts_of("t", t, "values", "version")
    (t * 2).sum().backward()
    obs.facts_of("t", t, "grad")
    obs.outcome("numpy", t.numpy)


@pytest.mark.parametrize("make", [
    pytest.param(lambda: torch.from_numpy(np.ones(2, dtype=np.int64)).requires_grad_(), id="int64-requires_grad_"),
    pytest.param(lambda: torch.as_tensor(np.ones(2)).requires_grad_(), id="as_tensor-float64"),
    pytest.param(lambda: torch.tensor(np.ones(2), requires_grad=True), id="torch.tensor-float64"),
])
def test_numpy_array_requiring_grad(obs, make):
    """Tensors made from NumPy arrays may require grad when floating point; int64 data is refused."""
    result = obs.outcome("make", make)
    if result is not None:
        obs.facts_of("result", result, "is_leaf", "requires_grad", "grad_fn", "dtype")


def test_from_read_only_numpy_then_requires_grad(obs):
    """from_numpy of a read-only array warns (not writable) and the tensor may still require grad."""
    array = np.ones(2, dtype=np.float32)
    array.setflags(write=False)
    t = obs.outcome("from_numpy", lambda: torch.from_numpy(array))
    obs.outcome("requires_grad_", t.requires_grad_)
    obs.facts_of("t", t)
